"""Channels and select under heavy contention: every value exactly once, nothing hangs.

Each test is bounded: goroutines are joined with a timeout and the test fails
(instead of hanging) if one is still alive.  Sizes are picked to finish in a
few seconds on a 2-core machine.
"""

from __future__ import annotations

import collections
import queue
import random
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import pytest

from racedet import Chan, ChannelClosed, WaitGroup, engine, go, recv, select, send

JOIN = 60.0     # only reached if something hangs


def wait_until(pred: Callable[[], bool], timeout: float = JOIN) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)


def join_all(gs) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + JOIN
    for g in gs:
        g.join(max(0.0, deadline - time.monotonic()))
    stuck = [g.name for g in gs if g.is_alive()]
    assert not stuck, f"goroutines still running: {stuck[:10]}"


def assert_exactly_once(sent: List[object], received: List[object]) -> None:
    assert len(received) == len(sent)
    counts = collections.Counter(received)
    dups = [v for v, n in counts.items() if n > 1]
    assert not dups, f"duplicated: {dups[:10]}"
    assert counts == collections.Counter(sent)


@pytest.mark.parametrize("cap", [0, 1, 16])
def test_many_producers_and_consumers(cap: int) -> None:
    """Plain sends against plain receives, ``for`` loops and selects on one channel."""
    ch: Chan = Chan(cap)
    producers, per = 8, 400
    wg = WaitGroup()
    got: List[List[object]] = []

    def produce(p: int) -> None:
        for i in range(per):
            ch.send((p, i))
        wg.done()

    def consume(kind: int) -> None:
        mine: List[object] = []
        got.append(mine)
        if kind == 0:
            for v in ch:
                mine.append(v)
        elif kind == 1:
            while True:
                v, ok = ch.recv_ok()
                if not ok:
                    return
                mine.append(v)
        else:
            other = Chan()      # never ready
            while True:
                r = select(recv(other), recv(ch))
                if not r.ok:
                    return
                mine.append(r.value)

    consumers = [go(consume, k % 3) for k in range(9)]
    wg.add(producers)
    ps = [go(produce, p) for p in range(producers)]
    wg.wait()
    ch.close()
    join_all(ps + consumers)
    received = [v for m in got for v in m]
    assert_exactly_once([(p, i) for p in range(producers) for i in range(per)], received)


def test_selects_over_shared_channels() -> None:
    """Selects that send on random pairs of channels against selects that receive from all."""
    chans = [Chan(c) for c in (0, 0, 1, 4)]
    producers, per = 8, 300
    wg = WaitGroup()
    got: List[List[object]] = []

    def produce(p: int) -> None:
        rng = random.Random(p)
        for i in range(per):
            a, b = rng.sample(chans, 2)
            if i % 5 == 0:
                rng.choice(chans).send((p, i))          # plain sends compete too
            else:
                select(send(a, (p, i)), send(b, (p, i)))
        wg.done()

    def consume(plain: Optional[Chan]) -> None:
        mine: List[object] = []
        got.append(mine)
        if plain is not None:
            for v in plain:
                mine.append(v)
            return
        cases = [recv(c) for c in chans]
        while any(c.ch is not None for c in cases):
            r = select(*cases)
            if r.ok:
                mine.append(r.value)
            else:
                cases[r.index] = recv(None)     # closed: disable the case, Go's nil idiom

    consumers = [go(consume, None) for _ in range(6)]
    consumers += [go(consume, chans[0]), go(consume, chans[3])]
    wg.add(producers)
    ps = [go(produce, p) for p in range(producers)]
    wg.wait()
    for c in chans:
        c.close()
    join_all(ps + consumers)
    received = [v for m in got for v in m]
    assert_exactly_once([(p, i) for p in range(producers) for i in range(per)], received)


@pytest.mark.parametrize("cap", [0, 3])
def test_close_races_with_sends(cap: int) -> None:
    """Senders keep sending while the channel is closed under them.

    A value whose send returned was received exactly once; a value whose
    send raised ChannelClosed was never received.
    """
    for _ in range(5):
        _close_under_senders(cap)


def _close_under_senders(cap: int) -> None:
    ch: Chan = Chan(cap)
    spare = Chan(1)
    delivered: Dict[int, List[object]] = {}
    failed: List[object] = []
    got: List[object] = []
    lock = threading.Lock()
    half = Chan(1)

    def sender(s: int) -> None:
        ok: List[object] = []
        delivered[s] = ok
        for i in range(10_000):
            v = (s, i)
            try:
                if i % 3 == 0:
                    r = select(send(ch, v), send(spare, v))
                    if r.index == 1:
                        spare.recv()        # keep the spare empty; the value went nowhere
                        continue
                else:
                    ch.send(v)
            except ChannelClosed:
                with lock:
                    failed.append(v)
                return
            ok.append(v)

    def receiver() -> None:
        n = 0
        for v in ch:
            with lock:
                got.append(v)
            n += 1
            if n == 200:
                select(send(half, True), default=True)

    rs = [go(receiver) for _ in range(3)]
    ss = [go(sender, s) for s in range(6)]
    half.recv()             # some traffic has flowed: now close under the senders
    ch.close()
    join_all(ss + rs)
    sent = [v for ok in delivered.values() for v in ok]
    assert len(failed) == 6             # every sender eventually saw the close
    assert_exactly_once(sent, got)
    assert not set(failed) & set(got)


def test_selects_racing_for_one_value() -> None:
    """Many selects (and plain receives) compete for each value: exactly one wins."""
    for _ in range(200):
        _race_for_one_value(8)


def _race_for_one_value(racers: int) -> None:
    a, b = Chan(), Chan()
    won = Chan(racers)

    def racer(k: int) -> None:
        if k % 2:
            r = select(recv(a), recv(b))
            won.send(r.value if r.ok else None)
        else:
            v, ok = a.recv_ok()
            won.send(v if ok else None)

    gs = [go(racer, k) for k in range(racers)]
    a.send("only")
    a.close()
    b.close()
    join_all(gs)
    results = [won.recv() for _ in range(racers)]
    assert results.count("only") == 1
    assert results.count(None) == racers - 1


def test_ten_thousand_goroutines_blocked_on_one_channel() -> None:
    """10,000 goroutines park on one channel, then half get a value and the rest the close.

    Each goroutine is an OS thread: the stack size is lowered to 256 KiB for
    the test (and restored), as a program with this many goroutines should.
    Under ``pytest --race`` parked threads wake periodically to check for a
    deadlock abort, so the test then uses 1,000.
    """
    n = 1_000 if engine.TRACKING else 10_000
    old = threading.stack_size(256 * 1024)
    try:
        ch: Chan = Chan()
        results: Chan = Chan(n)

        def worker() -> None:
            results.send(ch.recv_ok())

        t0 = time.perf_counter()
        gs = [go(worker) for _ in range(n)]
        wait_until(lambda: ch.statistics().receivers_waiting == n)
        t1 = time.perf_counter()
        for i in range(n // 2):
            ch.send(i)
        ch.close()
        join_all(gs)
        t2 = time.perf_counter()
    finally:
        threading.stack_size(old)
    got = [results.recv() for _ in range(n)]
    values = sorted(v for v, ok in got if ok)
    assert values == list(range(n // 2))
    assert got.count((None, False)) == n - n // 2
    print(f"\n{n:,} goroutines: start+park {t1 - t0:.2f}s, release {t2 - t1:.2f}s")


def test_throughput_compared_with_queue(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a timed assertion: prints Chan vs queue.Queue numbers for a human to read."""
    n = 2_000 if engine.TRACKING else 20_000

    def run_chan(cap: int) -> float:
        ch: Chan = Chan(cap)

        def producer() -> None:
            for i in range(n):
                ch.send(i)
            ch.close()

        t = time.perf_counter()
        g = go(producer)
        total = sum(ch)
        join_all([g])
        assert total == n * (n - 1) // 2
        return time.perf_counter() - t

    def run_queue(cap: int) -> float:
        q: "queue.Queue[Optional[int]]" = queue.Queue(cap)

        def producer() -> None:
            for i in range(n):
                q.put(i)
            q.put(None)

        t = time.perf_counter()
        th = threading.Thread(target=producer)
        th.start()
        total = 0
        while True:
            v = q.get()
            if v is None:
                break
            total += v
        th.join(JOIN)
        assert total == n * (n - 1) // 2
        return time.perf_counter() - t

    rows: List[Tuple[str, float]] = [
        ("Chan(0)", run_chan(0)), ("Chan(100)", run_chan(100)),
        ("Queue(100)", run_queue(100)), ("Queue()", run_queue(0)),
    ]
    with capsys.disabled():
        print("\n" + ", ".join(f"{name}: {n / t / 1000:.0f}k items/s" for name, t in rows))
