"""A buffered channel holds values without a receiver, up to its capacity.

The Go original::

    ch := make(chan int, 3)
    ch <- 1
    ch <- 2
    ch <- 3
    // ch <- 4 would block: no receiver, buffer full
    fmt.Println(len(ch), cap(ch))
    fmt.Println(<-ch, <-ch, <-ch)

Clean under ``python -m racedet``.  Uncomment the fourth send and racedet
stops the program as Go does: ``fatal error: all goroutines are asleep -
deadlock!``, exit status 2 (plain ``python`` would hang forever).
"""

import racedet


def main():
    ch = racedet.Chan(3)
    ch.send(1)
    ch.send(2)
    ch.send(3)
    # ch.send(4)       # would block: the buffer is full and nobody receives
    print(f"buffered {len(ch)} of {ch.cap}")
    print(ch.recv(), ch.recv(), ch.recv())


if __name__ == "__main__":
    main()
