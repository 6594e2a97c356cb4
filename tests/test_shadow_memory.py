"""Shadow memory is freed: dead chains in one sweep, everything once the program is alone.

A chain of dead objects without weakref support is freed by one sweep.  Once every other thread has ended and been joined, no access recorded so far
can race with a later one (engine._quiesce_if_alone).  These programs check
that the shadow is freed then, that threads started afterwards are checked
again, and that a thread which ended without being joined keeps the detector
recording.  Real-time order comes from raw ``_thread`` locks (no edges).
"""

from __future__ import annotations

import pytest
from helpers import CORES, line_of, run_racedet

FREED = """
import threading
from racedet import engine

class Cell:
    def __init__(self):
        self.v = 0

cells = [Cell() for _ in range(100)]
def work(k):
    for c in cells[k::2]:
        c.v += 1
ts = [threading.Thread(target=work, args=(k,)) for k in range(2)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("shadowed", len(engine.shadow), engine.ACTIVE)
print(sum(c.v for c in cells))
"""

AGAIN = """
import threading

class Data:
    pass

data = Data()
def first():
    data.x = 1
t = threading.Thread(target=first); t.start(); t.join()
data.x = 2
def second(v):
    data.y = v  # RACE
ts = [threading.Thread(target=second, args=(v,)) for v in range(2)]
for t in ts:
    t.start()
for t in ts:
    t.join()
"""

NOT_JOINED = """
import _thread, threading

class Data:
    pass

data = Data()
written = threading._allocate_lock(); written.acquire()
def unjoined():
    data.z = 1  # FIRST
    written.release()
a = threading.Thread(target=unjoined)
a.start()
written.acquire()
b = threading.Thread(target=print, args=("b",)); b.start(); b.join()
data.z = 2  # SECOND
a.join()
"""


@pytest.mark.parametrize("core", CORES)
def test_shadow_freed_after_the_last_join(tmp_path, core):
    res = run_racedet(tmp_path, FREED, extra_env={"RACEDET_CORE": core})
    assert res.races == [] and res.returncode == 0, res.stderr
    assert "shadowed 0 False" in res.stdout
    assert res.stdout.splitlines()[-1] == "100"


@pytest.mark.parametrize("core", CORES)
def test_threads_started_afterwards_are_checked_again(tmp_path, core):
    res = run_racedet(tmp_path, AGAIN, extra_env={"RACEDET_CORE": core})
    line = line_of(AGAIN, "# RACE")
    assert res.race_lines() == [(line, line)], res.stderr


@pytest.mark.parametrize("core", CORES)
def test_a_thread_not_joined_keeps_recording(tmp_path, core):
    res = run_racedet(tmp_path, NOT_JOINED, extra_env={"RACEDET_CORE": core})
    assert res.race_lines() == [(line_of(NOT_JOINED, "# FIRST"), line_of(NOT_JOINED, "# SECOND"))], res.stderr


CHAIN = """
import gc, threading
from racedet import engine

class Node:
    __slots__ = ("next", "v")   # no weakref support: held strongly, swept

def build(n):
    head = None
    for i in range(n):
        node = Node()
        node.next = head
        node.v = i
        head = node
    return head

gate = threading.Event()
t = threading.Thread(target=gate.wait); t.start()   # a second thread: accesses are recorded
chain = build(1000)
before = len(engine.shadow)
chain = None
engine.sweep()
print("freed", before - len(engine.shadow) >= 1000)
gate.set(); t.join()
"""


@pytest.mark.parametrize("core", CORES)
def test_a_dead_chain_is_freed_by_one_sweep(tmp_path, core):
    res = run_racedet(tmp_path, CHAIN, extra_env={"RACEDET_CORE": core})
    assert res.returncode == 0, res.stderr
    assert "freed True" in res.stdout, res.stdout + res.stderr


HELD = """
import collections, threading
from racedet import engine

class Slotted:
    __slots__ = ("v",)

class Plain:
    pass

Pair = collections.namedtuple("Pair", "a b")
gate = threading.Event()
t = threading.Thread(target=gate.wait); t.start()   # a second thread: accesses are recorded
def make(v):
    def get():
        return v
    return get
objs = [[1], {"k": 1}, Pair(1, 2), Slotted(), Plain(), make(1).__closure__[0]]
objs[0][0]; objs[1]["k"]; objs[2].a; objs[3].v = 1; objs[4].v = 1; make(2)()
def state(o):
    sh = engine.shadow.get(id(o))
    return "none" if sh is None else "held" if engine.REF in sh else "watched"
print([state(o) for o in objs[:5]], engine.stats()["watched"] >= 6)
before = engine.stats()["watched"]
del objs
print("dropped", before - engine.stats()["watched"] >= 5)
gate.set(); t.join()
"""


@pytest.mark.parametrize("core", CORES)
def test_objects_are_watched_not_held(tmp_path, core):
    """Lists, dicts, tuples, cells and instances: no reference kept, shadow gone when they die."""
    res = run_racedet(tmp_path, HELD, extra_env={"RACEDET_CORE": core})
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["['watched', 'watched', 'watched', 'watched', 'watched'] True",
                                       "dropped True"], res.stdout + res.stderr
