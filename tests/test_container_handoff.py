"""Hand-off through builtin containers synchronizes like Go's atomics.

A thread that takes an object out of a list, deque, dict or set (pop,
popleft, ``d[k]``, get, iteration, ...) is ordered after what the storing
thread did before it stored the object (append, ``d[k] = v``, add, ...).
The container's own accesses keep their rules: a double-checked lookup
against a locked store is still one race, reported at the container item.
The order between the threads is forced with raw ``_thread`` locks, which
make no happens-before edge: only the container can order them.
"""

from __future__ import annotations

import pytest

from helpers import CORES, expect_no_race, marked_pair, run_racedet
from test_descriptors import program

ITEM = """
class Item:
    def __init__(self, n):
        self.n = n
        self.tags = [n]
"""

NO_RACES = {
    "deque append, popleft": ITEM + """
import collections
dq = collections.deque()
def a():
    it = Item(1)
    it.n += 1
    dq.append(it)
def b():
    it = dq.popleft()
    print(it.n, it.tags[0])
    it.n = 0
two(a, b)
""",
    "item made in the append's argument": ITEM + """
results = []
def a(): results.append(Item(7))
def b(): print(results.pop().n)
two(a, b)
""",
    "list insert, append, pop": ITEM + """
lst = []
def a():
    lst.append(Item(1))
    lst.insert(0, Item(2))
def b():
    print(lst.pop(0).n, lst.pop().tags)
two(a, b)
""",
    "dict pop, setdefault, popitem": ITEM + """
d = {}
def a():
    d["x"] = Item(1)
    d.setdefault("y", Item(2))
    d.update({"z": Item(3)})
    d["w"] = Item(4)
def b():
    print(d.pop("y").n, d.pop("z").n, d.setdefault("w", None).n)
    k, v = d.popitem()
    print(v.tags)
two(a, b)
""",
    "dict store, get": ITEM + """
d = {}
def a(): d["x"] = Item(1)
def b(): print(d.get("x").n)
two(a, b)
""",
    "set add, pop": ITEM + """
s = set()
def a(): s.add(Item(5))
def b(): print(s.pop().n)
two(a, b)
""",
    "callFromThread: a queue of calls run by the reactor": """
class Reactor:
    def __init__(self):
        self.calls = []
    def call_from_thread(self, f, *args, **kw):
        self.calls.append((f, args, kw))
    def run_until_current(self):
        while True:
            try:
                f, a, kw = self.calls.pop(0)
            except IndexError:
                break
            f(*a, **kw)
class Job:
    def __init__(self):
        self.state = "new"
    def finish(self, how):
        print(self.state, how)
        self.state = how
job = Job()
reactor = Reactor()
def a():
    job.state = "ready"
    reactor.call_from_thread(job.finish, how="done")
two(a, reactor.run_until_current)
""",
    "store between the read's hook and the read itself": ITEM + """
lst = []
wait = threading._allocate_lock()
wait.acquire()
def index():
    wait.acquire()       # the producer stores now, after the pop's hook ran
    return -1
def a():
    lst.append(Item(3))
    wait.release()
def b():
    print(lst.pop(index()).n)
t = threading.Thread(target=b)
t.start()
s = threading.Thread(target=a)
s.start(); s.join(); t.join()
""",
}

RACES = {
    "field written after the append": ITEM + """
import collections
dq = collections.deque()
def a():
    it = Item(1)
    dq.append(it)
    it.n = 2  # R
def b():
    it = dq.popleft()
    print(it.n)  # R
two(a, b)
""",
    "object not taken from the container": ITEM + """
it = Item(1)
seen = []
def a():
    it.n = 2  # R
    seen.append(it)
def b(): print(it.n)  # R
two(a, b)
""",
    "double-checked lookup against a locked store": """
import threading
class Value:
    def __init__(self, k):
        self.key = k
        self.hits = 0
class Registry:
    def __init__(self):
        self._values = {}
        self._mutex = threading.Lock()
    def get(self, k):
        if k in self._values:
            return self._values[k]  # R
        with self._mutex:
            if k in self._values:
                return self._values[k]
            self._values[k] = v = Value(k)  # R
            return v
reg = Registry()
def a(): print(reg.get("a").key)
def b(): print(reg.get("a").key, reg.get("a").hits)
two(a, b)
""",
}


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(NO_RACES))
def test_no_race(tmp_path, name, core):
    res = expect_no_race(tmp_path, program(NO_RACES[name]), core)
    assert "Traceback" not in res.stderr, res.stderr
    assert res.stdout, "the consumer printed nothing"


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(RACES))
def test_race(tmp_path, name, core):
    src = program(RACES[name])
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert res.returncode == 66, res.stderr
    assert res.race_lines() == [marked_pair(src)], res.stderr


@pytest.mark.parametrize("core", CORES)
def test_double_checked_lookup_reported_at_the_item(tmp_path, core):
    """One report, at the container item, not one per field of the published value."""
    src = program(RACES["double-checked lookup against a locked store"])
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert len(res.races) == 1, res.stderr
    assert res.races[0]["location"].startswith("dict item 'a' of <dict at "), res.races[0]["location"]
