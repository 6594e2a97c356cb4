"""Attributes racedet adds to the program's objects (issue 11 section 2).

    python realworld/repro/injected_attributes.py             # no new names
    python -m racedet realworld/repro/injected_attributes.py  # lists them

pebble 5.2.3's test_waitforqueues_restore compares dir(queue) before and
after waitforqueues(): under racedet the queue has ``_rd_clocks``.  The
same for Thread objects (``_racedet_ts``, ...).  The program's objects must
look exactly as under python.
"""

import queue
import threading

def foreign(obj):
    return sorted(n for n in vars(obj) if "racedet" in n or n.startswith("_rd"))


q = queue.Queue()
q.put(1)
q.get()
print("Queue:", foreign(q))
t = threading.Thread(target=lambda: None)
t.start()
t.join()
print("Thread:", foreign(t))
