"""Go's ``sync.WaitGroup``: wait for a collection of goroutines to finish."""

from __future__ import annotations

import _thread
import operator
from typing import List

from racedet import engine
from racedet.sync.chan import _Sleeper, wake_all

__all__ = ["WaitGroup"]

_allocate_lock = _thread.allocate_lock


class WaitGroup:
    """A counter of pending work that ``wait()`` blocks on until it is zero.

    Go: ``sync.WaitGroup``.  The main goroutine calls ``add(n)`` for the
    goroutines it starts, each calls ``done()`` when it finishes, and
    ``wait()`` blocks until all have::

        wg = WaitGroup()
        for job in jobs:
            wg.add(1)
            racedet.go(worker, job, wg)   # worker ends with wg.done()
        wg.wait()

    Every ``done()`` happens before the ``wait()`` it releases: what the
    workers wrote is safe to read after ``wait()`` returns.

    Raises:
        ValueError: ``sync: negative WaitGroup counter`` when ``add``/``done``
            would make the counter negative (Go panics); the counter is
            left unchanged.
    """

    __slots__ = ("_lock", "_count", "_waiters", "_sv", "__weakref__")

    def __init__(self) -> None:
        self._lock = _allocate_lock()
        self._count = 0
        self._waiters: List[_Sleeper] = []
        self._sv = engine.SyncVar()

    def add(self, n: int = 1) -> None:
        """Add ``n`` (which may be negative) to the counter; at zero, release every waiter."""
        n = operator.index(n)
        with self._lock:
            count = self._count + n
            if count < 0:
                raise ValueError("sync: negative WaitGroup counter")
            if n < 0 and engine.TRACKING:
                engine.release_merge(self._sv)  # Synchronize decrements with wait().
            self._count = count
            if count or not self._waiters:
                return
            waiters, self._waiters = self._waiters, []
        wake_all([w for w in waiters if w.claim.acquire(False)])

    def done(self) -> None:
        """Decrement the counter by one: this goroutine's work is finished."""
        self.add(-1)

    def wait(self) -> None:
        """Block until the counter is zero."""
        with self._lock:
            if self._count == 0:
                w = None
            else:
                w = _Sleeper(None)
                self._waiters.append(w)
        if w is not None:
            w.park("WaitGroup.wait")
        if engine.TRACKING:
            engine.acquire(self._sv)

    @property
    def count(self) -> int:
        """The current counter (for diagnostics; Go has no such accessor)."""
        return self._count

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} at {id(self):#x}: count={self._count}, "
            f"{sum(1 for w in self._waiters if not w.claim.locked())} waiting>"
        )
