"""What threading's primitives look like to a program under racedet (CPython's test_threading, 4 failures).

    python realworld/repro/lock_types_and_semaphore_args.py             # plain answers
    python -m racedet realworld/repro/lock_types_and_semaphore_args.py  # differs

1. Semaphore.acquire(False, timeout=1.0) raises ValueError("can't specify
   timeout for non-blocking acquire") under python; the model accepts it
   (SemaphoreTests/BoundedSemaphoreTests.test_acquire_timeout).
2. type(threading.Lock()) is _thread.lock, which cannot be instantiated
   (TypeError); under racedet it is ModelLock and can
   (ThreadTests.test_disallow_instantiation).
3. threading.Lock / threading.RLock are objects whose __module__ is
   '_thread' / 'threading'; under racedet they are not, so
   support.check__all__ no longer finds them (MiscTestCase.test__all__).
"""

import threading

for cls in (threading.Semaphore, threading.BoundedSemaphore):
    try:
        cls().acquire(False, timeout=1.0)
        print(cls.__name__, "acquire(False, timeout=1.0): accepted")
    except ValueError as e:
        print(cls.__name__, "acquire(False, timeout=1.0): ValueError:", e)

lock = threading.Lock()
print("type(Lock())", type(lock).__module__, type(lock).__qualname__)
try:
    type(lock)()
    print("type(lock)(): instantiated")
except TypeError as e:
    print("type(lock)(): TypeError:", e)
print("Lock.__module__", getattr(threading.Lock, "__module__", None))
print("RLock.__module__", getattr(threading.RLock, "__module__", None))
