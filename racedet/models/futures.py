"""Model of concurrent.futures: submit -> the task runs; the task's end -> whoever sees it done.

``submit`` reaches the worker through the executor's work queue (a
``queue.SimpleQueue``, modelled per item) and worker start, so that edge
needs nothing here.  A future's completion (``set_result``/``set_exception``)
is a release; ``result()``, ``exception()``, ``done()`` returning True, the
futures ``as_completed`` yields and ``wait`` returns done, and a done
callback added to a finished future, acquire it.  ``map`` reads results
through ``result()``; ``shutdown(wait=True)`` joins the workers.

The edges are those of the ``Future`` class, so they hold as well for a
future made by user code and completed by another thread (a pool library
of its own).  A callback added to a *pending* future runs later, in the
thread that completes it: ``add_done_callback`` is then a release too,
and the callbacks acquire it before they run, so what the adder did before
adding happens before the callback.
"""

from __future__ import annotations

import _thread
import concurrent.futures as cf
from concurrent.futures import _base
from typing import Any, Iterator

from racedet import engine, frames
from racedet.models import locks
from racedet.sidetable import SideTable

Future = _base.Future
_orig = {
    "set_result": Future.set_result,
    "set_exception": Future.set_exception,
    "result": Future.result,
    "exception": Future.exception,
    "done": Future.done,
    "add_done_callback": Future.add_done_callback,
    "_invoke_callbacks": Future._invoke_callbacks,
    "as_completed": _base.as_completed,
    "wait": _base.wait,
}


#: Each future's completion clock and its callbacks' (beside the future: it gets no attributes).
_done_svs: SideTable[engine.SyncVar] = SideTable(engine.SyncVar)
_cb_svs: SideTable[engine.SyncVar] = SideTable(engine.SyncVar)


def _sv(f: Any) -> engine.SyncVar:
    return _done_svs.of(f) or engine.SyncVar()


def _seen_done(f: Any) -> None:
    if engine.TRACKING:
        engine.acquire(_sv(f))


def set_result(self: Any, result: Any) -> None:
    if engine.TRACKING:
        engine.release_merge(_sv(self))
    _orig["set_result"](self, result)


def set_exception(self: Any, exception: Any) -> None:
    if engine.TRACKING:
        engine.release_merge(_sv(self))
    _orig["set_exception"](self, exception)


def result(self: Any, timeout: Any = None) -> Any:
    try:
        return _orig["result"](self, timeout)
    except BaseException as e:
        frames.hide_own(e)   # the task's exception, or TimeoutError, as python shows it
        raise
    finally:
        if _orig["done"](self):
            _seen_done(self)


def exception(self: Any, timeout: Any = None) -> Any:
    try:
        return _orig["exception"](self, timeout)
    except BaseException as e:
        frames.hide_own(e)
        raise
    finally:
        if _orig["done"](self):
            _seen_done(self)


def done(self: Any) -> bool:
    d = _orig["done"](self)
    if d:
        _seen_done(self)
    return d


_DONE_STATES = (_base.CANCELLED, _base.CANCELLED_AND_NOTIFIED, _base.FINISHED)
_RLOCK_TYPES = (type(_thread.RLock()), locks.ModelRLock)


def add_done_callback(self: Any, fn: Any) -> None:
    if engine.TRACKING:
        cond = getattr(self, "_condition", None)
        if isinstance(getattr(cond, "_lock", None), _RLOCK_TYPES):
            # Whether the future is pending is decided under its condition,
            # which the original takes again (an RLock): a pending future
            # stays pending until the callback is stored, so the callback
            # never runs here unordered with the completion.
            with cond:
                if self._state not in _DONE_STATES:
                    engine.release_merge(_cb_sv(self))
                    _orig["add_done_callback"](self, fn)   # stores it; does not call it
                    return
        elif not _orig["done"](self):  # pragma: no cover - a future without an RLock condition
            engine.release_merge(_cb_sv(self))
        if _orig["done"](self):
            _seen_done(self)
    _orig["add_done_callback"](self, fn)


def _cb_sv(f: Any) -> engine.SyncVar:
    return _cb_svs.of(f) or engine.SyncVar()


def _invoke_callbacks(self: Any) -> None:
    """The callbacks added while the future was pending run after their adders' adds."""
    if engine.TRACKING:
        sv = _cb_svs.get(self)
        if sv is not None:
            engine.acquire(sv)
    _orig["_invoke_callbacks"](self)


def as_completed(fs: Any, timeout: Any = None) -> Iterator[Any]:
    # The generator holds no yielded future while it is suspended (as the
    # original does): the caller may drop it and see it freed.
    box: list = []
    for f in _orig["as_completed"](fs, timeout):
        _seen_done(f)
        box.append(f)
        del f
        yield box.pop()


def wait(fs: Any, timeout: Any = None, return_when: str = _base.ALL_COMPLETED) -> Any:
    res = _orig["wait"](fs, timeout, return_when)
    for f in res.done:
        _seen_done(f)
    return res


def install() -> None:
    Future.set_result = set_result  # type: ignore[method-assign]
    Future.set_exception = set_exception  # type: ignore[method-assign]
    Future.result = result  # type: ignore[method-assign]
    Future.exception = exception  # type: ignore[method-assign]
    Future.done = done  # type: ignore[method-assign]
    Future.add_done_callback = add_done_callback  # type: ignore[method-assign]
    Future._invoke_callbacks = _invoke_callbacks  # type: ignore[attr-defined]
    _base.as_completed = as_completed
    _base.wait = wait
    cf.as_completed = as_completed
    cf.wait = wait


def uninstall() -> None:
    for name in ("set_result", "set_exception", "result", "exception", "done", "add_done_callback",
                 "_invoke_callbacks"):
        setattr(Future, name, _orig[name])
    _base.as_completed = cf.as_completed = _orig["as_completed"]
    _base.wait = cf.wait = _orig["wait"]
