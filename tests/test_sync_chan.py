"""Channels and goroutines: Go's semantics, in-process under plain pytest."""

from __future__ import annotations

import threading
from typing import List

import pytest

import racedet
from helpers import JOIN, wait_until
from racedet import Chan, ChannelClosed, go
from racedet.sync.chan import ChanStatistics

def parked_senders(ch: Chan) -> int:
    return ch.statistics().senders_waiting


def parked_receivers(ch: Chan) -> int:
    return ch.statistics().receivers_waiting


def joined(g: racedet.Goroutine) -> None:
    g.join(JOIN)
    assert not g.is_alive(), f"{g.name} did not finish"


# --------------------------------------------------------------------------
# Construction


def test_capacity_and_len() -> None:
    assert Chan().cap == 0
    ch = Chan(3)
    assert ch.cap == 3 and len(ch) == 0
    ch.send("a")
    ch.send("b")
    assert len(ch) == 2
    assert ch  # a channel is always true, even empty
    assert Chan(0)


def test_negative_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Chan(-1)


def test_capacity_must_be_an_integer() -> None:
    with pytest.raises(TypeError):
        Chan(1.5)  # type: ignore[arg-type]


def test_repr_and_statistics() -> None:
    ch = Chan(2)
    ch.send(1)
    assert ch.statistics() == ChanStatistics(2, 1, False, 0, 0)
    r = repr(ch)
    assert r.startswith("<Chan at 0x") and "cap=2, len=1" in r and "0 receivers waiting" in r
    ch.close()
    assert "closed" in repr(ch)


# --------------------------------------------------------------------------
# Unbuffered


def test_unbuffered_send_blocks_until_received() -> None:
    ch = Chan()
    sent = threading.Event()

    def sender() -> None:
        ch.send(42)
        sent.set()

    g = go(sender)
    wait_until(lambda: parked_senders(ch) == 1)
    assert not sent.is_set()
    assert len(ch) == 0
    assert ch.recv() == 42
    joined(g)
    assert sent.is_set()


def test_unbuffered_recv_blocks_until_sent() -> None:
    ch = Chan()
    got: List[object] = []
    g = go(lambda: got.append(ch.recv_ok()))
    wait_until(lambda: parked_receivers(ch) == 1)
    assert got == []
    ch.send("x")          # a receiver waits: the send completes at once
    joined(g)
    assert got == [("x", True)]


def test_unbuffered_fifo_among_waiting_senders() -> None:
    ch = Chan()
    gs = []
    for i in range(1, 6):
        gs.append(go(ch.send, i - 1))
        wait_until(lambda n=i: parked_senders(ch) == n)
    assert [ch.recv() for _ in range(5)] == [0, 1, 2, 3, 4]
    for g in gs:
        joined(g)


def test_unbuffered_fifo_among_waiting_receivers() -> None:
    ch = Chan()
    got: List[tuple] = []
    gs = []
    for i in range(5):
        gs.append(go(lambda i=i: got.append((i, ch.recv()))))
        wait_until(lambda n=i + 1: parked_receivers(ch) == n)
    for v in "abcde":
        ch.send(v)
    for g in gs:
        joined(g)
    assert sorted(got) == [(0, "a"), (1, "b"), (2, "c"), (3, "d"), (4, "e")]


# --------------------------------------------------------------------------
# Buffered


def test_buffered_sends_do_not_block_until_full() -> None:
    ch = Chan(3)
    for i in range(3):
        ch.send(i)      # no receiver: would hang if it blocked
    assert len(ch) == 3
    fourth = threading.Event()

    def send_fourth() -> None:
        ch.send(3)
        fourth.set()

    g = go(send_fourth)
    wait_until(lambda: parked_senders(ch) == 1)
    assert not fourth.is_set()
    assert ch.recv() == 0           # frees a slot: the blocked sender's value takes it
    joined(g)
    assert len(ch) == 3
    assert [ch.recv() for _ in range(3)] == [1, 2, 3]


def test_buffered_recv_blocks_when_empty() -> None:
    ch = Chan(2)
    got: List[object] = []
    g = go(lambda: got.append(ch.recv()))
    wait_until(lambda: parked_receivers(ch) == 1)
    ch.send("v")
    joined(g)
    assert got == ["v"] and len(ch) == 0


def test_buffered_fifo_order() -> None:
    ch = Chan(100)
    for i in range(100):
        ch.send(i)
    assert [ch.recv() for _ in range(100)] == list(range(100))


# --------------------------------------------------------------------------
# Close


def test_recv_on_closed_drains_then_zero_value() -> None:
    ch = Chan(3)
    ch.send(1)
    ch.send(2)
    ch.close()
    assert ch.recv_ok() == (1, True)
    assert ch.recv() == 2
    assert ch.recv_ok() == (None, False)
    assert ch.recv() is None
    assert ch.recv_ok() == (None, False)


def test_recv_of_none_is_distinguishable_with_recv_ok() -> None:
    ch = Chan(1)
    ch.send(None)
    ch.close()
    assert ch.recv_ok() == (None, True)
    assert ch.recv_ok() == (None, False)


def test_send_on_closed_raises() -> None:
    for cap in (0, 1):
        ch = Chan(cap)
        ch.close()
        with pytest.raises(ChannelClosed, match="send on closed channel"):
            ch.send(1)


def test_close_twice_raises() -> None:
    ch = Chan()
    ch.close()
    with pytest.raises(ChannelClosed, match="close of closed channel"):
        ch.close()


def test_close_wakes_blocked_receivers() -> None:
    ch = Chan()
    got: List[object] = []
    lock = threading.Lock()

    def receiver() -> None:
        r = ch.recv_ok()
        with lock:
            got.append(r)

    gs = [go(receiver) for _ in range(4)]
    wait_until(lambda: parked_receivers(ch) == 4)
    ch.close()
    for g in gs:
        joined(g)
    assert got == [(None, False)] * 4


@pytest.mark.parametrize("cap", [0, 2])
def test_close_makes_blocked_senders_raise(cap: int) -> None:
    ch = Chan(cap)
    for i in range(cap):
        ch.send(i)
    errors: List[BaseException] = []

    def sender() -> None:
        try:
            ch.send("late")
        except ChannelClosed as e:
            errors.append(e)

    g = go(sender)
    wait_until(lambda: parked_senders(ch) == 1)
    ch.close()
    joined(g)
    assert len(errors) == 1 and "send on closed channel" in str(errors[0])
    # The buffered values survive the close; the blocked value was not sent.
    assert list(ch) == list(range(cap))


def test_channel_closed_is_a_runtime_error() -> None:
    assert issubclass(ChannelClosed, RuntimeError)


# --------------------------------------------------------------------------
# Iteration


def test_range_over_channel() -> None:
    ch = Chan()

    def producer() -> None:
        for i in range(10):
            ch.send(i)
        ch.close()

    g = go(producer)
    assert [v for v in ch] == list(range(10))
    joined(g)


def test_range_over_buffered_channel_closed_with_values() -> None:
    ch = Chan(5)
    for i in range(5):
        ch.send(i)
    ch.close()
    assert list(ch) == [0, 1, 2, 3, 4]
    assert list(ch) == []


# --------------------------------------------------------------------------
# Goroutines


def test_go_names_count_up_and_handle_works() -> None:
    ch = Chan()
    a = go(ch.recv)
    b = go(ch.recv)
    na, nb = int(a.name.split("-")[1]), int(b.name.split("-")[1])
    assert a.name.startswith("goroutine-") and nb == na + 1
    assert a.thread.daemon and a.thread.name == a.name
    wait_until(lambda: parked_receivers(ch) == 2)
    assert a.is_alive() and b.is_alive()
    assert a.ident is not None and a.ident != threading.get_ident()
    assert "running" in repr(a)
    ch.close()
    joined(a)
    joined(b)
    assert "finished" in repr(a)


def test_go_passes_args_and_kwargs() -> None:
    out = Chan(1)

    def f(a: int, b: int, *, c: int) -> None:
        out.send((a, b, c, threading.current_thread().name))

    g = go(f, 1, 2, c=3)
    a, b, c, name = out.recv()
    assert (a, b, c) == (1, 2, 3) and name == g.name
    joined(g)


def test_go_exception_goes_to_excepthook(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: List[object] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args))

    def boom() -> None:
        raise KeyError("lost")

    g = go(boom)
    joined(g)
    assert len(seen) == 1
    args = seen[0]
    assert args.exc_type is KeyError and args.thread is g.thread  # type: ignore[attr-defined]


def test_join_with_timeout_returns_while_running() -> None:
    ch = Chan()
    g = go(ch.recv)
    g.join(0.01)
    assert g.is_alive()
    ch.send(None)
    joined(g)


# --------------------------------------------------------------------------
# Misuse and interruption


def test_public_names() -> None:
    for name in ("go", "Chan", "ChannelClosed", "recv", "send", "select", "Selected", "after",
                 "WaitGroup", "background", "with_cancel", "with_timeout", "Canceled",
                 "DeadlineExceeded", "Goroutine", "Context"):
        assert hasattr(racedet, name), name
        assert name in racedet.__all__


def test_blocked_receiver_that_gives_up_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A parked thread that is interrupted withdraws: the next value goes to someone else."""
    from racedet import blocking

    ch = Chan()
    real = blocking.wait_for
    calls = []

    def interrupted(what, waitfn, timeout=None, ready=None, obj=None):  # type: ignore[no-untyped-def]
        calls.append(what)
        raise KeyboardInterrupt

    monkeypatch.setattr(blocking, "wait_for", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ch.recv()
    monkeypatch.setattr(blocking, "wait_for", real)
    assert calls == ["Chan.recv"]
    assert parked_receivers(ch) == 0      # the withdrawn entry is stale
    got: List[object] = []
    g = go(lambda: got.append(ch.recv()))
    wait_until(lambda: parked_receivers(ch) == 1)
    ch.send("kept")
    joined(g)
    assert got == ["kept"]
