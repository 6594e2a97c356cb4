"""select between a result channel and a timeout, with a goroutine leak.

The Go original::

    func main() {
        result := make(chan string)
        go func() {
            time.Sleep(5 * time.Second)    // the slow request
            result <- "Data received"
        }()
        select {
        case res := <-result:
            fmt.Println(res)
        case <-time.After(3 * time.Second):
            fmt.Println("Error: The request timed out after 3 seconds.")
        }
        doOtherWork()
    }

When the request is slower than the timeout, nobody ever receives from
``result``: the late sender blocks in ``send`` forever.  In a server that
keeps running, one goroutine leaks per timed-out request.  ``python -m
racedet examples/select_timeout.py`` reports it at exit::

    WARNING: LEAK
    Thread goroutine-1 still blocked in Chan.send at exit:

The fix (``select_timeout_fixed.py``) gives the result channel room for one
value, so the late send completes and the goroutine ends.
RACEDET_EXAMPLE_SCALE=0.2 makes every delay 5 times shorter.
"""

import os
import time

import racedet

SCALE = float(os.environ.get("RACEDET_EXAMPLE_SCALE", "1"))


def fetch(result):
    time.sleep(5 * SCALE)                       # slower than the timeout
    result.send("Data received")                # blocks forever: nobody receives


def do_other_work():
    time.sleep(4 * SCALE)                       # the program goes on serving


def main():
    result = racedet.Chan()                     # unbuffered: the bug
    racedet.go(fetch, result)
    i, res, _ = racedet.select(racedet.recv(result), racedet.recv(racedet.after(3 * SCALE)))
    if i == 0:
        print(res)
    else:
        print("Error: The request timed out after 3 seconds.")
    do_other_work()


if __name__ == "__main__":
    main()
