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
import sys
from typing import Any

from racedet import engine
from racedet.models.onimport import OnImport

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


#: Patches asyncio.base_events right after it is first imported.
_finder = OnImport(_TARGET, _patch)


def install() -> None:
    _finder.install()


def uninstall() -> None:
    _finder.remove()
    orig = _orig.pop("call_soon_threadsafe", None)
    mod = sys.modules.get(_TARGET)
    if orig is not None and mod is not None:
        mod.BaseEventLoop.call_soon_threadsafe = orig
