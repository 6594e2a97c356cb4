"""A goroutine simulates a 2-second API call and sends the result on a channel.

The Go original::

    func fetchUserData(ch chan string) {
        time.Sleep(2 * time.Second)
        ch <- "User data: {id: 1, name: 'Alice'}"
    }

    func main() {
        ch := make(chan string)
        go fetchUserData(ch)
        fmt.Println("Waiting for API response...")
        fmt.Println(<-ch)
    }

``python examples/fetch_user_data.py`` runs it; ``python -m racedet
examples/fetch_user_data.py`` finds nothing to report (exit status 0).
RACEDET_EXAMPLE_SCALE=0.05 makes the call 20 times shorter.
"""

import os
import time

import racedet

SCALE = float(os.environ.get("RACEDET_EXAMPLE_SCALE", "1"))


def fetch_user_data(ch):
    time.sleep(2 * SCALE)                       # the API call
    ch.send("User data: {id: 1, name: 'Alice'}")


def main():
    ch = racedet.Chan()
    racedet.go(fetch_user_data, ch)
    print("Waiting for API response...")
    print(ch.recv())                            # blocks until the goroutine sends


if __name__ == "__main__":
    main()
