"""Happens-before of racedet's Go primitives, per the Go memory model.

Modelled on Go's own ``runtime/race/testdata`` (chan_test.go,
select_test.go, waitgroup_test.go): each program runs under
``python -m racedet``; a no-race program must report nothing, a race
program exactly the pair of lines marked ``# R``.  Real-time order, where a
test needs one, comes from raw ``_thread`` locks (``gate()``), which create
no happens-before edge; waiting for a goroutine to park uses
``Chan.statistics()``, which creates none either.  Every program joins its
goroutines at the end so that nothing is left running.
"""

from __future__ import annotations

import textwrap

import pytest
from helpers import marked_pair, run_racedet

PRELUDE = """
import _thread, threading, time
import racedet
from racedet import Chan, WaitGroup, go, recv, send, select, after

class Data:
    pass

data = Data()

def gate():
    g = threading._allocate_lock()
    g.acquire()
    return g

def parked(ch, senders=0, receivers=0):
    while True:
        s = ch.statistics()
        if s.senders_waiting >= senders and s.receivers_waiting >= receivers:
            return
        time.sleep(0.001)
"""

NO_RACES = {
    # ---- channels: send happens before the receive completes
    "unbuffered send then recv": """
        c = Chan()
        def w():
            data.x = 1
            c.send(0)
        g = go(w)
        c.recv()
        data.x = 2
        g.join()
    """,
    "unbuffered recv before send completes": """
        c = Chan()
        def w():
            c.send(0)
            data.x = 2
        g = go(w)
        data.x = 1
        c.recv()
        g.join()
    """,
    "unbuffered recv before blocked send completes": """
        c = Chan()
        def w():
            c.send(0)
            data.x = 2
        g = go(w)
        parked(c, senders=1)
        data.x = 1
        c.recv()
        g.join()
    """,
    "buffered send then recv": """
        c = Chan(10)
        def w():
            data.x = 1
            c.send(0)
        g = go(w)
        c.recv()
        data.x = 2
        g.join()
    """,
    "buffered send to parked receiver": """
        c = Chan(1)
        def w():
            c.recv()
            print(data.x)
        g = go(w)
        parked(c, receivers=1)
        data.x = 1
        c.send(0)
        g.join()
    """,
    "blocked sender syncs with receiver": """
        c = Chan(1)
        c.send(None)
        def w():
            data.x = 42
            c.send(data)
        g = go(w)
        parked(c, senders=1)
        c.recv()
        print(c.recv().x)
        g.join()
    """,
    "blocked select sender syncs with receiver": """
        c = Chan(1)
        c.send(None)
        def w():
            data.x = 42
            c.send(data)
        g = go(w)
        parked(c, senders=1)
        c.recv()
        r = select(recv(c), recv(Chan()))
        print(r.value.x)
        g.join()
    """,
    "value handed over through a channel": """
        c = Chan()
        def w():
            m = Data()
            m.x = 1
            c.send(m)
        g = go(w)
        m = c.recv()
        m.x = 2
        g.join()
    """,
    "producer consumer unbuffered": """
        queue = Chan()
        def worker():
            f, done = queue.recv()
            f()
            done.send(True)
        g = go(worker)
        def doit(f):
            done = Chan(1)
            queue.send((f, done))
            done.recv()
        def job():
            data.x = 1
        doit(job)
        print(data.x)
        g.join()
    """,
    # ---- capacity C: the k-th receive happens before the (k+C)-th send completes
    "chan as mutex": """
        done = Chan()
        mtx = Chan(1)
        def w():
            mtx.send(None)
            data.x = 42
            mtx.recv()
            done.send(None)
        g = go(w)
        mtx.send(None)
        data.x = 43
        mtx.recv()
        done.recv()
        g.join()
    """,
    "select as mutex": """
        done = Chan()
        mtx = Chan(1)
        aux = Chan()
        def w():
            select(send(mtx, None), recv(aux))
            data.x = 42
            select(recv(mtx), recv(aux))
            done.send(None)
        g = go(w)
        select(send(mtx, None), recv(aux))
        data.x = 43
        select(recv(mtx), recv(aux))
        done.recv()
        g.join()
    """,
    "chan as waitgroup (semaphore of 3)": """
        N = 6
        sem = Chan(3)
        cells = [Data() for _ in range(N)]
        gs = []
        for i in range(N):
            sem.send(True)
            def w(i=i):
                cells[i].x = 42
                sem.recv()
            gs.append(go(w))
        for _ in range(sem.cap):
            sem.send(True)
        for c in cells:
            print(c.x)
        for g in gs:
            g.join()
    """,
    "parked receive before the send C later": """
        c = Chan(1)
        def w():
            data.x = 1
            c.recv()
        g = go(w)
        parked(c, receivers=1)
        c.send(0)
        c.send(1)
        data.x = 2
        g.join()
    """,
    "full buffer: receive before the blocked send completes": """
        c = Chan(1)
        c.send(0)
        def w():
            c.send(1)
            data.x = 2
        g = go(w)
        parked(c, senders=1)
        data.x = 1
        c.recv()
        g.join()
    """,
    # ---- close happens before a receive that returns because of it
    "close then recv (buffered)": """
        c = Chan(10)
        def w():
            data.x = 1
            c.close()
        g = go(w)
        c.recv_ok()
        data.x = 2
        g.join()
    """,
    "close then recv (unbuffered)": """
        c = Chan()
        def w():
            data.x = 1
            c.close()
        g = go(w)
        c.recv()
        data.x = 2
        g.join()
    """,
    "close then range": """
        c = Chan()
        def w():
            data.x = 1
            c.close()
        g = go(w)
        for _ in c:
            pass
        data.x = 2
        g.join()
    """,
    "close wakes parked receiver": """
        c = Chan()
        def w():
            c.recv()
            data.x = 2
        g = go(w)
        parked(c, receivers=1)
        data.x = 1
        c.close()
        g.join()
    """,
    "close then select recv": """
        c = Chan()
        def w():
            data.x = 1
            c.close()
        g = go(w)
        select(recv(c), recv(Chan()))
        data.x = 2
        g.join()
    """,
    # ---- select: each case gives the edges of its operation
    "select send then recv": """
        c1, c2 = Chan(), Chan()
        def w():
            data.x = 1
            select(send(c1, 0), send(c2, 0))
        g = go(w)
        c1.recv()
        data.x = 2
        g.join()
    """,
    "select read/write through a channel": """
        done = Chan()
        c1, c2 = Chan(), Chan()
        data.x = 0
        def w():
            select(send(c1, data.x), send(c2, 1))
            done.send(True)
        g = go(w)
        r = select(recv(c1), send(c2, 1))
        data.x = r.value
        done.recv()
        g.join()
    """,
    "two selects pair up": """
        c = Chan()
        def w():
            data.x = 1
            select(send(c, 0), recv(Chan()))
        g = go(w)
        select(recv(c), recv(Chan()))
        data.x = 2
        g.join()
    """,
    # ---- WaitGroup: done happens before the wait it releases
    "waitgroup": """
        wg = WaitGroup()
        cells = [Data() for _ in range(5)]
        def w(c):
            c.x = 1
            wg.done()
        wg.add(5)
        gs = [go(w, c) for c in cells]
        wg.wait()
        for c in cells:
            c.x = 2
        for g in gs:
            g.join()
    """,
    "waitgroup already at zero": """
        wg = WaitGroup()
        gate_ = gate()
        def w():
            data.x = 1
            wg.done()
            gate_.release()
        wg.add(1)
        g = go(w)
        gate_.acquire()
        wg.wait()
        data.x = 2
        g.join()
    """,
    "waitgroup add(-n)": """
        wg = WaitGroup()
        wg.add(2)
        def w():
            data.x = 1
            wg.add(-2)
        g = go(w)
        wg.wait()
        data.x = 2
        g.join()
    """,
    # ---- contexts: cancel happens before a receive from done() it unblocks
    "cancel then done": """
        ctx, cancel = racedet.with_cancel(racedet.background())
        def w():
            data.x = 1
            cancel()
        g = go(w)
        ctx.done().recv()
        data.x = 2
        g.join()
    """,
    "cancel parent then child done": """
        parent, cancel = racedet.with_cancel(racedet.background())
        child, cancel_child = racedet.with_cancel(parent)
        def w():
            data.x = 1
            cancel()
        g = go(w)
        select(recv(child.done()), recv(Chan()))
        data.x = 2
        g.join()
        cancel_child()
    """,
    "cancel then err": """
        ctx, cancel = racedet.with_cancel(racedet.background())
        gate_ = gate()
        def w():
            data.x = 1
            cancel()
            gate_.release()
        g = go(w)
        gate_.acquire()
        if ctx.err() is not None:
            data.x = 2
        g.join()
    """,
}

RACES = {
    "buffered send does not wait for the receive": """
        c = Chan(10)
        def w():
            c.send(0)
            data.x = 1  # R
        g = go(w)
        data.x = 2  # R
        c.recv()
        g.join()
    """,
    "close does not order a send that fails": """
        c = Chan()
        gate_ = gate()
        def w():
            data.x = 1  # R
            c.close()
            gate_.release()
        g = go(w)
        gate_.acquire()
        try:
            c.send(0)
        except racedet.ChannelClosed:
            pass
        data.x = 2  # R
        g.join()
    """,
    "receiving a value is not receiving the close": """
        c = Chan(1)
        gate_ = gate()
        def w():
            c.send(0)
            data.x = 1  # R
            c.close()
            gate_.release()
        g = go(w)
        gate_.acquire()
        c.recv()
        data.x = 2  # R
        g.join()
    """,
    "semaphore of 2 is no mutex": """
        done = Chan()
        mtx = Chan(2)
        def w():
            mtx.send(True)
            data.x = 42  # R
            mtx.recv()
            done.send(None)
        g = go(w)
        mtx.send(True)
        data.x = 43  # R
        mtx.recv()
        done.recv()
        g.join()
    """,
    "len is not synchronization": """
        c = Chan(10)
        def w():
            data.x = 1  # R
            c.send(1)
        g = go(w)
        while len(c) == 0:
            time.sleep(0.001)
        data.x = 2  # R
        c.recv()
        g.join()
    """,
    "wrong sender": """
        c = Chan(2)
        data.y = 0
        g1, g2 = gate(), gate()
        def w1():
            data.x = 1
            c.send(1)
            g1.release()
        def w2():
            g1.acquire()
            data.y = 2  # R
            c.send(2)
            g2.release()
        a, b = go(w1), go(w2)
        g2.acquire()
        if c.recv() == 1:
            data.y = 3  # R
        a.join(); b.join()
    """,
    "select reads while the other side writes": """
        done = Chan()
        c1, c2, c3 = Chan(10), Chan(10), Chan()
        data.x = 0
        c2.send(1)
        def w():
            select(send(c1, data.x), send(c3, 1))  # R
            done.send(True)
        g = go(w)
        r = select(recv(c2), send(c3, 1))
        data.x = r.value  # R
        done.recv()
        g.join()
    """,
    "select default takes no edge": """
        c = Chan(1)
        gate_ = gate()
        def w():
            data.x = 1  # R
            gate_.release()
        g = go(w)
        gate_.acquire()
        select(recv(c), default=True)
        data.x = 2  # R
        g.join()
    """,
    "waitgroup done before the write": """
        wg = WaitGroup()
        gate_ = gate()
        wg.add(1)
        def w():
            wg.done()
            data.x = 1  # R
            gate_.release()
        g = go(w)
        wg.wait()
        gate_.acquire()
        data.x = 2  # R
        g.join()
    """,
    "waitgroup add(+n) is not a release": """
        wg = WaitGroup()
        gate_ = gate()
        def w():
            data.x = 1  # R
            wg.add(1)
            wg.add(-1)
            gate_.release()
        g = go(w)
        gate_.acquire()
        data.x = 2  # R
        g.join()
    """,
    "cancel after the write is not before it": """
        ctx, cancel = racedet.with_cancel(racedet.background())
        gate_ = gate()
        def w():
            cancel()
            data.x = 1  # R
            gate_.release()
        g = go(w)
        ctx.done().recv()
        gate_.acquire()
        data.x = 2  # R
        g.join()
    """,
    "timeout has no edge": """
        ctx, cancel = racedet.with_timeout(racedet.background(), 0.05)
        gate_ = gate()
        def w():
            data.x = 1  # R
            gate_.release()
        g = go(w)
        gate_.acquire()
        ctx.done().recv()
        data.x = 2  # R
        g.join()
        cancel()
    """,
    "after has no edge": """
        gate_ = gate()
        def w():
            data.x = 1  # R
            gate_.release()
        g = go(w)
        gate_.acquire()
        select(recv(Chan()), recv(after(0.01)))
        data.x = 2  # R
        g.join()
    """,
}


def _program(body: str) -> str:
    return PRELUDE + textwrap.dedent(body)


@pytest.mark.parametrize("name", sorted(NO_RACES))
def test_no_race(tmp_path, name):
    res = run_racedet(tmp_path, _program(NO_RACES[name]))
    assert res.races == [], res.stderr
    assert res.leaks == [], res.stderr
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("name", sorted(RACES))
def test_race(tmp_path, name):
    src = _program(RACES[name])
    res = run_racedet(tmp_path, src)
    assert res.race_lines() == [marked_pair(src)], res.stderr
    assert res.returncode == 66, res.stderr
