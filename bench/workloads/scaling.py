"""Scaling: the same per-thread work with T threads over L distinct shared locations.

Each thread performs ``size`` locked updates (``cell.value += 1``,
``cell.last = tid``) on cells picked pseudo-randomly from L shared objects,
guarded by 64 striped locks.  The main thread creates and initialises every
cell before the threads start, so all L locations exist in shadow state.
The runner runs this at 2, 8 and 32 threads (vector-clock width) and at
10^3, 10^5 and 10^6 locations (shadow-table size); a detector with O(1)
accesses keeps the cost per operation flat across both.
"""

from __future__ import annotations

import argparse
import threading
import time

import _workload

SIZES = {"full": 50_000, "quick": 300, "tiny": 100}  # updates per thread
STRIPES = 64


class Cell:
    __slots__ = ("value", "last")

    def __init__(self) -> None:
        self.value = 0
        self.last = -1


def work(tid: int, n: int, cells: list, locks: list, start: threading.Barrier) -> None:
    size = len(cells)
    x = 2_654_435_761 * (tid + 1) & 0x7FFFFFFF
    start.wait()
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        i = x % size
        with locks[i % STRIPES]:
            cell = cells[i]
            cell.value += 1
            cell.last = tid


def extra_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--locations", type=lambda s: int(float(s)), default=1000,
                   help="distinct shared cells (1e5 accepted)")


def main() -> None:
    args = _workload.parse(__doc__.splitlines()[0], SIZES, extra=extra_options)
    cells = [Cell() for _ in range(args.locations)]
    locks = [threading.Lock() for _ in range(STRIPES)]
    start = threading.Barrier(args.threads + 1)
    threads = [threading.Thread(target=work, args=(t, args.size, cells, locks, start))
               for t in range(args.threads)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    ops = args.threads * args.size
    total = sum(c.value for c in cells)
    _workload.check(total == ops, f"lost updates: {total} of {ops}")
    _workload.report(seconds, ops=ops, threads=args.threads, locations=args.locations)


if __name__ == "__main__":
    main()
