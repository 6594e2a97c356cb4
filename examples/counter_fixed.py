"""The counter of ``racy_counter.py`` with a lock around the increment: no race."""

import threading


class Counter:
    def __init__(self):
        self.value = 0
        self.lock = threading.Lock()

    def incr(self):
        with self.lock:
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
