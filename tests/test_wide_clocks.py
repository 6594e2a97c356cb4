"""Happens-before through wide clocks: shared bases made by rebasing (racedet.clock).

A thread that has synchronized with more than ``REBASE_AT`` threads freezes
its clock into a shared base when it publishes it; acquirers share that base
instead of copying it.  These programs drive clocks past the threshold and
check both directions: what was ordered through a base reports nothing, and
what happened after a base was frozen is still seen as unordered.  Real-time
order, where a test needs one, comes from raw ``_thread`` locks, which make no
happens-before edge.
"""

from __future__ import annotations

import textwrap

import pytest
from helpers import CORES, expect_no_race, expect_race

from racedet.clock import REBASE_AT

WIDE = REBASE_AT + 16

PRELUDE = f"""
import _thread, queue, threading
import racedet
from racedet import Chan, WaitGroup, go

WIDE = {WIDE}

class Data:
    pass

data = Data()
slots = [0] * WIDE

def gate():
    g = threading._allocate_lock()
    g.acquire()
    return g

def wide_join():
    # WIDE threads each write their slot; joining them all makes the joiner's clock wide.
    def fill(i):
        slots[i] = i
    ts = [threading.Thread(target=fill, args=(i,)) for i in range(WIDE)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
"""

NO_RACES = {
    "goroutines released by close share the closer's clock": """
        gate_, ready, finished = Chan(), WaitGroup(), WaitGroup()
        seen = [0] * WIDE
        def parked(i):
            slots[i] = i
            ready.done()
            gate_.recv_ok()
            seen[i] = data.x + slots[(i + 1) % WIDE]  # another goroutine's, before close
            finished.done()
        ready.add(WIDE)
        finished.add(WIDE)
        for i in range(WIDE):
            go(parked, i)
        ready.wait()
        data.x = 1
        gate_.close()
        finished.wait()
        print(sum(seen), sum(slots))
    """,
    "a lock handed on by threads with wide clocks": """
        barrier = threading.Barrier(WIDE)
        lock = threading.Lock()
        data.total = 0
        def worker(i):
            slots[i] = i
            barrier.wait()
            with lock:
                data.total += slots[(i + 1) % WIDE]
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(WIDE)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        print(data.total)
    """,
    "a queue item carries a wide clock": """
        q = queue.Queue()
        out = []
        def consumer():
            q.get()
            out.append(sum(slots))
            data.x = 2
        c = threading.Thread(target=consumer)
        c.start()
        wide_join()
        data.x = 1
        q.put(None)
        c.join()
        print(out, data.x)
    """,
    "two different bases are folded together": """
        group1 = [0] * WIDE
        group2 = [0] * WIDE
        lock = threading.Lock()
        def fill(group, i):
            group[i] = i
        def wide(group):
            ts = [threading.Thread(target=fill, args=(group, i)) for i in range(WIDE)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        got_lock, done = gate(), gate()
        def a():
            wide(group1)
            with lock:
                data.a = 1
            got_lock.release()
        def b():
            wide(group2)
            with threading.Lock():  # publishes b's wide clock: b now has a base of its own
                pass
            got_lock.acquire()
            with lock:
                print(data.a, sum(group1), sum(group2))
        ta, tb = threading.Thread(target=a), threading.Thread(target=b)
        ta.start(); tb.start(); ta.join(); tb.join()
        group1[0] = group2[0] = -1
    """,
    "a thread started by a wide parent": """
        wide_join()
        def child():
            slots[0] = sum(slots)
        t = threading.Thread(target=child)
        t.start()
        t.join()
        print(slots[0])
    """,
}

RACES = {
    "goroutines that share a base still race with each other": """
        gate_, ready, finished = Chan(), WaitGroup(), WaitGroup()
        def parked(i):
            ready.done()
            gate_.recv_ok()
            if i == 1:
                data.y = 1  # R
            elif i == 2:
                data.y = 2  # R
            finished.done()
        ready.add(WIDE)
        finished.add(WIDE)
        for i in range(WIDE):
            go(parked, i)
        ready.wait()
        gate_.close()
        finished.wait()
    """,
    "a write after the base was frozen is not covered by it": """
        lock = threading.Lock()
        taken, written = gate(), gate()
        def reader():
            with lock:
                pass
            taken.release()
            written.acquire()
            print(data.z)  # R
        wide_join()
        lock.acquire()
        t = threading.Thread(target=reader)
        t.start()
        lock.release()
        taken.acquire()
        data.z = 1  # R
        written.release()
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
