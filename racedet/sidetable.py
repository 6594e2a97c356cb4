"""What racedet keeps about a program's object, kept beside it, not in it.

A model must not add attributes to the program's objects: ``vars(q)``,
``dir(t)`` and ``q.__dict__ == before`` are the program's to look at
(pebble compares a queue's attributes before and after).  A table maps the
object's identity to racedet's record and forgets it when the object dies
(a weak reference's callback); an object that takes no weak reference gets
none and is not recorded.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Dict, Generic, Optional, Tuple, TypeVar

T = TypeVar("T")


class SideTable(Generic[T]):
    """Records of type ``T`` for live objects, by identity."""

    __slots__ = ("_d", "_make")

    def __init__(self, make: Callable[[], T]) -> None:
        self._d: Dict[int, Tuple["weakref.ref[Any]", T]] = {}
        self._make = make

    def get(self, obj: Any) -> Optional[T]:
        ent = self._d.get(id(obj))
        if ent is not None and ent[0]() is obj:
            return ent[1]
        return None

    def of(self, obj: Any) -> Optional[T]:
        """``obj``'s record, made on first use (None if ``obj`` takes no weak reference)."""
        ent = self._d.get(id(obj))
        if ent is not None and ent[0]() is obj:
            return ent[1]
        return self.put(obj, self._make())

    def put(self, obj: Any, rec: T) -> Optional[T]:
        """Make ``rec`` the record of ``obj`` (one made meanwhile by another thread wins)."""
        key = id(obj)
        d = self._d
        try:
            ref = weakref.ref(obj, lambda r, key=key: d.pop(key) if d.get(key, (None,))[0] is r else None)
        except TypeError:
            return None
        ent = d.setdefault(key, (ref, rec))   # atomic: two threads making one record agree on it
        if ent[0]() is obj:
            return ent[1]
        d[key] = (ref, rec)   # pragma: no cover - a dead object's entry (its callback removes it first)
        return rec
