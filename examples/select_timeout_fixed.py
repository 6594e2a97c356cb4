"""``select_timeout.py`` without the leak: the result channel has room for one value.

The Go fix is one character: ``result := make(chan string, 1)``.  The late
sender's value goes into the buffer, the goroutine returns, and ``python -m
racedet examples/select_timeout_fixed.py`` reports nothing (exit status 0).
"""

import os
import time

import racedet

SCALE = float(os.environ.get("RACEDET_EXAMPLE_SCALE", "1"))


def fetch(result):
    time.sleep(5 * SCALE)                       # slower than the timeout
    result.send("Data received")                # completes into the buffer


def do_other_work():
    time.sleep(4 * SCALE)                       # the program goes on serving


def main():
    result = racedet.Chan(1)                    # the fix: room for the late value
    racedet.go(fetch, result)
    i, res, _ = racedet.select(racedet.recv(result), racedet.recv(racedet.after(3 * SCALE)))
    if i == 0:
        print(res)
    else:
        print("Error: The request timed out after 3 seconds.")
    do_other_work()


if __name__ == "__main__":
    main()
