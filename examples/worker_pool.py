"""A pool of 5 workers handles 50 jobs; a WaitGroup says when they are done.

The Go original::

    func worker(id int, jobs <-chan int, results chan<- int, wg *sync.WaitGroup) {
        defer wg.Done()
        for j := range jobs {
            time.Sleep(10 * time.Millisecond)
            results <- j * 2
        }
    }

    func main() {
        jobs := make(chan int, 50)
        results := make(chan int, 50)
        var wg sync.WaitGroup
        for w := 1; w <= 5; w++ {
            wg.Add(1)
            go worker(w, jobs, results, &wg)
        }
        for j := 1; j <= 50; j++ {
            jobs <- j
        }
        close(jobs)
        wg.Wait()
        close(results)
        sum := 0
        for r := range results {
            sum += r
        }
        fmt.Println("processed 50 jobs, sum of results:", sum)
    }

Clean under ``python -m racedet``.  ``worker_pool_leak.py`` forgets
``close(jobs)``.
"""

import os
import time

import racedet

SCALE = float(os.environ.get("RACEDET_EXAMPLE_SCALE", "1"))
NUM_WORKERS = 5
NUM_JOBS = 50


def worker(id, jobs, results, wg):
    try:
        for j in jobs:                          # until jobs is closed and drained
            time.sleep(0.01 * SCALE)            # the work
            results.send(j * 2)
    finally:
        wg.done()                               # defer wg.Done()


def main():
    jobs = racedet.Chan(NUM_JOBS)
    results = racedet.Chan(NUM_JOBS)
    wg = racedet.WaitGroup()
    for w in range(1, NUM_WORKERS + 1):
        wg.add(1)
        racedet.go(worker, w, jobs, results, wg)
    for j in range(1, NUM_JOBS + 1):
        jobs.send(j)
    jobs.close()                                # no more jobs: the workers' loops end
    wg.wait()
    results.close()
    total = sum(results)
    print(f"processed {NUM_JOBS} jobs, sum of results: {total}")


if __name__ == "__main__":
    main()
