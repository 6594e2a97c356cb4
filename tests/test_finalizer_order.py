"""A ``__del__`` is ordered after every access to the garbage it finalizes (racedet.finalize).

The finalizer runs in another thread than the one that used the object: the
cyclic collector's (``gc.collect()`` in the main thread), or the thread that
drops the last reference.  A raw ``_thread`` lock forces that order and makes
no happens-before edge.  Accesses the finalizer makes to anything another
thread can still reach race as before.
"""

from __future__ import annotations

import re

import pytest
from helpers import CORES, expect_no_race, expect_race, run_plain, run_racedet, write

#: ``after(a)``: run ``a()`` in a new thread and return once it is done, with no edge.
AFTER = """
import _thread, gc, threading

def after(a):
    done = threading._allocate_lock(); done.acquire()
    def run():
        a()
        done.release()
    t = threading.Thread(target=run)
    t.start()
    done.acquire()   # a raw lock: no happens-before edge
    return t
"""

CYCLE = AFTER + """
seen = []

class Context:
    def __init__(self):
        self.count = 0
        self.table = {"k": 0}

class Resource:
    def __init__(self):
        self.context = Context()
        self.context.count += 1          # written by the creating thread
        self.context.table["k"] = 1
        self.items = [0, 1]
        self.items[0] = 2
        self.me = self                   # a cycle: only the collector frees it

    def __del__(self):
        \"\"\"Read and written by whichever thread collects.\"\"\"
        seen.append((self.context.count, self.context.table["k"], self.items[0]))
        self.context.count -= 1
        self.items[0] = 0

def maker():
    Resource()

gc.disable()
t = after(maker)
gc.collect()                             # the finalizer runs here, in the main thread
gc.enable()
t.join()
assert seen == [(1, 1, 2)], seen
"""


@pytest.mark.parametrize("core", CORES)
def test_collected_cycle_is_finalized_after_its_creators_accesses(tmp_path, core):
    expect_no_race(tmp_path, CYCLE, core)


LAST_REFERENCE = AFTER + """
box = []

class Resource:
    def __init__(self, n):
        self.n = n
        self.parts = {"n": n}

    def __del__(self):
        self.n += self.parts["n"]        # the thread that dropped the last reference

def maker():
    box.append(Resource(1))

t = after(maker)
box.clear()                              # not a read of the element: no hand-off edge
t.join()
"""


@pytest.mark.parametrize("core", CORES)
def test_last_reference_dropped_in_another_thread(tmp_path, core):
    expect_no_race(tmp_path, LAST_REFERENCE, core)


HANDOFF = AFTER + """
class Item:
    pass

shared = Item()                          # live: reached through a global too

class Resource:
    def __init__(self):
        shared.v = 1                     # before storing it: the hand-off orders this
        self.items = []
        self.items.append(shared)
        self.me = self

    def __del__(self):
        for it in self.items:            # takes the live item out of a garbage list
            it.v

def maker():
    Resource()

gc.disable()
t = after(maker)
gc.collect()
gc.enable()
t.join()
"""


@pytest.mark.parametrize("core", CORES)
def test_items_taken_out_of_garbage_keep_their_hand_off(tmp_path, core):
    expect_no_race(tmp_path, HANDOFF, core)


GLOBAL_TWIN = AFTER + """
last = 0

class Resource:
    def __init__(self):
        self.me = self

    def __del__(self):
        global last
        last = 2                                          # R

def writer():
    global last
    last = 1                                              # R
    Resource()

gc.disable()
t = after(writer)
gc.collect()
gc.enable()
t.join()
"""


@pytest.mark.parametrize("core", CORES)
def test_finalizer_write_of_a_global_still_races(tmp_path, core):
    expect_race(tmp_path, GLOBAL_TWIN, core)


LIVE_PEER_TWIN = AFTER + """
class Peer:
    pass

peer = Peer()                            # live: a global holds it

class Resource:
    def __init__(self, p):
        self.peer = p
        self.me = self

    def __del__(self):
        self.peer.value                                   # R

def writer():
    peer.value = 1                                        # R
    Resource(peer)

gc.disable()
t = after(writer)
gc.collect()
gc.enable()
t.join()
"""


@pytest.mark.parametrize("core", CORES)
def test_finalizer_read_of_a_live_object_still_races(tmp_path, core):
    expect_race(tmp_path, LIVE_PEER_TWIN, core)


LIVE_CHILD_TWIN = AFTER + """
import queue
class Part:
    pass

handed = queue.Queue()
gate = threading._allocate_lock(); gate.acquire()

class Resource:
    def __init__(self):
        self.part = Part()
        handed.put(self.part)            # another thread keeps the part alive
        self.me = self

    def __del__(self):
        self.part.state = 1                               # R

def keeper():
    p = handed.get()
    gate.acquire()                       # after the collection, with no edge
    p.state = 0                                           # R

gc.disable()
k = threading.Thread(target=keeper)
k.start()
t = after(Resource)
gc.collect()
gc.enable()
gate.release()
k.join(); t.join()
"""


@pytest.mark.parametrize("core", CORES)
def test_finalizer_write_of_a_part_another_thread_holds_still_races(tmp_path, core):
    expect_race(tmp_path, LIVE_CHILD_TWIN, core)


FIDELITY = """
import gc

class Resource:
    def __del__(self, *rest):
        \"\"\"Closes it.\"\"\"
        print("del", type(self).__del__.__doc__, rest)
        raise ValueError("in __del__")

class Empty:
    def __del__(self):
        \"\"\"Only a docstring.\"\"\"

class Odd:
    def __del__(*args):
        print("odd", len(args))

Resource(); Empty(); Odd()
print(Empty.__del__.__doc__, Resource.__del__.__code__.co_varnames)
"""


def test_rewritten_finalizers_behave_as_under_python(tmp_path):
    plain = run_plain(write(tmp_path, FIDELITY, "plain.py"))
    res = run_racedet(tmp_path, FIDELITY)
    assert res.returncode == plain.returncode == 0, res.stderr
    assert res.stdout == plain.stdout
    def same(err):
        return re.sub(r"0x[0-9a-f]+", "0x", err.replace("prog.py", "plain.py"))
    assert same(res.stderr) == same(plain.stderr)
    assert "line 7, in __del__" in plain.stderr


WEAKREF_FINALIZE = AFTER + """
import weakref

class State:
    pass

class Owner:
    def __init__(self):
        self.me = self

seen = []

def cleanup(state):
    seen.append(state.value)                              # R

def maker():
    state = State()
    state.value = 1                      # before registering: ordered before the callback
    weakref.finalize(Owner(), cleanup, state)
    LATE

gc.disable()
t = after(maker)
gc.collect()                             # the callback runs here, in the main thread
gc.enable()
t.join()
assert seen == [1], seen
"""


@pytest.mark.parametrize("core", CORES)
def test_weakref_finalize_callback_is_ordered_after_its_registration(tmp_path, core):
    expect_no_race(tmp_path, WEAKREF_FINALIZE.replace("LATE", "pass").replace("# R", ""), core)


@pytest.mark.parametrize("core", CORES)
def test_weakref_finalize_state_written_after_registration_races(tmp_path, core):
    src = WEAKREF_FINALIZE.replace("LATE", "state.value = 1                                       # R")
    expect_race(tmp_path, src.replace("assert seen == [1], seen", ""), core)


FINALIZE_API = """
import gc, threading, weakref
gate = threading.Event()
other = threading.Thread(target=gate.wait)
other.start()

class Owner:
    pass

o = Owner()
f = weakref.finalize(o, print, "called")
print(f.alive, f.peek()[1:], f.atexit)
g = weakref.finalize(o, print, "detached")
print(g.detach()[1:], g.alive, g())
del o
print(f.alive, f(), len(weakref.finalize._registry))
h = weakref.finalize(Owner(), print, "never")
gate.set(); other.join()
"""


@pytest.mark.parametrize("core", CORES)
def test_weakref_finalize_behaves_as_under_python(tmp_path, core):
    plain = run_plain(write(tmp_path, FINALIZE_API, "plain.py"))
    res = run_racedet(tmp_path, FINALIZE_API, extra_env={"RACEDET_CORE": core})
    assert res.returncode == plain.returncode == 0 and res.races == [], res.stderr
    assert (res.stdout, res.stderr) == (plain.stdout, plain.stderr)


class _Node:
    pass


def _graph(shape: str):
    """A finalized root and the ids of what it reaches, by name (no other reference is kept)."""
    keep = []
    a, c = _Node(), _Node()
    a.c = c
    a.me = a
    if shape == "tree":
        c.d = {"x": 1}
        a.lst = [_Node()]
        a.shared = _Node()
        keep.append(a.shared)
        names = dict(a=a, c=c, d=c.d, lst=a.lst, item=a.lst[0], shared=a.shared)
    elif shape == "inner cycle":
        c.g = _Node()
        c.g.parent = c
        names = dict(a=a, c=c, g=c.g)
    elif shape == "held elsewhere":
        keep.append(c)
        c.z = _Node()
        c.owner = a
        names = dict(a=a, c=c, z=c.z)
    else:   # "frame": a suspended generator's local holds the child
        def gen(x):
            yield x
        g = gen(c)
        next(g)
        keep.append(g)
        names = dict(a=a, c=c)
    return a, {k: id(v) for k, v in names.items()}, keep


@pytest.mark.parametrize("shape, garbage", [
    ("tree", ["a", "c", "d", "item", "lst"]),
    ("inner cycle", ["a", "c", "g"]),
    ("held elsewhere", ["a"]),
    ("frame", ["a"]),
])
def test_garbage_is_what_only_the_finalized_object_holds(monkeypatch, shape, garbage):
    from racedet import engine, finalize

    root, ids, keep = _graph(shape)
    fake = {i: {} for i in ids.values()}   # every object accessed: each is looked into
    monkeypatch.setattr(engine, "shadow", fake)
    found = set(finalize._garbage(root))
    assert sorted(n for n, i in ids.items() if i in found) == garbage
    assert keep is not None


AT_EXIT = """
import os, threading
stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True).start()

class Resource:
    def __init__(self, name):
        self.name = name
        self.parts = {"name": name}
        self.me = self

    def __del__(self, write=os.write):
        write(1, ("del " + self.parts["name"] + "\\n").encode())

kept = Resource("global")
Resource("garbage")
print("end", flush=True)
"""


@pytest.mark.parametrize("core", CORES)
def test_finalizers_at_exit_print_what_python_prints(tmp_path, core):
    plain = run_plain(write(tmp_path, AT_EXIT, "plain.py"))
    res = run_racedet(tmp_path, AT_EXIT, options=["--no-leaks"], extra_env={"RACEDET_CORE": core})
    assert res.returncode == plain.returncode == 0, res.stderr
    assert sorted(res.stdout.splitlines()) == sorted(plain.stdout.splitlines()), res.stderr
    assert res.stderr == plain.stderr == ""
