"""A lock used as a binary semaphore (first reader takes it, last reader releases it)
gives a lock-order inversion that cannot deadlock (readerwriterlock 1.0.10,
fasteners; issue 10 section 4).

    python -m racedet realworld/repro/lock_as_semaphore_order.py

Reader A takes count_lock then resource (first reader); reader B, the last
to leave, releases resource, which A acquired.  racedet keeps resource in
A's held set, so A's later ``with count_lock`` (to leave) records
resource -> count_lock against the count_lock -> resource of entering: a
LOCK-ORDER INVERSION.  No thread ever waits for count_lock while holding
resource, so no deadlock is possible: expected clean.
"""

import threading

resource = threading.Lock()
count_lock = threading.Lock()
readers = [0]


def enter():
    with count_lock:
        readers[0] += 1
        if readers[0] == 1:
            resource.acquire()


def leave():
    with count_lock:
        readers[0] -= 1
        if readers[0] == 0:
            resource.release()


a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()


def reader_a():
    enter()
    a_in.set()
    b_in.wait()
    leave()
    a_out.set()


def reader_b():
    a_in.wait()
    enter()
    b_in.set()
    a_out.wait()
    leave()                      # last reader: releases A's acquisition


ts = [threading.Thread(target=reader_a), threading.Thread(target=reader_b)]
for t in ts:
    t.start()
for t in ts:
    t.join()
with resource:                   # a writer afterwards
    pass
print("ok")
