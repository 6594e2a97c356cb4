"""The exceptions of racedet's Go-style primitives."""

from __future__ import annotations

__all__ = ["ChannelClosed", "Canceled", "DeadlineExceeded"]


class ChannelClosed(RuntimeError):
    """Raised by a send on a closed channel and by a second ``close()``.

    Go panics in both cases (``send on closed channel``, ``close of closed
    channel``); a sender that is blocked when the channel is closed raises it
    too, as a blocked Go sender panics.
    """


class Canceled(Exception):
    """The ``err()`` of a context that was cancelled by its ``cancel`` function.

    Go: ``context.Canceled``.  Compare with ``isinstance(ctx.err(), Canceled)``.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or ("context canceled",)))


class DeadlineExceeded(TimeoutError):
    """The ``err()`` of a context whose timeout expired.

    Go: ``context.DeadlineExceeded``.  It is a :class:`TimeoutError`, so
    ``except TimeoutError`` catches it when a worker raises ``ctx.err()``.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or ("context deadline exceeded",)))
