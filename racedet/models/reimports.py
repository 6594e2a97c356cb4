"""Models follow every copy of a module the program loads.

A module can be executed again into a new module object:
``importlib.reload``, or a fresh copy next to the one in use
(``test.support.import_helper.import_fresh_module``, which CPython's own
tests use).  The copy defines its classes anew, so patches made to the
first copy's classes do not reach it.  A finder first on ``sys.meta_path``
sees each import of a watched name, takes the spec the other finders give,
and has the model patch the module once its code has run.  The module keeps
the loader it would have had (``__loader__``, ``__spec__.loader``): only
the execution goes through here.
"""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Callable, Dict, Optional, Sequence

from racedet import frames

#: Watched module names -> what patches a newly executed copy.
_patchers: Dict[str, Callable[[ModuleType], None]] = {}


class _PatchingLoader:
    """Runs the real loader's ``exec_module``, then the model's patch."""

    def __init__(self, loader: Any, patch: Callable[[ModuleType], None]) -> None:
        self.loader = loader
        self.patch = patch

    def create_module(self, spec: ModuleSpec) -> Optional[ModuleType]:
        spec.loader = self.loader
        try:
            return self.loader.create_module(spec)
        finally:
            spec.loader = self

    def exec_module(self, module: ModuleType) -> None:
        loader = self.loader
        module.__loader__ = loader
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = loader
        try:
            loader.exec_module(module)
        except BaseException as e:
            frames.hide_own(e)
            raise
        self.patch(module)


class _Finder:
    """The finder first on ``sys.meta_path`` while models are installed."""

    @classmethod
    def find_spec(cls, name: str, path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None) -> Optional[ModuleSpec]:
        patch = _patchers.get(name)
        if patch is None:
            return None
        for finder in list(sys.meta_path):
            if finder is cls:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(name, path, target)
            if spec is None:
                continue
            loader = spec.loader
            if loader is None or not hasattr(loader, "exec_module"):
                return spec
            spec.loader = _PatchingLoader(loader, patch)
            return spec
        return None


def watch(name: str, patch: Callable[[ModuleType], None]) -> None:
    """Call ``patch(module)`` after each later execution of module ``name``."""
    _patchers[name] = patch
    if _Finder not in sys.meta_path:
        sys.meta_path.insert(0, _Finder)


def unwatch(name: str) -> None:
    _patchers.pop(name, None)
    if not _patchers:
        try:
            sys.meta_path.remove(_Finder)
        except ValueError:
            pass
