"""dir() and vars() of modelled primitives are python's, after they have been used.

The models keep their clocks beside the program's objects (racedet.sidetable),
never in them: pebble's test_waitforqueues_restore compares dir(queue) before
and after taking q.mutex itself.
"""
import logging
import queue
import threading


def names(o):
    return sorted(dir(o)), sorted(vars(o)) if hasattr(o, "__dict__") else None


worker = threading.Thread(target=lambda: None)
worker.start()
worker.join()

q = queue.Queue(maxsize=2)
before = names(q)
with q.mutex:
    pass
q.put(1)
q.get()
q.task_done()
q.join()
print("Queue", names(q) == before, before)

for cls in (queue.LifoQueue, queue.PriorityQueue):
    o = cls()
    o.put(1)
    o.get()
    print(cls.__name__, names(o))

s = queue.SimpleQueue()
s.put(1)
s.get()
try:
    s.get(timeout=0.001)
except queue.Empty:
    pass
print("SimpleQueue", names(s))

h = logging.Handler()
with h.lock:
    pass
print("Handler", names(h))

e = threading.Event()
e.set()
e.wait()
e.is_set()
print("Event", names(e))

for cls in (threading.Semaphore, threading.BoundedSemaphore):
    o = cls(2)
    o.acquire()
    o.release()
    print(cls.__name__, names(o))

b = threading.Barrier(1)
b.wait()
b.reset()
print("Barrier", names(b))

c = threading.Condition()
with c:
    c.notify_all()
print("Condition", names(c))
print("Thread", names(worker))
