"""10,000 goroutines blocked on one channel, then released at once by closing it.

Go programs park thousands of goroutines on a channel (a start gate, a
shutdown signal); with OS threads each one costs a stack and the detector's
per-thread state (vector clock, shadow of its accesses).  Every goroutine
checks in on a WaitGroup and blocks in ``gate.recv()``; when all have
checked in, the main thread closes ``gate`` and waits for all of them to
finish.  Stacks are set to 256 KiB, as a server with many threads would.
"""

from __future__ import annotations

import threading
import time

import _workload

SIZES = {"full": 10_000, "quick": 1_000, "tiny": 50}  # goroutines
STACK = 256 * 1024


class Board:
    """What the goroutines report back; each writes only its own slot."""

    def __init__(self, n: int) -> None:
        self.released = [False] * n


def main() -> None:
    args = _workload.parse(__doc__.splitlines()[0], SIZES)
    racedet = _workload.go_primitives()
    threading.stack_size(STACK)
    n = args.size
    gate = racedet.Chan()
    ready = racedet.WaitGroup()
    finished = racedet.WaitGroup()
    board = Board(n)

    def parked(i: int) -> None:
        ready.done()
        _, ok = gate.recv_ok()  # blocks until close(gate)
        board.released[i] = not ok
        finished.done()

    t0 = time.perf_counter()
    ready.add(n)
    finished.add(n)
    for i in range(n):
        racedet.go(parked, i)
    ready.wait()
    t1 = time.perf_counter()
    gate.close()
    finished.wait()
    t2 = time.perf_counter()
    _workload.check(all(board.released), "a goroutine was not released by close")
    _workload.report(t2 - t0, ops=n, spawn_seconds=round(t1 - t0, 6),
                     release_seconds=round(t2 - t1, 6))


if __name__ == "__main__":
    main()
