"""racedet: Go's race detector for Python, and Go's concurrency toolkit.

``python -m racedet app.py`` runs a threaded program under a happens-before
data race detector (vector clocks, FastTrack epochs) and reports unordered
conflicting accesses, threads leaked at exit and global deadlocks, in Go's
format.  ``pytest --race`` does the same per test.  This package also
provides goroutines, channels, select, WaitGroup and contexts, which the
detector understands as Go's memory model says.
"""

__version__ = "0.1.0"

# --- Go primitives (racedet.sync) ---
from racedet.sync import (  # noqa: E402
    Canceled, Chan, ChannelClosed, Context, DeadlineExceeded, Goroutine, Selected, WaitGroup,
    after, background, go, recv, select, send, with_cancel, with_timeout,
)

__all__ = [
    "Canceled", "Chan", "ChannelClosed", "Context", "DeadlineExceeded", "Goroutine",
    "Selected", "WaitGroup", "after", "background", "go", "recv", "select", "send",
    "with_cancel", "with_timeout",
]
# --- end Go primitives ---
