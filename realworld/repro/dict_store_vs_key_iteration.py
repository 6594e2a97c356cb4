"""A store into an existing key does not change a dict's keys (dogpile.cache 1.5.0's
test_nameregistry: ``list(baton)`` line 26 against ``baton[name] = True``
line 34; issue 10 section 5).

    python -m racedet realworld/repro/dict_store_vs_key_iteration.py   # reports contents of <dict>

One thread iterates the keys (``list(d)``, ``len(d)``), another stores into
a key that exists.  The keys and the size never change: racedet's rule for
item writes ("also change the contents") makes it a race with the
iteration.  Expected clean for the keys; a read of that item's value
(``d[k]``, ``d.values()``) unordered with the store is still a race.
"""

import threading

baton = {"beans": False, "means": False, "please": False}
go = threading.Barrier(2)


def writer():
    go.wait()
    for _ in range(1000):
        baton["please"] = True
        baton["please"] = False


def reader():
    go.wait()
    for _ in range(1000):
        assert sorted(baton) == ["beans", "means", "please"]


ts = [threading.Thread(target=writer), threading.Thread(target=reader)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("ok")
