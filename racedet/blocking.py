"""Where threads are blocked: the registry behind leak reports and deadlock detection.

Every model of a blocking primitive (channels, select, WaitGroup, locks,
conditions, events, queues, joins) waits through :func:`wait_for`, which
marks the calling thread as blocked in a named operation (``"Chan.recv"``,
``"Lock.acquire"``, ...) for as long as the wait lasts.  A wait without a
timeout is *indefinite*: when every thread of the program is in one, nothing
can ever wake them, which is Go's "all goroutines are asleep".
"""

from __future__ import annotations

import _thread
import itertools
import sys
from time import monotonic as _monotonic
from typing import Callable, Dict, List, Optional

from racedet import engine, frames
from racedet.model import BlockedThread, Deadlock

#: Idents of racedet's own threads (the watchdog): never leaks, never counted.
internal_idents: set = set()

#: The interpreter's own (the threads model patches ``_thread``'s): racedet's threads are not the program's.
_start_new_thread = _thread.start_new_thread

#: How many of racedet's own threads ``_thread._count()`` counts now: the
#: program's count is the raw one less these (see :func:`start_internal`).
internal_counted = 0
_internal_count_lock = _thread.allocate_lock()

#: Called with the Deadlock when every thread is blocked for good.  The CLI
#: prints and exits; the pytest plugin fails the running test.
on_deadlock: Optional[Callable[[Deadlock], None]] = None

#: How often the watchdog looks, and how long a deadlock must stand still.
POLL = 0.1
SLICE = 0.05        # wake-up period of interruptible waits


# Telling "blocked for good" from "woken, not yet scheduled".
#
# A thread woken by a release may not have run yet: it still looks blocked.
# So a wait says, where it can, how to tell that it could complete now (a
# ``ready`` predicate: the lock is free, the event is set, the queue has an
# item, the thread has ended), and what it waits on (``obj``); wake-ups are
# recorded per object, in one global sequence with the starts of waits.  A
# thread is stuck only if its predicate is false and no other thread woke its
# object since it started waiting.  A wake-up that the thread has not acted
# on for WAKE_AGE seconds no longer counts (it went to another waiter).
# Waits that name no object are concerned by any other thread's wake-up.
_events = itertools.count(1)
_obj_wakes: Dict[int, tuple] = {}   # id(obj) -> (seq, time, waker tid)
_any_wakes: Dict[int, tuple] = {}   # waker tid (0: racedet's timers) -> (seq, time)
WAKE_AGE = 2.0


def wake(obj: object = None) -> None:
    """Something that may unblock threads waiting on ``obj`` happened (a release, a put, ...)."""
    ts = engine._tls.ts
    tid = ts.tid if ts is not None else 0
    ev = (next(_events), _monotonic(), tid)
    if obj is not None:
        _obj_wakes[id(obj)] = ev
    _any_wakes[tid] = ev


def could_proceed(ts: "engine.ThreadState", now: Optional[float] = None) -> bool:
    """Might the blocked thread ``ts`` be on its way out of its wait?"""
    b = ts.blocked
    if b is None or not b[1]:
        return True
    ready, keys = b[2], b[3]
    if ready is not None:
        try:
            if ready():
                return True
        except Exception:  # pragma: no cover - a broken predicate: assume it may go on
            return True
    if now is None:
        now = _monotonic()
    since, me = ts.block_seq, ts.tid
    if keys is None:
        if ready is not None:
            return False
        wakes = list(_any_wakes.values())
    else:
        wakes = [w for w in (_obj_wakes.get(k) for k in keys) if w is not None]
    for seq, when, waker in wakes:
        if seq > since and waker != me and now - when < WAKE_AGE:
            return True
    return False


class DeadlockAbort(BaseException):
    """Raised in a test's thread blocked in a deadlock, so the test fails instead of hanging."""


def wait_for(what: str, waitfn: Callable[[Optional[float]], bool], timeout: Optional[float] = None,
             ready: Optional[Callable[[], bool]] = None, obj: object = None) -> bool:
    """Block in ``waitfn(timeout)`` (None: forever) as operation ``what``.

    ``waitfn`` is a raw wait (a ``_thread`` lock's acquire, a Condition built on
    raw locks); it returns False on timeout.  The caller keeps its own loop
    for spurious wake-ups: a wait may return False early when the thread was
    asked to check for an abort.  ``ready()`` says whether the wait could
    complete now, ``obj`` (or a tuple of objects) what :func:`wake` calls
    concern it: both keep a woken thread from being taken for stuck.
    """
    if not engine.TRACKING:
        return waitfn(timeout)
    ts = engine.current()
    prev = ts.blocked
    ts.blocked = (what, timeout is None, ready, _keys(obj))
    ts.block_seq = next(_events)
    try:
        if timeout is None:
            _ensure_watchdog()
            if ts.abort is not None or interruptible(ts):
                while True:
                    if ts.abort is not None:
                        exc, ts.abort = ts.abort, None
                        raise exc
                    if waitfn(SLICE):
                        return True
        return waitfn(timeout)
    finally:
        ts.blocked = prev
        ts.block_seq = next(_events)


def waits_in_slices() -> bool:
    """Would an indefinite :func:`wait_for` of this thread wake every SLICE to look for an abort?

    Where it would not, a model may wait through the standard library's own
    code inside :class:`blocked` instead, keeping its frames (an interrupted
    ``Queue.join`` shows queue.py's ``join`` as under python).
    """
    if not engine.TRACKING:
        return False
    ts = engine.current()
    return ts.abort is not None or interruptible(ts)


def _keys(obj: object) -> Optional[tuple]:
    if obj is None:
        return None
    if type(obj) is tuple:
        return tuple(id(o) for o in obj)
    return (id(obj),)


class blocked:
    """Context manager form, for waits that cannot go through :func:`wait_for`
    (they cannot be interrupted: a barrier wait that times out breaks the barrier)."""

    __slots__ = ("what", "indefinite", "ready", "obj", "ts", "prev", "on")

    def __init__(self, what: str, indefinite: bool = True, ready: Optional[Callable[[], bool]] = None,
                 obj: object = None) -> None:
        self.what = what
        self.indefinite = indefinite
        self.ready = ready
        self.obj = obj

    def __enter__(self) -> "blocked":
        self.on = engine.TRACKING
        if not self.on:
            return self
        ts = self.ts = engine.current()
        self.prev = ts.blocked
        ts.blocked = (self.what, self.indefinite, self.ready, _keys(self.obj))
        ts.block_seq = next(_events)
        if self.indefinite:
            _ensure_watchdog()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.on:
            self.ts.blocked = self.prev
            self.ts.block_seq = next(_events)


# --------------------------------------------------------------------------
# Interruptible threads (pytest: a deadlocked test must fail, not hang)

_interruptible: Dict[int, bool] = {}


def set_interruptible(ts: "engine.ThreadState", on: bool) -> None:
    if on:
        _interruptible[ts.tid] = True
    else:
        _interruptible.pop(ts.tid, None)


def _marked_interruptible(ts: "engine.ThreadState") -> bool:
    return ts.tid in _interruptible


#: Which threads' indefinite waits wake every SLICE to look for an abort
#: (:func:`interrupt`).  The pytest plugin widens it; by default, only threads
#: marked with :func:`set_interruptible`.
interruptible: Callable[["engine.ThreadState"], bool] = _marked_interruptible


# --------------------------------------------------------------------------
# The watchdog

_watchdog_started = False
_watch_lock = _thread.allocate_lock()
enabled = True


def start_internal(fn: Callable[[], None]) -> None:
    """Run ``fn`` in a thread of racedet's own, invisible to the program.

    The program counts threads with ``_thread._count()`` (CPython's
    test.support compares it before and after a test), which the threads
    model reports less :data:`internal_counted`.  The interpreter counts a
    thread before its function starts and uncounts it after the function
    returns; so the thread counts itself in first thing, and this returns
    only then (a count taken after starting the watchdog is never one too
    high), and counts itself out last thing (in the short window after,
    the count is one too high, as for any thread that is ending).
    Raises RuntimeError if no thread can start (interpreter shutdown).
    """
    running = _thread.allocate_lock()
    running.acquire()

    def run() -> None:
        global internal_counted
        internal_idents.add(_thread.get_ident())
        with _internal_count_lock:
            internal_counted += 1
        running.release()
        try:
            fn()
        finally:
            internal_idents.discard(_thread.get_ident())
            with _internal_count_lock:
                internal_counted -= 1

    _start_new_thread(run, ())
    running.acquire()


def _ensure_watchdog() -> None:
    global _watchdog_started
    if _watchdog_started or not enabled:
        return
    with _watch_lock:
        if _watchdog_started:
            return
        try:
            start_internal(_watch)
        except RuntimeError:  # interpreter shutdown (3.12+): no new threads
            return
        _watchdog_started = True


def _states_by_ident() -> Dict[int, "engine.ThreadState"]:
    out = {}
    for ts in list(engine.threads_by_tid.values()):
        if ts.ident is not None and not ts.finished:
            out[ts.ident] = ts
    return out


#: Modules whose signal handlers never wake a blocked program (pytest-timeout's
#: SIGALRM handler ends a test; it does not unblock it).
ignored_handler_modules: set = {"pytest_timeout"}


def _python_signal_handlers() -> bool:
    """A Python signal handler may wake a blocked thread: then nothing is a deadlock."""
    import signal

    try:
        for sig in signal.valid_signals():
            h = signal.getsignal(sig)
            if callable(h) and h is not signal.default_int_handler:
                if getattr(h, "__module__", None) in ignored_handler_modules:
                    continue
                return True
    except (ValueError, OSError):  # pragma: no cover
        return True
    return False


# --------------------------------------------------------------------------
# Timers: racedet's own pending wake-ups (``after``, ``with_timeout``)

#: How many racedet timers are pending.  While one is, a blocked program may
#: still be woken, so it is not a deadlock (Go: a pending timer).
pending_timers = 0
_timer_lock = _thread.allocate_lock()


def start_timer(seconds: float, fn: Callable[[], None]) -> Callable[[], None]:
    """Run ``fn`` after ``seconds`` in a racedet thread; return a cancel function.

    The thread is racedet's own: it is never reported as a leak, but while it
    is pending, no deadlock is declared.
    """
    global pending_timers
    cancelled = _thread.allocate_lock()
    cancelled.acquire()     # released = cancelled
    done = [False]

    def finish() -> None:
        global pending_timers
        with _timer_lock:
            if done[0]:
                return
            done[0] = True
            pending_timers -= 1

    def run() -> None:
        try:
            if not cancelled.acquire(True, max(0.0, seconds)):
                try:
                    fn()
                    wake(None)
                except Exception:  # pragma: no cover - timer callbacks are racedet's own
                    pass
        finally:
            finish()

    def cancel() -> None:
        try:
            cancelled.release()
        except RuntimeError:
            pass
        finish()

    with _timer_lock:
        pending_timers += 1
    start_internal(run)
    return cancel


def all_blocked_for_good(states: Dict[int, "engine.ThreadState"], idents: object) -> bool:
    """Are all these threads in indefinite waits that nothing can still end?"""
    now = _monotonic()
    for ident in idents:  # type: ignore[attr-defined]
        ts = states.get(ident)
        if ts is None or could_proceed(ts, now):
            return False
    return not pending_timers


def snapshot_blocked() -> Optional[tuple]:
    """If every thread is blocked indefinitely, a fingerprint of that state; else None."""
    states = _states_by_ident()
    # The threads racedet knows first: one of them able to go on settles it
    # without sys._current_frames().  That call holds the interpreter's
    # thread-list lock while it builds its dict, and a garbage collection it
    # triggers there can run callbacks that wait for the GIL, while a thread
    # that holds the GIL waits for that lock to start or end (seen with
    # 10,000 goroutines starting and ending: the program hung).
    now = _monotonic()
    if pending_timers or any(could_proceed(ts, now) for ts in list(states.values())):
        return None
    current = sys._current_frames()
    idents = [i for i in current if i not in internal_idents]
    if not all_blocked_for_good(states, idents):
        return None
    sig = [(ident, states[ident].block_seq) for ident in idents]
    if not sig:
        return None
    return tuple(sorted(sig))


def describe_threads(idents: Optional[List[int]] = None) -> List[BlockedThread]:
    """Every (or the given) thread: what it is blocked in and its stack."""
    current = sys._current_frames()
    states = _states_by_ident()
    out = []
    for ident, f in current.items():
        if ident in internal_idents or (idents is not None and ident not in idents):
            continue
        ts = states.get(ident)
        what = ts.blocked[0] if ts is not None and ts.blocked else "running"
        out.append(BlockedThread(
            thread=ts.display_name() if ts else f"thread-{ident}",
            blocked_in=what,
            stack=frames.trim_library_top(frames.user_stack(f)),
            created_at=frames.to_frames(ts.created_at) if ts else (),
            test=ts.test if ts else None,
        ))
    # Main thread first, then in creation order, as Go prints goroutine 1 first.
    out.sort(key=lambda b: (not b.thread.startswith("MainThread"),))
    return out


def _watch() -> None:
    import time

    last = None
    while True:
        time.sleep(POLL)
        try:
            snap = snapshot_blocked()
            if snap is None or pending_timers or _python_signal_handlers():
                last = None
                continue
            if snap != last:
                last = snap
                continue
            idents = [i for i, _ in snap]
            dl = Deadlock(tuple(describe_threads(idents)))
            last = None
            if on_deadlock is not None:
                on_deadlock(dl)
        except Exception:  # pragma: no cover - never let the watchdog die noisily
            continue


def interrupt(ts: "engine.ThreadState", exc: BaseException) -> None:
    """Make the blocked thread ``ts`` raise ``exc`` (it must be interruptible)."""
    ts.abort = exc
