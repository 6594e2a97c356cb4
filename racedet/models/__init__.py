"""Synchronization models of the standard library: threading, queue, concurrent.futures, asyncio, logging, functools, weakref.

``install()`` patches them in place (before user code imports them);
``uninstall()`` restores the originals (the pytest plugin does, at the end).
"""

from __future__ import annotations

from racedet.models import aio, funcs, futures, locks, logs, oslocks, queues, sqlite, streams, threads, tls, weakrefs

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    locks.install()
    threads.install()
    queues.install()
    futures.install()
    aio.install()
    streams.install()
    tls.install()
    oslocks.install()
    sqlite.install()
    logs.install()
    funcs.install()
    weakrefs.install()
    _installed = True


def uninstall() -> None:
    global _installed
    if not _installed:
        return
    weakrefs.uninstall()
    sqlite.uninstall()
    oslocks.uninstall()
    tls.uninstall()
    streams.uninstall()
    funcs.uninstall()
    logs.uninstall()
    aio.uninstall()
    futures.uninstall()
    queues.uninstall()
    threads.uninstall()
    locks.uninstall()
    _installed = False
