"""select, its cases and after(): Go's semantics, in-process under plain pytest."""

from __future__ import annotations

import threading
import time
from typing import List

import pytest

from racedet import (
    Chan,
    ChannelClosed,
    Selected,
    after,
    blocking,
    go,
    recv,
    select,
    send,
)

from helpers import joined, wait_until  # noqa: E402


# --------------------------------------------------------------------------
# Non-blocking forms


def test_default_when_nothing_ready() -> None:
    a, b = Chan(), Chan(1)
    b.send(0)                                   # b is full: a send case is not ready
    assert select(recv(a), send(b, 1), default=True) == Selected(-1, None, False)
    assert select(default=True) == (-1, None, False)


def test_ready_recv_case() -> None:
    a, b = Chan(1), Chan(1)
    b.send("x")
    assert select(recv(a), recv(b)) == Selected(1, "x", True)
    assert len(b) == 0


def test_ready_send_case() -> None:
    a, b = Chan(), Chan(1)
    r = select(send(a, 1), send(b, 2))
    assert r == Selected(1, None, True)
    assert b.recv() == 2


def test_recv_case_on_closed_channel() -> None:
    a, c = Chan(), Chan(1)
    c.send(5)
    c.close()
    assert select(recv(a), recv(c)) == (1, 5, True)     # drains first
    assert select(recv(a), recv(c)) == (1, None, False)
    i, value, ok = select(recv(c), default=True)
    assert (i, value, ok) == (0, None, False)           # closed is ready, not default


def test_send_case_on_closed_channel_raises() -> None:
    c = Chan(1)
    c.close()
    with pytest.raises(ChannelClosed, match="send on closed channel"):
        select(send(c, 1))
    with pytest.raises(ChannelClosed):
        select(send(c, 1), default=True)


def test_none_channel_case_never_proceeds() -> None:
    ready = Chan(1)
    ready.send(1)
    assert select(recv(None), send(None, 1), recv(ready)) == (2, 1, True)
    assert select(recv(None), send(None, 1), default=True) == (-1, None, False)


def test_select_rejects_non_cases() -> None:
    with pytest.raises(TypeError):
        select(Chan())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        recv([])  # type: ignore[arg-type]


def test_case_repr() -> None:
    ch = Chan()
    assert repr(recv(ch)).startswith("recv(<Chan")
    assert repr(send(ch, 3)).endswith(", 3)")


# --------------------------------------------------------------------------
# Fairness


def test_uniform_choice_among_ready_cases() -> None:
    chans = [Chan(1) for _ in range(3)]
    never = Chan()
    counts = [0, 0, 0, 0]
    n = 3000
    for _ in range(n):
        for ch in chans:
            if len(ch) == 0:
                ch.send(True)
        counts[select(recv(never), recv(chans[0]), recv(chans[1]), recv(chans[2])).index] += 1
    assert counts[0] == 0
    # Expected 1000 each; a fair choice falls outside [850, 1150] with probability < 1e-6.
    assert all(850 <= c <= 1150 for c in counts[1:]), counts


def test_uniform_between_send_and_recv() -> None:
    out, inp = Chan(1), Chan(1)
    counts = [0, 0]
    for _ in range(2000):
        inp.send(0)
        r = select(send(out, 1), recv(inp))
        counts[r.index] += 1
        if r.index == 0:
            out.recv()
            inp.recv()
    assert all(850 <= c <= 1150 for c in counts), counts


# --------------------------------------------------------------------------
# Blocking


def test_blocks_until_a_case_is_ready() -> None:
    a, b = Chan(), Chan()
    got: List[Selected] = []
    g = go(lambda: got.append(select(recv(a), recv(b))))
    wait_until(lambda: b.statistics().receivers_waiting == 1)
    assert got == []
    b.send("hello")
    joined(g)
    assert got == [Selected(1, "hello", True)]
    # The case left on ``a`` is stale: nobody receives from a now.
    assert a.statistics().receivers_waiting == 0
    assert select(send(a, 1), default=True).index == -1


def test_blocked_send_case_taken_by_receiver() -> None:
    a, b = Chan(), Chan()
    got: List[Selected] = []
    g = go(lambda: got.append(select(send(a, "A"), send(b, "B"))))
    wait_until(lambda: a.statistics().senders_waiting == 1)
    assert b.recv() == "B"
    joined(g)
    assert got == [Selected(1, None, True)]
    assert select(recv(a), default=True).index == -1


def test_blocked_select_woken_by_close() -> None:
    a, b = Chan(), Chan()
    got: List[Selected] = []
    g = go(lambda: got.append(select(recv(a), recv(b))))
    wait_until(lambda: a.statistics().receivers_waiting == 1)
    a.close()
    joined(g)
    assert got == [Selected(0, None, False)]


def test_blocked_send_case_raises_when_closed() -> None:
    a, b = Chan(), Chan()
    errors: List[BaseException] = []

    def body() -> None:
        try:
            select(send(a, 1), recv(b))
        except ChannelClosed as e:
            errors.append(e)

    g = go(body)
    wait_until(lambda: a.statistics().senders_waiting == 1)
    a.close()
    joined(g)
    assert len(errors) == 1


def test_select_does_not_match_itself() -> None:
    """A send and a receive case on the same unbuffered channel never pair up."""
    ch = Chan()
    assert select(send(ch, 1), recv(ch), default=True).index == -1
    got: List[Selected] = []
    g = go(lambda: got.append(select(send(ch, 1), recv(ch))))
    wait_until(lambda: ch.statistics().senders_waiting == 1)
    assert got == []
    assert ch.recv() == 1
    joined(g)
    assert got == [Selected(0, None, True)]


def test_two_selects_pair_up() -> None:
    a, b = Chan(), Chan()
    got: List[Selected] = []
    g = go(lambda: got.append(select(send(a, "via a"), send(b, "via b"))))
    wait_until(lambda: b.statistics().senders_waiting == 1)
    r = select(recv(b), recv(Chan()))
    joined(g)
    assert r == Selected(0, "via b", True)
    assert got == [Selected(1, None, True)]


def test_same_channel_in_several_cases() -> None:
    ch = Chan(1)
    ch.send(7)
    r = select(recv(ch), recv(ch))
    assert r.value == 7 and r.index in (0, 1)


def test_stale_cases_are_compacted() -> None:
    """A select loop over a busy channel and a quiet one does not grow the quiet one's queue."""
    work, quit = Chan(), Chan()

    def producer() -> None:
        for i in range(2000):
            work.send(i)
        quit.close()

    g = go(producer)
    n = 0
    while True:
        r = select(recv(work), recv(quit))
        if r.index == 1:
            break
        n += 1
    joined(g)
    assert n == 2000
    assert len(quit._recvq) <= 2 * 64 + 1


# --------------------------------------------------------------------------
# Block forever, after()


def test_empty_select_blocks_forever(monkeypatch: pytest.MonkeyPatch) -> None:
    """``select()`` parks as "select" and nothing wakes it (here: an interrupt)."""
    seen = []

    def interrupted(what, waitfn, timeout=None, ready=None, obj=None):  # type: ignore[no-untyped-def]
        seen.append((what, timeout, waitfn(0.01)))
        raise KeyboardInterrupt

    monkeypatch.setattr(blocking, "wait_for", interrupted)
    with pytest.raises(KeyboardInterrupt):
        select()
    with pytest.raises(KeyboardInterrupt):
        select(recv(None))
    assert seen == [("select", None, False)] * 2


def test_after_delivers_monotonic_time_once() -> None:
    start = time.monotonic()
    ch = after(0.02)
    assert ch.cap == 1
    t = ch.recv()
    assert isinstance(t, float) and t >= start + 0.02
    assert select(recv(ch), default=True).index == -1     # once only, never closed


def test_after_as_timeout() -> None:
    never = Chan()
    r = select(recv(never), recv(after(0.01)))
    assert r.index == 1 and r.ok


def test_after_zero_and_negative() -> None:
    assert isinstance(after(0).recv(), float)
    assert isinstance(after(-1).recv(), float)


def test_after_timer_is_racedets_own() -> None:
    before = blocking.pending_timers
    ch = after(0.5)
    assert blocking.pending_timers == before + 1
    ch.recv()
    wait_until(lambda: blocking.pending_timers == before)


def test_many_threads_selecting_on_after() -> None:
    results = Chan(20)

    def body() -> None:
        results.send(select(recv(Chan()), recv(after(0.01))).index)

    gs = [go(body) for _ in range(20)]
    assert sorted(results.recv() for _ in range(20)) == [1] * 20
    for g in gs:
        joined(g)
    assert threading.active_count() < 100
