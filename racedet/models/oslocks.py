"""Model of OS file locks between threads of one process: ``fcntl.flock``.

``flock`` locks belong to an open file: two threads that open the same path
separately and ``flock`` it exclude each other, so the lock orders them like
a readers-writer mutex on the file (identified by ``(st_dev, st_ino)``):

* an exclusive unlock -> every later lock of the file;
* a shared unlock -> a later exclusive lock (Go's RWMutex: readers'
  releases reach writers, not other readers).

An unlock is ``LOCK_UN``, a conversion (``flock`` drops the old lock before
taking the new one) or ``os.close`` of the descriptor.  Closing a file
object happens in C, out of racedet's sight: when a lock is then granted
that the holder's lock would have kept out, that holder must have closed its
file, and the new holder acquires that thread's clock as it is now (later
than its close: that can hide a race, never invent one).

``fcntl.lockf`` (POSIX record locks) is deliberately not modelled: those
locks belong to the process, so threads of one process never exclude each
other with them, and ordering them would hide real races.
"""

from __future__ import annotations

import _thread
import os
from typing import Any, Dict, Optional, Tuple

from racedet import engine
from racedet.models import streams

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

_SH = getattr(fcntl, "LOCK_SH", 1)
_EX = getattr(fcntl, "LOCK_EX", 2)
_UN = getattr(fcntl, "LOCK_UN", 8)

_orig_flock = getattr(fcntl, "flock", None)
_os_fstat = os.fstat
_lock = _thread.allocate_lock()   # racedet's own: guards the tables below, never modelled


class FileLock:
    """The happens-before state of one file's ``flock`` lock."""

    __slots__ = ("exclusive", "shared", "holders")

    def __init__(self) -> None:
        self.exclusive = engine.SyncVar()   # exclusive unlocks -> every lock
        self.shared = engine.SyncVar()      # shared unlocks -> exclusive locks
        #: (descriptor, tid of the thread that locked through it) -> mode
        self.holders: Dict[Tuple[int, int], int] = {}

    def __repr__(self) -> str:
        return f"<FileLock holders={len(self.holders)}>"


_files: Dict[Tuple[int, int], FileLock] = {}
#: Descriptors through which a lock is held: os.close of one unlocks.
_held_fds: Dict[int, FileLock] = {}


def _fd_of(f: Any) -> Optional[int]:
    if isinstance(f, int):
        return f
    try:
        fd = f.fileno()
    except Exception:
        return None
    return fd if isinstance(fd, int) else None


def _file_of(fd: int) -> Optional[FileLock]:
    try:
        st = _os_fstat(fd)
    except (OSError, ValueError, OverflowError):
        return None
    key = (st.st_dev, st.st_ino)
    fl = _files.get(key)
    if fl is None:
        with _lock:
            fl = _files.setdefault(key, FileLock())
    return fl


def _unlock(fl: FileLock, fd: int, me: int) -> None:
    """The lock held through ``fd`` is about to go: publish the releaser's clock."""
    with _lock:
        mode = fl.holders.pop((fd, me), None)
    if mode is not None:
        engine.release_merge(fl.exclusive if mode == _EX else fl.shared)


def _locked(fl: FileLock, fd: int, mode: int, me: int) -> None:
    """The calling thread has just been granted ``mode`` on ``fl`` through ``fd``."""
    closed_behind = []
    with _lock:
        for (other, tid), m in list(fl.holders.items()):
            if mode == _EX or m == _EX:
                # That holder's lock is gone without an unlock racedet saw:
                # its file was closed (a file object's close, in C).
                del fl.holders[(other, tid)]
                if tid != me:
                    closed_behind.append(tid)
        fl.holders[(fd, me)] = mode
        _held_fds[fd] = fl
    for tid in closed_behind:
        ts = engine.threads_by_tid.get(tid)
        if ts is not None:
            engine.acquire_clock(ts.final_vc or dict(ts.vc))
    engine.acquire(fl.exclusive)
    if mode == _EX:
        engine.acquire(fl.shared)


def flock(fd: Any, operation: int) -> None:
    if not engine.TRACKING:
        return _orig_flock(fd, operation)  # type: ignore[misc]
    n = _fd_of(fd)
    fl = _file_of(n) if n is not None else None
    if fl is None:
        return _orig_flock(fd, operation)  # type: ignore[misc]
    me = engine.current().tid
    mode = _EX if operation & _EX else _SH if operation & _SH else _UN if operation & _UN else 0
    if mode and (n, me) in fl.holders:
        _unlock(fl, n, me)      # an unlock, or a conversion: flock drops the old lock first
    _orig_flock(fd, operation)  # type: ignore[misc]
    if mode == _EX or mode == _SH:
        _locked(fl, n, mode, me)


def closing(fd: Any) -> None:
    """``os.close(fd)`` is about to run: a lock held through ``fd`` goes with it."""
    if _held_fds and isinstance(fd, int):
        fl = _held_fds.pop(fd, None)
        if fl is not None:
            _unlock(fl, fd, engine.current().tid)


if _orig_flock is not None:
    flock.__doc__ = _orig_flock.__doc__


def install() -> None:
    if fcntl is not None and _orig_flock is not None:
        fcntl.flock = flock  # type: ignore[assignment]
        if closing not in streams.on_close:
            streams.on_close.append(closing)


def uninstall() -> None:
    if fcntl is not None and _orig_flock is not None:
        fcntl.flock = _orig_flock  # type: ignore[assignment]
    if closing in streams.on_close:
        streams.on_close.remove(closing)
    _files.clear()
    _held_fds.clear()
