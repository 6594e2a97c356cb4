"""The class of a Lock or RLock, its construction and subclassing, and acquire's argument errors.

Printed the same under python and racedet on every version (3.13: the lock
type can be called to make a lock; before, it cannot be instantiated).
"""

import _thread
import sys
import threading
import traceback


def attempt(label, fn):
    try:
        print(label, "->", fn(), file=sys.stderr)
    except Exception as e:
        frames = [f.name for f in traceback.extract_tb(e.__traceback__)]
        print(label, type(e).__name__, e, frames, file=sys.stderr)


lock, rlock = threading.Lock(), threading.RLock()
for obj in (lock, rlock):
    cls = type(obj)
    attempt("class", lambda: (cls.__name__, cls.__qualname__, cls.__module__))
    attempt("class repr", lambda: repr(cls))
    attempt("isinstance LockType", lambda: isinstance(obj, _thread.LockType))
    attempt("isinstance _thread.RLock", lambda: isinstance(obj, _thread.RLock))
    attempt("instantiate", lambda: repr(cls()))
    attempt("instantiate with an argument", lambda: repr(cls(1)))

    def subclass():
        class Sub(cls):
            pass
        made = Sub()
        return type(made).__name__, made.acquire(), made.locked() if hasattr(made, "locked") else None

    attempt("subclass", subclass)

CALLS = [((), {"blocking": "yes"}), ((False, 1), {}), ((True, -2), {}), ((), {"timeout": "x"}),
         ((1, 2, 3), {}), ((), {"foo": 1}), ((0,), {}), ((), {"blocking": 1, "timeout": 0.0}),
         ((True,), {"blocking": True})]
for args, kwargs in CALLS:
    for name, obj in (("Lock", lock), ("RLock", rlock)):
        def call():
            got = obj.acquire(*args, **kwargs)
            if got:
                obj.release()
            return got
        attempt(f"{name}.acquire(*{args!r}, **{kwargs!r})", call)

attempt("release unlocked Lock", lambda: lock.release())
attempt("release un-acquired RLock", lambda: rlock.release())
with rlock:
    with rlock:
        # (_recursion_count is 3.11+; the AttributeError would name the class
        # 'RLock' under racedet, '_thread.RLock' under python)
        attempt("RLock held twice", lambda: (rlock._is_owned(), getattr(rlock, "_recursion_count", lambda: "-")(),
                                             hasattr(rlock, "locked"), repr(rlock).split(" owner=")[0]))
attempt("RLock after", lambda: repr(rlock))
with lock:
    attempt("Lock held", lambda: (lock.locked(), repr(lock)))
