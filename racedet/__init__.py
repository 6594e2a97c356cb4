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
# Imported on first use (PEP 562), so ``python -m racedet`` does not pay for
# them unless the program uses them.
__all__ = [
    "Canceled", "Chan", "ChannelClosed", "Context", "DeadlineExceeded", "Goroutine",
    "Selected", "WaitGroup", "after", "background", "go", "recv", "select", "send",
    "with_cancel", "with_timeout",
]


def __getattr__(name: str) -> object:
    if name in __all__:
        from racedet import sync

        return getattr(sync, name)
    raise AttributeError(f"module 'racedet' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(list(globals()) + __all__)
# --- end Go primitives ---
