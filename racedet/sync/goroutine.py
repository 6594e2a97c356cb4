"""``go fn(args)``: start a function in a new daemon thread named ``goroutine-N``."""

from __future__ import annotations

import _thread
import threading
from typing import Any, Callable, Optional

__all__ = ["Goroutine", "go"]

_counter_lock = _thread.allocate_lock()
_counter = 0


def _next_name() -> str:
    global _counter
    with _counter_lock:
        _counter += 1
        return f"goroutine-{_counter}"


class Goroutine:
    """A handle on a goroutine started by :func:`go`.

    Go has no such handle (goroutines are anonymous); this one exists so
    that tests and shutdown code can ``join()``.  Prefer a
    :class:`racedet.WaitGroup` or a channel to wait for goroutines, as in Go.
    """

    __slots__ = ("_thread",)

    def __init__(self, thread: threading.Thread) -> None:
        self._thread = thread

    @property
    def name(self) -> str:
        """``goroutine-N``, N counting from 1 in the order goroutines were started."""
        return self._thread.name

    @property
    def ident(self) -> Optional[int]:
        """The thread identifier (``threading.get_ident()`` inside the goroutine)."""
        return self._thread.ident

    @property
    def thread(self) -> threading.Thread:
        """The underlying :class:`threading.Thread`."""
        return self._thread

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait until the goroutine ends, or for ``timeout`` seconds (then see ``is_alive()``)."""
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        """True until the goroutine's function has returned or raised."""
        return self._thread.is_alive()

    def __repr__(self) -> str:
        state = "running" if self._thread.is_alive() else "finished"
        return f"<Goroutine {self.name} ({state})>"


def go(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Goroutine:
    """Run ``fn(*args, **kwargs)`` in a new goroutine (Go: ``go fn(args)``).

    A goroutine is a daemon :class:`threading.Thread` named ``goroutine-N``:
    the program does not wait for it at exit, as Go does not.  An exception
    that escapes ``fn`` is printed by :func:`threading.excepthook`, like any
    thread's, and ends only that goroutine.

    Each goroutine is an OS thread with its own stack: to run thousands at
    once, lower the stack size first, e.g. ``threading.stack_size(256 * 1024)``.
    """
    t = threading.Thread(target=fn, args=args, kwargs=kwargs, name=_next_name(), daemon=True)
    t.start()
    return Goroutine(t)
