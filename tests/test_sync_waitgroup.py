"""WaitGroup: Go's sync.WaitGroup semantics, in-process under plain pytest."""

from __future__ import annotations

import threading
from typing import List

import pytest

from racedet import Chan, WaitGroup, go

from helpers import joined, wait_until  # noqa: E402


def waiting(wg: WaitGroup) -> int:
    return sum(1 for w in wg._waiters if not w.claim.locked())


def test_wait_at_zero_returns_at_once() -> None:
    wg = WaitGroup()
    wg.wait()
    assert wg.count == 0


def test_wait_for_goroutines() -> None:
    wg = WaitGroup()
    done: List[int] = []
    lock = threading.Lock()
    gate = Chan()

    def worker(i: int) -> None:
        gate.recv()
        with lock:
            done.append(i)
        wg.done()

    for i in range(8):
        wg.add(1)
        go(worker, i)
    assert wg.count == 8
    finished = threading.Event()

    def waiter() -> None:
        wg.wait()
        finished.set()

    g = go(waiter)
    wait_until(lambda: waiting(wg) == 1)
    gate.close()
    joined(g)
    assert finished.is_set() and sorted(done) == list(range(8))


def test_add_n_and_negative_add() -> None:
    wg = WaitGroup()
    wg.add(3)
    wg.add(-2)
    assert wg.count == 1
    wg.done()
    wg.wait()


def test_negative_counter_raises_and_leaves_counter() -> None:
    wg = WaitGroup()
    with pytest.raises(ValueError, match="sync: negative WaitGroup counter"):
        wg.done()
    assert wg.count == 0
    wg.add(1)
    with pytest.raises(ValueError, match="sync: negative WaitGroup counter"):
        wg.add(-2)
    assert wg.count == 1
    wg.done()
    wg.wait()


def test_add_needs_an_integer() -> None:
    with pytest.raises(TypeError):
        WaitGroup().add(1.0)  # type: ignore[arg-type]


def test_many_waiters_all_released() -> None:
    wg = WaitGroup()
    wg.add(1)
    released = Chan(50)
    gs = [go(lambda: (wg.wait(), released.send(True))) for _ in range(50)]
    wait_until(lambda: waiting(wg) == 50)
    assert len(released) == 0
    wg.done()
    for g in gs:
        joined(g)
    assert len(released) == 50


def test_reuse_after_zero() -> None:
    wg = WaitGroup()
    for _ in range(3):
        wg.add(2)
        go(wg.done)
        go(wg.done)
        wg.wait()
        assert wg.count == 0


def test_repr() -> None:
    wg = WaitGroup()
    wg.add(2)
    assert repr(wg).startswith("<WaitGroup at 0x") and "count=2, 0 waiting" in repr(wg)
