"""Contexts: background, with_cancel, with_timeout, in-process under plain pytest."""

from __future__ import annotations

import time
from typing import List

import pytest

from racedet import (
    Canceled,
    Chan,
    DeadlineExceeded,
    background,
    blocking,
    go,
    recv,
    select,
    with_cancel,
    with_timeout,
)

from helpers import joined, wait_until  # noqa: E402


def is_done(ctx) -> bool:  # type: ignore[no-untyped-def]
    return select(recv(ctx.done()), default=True).index == 0


def test_background() -> None:
    bg = background()
    assert bg is background()
    assert bg.err() is None and bg.deadline() is None
    assert not is_done(bg)
    assert repr(bg) == "<Context background>"


def test_with_cancel() -> None:
    ctx, cancel = with_cancel(background())
    assert ctx.err() is None and not is_done(ctx)
    cancel()
    assert is_done(ctx)
    err = ctx.err()
    assert isinstance(err, Canceled) and str(err) == "context canceled"
    assert ctx.done().recv_ok() == (None, False)
    cancel()                                # idempotent
    assert ctx.err() is err
    assert "Canceled" in repr(ctx)


def test_cancel_wakes_blocked_receivers() -> None:
    ctx, cancel = with_cancel(background())
    got: List[object] = []
    gs = [go(lambda: got.append(ctx.done().recv_ok())) for _ in range(3)]
    wait_until(lambda: ctx.done().statistics().receivers_waiting == 3)
    cancel()
    for g in gs:
        joined(g)
    assert got == [(None, False)] * 3


def test_cancel_parent_cancels_children() -> None:
    before = blocking.pending_timers
    root, cancel_root = with_cancel(background())
    child, cancel_child = with_cancel(root)
    grandchild, _ = with_timeout(child, 60)
    sibling, _ = with_cancel(root)
    cancel_root()
    for c in (child, grandchild, sibling):
        assert is_done(c)
        assert c.err() is root.err()
    cancel_child()
    wait_until(lambda: blocking.pending_timers == before)   # the grandchild's timer stopped


def test_cancel_child_leaves_parent_and_is_forgotten() -> None:
    root, cancel_root = with_cancel(background())
    child, cancel_child = with_cancel(root)
    assert "1 children" in repr(root)
    cancel_child()
    assert is_done(child) and not is_done(root) and root.err() is None
    assert "0 children" in repr(root)
    cancel_root()


def test_child_of_cancelled_parent_starts_cancelled() -> None:
    root, cancel_root = with_cancel(background())
    cancel_root()
    child, _ = with_cancel(root)
    assert is_done(child) and isinstance(child.err(), Canceled)


def test_with_timeout_expires() -> None:
    start = time.monotonic()
    ctx, cancel = with_timeout(background(), 0.02)
    assert ctx.deadline() == pytest.approx(start + 0.02, abs=0.01)
    assert ctx.done().recv_ok() == (None, False)
    assert time.monotonic() >= start + 0.02
    err = ctx.err()
    assert isinstance(err, DeadlineExceeded) and isinstance(err, TimeoutError)
    assert str(err) == "context deadline exceeded"
    cancel()
    assert ctx.err() is err


def test_with_timeout_cancelled_early_stops_timer() -> None:
    before = blocking.pending_timers
    ctx, cancel = with_timeout(background(), 60)
    assert blocking.pending_timers == before + 1
    cancel()
    assert isinstance(ctx.err(), Canceled)
    wait_until(lambda: blocking.pending_timers == before)


def test_with_timeout_zero_is_already_expired() -> None:
    ctx, _ = with_timeout(background(), 0)
    assert is_done(ctx) and isinstance(ctx.err(), DeadlineExceeded)


def test_timeout_child_of_timeout_parent_keeps_earlier_deadline() -> None:
    parent, _ = with_timeout(background(), 0.02)
    child, cancel = with_timeout(parent, 60)
    assert child.deadline() == parent.deadline()
    child.done().recv()
    assert isinstance(child.err(), DeadlineExceeded)
    cancel()


def test_with_cancel_inherits_deadline() -> None:
    parent, cancel_parent = with_timeout(background(), 60)
    child, _ = with_cancel(parent)
    assert child.deadline() == parent.deadline()
    cancel_parent()


def test_worker_stops_on_done() -> None:
    ctx, cancel = with_cancel(background())
    jobs = Chan()
    handled: List[int] = []

    def worker() -> None:
        while True:
            i, job, ok = select(recv(ctx.done()), recv(jobs))
            if i == 0:
                return
            handled.append(job)

    g = go(worker)
    for j in range(5):
        jobs.send(j)
    cancel()
    joined(g)
    assert handled == [0, 1, 2, 3, 4]


def test_bad_parent() -> None:
    with pytest.raises(TypeError):
        with_cancel(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        with_timeout("ctx", 1)  # type: ignore[arg-type]
