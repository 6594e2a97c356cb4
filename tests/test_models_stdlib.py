"""Synchronization inside the standard library that user code relies on: a no-race and a race program each.

* user code that runs under a lock the standard library holds (a logging
  handler's ``emit``, a Queue subclass's ``_put``/``_get``, a Barrier's
  action, ``functools.cached_property`` where it has a lock) is ordered by
  that lock, and so is user code that takes such a lock itself
  (``Handler.lock``, ``q.mutex``, ``q.not_empty``, ...);
* per-thread attributes of ``threading.local`` and ``_threading_local.local``
  subclasses;
* a bounded queue is a counting semaphore;
* a callback added to a pending future runs after the add.

Real time order, where a program needs one, comes from raw ``_thread``
locks, which create no happens-before edge.
"""

from __future__ import annotations

import textwrap

import pytest

from helpers import CORES, marked_pair, run_racedet
from racedet import env

PRELUDE = """
import _thread, threading, queue, logging, functools, concurrent.futures as cf

class Data:
    pass

data = Data()

def gate():
    g = _thread.allocate_lock()
    g.acquire()
    return g
"""

NO_RACES = {
    # -- bounded queues as semaphores ---------------------------------------
    "queue(1) as a mutex": """
        q = queue.Queue(maxsize=1)
        def w():
            for _ in range(50):
                q.put(None)          # enter
                data.x = getattr(data, "x", 0) + 1
                q.get()              # leave
        ts = [threading.Thread(target=w) for _ in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    "queue(2) as tokens: the k-th get before the (k+2)-th put": """
        q = queue.Queue(maxsize=2)
        q.put("a"); q.put("b")
        go = gate()
        def w():
            go.acquire()
            data.x = 1
            q.get()                  # frees a place
        t = threading.Thread(target=w); t.start()
        go.release()
        q.put("c")                   # completes after w's get
        print(data.x)
        t.join()
    """,
    "lifo queue(1) as a mutex": """
        q = queue.LifoQueue(1)
        def w():
            for _ in range(30):
                q.put(0)
                data.x = getattr(data, "x", 0) + 1
                q.get()
        ts = [threading.Thread(target=w) for _ in range(2)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    # -- futures made by user code -------------------------------------------
    "user future: callback added while pending runs after the add": """
        f = cf.Future()
        go = gate()
        def setter():
            go.acquire()
            f.set_result(5)
        t = threading.Thread(target=setter); t.start()
        data.x = 1
        f.add_done_callback(lambda fut: print(data.x, fut.result()))
        go.release()
        t.join()
    """,
    "user future: set_result before the callback and result()": """
        f = cf.Future()
        go = gate()
        def setter():
            go.acquire()
            data.x = 1
            f.set_result(5)
        t = threading.Thread(target=setter); t.start()
        f.add_done_callback(lambda fut: print(data.x))
        go.release()
        print(f.result(), data.x)
        t.join()
    """,
    "user future: set_exception before exception()": """
        f = cf.Future()
        def setter():
            data.x = 1
            f.set_exception(ValueError("no"))
        t = threading.Thread(target=setter)
        t.start()
        print(type(f.exception()).__name__, data.x)
        t.join()
    """,
    # pebble 5.2.3's map_results: a cell written before the callbacks are added.
    "user futures: a cell read by their callbacks": """
        go = gate()
        fs = [cf.Future() for _ in range(3)]
        def completer():
            go.acquire()
            for i, f in enumerate(fs):
                f.set_result(i)
        t = threading.Thread(target=completer); t.start()
        def map_results(map_future):
            futures = list(fs)
            def done_map(_):
                if not map_future.done() and all(f.done() for f in futures):
                    map_future.set_result(len(futures))
            for future in futures:
                future.add_done_callback(done_map)
            return map_future
        m = map_results(cf.Future())
        go.release()
        print(m.result())
        t.join()
    """,
}

RACES = {
    "queue(2): two holders at once": """
        q = queue.Queue(maxsize=2)
        inside, done = gate(), gate()
        def a():
            q.put(None)
            data.x = 1  # R
            inside.release()
            done.acquire()
            q.get()
        def b():
            inside.acquire()
            q.put(None)
            data.x = 2  # R
            done.release()
            q.get()
        ta = threading.Thread(target=a); tb = threading.Thread(target=b)
        ta.start(); tb.start(); ta.join(); tb.join()
    """,
    "queue(2): the put is ordered after the get two puts back, not the last one": """
        q = queue.Queue(maxsize=2)
        q.put("a"); q.put("b")
        g1, g2 = gate(), gate()
        def first():
            q.get()              # frees the place "c" takes
            g1.release()
        def second():
            g1.acquire()
            data.x = 1  # R
            q.get()              # frees the place "d" takes
            g2.release()
        ta = threading.Thread(target=first); tb = threading.Thread(target=second)
        ta.start(); tb.start()
        g2.acquire()
        q.put("c")
        print(data.x)  # R
        ta.join(); tb.join()
    """,
    "user future: a write after the add is not before the callback": """
        f = cf.Future()
        go = gate()
        def setter():
            go.acquire()
            f.set_result(5)
        t = threading.Thread(target=setter); t.start()
        f.add_done_callback(lambda fut: print(data.x))  # R
        data.x = 1  # R
        go.release()
        t.join()
    """,
    "user future: a write after set_result is not before result()": """
        f = cf.Future()
        done = gate()
        def setter():
            f.set_result(5)
            data.x = 1  # R
            done.release()
        t = threading.Thread(target=setter); t.start()
        done.acquire()
        f.result()
        print(data.x)  # R
        t.join()
    """,
}


def _program(body: str) -> str:
    return PRELUDE + textwrap.dedent(body)


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(NO_RACES))
def test_no_race(tmp_path, name, core):
    res = run_racedet(tmp_path, _program(NO_RACES[name]), extra_env={"RACEDET_CORE": core})
    assert res.races == [], res.stderr
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(RACES))
def test_race(tmp_path, name, core):
    src = _program(RACES[name])
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert res.race_lines() == [marked_pair(src)], res.stderr
    assert res.returncode == 66, res.stderr
