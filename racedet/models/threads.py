"""Model of thread lifetime: start (parent -> child), join and is_alive (child's end -> observer).

``threading.Thread`` itself is patched, not replaced, so subclasses, Timer and
the threads the standard library starts (executor workers) are all covered.
The child's state is made in ``start()`` (in the parent, where the creation
stack is) and bound first thing in the child; its final clock is taken last
thing in the child, before any join can return.
"""

from __future__ import annotations

import _thread
import _threading_local
import sys
import threading
import weakref
from typing import Any, Optional

from racedet import blocking, engine, env, frames, lockorder

_Thread = threading.Thread
_orig_start = _Thread.start
_orig_bootstrap_inner = _Thread._bootstrap_inner  # type: ignore[attr-defined]
_orig_join = _Thread.join
_orig_is_alive = _Thread.is_alive
_orig_shutdown = threading._shutdown  # type: ignore[attr-defined]
_orig_count = _thread._count


_orig_start_new_thread = _thread.start_new_thread


class _Started:
    """What ``_thread.start_new_thread`` runs under the model: the program's function, bound to its state.

    It stands for the function where the interpreter shows it ("Exception
    ignored in thread started by: ..." names its repr).
    """

    __slots__ = ("function", "ts")

    def __init__(self, function: object, ts: "engine.ThreadState") -> None:
        self.function = function
        self.ts = ts

    def __call__(self, *args: object, **kwargs: object) -> None:
        ts = self.ts
        engine.thread_begin(ts)
        try:
            failed = None
            try:
                self.function(*args, **kwargs)  # type: ignore[operator]
            except BaseException as e:
                frames.hide_own(e)
                if isinstance(e, SystemExit) or _hook_args_type() is None:
                    raise   # the interpreter ignores SystemExit, and names the thread itself
                failed = e
            if failed is not None:
                # Outside the except clause: the interpreter's hook runs with no exception being handled.
                _write_unraisable(failed, self.function)
                failed = None
        finally:
            _thread_ending()
            engine.thread_end(ts)

    def __repr__(self) -> str:
        return repr(self.function)


def _write_unraisable(exc: BaseException, function: object) -> None:
    """Report ``exc`` as the interpreter reports a thread's uncaught exception, naming ``function``.

    Up to 3.12 the interpreter calls ``sys.unraisablehook`` with the function
    it started as ``object``; racedet started a :class:`_Started` in its
    place, so it makes the same call itself, with the program's function
    (CPython's test_thread checks ``unraisable.object is task``).  A hook
    that is unset or None gets the default hook; a hook that raises is
    reported by the default hook, as the interpreter does.
    """
    make = _hook_args_type()
    hook = getattr(sys, "unraisablehook", None)
    try:
        args = make((type(exc), exc, exc.__traceback__, "Exception ignored in thread started by", function))
        (hook if hook is not None else sys.__unraisablehook__)(args)
    except BaseException as e:
        sys.__unraisablehook__(make((type(e), e, e.__traceback__, "Exception ignored in sys.unraisablehook", hook)))


_args_type: list = []


def _hook_args_type() -> Any:
    """The type of ``sys.unraisablehook``'s argument, where racedet must build one itself (else None).

    From 3.13 the interpreter passes ``object=None`` and names the function
    by its repr in ``err_msg``, which :class:`_Started` gives: the exception
    is left to the interpreter.  The type is not public: it is taken from
    one unraisable exception, caught by a hook of racedet's own.
    """
    if not _args_type:
        got: list = []
        if env.PYBEHAVIOR.unraisable_names_thread_object:
            class _Probe:
                def __del__(self) -> None:
                    raise RuntimeError

            old = sys.unraisablehook
            sys.unraisablehook = got.append
            try:
                _Probe()
            finally:
                sys.unraisablehook = old
        _args_type.append(type(got[0]) if got else None)
    return _args_type[0]


def start_new_thread(function: object, args: tuple, kwargs: Optional[dict] = None) -> int:
    """``_thread.start_new_thread``: what the starter did before happens before the new thread runs."""
    rest = () if kwargs is None else (kwargs,)
    if not engine.TRACKING or not callable(function) or type(args) is not tuple:
        return _orig_start_new_thread(function, args, *rest)   # and _thread's errors, as python raises them
    ts = engine.fork("Dummy", frames.capture_raw(sys._getframe(1)))
    try:
        return _orig_start_new_thread(_Started(function, ts), args, *rest)
    except BaseException as e:
        engine.thread_end(ts)
        frames.hide_own(e)
        raise


#: Every thread that ended while a program counts threads released into it
#: (:func:`_count` acquires it).
_ended = engine.SyncVar()
_counted = [False]


def _count() -> int:
    """``_thread._count()`` as the program would see it: racedet's own threads are not counted.

    The count is an atomic counter that each thread's end decrements (under
    the interpreter's lock): a read of it synchronizes, as a Go atomic load,
    with every end before it, so a program that waits for the count to drop
    (CPython's ``threading_helper.wait_threads_exit``) is ordered after the
    threads it waited for.  Threads release at their end only once the
    program has counted (``_counted``): a thread that ended before the first
    count gives no edge, which can only cost a report, never hide one.
    """
    n = max(0, _orig_count() - blocking.internal_counted)
    if engine.TRACKING:
        _counted[0] = True
        engine.acquire(_ended)
    return n


def _thread_ending() -> None:
    """The calling thread is about to end: what it did happens before a later :func:`_count`."""
    if _counted[0]:
        engine.release_merge(_ended)


def start(self: threading.Thread) -> None:
    # A subclass that skipped Thread.__init__ gets threading's RuntimeError
    # ("thread.__init__() not called"), before anything here reads its name.
    if self._initialized and engine.TRACKING and engine.thread_states.get(self) is None:  # type: ignore[attr-defined]
        ts = engine.fork(self.name, frames.capture_raw(sys._getframe(1)))
        ts.thread_ref = weakref.ref(self)
        engine.thread_states.put(self, ts)
    try:
        _orig_start(self)
    except BaseException as e:
        frames.hide_own(e)
        raise


def _bootstrap_inner(self: threading.Thread) -> None:
    ts = engine.thread_states.get(self)
    if ts is not None:
        engine.thread_begin(ts)
    invoke = getattr(self, "_invoke_excepthook", None)
    if invoke is not None:
        def invoke_without_own_frames(thread: threading.Thread) -> None:
            # What threading.excepthook shows is the exception being handled
            # (its __traceback__ on 3.11+): racedet's frames are taken out.
            frames.without_own_frames(sys.exc_info()[1])
            invoke(thread)

        self._invoke_excepthook = invoke_without_own_frames  # type: ignore[attr-defined]
    try:
        _orig_bootstrap_inner(self)
    finally:
        if ts is not None:
            _thread_ending()
            engine.thread_end(ts)
        if lockorder._pending:
            lockorder.settle()   # this thread's holds have ended (or never will)


def join(self: threading.Thread, timeout: Optional[float] = None) -> None:
    try:
        if (timeout is not None or not self._initialized  # type: ignore[attr-defined]
                or not _orig_is_alive(self) or self is threading.current_thread()):
            _orig_join(self, timeout)   # and threading's errors, as python raises them
        else:
            def w(t: Optional[float]) -> bool:
                _orig_join(self, t)
                return not _orig_is_alive(self)

            blocking.wait_for("Thread.join", w, None, lambda: not _orig_is_alive(self),
                              engine.thread_states.get(self))
    except BaseException as e:
        frames.hide_own(e)
        raise
    if engine.TRACKING and not _orig_is_alive(self):
        engine.join(engine.thread_states.get(self))


def is_alive(self: threading.Thread) -> bool:
    try:
        alive = _orig_is_alive(self)
    except BaseException as e:
        frames.hide_own(e)
        raise
    if not alive and engine.TRACKING:
        ts = engine.thread_states.get(self)
        if ts is not None and ts.final_vc is not None:
            engine.join(ts)
    return alive


def _shutdown() -> None:
    """Python's exit waits for non-daemon threads: visible to the deadlock detector."""
    with blocking.blocked("Thread.join"):
        _orig_shutdown()


def install() -> None:
    _Thread.start = start  # type: ignore[method-assign]
    _Thread._bootstrap_inner = _bootstrap_inner  # type: ignore[attr-defined]
    _Thread.join = join  # type: ignore[method-assign]
    _Thread.is_alive = is_alive  # type: ignore[method-assign]
    threading._shutdown = _shutdown  # type: ignore[attr-defined]
    _thread._count = _count
    _thread.start_new_thread = start_new_thread
    _thread.start_new = start_new_thread  # the old name of the same function
    # The pure-Python local (and its subclasses) keeps attributes per thread,
    # as _thread._local does: they never race.
    engine.register_ignored_type(_threading_local.local)


def uninstall() -> None:
    _Thread.start = _orig_start  # type: ignore[method-assign]
    _Thread._bootstrap_inner = _orig_bootstrap_inner  # type: ignore[attr-defined]
    _Thread.join = _orig_join  # type: ignore[method-assign]
    _Thread.is_alive = _orig_is_alive  # type: ignore[method-assign]
    threading._shutdown = _orig_shutdown  # type: ignore[attr-defined]
    _thread._count = _orig_count
    _thread.start_new_thread = _orig_start_new_thread
    _thread.start_new = _orig_start_new_thread


def shutdown_threads() -> None:
    """Wait for non-daemon threads now, as Python's exit would (idempotent)."""
    threading._shutdown()  # type: ignore[attr-defined]
    lockorder.settle(final=True)   # the run is over: what is pending is reported

