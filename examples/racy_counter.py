"""A counter incremented by two threads without a lock: a data race.

Run it with ``python -m racedet examples/racy_counter.py``; the fixed version
is ``counter_fixed.py``.
"""

import threading


class Counter:
    def __init__(self):
        self.value = 0

    def incr(self):
        self.value += 1


def worker(counter, n):
    for _ in range(n):
        counter.incr()


def main():
    counter = Counter()
    threads = [threading.Thread(target=worker, args=(counter, 1000), name=f"worker-{i + 1}")
               for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("final value:", counter.value)


if __name__ == "__main__":
    main()
