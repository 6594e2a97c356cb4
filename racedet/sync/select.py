"""Go's ``select`` statement, its case constructors, and ``time.After``."""

from __future__ import annotations

import random
import time
from typing import Any, NamedTuple, Optional

from racedet import blocking, engine
from racedet.sync.chan import Chan, _Sleeper
from racedet.sync.errors import ChannelClosed

__all__ = ["Case", "Selected", "after", "recv", "select", "send"]

_random = random.random
_yield = time.sleep


class Case:
    """One case of a :func:`select`: made by :func:`recv` or :func:`send`, never directly."""

    __slots__ = ("ch", "value", "is_send")

    def __init__(self, ch: Optional[Chan[Any]], value: Any, is_send: bool) -> None:
        if ch is not None and not isinstance(ch, Chan):
            raise TypeError(f"select case needs a Chan, not {type(ch).__name__}")
        self.ch = ch
        self.value = value
        self.is_send = is_send

    def __repr__(self) -> str:
        if self.is_send:
            return f"send({self.ch!r}, {self.value!r})"
        return f"recv({self.ch!r})"


def recv(ch: Optional[Chan[Any]]) -> Case:
    """A select case that receives from ``ch`` (Go: ``case v, ok := <-ch:``).

    ``ch`` may be ``None``: like a nil channel in Go, the case never proceeds.
    """
    return Case(ch, None, False)


def send(ch: Optional[Chan[Any]], value: Any) -> Case:
    """A select case that sends ``value`` on ``ch`` (Go: ``case ch <- value:``).

    ``ch`` may be ``None``: like a nil channel in Go, the case never proceeds.
    """
    return Case(ch, value, True)


class Selected(NamedTuple):
    """What :func:`select` did: which case, and for a receive, ``(value, ok)``.

    ``index`` is the position of the case in the call, or -1 when the
    default was taken.  For a receive, ``value, ok`` are those of
    :meth:`Chan.recv_ok`; for a send they are ``None, True``.
    """

    index: int  # type: ignore[assignment]  # the field shadows tuple.index, as the API names it
    value: Any
    ok: bool


_DEFAULT = Selected(-1, None, False)


def select(*cases: Case, default: bool = False) -> Selected:
    """Wait until one of ``cases`` can proceed, do it, and say which (Go: ``select``).

    When several cases are ready, one is chosen uniformly at random.  With
    ``default=True`` nothing blocks: if no case is ready, the result is
    ``Selected(-1, None, False)`` at once.  ``select()`` without cases and
    without default blocks forever, as ``select {}`` does.

    Example::

        i, value, ok = select(recv(results), recv(after(3.0)))
        if i == 1:
            print("timed out")

    A case gives the happens-before edges of its channel operation.

    Raises:
        ChannelClosed: if a send case is chosen on a closed channel, or its
            channel is closed while the select waits (Go panics).
    """
    n = len(cases)
    chans = {}
    for c in cases:
        if type(c) is not Case:
            raise TypeError(f"select() takes recv()/send() cases, not {type(c).__name__}")
        ch = c.ch
        if ch is not None:
            chans[id(ch)] = ch
    # Poll the cases in a random order, so the first ready one is uniform
    # among the ready ones (Go's pollorder).
    order = list(range(n))
    for j in range(n - 1, 0, -1):
        k = int(_random() * (j + 1))
        order[j], order[k] = order[k], order[j]
    # Lock every channel in one global order (Go's sellock), so concurrent
    # selects never deadlock each other.
    locks = [chans[k]._lock for k in sorted(chans)]
    hb = engine.TRACKING
    held = 0
    done: Optional[Selected] = None
    code = 1
    try:
        for lock in locks:
            lock.acquire()
            held += 1
        for i in order:
            c = cases[i]
            ch = c.ch
            if ch is None:
                continue
            if c.is_send:
                code = ch._send_locked(c.value, hb)
                if code:
                    done = Selected(i, None, True)
                    break
            else:
                r = ch._recv_locked(hb)
                if r is not None:
                    done = Selected(i, r[0], r[1])
                    code = r[2]
                    break
        else:
            if default:
                return _DEFAULT
            sl = _Sleeper(engine.snapshot() if hb else None)
            for i, c in enumerate(cases):
                ch = c.ch
                if ch is None:
                    continue
                if c.is_send:
                    ch._push_send(sl, i, c.value)
                else:
                    ch._push_recv(sl, i)
    finally:
        for lock in reversed(locks[:held]):
            lock.release()
    if done is not None:
        if code == 2:
            _yield(0)
        return done
    sl.park("select")
    if sl.closed:
        raise ChannelClosed("send on closed channel")
    return Selected(sl.index, sl.value, sl.ok)


def after(seconds: float) -> Chan[float]:
    """A channel that receives ``time.monotonic()`` once, after ``seconds`` (Go: ``time.After``).

    The value is sent from racedet's own timer thread, which is never
    reported as a leak; while it is pending, a program blocked on the
    channel is not a deadlock, as in Go.  The timer creates no
    happens-before edge.
    """
    ch: Chan[float] = Chan(1)

    def fire() -> None:
        ch._send_nowait_unsynced(time.monotonic())

    blocking.start_timer(max(0.0, float(seconds)), fire)
    return ch
