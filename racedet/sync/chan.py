"""Go channels on OS threads: unbuffered and buffered, with close, range and select support.

Each channel has one raw lock and two FIFO queues of parked threads
(receivers, senders), like Go's ``hchan``.  A parked thread is a
:class:`_Sleeper`: a lock it sleeps on and a *claim* lock that whoever
completes its operation takes first, without blocking.  A select parks one
sleeper on the queues of all its channels; the claim is the compare-and-swap
that lets exactly one partner fire it (Go's ``selectDone``).  Queue entries
of a sleeper that was completed elsewhere are *stale*: partners skip them and
the queues are compacted now and then, so every operation costs O(1)
amortized however many threads wait.

Happens-before (the Go memory model), recorded only while the detector runs:

* a send happens before the corresponding receive completes;
* on an unbuffered channel, the receive happens before the send completes;
* on a channel of capacity C, the k-th receive happens before the (k+C)-th
  send completes: one clock per buffer slot, as Go's runtime keeps
  (``racenotify``), so ``sem = Chan(3)`` orders exactly like Go;
* ``close`` happens before a receive that returns because of it.

racedet's internal locks are raw ``_thread`` locks, which the detector never
models: the only edges are the ones written here.
"""

from __future__ import annotations

import _thread
import collections
import dataclasses
import operator
import time
from typing import Any, Deque, Dict, Generic, Iterator, List, Optional, Tuple, TypeVar

from racedet import blocking, engine
from racedet.clock import TVectorClock
from racedet.sync.errors import ChannelClosed

__all__ = ["Chan", "ChanStatistics"]

T = TypeVar("T")

_allocate_lock = _thread.allocate_lock
_yield = time.sleep

#: A wait queue may hold this many entries before it is first compacted.
_COMPACT_MIN = 64

#: An entry in a wait queue: (sleeper, select case index, value to send).
TEntry = Tuple["_Sleeper", int, Any]


class _Sleeper:
    """A thread parked in a channel operation or a select (Go's ``sudog``).

    ``claim`` is taken exactly once, without blocking, by whoever completes
    the operation: a partner (holding its channel's lock), ``close()``, or
    the sleeper itself when it gives up (an exception while parked).  The
    claimer fills in ``index``/``value``/``ok``/``closed``/``vc_in`` and then
    releases ``wake``.
    """

    __slots__ = ("wake", "claim", "index", "value", "ok", "closed", "vc_out", "vc_in", "relay")

    def __init__(self, vc_out: Optional[TVectorClock]) -> None:
        wake = _allocate_lock()
        wake.acquire()
        self.wake = wake
        self.claim = _allocate_lock()
        self.index = 0
        self.value: Any = None
        self.ok = True
        self.closed = False             # woken by close() in a send: raise ChannelClosed
        self.vc_out = vc_out            # the sleeper's clock when it parked
        self.vc_in: Optional[TVectorClock] = None   # what it acquires when it wakes
        self.relay: Optional[_Sleeper] = None       # the next one to wake (see wake_all)

    def _woken(self) -> bool:
        return not self.wake.locked()

    def park(self, what: str) -> None:
        """Sleep until a claimer wakes us; ``what`` names the operation for leak reports."""
        wake = self.wake

        def waitfn(timeout: Optional[float]) -> bool:
            return wake.acquire(True, -1 if timeout is None else timeout)

        try:
            while not blocking.wait_for(what, waitfn, None, self._woken, self):
                pass
        except BaseException:
            # Give up (KeyboardInterrupt, a deadlock abort): once we hold our own
            # claim, every queue entry of ours is stale.  If a claimer was first,
            # the operation completed; the exception wins anyway, but a relay
            # of wake-ups must not stop here.
            if not self.claim.acquire(False):
                wake.acquire()
                if self.relay is not None:
                    self.relay.wake.release()
                    blocking.wake(self.relay)
            raise
        if self.relay is not None:
            self.relay.wake.release()
            blocking.wake(self.relay)
        if self.vc_in is not None:
            engine.acquire_clock(self.vc_in)


#: How many woken-but-not-yet-running sleepers make a crowd (see _wake).
_CROWD = 16
_recent: Deque[_thread.LockType] = collections.deque(maxlen=_CROWD)


def _wake(sl: _Sleeper) -> int:
    """Wake one claimed sleeper.  Return 2 if the caller should yield the GIL, else 1.

    A thread that wakes sleepers faster than they get the GIL (one sender
    feeding thousands of parked receivers) leaves a crowd of threads all
    polling for the GIL, and CPython then slows down quadratically.  When
    even the sleeper woken ``_CROWD`` wake-ups ago has not run yet, the
    waker yields once (after releasing its channel locks).
    """
    wake = sl.wake
    wake.release()
    blocking.wake(sl)
    recent = _recent
    crowd = len(recent) == _CROWD and not recent[0].locked()
    recent.append(wake)
    return 2 if crowd else 1


def wake_all(sleepers: List[_Sleeper]) -> None:
    """Wake claimed sleepers one after the other: each wakes the next when it runs.

    Waking thousands of threads at once makes them all fight for the GIL,
    which costs time quadratic in their number; a relay keeps one or two
    runnable at a time.  Call with the claims taken and the fields filled in.
    """
    if sleepers:
        for a, b in zip(sleepers, sleepers[1:], strict=False):
            a.relay = b
        sleepers[0].wake.release()
        blocking.wake(sleepers[0])


def _compact(q: Deque[TEntry]) -> int:
    """Drop the stale entries of ``q``; return the length at which to compact next."""
    live = [e for e in q if not e[0].claim.locked()]
    q.clear()
    q.extend(live)
    return max(_COMPACT_MIN, 2 * len(live))


@dataclasses.dataclass(frozen=True)
class ChanStatistics:
    """A snapshot of a channel's state, from :meth:`Chan.statistics`."""

    capacity: int
    buffered: int
    closed: bool
    senders_waiting: int
    receivers_waiting: int


class Chan(Generic[T]):
    """A Go channel: a typed-by-convention FIFO that goroutines use to communicate.

    ``Chan()`` is unbuffered, like ``make(chan T)``: a send blocks until a
    receiver takes the value, and a receive blocks until a sender offers one.
    ``Chan(n)`` is buffered, like ``make(chan T, n)``: sends block only while
    ``n`` values are buffered, receives only while none are.

    Example::

        results = Chan()
        racedet.go(lambda: results.send(fetch()))
        print(results.recv())

    A channel is closed by its sender (``close()``); receivers then drain the
    buffer and afterwards get ``None`` (``recv``), ``(None, False)``
    (``recv_ok``), or the end of a ``for v in ch:`` loop.  Unlike
    ``queue.Queue`` there is no timeout argument: use :func:`racedet.select`
    with :func:`racedet.after`, as in Go.

    Raises:
        ValueError: if ``capacity`` is negative.
    """

    __slots__ = (
        "_lock", "_cap", "_buf", "_recvq", "_sendq", "_rlimit", "_slimit",
        "_closed", "_close_vc", "_nrecv", "_slots", "__weakref__",
    )

    def __init__(self, capacity: int = 0) -> None:
        capacity = operator.index(capacity)
        if capacity < 0:
            raise ValueError(f"Chan capacity must be >= 0, not {capacity}")
        self._lock = _allocate_lock()
        self._cap = capacity
        self._buf: Deque[Any] = collections.deque()
        self._recvq: Deque[TEntry] = collections.deque()
        self._sendq: Deque[TEntry] = collections.deque()
        self._rlimit = _COMPACT_MIN
        self._slimit = _COMPACT_MIN
        self._closed = False
        self._close_vc: Optional[TVectorClock] = None
        self._nrecv = 0                 # receives through the buffer, for slot indices
        self._slots: Optional[Dict[int, Optional[TVectorClock]]] = None

    # ------------------------------------------------------------------
    # Public operations

    @property
    def cap(self) -> int:
        """The capacity: 0 for an unbuffered channel (Go: ``cap(ch)``)."""
        return self._cap

    def __len__(self) -> int:
        """How many values are buffered (Go: ``len(ch)``)."""
        return len(self._buf)

    def __bool__(self) -> bool:
        # A channel is always true, even when its buffer is empty.
        return True

    def send(self, value: T) -> None:
        """Send ``value`` (Go: ``ch <- value``).

        Blocks until a receiver takes it (unbuffered) or there is room in
        the buffer.

        Raises:
            ChannelClosed: if the channel is closed, or is closed while the
                sender is blocked.
        """
        hb = engine.TRACKING
        with self._lock:
            r = self._send_locked(value, hb)
            if not r:
                sl = _Sleeper(engine.snapshot() if hb else None)
                self._push_send(sl, 0, value)
        if r:
            if r == 2:
                _yield(0)
            return
        sl.park("Chan.send")
        if sl.closed:
            raise ChannelClosed("send on closed channel")

    def recv(self) -> Optional[T]:
        """Receive a value (Go: ``<-ch``); ``None`` once the channel is closed and drained.

        Blocks until a value is available or the channel is closed.
        """
        return self.recv_ok()[0]

    def recv_ok(self) -> Tuple[Optional[T], bool]:
        """Receive ``(value, True)``, or ``(None, False)`` once closed and drained.

        Go: ``v, ok := <-ch``.  Blocks like :meth:`recv`.
        """
        hb = engine.TRACKING
        with self._lock:
            r = self._recv_locked(hb)
            if r is None:
                sl = _Sleeper(engine.snapshot() if hb else None)
                self._push_recv(sl, 0)
        if r is not None:
            if r[2] == 2:
                _yield(0)
            return r[0], r[1]
        sl.park("Chan.recv")
        return sl.value, sl.ok

    def __iter__(self) -> Iterator[T]:
        """Receive until the channel is closed and drained (Go: ``for v := range ch``)."""
        recv_ok = self.recv_ok
        while True:
            value, ok = recv_ok()
            if not ok:
                return
            yield value  # type: ignore[misc]

    def close(self) -> None:
        """Close the channel (Go: ``close(ch)``): no more sends.

        Blocked receivers wake with ``(None, False)``; blocked senders raise
        :class:`ChannelClosed`.  Buffered values can still be received.

        Raises:
            ChannelClosed: if the channel is already closed.
        """
        self._close(engine.TRACKING)

    def statistics(self) -> ChanStatistics:
        """Capacity, buffered values, closed flag and how many threads wait to send/receive."""
        with self._lock:
            return ChanStatistics(
                capacity=self._cap,
                buffered=len(self._buf),
                closed=self._closed,
                senders_waiting=sum(1 for e in self._sendq if not e[0].claim.locked()),
                receivers_waiting=sum(1 for e in self._recvq if not e[0].claim.locked()),
            )

    def __repr__(self) -> str:
        s = self.statistics()
        closed = ", closed" if s.closed else ""
        return (
            f"<{type(self).__name__} at {id(self):#x}: cap={s.capacity}, len={s.buffered}{closed}, "
            f"{s.senders_waiting} senders and {s.receivers_waiting} receivers waiting>"
        )

    # ------------------------------------------------------------------
    # The operations with the channel's lock held (shared with select).
    # ``hb`` says whether to record happens-before edges.

    def _send_locked(self, value: Any, hb: bool) -> int:
        """Send without blocking if possible: 0 to block, 1 when done, 2 done and yield."""
        if self._closed:
            raise ChannelClosed("send on closed channel")
        q = self._recvq
        while q:
            sl, index, _ = q.popleft()
            if not sl.claim.acquire(False):
                continue            # a select fired elsewhere, or gave up
            sl.index = index
            sl.value = value
            sl.ok = True
            cap = self._cap
            if cap:
                # A receiver waits, so the buffer is empty: pretend the value
                # went through it, as Go's runtime does under -race.
                if hb:
                    i = self._nrecv % cap
                    self._notify(i)
                    slots = self._slots
                    sl.vc_in = slots[i]         # type: ignore[index]
                    slots[i] = sl.vc_out        # type: ignore[index]
                self._nrecv += 1
            elif hb:
                # Unbuffered: send and receive are ordered both ways.
                sl.vc_in = engine.snapshot()
                engine.acquire_clock(sl.vc_out)
            return _wake(sl)
        buf = self._buf
        if len(buf) < self._cap:
            if hb:
                self._notify((self._nrecv + len(buf)) % self._cap)
            buf.append(value)
            return 1
        return 0

    def _recv_locked(self, hb: bool) -> Optional[Tuple[Any, bool, int]]:
        """Receive without blocking if possible: ``(value, ok, 1 or 2 to yield)``, or None."""
        buf = self._buf
        q = self._sendq
        if buf:
            value = buf.popleft()
            cap = self._cap
            i = self._nrecv % cap
            if hb:
                self._notify(i)
            self._nrecv += 1
            # The buffer was full if a sender waits: its value takes the
            # freed slot, which is slot i again.
            while q:
                sl, index, v = q.popleft()
                if not sl.claim.acquire(False):
                    continue
                buf.append(v)
                sl.index = index
                sl.ok = True
                if hb:
                    slots = self._slots
                    sl.vc_in = slots[i]         # type: ignore[index]
                    slots[i] = sl.vc_out        # type: ignore[index]
                return value, True, _wake(sl)
            return value, True, 1
        while q:
            # Only on an unbuffered channel: a buffered one is full while senders wait.
            sl, index, v = q.popleft()
            if not sl.claim.acquire(False):
                continue
            sl.index = index
            sl.ok = True
            if hb:
                sl.vc_in = engine.snapshot()
                engine.acquire_clock(sl.vc_out)
            return v, True, _wake(sl)
        if self._closed:
            if hb:
                engine.acquire_clock(self._close_vc)
            return None, False, 1
        return None

    def _notify(self, i: int) -> None:
        """The calling thread passes through buffer slot ``i`` (Go's ``racenotify``).

        It acquires the slot's clock (the previous user of the slot) and
        leaves its own for the next one.
        """
        slots = self._slots
        if slots is None:
            slots = self._slots = {}
        old = slots.get(i)
        slots[i] = engine.snapshot()
        engine.acquire_clock(old)

    def _push_send(self, sl: _Sleeper, index: int, value: Any) -> None:
        q = self._sendq
        q.append((sl, index, value))
        if len(q) > self._slimit:
            self._slimit = _compact(q)

    def _push_recv(self, sl: _Sleeper, index: int) -> None:
        q = self._recvq
        q.append((sl, index, None))
        if len(q) > self._rlimit:
            self._rlimit = _compact(q)

    def _close(self, hb: bool) -> None:
        woken = []
        with self._lock:
            if self._closed:
                raise ChannelClosed("close of closed channel")
            if hb:
                self._close_vc = engine.snapshot()
            self._closed = True
            vc = self._close_vc if hb else None
            for q, is_send in ((self._recvq, False), (self._sendq, True)):
                while q:
                    sl, index, _ = q.popleft()
                    if sl.claim.acquire(False):
                        sl.index = index
                        sl.value = None
                        sl.ok = False
                        sl.closed = is_send
                        sl.vc_in = vc
                        woken.append(sl)
        wake_all(woken)

    def _send_nowait_unsynced(self, value: Any) -> bool:
        """Send if it needs no wait, recording no happens-before (racedet's timers)."""
        with self._lock:
            return bool(self._send_locked(value, False))
