"""Classes of bugs the proving ground found (realworld/repro): each as a program run both ways.

Fidelity programs print what a program can observe; under racedet the
output must be the plain interpreter's.  Precision programs are correctly
synchronized (zero reports) and have racy twins (the exact pair of lines),
on both access cores.
"""

from __future__ import annotations

import pytest

from helpers import CORES, line_of, marked_pair, run_plain, run_racedet, write

# --------------------------------------------------------------------------
# Fidelity: what the program sees is what python shows

FIDELITY = {
    # racedet's watchdog (started by the first indefinite wait) and timers
    # are not threads of the program: test.support compares _thread._count().
    "watchdog_not_counted": """
        import _thread
        import threading

        before = _thread._count()
        go, done = threading.Event(), threading.Event()

        def late():
            go.wait()
            done.set()

        t = threading.Thread(target=late)
        t.start()
        print("while running:", _thread._count() - before)
        threading.Thread(target=go.set).start()
        done.wait()          # indefinite: the watchdog starts (or has started)
        t.join()
        print("after:", _thread._count() - before)
    """,
    # as_completed drops the futures it yielded (CPython's test_free_reference_yielded_future).
    "as_completed_frees_yielded": """
        import gc
        import weakref
        from concurrent.futures import Future, as_completed

        fs = [Future() for _ in range(3)]
        for f in fs:
            f.set_result(1)
        del f
        freed = []
        for fut in as_completed(fs):
            fs.remove(fut)
            wr = weakref.ref(fut)
            del fut
            gc.collect()
            freed.append(wr() is None)
        print("freed:", freed)
    """,
    # A negative timeout is queue.py's ValueError, whether or not the call would wait
    # (CPython's test_queue, now run on modelled copies of the module).
    "queue_negative_timeout": """
        import queue
        import traceback
        for cls in (queue.Queue, queue.LifoQueue, queue.PriorityQueue):
            q = cls(3)
            q.put(0)
            for call in (lambda: q.put(1, timeout=-1), lambda: q.get(True, timeout=-1)):
                try:
                    call()
                except ValueError as e:
                    print(cls.__name__, "ValueError", e, len(traceback.extract_tb(e.__traceback__)))
        print(queue.Queue().put(1, timeout=-1))
    """,
    # The program's objects get no attributes of racedet's (pebble compares
    # a queue's before and after): queues, threads, futures.
    "no_injected_attributes": """
        import queue
        import threading
        from concurrent.futures import Future, ThreadPoolExecutor

        def attrs(obj):
            return sorted(vars(obj))

        for q in (queue.Queue(), queue.Queue(1), queue.LifoQueue(), queue.PriorityQueue()):
            before = attrs(q)
            q.put(1)
            q.get()
            q.task_done()
            q.join()
            print(type(q).__name__, attrs(q) == before)
        t = threading.Thread(target=lambda: None)
        before = attrs(t)
        t.start()
        t.join()
        print("Thread", [n for n in attrs(t) if n not in before])
        f = Future()
        f.add_done_callback(lambda f: None)
        f.set_result(1)
        f.result()
        with ThreadPoolExecutor(1) as ex:
            g = ex.submit(int)
            g.result()
        print("Future", attrs(f), attrs(g) == attrs(Future()))
    """,
}


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(FIDELITY))
def test_same_as_python(tmp_path, name, core):
    script = write(tmp_path, FIDELITY[name])
    plain = run_plain(script)
    res = run_racedet(tmp_path, script=script, extra_env={"RACEDET_CORE": core})
    assert plain.returncode == 0, plain.stderr
    assert (res.returncode, res.stdout) == (plain.returncode, plain.stdout), res.stderr
    assert res.races == []


# --------------------------------------------------------------------------
# Precision: no reports for synchronized programs; the exact pair for racy twins

# Copies of the queue module the program loads have the models too
# (CPython's test_queue runs on import_fresh_module copies): put -> get and
# task_done -> join.  The payload is written after the worker started.
_FRESH_QUEUE = """
    import importlib
    import threading

    from test.support import import_helper

    COPY


    class Box:
        pass


    box = Box()
    box.payload = box.result = box.late = 0
    q = fresh.KIND()


    def worker():
        x = q.get()
        box.result = box.payload + x   # RESULT PAYLOAD
        q.task_done()
        box.late = 1                   # LATE


    t = threading.Thread(target=worker)
    t.start()
    box.payload = 1
    q.put(5)
    box.payload = 2                    # AFTER_PUT PAYLOAD
    q.join()
    assert box.result >= 6             # RESULT
    print(box.late)                    # LATE
    t.join()
    print("ok")
"""

_COPIES = {
    "fresh_c": ['fresh = import_helper.import_fresh_module("queue", fresh=["_queue"])'],
    "fresh_py": ['fresh = import_helper.import_fresh_module("queue", blocked=["_queue"])'],
    "reloaded": ["import queue", "fresh = importlib.reload(queue)"],
}


def _queue_program(copy: str, kind: str, racy: str = "") -> str:
    """The program on a copy of the queue module; ``racy`` names the access pair marked # R."""
    out = []
    for line in _FRESH_QUEUE.replace("KIND", kind).splitlines():
        if line.strip() == "COPY":
            out.extend("    " + c for c in _COPIES[copy])
            continue
        code, sep, marks = line.partition("# ")
        if not sep:
            out.append(line)
        elif "AFTER_PUT" in marks and racy != "PAYLOAD" or "LATE" in marks and racy != "LATE":
            continue   # the racy twins' extra accesses
        else:
            out.append((code + ("# R" if racy and racy in marks.split() else "")).rstrip())
    return "\n".join(out) + "\n"


# Threads started with _thread.start_new_thread: the start orders the
# starter's earlier writes before the new thread (a second thread runs
# throughout, so nothing is forgotten for being alone).
_START_NEW_THREAD = """
    import _thread
    import threading


    class Box:
        pass


    box = Box()
    stay, done = threading.Event(), threading.Event()
    other = threading.Thread(target=stay.wait)
    other.start()
    box.x = 1                          # BEFORE


    def f(k, add=0):
        box.y = box.x + k + add        # BEFORE AFTER
        done.set()


    _thread.start_new_thread(f, (1,), {"add": 1})
    box.x = 2                          # AFTER
    done.wait()
    print(box.y > 0)
    stay.set()
    other.join()
    print("ok")
"""


def _start_new_thread_program(racy: bool) -> str:
    out = []
    for line in _START_NEW_THREAD.splitlines():
        code, sep, marks = line.partition("# ")
        if sep and marks.split() == ["AFTER"] and not racy:
            continue
        out.append((code + ("# R" if racy and "AFTER" in marks.split() else "")).rstrip() if sep else line)
    return "\n".join(out) + "\n"


NO_RACE: dict = {"start_new_thread": _start_new_thread_program(False)}
RACY: dict = {"start_new_thread_write_after_start": _start_new_thread_program(True)}
for _copy in _COPIES:
    for _kind in ("Queue", "LifoQueue", "PriorityQueue"):
        NO_RACE[f"queue_{_copy}_{_kind}"] = _queue_program(_copy, _kind)
    RACY[f"queue_{_copy}_write_after_put"] = _queue_program(_copy, "Queue", "PAYLOAD")
    RACY[f"queue_{_copy}_write_after_task_done"] = _queue_program(_copy, "Queue", "LATE")


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(NO_RACE))
def test_no_race(tmp_path, name, core):
    res = run_racedet(tmp_path, NO_RACE[name], extra_env={"RACEDET_CORE": core})
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.races == [] and not res.report.get("lock_order_inversions"), res.stdout
    assert "Traceback" not in res.stderr
    assert res.stdout.strip().endswith("ok")


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(RACY))
def test_racy_twin(tmp_path, name, core):
    res = run_racedet(tmp_path, RACY[name], extra_env={"RACEDET_CORE": core})
    assert res.race_lines() == [marked_pair(RACY[name])], res.stdout


# --------------------------------------------------------------------------
# Lock order: edges formed under a hold that another thread released are void

NO_INVERSION = {
    # readerwriterlock's reader protocol (realworld/repro/lock_as_semaphore_order.py):
    # A takes count -> resource to enter and count again to leave while
    # resource is held for all readers; B, the last reader, releases it.
    "last reader releases": """
        import threading
        resource, count_lock = threading.Lock(), threading.Lock()
        readers = [0]
        def enter():
            with count_lock:
                readers[0] += 1
                if readers[0] == 1:
                    resource.acquire()
        def leave():
            with count_lock:
                readers[0] -= 1
                if readers[0] == 0:
                    resource.release()
        a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
        def reader_a():
            enter(); a_in.set(); b_in.wait(); leave(); a_out.set()
        def reader_b():
            a_in.wait(); enter(); b_in.set(); a_out.wait(); leave()
        ts = [threading.Thread(target=reader_a), threading.Thread(target=reader_b)]
        for t in ts: t.start()
        for t in ts: t.join()
        with resource:
            pass
        print("ok")
    """,
    # The same, the acquirer having ended before the release.
    "acquirer ended before the release": """
        import threading
        token, other = threading.Lock(), threading.Lock()
        def take():
            with other:
                token.acquire()
            with other:          # token is held, for someone else to release
                pass
        t = threading.Thread(target=take); t.start(); t.join()
        t = threading.Thread(target=token.release); t.start(); t.join()
        print("ok")
    """,
}

INVERSION = {
    # Two threads, opposite orders, each releasing its own locks.
    "two threads": """
        import threading
        a, b = threading.Lock(), threading.Lock()
        def one():
            with a:
                with b:  # first
                    pass
        def two():
            with b:
                with a:  # second
                    pass
        t = threading.Thread(target=one); t.start(); t.join()
        t = threading.Thread(target=two); t.start(); t.join()
        print("ok")
    """,
    # The closing edge's hold never ends: reported at the end of the run.
    "hold kept to the end": """
        import threading
        a, b = threading.Lock(), threading.Lock()
        with a:
            with b:  # first
                pass
        b.acquire()
        a.acquire()  # second
        print("ok")
    """,
    # A hold voided by another thread's release removes only its own edges:
    # the same pair taken under the thread's own holds is reported.
    "after a voided hold": """
        import threading
        a, b = threading.Lock(), threading.Lock()
        def take():
            a.acquire()
            with b:      # a is held, for someone else to release
                pass
        t = threading.Thread(target=take); t.start(); t.join()
        t = threading.Thread(target=a.release); t.start(); t.join()
        def one():
            with a:
                with b:  # first
                    pass
        def two():
            with b:
                with a:  # second
                    pass
        t = threading.Thread(target=one); t.start(); t.join()
        t = threading.Thread(target=two); t.start(); t.join()
        print("ok")
    """,
}


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(NO_INVERSION))
def test_no_inversion(tmp_path, name, core):
    res = run_racedet(tmp_path, NO_INVERSION[name], extra_env={"RACEDET_CORE": core})
    assert res.report["lock_order_inversions"] == [], res.stderr
    assert res.races == [] and res.returncode == 0, res.stderr
    assert res.stdout == "ok\n"


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(INVERSION))
def test_inversion(tmp_path, name, core):
    src = INVERSION[name]
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    (inv,) = res.report["lock_order_inversions"]
    lines = sorted(edge["stack"][0]["line"] for edge in inv["cycle"])
    assert lines == [line_of(src, "# first"), line_of(src, "# second")], res.stderr
    assert res.stdout == "ok\n"
