"""Locks the standard library makes for an object, as user code sees them: edges only where user code runs.

A queue's mutex, a logging handler's lock: racedet leaves these raw so that
the library's own critical sections (a ``put`` and an unrelated ``get``, two
threads logging to one stream) order nothing, which would hide races
depending on timing.  But user code runs under some of them, and user code
takes some of them itself: those critical sections must be ordered with
each other, as the lock orders them.

So such a lock has a *section clock* (a SyncVar), and its critical sections
are of two kinds:

* the library's own, where no user code runs: raw, no edge;
* sections where user code runs, or that user code opens itself: each one
  acquires the section clock when it starts and releases it when it ends
  (and around a wait, which gives the lock up).  Since the lock is held
  meanwhile, these sections are ordered exactly as the lock orders them.

The attribute that holds the lock (``q.mutex``, ``handler.lock``) is a
:class:`StdlibLockAttr`: the library's own code gets the raw object, unless
the owner runs user code under it (a Queue subclass with its own ``_put``,
a handler with its own ``emit``); everyone else gets a *view* that adds the
section edges (:class:`LockView`, :class:`RLockView`, :class:`ConditionView`).
The instance's ``__dict__`` keeps the raw objects, as under plain python.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Dict, Optional, Tuple

from racedet import blocking, engine
from racedet.sidetable import SideTable
from racedet.models import locks

_getframe = sys._getframe


class LockView:
    """A raw ``_thread.lock`` of the standard library, seen from code whose sections are edges."""

    __slots__ = ("_raw", "_sv", "__weakref__")

    def __init__(self, raw: Any, sv: engine.SyncVar) -> None:
        self._raw = raw
        self._sv = sv

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        ok = self._raw.acquire(blocking, timeout)
        if ok and engine.TRACKING:
            engine.acquire(self._sv)
        return ok

    __enter__ = acquire

    def release(self) -> None:
        if engine.TRACKING and self._raw.locked():
            engine.release(self._sv)
        self._raw.release()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __getattr__(self, name: str) -> Any:   # locked(), _at_fork_reinit(), ...
        return getattr(self._raw, name)

    def __repr__(self) -> str:
        return repr(self._raw)

    @property  # type: ignore[misc]
    def __class__(self) -> type:   # isinstance(q.mutex, type(threading.Lock())) as under plain python
        return type(self._raw)


class RLockView(LockView):
    """A raw ``RLock`` of the standard library: every acquire and release is an edge.

    Nested ones too: a release that keeps the lock publishes a clock that
    the outermost release replaces, and a user section nested in a library
    section (``with self.lock`` in ``emit``) is ordered all the same.
    """

    __slots__ = ()

    def release(self) -> None:
        if engine.TRACKING and self._raw._is_owned():
            engine.release(self._sv)
        self._raw.release()

    # What threading.Condition uses to wait on an RLock: the wait gives the lock up.
    def _release_save(self) -> Any:
        if engine.TRACKING and self._raw._is_owned():
            engine.release(self._sv)
        return self._raw._release_save()

    def _acquire_restore(self, state: Any) -> None:
        self._raw._acquire_restore(state)
        if engine.TRACKING:
            engine.acquire(self._sv)

    def _is_owned(self) -> bool:
        return self._raw._is_owned()


class ConditionView:
    """A raw ``threading.Condition`` on a library lock: entering, leaving and waiting are edges."""

    __slots__ = ("_raw", "_sv", "__weakref__")

    def __init__(self, raw: Any, sv: engine.SyncVar) -> None:
        self._raw = raw
        self._sv = sv

    def acquire(self, *args: Any) -> bool:
        ok = self._raw.acquire(*args)
        if ok and engine.TRACKING:
            engine.acquire(self._sv)
        return ok

    def __enter__(self) -> bool:
        ok = self._raw.__enter__()
        if engine.TRACKING:
            engine.acquire(self._sv)
        return ok

    def release(self) -> None:
        if engine.TRACKING and self._raw._is_owned():
            engine.release(self._sv)
        self._raw.release()

    def __exit__(self, *exc: object) -> None:
        if engine.TRACKING and self._raw._is_owned():
            engine.release(self._sv)
        self._raw.__exit__(*exc)

    def wait(self, timeout: Optional[float] = None) -> bool:
        raw = self._raw
        if not engine.TRACKING or not raw._is_owned():
            return raw.wait(timeout)   # raises the real RuntimeError when not owned
        engine.release(self._sv)
        try:
            return blocking.wait_for("Condition.wait", raw.wait, timeout, None, (self, raw))
        finally:
            engine.acquire(self._sv)

    def wait_for(self, predicate: Callable[[], Any], timeout: Optional[float] = None) -> Any:
        """As ``Condition.wait_for``, waiting through :meth:`wait` (the predicate runs in the section)."""
        deadline = None
        result = predicate()
        while not result:
            wait = None
            if timeout is not None:
                if deadline is None:
                    deadline = time.monotonic() + timeout
                wait = deadline - time.monotonic()
                if wait <= 0:
                    break
            self.wait(wait)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        self._raw.notify(n)
        blocking.wake(self)

    def notify_all(self) -> None:
        self._raw.notify_all()
        blocking.wake(self)

    notifyAll = notify_all

    def __getattr__(self, name: str) -> Any:   # _is_owned(), _lock, ...
        return getattr(self._raw, name)

    def __repr__(self) -> str:
        return repr(self._raw)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._raw)


_RLOCK_TYPES: Tuple[type, ...] = ()


def _view_of(raw: Any, sv: engine.SyncVar) -> Any:
    global _RLOCK_TYPES
    if not _RLOCK_TYPES:
        import _thread

        _RLOCK_TYPES = (type(_thread.RLock()),)
    if isinstance(raw, _RLOCK_TYPES):
        return RLockView(raw, sv)
    if hasattr(raw, "notify") and hasattr(raw, "wait"):
        if isinstance(getattr(raw, "_lock", None), LockView):
            return raw   # built on a view: its own acquires and waits are the edges
        return ConditionView(raw, sv)
    if hasattr(raw, "acquire") and hasattr(raw, "release") and hasattr(raw, "locked"):
        return LockView(raw, sv)
    return raw   # not a lock this module knows: as it is


#: The views of an object's library locks, beside the object (one section clock for
#: all of them: a queue's conditions share its mutex).
_VIEWS: SideTable[Dict[Any, Any]] = SideTable(lambda: {None: engine.SyncVar()})


def _views(obj: Any) -> Dict[Any, Any]:
    v = _VIEWS.of(obj)
    if v is None:   # takes no weak reference: kept in the object, the one place left
        v = obj.__dict__.setdefault("_rd_lock_views", {None: engine.SyncVar()})
    return v


class StdlibLockAttr:
    """The attribute that holds a lock the library made for its instance (``mutex``, ``lock``).

    ``home`` is the library module's globals and ``internal(module_name)``
    says whether code of another module is the library's own too (asked
    once per module); ``runs_user_code(obj)`` whether user code runs under
    the lock on that object (then the library's sections are edges too),
    ``by_type`` that the answer depends on the object's type alone.  Models
    that are already user primitives (a lock the user made and assigned)
    are returned as they are.  The library's own reads come first: they
    are on the path of every ``put`` and every log record.
    """

    def __init__(self, name: str, home: dict, internal: Callable[[str], bool],
                 runs_user_code: Callable[[Any], bool], by_type: bool = False) -> None:
        self.name = name
        self.home = home
        self.internal = internal
        self.runs_user_code = runs_user_code
        self.by_type = by_type
        self._modules: Dict[Any, bool] = {}
        self._plain: set = set()   # types (by_type) whose library sections run no user code

    def __get__(self, obj: Any, owner: Optional[type] = None) -> Any:
        name = self.name
        if obj is None:
            raise AttributeError(f"type object {owner.__name__!r} has no attribute {name!r}")
        try:
            raw = obj.__dict__[name]
        except KeyError:
            raise AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}") from None
        g = _getframe(1).f_globals
        if g is self.home:
            if type(obj) in self._plain:
                return raw
            inside = True
        else:
            mod = g.get("__name__")
            inside = self._modules.get(mod)
            if inside is None:
                inside = self._modules[mod] = isinstance(mod, str) and bool(self.internal(mod))
        if inside and not self.runs_user_code(obj):
            if self.by_type:
                self._plain.add(type(obj))
            return raw
        if raw is None:
            return raw
        t = type(raw)
        passed = _passed.get(t)
        if passed is None:
            passed = _passed[t] = issubclass(t, locks.MODEL_TYPES) or not hasattr(raw, "acquire")
        if passed:
            return raw
        views = _views(obj)
        v = views.get(name)
        if v is None or v[0] is not raw:
            v = views[name] = (raw, _view_of(raw, views[None]))
        return v[1]

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = value

    def __delete__(self, obj: Any) -> None:
        try:
            del obj.__dict__[self.name]
        except KeyError:
            raise AttributeError(self.name) from None


#: Per type of value: handed out as it is (a primitive the user made, modelled; not a lock)?
_passed: Dict[type, bool] = {}


def user_module(name: Any) -> bool:
    """Is the module named ``name`` user code: not the standard library, racedet or the
    tools racedet runs under (pytest's log capture handler is theirs, see ``locks.EXEMPT_PREFIXES``)?"""
    if not isinstance(name, str):
        return False
    r = _user_modules.get(name)
    if r is None:
        r = _user_modules[name] = name.partition(".")[0] not in _STDLIB_TOPS and not any(
            name == p or name.startswith(p + ".") for p in locks.EXEMPT_PREFIXES)
    return r


_user_modules: Dict[str, bool] = {}


def user_function(fn: Any) -> bool:
    """Is ``fn`` (a function or method found on a class) user code?"""
    return user_module(getattr(fn, "__module__", None))


_STDLIB_TOPS = frozenset(getattr(sys, "stdlib_module_names", ())) | {"builtins", "_thread"}
