"""Threads leaked at exit, global deadlocks and lock-order inversions, with threading's primitives."""

from __future__ import annotations

import time

from helpers import line_of, run_racedet

# -- leaks ----------------------------------------------------------------

LEAK_QUEUE = """
import queue, threading

jobs = queue.Queue()

def consumer():
    while True:
        job = jobs.get()  # blocked here
        print(job)

t = threading.Thread(target=consumer, name="consumer", daemon=True)
t.start()  # created here
jobs.put("one")
"""


def test_leak_consumer_nobody_feeds(tmp_path):
    res = run_racedet(tmp_path, LEAK_QUEUE)
    assert res.returncode == 66, res.stderr
    assert len(res.leaks) == 1
    leak = res.leaks[0]
    assert leak["thread"] == "consumer"
    assert leak["blocked_in"] == "Queue.get"
    assert leak["stack"][0]["line"] == line_of(LEAK_QUEUE, "# blocked here")
    assert leak["created_at"][0]["line"] == line_of(LEAK_QUEUE, "# created here")
    assert "WARNING: LEAK" in res.stderr and "racedet: found 1 leaked thread(s)" in res.stderr


def test_leak_fixed_with_sentinel(tmp_path):
    res = run_racedet(tmp_path, """
        import queue, threading
        jobs = queue.Queue()
        def consumer():
            while (job := jobs.get()) is not None:
                print(job)
        t = threading.Thread(target=consumer, daemon=True)
        t.start()
        jobs.put("one"); jobs.put(None)
        t.join()
    """)
    assert res.returncode == 0, res.stderr
    assert res.leaks == []


def test_no_leaks_option(tmp_path):
    res = run_racedet(tmp_path, LEAK_QUEUE, options=["--no-leaks"])
    assert res.returncode == 0 and res.leaks == []


def test_finishing_thread_gets_grace(tmp_path):
    res = run_racedet(tmp_path, """
        import threading, time
        def slow():
            time.sleep(0.05)
        threading.Thread(target=slow, daemon=True).start()
    """)
    assert res.returncode == 0, res.stderr
    assert res.leaks == []


def test_running_thread_is_a_leak(tmp_path):
    res = run_racedet(tmp_path, """
        import threading, time
        def spin():
            while True:
                time.sleep(0.01)
        threading.Thread(target=spin, name="spinner", daemon=True).start()
    """)
    assert res.returncode == 66
    assert [(lk["thread"], lk["blocked_in"]) for lk in res.leaks] == [("spinner", "running")]


# -- deadlocks -------------------------------------------------------------


def _deadlock(tmp_path, source):
    t0 = time.monotonic()
    res = run_racedet(tmp_path, source, timeout=30)
    took = time.monotonic() - t0
    assert res.returncode == 2, res.stderr
    assert "fatal error: all goroutines are asleep - deadlock!" in res.stderr
    assert res.report["deadlock"] is not None
    return res, took


def test_self_deadlock(tmp_path):
    src = """
        import threading
        lock = threading.Lock()
        lock.acquire()
        print("about to hang")
        lock.acquire()  # hangs
    """
    res, took = _deadlock(tmp_path, src)
    assert res.stdout == "about to hang\n"
    (t,) = res.report["deadlock"]["threads"]
    assert t["blocked_in"] == "Lock.acquire"
    assert t["stack"][0]["line"] == line_of(src, "# hangs")
    assert took < 10


def test_ab_ba_deadlock_and_inversion(tmp_path):
    src = """
        import _thread, threading
        a, b = threading.Lock(), threading.Lock()
        ga, gb = threading._allocate_lock(), threading._allocate_lock()
        ga.acquire(); gb.acquire()
        def t1():
            with a:
                ga.release(); gb.acquire()
                with b:  # t1 waits
                    pass
        def t2():
            with b:
                gb.release(); ga.acquire()
                with a:  # t2 waits
                    pass
        x = threading.Thread(target=t1, name="t1"); y = threading.Thread(target=t2, name="t2")
        x.start(); y.start()
        x.join()  # main waits
    """
    res, _ = _deadlock(tmp_path, src)
    threads = {t["thread"]: t for t in res.report["deadlock"]["threads"]}
    assert set(threads) == {"MainThread", "t1", "t2"}
    assert threads["MainThread"]["blocked_in"] == "Thread.join"
    assert threads["t1"]["blocked_in"] == "Lock.acquire"
    assert threads["t1"]["stack"][0]["line"] == line_of(src, "# t1 waits")
    assert threads["t2"]["stack"][0]["line"] == line_of(src, "# t2 waits")
    assert "Thread t1 [Lock.acquire]:" in res.stderr


def test_shutdown_waits_for_blocked_nondaemon(tmp_path):
    src = """
        import threading
        ev = threading.Event()
        threading.Thread(target=ev.wait, name="waiter").start()
        print("main done")
    """
    res, _ = _deadlock(tmp_path, src)
    threads = {t["thread"]: t["blocked_in"] for t in res.report["deadlock"]["threads"]}
    assert threads == {"MainThread": "Thread.join", "waiter": "Event.wait"}
    assert res.stdout == "main done\n"


def test_condition_and_queue_deadlocks(tmp_path):
    res, _ = _deadlock(tmp_path, """
        import threading
        c = threading.Condition()
        with c:
            c.wait()
    """)
    assert res.report["deadlock"]["threads"][0]["blocked_in"] == "Condition.wait"
    res, _ = _deadlock(tmp_path, """
        import queue
        queue.Queue().get()
    """)
    assert res.report["deadlock"]["threads"][0]["blocked_in"] == "Queue.get"


def test_timeouts_are_not_deadlocks(tmp_path):
    res = run_racedet(tmp_path, """
        import threading, queue
        ev = threading.Event()
        print(ev.wait(0.3))
        try:
            queue.Queue().get(timeout=0.2)
        except queue.Empty:
            print("empty")
        t = threading.Timer(0.3, ev.set)
        t.start()
        print(ev.wait())
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "False\nempty\nTrue\n"


def test_signal_handler_can_wake(tmp_path):
    res = run_racedet(tmp_path, """
        import signal, threading
        ev = threading.Event()
        signal.signal(signal.SIGALRM, lambda *a: ev.set())
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        ev.wait()
        print("woke")
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "woke\n"


# -- lock-order inversions -------------------------------------------------

INVERSION = """
import threading
a, b = threading.Lock(), threading.Lock()
def one():
    with a:
        with b:  # a then b
            pass
def two():
    with b:
        with a:  # b then a
            pass
t = threading.Thread(target=one); t.start(); t.join()
t = threading.Thread(target=two); t.start(); t.join()
"""


def test_lock_order_inversion(tmp_path):
    res = run_racedet(tmp_path, INVERSION)
    assert res.returncode == 66, res.stderr
    (inv,) = res.report["lock_order_inversions"]
    lines = sorted(edge["stack"][0]["line"] for edge in inv["cycle"])
    assert lines == [line_of(INVERSION, "# a then b"), line_of(INVERSION, "# b then a")]
    assert "WARNING: LOCK-ORDER INVERSION (potential deadlock)" in res.stderr


def test_consistent_order_and_rlock_reentry(tmp_path):
    res = run_racedet(tmp_path, """
        import threading
        a, b, r = threading.Lock(), threading.Lock(), threading.RLock()
        def one():
            with a:
                with b:
                    with r:
                        with r:
                            pass
        ts = [threading.Thread(target=one) for _ in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
    """)
    assert res.returncode == 0, res.stderr
    assert res.report["lock_order_inversions"] == []


def test_lock_order_search_is_not_interleaved_with_new_edges():
    # A cycle search walks the graph while another thread adds an edge from
    # the node being walked: the addition must wait for the search (it once
    # raised "Set changed size during iteration" inside a user's ``with``).
    import threading

    from racedet import engine, lockorder

    searching, added = threading.Event(), threading.Event()
    errors = []

    class Probe(set):
        def __iter__(self):
            it = super().__iter__()
            first = next(it)
            searching.set()
            added.wait(1.0)     # the adder is blocked until this search ends
            yield first
            yield from it

    def search():
        try:
            engine.current().held[:] = [(10, "L10", ())]
            lockorder.acquired(11, "L11")      # edge 10 -> 11, then a search from 11
        except Exception as e:  # pragma: no cover - the failure this test guards against
            errors.append(e)
        finally:
            engine.current().held[:] = []

    def add():
        searching.wait()
        engine.current().held[:] = [(11, "L11", ())]
        lockorder.acquired(13, "L13")          # edge 11 -> 13: changes the walked set
        engine.current().held[:] = []
        added.set()

    lockorder.reset()
    try:
        lockorder.edges[(11, 12)] = ("t", (), (), frozenset(), "L11", "L12")
        lockorder._succ[11] = Probe({12})
        ts = [threading.Thread(target=search), threading.Thread(target=add)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert errors == []
        assert (11, 13) in lockorder.edges
    finally:
        lockorder.reset()


def test_gate_lock_orders_both_paths(tmp_path):
    res = run_racedet(tmp_path, """
        import threading
        g, a, b = threading.Lock(), threading.Lock(), threading.Lock()
        def one():
            with g:
                with a:
                    with b:
                        pass
        def two():
            with g:
                with b:
                    with a:
                        pass
        t = threading.Thread(target=one); t.start(); t.join()
        t = threading.Thread(target=two); t.start(); t.join()
    """)
    assert res.returncode == 0, res.stderr
    assert res.report["lock_order_inversions"] == []


def test_woken_thread_is_not_a_leak(tmp_path):
    # The waiter is woken by the release just before exit, but may not have
    # run yet when the census looks: it must get its grace period.
    for _ in range(3):
        res = run_racedet(tmp_path, """
            import threading
            lock = threading.Lock()
            lock.acquire()
            started = threading.Event()
            def w():
                started.set()
                with lock:
                    pass
            t = threading.Thread(target=w, daemon=True)
            t.start()
            started.wait()
            import time; time.sleep(0.05)
            lock.release()
        """)
        assert res.returncode == 0, res.stderr
        assert res.leaks == []


def test_unrelated_wakeups_do_not_hide_a_deadlock(tmp_path):
    res, _ = _deadlock(tmp_path, """
        import threading
        ev = threading.Event()
        threading.Thread(target=ev.wait, name="waiter").start()
        lock = threading.Lock()
        for _ in range(3):
            with lock:      # releases: wake-ups, but not of the event
                pass
    """)
    threads = {t["thread"]: t["blocked_in"] for t in res.report["deadlock"]["threads"]}
    assert threads == {"MainThread": "Thread.join", "waiter": "Event.wait"}
