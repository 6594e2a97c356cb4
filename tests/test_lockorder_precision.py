"""Lock-order inversions that cannot deadlock are not reported; real ones still are.

* A Lock released by another thread than its acquirer (a binary semaphore)
  leaves the acquirer's held set: the acquirer's later acquisitions form no
  edge from it.
* An acquisition that cannot wait forever (``blocking=False``, a timeout)
  records no edge, as TSan ignores try-locks; the lock is held all the same,
  so what is taken under it still gets its edges.

Each program runs on both access cores.
"""

from __future__ import annotations

import pytest

from helpers import CORES, line_of, run_racedet

NO_INVERSIONS = {
    # readerwriterlock's shape: the first reader takes the resource lock, the
    # last reader (another thread) releases it.
    "released by another thread": """
        import threading
        resource, count_lock, other = threading.Lock(), threading.Lock(), threading.Lock()
        taken, released = threading.Event(), threading.Event()
        def first_reader():
            resource.acquire()
            taken.set()
            released.wait()
            with other:          # resource is no longer held here
                pass
        def last_reader():
            taken.wait()
            resource.release()
            released.set()
        def writer():
            with other:
                with resource:
                    pass
        a = threading.Thread(target=first_reader); b = threading.Thread(target=last_reader)
        a.start(); b.start(); a.join(); b.join()
        w = threading.Thread(target=writer); w.start(); w.join()
    """,
    "the main thread's lock released by a worker, many rounds": """
        import threading
        gate, mutex = threading.Lock(), threading.Lock()
        def give():
            gate.release()
        def other():
            with mutex:
                with gate:
                    pass
                gate.acquire()    # taken for the main thread's next round
        gate.acquire()
        for _ in range(3):
            t = threading.Thread(target=give); t.start(); t.join()
            with mutex:           # gate is not held here
                pass
            t = threading.Thread(target=other); t.start(); t.join()
    """,
    "try-lock": """
        import threading
        a, b = threading.Lock(), threading.Lock()
        def one():
            with a:
                with b:
                    pass
        def two():
            with b:
                if a.acquire(blocking=False):
                    a.release()
        t = threading.Thread(target=one); t.start(); t.join()
        t = threading.Thread(target=two); t.start(); t.join()
    """,
    "timed acquire": """
        import threading
        a, b = threading.RLock(), threading.RLock()
        def one():
            with a:
                with b:
                    pass
        def two():
            with b:
                if a.acquire(timeout=5):
                    a.release()
        t = threading.Thread(target=one); t.start(); t.join()
        t = threading.Thread(target=two); t.start(); t.join()
    """,
    "try-lock first, then consistent order": """
        import threading
        a, b = threading.Lock(), threading.Lock()
        def one():
            if a.acquire(False):
                with b:
                    pass
                a.release()
        def two():
            with a:
                with b:
                    pass
        t = threading.Thread(target=one); t.start(); t.join()
        t = threading.Thread(target=two); t.start(); t.join()
    """,
}

INVERSIONS = {
    "blocking": """
        import threading
        a, b = threading.Lock(), threading.Lock()
        def one():
            with a:
                with b:  # first
                    pass
        def two():
            with b:
                a.acquire(True, -1)  # second
                a.release()
        t = threading.Thread(target=one); t.start(); t.join()
        t = threading.Thread(target=two); t.start(); t.join()
    """,
    # A try-locked lock is held: a blocking acquisition under it is an edge.
    "blocking under a try-lock": """
        import threading
        a, b = threading.Lock(), threading.Lock()
        def one():
            if a.acquire(False):
                with b:  # first
                    pass
                a.release()
        def two():
            with b:
                with a:  # second
                    pass
        t = threading.Thread(target=one); t.start(); t.join()
        t = threading.Thread(target=two); t.start(); t.join()
    """,
    # The lock released by another thread is taken again, blocking, in the
    # inverted order: still reported.
    "after a release by another thread": """
        import threading
        a, b = threading.Lock(), threading.Lock()
        def take():
            a.acquire()
        def give():
            a.release()
        t = threading.Thread(target=take); t.start(); t.join()
        t = threading.Thread(target=give); t.start(); t.join()
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
    """,
}


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(NO_INVERSIONS))
def test_no_inversion(tmp_path, name, core):
    res = run_racedet(tmp_path, NO_INVERSIONS[name], extra_env={"RACEDET_CORE": core})
    assert res.report["lock_order_inversions"] == [], res.stderr
    assert res.races == [], res.stderr
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(INVERSIONS))
def test_inversion(tmp_path, name, core):
    src = INVERSIONS[name]
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    (inv,) = res.report["lock_order_inversions"]
    lines = sorted(edge["stack"][0]["line"] for edge in inv["cycle"])
    assert lines == [line_of(src, "# first"), line_of(src, "# second")], res.stderr
    assert res.returncode == 66, res.stderr
