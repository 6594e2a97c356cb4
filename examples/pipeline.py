"""A producer/consumer pipeline over queue.Queue: three stages, a sentinel to stop each.

Correctly synchronized: each item is handed from stage to stage through a
queue, so racedet reports nothing.
"""

import queue
import threading

STOP = object()


class Record:
    def __init__(self, n):
        self.n = n
        self.squared = None
        self.label = None


def produce(out, count):
    for i in range(count):
        out.put(Record(i))
    out.put(STOP)


def square(inp, out):
    while (rec := inp.get()) is not STOP:
        rec.squared = rec.n * rec.n
        out.put(rec)
    out.put(STOP)


def label(inp, results, totals):
    while (rec := inp.get()) is not STOP:
        rec.label = f"{rec.n}^2={rec.squared}"
        results.append(rec.label)
        totals["sum"] = totals.get("sum", 0) + rec.squared


def main():
    q1, q2 = queue.Queue(maxsize=8), queue.Queue(maxsize=8)
    results, totals = [], {}
    stages = [
        threading.Thread(target=produce, args=(q1, 200), name="producer"),
        threading.Thread(target=square, args=(q1, q2), name="squarer"),
        threading.Thread(target=label, args=(q2, results, totals), name="labeller"),
    ]
    for t in stages:
        t.start()
    for t in stages:
        t.join()
    print(len(results), "records, sum of squares", totals["sum"])


if __name__ == "__main__":
    main()
