"""Model of ``functools.cached_property`` where it has a lock (up to 3.11): the computation -> every return of its value.

Up to 3.11 the property computes the value under a lock of its own; a
second caller waits on that lock and then finds the value, and a later
caller finds it in the instance's ``__dict__``.  As for Go's ``sync.Once``,
the computation happens before every get that returns its value: the
computing thread releases a clock (per property and instance) before the
lock is released, and every get acquires it.

3.12 removed the lock (``env.PYBEHAVIOR.cached_property_lock``): nothing
is modelled there, so concurrent first calls, which both run the function,
race as they would under Go's rules.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any, Optional

from racedet import engine, env
from racedet.sidetable import SideTable

_cached_property = functools.cached_property
_orig_get = _cached_property.__get__


#: Per property: id(instance) -> (weak reference to it, its value's clock).  Beside the
#: property, not in its ``__dict__`` (``vars(prop)`` is python's).
_prop_svs: SideTable[dict] = SideTable(dict)


def _sv(prop: Any, instance: Any, create: bool) -> Optional[engine.SyncVar]:
    """The clock of ``prop``'s value on ``instance`` (kept beside the property, keyed by the instance)."""
    svs = _prop_svs.of(prop) if create else _prop_svs.get(prop)
    if svs is None:
        return None
    key = id(instance)
    ent = svs.get(key)
    if ent is not None and (ent[0] is None or ent[0]() is instance):
        return ent[1]
    if not create:
        return None
    try:   # the entry goes with the instance, before its address can be reused
        ref: Optional[weakref.ref] = weakref.ref(instance, lambda r, svs=svs, key=key: svs.pop(key, None))
    except TypeError:
        ref = None
    sv = engine.SyncVar()
    svs[key] = (ref, sv)
    return sv


def __get__(self: Any, instance: Any, owner: Optional[type] = None) -> Any:
    if instance is None or not engine.TRACKING:
        return _orig_get(self, instance, owner)
    name = self.attrname
    cache = getattr(instance, "__dict__", None)
    lock = self.__dict__.get("lock")
    if name is None or type(cache) is not dict or lock is None:
        return _orig_get(self, instance, owner)   # the original raises, or caches elsewhere
    if name not in cache:
        with lock:   # the property's own RLock: the original takes it again
            computing = name not in cache
            val = _orig_get(self, instance, owner)
            if computing and name in cache:
                engine.release_merge(_sv(self, instance, True))  # type: ignore[arg-type]
    else:
        val = _orig_get(self, instance, owner)
    sv = _sv(self, instance, False)
    if sv is not None:
        engine.acquire(sv)
    return val


def install() -> None:
    if env.PYBEHAVIOR.cached_property_lock:
        _cached_property.__get__ = __get__  # type: ignore[method-assign]


def uninstall() -> None:
    _cached_property.__get__ = _orig_get  # type: ignore[method-assign]
