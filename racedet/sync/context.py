"""Go's ``context``: cancellation that flows from a parent to all its children."""

from __future__ import annotations

import _thread
import time
from typing import Callable, Dict, Optional, Tuple, Union

from racedet import blocking, engine
from racedet.sync.chan import Chan
from racedet.sync.errors import Canceled, ChannelClosed, DeadlineExceeded

__all__ = ["Context", "background", "with_cancel", "with_timeout"]

TCancelFunc = Callable[[], None]
TContextError = Union[Canceled, DeadlineExceeded]


class Context:
    """A cancellation signal shared by a tree of goroutines (Go: ``context.Context``).

    ``done()`` is a channel that is closed when the context is cancelled,
    so goroutines can ``select`` on it next to their work; ``err()`` then
    says why.  Contexts come from :func:`background` (never cancelled),
    :func:`with_cancel` and :func:`with_timeout`; cancelling a context
    cancels every context derived from it.

    Example::

        ctx, cancel = with_timeout(background(), 2.0)
        try:
            i, job, ok = select(recv(ctx.done()), recv(jobs))
            if i == 0:
                return ctx.err()          # DeadlineExceeded, or Canceled
        finally:
            cancel()
    """

    __slots__ = ()

    def done(self) -> Chan[None]:
        """A channel closed when this context is cancelled; receive-only by convention."""
        raise NotImplementedError

    def err(self) -> Optional[TContextError]:
        """``None`` while not cancelled, then a :class:`Canceled` or :class:`DeadlineExceeded`."""
        raise NotImplementedError

    def deadline(self) -> Optional[float]:
        """The ``time.monotonic()`` time at which the context cancels itself, if any."""
        raise NotImplementedError


class _Background(Context):
    __slots__ = ()

    def done(self) -> Chan[None]:
        return _NEVER       # Go returns a nil channel: a receive blocks forever.

    def err(self) -> None:
        return None

    def deadline(self) -> None:
        return None

    def __repr__(self) -> str:
        return "<Context background>"


_NEVER: Chan[None] = Chan()
_BACKGROUND = _Background()


class _CancelContext(Context):
    """A context with a cancel function, and perhaps a deadline."""

    __slots__ = ("_parent", "_lock", "_done", "_err", "_children", "_sv", "_deadline",
                 "_stop_timer", "_kind", "__weakref__")

    def __init__(self, parent: Context, kind: str, deadline: Optional[float]) -> None:
        self._parent = parent
        self._lock = _thread.allocate_lock()
        self._done: Chan[None] = Chan()
        self._err: Optional[TContextError] = None
        self._children: Optional[Dict[_CancelContext, None]] = {}
        self._sv = engine.SyncVar()
        self._deadline = deadline
        self._stop_timer: Optional[Callable[[], None]] = None
        self._kind = kind

    def done(self) -> Chan[None]:
        return self._done

    def err(self) -> Optional[TContextError]:
        with self._lock:
            e = self._err
        if e is not None and engine.TRACKING:
            engine.acquire(self._sv)    # cancel() happens before an err() that sees it.
        return e

    def deadline(self) -> Optional[float]:
        return self._deadline

    def _cancel(self, err: TContextError, hb: bool, remove_from_parent: bool) -> None:
        """Cancel this context and its children; ``hb`` records edges (not from timers)."""
        with self._lock:
            if self._err is not None:
                return
            if hb:
                engine.release(self._sv)
            self._err = err
            children, self._children = self._children, None
            stop, self._stop_timer = self._stop_timer, None
            try:
                self._done._close(hb)   # cancel happens before the receive it unblocks
            except ChannelClosed:
                pass                    # somebody closed done() by hand
        for child in children or ():
            child._cancel(err, hb, False)
        if remove_from_parent:
            parent = self._parent
            if isinstance(parent, _CancelContext):
                parent._remove_child(self)
        if stop is not None:
            stop()

    def _add_child(self, child: _CancelContext) -> None:
        with self._lock:
            if self._err is None:
                self._children[child] = None    # type: ignore[index]
                return
            err = self._err
        if engine.TRACKING:
            engine.acquire(self._sv)
        child._cancel(err, engine.TRACKING, False)

    def _remove_child(self, child: _CancelContext) -> None:
        with self._lock:
            if self._children is not None:
                self._children.pop(child, None)

    def __repr__(self) -> str:
        with self._lock:
            err = self._err
            n = len(self._children or ())
        state = "active" if err is None else f"{type(err).__name__}"
        return f"<Context {self._kind} at {id(self):#x}: {state}, {n} children>"


def background() -> Context:
    """The root context: never cancelled, no deadline (Go: ``context.Background()``)."""
    return _BACKGROUND


def _check_parent(parent: object) -> None:
    if not isinstance(parent, Context):
        raise TypeError(f"cannot derive a context from {type(parent).__name__}; use background()")


def _new(parent: Context, kind: str,
         deadline: Optional[float]) -> Tuple[_CancelContext, TCancelFunc]:
    ctx = _CancelContext(parent, kind, deadline)
    if isinstance(parent, _CancelContext):
        parent._add_child(ctx)

    def cancel() -> None:
        """Cancel the context and its children; later calls do nothing."""
        ctx._cancel(Canceled(), engine.TRACKING, True)

    return ctx, cancel


def with_cancel(parent: Context) -> Tuple[Context, TCancelFunc]:
    """A child of ``parent`` and a function that cancels it (Go: ``context.WithCancel``).

    The child is cancelled when ``cancel()`` is called or when ``parent`` is,
    whichever happens first; its ``err()`` is then :class:`Canceled` (or the
    parent's error).  ``cancel()`` is idempotent; call it when the work is
    done, as in Go, so the parent forgets the child.  ``cancel()`` happens
    before a receive from ``done()`` that it unblocks.

    Raises:
        TypeError: if ``parent`` is not a context.
    """
    _check_parent(parent)
    return _new(parent, "with_cancel", parent.deadline())


def with_timeout(parent: Context, seconds: float) -> Tuple[Context, TCancelFunc]:
    """Like :func:`with_cancel`, but it also cancels itself after ``seconds``.

    Go: ``context.WithTimeout``.  When the time is up, ``err()`` is
    :class:`DeadlineExceeded`.  The timer is racedet's own thread: it is
    never reported as a leak, creates no happens-before edge, and while it
    is pending a program blocked on ``done()`` is not a deadlock.  Call
    ``cancel()`` when the work finishes early, to stop the timer.

    Raises:
        TypeError: if ``parent`` is not a context.
    """
    _check_parent(parent)
    seconds = float(seconds)
    deadline = time.monotonic() + seconds
    pd = parent.deadline()
    if pd is not None and pd <= deadline:
        # The parent's deadline comes first and will cancel the child.
        return _new(parent, "with_timeout", pd)
    ctx, cancel = _new(parent, "with_timeout", deadline)
    if seconds <= 0:
        ctx._cancel(DeadlineExceeded(), engine.TRACKING, True)
        return ctx, cancel

    def expire() -> None:
        ctx._cancel(DeadlineExceeded(), False, True)

    stop: Optional[Callable[[], None]] = blocking.start_timer(seconds, expire)
    with ctx._lock:
        if ctx._err is None:
            ctx._stop_timer, stop = stop, None
    if stop is not None:
        stop()
    return ctx, cancel
