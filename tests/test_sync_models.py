"""Every synchronization of the standard library racedet models: a race test and a no-race test each.

No-race programs order their accesses with the primitive under test; race
programs show the primitive does not order what it must not (a failed
try-lock, a queue item that is not the one put after the write, ...).  Real
time order, where a test needs one, comes from raw ``_thread`` locks, which
create no happens-before edge.
"""

from __future__ import annotations

import textwrap

import pytest

from helpers import CORES, expect_no_race, expect_race

PRELUDE = """
import _thread, threading, queue, concurrent.futures as cf

class Data:
    pass

data = Data()

def gate():
    g = threading._allocate_lock()
    g.acquire()
    return g
"""

NO_RACES = {
    "thread start": """
        data.x = 1
        t = threading.Thread(target=lambda: print(data.x))
        t.start(); t.join()
    """,
    "thread join": """
        def w(): data.x = 1
        t = threading.Thread(target=w)
        t.start(); t.join()
        print(data.x)
    """,
    "thread is_alive false": """
        g = gate()
        def w():
            data.x = 1
        t = threading.Thread(target=w)
        t.start()
        while t.is_alive():
            pass
        print(data.x)
    """,
    "thread subclass run": """
        class W(threading.Thread):
            def run(self):
                self.result = 42
        t = W(); t.start(); t.join()
        print(t.result)
    """,
    "lock": """
        lock = threading.Lock()
        def w():
            with lock:
                data.x = getattr(data, "x", 0) + 1
        ts = [threading.Thread(target=w) for _ in range(4)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    "lock acquire release": """
        lock = threading.Lock()
        def w():
            lock.acquire()
            try:
                data.x = 1
            finally:
                lock.release()
        def r():
            lock.acquire()
            print(getattr(data, "x", None))
            lock.release()
        a = threading.Thread(target=w); b = threading.Thread(target=r)
        a.start(); b.start(); a.join(); b.join()
    """,
    "rlock nested": """
        lock = threading.RLock()
        def w():
            with lock:
                with lock:
                    data.x = getattr(data, "x", 0) + 1
                data.y = 1
        ts = [threading.Thread(target=w) for _ in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    "condition": """
        cond = threading.Condition()
        def producer():
            with cond:
                data.x = 1
                data.ready = True
                cond.notify()
        def consumer():
            with cond:
                cond.wait_for(lambda: getattr(data, "ready", False))
                print(data.x)
        c = threading.Thread(target=consumer); p = threading.Thread(target=producer)
        c.start(); p.start(); c.join(); p.join()
    """,
    "condition with lock": """
        lock = threading.Lock()
        cond = threading.Condition(lock)
        items = []
        def producer():
            for i in range(3):
                with cond:
                    data.last = i
                    items.append(i)
                    cond.notify()
        def consumer():
            got = 0
            while got < 3:
                with cond:
                    while not items:
                        cond.wait()
                    items.pop(0)
                    print(data.last)
                    got += 1
        c = threading.Thread(target=consumer); p = threading.Thread(target=producer)
        c.start(); p.start(); c.join(); p.join()
    """,
    "event wait": """
        ev = threading.Event()
        def w():
            data.x = 1
            ev.set()
        t = threading.Thread(target=w); t.start()
        ev.wait()
        print(data.x)
        t.join()
    """,
    "event is_set": """
        ev = threading.Event()
        def w():
            data.x = 1
            ev.set()
        t = threading.Thread(target=w); t.start()
        while not ev.is_set():
            pass
        print(data.x)
        t.join()
    """,
    "semaphore": """
        sem = threading.Semaphore(0)
        def w():
            data.x = 1
            sem.release()
        t = threading.Thread(target=w); t.start()
        sem.acquire()
        print(data.x)
        t.join()
    """,
    "bounded semaphore as mutex": """
        sem = threading.BoundedSemaphore(1)
        def w():
            with sem:
                data.x = getattr(data, "x", 0) + 1
        ts = [threading.Thread(target=w) for _ in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    "barrier": """
        b = threading.Barrier(2)
        cells = [0, 0]
        def w(i):
            cells[i] = 1
            b.wait()
            print(cells[1 - i])
            b.wait()
            cells[i] = 2
        ts = [threading.Thread(target=w, args=(i,)) for i in range(2)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    "timer": """
        data.x = 1
        t = threading.Timer(0.01, lambda: print(data.x))
        t.start(); t.join()
    """,
    "queue put get": """
        q = queue.Queue()
        def producer():
            for i in range(3):
                o = Data(); o.v = i
                q.put(o)
        def consumer():
            for _ in range(3):
                print(q.get().v)
        p = threading.Thread(target=producer); c = threading.Thread(target=consumer)
        p.start(); c.start(); p.join(); c.join()
    """,
    "lifo and priority queues": """
        lq, pq = queue.LifoQueue(), queue.PriorityQueue()
        def producer():
            data.x = 1
            lq.put("a")
            data.y = 2
            pq.put((1, "b"))
        def consumer():
            lq.get(); print(data.x)
            pq.get(); print(data.y)
        p = threading.Thread(target=producer); c = threading.Thread(target=consumer)
        p.start(); c.start(); p.join(); c.join()
    """,
    "simple queue": """
        q = queue.SimpleQueue()
        def producer():
            data.x = 1
            q.put(1)
        p = threading.Thread(target=producer); p.start()
        q.get(); print(data.x)
        p.join()
    """,
    "simple queue: the same object put twice carries each put's edge": """
        q = queue.SimpleQueue()
        box = [0, 0]
        def producer(i):
            box[i] = i + 1
            q.put(None)          # a sentinel: the same object from both producers
        ps = [threading.Thread(target=producer, args=(i,)) for i in range(2)]
        for p in ps: p.start()
        q.get(); q.get()
        print(sum(box))
        for p in ps: p.join()
    """,
    "simple queue: get with a timeout and get_nowait": """
        q = queue.SimpleQueue()
        def producer():
            data.x = 1
            q.put("a")
            data.y = 2
            q.put_nowait("b")
        p = threading.Thread(target=producer); p.start()
        q.get(timeout=30); print(data.x)
        p.join()
        q.get_nowait(); print(data.y)
    """,
    "queue subclass with its own put and get around _put/_get": """
        class MyQueue(queue.Queue):
            def put(self, item):
                with self.not_empty:
                    self._put(item)
                    self.not_empty.notify()
            def get(self):
                with self.not_empty:
                    while not self._qsize():
                        self.not_empty.wait()
                    return self._get()
        q = MyQueue()
        def producer():
            data.x = 1
            q.put("a")
        p = threading.Thread(target=producer); p.start()
        q.get(); print(data.x)
        p.join()
    """,
    "queue task_done join": """
        q = queue.Queue()
        results = {}
        def worker():
            while True:
                item = q.get()
                if item is None:
                    break
                results[item] = item * 2
                q.task_done()
        ts = [threading.Thread(target=worker, daemon=True) for _ in range(2)]
        for t in ts: t.start()
        for i in range(5):
            q.put(i)
        q.join()
        print(sorted(results.items()))
        for t in ts: q.put(None)
        for t in ts: t.join()
    """,
    "bounded queue put blocks": """
        q = queue.Queue(maxsize=1)
        def producer():
            for i in range(5):
                o = Data(); o.v = i
                q.put(o)
        p = threading.Thread(target=producer); p.start()
        for _ in range(5):
            print(q.get().v)
        p.join()
    """,
    "executor submit result": """
        def task(n):
            data.x = n
            return n
        data.input = 5
        with cf.ThreadPoolExecutor(2) as ex:
            f = ex.submit(lambda: (print(data.input), task(1)))
            f.result()
            print(data.x)
    """,
    "executor map": """
        out = {}
        def task(n):
            out[n] = n * n
            return n
        with cf.ThreadPoolExecutor(4) as ex:
            print(list(ex.map(task, range(10))))
        print(sorted(out.items()))
    """,
    "executor as_completed": """
        out = {}
        def task(n):
            out[n] = n
        ex = cf.ThreadPoolExecutor(3)
        fs = [ex.submit(task, i) for i in range(6)]
        for f in cf.as_completed(fs):
            pass
        print(sorted(out))
        ex.shutdown()
    """,
    "executor wait": """
        out = {}
        def task(n):
            out[n] = n
        ex = cf.ThreadPoolExecutor(3)
        fs = [ex.submit(task, i) for i in range(6)]
        cf.wait(fs)
        print(sorted(out))
        ex.shutdown()
    """,
    "executor shutdown wait": """
        out = {}
        def task(n):
            out[n] = n
        ex = cf.ThreadPoolExecutor(2)
        for i in range(4):
            ex.submit(task, i)
        ex.shutdown(wait=True)
        print(sorted(out))
    """,
    "executor done callback": """
        def task():
            data.x = 1
        ex = cf.ThreadPoolExecutor(1)
        f = ex.submit(task)
        f.result()
        f.add_done_callback(lambda fut: print(data.x))
        ex.shutdown()
    """,
    "asyncio call_soon_threadsafe": """
        import asyncio
        async def main():
            loop = asyncio.get_running_loop()
            done = asyncio.Event()
            def worker():
                data.x = 1
                loop.call_soon_threadsafe(lambda: (print(data.x), done.set()))
            t = threading.Thread(target=worker); t.start()
            await done.wait()
            t.join()
        asyncio.run(main())
    """,
    "asyncio to_thread and run_coroutine_threadsafe": """
        import asyncio
        def work():
            data.y = 2
            return 1
        async def read():
            return data.z
        async def main():
            await asyncio.to_thread(work)
            print(data.y)
            loop = asyncio.get_running_loop()
            def other():
                data.z = 3
                print(asyncio.run_coroutine_threadsafe(read(), loop).result())
            await asyncio.to_thread(other)
        asyncio.run(main())
    """,
    "executor exception": """
        def task():
            data.x = 1
            raise ValueError("boom")
        with cf.ThreadPoolExecutor(1) as ex:
            f = ex.submit(task)
            print(type(f.exception()).__name__)
            print(data.x)
    """,
}

RACES = {
    "simple queue: an item carries only its own put's edge": """
        q = queue.SimpleQueue()
        g, g2 = gate(), gate()
        def first():
            q.put(1)
            g.release()
        def second():
            g.acquire()
            data.x = 1  # R
            q.put(2)
            g2.release()
        a = threading.Thread(target=first); b = threading.Thread(target=second)
        a.start(); b.start()
        g2.acquire()
        q.get()              # item 1: ordered after first() only
        print(data.x)  # R
        q.get()
        a.join(); b.join()
    """,
    "write after start": """
        data.x = 0
        t = threading.Thread(target=lambda: print(data.x))  # R
        t.start()
        data.x = 1  # R
        t.join()
    """,
    "no join": """
        g = gate()
        def w():
            data.x = 1  # R
            g.release()
        t = threading.Thread(target=w); t.start()
        g.acquire()
        print(data.x)  # R
        t.join()
    """,
    "different locks": """
        l1, l2 = threading.Lock(), threading.Lock()
        g = gate()
        def a():
            with l1:
                data.x = 1  # R
            g.release()
        def b():
            g.acquire()
            with l2:
                data.x = 2  # R
        ta = threading.Thread(target=a); tb = threading.Thread(target=b)
        ta.start(); tb.start(); ta.join(); tb.join()
    """,
    "failed try-lock": """
        lock = threading.Lock()
        held, done = gate(), gate()
        def a():
            with lock:
                data.x = 1  # R
                held.release()
                done.acquire()
        def b():
            held.acquire()
            if not lock.acquire(False):
                print(data.x)  # R
            done.release()
        ta = threading.Thread(target=a); tb = threading.Thread(target=b)
        ta.start(); tb.start(); ta.join(); tb.join()
    """,
    "event not waited": """
        ev = threading.Event()
        g = gate()
        def w():
            data.x = 1  # R
            g.release()
            ev.set()
        t = threading.Thread(target=w); t.start()
        g.acquire()
        print(data.x)  # R
        t.join()
    """,
    "event wait timeout false": """
        ev = threading.Event()
        g = gate()
        def w():
            data.x = 1  # R
            g.release()
        t = threading.Thread(target=w); t.start()
        g.acquire()
        ev.wait(0.01)
        print(data.x)  # R
        t.join()
    """,
    "queue other item": """
        q = queue.Queue()
        g1, g2 = gate(), gate()
        def b():
            q.put("b")
            g1.release()
        def a():
            g1.acquire()
            data.x = 1  # R
            q.put("a")
            g2.release()
        tb = threading.Thread(target=b); ta = threading.Thread(target=a)
        tb.start(); ta.start()
        g2.acquire()
        assert q.get() == "b"
        print(data.x)  # R
        ta.join(); tb.join()
    """,
    "executor not waited": """
        g = gate()
        def task():
            data.x = 1  # R
            g.release()
        ex = cf.ThreadPoolExecutor(1)
        f = ex.submit(task)
        g.acquire()
        print(data.x)  # R
        ex.shutdown()
    """,
    "barrier wrong side": """
        b = threading.Barrier(2)
        g = gate()
        def w1():
            b.wait()
            data.x = 1  # R
            g.release()
        def w2():
            b.wait()
            g.acquire()
            print(data.x)  # R
        t1 = threading.Thread(target=w1); t2 = threading.Thread(target=w2)
        t1.start(); t2.start(); t1.join(); t2.join()
    """,
    "asyncio without a hand-off": """
        import asyncio
        g = gate()
        def worker():
            data.x = 1  # R
            g.release()
        async def main():
            t = threading.Thread(target=worker); t.start()
            await asyncio.get_running_loop().run_in_executor(None, g.acquire)
            print(data.x)  # R
            t.join()
        asyncio.run(main())
    """,
    "semaphore not acquired": """
        sem = threading.Semaphore(1)
        g = gate()
        def w():
            data.x = 1  # R
            sem.release()
            g.release()
        t = threading.Thread(target=w); t.start()
        g.acquire()
        print(data.x)  # R
        t.join()
    """,
}


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
