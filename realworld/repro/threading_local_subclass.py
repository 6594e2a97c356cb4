"""Attributes of a threading.local subclass are per thread (CPython's
test_threading_local: BaseLocalTest.test_derived, ``Local.x`` line 69/71;
issue 10 section 2).

    python -m racedet realworld/repro/threading_local_subclass.py   # reports Local.x

Each thread writes and reads its own ``local.x``; nothing is shared.  The
pure-Python ``_threading_local.local`` swaps in the calling thread's
``__dict__`` under its own (stdlib) lock on every access; racedet tracks
``local.x`` as one ordinary attribute.  (A subclass of the C
``threading.local`` is clean.)  Expected clean.
"""

import threading
from _threading_local import local as py_local


class Local(py_local):          # CPython's PyThreadingLocalTest uses this one
    pass


local = Local()


def f(i):
    local.x = i
    assert local.x == i


ts = [threading.Thread(target=f, args=(i,)) for i in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("ok")
