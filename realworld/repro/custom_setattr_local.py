"""Attribute syntax on a class that overrides __getattr__/__setattr__ is a call,
not a memory access (asgiref 3.8.1: ``Local.counter``, ``Local.current`` of
asgiref.local.Local; same family as issue 10 section 1).

    python -m racedet realworld/repro/custom_setattr_local.py   # reports ContextLocal.value

asgiref's Local routes every ``obj.x`` to storage of the current thread or
context (here: a threading.local), so two threads' ``local.value`` are two
variables.  racedet records them as one instance attribute ``value`` of the
object, which has none.  The code inside __setattr__/__getattr__ is
instrumented already; the access at the call site is not memory.  Expected
clean.
"""

import threading


class ContextLocal:
    def __init__(self):
        object.__setattr__(self, "_storage", threading.local())

    def __getattr__(self, key):
        return getattr(self._storage, key)

    def __setattr__(self, key, value):
        setattr(self._storage, key, value)


local = ContextLocal()


def f(i):
    local.value = i
    assert local.value == i


ts = [threading.Thread(target=f, args=(i,)) for i in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("ok")
