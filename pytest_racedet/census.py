"""The threads of a ``pytest --race`` run: who is alive, and how a deadlock's threads are ended.

Thread idents are reused as soon as a thread ends, so threads are known by a
key that never is (:func:`thread_keys`).  A deadlock found during a test is
broken by interrupting the blocked waits racedet owns (:mod:`racedet.blocking`).
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Dict, Optional

from racedet import blocking, engine
from racedet.model import Deadlock

#: How long a test's threads get to finish after its teardown before they count as leaked
#: (goleak retries for about as long); threads all blocked for good are not waited for.
LEAK_GRACE = 0.5


def thread_abort() -> SystemExit:
    """What a deadlock's other threads raise: they end quietly, and the process can exit.

    Exactly ``SystemExit`` (threading's excepthook ignores that type, not its
    subclasses), marked so that our hook can tell it from the program's own.
    """
    exc = SystemExit()
    exc._racedet_abort = True  # type: ignore[attr-defined]
    return exc



def interruptible(ts: Any) -> bool:
    """Non-daemon threads' indefinite waits can be interrupted (``blocking.interruptible``).

    Once a deadlock has failed its test, the test's other blocked threads must
    end too, or a non-daemon one would hang the interpreter's exit.  An
    interruptible wait wakes every ``blocking.SLICE`` to look for an abort, so
    daemon threads (goroutines, which may be parked by the thousand) are left
    out: they never keep Python from exiting.
    """
    if ts.tid in blocking._interruptible:
        return True
    t = ts.thread_ref() if ts.thread_ref is not None else None
    return t is not None and not t.daemon


def excepthook(prev: Any) -> Any:
    """threading.excepthook that lets a deadlock's other threads end without a warning."""

    def hook(args: Any) -> None:
        if getattr(args.exc_value, "_racedet_abort", False):
            return
        prev(args)

    return hook



def thread_keys() -> Dict[int, tuple]:
    """Live threads: ident -> a key that is never reused (racedet's thread id when it has one).

    Idents are recycled as soon as a thread ends, so "alive before the test"
    must not be remembered by ident.
    """
    states: Dict[int, Any] = {}
    for t in threading.enumerate():     # live threads only: engine.threads_by_tid keeps every thread ever
        ts = engine.thread_states.get(t)
        if ts is not None and t.ident is not None and ts.ident == t.ident and not ts.finished:
            states[t.ident] = ts
    out = {}
    for ident in sys._current_frames():
        ts = states.get(ident)
        out[ident] = ("t", ts.tid) if ts is not None else ("i", ident)
    return out



def break_deadlock(main_ts: Any, abort: Optional[BaseException], test: Optional[str] = None,
                    everyone: bool = False) -> int:
    """Interrupt the threads of a deadlock: the main thread raises ``abort``, others end quietly.

    Only the main thread and the threads started by ``test`` are touched
    (``everyone``: all of them, at exit); a session fixture's server thread is
    blocked too, but the next tests still need it.  With ``abort`` None the
    main thread is left alone (at exit it waits in ``threading._shutdown``).
    Returns how many other threads were told to end.
    """
    alive = set(sys._current_frames())
    ended = 0
    for ts in list(engine.threads_by_tid.values()):
        if ts.finished or ts.ident not in alive or ts.ident in blocking.internal_idents:
            continue
        if not everyone and ts is not main_ts and (test is None or ts.test != test):
            continue
        if ts.blocked is None or not ts.blocked[1]:
            continue
        if ts is main_ts:
            if abort is not None:
                blocking.interrupt(ts, abort)
        else:
            blocking.interrupt(ts, thread_abort())
            ended += 1
    return ended


def exit_deadlock(main_ts: Any, dl: Deadlock) -> None:
    """After the run: leaked threads all blocked for good while Python waits for them at exit."""
    ended = break_deadlock(main_ts, None, everyone=True)
    try:
        sys.__stderr__.write(f"racedet: ended {ended} leaked thread(s) blocked for good at exit "
                             "(reported as leaks), so that pytest can exit\n")
    except (OSError, ValueError, AttributeError):  # pragma: no cover
        pass

