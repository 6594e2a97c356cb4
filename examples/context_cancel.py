"""Workers stop when their context's deadline passes.

The Go original::

    func worker(ctx context.Context, id int, wg *sync.WaitGroup) {
        defer wg.Done()
        for {
            select {
            case <-ctx.Done():
                fmt.Printf("Worker %d stopping: %v\n", id, ctx.Err())
                return
            case <-time.After(500 * time.Millisecond):
                fmt.Printf("Worker %d working...\n", id)
            }
        }
    }

    func main() {
        ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
        defer cancel()
        var wg sync.WaitGroup
        for i := 1; i <= 3; i++ {
            wg.Add(1)
            go worker(ctx, i, &wg)
        }
        wg.Wait()
        fmt.Println("All workers stopped")
    }

Clean under ``python -m racedet``.  RACEDET_EXAMPLE_SCALE=0.05 makes every
delay 20 times shorter.
"""

import os
import sys

import racedet

SCALE = float(os.environ.get("RACEDET_EXAMPLE_SCALE", "1"))


def say(line):
    # One write per line, like fmt.Printf: print() writes the text and the
    # newline separately, so lines of concurrent goroutines could merge.
    sys.stdout.write(line + "\n")


def worker(ctx, id, wg):
    try:
        while True:
            tick = racedet.after(0.5 * SCALE)
            i, _, _ = racedet.select(racedet.recv(ctx.done()), racedet.recv(tick))
            if i == 0:
                say(f"Worker {id} stopping: {ctx.err()}")
                return
            say(f"Worker {id} working...")
    finally:
        wg.done()


def main():
    ctx, cancel = racedet.with_timeout(racedet.background(), 2 * SCALE)
    try:
        wg = racedet.WaitGroup()
        for i in range(1, 4):
            wg.add(1)
            racedet.go(worker, ctx, i, wg)
        wg.wait()
        say("All workers stopped")
    finally:
        cancel()


if __name__ == "__main__":
    main()
