"""Model of asyncio's hand-off from threads: ``call_soon_threadsafe`` -> the callback running.

A worker thread that fills in an object and then schedules a callback on
the event loop with ``loop.call_soon_threadsafe(cb)`` has ordered its writes
before ``cb`` (the loop's wake-up pipe and lock do it in CPython).
``asyncio.run_coroutine_threadsafe`` goes through the same call, and
``run_in_executor``/``to_thread`` through concurrent.futures, which is
modelled already.  asyncio is patched when the program imports it, so a
program that does not use it does not pay for importing it.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import sys
from typing import Any, Optional, Sequence

from racedet import engine

_TARGET = "asyncio.base_events"
_orig: dict = {}


def _patch(mod: Any) -> None:
    loop_cls = mod.BaseEventLoop
    if "call_soon_threadsafe" in _orig:
        return
    orig = _orig["call_soon_threadsafe"] = loop_cls.call_soon_threadsafe

    def call_soon_threadsafe(self: Any, callback: Any, *args: Any, context: Any = None) -> Any:
        if engine.TRACKING:
            vc = engine.snapshot()

            @functools.wraps(callback)
            def handed_over(*a: Any) -> Any:
                engine.acquire_clock(vc)
                return callback(*a)

            return orig(self, handed_over, *args, context=context)
        return orig(self, callback, *args, context=context)

    call_soon_threadsafe.__doc__ = orig.__doc__
    loop_cls.call_soon_threadsafe = call_soon_threadsafe


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def create_module(self, spec: Any) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.inner.exec_module(module)
        _patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    """Patches asyncio.base_events right after it is first imported."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None, target: Any = None) -> Any:
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


_finder = _Finder()


def install() -> None:
    mod = sys.modules.get(_TARGET)
    if mod is not None:
        _patch(mod)
    elif _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    orig = _orig.pop("call_soon_threadsafe", None)
    mod = sys.modules.get(_TARGET)
    if orig is not None and mod is not None:
        mod.BaseEventLoop.call_soon_threadsafe = orig
