"""concurrent.futures.as_completed keeps the futures it yielded (CPython's
test_concurrent_futures, 3.10: test_free_reference_yielded_future fails in
all four *AsCompletedTest classes).

    python realworld/repro/as_completed_keeps_futures.py             # freed: [True, True, True]
    python -m racedet realworld/repro/as_completed_keeps_futures.py  # not all freed

The generator must not hold a finished future once it has yielded it
(CPython issue 14406); under racedet's model of as_completed the yielded
futures stay referenced.
"""

import gc
import weakref
from concurrent.futures import Future, as_completed

fs = [Future() for _ in range(3)]
for f in fs:
    f.set_result(1)
del f
freed = []
for fut in as_completed(fs):
    fs.remove(fut)
    wr = weakref.ref(fut)
    del fut
    gc.collect()
    freed.append(wr() is None)
print("freed:", freed)
