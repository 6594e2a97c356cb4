"""Object churn: millions of short-lived messages built by producers, consumed by other threads.

This is the memory test of shadow state.  Two producers build batches of
small ``Message`` objects (attribute writes), hand each batch over a bounded
``queue.Queue``, and two consumers read and update every message and drop
it.  Only a few batches are alive at any moment, so plain Python's peak RSS
stays flat; a detector that keeps shadow state for dead objects grows with
the total number of objects made.
"""

from __future__ import annotations

import queue
import threading
import time

import _workload

SIZES = {"full": 1_000_000, "quick": 20_000, "tiny": 2_000}  # messages in total
PRODUCERS = 2
CONSUMERS = 2
BATCH = 500
QUEUE_BOUND = 8


class Message:
    def __init__(self, seq: int, sender: int, body: str) -> None:
        self.seq = seq
        self.sender = sender
        self.body = body
        self.size = len(body)
        self.handled_by = -1


class Tally:
    """Per-consumer results, read by the main thread after join."""

    def __init__(self) -> None:
        self.count = 0
        self.total_size = 0
        self.checksum = 0


def producer(pid: int, n: int, out: queue.Queue) -> None:
    batch = []
    for i in range(n):
        batch.append(Message(i, pid, "m%d" % (i & 1023)))
        if len(batch) == BATCH:
            out.put(batch)
            batch = []
    if batch:
        out.put(batch)


def consumer(cid: int, inq: queue.Queue, tally: Tally) -> None:
    while True:
        batch = inq.get()
        if batch is None:
            return
        for msg in batch:
            msg.handled_by = cid
            tally.count += 1
            tally.total_size += msg.size
            tally.checksum = (tally.checksum + msg.seq * (msg.sender + 1)) & 0xFFFFFFFF


def main() -> None:
    args = _workload.parse(__doc__.splitlines()[0], SIZES)
    per_producer = args.size // PRODUCERS
    q: queue.Queue = queue.Queue(QUEUE_BOUND)
    tallies = [Tally() for _ in range(CONSUMERS)]
    producers = [threading.Thread(target=producer, args=(p, per_producer, q))
                 for p in range(PRODUCERS)]
    consumers = [threading.Thread(target=consumer, args=(c, q, tallies[c]))
                 for c in range(CONSUMERS)]
    t0 = time.perf_counter()
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join()
    for _ in consumers:
        q.put(None)
    for t in consumers:
        t.join()
    seconds = time.perf_counter() - t0
    made = per_producer * PRODUCERS
    got = sum(t.count for t in tallies)
    _workload.check(got == made, f"{got} of {made} messages consumed")
    _workload.report(seconds, ops=made)


if __name__ == "__main__":
    main()
