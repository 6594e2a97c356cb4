"""Worker pool over racedet channels: 5 workers, many jobs, a WaitGroup closing the results channel.

The canonical Go pattern (``jobs``/``results`` channels, ``range`` over a
channel, ``wg.Wait(); close(results)`` in its own goroutine) written with
``racedet.go``, ``racedet.Chan`` and ``racedet.WaitGroup``.  Jobs are small
dicts filled by the sender and completed by a worker, so every hand-off
relies on the channel's happens-before edge.
"""

from __future__ import annotations

import time

import _workload

SIZES = {"full": 40_000, "quick": 1_000, "tiny": 100}  # jobs
WORKERS = 5
BUFFER = 64


def checksum(payload: list) -> int:
    h = 0
    for x in payload:
        h = (h * 31 + x) & 0xFFFFFFFF
    return h


def worker(wid: int, jobs, results) -> None:
    for job in jobs:
        job["sum"] = checksum(job["payload"])
        job["worker"] = wid
        results.send(job)


def main() -> None:
    args = _workload.parse(__doc__.splitlines()[0], SIZES)
    racedet = _workload.go_primitives()
    n = args.size
    t0 = time.perf_counter()
    jobs = racedet.Chan(BUFFER)
    results = racedet.Chan(BUFFER)
    wg = racedet.WaitGroup()

    def feed() -> None:
        for i in range(n):
            jobs.send({"id": i, "payload": [(i + k) % 251 for k in range(16)]})
        jobs.close()

    def close_when_done() -> None:
        wg.wait()
        results.close()

    for w in range(WORKERS):
        wg.add(1)

        def run(w=w) -> None:
            try:
                worker(w, jobs, results)
            finally:
                wg.done()

        racedet.go(run)
    racedet.go(feed)
    racedet.go(close_when_done)
    seen = 0
    per_worker = [0] * WORKERS
    for job in results:
        seen += 1
        per_worker[job["worker"]] += 1
        _workload.check(job["sum"] == checksum(job["payload"]), f"job {job['id']} checksum")
    seconds = time.perf_counter() - t0
    _workload.check(seen == n, f"{seen} of {n} results")
    _workload.report(seconds, ops=n, per_worker=per_worker)


if __name__ == "__main__":
    main()
