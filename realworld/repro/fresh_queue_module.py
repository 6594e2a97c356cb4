"""A second copy of the queue module is not modelled (CPython's test_queue:
CLifoQueueTest/PyLifoQueueTest.queue_join_test, ``cum`` lines 161/174).

    python -m racedet realworld/repro/fresh_queue_module.py   # reports Total.cum

test_queue runs every test on fresh copies of the module
(test.support.import_helper.import_fresh_module('queue', ...)).  racedet
models the classes of the ``queue`` module it patched, so a copy's
``task_done() -> join()`` gives no edge, and a worker's update made before
task_done() is reported against the reader after join().  The same holds
for importlib.reload(queue).  Expected clean.
"""

import threading

from test.support import import_helper

fresh_queue = import_helper.import_fresh_module("queue", fresh=["_queue"])


class Total:
    pass


total = Total()
total.cum = 0
lock = threading.Lock()
q = fresh_queue.LifoQueue()


def worker():
    while True:
        x = q.get()
        if x < 0:
            q.task_done()
            return
        with lock:
            total.cum += x
        q.task_done()


t = threading.Thread(target=worker)
t.start()
for i in range(100):
    q.put(i)
q.join()
assert total.cum == sum(range(100))   # after join(): ordered by task_done()
q.put(-1)
t.join()
print("ok")
