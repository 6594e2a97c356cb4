"""Patch a standard-library module when the program first imports it, not before.

Importing asyncio or sqlite3 up front would change the program (its start-up
time, its ``sys.modules``); a model of such a module waits for its import: a
meta-path finder hands the real spec on, with a loader that runs the real
one and then the model's ``patch``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any, Callable, Optional, Sequence


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, inner: Any, patch: Callable[[types.ModuleType], None]) -> None:
        self.inner = inner
        self.patch = patch

    def create_module(self, spec: Any) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.inner.exec_module(module)
        self.patch(module)


class OnImport(importlib.abc.MetaPathFinder):
    """Runs ``patch(module)`` once ``target`` is imported (at once if it is already)."""

    def __init__(self, target: str, patch: Callable[[types.ModuleType], None]) -> None:
        self.target = target
        self.patch = patch

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None, target: Any = None) -> Any:
        if fullname != self.target:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader, self.patch)
        return spec

    def install(self) -> None:
        mod = sys.modules.get(self.target)
        if mod is not None:
            self.patch(mod)
        elif self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def remove(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
