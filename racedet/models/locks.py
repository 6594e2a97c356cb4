"""Models of threading's locks and signals: Lock, RLock, Condition, Semaphore, Event, Barrier.

Each model behaves exactly like the primitive it stands for and adds the
happens-before edges of its operations:

* Lock/RLock: release -> a later acquire (a failed non-blocking acquire gives none);
* Condition: through its lock (notify needs the lock, wait re-acquires it);
* Semaphore/BoundedSemaphore: release -> an acquire it lets through;
* Event: set -> a wait() or is_set() that returns True;
* Barrier: every arrival of a cycle -> every departure of that cycle.

Only primitives made by user code are modelled.  The ones the standard
library makes for its own bookkeeping (a Queue's mutex, a Future's condition,
a Thread's start event, logging's handler locks) stay raw: racedet models
those components at their API (an item put -> its get), and their internal
locks would otherwise order unrelated threads and hide races, depending on
timing.  Where user code runs under such a lock or takes it itself, its
sections are ordered all the same (:mod:`racedet.models.stdlocks`).
"""

from __future__ import annotations

import _thread
import copyreg
import sys
import threading
import time
from typing import Any, Dict, Optional

from racedet import blocking, core, engine, env, frames, lockorder
from racedet.sidetable import SideTable

_orig = {
    "Lock": threading.Lock,
    "RLock": threading.RLock,
    "Condition": threading.Condition,
    "Semaphore": threading.Semaphore,
    "BoundedSemaphore": threading.BoundedSemaphore,
    "Event": threading.Event,
    "Barrier": threading.Barrier,
}
_allocate_lock = _thread.allocate_lock
_RawRLock = _thread.RLock
TIMEOUT_MAX = threading.TIMEOUT_MAX

#: Modules whose primitives are bookkeeping, modelled at a higher level or
#: never used to order user data.  Matched on ``__name__`` prefixes.
EXEMPT_PREFIXES = (
    "threading", "queue", "concurrent.futures", "logging", "racedet", "importlib",
    "_pytest", "pytest", "pluggy", "xdist", "execnet", "coverage", "pytest_timeout",
    "pytest_cov", "pytest_racedet", "multiprocessing.util", "_threading_local",
)
_exempt_cache: dict = {}


def _user_caller(depth: int = 2) -> bool:
    """Was the primitive made by user code (not by an exempt module)?"""
    try:
        name = sys._getframe(depth).f_globals.get("__name__", "")
    except ValueError:  # pragma: no cover
        return True
    r = _exempt_cache.get(name)
    if r is None:
        r = _exempt_cache[name] = not any(
            name == p or name.startswith(p + ".") for p in EXEMPT_PREFIXES)
    return r


def _where(depth: int) -> str:
    f = sys._getframe(depth)
    import os

    return f"{os.path.basename(f.f_code.co_filename)}:{f.f_lineno}"


def _acquire_args(args: tuple, kwargs: dict) -> tuple:
    """``(blocking, timeout)`` of ``acquire(*args, **kwargs)``, checked as the raw lock checks them.

    Any error (too many arguments, an unknown keyword, a bad value) is the
    raw lock's own, in this Python's words: a new, unlocked lock raises it.
    """
    _allocate_lock().acquire(*args, **kwargs)
    return _acquire_params(*args, **kwargs)


def _acquire_params(blocking: Any = True, timeout: Any = -1) -> tuple:
    return blocking, timeout


def _hide(exc: BaseException) -> None:
    frames.hide_own(exc)


_tls = engine._tls
_adopt = engine.adopt_current_thread
_getframe = sys._getframe
_yield_gil = time.sleep
_join_into = engine.join_into
_REBASE_AT = engine.REBASE_AT
_get_ident = _thread.get_ident


def _took_py(lock: Any) -> None:
    """``lock`` was just acquired (not re-entered): the edge, and the lock-order record.

    Inlined from engine.acquire/lockorder.acquired: locks are on the hot
    path of every locked update, and one thread-state lookup serves both.
    Called by the models' acquire (``_getframe(2)`` is the user's call).
    """
    ts = _tls.ts or _adopt()
    sv = lock._sv
    vc = sv.vc
    if vc:
        owner = sv.tid
        if owner != ts.tid:
            if owner:
                _join_into(ts.vc, vc)
            else:
                engine.acquire(sv)
    if ts.held:
        lockorder.acquired(lock._uid, lock._desc)
    else:
        f = _getframe(2)
        ts.held.append((lock._uid, lock._desc, ((f.f_code, f.f_lineno),)))


def _leaving_py(lock: Any) -> None:
    """``lock`` is about to be released for good: engine.release, and forget it as held."""
    ts = _tls.ts or _adopt()
    held = ts.held
    if held and held[-1][0] == lock._uid:
        held.pop()
    else:
        lockorder.released(lock._uid)
    sv = lock._sv
    sv.tid = 0
    vc = ts.vc
    sv.vc = dict(vc) if len(vc) <= _REBASE_AT else engine.published(ts)
    tid = ts.tid
    sv.tid = tid
    c = ts.clk + 1
    ts.clk = c
    ts.vc[tid] = c
    ts.epoch = (c << engine.TID_BITS) | tid


def _took_bounded(lock: Any) -> None:
    """``lock`` was just taken by an acquire that could not wait forever (a try-lock, a timeout).

    The edge of :func:`_took_py`, and the lock is held, but no lock-order
    edge: such an acquisition gives up rather than deadlock (TSan ignores
    try-locks too).  Both access cores use this one.
    """
    engine.acquire(lock._sv)
    lockorder.tried(lock._uid, lock._desc)


# The compiled access core has both, with the same effects (racedet/_access.c):
# the pure-Python ones serve RACEDET_CORE=py and a core built without them.
_took = getattr(core.access, "took", None)
_leaving = getattr(core.access, "leaving", None)
if _took is None or _leaving is None:
    _took, _leaving = _took_py, _leaving_py


class _Factory(type):
    """Metaclass of the public names: calling makes a model (user code) or a raw primitive.

    A user class that subclasses one of them (``class Flag(threading.Event)``)
    is built on the model instead, so its instances keep their edges.
    """

    def __new__(mcls, name: str, bases: tuple, ns: dict, **kw: Any) -> Any:
        if any(isinstance(b, _Factory) for b in bases):
            if any(isinstance(b, _Factory) and not b._subclassable for b in bases):
                try:
                    try:
                        return _subclass_original(name, bases, ns, kw)
                    except BaseException as e:
                        # Python raises it in the class statement itself: no
                        # frame under the user's (3.10 shows the one of this
                        # raise, which frames.install hides).
                        e.__traceback__ = None
                        raise e
                except BaseException as e:
                    _hide(e)
                    raise
            bases = tuple(b._model if isinstance(b, _Factory) else b for b in bases)
            return type(name, bases, ns, **kw)
        return super().__new__(mcls, name, bases, ns, **kw)

    def __instancecheck__(cls, obj: Any) -> bool:
        # The original first: where it is a function (threading.RLock; Lock
        # before 3.13), isinstance raises python's TypeError.
        try:
            return isinstance(obj, cls._original) or isinstance(obj, cls._model)
        except BaseException as e:
            _hide(e)
            raise


def _subclass_original(name: str, bases: tuple, ns: dict, kw: dict) -> Any:
    """``class X(threading.Lock)``: fail as python does, with the originals as bases.

    ``threading.Lock`` and ``threading.RLock`` cannot be subclassed (a builtin
    function or a final type, a Python function), so the class statement
    raises a TypeError whose words depend on the version; making the class
    from the originals raises exactly that one.
    """
    import types

    raw = tuple(b._original if isinstance(b, _Factory) else b for b in bases)
    return types.new_class(name, raw, kw, lambda body: body.update(ns))


def _unpicklable(self: Any, protocol: int) -> Any:
    """``__reduce_ex__`` of the lock models: the raw lock's TypeError ("cannot pickle '_thread.lock' object")."""
    try:
        return self._lock.__reduce_ex__(protocol)
    except BaseException as e:
        _hide(e)
        raise


# --------------------------------------------------------------------------
# Lock


class _AnyCore(type):
    """Metaclass of the Python models: ``isinstance(x, ModelLock)`` holds for the C core's lock too.

    Under the compiled core user locks are instances of a class on
    ``racedet._access.LockCore`` (:data:`_CORE_TWINS`); code that asks whether
    a lock is modelled (a Condition on it, racedet.models.stdlocks) asks
    about either.
    """

    def __instancecheck__(cls, obj: Any) -> bool:
        twin = _CORE_TWINS.get(cls)
        return type.__instancecheck__(cls, obj) or (twin is not None and type.__instancecheck__(twin, obj))

    def __subclasscheck__(cls, sub: Any) -> bool:
        twin = _CORE_TWINS.get(cls)
        return type.__subclasscheck__(cls, sub) or (twin is not None and type.__subclasscheck__(twin, sub))


#: Python model -> the class user locks have under the compiled core (filled below).
_CORE_TWINS: dict = {}


class _LockRest:
    """What a Lock model has beside its hot path: shared by the Python model and the C core's."""

    __slots__ = ()

    #: ``isinstance(lock, _thread.LockType)`` holds, as for the lock it stands for.
    __class__ = property(lambda self: _LockType)  # type: ignore[assignment]
    __reduce_ex__ = _unpicklable

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()

    def __repr__(self) -> str:  # as CPython's, so the program's output does not change
        state = "locked" if self._lock.locked() else "unlocked"
        return f"<{state} _thread.lock object at {hex(id(self))}>"


class ModelLock(_LockRest, metaclass=_AnyCore):
    """A ``threading.Lock`` whose release/acquire pairs are happens-before edges (the pure-Python core's)."""

    __slots__ = ("_lock", "_sv", "_uid", "_desc", "_cond", "__weakref__")

    def __init__(self, where: str = "") -> None:
        self._lock = _allocate_lock()
        self._cond = False      # under a Condition: its waiters need wake-ups (no predicate)
        self._sv = engine.SyncVar()
        self._uid = lockorder.new_uid()
        self._desc = lockorder.describe("Lock", self._uid, self, where)

    def acquire(self, *args: Any, **kwargs: Any) -> bool:   # (blocking=True, timeout=-1)
        took = _took
        blocking, timeout = True, -1
        if args or kwargs:
            try:
                blocking, timeout = _acquire_args(args, kwargs)
            except BaseException as e:
                _hide(e)
                raise
            if not blocking or timeout >= 0:
                took = _took_bounded
        lk = self._lock
        if lk.acquire(False):
            if engine.TRACKING:
                took(self)
            return True
        if not blocking:
            return False
        try:
            ok = _wait("Lock.acquire", lk, timeout, self)
        except BaseException as e:   # KeyboardInterrupt, a deadlock abort
            _hide(e)
            raise
        if ok and engine.TRACKING:
            took(self)
        return ok

    __enter__ = acquire

    def release(self) -> None:
        lk = self._lock
        if not lk.locked():
            try:
                lk.release()  # raises the real RuntimeError
            except BaseException as e:
                _hide(e)
                raise
        if engine.TRACKING:
            _leaving(self)
            lk.release()
            if self._cond:
                blocking.wake(self)
        else:
            lk.release()

    def __exit__(self, *exc: object) -> None:
        try:
            self.release()
        except BaseException as e:
            _hide(e)
            raise

    def locked(self) -> bool:
        return self._lock.locked()


def _wait(what: str, lk: Any, timeout: float, owner: Any) -> bool:
    # The holder was most likely switched out inside its critical section and
    # now waits for the GIL: hand the GIL over once before blocking, so that it
    # can leave the section.  Blocking at once costs a lock wait and a GIL
    # wait, two handoffs between cores; instrumented critical sections are
    # long enough for this to happen on most contended acquires (bank: 157k
    # context switches -> 10-90k, 6.3 s -> 3.2-3.9 s).  Only timing changes.
    _yield_gil(0)
    if lk.acquire(False):
        return True
    def w(t: Optional[float]) -> bool:
        return lk.acquire(True, -1 if t is None else t)

    ready = getattr(owner, "_free", None) or (lambda: not lk.locked())   # an RLock's, or a Lock's
    return blocking.wait_for(what, w, None if timeout < 0 else timeout, ready, owner)


def _wait_hidden(what: str, lk: Any, timeout: float, owner: Any) -> bool:
    """:func:`_wait` for the C core's locks, which call it with the model: racedet's frames hidden."""
    try:
        return _wait(what, lk, timeout, owner)
    except BaseException as e:   # KeyboardInterrupt, a deadlock abort
        _hide(e)
        raise


_LockType = type(_allocate_lock())


class Lock(metaclass=_Factory):
    """``threading.Lock``: a model when user code makes it, a raw lock otherwise."""

    _model = ModelLock
    _raw_type = _LockType
    _original = _orig["Lock"]
    _subclassable = False
    #: ``threading``, where this factory can be found again: pickle saves a class by
    #: ``__module__.__qualname__`` and checks it is the same object (multiprocessing
    #: pickles ``threading.Lock`` itself), and ``test.support.check__all__(threading)``
    #: accepts it.  Python's says ``_thread`` (``allocate_lock``, or the ``lock`` type
    #: from 3.13), which would name an object that is not this one.
    __module__ = "threading"

    def __new__(cls) -> Any:  # type: ignore[misc]
        if _user_caller():
            return _new_lock(_UserLock, _where(2))
        return _allocate_lock()


class _ThreadLocks:
    """Holder of :meth:`allocate_lock`, installed as the bound method (see there)."""

    __slots__ = ()

    def allocate_lock(self, *args: Any, **kwargs: Any) -> Any:
        """``_thread.allocate_lock()`` (and its old name ``allocate``): as ``threading.Lock()``.

        CPython's test_thread and code written against ``_thread`` order their
        threads (started with ``_thread.start_new_thread``, which is modelled)
        with these locks: user code gets the lock a ``threading.Lock()``
        gives, the standard library's own calls (importlib's module locks)
        stay raw.  Installed as a bound method because the builtin it
        replaces does not bind either: ``locktype = _thread.allocate_lock``
        in a class body, then ``self.locktype()``, makes a lock.
        """
        if args or kwargs or not _user_caller():
            return _allocate_lock(*args, **kwargs)   # and its TypeError, as python raises it
        return _new_lock(_UserLock, _where(2))


allocate_lock = _ThreadLocks().allocate_lock


# --------------------------------------------------------------------------
# RLock


class _RLockRest:
    """What an RLock model has beside its hot path: shared by the Python model and the C core's."""

    __slots__ = ()

    __class__ = property(lambda self: _RLockType)  # type: ignore[assignment]
    __reduce_ex__ = _unpicklable

    # The protocol threading.Condition uses to wait on an RLock.
    def _is_owned(self) -> bool:
        return self._owner == _get_ident()

    def _release_save(self) -> tuple:
        if self._owner != _get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        count = self._count
        self._count = 0
        self._owner = None
        if engine.TRACKING:
            lockorder.released(self._uid)
            engine.release(self._sv)
        state = (self._lock._release_save(), count)
        blocking.wake(self)
        return state

    def _free(self) -> bool:
        return self._owner is None

    def _acquire_restore(self, state: tuple) -> None:
        raw_state, count = state
        lk = self._lock
        if lk.acquire(False) or _wait("Lock.acquire", lk, -1, self):
            # Visible to the watchdog as a Lock.acquire; then the raw lock's
            # own recursion level, as its _acquire_restore would set it.
            for _ in range(raw_state[0] - 1):
                lk.acquire()
        else:  # pragma: no cover - an indefinite acquire returns True or raises
            lk._acquire_restore(raw_state)
        self._owner = _get_ident()
        self._count = count
        if engine.TRACKING:
            engine.acquire(self._sv)
            lockorder.acquired(self._uid, self._desc)

    def _recursion_count(self) -> int:
        return self._count if self._owner == _get_ident() else 0

    def locked(self) -> bool:
        return self._owner is not None

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()
        self._owner = None
        self._count = 0

    def __repr__(self) -> str:  # as CPython's
        state = "locked" if self._owner is not None else "unlocked"
        return (f"<{state} _thread.RLock object owner={self._owner or 0} "
                f"count={self._count} at {hex(id(self))}>")


class ModelRLock(_RLockRest, metaclass=_AnyCore):
    """A ``threading.RLock``: only the outermost acquire/release are edges (the pure-Python core's)."""

    __slots__ = ("_lock", "_sv", "_owner", "_count", "_uid", "_desc", "_cond", "__weakref__")

    def __init__(self, where: str = "") -> None:
        self._lock = _RawRLock()
        self._cond = False
        self._sv = engine.SyncVar()
        self._owner: Optional[int] = None
        self._count = 0
        self._uid = lockorder.new_uid()
        self._desc = lockorder.describe("RLock", self._uid, self, where)

    def acquire(self, *args: Any, **kwargs: Any) -> bool:   # (blocking=True, timeout=-1)
        blocking, timeout = True, -1
        if args or kwargs:
            try:
                blocking, timeout = _acquire_args(args, kwargs)
            except BaseException as e:
                _hide(e)
                raise
        me = _get_ident()
        if self._owner == me:
            self._lock.acquire()
            self._count += 1
            return True
        took = _took
        if not blocking or timeout >= 0:
            took = _took_bounded
        lk = self._lock
        if lk.acquire(False):
            ok = True
        elif not blocking:
            return False
        else:
            try:
                ok = _wait("Lock.acquire", lk, timeout, self)
            except BaseException as e:
                _hide(e)
                raise
        if ok:
            self._owner = me
            self._count = 1
            if engine.TRACKING:
                took(self)
        return ok

    __enter__ = acquire

    def release(self) -> None:
        if self._owner != _get_ident():
            try:
                self._lock.release()  # raises the real RuntimeError
            except BaseException as e:
                _hide(e)
                raise
        count = self._count - 1
        self._count = count
        if count == 0:
            self._owner = None
            if engine.TRACKING:
                _leaving(self)
                self._lock.release()
                if self._cond:
                    blocking.wake(self)
                return
        self._lock.release()

    def __exit__(self, *exc: object) -> None:
        try:
            self.release()
        except BaseException as e:
            _hide(e)
            raise


_RLockType = type(_RawRLock())

# What the RLock of this Python does not have (``locked`` before 3.14,
# ``_recursion_count`` before 3.11), its models do not have either.
for _name in ("locked", "_recursion_count"):
    if not hasattr(_RLockType, _name):
        delattr(_RLockRest, _name)


class RLock(metaclass=_Factory):
    """``threading.RLock``: a model when user code makes it, a raw RLock otherwise."""

    _model = ModelRLock
    _raw_type = _RLockType
    _original = _orig["RLock"]
    _subclassable = False
    __module__ = "threading"   # as python's (a function of threading's), see Lock

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        if _user_caller():
            return _new_rlock(_UserRLock, _where(2))
        return _RawRLock(*args, **kwargs)


# --------------------------------------------------------------------------
# The classes of the locks user code gets: under the compiled core on
# racedet._access's LockCore/RLockCore (acquire, release, with and locked are
# one C call each), else on the Python models.  Named as python's own
# (``_thread.lock``, ``_thread.RLock``), instantiable and subclassable where
# python's are (env.LOCK_IS_TYPE: 3.13 made ``_thread.lock`` callable).

_LockCore = getattr(core.access, "LockCore", None)
_RLockCore = getattr(core.access, "RLockCore", None)
if _LockCore is not None and _RLockCore is not None:
    core.access._lock_setup(_took_bounded, _wait_hidden, blocking.wake)


def _init_model(lk: Any, kind: str, where: str) -> Any:
    lk._sv = engine.SyncVar()
    uid = lk._uid = lockorder.new_uid()
    lk._desc = lockorder.describe(kind, uid, lk, where)
    return lk


def _new_user_lock(cls: type, core: Any, model: type, kind: str, where: str) -> Any:
    """A user lock of class ``cls`` made at ``where``: the compiled ``core`` type's, else ``model``'s."""
    if core is not None:
        return _init_model(core.__new__(cls), kind, where)
    lk = object.__new__(cls)
    model.__init__(lk, where)
    return lk


def _new_lock(cls: type, where: str) -> Any:
    return _new_user_lock(cls, _LockCore, ModelLock, "Lock", where)


def _new_rlock(cls: type, where: str) -> Any:
    return _new_user_lock(cls, _RLockCore, ModelRLock, "RLock", where)


def _user_class(name: str, bases: tuple, new: Any, raw: Any, subclassable: bool) -> type:
    """The class of user locks, named as python's ``_thread.<name>``.

    ``raw`` is what python's class does when called (None: it cannot be
    instantiated); calling ours checks the arguments with it and makes a
    model.
    """
    # Errors are raised as python raises them in the user's own statement:
    # the frames of this module are taken out of their tracebacks.
    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        try:
            if raw is None:
                raise TypeError(f"cannot create '_thread.{name}' instances")
            raw(*args, **kwargs)
        except BaseException as e:
            _hide(e)
            raise
        return new(cls, _where(2))

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        pass   # made by __new__; a subclass's own __init__ runs as usual

    ns: dict = {"__slots__": (), "__module__": "_thread", "__qualname__": name,
                "__new__": __new__, "__init__": __init__,
                "__doc__": f"``_thread.{name}`` as racedet models it."}
    if not subclassable:
        def __init_subclass__(cls: type, **kw: Any) -> None:
            try:
                raise TypeError(f"type '_thread.{name}' is not an acceptable base type")
            except BaseException as e:
                _hide(e)
                raise
        ns["__init_subclass__"] = classmethod(__init_subclass__)
    return type(name, bases, ns)


_UserLock = _user_class("lock", (_LockCore, _LockRest) if _LockCore is not None else (ModelLock,),
                        _new_lock, _LockType if env.LOCK_IS_TYPE else None, False)
_UserRLock = _user_class("RLock", (_RLockCore, _RLockRest) if _RLockCore is not None else (ModelRLock,),
                         _new_rlock, _RawRLock, True)
if _LockCore is not None:
    _CORE_TWINS[ModelLock] = _UserLock
    _CORE_TWINS[ModelRLock] = _UserRLock


# --------------------------------------------------------------------------
# Condition, Semaphore, Event, Barrier: subclasses of threading's own classes,
# built on raw internals, with the edges added at their public operations.


class ModelCondition(_orig["Condition"]):  # type: ignore[misc, valid-type]
    """``threading.Condition`` on a modelled lock; waits are visible to the deadlock detector."""

    def __init__(self, lock: Any = None) -> None:
        if lock is None:
            lock = _new_rlock(_UserRLock, _where(3))
        if isinstance(lock, (ModelLock, ModelRLock)):
            lock._cond = True
        super().__init__(lock)

    def wait(self, timeout: Optional[float] = None) -> bool:
        try:
            if timeout is not None or not engine.TRACKING or not self._is_owned():
                # A bounded wait needs no wake-ups to look for an abort; an
                # un-acquired lock gets threading's own RuntimeError.
                with blocking.blocked("Condition.wait", False, None, self):
                    return super().wait(timeout)
            return _wait_notified(self, "Condition.wait", self)
        except BaseException as e:
            _hide(e)
            raise

    def notify(self, n: int = 1) -> None:
        try:
            super().notify(n)
        except BaseException as e:
            _hide(e)
            raise
        blocking.wake(self)

    def notify_all(self) -> None:
        try:
            super().notify_all()
        except BaseException as e:
            _hide(e)
            raise
        blocking.wake(self)


def _wait_notified(cond: Any, what: str, obj: object) -> bool:
    """``cond.wait()`` without a timeout (``cond`` is held), as a visible, interruptible wait.

    threading's own protocol (a waiter lock in ``cond._waiters``, released by
    ``notify``), except that the wait for the waiter lock goes through
    :func:`blocking.wait_for`, which may wake every ``blocking.SLICE`` to look
    for an abort.  The waiter stays in the condition's deque for the whole
    wait and the lock stays released: a notify is never lost.  (A loop of
    ``cond.wait(SLICE)`` would give both up at every slice: a notify landing
    on a waiter whose slice had just timed out counted as delivered, the
    wait went on, and the program hung; the re-acquisitions also woke the
    other waiters, so the deadlock watchdog never saw them still.)
    """
    waiter = _allocate_lock()
    waiter.acquire()
    cond._waiters.append(waiter)
    saved = cond._release_save()
    got = False
    try:
        got = blocking.wait_for(what, _acquire_waiter(waiter), None, _released(waiter), obj)
        return got
    finally:
        cond._acquire_restore(saved)
        if not got:
            try:
                cond._waiters.remove(waiter)
            except ValueError:
                pass


def _acquire_waiter(waiter: Any) -> Any:
    def w(t: Optional[float]) -> bool:
        return waiter.acquire(True, -1 if t is None else t)
    return w


def _released(waiter: Any) -> Any:
    return lambda: not waiter.locked()


#: The clock of each Semaphore and Event model, beside it: the program's object
#: holds no attribute of racedet's (``vars(sem)`` is python's).
_clocks: SideTable[engine.SyncVar] = SideTable(engine.SyncVar)
_no_weakref_clock = engine.SyncVar()   # a subclass with __slots__ and no __weakref__ shares one


def _sv(obj: Any) -> engine.SyncVar:
    sv = _clocks.of(obj)
    return _no_weakref_clock if sv is None else sv


class ModelSemaphore(_orig["Semaphore"]):  # type: ignore[misc, valid-type]
    """``threading.Semaphore``: release -> the acquire it lets through."""

    def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        sup = super().acquire
        try:
            if not blocking or timeout is not None and (type(timeout) not in (int, float) or timeout <= 0):
                ok = sup(blocking, timeout)   # threading checks the arguments and never blocks
            elif sup(False):
                ok = True
            else:
                ok = _wait_for_value(sup, timeout, self)
        except BaseException as e:
            _hide(e)
            raise
        if ok and engine.TRACKING:
            engine.acquire(_sv(self))
        return ok

    __enter__ = acquire

    def release(self, n: int = 1) -> None:
        if engine.TRACKING:
            engine.release_merge(_sv(self))
        try:
            super().release(n)
        except BaseException as e:
            _hide(e)
            raise
        blocking.wake(self)


def _wait_for_value(sup: Any, timeout: Optional[float], sem: Any) -> bool:
    """A blocking acquire of ``sem`` through its threading ``acquire`` ``sup``.

    Sliced waits (``sup(True, SLICE)``) lose nothing: threading's acquire
    looks at the value again after every wait, so a release that woke a
    slice as it timed out is taken by that slice or the next.
    """
    return blocking.wait_for("Semaphore.acquire", lambda t: sup(True, t), timeout, lambda: sem._value > 0, sem)


class ModelBoundedSemaphore(ModelSemaphore):
    """``threading.BoundedSemaphore`` with the edges of :class:`ModelSemaphore`."""

    def __init__(self, value: int = 1) -> None:
        super().__init__(value)
        self._initial_value = value

    __repr__ = _orig["BoundedSemaphore"].__repr__

    def release(self, n: int = 1) -> None:
        with self._cond:
            refused = n < 1 or self._value + n > self._initial_value
        if refused:
            # threading's own release raises the error, so the traceback
            # ends in threading.py as under plain python.
            if engine.TRACKING:
                engine.release_merge(_sv(self))
            try:
                _orig["BoundedSemaphore"].release(self, n)
            except BaseException as e:
                _hide(e)
                raise
            blocking.wake(self)
            return
        try:
            super().release(n)
        except BaseException as e:
            _hide(e)
            raise


class ModelEvent(_orig["Event"]):  # type: ignore[misc, valid-type]
    """``threading.Event``: set -> a wait() or is_set() that returns True."""

    def set(self) -> None:
        if engine.TRACKING:
            engine.release_merge(_sv(self))
        super().set()
        blocking.wake(self)

    def is_set(self) -> bool:
        r = super().is_set()
        if r and engine.TRACKING:
            engine.acquire(_sv(self))
        return r

    def wait(self, timeout: Optional[float] = None) -> bool:
        try:
            if timeout is not None or not engine.TRACKING:
                with blocking.blocked("Event.wait", False, lambda: self._flag, self):
                    r = super().wait(timeout)
            else:
                # threading's Event.wait, with the wait itself visible and interruptible.
                with self._cond:
                    r = self._flag
                    if not r:
                        r = _wait_notified(self._cond, "Event.wait", self)
        except BaseException as e:
            _hide(e)
            raise
        if r and engine.TRACKING:
            engine.acquire(_sv(self))
        return r


class _BarrierCycle(_thread._local):
    sv: Optional[engine.SyncVar] = None   # the clock of the cycle this thread waits in


_barrier_cycle = _BarrierCycle()


class _BarrierClocks:
    """A barrier's cycles as racedet counts them: the clock of each generation."""

    __slots__ = ("lock", "gen", "arrived", "svs")

    def __init__(self) -> None:
        self.lock = _allocate_lock()
        self.gen = 0
        self.arrived = 0
        self.svs: Dict[int, engine.SyncVar] = {}

    def new_cycle(self) -> None:
        with self.lock:
            self.gen += 1
            self.arrived = 0


_barriers: SideTable[_BarrierClocks] = SideTable(_BarrierClocks)


class ModelBarrier(_orig["Barrier"]):  # type: ignore[misc, valid-type]
    """``threading.Barrier``: all arrivals of a cycle happen before all its departures.

    The action (``Barrier(n, action=f)``) runs in the last thread to arrive,
    after every arrival and before any party is released: that thread
    acquires the cycle's clock when its arrival makes the count whole
    (``_count`` reaches ``parties``, under the barrier's lock), and joins its
    clock into the cycle's again when the barrier enters its draining state
    (``_state = 1``, set by threading right after the action).  So what the
    parties did before ``wait()`` happens before the action, and the
    action's writes happen before every party's return from ``wait()``.
    """

    @property
    def _count(self) -> int:
        return self.__dict__["_count"]

    @_count.setter
    def _count(self, value: int) -> None:
        if value == self._parties and engine.TRACKING and self._action is not None:
            sv = _barrier_cycle.sv
            if sv is not None:
                engine.acquire(sv)
        self.__dict__["_count"] = value

    @property
    def _state(self) -> int:
        return self.__dict__["_state"]

    @_state.setter
    def _state(self, value: int) -> None:
        if value == 1 and engine.TRACKING and self._action is not None:
            sv = _barrier_cycle.sv
            if sv is not None:
                engine.release_merge(sv)
        self.__dict__["_state"] = value

    def wait(self, timeout: Optional[float] = None) -> int:
        tracking = engine.TRACKING
        bc = _barriers.of(self)
        if tracking and bc is not None:
            with bc.lock:
                gen = bc.gen
                sv = bc.svs.get(gen)
                if sv is None:
                    sv = bc.svs[gen] = engine.SyncVar()
                    bc.svs.pop(gen - 2, None)
                engine.release_merge(sv)
                bc.arrived += 1
                if bc.arrived >= self._parties:
                    bc.gen += 1
                    bc.arrived = 0
            _barrier_cycle.sv = sv
        else:
            tracking = False
        blocking.wake(self)
        try:
            with blocking.blocked("Barrier.wait", timeout is None and self._timeout is None, None, self):
                idx = super().wait(timeout)
        except BaseException as e:
            if isinstance(e, threading.BrokenBarrierError) and bc is not None:
                bc.new_cycle()
            _hide(e)
            raise
        if tracking:
            engine.acquire(sv)
        return idx

    def reset(self) -> None:
        bc = _barriers.get(self)
        if bc is not None:
            bc.new_cycle()
        super().reset()


def _factory(name: str, model: type) -> type:
    orig = _orig[name]

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        if _user_caller():
            try:
                return model(*args, **kwargs)
            except BaseException as e:   # threading's own error (Semaphore(-1)), as python shows it
                _hide(e)
                raise
        return orig(*args, **kwargs)

    return _Factory(name, (), {
        "__new__": __new__, "_model": model, "_raw_type": orig, "_original": orig, "_subclassable": True,
        "__doc__": f"``threading.{name}``: a model when user code makes it, else the original.",
        "__module__": "threading",
    })


Condition = _factory("Condition", ModelCondition)
Semaphore = _factory("Semaphore", ModelSemaphore)
BoundedSemaphore = _factory("BoundedSemaphore", ModelBoundedSemaphore)
Event = _factory("Event", ModelEvent)
Barrier = _factory("Barrier", ModelBarrier)

MODEL_TYPES = (ModelLock, ModelRLock, _UserLock, _UserRLock, ModelCondition, ModelSemaphore, ModelEvent, ModelBarrier)

#: The classes threading's names stood for, and their models: what
#: copyreg's reductions below stand in for.
_REDUCED = {cls: (name, i) for name, model in (
    ("Condition", ModelCondition), ("Semaphore", ModelSemaphore),
    ("BoundedSemaphore", ModelBoundedSemaphore), ("Event", ModelEvent), ("Barrier", ModelBarrier))
    for i, cls in enumerate((_orig[name], model))}
_BY_KEY = {key: cls for cls, key in _REDUCED.items()}


def _rebuild(name: str, modelled: int) -> Any:
    """What a reduction below calls: a bare instance, its state set next (``copy.copy``)."""
    cls = _BY_KEY[(name, modelled)]
    return cls.__new__(cls)


def _reduce(obj: Any) -> tuple:
    """Reduce a Condition, Semaphore, Event or Barrier as python does, with threading's names replaced.

    Neither the model nor the original class can be pickled by name while
    ``threading.Event`` is the factory, so pickle would stop on the class
    with a PicklingError; python goes on to the state and stops on the lock
    inside it with a TypeError ("cannot pickle '_thread.lock' object").
    The state is the class's own (its lock comes first), so pickling raises
    that TypeError, and ``copy.copy`` makes an instance of the same class.
    """
    return (_rebuild, _REDUCED[type(obj)], obj.__dict__)

# The models print, and name themselves, as the classes they stand for: a
# program that shows ``repr(event)`` or ``type(sem).__name__`` sees no change.
for _model, _name in ((ModelCondition, "Condition"), (ModelSemaphore, "Semaphore"),
                      (ModelBoundedSemaphore, "BoundedSemaphore"), (ModelEvent, "Event"),
                      (ModelBarrier, "Barrier")):
    _model.__module__ = "threading"
    _model.__name__ = _model.__qualname__ = _name


def install() -> None:
    """Put the factories in place of threading's public names."""
    threading.Lock = Lock  # type: ignore[misc, assignment]
    threading.RLock = RLock  # type: ignore[misc, assignment]
    threading.Condition = Condition  # type: ignore[misc, assignment]
    threading.Semaphore = Semaphore  # type: ignore[misc, assignment]
    threading.BoundedSemaphore = BoundedSemaphore  # type: ignore[misc, assignment]
    threading.Event = Event  # type: ignore[misc, assignment]
    threading.Barrier = Barrier  # type: ignore[misc, assignment]
    _thread.allocate_lock = _thread.allocate = allocate_lock  # type: ignore[attr-defined]
    for t in MODEL_TYPES:
        engine.register_ignored_type(t)
    frames.install()
    for cls in _REDUCED:
        copyreg.pickle(cls, _reduce)


def uninstall() -> None:
    for name, orig in _orig.items():
        setattr(threading, name, orig)
    _thread.allocate_lock = _thread.allocate = _allocate_lock  # type: ignore[attr-defined]
    frames.uninstall()
    for cls in _REDUCED:
        copyreg.dispatch_table.pop(cls, None)
