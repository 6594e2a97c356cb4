"""Locks the standard library made, taken by user code (issue 10 section 2).

    python -m racedet realworld/repro/stdlib_lock_in_user_code.py

1. pykka 4.5.0's test log handler: logging.Handler.__init__ replaces
   ``self.lock`` with a lock of its own; the handler's emit() (called by
   Handler.handle with that lock held) and its reader both use
   ``with self.lock``.  racedet leaves the stdlib's locks unmodelled, so the
   list the two share is reported (``contents of <list>``).
2. pebble 5.2.3's waitforqueues: it stores ``q._pebble_lock`` and then
   swaps ``q._put`` under ``with q.mutex``; the putting thread reads
   ``_pebble_lock`` inside ``_put``, which Queue.put calls with q.mutex
   held.  Reported as ``Queue._pebble_lock``.
Both are ordered by the stdlib's lock: expected clean.
"""

import logging
import queue
import threading
import time


class Collecting(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):          # Handler.handle holds self.lock here
        with self.lock:              # re-entrant: the same stdlib RLock
            self.records.append(record.getMessage())

    def count(self):
        with self.lock:
            return len(self.records)


log = logging.getLogger("repro")
log.propagate = False
h = Collecting()
log.addHandler(h)
t = threading.Thread(target=log.warning, args=("from a thread",))
t.start()
while h.count() == 0:
    pass
t.join()

q = queue.Queue()
items = queue.Queue()


def putter():
    item = items.get()
    time.sleep(0.3)                  # forces the interleaving; creates no edge
    q.put(item)


t = threading.Thread(target=putter)
t.start()
items.put(1)


def notifying_put(self, item):
    with self._pebble_lock:          # read under q.mutex (Queue.put holds it)
        self._pebble_old_put(item)


q._pebble_lock = threading.Lock()    # written before the swap under q.mutex
with q.mutex:
    q._pebble_old_put = q._put
    q._put = notifying_put.__get__(q)
assert q.get() == 1
t.join()
print("ok")
