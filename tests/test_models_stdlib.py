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

from helpers import CORES, expect_no_race, expect_race, run_racedet
from racedet import env

pytest_plugins = ["pytester"]

PRELUDE = """
import _thread, threading, queue, logging, functools, concurrent.futures as cf

class Data:
    pass

data = Data()

def gate():
    g = threading._allocate_lock()
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
    # -- user code under a lock the standard library holds -------------------
    "logging: a counting handler's emit, read under its lock": """
        class Counting(logging.Handler):
            def __init__(self):
                super().__init__()
                self.n = 0
                self.lines = []
            def emit(self, record):
                self.n += 1
                self.lines.append(self.format(record))
        h = Counting()
        log = logging.getLogger("count"); log.addHandler(h); log.propagate = False
        done = [gate() for _ in range(3)]
        def w(g):
            for i in range(20):
                log.warning("m %d", i)
            g.release()
        ts = [threading.Thread(target=w, args=(g,)) for g in done]
        for t in ts: t.start()
        for g in done: g.acquire()
        with h.lock:
            print(h.n, len(h.lines))
        for t in ts: t.join()
    """,
    # pykka 4.5.0's test log handler: its own lock, replaced by createLock's.
    "logging: a handler that takes self.lock in emit and in its reader": """
        class Collecting(logging.Handler):
            def __init__(self):
                self.lock = threading.RLock()
                with self.lock:
                    self.messages = []
                    self.event = threading.Event()
                logging.Handler.__init__(self)
            def emit(self, record):
                with self.lock:
                    self.messages.append(record)
                    self.event.set()
            def wait_for(self, n):
                while True:
                    with self.lock:
                        if len(self.messages) >= n:
                            return list(self.messages)
                        self.event.clear()
                    self.event.wait(1)
        h = Collecting()
        log = logging.getLogger("collect"); log.addHandler(h); log.propagate = False
        def w():
            for i in range(5):
                log.warning("m %d", i)
        ts = [threading.Thread(target=w) for _ in range(3)]
        for t in ts: t.start()
        print(len(h.wait_for(15)))
        for t in ts: t.join()
    """,
    "logging: a stream handler on a stream of the user's own": """
        import io
        class Lines:
            def __init__(self):
                self.lines = []
            def write(self, s):
                self.lines.append(s)
            def flush(self):
                pass
        stream = Lines()
        h = logging.StreamHandler(stream)
        log = logging.getLogger("lines"); log.addHandler(h); log.propagate = False
        done = [gate() for _ in range(2)]
        def w(g):
            for i in range(10):
                log.warning("m %d", i)
            g.release()
        ts = [threading.Thread(target=w, args=(g,)) for g in done]
        for t in ts: t.start()
        for g in done: g.acquire()
        with h.lock:
            print(len(stream.lines))
        for t in ts: t.join()
    """,
    "logging: a formatter of the user's own": """
        import io
        class Numbering(logging.Formatter):
            def __init__(self):
                super().__init__()
                self.count = 0
            def format(self, record):
                self.count += 1
                return f"{self.count} {record.getMessage()}"
        h = logging.StreamHandler(io.StringIO())
        h.setFormatter(Numbering())
        log = logging.getLogger("numbering"); log.addHandler(h); log.propagate = False
        ts = [threading.Thread(target=lambda: [log.warning("x") for _ in range(10)]) for _ in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(h.formatter.count)
    """,
    "queue: a subclass with its own _put/_get/_qsize": """
        import collections
        class Counted(queue.Queue):
            def _init(self, maxsize):
                self.items = collections.deque()
                self.count = 0
            def _put(self, item):
                self.count += 1
                self.items.append(item)
            def _get(self):
                self.count -= 1
                return self.items.popleft()
            def _qsize(self):
                return len(self.items)
        q = Counted()
        def producer():
            for i in range(30): q.put(i)
        def consumer():
            for i in range(30): q.get()
        ts = [threading.Thread(target=f) for f in (producer, consumer, producer, consumer)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(q.count, q.qsize())
    """,
    "queue: a _put swapped in on the queue itself, under q.mutex (pebble's waitforqueues)": """
        q = queue.Queue()
        go = gate()   # a raw lock: orders nothing racedet sees
        def putter():
            go.acquire()
            q.put(1)
        t = threading.Thread(target=putter); t.start()
        def notifying_put(self, item):
            with self.notify_lock:    # read under q.mutex: Queue.put holds it
                self.old_put(item)
        q.notify_lock = threading.Lock()   # written before the swap under q.mutex
        with q.mutex:
            q.old_put = q._put
            q._put = notifying_put.__get__(q)
        go.release()
        print(q.get())
        t.join()
    """,
    "queue: user code under q.mutex and its conditions": """
        q = queue.Queue()
        data.n = 0
        def w():
            for lock in (q.mutex, q.not_empty, q.not_full, q.all_tasks_done) * 10:
                with lock:
                    data.n += 1
                q.put(1)
                q.get()
        ts = [threading.Thread(target=w) for _ in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(data.n)
    """,
    "queue: a user wait on q.not_empty, notified by another thread": """
        q = queue.Queue()
        ready = gate()
        def waiter():
            with q.not_empty:
                ready.release()
                while not getattr(data, "flag", False):
                    q.not_empty.wait()
                print(data.payload)
        t = threading.Thread(target=waiter); t.start()
        ready.acquire()
        with q.not_empty:
            data.payload = "p"
            data.flag = True
            q.not_empty.notify_all()
        t.join()
    """,
    "queue: a user wait_for on q.not_full of a subclass with its own _put": """
        class Logged(queue.Queue):
            def _put(self, item):
                self.last = item
                super()._put(item)
        q = Logged()
        ready = gate()
        def waiter():
            with q.not_full:
                ready.release()
                print(q.not_full.wait_for(lambda: getattr(q, "last", None) == "go", timeout=30), q.last)
        t = threading.Thread(target=waiter); t.start()
        ready.acquire()
        q.put("go")
        with q.not_full:
            q.not_full.notify_all()
        t.join()
    """,
    "barrier action: after every arrival, before every departure": """
        data.parts = {}
        def action():
            data.total = sum(data.parts.values())
        b = threading.Barrier(3, action=action)
        def w(i):
            data.parts[i] = i       # an item store: atomic, before the action's read
            b.wait()
            print(data.total)
        ts = [threading.Thread(target=w, args=(i,)) for i in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    "threading.local subclass: attributes per thread": """
        class Local(threading.local):
            def __init__(self, start):
                self.value = start
        loc = Local(0)
        def w():
            for i in range(10):
                loc.value += 1
            loc.extra = loc.value
        ts = [threading.Thread(target=w) for _ in range(3)]
        for t in ts: t.start()
        loc.value = 5
        for t in ts: t.join()
    """,
    # CPython's test_threading_local.test_derived, on the pure-Python local.
    "_threading_local.local subclass: attributes per thread": """
        import _threading_local
        class Local(_threading_local.local):
            def __init__(self, *args, **kw):
                self.args = args
                self.kw = kw
        loc = Local(1, 2, k=3)
        def w():
            assert loc.args == (1, 2) and loc.kw == {"k": 3}
            loc.args = ()
            loc.mine = threading.current_thread().name
        ts = [threading.Thread(target=w) for _ in range(3)]
        for t in ts: t.start()
        loc.args = (0,)
        for t in ts: t.join()
        print(loc.args)
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
    # The library's own sections are still no edges: two threads logging to a
    # stream of the standard library are not ordered by the handler's lock.
    "logging: a stdlib handler's lock orders nothing": """
        import io
        h = logging.StreamHandler(io.StringIO())
        log = logging.getLogger("plain"); log.addHandler(h); log.propagate = False
        g = gate()
        def a():
            data.x = 1  # R
            log.warning("a")
            g.release()
        def b():
            g.acquire()
            log.warning("b")
            print(data.x)  # R
        ta = threading.Thread(target=a); tb = threading.Thread(target=b)
        ta.start(); tb.start(); ta.join(); tb.join()
    """,
    # Filters run before the handler's lock is taken (Handler.handle, Logger.handle).
    "logging: a counting filter is not under any lock": """
        import io
        class Counting(logging.Filter):
            n = 0
            def filter(self, record):
                self.n += 1  # R
                return True
        h = logging.StreamHandler(io.StringIO())
        h.addFilter(Counting())
        log = logging.getLogger("filtered"); log.addHandler(h); log.propagate = False
        g = gate()
        def a():
            log.warning("a")
            g.release()
        def b():
            g.acquire()
            log.warning("b")
        ta = threading.Thread(target=a); tb = threading.Thread(target=b)
        ta.start(); tb.start(); ta.join(); tb.join()
    """,
    "logging: a handler's field read without its lock": """
        class Counting(logging.Handler):
            def __init__(self):
                super().__init__()
                self.n = 0
            def emit(self, record):
                self.n += 1  # R
        h = Counting()
        log = logging.getLogger("unlocked"); log.addHandler(h); log.propagate = False
        g = gate()
        def w():
            log.warning("x")
            g.release()
        t = threading.Thread(target=w); t.start()
        g.acquire()
        print(h.n)  # R
        t.join()
    """,
    "queue: a section under q.mutex is not ordered with a plain put/get": """
        q = queue.Queue()
        g = gate()
        def a():
            with q.mutex:
                data.x = 1  # R
            g.release()
        def b():
            g.acquire()
            q.put(1)
            q.get()
            print(data.x)  # R
        ta = threading.Thread(target=a); tb = threading.Thread(target=b)
        ta.start(); tb.start(); ta.join(); tb.join()
    """,
    "queue: a _put swapped in on the queue, its field written without the mutex": """
        q = queue.Queue()
        go, done = gate(), gate()   # raw locks: they order nothing racedet sees
        def putter():
            go.acquire()
            q.put(1)
            done.release()
        t = threading.Thread(target=putter); t.start()
        def counting_put(self, item):
            self.count += 1  # R
            self.old_put(item)
        with q.mutex:
            q.count = 0
            q.old_put = q._put
            q._put = counting_put.__get__(q)
        go.release()
        done.acquire()
        q.count = 5  # R
        print(q.get())
        t.join()
    """,
    "queue: a subclass's field read without the mutex": """
        import collections
        class Counted(queue.Queue):
            def _init(self, maxsize):
                self.items = collections.deque()
                self.count = 0
            def _put(self, item):
                self.count += 1  # R
                self.items.append(item)
            def _get(self):
                return self.items.popleft()
            def _qsize(self):
                return len(self.items)
        q = Counted()
        g = gate()
        def w():
            q.put(1)
            g.release()
        t = threading.Thread(target=w); t.start()
        g.acquire()
        print(q.count)  # R
        t.join()
    """,
    "barrier action: not ordered with a thread that is no party": """
        def action():
            data.x = 1  # R
        b = threading.Barrier(2, action=action)
        gs = [gate(), gate()]
        def w(g):
            b.wait()
            g.release()
        ts = [threading.Thread(target=w, args=(g,)) for g in gs]
        for t in ts: t.start()
        gs[0].acquire()
        print(data.x)  # R
        gs[1].acquire()
        for t in ts: t.join()
    """,
    "cached_property: a write after the first get is not before a later get": """
        class C:
            @functools.cached_property
            def v(self):
                return 1
        c = C()
        g = gate()
        def a():
            c.v
            data.x = 1  # R
            g.release()
        def b():
            g.acquire()
            c.v
            print(data.x)  # R
        ta = threading.Thread(target=a); tb = threading.Thread(target=b)
        ta.start(); tb.start(); ta.join(); tb.join()
    """,
    # The pure-Python local's own lock (it guards the per-thread dicts) orders nothing.
    "_threading_local.local: its internal lock orders nothing": """
        import _threading_local
        loc = _threading_local.local()
        g = gate()
        def a():
            data.x = 1  # R
            loc.v = 1
            g.release()
        def b():
            g.acquire()
            loc.v = 2
            print(data.x)  # R
        ta = threading.Thread(target=a); tb = threading.Thread(target=b)
        ta.start(); tb.start(); ta.join(); tb.join()
    """,
    "threading.local subclass: class attributes are shared": """
        class Local(threading.local):
            shared = 0
        g = gate()
        def w():
            Local.shared = 1  # R
            g.release()
        t = threading.Thread(target=w); t.start()
        g.acquire()
        print(Local.shared)  # R
        t.join()
    """,
}


if env.PYBEHAVIOR.cached_property_lock:
    # The second caller finds the value missing and waits on the property's
    # lock while the first computes (the main thread sees it there).
    NO_RACES["cached_property: the lock orders the second caller after the first"] = """
        import sys, time
        class C:
            @functools.cached_property
            def v(self):
                self.calls = getattr(self, "calls", 0) + 1
                inside.release()
                go.acquire()
                return [self.calls]
        c = C()
        inside, go = gate(), gate()
        def w():
            print(c.v, c.calls)
        t1 = threading.Thread(target=w); t1.start()
        inside.acquire()
        t2 = threading.Thread(target=w); t2.start()
        def in_get():
            f = sys._current_frames().get(t2.ident)
            return f is not None and f.f_code.co_name == "__get__"
        while not in_get():
            time.sleep(0.001)
        go.release()
        t1.join(); t2.join()
    """
else:
    # No lock: a second first call runs the function too, unordered with the first.
    RACES["cached_property without a lock: concurrent first calls"] = """
        import itertools
        calls = itertools.count()
        class C:
            @functools.cached_property
            def v(self):
                n = next(calls)
                data.result = n  # R
                if n == 0:
                    inside.release()
                    second_done.acquire()
                return n
        c = C()
        inside, second_done = gate(), gate()
        def a():
            c.v
        def b():
            inside.acquire()
            c.v
            second_done.release()
        ta = threading.Thread(target=a); tb = threading.Thread(target=b)
        ta.start(); tb.start(); ta.join(); tb.join()
    """


def _program(body: str) -> str:
    return PRELUDE + textwrap.dedent(body)


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(NO_RACES))
def test_no_race(tmp_path, name, core):
    expect_no_race(tmp_path, _program(NO_RACES[name]), core)


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(RACES))
def test_race(tmp_path, name, core):
    expect_race(tmp_path, _program(RACES[name]), core)


FIDELITY = """
import queue, logging, threading, _thread, re
q = queue.Queue()
h = logging.Handler()
for x in (q.mutex, q.not_empty, q.all_tasks_done, h.lock):
    print(re.sub("0x[0-9a-f]+", "ADDR", repr(x)), isinstance(x, type(threading._allocate_lock())),
          isinstance(x, type(_thread.RLock())), x.__class__.__name__)
with q.not_empty:
    print(q.not_empty._is_owned(), q.mutex.locked())
print(hasattr(queue.Queue, "mutex"), hasattr(logging.Handler, "lock"))
try:
    queue.Queue.__new__(queue.Queue).mutex
except AttributeError as e:
    print("AttributeError", e)
"""


def test_library_locks_look_as_under_plain_python(tmp_path):
    """The views user code gets print, compare and fail as the raw objects do."""
    from helpers import run_plain, write

    script = write(tmp_path, FIDELITY)
    plain = run_plain(script)
    res = run_racedet(tmp_path, script=script)
    assert plain.returncode == 0, plain.stderr
    assert res.returncode == 0, res.stderr
    assert res.stdout == plain.stdout


CAPTURED_LOGGING = '''
import _thread, logging, threading

class Data:
    pass

def test_logging_threads():
    data = Data()
    g = threading._allocate_lock()
    g.acquire()
    def a():
        data.x = 1  # R
        logging.getLogger("t").warning("a")
        g.release()
    def b():
        g.acquire()
        logging.getLogger("t").warning("b")
        print(data.x)  # R
    ta = threading.Thread(target=a); tb = threading.Thread(target=b)
    ta.start(); tb.start(); ta.join(); tb.join()
'''


def test_pytest_log_capture_orders_nothing(pytester, monkeypatch):
    """pytest's capture handler (its emit is pytest's code, not the user's) is no edge under --race."""
    import os

    from helpers import ROOT

    for var in ("PYTEST_RACE", "RACEDET_OPTIONS", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    path = pytester.makepyfile(test_captured=CAPTURED_LOGGING)
    res = pytester.runpytest_subprocess("-p", "pytest_racedet.plugin", "-p", "no:cacheprovider", "--race",
                                        timeout=120)
    lines = [i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln.rstrip().endswith("# R")]
    res.stdout.fnmatch_lines([f"*DATA RACE*"])
    out = res.stdout.str()
    assert f"test_captured.py\", line {lines[0]}" in out and f"test_captured.py\", line {lines[1]}" in out, out
    assert res.ret == 1
