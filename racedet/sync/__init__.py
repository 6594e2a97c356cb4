"""Go's concurrency primitives on OS threads, annotated for the race detector.

``go``, ``Chan``, ``select`` with ``recv``/``send`` cases, ``after``,
``WaitGroup`` and contexts, with Go's semantics and the happens-before edges
of the Go memory model.  ``import racedet`` re-exports all of them; under
plain ``python`` they record nothing and cost no more than their locks.
"""

from __future__ import annotations

from racedet.sync.chan import Chan, ChanStatistics
from racedet.sync.context import Context, background, with_cancel, with_timeout
from racedet.sync.errors import Canceled, ChannelClosed, DeadlineExceeded
from racedet.sync.goroutine import Goroutine, go
from racedet.sync.select import Case, Selected, after, recv, select, send
from racedet.sync.waitgroup import WaitGroup

__all__ = [
    "Canceled", "Case", "Chan", "ChanStatistics", "ChannelClosed", "Context",
    "DeadlineExceeded", "Goroutine", "Selected", "WaitGroup", "after", "background",
    "go", "recv", "select", "send", "with_cancel", "with_timeout",
]
