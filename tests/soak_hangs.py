"""Soak: notify/wait/close/notify_all/timeout races on Condition, Event, Semaphore and Queue.

Run under racedet (``python -m racedet tests/soak_hangs.py [ROUNDS]``; the
suite runs a short version, tests/test_hangs.py).  Every waiting thread is
made interruptible and the slice is shortened, so that waits wake thousands
of times a second to look for an abort: wake-ups that land on a slice
boundary are what used to be lost.  Every round must end; a round whose
threads are still waiting after ``JOIN`` seconds prints ``HANG`` and the
script exits 1.
"""

from __future__ import annotations

import queue
import sys
import threading

try:
    from racedet import blocking, engine
except ImportError:  # under plain python: the same program, nothing to tune
    blocking = engine = None

JOIN = 20.0
WAITERS = 3


def _interruptible() -> None:
    if blocking is not None and engine.TRACKING:
        blocking.set_interruptible(engine.current(), True)


def _run(name: str, targets: list) -> None:
    def wrap(fn):  # type: ignore[no-untyped-def]
        def run() -> None:
            _interruptible()
            fn()
        return run

    ts = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in ts:
        t.start()
    for t in ts:
        t.join(JOIN)
        if t.is_alive():
            print(f"HANG in {name}", flush=True)
            sys.exit(1)


def condition_items(i: int) -> None:
    """Consumers wait (some with short timeouts) for items a producer adds one notify at a time."""
    cond = threading.Condition(threading.Lock() if i % 2 else threading.RLock())
    box = {"items": 0, "taken": 0}
    per = 4

    def consumer(timed: bool) -> None:
        for _ in range(per):
            with cond:
                while box["items"] == 0:
                    cond.wait(0.0005 if timed else None)
                box["items"] -= 1
                box["taken"] += 1

    def producer() -> None:
        for _ in range(per * WAITERS):
            with cond:
                box["items"] += 1
                cond.notify()

    _run("Condition.notify", [lambda k=k: consumer(k == 0) for k in range(WAITERS)] + [producer])
    assert box["taken"] == per * WAITERS


def condition_close(i: int) -> None:
    """Waiters until closed (janus' join after close): one notify_all ends them all."""
    cond = threading.Condition()
    box = {"closed": False}

    def waiter() -> None:
        with cond:
            if i % 3 == 0:
                cond.wait_for(lambda: box["closed"])
            else:
                while not box["closed"]:
                    cond.wait()

    def closer() -> None:
        with cond:
            box["closed"] = True
            cond.notify_all()

    _run("Condition.notify_all", [waiter] * WAITERS + [closer])


def event(i: int) -> None:
    """Waiters (some with short timeouts) until one set()."""
    ev = threading.Event()

    def waiter(timed: bool) -> None:
        while not ev.wait(0.0005 if timed else None):
            pass

    _run("Event.set", [lambda k=k: waiter(k == 0) for k in range(WAITERS)] + [ev.set])


def semaphore(i: int) -> None:
    """Acquirers (some with short timeouts) let through one release at a time."""
    sem = threading.BoundedSemaphore(WAITERS) if i % 2 else threading.Semaphore(0)
    if i % 2:
        for _ in range(WAITERS):
            sem.acquire()

    def acquirer(timed: bool) -> None:
        while not sem.acquire(timeout=0.0005 if timed else None):
            pass

    def releaser() -> None:
        for _ in range(WAITERS):
            sem.release()

    _run("Semaphore.release", [lambda k=k: acquirer(k == 0) for k in range(WAITERS)] + [releaser])


def queue_items(i: int) -> None:
    """Consumers get (some with short timeouts) and mark done; the producer joins."""
    q: queue.Queue = queue.Queue(maxsize=2 if i % 2 else 0)
    per = 3

    def consumer(timed: bool) -> None:
        for _ in range(per):
            while True:
                try:
                    q.get(timeout=0.0005) if timed else q.get()
                    break
                except queue.Empty:
                    pass
            q.task_done()

    def producer() -> None:
        for n in range(per * WAITERS):
            q.put(n)
        q.join()

    _run("Queue", [lambda k=k: consumer(k == 0) for k in range(WAITERS)] + [producer])


ROUNDS = (condition_items, condition_close, event, semaphore, queue_items)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    if blocking is not None:
        blocking.SLICE = 0.0002
    for i in range(rounds):
        ROUNDS[i % len(ROUNDS)](i)
    print(f"{rounds} rounds, no hang")


if __name__ == "__main__":
    main()
