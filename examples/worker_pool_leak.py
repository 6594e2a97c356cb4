"""``worker_pool.py`` without ``close(jobs)``: five goroutines leak.

Nobody closes ``jobs``, so the workers' ``for j in jobs`` loops never end
and ``wg.wait()`` would never return (Go: "all goroutines are asleep -
deadlock!").  This version counts the results instead of waiting, so it
prints the right answer and exits, with the five workers still blocked on
``jobs``.  ``python -m racedet examples/worker_pool_leak.py`` reports each
one::

    WARNING: LEAK
    Thread goroutine-1 still blocked in Chan.recv at exit:
      File ".../worker_pool_leak.py", line .., in worker

The fix is the missing ``jobs.close()`` (see ``worker_pool.py``).
"""

import os
import time

import racedet

SCALE = float(os.environ.get("RACEDET_EXAMPLE_SCALE", "1"))
NUM_WORKERS = 5
NUM_JOBS = 50


def worker(id, jobs, results, wg):
    try:
        for j in jobs:                          # never ends: jobs is never closed
            time.sleep(0.01 * SCALE)            # the work
            results.send(j * 2)
    finally:
        wg.done()


def main():
    jobs = racedet.Chan(NUM_JOBS)
    results = racedet.Chan(NUM_JOBS)
    wg = racedet.WaitGroup()
    for w in range(1, NUM_WORKERS + 1):
        wg.add(1)
        racedet.go(worker, w, jobs, results, wg)
    for j in range(1, NUM_JOBS + 1):
        jobs.send(j)
    # Forgot: jobs.close()
    total = sum(results.recv() for _ in range(NUM_JOBS))
    print(f"processed {NUM_JOBS} jobs, sum of results: {total}")


if __name__ == "__main__":
    main()
