"""The lock models' bookkeeping in C (racedet._access.took/leaving) does what locks._took_py/_leaving_py do.

Each scenario runs in a child process once with the compiled functions and
once with the pure-Python ones put in their place (``LOCK_IMPL=py``), and
prints what they left behind: every thread's vector clock (own entries and
base), the clocks the locks carry, the held lists with their stacks and
the lock-order graph.  The two outputs must be identical.  Threads run one
after the other (start and join, or a raw lock when the main thread must
not learn the thread's clock), so each run is deterministic.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict

import pytest

from helpers import env, line_of, run_racedet

BUILT = importlib.util.find_spec("racedet._access") is not None
needs_c = pytest.mark.skipif(not BUILT, reason="compiled core not built")
IMPLS = [pytest.param("c", marks=needs_c), "py"]

#: Put in front of every scenario: choose the functions, and the snapshot helpers.
PRELUDE = """
import _thread, json, os, re, threading
from racedet import core, engine, lockorder
from racedet.models import locks

IMPL = os.environ["LOCK_IMPL"]
if IMPL == "py":
    locks._took, locks._leaving = locks._took_py, locks._leaving_py
else:
    assert core.name == "c" and locks._took is core.access.took and locks._leaving is core.access.leaving

def desc(d):
    return re.sub(r" at 0x[0-9a-f]+", "", d)

def stack(raw):
    return [(co.co_name, line) for co, line in raw]

def clock(vc):
    # dict.get(vc, ...), not vc.get(...): a container read would acquire the
    # clock dict's own hand-off clock (this code is instrumented) and change it.
    if vc is None:
        return None
    base = dict.get(vc, 0)
    return [sorted((k, v) for k, v in dict.items(vc) if k), sorted(dict.items(base)) if base is not None else None]

def snap(tag, *lks):   # printed at once: no shared list that would need synchronization
    ts = engine.current()
    print(json.dumps({"snap": [tag, ts.name, ts.tid, ts.clk, ts.epoch, clock(ts.vc),
                               [(u, desc(d), stack(s)) for u, d, s in ts.held],
                               [[lk._sv.tid, clock(lk._sv.vc)] for lk in lks]]}), flush=True)

def run(name, fn):
    t = threading.Thread(target=fn, name=name)
    t.start()
    t.join()

UNJOINED = []

def run_unordered(name, fn):
    # Wait for the thread with a raw lock, which orders nothing: the main
    # thread's clock stays without the thread's, and so do the next threads'.
    gate = threading._allocate_lock()
    gate.acquire()
    def body():
        fn()
        gate.release()
    t = threading.Thread(target=body, name=name)
    t.start()
    gate.acquire()
    UNJOINED.append(t)

def done():
    for t in UNJOINED:
        t.join()
    edges = sorted([h, u, e[0], stack(e[1]), stack(e[2]), sorted(e[3]), desc(e[4]), desc(e[5])]
                   for (h, u), e in lockorder.edges.items())
    print(json.dumps({"edges": edges}))
"""

CLOCKS = PRELUDE + """
L, A, R = threading.Lock(), threading.Lock(), threading.RLock()
with L:
    snap("main holds L", L)
snap("main after L", L)

def t1():
    with L:                  # joins main's clock
        snap("t1 holds L", L)
    with L:                  # its own clock again: no join
        with A:              # a new edge L -> A (lockorder.acquired)
            snap("t1 holds L, A", L, A)
    with L:
        with A:              # a known edge: the fast path
            snap("t1 again L, A", L, A)
    with R:
        with R:              # re-entry: no bookkeeping
            snap("t1 holds R twice", R)
        snap("t1 holds R once", R)
    L.acquire(); A.acquire()
    L.release()              # not the last held: lockorder.released
    snap("t1 released L first", L, A)
    A.release()
    snap("t1 released A", L, A)
run("t1", t1)

# A merged clock (tid 0): acquiring it goes through engine.acquire.
L._sv.tid = 0
def t2():
    with L:
        snap("t2 holds merged L", L)
run("t2", t2)

# Wide clocks: more than REBASE_AT own entries are frozen into a base on release.
# W1 and W3 carry the same base, as do W2 and W4 (a larger one).
W1, W2, W3, W4 = threading.Lock(), threading.Lock(), threading.Lock(), threading.Lock()
def t3():
    engine.current().vc.update({1000 + i: i + 1 for i in range(70)})
    with W1:
        pass
    with W3:
        pass
    snap("t3 released W1, W3", W1, W3)
def t4():
    engine.current().vc.update({2000 + i: 2 for i in range(90)})
    with W2:
        pass
    with W4:
        pass
    snap("t4 released W2, W4", W2, W4)
def t5():
    snap("t5 starts")
    with W1:                 # takes W1's base
        snap("t5 holds W1", W1)
    with W2:                 # a larger base: shared, W1's folded in
        snap("t5 holds W2", W2)
def t6():
    with W4:                 # takes the larger base
        snap("t6 holds W4", W4)
    with W3:                 # a smaller base: folded into the larger one
        snap("t6 holds W3", W3)
    engine.current().vc.update({3000 + i: 1 for i in range(80)})
    with W1:
        pass
    snap("t6 rebased again", W1)
for name, fn in (("t3", t3), ("t4", t4), ("t5", t5), ("t6", t6)):
    run_unordered(name, fn)

# lockorder off: the held entry is still kept (with lockorder.acquired's frame).
def t7():
    lockorder.enabled = False
    with A:
        with L:
            snap("t7 disabled", A, L)
    lockorder.enabled = True
run("t7", t7)
snap("main at the end", L, A, R, W1, W2)
done()
"""

INVERSIONS = PRELUDE + """
a, b = threading.Lock(), threading.Lock()
g, c, d = threading.Lock(), threading.Lock(), threading.Lock()
def one():
    for _ in range(3):
        with a:  # one holds a
            with b:  # a then b
                snap("one")
def two():
    with b:  # two holds b
        with a:  # b then a
            snap("two")
def gated_one():
    with g:
        with c:
            with d:  # gated c then d
                snap("gated one")
def gated_two():
    with g:
        with d:
            with c:  # gated d then c
                snap("gated two")
run("one", one)
run("two", two)
run("gated-one", gated_one)
run("gated-two", gated_two)
done()
"""


def _run(tmp_path: Path, source: str, impl: str):
    """Run ``source`` under ``python -m racedet --json`` with the C core (when built) and ``impl``'s lock functions."""
    core = "c" if BUILT else "py"
    d = tmp_path / impl
    d.mkdir()
    res = run_racedet(d, textwrap.dedent(source), extra_env={"RACEDET_CORE": core, "LOCK_IMPL": impl})
    return res


def _state(res) -> Dict[str, Any]:
    rows = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert rows and "edges" in rows[-1], res.stdout + res.stderr
    return {"snaps": [r["snap"] for r in rows[:-1]], "edges": rows[-1]["edges"]}


def _inversions(res) -> list:
    out = []
    for inv in res.report["lock_order_inversions"]:
        out.append([[re.sub(r" at 0x[0-9a-f]+", "", e["held"]), re.sub(r" at 0x[0-9a-f]+", "", e["acquired"]),
                     e["thread"], [(f["function"], f["line"]) for f in e["stack"]],
                     [(f["function"], f["line"]) for f in e["held_stack"]]] for e in inv["cycle"]])
    return out


@needs_c
def test_clocks_held_lists_and_edges_match(tmp_path):
    c, py = _run(tmp_path, CLOCKS, "c"), _run(tmp_path, CLOCKS, "py")
    assert c.returncode == 0, c.stderr
    assert py.returncode == 0, py.stderr
    sc, sp = _state(c), _state(py)
    assert sc == sp
    snaps = {s[0]: s for s in sc["snaps"]}
    # The scenario reached the paths it means to: a join, a rebase, a shared base.
    main_tid = snaps["main holds L"][2]
    assert any(k == main_tid for k, _ in snaps["t1 holds L"][5][0])
    # Wide clocks: W1 and W2 carry bases; t5 and t6 start without one, take
    # the first base they see, then keep the larger of the two and fold in
    # the smaller (in either order).
    w1_base, w3_base = (sv[1][1] for sv in snaps["t3 released W1, W3"][7])
    w2_base, w4_base = (sv[1][1] for sv in snaps["t4 released W2, W4"][7])
    assert w1_base is not None and w2_base is not None and len(w1_base) < len(w2_base)
    assert w1_base == w3_base and w2_base == w4_base
    assert snaps["t5 starts"][5][1] is None
    assert snaps["t5 holds W1"][5][1] == w1_base
    assert snaps["t6 holds W4"][5][1] == w2_base
    for tag in ("t5 holds W2", "t6 holds W3"):
        own, base = snaps[tag][5]
        assert base == w2_base
        known = dict(map(tuple, base))
        for t, c in map(tuple, own):
            known[t] = max(c, known.get(t, 0))
        assert all(known.get(t, 0) >= c for t, c in w1_base)     # the smaller base, folded in
    assert snaps["t6 rebased again"][5][1] is not None and len(snaps["t6 rebased again"][5][0]) == 1
    assert [h[0] for h in snaps["t1 holds L, A"][6]] == [h[0] for h in snaps["t1 again L, A"][6]]
    assert len(snaps["t1 holds R twice"][6]) == 1
    assert snaps["t1 released A"][6] == []
    # Each held entry's stack is the user's line, whichever path recorded it.
    for tag in ("t1 holds L, A", "t1 again L, A"):
        assert [s[0][0] for _, _, s in snaps[tag][6]] == ["t1", "t1"]
    assert len(sc["edges"]) == 1                                    # L -> A only (t7 ran with lockorder off)


@pytest.mark.parametrize("impl", IMPLS)
def test_one_inversion_with_its_stacks_gate_suppresses(tmp_path, impl):
    res = _run(tmp_path, INVERSIONS, impl)
    assert res.returncode == 66, res.stderr
    (inv,) = _inversions(res)       # a/b once (one() takes them three times); c/d is gated by g
    src = textwrap.dedent(INVERSIONS)
    lines = sorted(edge[3][0][1] for edge in inv)
    assert lines == [line_of(src, "# a then b"), line_of(src, "# b then a")]
    held_lines = sorted(edge[4][0][1] for edge in inv)
    assert held_lines == [line_of(src, "# one holds a"), line_of(src, "# two holds b")]
    assert {edge[2] for edge in inv} == {"one", "two"}


@needs_c
def test_inversion_reports_match(tmp_path):
    c, py = _run(tmp_path, INVERSIONS, "c"), _run(tmp_path, INVERSIONS, "py")
    assert _inversions(c) == _inversions(py)
    assert _state(c) == _state(py)
    assert len(_inversions(c)) == 1


# -- in one process: odd objects take the generic path, errors are Python's ---------

UNIT = """
import json, os, sys, threading
from racedet import engine, lockorder
from racedet.models import locks
from racedet.core import access

took, leaving = (access.took, access.leaving) if os.environ["LOCK_IMPL"] == "c" else (locks._took_py, locks._leaving_py)
engine.TRACKING = True
out = []

def acquire(lk):      # stands where ModelLock.acquire does: took's frame(2) is our caller
    took(lk)

def release(lk):
    leaving(lk)

def state(tag, *lks):
    ts = engine.current()
    vc = ts.vc
    out.append([tag, ts.clk, ts.epoch, sorted((k, v) for k, v in vc.items() if k), 0 in vc,
                [(u, [(co.co_name, ln) for co, ln in s]) for u, _, s in ts.held],
                [[lk._sv.tid, sorted(lk._sv.vc.items()) if isinstance(lk._sv.vc, dict) else lk._sv.vc]
                 for lk in lks]])

class SV(engine.SyncVar):              # not exactly a SyncVar: read through getattr
    __slots__ = ()

class Clock(dict):                     # a clock that is a dict subclass
    pass

class Loud(locks.ModelLock):           # its own attribute lookup
    def __getattribute__(self, name):
        return object.__getattribute__(self, name)

def main():
    a, b = locks.ModelLock("a"), Loud("b")
    acquire(a); state("a", a); release(a); state("a released", a)
    acquire(b); state("b", b)
    acquire(a); state("a in b", a, b)           # a new edge b -> a
    release(b); state("b released first", a, b) # out of LIFO order
    release(a)
    c = locks.ModelLock("c")
    c._sv = SV()
    c._sv.vc = Clock({99: 5})
    c._sv.tid = 77
    acquire(c); state("c: odd sync var and clock", c)
    release(c); state("c released", c)
    # A type whose slot was replaced after its offsets were cached.
    acquire(a); release(a)
    saved = locks.ModelLock._uid
    locks.ModelLock._uid = property(lambda self: 4242)
    try:
        acquire(a); state("uid replaced", a); release(a); state("uid replaced, released", a)
    finally:
        locks.ModelLock._uid = saved
    acquire(a); state("uid restored", a); release(a)
    # Errors are the ones Python raises.
    for bad in (object(), None):
        try:
            acquire(bad)
        except Exception as e:
            out.append(["error", type(e).__name__, str(e)])
        try:
            release(bad)
        except Exception as e:
            out.append(["error", type(e).__name__, str(e)])
    d = locks.ModelLock("d"); d._sv.vc = {0: None, 6: 2}; d._sv.tid = 9
    try:
        acquire(d)             # key 0 without a base: join_into compares None with an int
    except Exception as e:
        out.append(["error", type(e).__name__, str(e)])
    state("end")

main()
print(json.dumps(out))
"""


def _unit(tmp_path: Path, impl: str) -> list:
    script = tmp_path / f"unit_{impl}.py"
    script.write_text(textwrap.dedent(UNIT).lstrip("\n"))
    e = env({"LOCK_IMPL": impl, "RACEDET_CORE": "c" if impl == "c" else "py"})
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=e, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout.splitlines()[-1])


@needs_c
def test_odd_objects_and_errors_match(tmp_path):
    c, py = _unit(tmp_path, "c"), _unit(tmp_path, "py")
    assert c == py
    tags = {row[0]: row for row in c}
    assert tags["uid replaced"][5][-1][0] == 4242
    assert tags["uid restored"][5][-1][0] != 4242
    assert [r[1] for r in c if r[0] == "error"] == ["AttributeError"] * 4 + ["TypeError"]
    assert (99, 5) in [tuple(x) for x in tags["c: odd sync var and clock"][3]]


# -- the models' Python side: what a program sees is what threading gives ----

API = """
import re, sys, threading

def show(*a):
    print(*(re.sub(r"0x[0-9a-f]+", "ADDR", re.sub(r"owner=\\d+", "owner=N", str(x))) for x in a))

def attempt(fn, *args, **kw):
    try:
        show("ok", fn(*args, **kw))
    except Exception as e:
        show(type(e).__name__, e)

for make in (threading.Lock, threading.RLock):
    lk = make()
    show(repr(lk))
    attempt(lk.acquire, False, 1)
    attempt(lk.acquire, True, -2)
    attempt(lk.acquire, True, threading.TIMEOUT_MAX * 2)
    attempt(lk.release)
    with lk:
        show(repr(lk))
        attempt(lk.acquire, False) if make is threading.Lock else attempt(lk.acquire)
        if make is threading.RLock:
            show(repr(lk))
            lk.release()
    show(repr(lk), lk.locked() if make is threading.Lock else "")
    try:
        with lk:
            raise KeyError("inside")
    except KeyError as e:
        show("propagated", repr(e), repr(lk))
    attempt(lk.__enter__)
    attempt(lk.__exit__)
    attempt(lk.__exit__, None, None, None)
    t = threading.Thread(target=lambda: attempt(lk.release))
    if make is threading.RLock:
        lk.acquire()
        t.start(); t.join()
        lk.release()
    show(repr(lk))
    attempt(lk.acquire, timeout=0.01)
    attempt(lk.release)
"""


@pytest.mark.parametrize("core", ["c", "py"] if BUILT else ["py"])
def test_models_behave_as_threading(tmp_path, core):
    script = tmp_path / "api.py"
    script.write_text(textwrap.dedent(API).lstrip("\n"))
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env(), timeout=60)
    assert plain.returncode == 0, plain.stderr
    res = run_racedet(tmp_path, script=script, extra_env={"RACEDET_CORE": core})
    assert res.returncode == 0, res.stderr
    assert res.stdout == plain.stdout
    assert "RuntimeError" in plain.stdout and "ValueError" in plain.stdout and "OverflowError" in plain.stdout


@pytest.mark.parametrize("core", ["c", "py"] if BUILT else ["py"])
def test_lock_and_rlock_cannot_be_subclassed(tmp_path, core):
    # As under python: threading.Lock is a builtin function (a final type on
    # 3.13) and threading.RLock a function; the class statement fails.
    script = tmp_path / "sub.py"
    script.write_text(textwrap.dedent("""
        import threading
        for base in (threading.Lock, threading.RLock):
            try:
                class Counting(base):
                    pass
            except TypeError as e:
                print(type(e).__name__, e)
    """).lstrip("\n"))
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env(), timeout=60)
    res = run_racedet(tmp_path, script=script, extra_env={"RACEDET_CORE": core})
    assert res.returncode == plain.returncode == 0, res.stderr
    assert res.stdout == plain.stdout
    assert res.stdout.count("TypeError") == 2
