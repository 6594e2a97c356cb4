"""A finalizer run by the cyclic garbage collector in another thread.

    python -m racedet realworld/repro/finalizer_in_other_thread.py

Seen in filelock 3.16.1 (``test_thrashing_with_thread_pool_lock_recreated_in_each_thread``,
new at 6ba4021): each pool thread makes its own ``FileLock``, whose
``__init__`` writes ``self._context``; a dropped lock that sits in a
reference cycle is finalized later by the collector, in whichever thread
allocates at that moment, and its ``__del__`` -> ``release()`` reads
``self._context``.  The object was unreachable before the collector ran,
so its last use by the creating thread happens before its finalizer;
racedet sees no edge and reports ``UnixFileLock._context``.  Here thread
``maker`` makes such an object and drops it; the main thread collects it
after ``maker`` finished (the sleep forces that order and gives no edge).
Expected clean.
"""

import gc
import threading
import time

seen = []


class Resource:
    def __init__(self):
        self.context = "open"            # written by the creating thread
        self.me = self                   # a cycle: only the collector frees it

    def __del__(self):
        seen.append(self.context)        # read by whichever thread collects


def maker():
    Resource()                           # dropped at once, freed only by gc


gc.disable()                             # no automatic collection in maker
t = threading.Thread(target=maker)
t.start()
time.sleep(0.3)                          # maker is done; creates no edge
gc.collect()                             # the finalizer runs in this thread
gc.enable()
assert seen == ["open"], seen
t.join()
print("ok")
