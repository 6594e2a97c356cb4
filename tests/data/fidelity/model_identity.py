"""What a program sees of threading's primitives: pickling, copying, types, arguments, subclasses."""

import _thread
import copy
import pickle
import threading


class Holder:
    pass


def attempt(label, fn):
    try:
        r = fn()
    except Exception as e:
        print(label, type(e).__name__, e)
    else:
        print(label, "->", r)


for name in ("Event", "Condition", "Semaphore", "BoundedSemaphore", "Barrier", "Lock", "RLock"):
    obj = getattr(threading, name)(*((2,) if name == "Barrier" else ()))
    holder = Holder()
    holder.primitive = obj
    attempt(f"{name} pickle", lambda: pickle.dumps(obj))
    attempt(f"{name} pickle protocol 0", lambda: pickle.dumps(obj, 0))
    attempt(f"{name} holder pickle", lambda: pickle.dumps(holder))
    attempt(f"{name} deepcopy", lambda: copy.deepcopy(holder))
    attempt(f"{name} copy", lambda: type(copy.copy(obj)).__name__)

attempt("Lock is LockType", lambda: isinstance(threading.Lock(), _thread.LockType))
attempt("RLock is _thread.RLock", lambda: isinstance(threading.RLock(), _thread.RLock))
attempt("isinstance threading.Lock", lambda: isinstance(threading.Lock(), threading.Lock))
attempt("isinstance threading.RLock", lambda: isinstance(threading.RLock(), threading.RLock))
attempt("isinstance threading.Event", lambda: isinstance(threading.Event(), threading.Event))

for blocking in ("yes", "", 0.5, None, 2, [], True, False):
    lock, rlock = threading.Lock(), threading.RLock()
    attempt(f"Lock.acquire(blocking={blocking!r})", lambda: (lock.acquire(blocking=blocking), lock.locked()))
    attempt(f"RLock.acquire(blocking={blocking!r})", lambda: rlock.acquire(blocking=blocking))
for timeout in ("1", -2, 1e300, None):
    attempt(f"Lock.acquire(timeout={timeout!r})", lambda: threading.Lock().acquire(timeout=timeout))
    attempt(f"RLock.acquire(timeout={timeout!r})", lambda: threading.RLock().acquire(timeout=timeout))
attempt("Lock.acquire(False, 1)", lambda: threading.Lock().acquire(False, 1))
attempt("Semaphore.acquire(False, 1)", lambda: threading.Semaphore(0).acquire(False, 1))
attempt("Semaphore.acquire(timeout=-1)", lambda: threading.Semaphore(0).acquire(timeout=-1))
attempt("Semaphore.acquire(timeout=0)", lambda: threading.Semaphore(0).acquire(timeout=0))

for base in ("Lock", "RLock"):
    def make(base=base):
        class Sub(getattr(threading, base)):
            pass
        return Sub
    attempt(f"class Sub(threading.{base})", make)


class NoInit(threading.Thread):
    def __init__(self):
        pass


for method in ("start", "join", "is_alive"):
    attempt(f"NoInit().{method}()", lambda: getattr(NoInit(), method)())
