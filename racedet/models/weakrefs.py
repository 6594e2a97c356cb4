"""Model of ``weakref.finalize``: registering a finalizer -> its callback (Go's ``SetFinalizer`` rule).

``weakref.finalize(obj, func, *args)`` puts the finalizer in a registry of
its class; whoever runs it (the collector, in whichever thread allocates; a
thread that drops the last reference to ``obj``; ``atexit``; an explicit
call) takes it out of that registry first, and calls ``func`` only if it got
it.  As Go orders the call to ``runtime.SetFinalizer`` before the
finalizer, the thread that registered is ordered before the one that takes
the finalizer out: ``func``'s reads of the state handed in ``args`` do not
race with how the registering thread filled it.  What the registering
thread does after registering is ordered by nothing here.

The registry becomes a dict subclass whose store releases a clock and whose
``pop`` acquires it, so ``func`` runs in the standard library's frame, as
under python (no frame of racedet's in a traceback it raises).  Callbacks of
plain weak references are not modelled.
"""

from __future__ import annotations

import weakref
from typing import Any, Dict

from racedet import engine

_finalize = weakref.finalize
_MISSING = object()


class _Registry(dict):
    """``weakref.finalize._registry``: registering releases, taking out acquires."""

    __slots__ = ("clocks",)

    def __init__(self, *items: Any) -> None:
        super().__init__(*items)
        self.clocks: Dict[Any, Any] = {}   # finalizer -> the clock of its registration

    def __setitem__(self, f: Any, info: Any, _engine: Any = engine) -> None:
        if _engine.TRACKING:
            self.clocks[f] = _engine.snapshot()
        dict.__setitem__(self, f, info)

    def pop(self, f: Any, default: Any = _MISSING, _engine: Any = engine) -> Any:
        info = dict.pop(self, f, _MISSING)
        if info is _MISSING:
            if default is _MISSING:
                raise KeyError(f)
            return default
        # Only the thread that took the finalizer out acquires (two may try at once).
        vc = self.clocks.pop(f, None)
        if vc is not None and _engine.TRACKING:
            _engine.acquire_clock(vc)
        return info


def install() -> None:
    reg = _finalize.__dict__.get("_registry")
    if type(reg) is dict:
        _finalize._registry = _Registry(reg)  # type: ignore[attr-defined]


def uninstall() -> None:
    reg = _finalize.__dict__.get("_registry")
    if type(reg) is _Registry:
        _finalize._registry = dict(reg)  # type: ignore[attr-defined]
