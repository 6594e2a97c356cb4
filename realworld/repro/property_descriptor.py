"""A property whose setter takes a lock, reported as a race on the property's name
(pebble 5.2.3: PoolContext.status; issue 10 section 1).

    python -m racedet realworld/repro/property_descriptor.py

``ctx.status = v`` and ``ctx.status`` call the property's functions; they
are not accesses of an attribute ``status`` (the instance has none).  The
setter writes ``_status`` under ``status_mutex``; the getter reads it
without the lock, which IS a race, reported once at the lines touching
``_status`` (getter line / setter line).  Expected: exactly one report, on
``PoolContext._status``; seen: that one plus reports on
``PoolContext.status`` at the call sites.
"""

import threading


class PoolContext:
    def __init__(self):
        self._status = "created"
        self.status_mutex = threading.RLock()

    @property
    def status(self):
        return self._status          # unlocked read: the true race

    @status.setter
    def status(self, value):
        with self.status_mutex:
            self._status = value


ctx = PoolContext()
started = threading.Event()


def manager():
    started.wait()
    ctx.status = "running"           # call site: not a memory access


t = threading.Thread(target=manager)
t.start()
started.set()
while ctx.status != "running":       # call site: not a memory access
    pass
t.join()
print("ok")
