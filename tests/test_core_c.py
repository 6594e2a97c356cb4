"""The compiled access core (racedet._access): chosen when built, identical to access_py, no leaks.

Every check runs in a child process, because choosing a core is done once
per process (``RACEDET_CORE``) and the hooks register themselves with the
engine.  The race/no-race suites run under either core with the same
variable, e.g. ``RACEDET_CORE=py python -m pytest tests/test_access_kinds.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Optional

import pytest

from helpers import env, run_racedet

BUILT = importlib.util.find_spec("racedet._access") is not None
CORES = ["py", pytest.param("c", marks=pytest.mark.skipif(not BUILT, reason="compiled core not built"))]
needs_c = pytest.mark.skipif(not BUILT, reason="compiled core not built")


def run(code: str, core: Optional[str], tmp_path: Path, *args: str,
        extra: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Run ``code`` as a script in a child with RACEDET_CORE=core (None: unset)."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(code).lstrip("\n"))
    e = env(extra)
    e.pop("RACEDET_CORE", None)
    if core is not None:
        e["RACEDET_CORE"] = core
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          env=e, timeout=300, cwd=str(tmp_path))


def ok(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


# -- choosing the core -------------------------------------------------------


def test_compiled_core_built_or_not_required():
    """When RACEDET_CORE=c is set for the test run, the extension must have been built."""
    if os.environ.get("RACEDET_CORE") == "c":
        assert BUILT, "RACEDET_CORE=c but racedet._access was not built (pip install -e .)"


@needs_c
def test_default_is_compiled_when_built(tmp_path):
    out = ok(run("import racedet.core as c; print(c.name, c.reason, c.access.__name__)", None, tmp_path))
    assert out.split()[0] == "c"
    assert "racedet._access" in out


@pytest.mark.parametrize("core", CORES)
def test_env_selects_core(tmp_path, core):
    out = ok(run("import racedet.core as c, racedet.hooks as h; print(c.name, h.rd_attr.__module__)", core, tmp_path))
    name, module = out.split()
    assert name == core
    assert module == ("racedet._access" if core == "c" else "racedet.access_py")


def test_invalid_core_is_a_config_error(tmp_path):
    p = run("import racedet.core", "fast", tmp_path)
    assert p.returncode != 0
    assert "invalid RACEDET_CORE 'fast'" in p.stderr


def test_no_gil_falls_back_to_python(tmp_path):
    code = """
        import racedet.env as e
        e.GIL = False
        try:
            import racedet.core as c
        except Exception as exc:
            print("error", exc)
        else:
            print(c.name, "|", c.reason)
    """
    assert ok(run(code, None, tmp_path)).strip() == "py | compiled core unsupported without the GIL"
    assert "needs the GIL" in ok(run(code, "c", tmp_path))


@needs_c
def test_compiled_hooks_are_registered_last(tmp_path):
    """Importing access_py (the rewriter does, for METHOD_KINDS) must not take the switch back."""
    out = ok(run("""
        import racedet.hooks, racedet.access_py, racedet.instrument.rewrite
        from racedet import engine, _access
        print(engine._set_active is _access.set_active, engine._on_bind == [_access._bound])
        engine._set_active(True); print(_access.ACTIVE, racedet.access_py.ACTIVE)
    """, "c", tmp_path))
    assert out.split() == ["True", "True", "True", "False"]


# -- same behaviour as access_py ---------------------------------------------

BASICS = """
    import sys
    from racedet import engine
    from racedet.core import access as A
    class O: pass
    o = O(); lst = [1, 2]; site = ("f.py", 1, "f", "f")
    # Inactive: every hook returns its object (or None) and records nothing.
    assert A.rd_attr(o, "x", site) is o and A.wr_attr(o, "x", site) is o and A.rmw_attr(o, "x", site) is o
    assert A.rd_item(lst, 0, site) is lst and A.mut_whole(lst, site) is lst and A.call_method(lst, "append", site) is lst
    assert A.rd_global({}, "g", site) is None and A.rd_cell(lambda: 1, "c", site) is None
    assert not engine.shadow, engine.shadow
    print("ACTIVE", A.ACTIVE)
    if hasattr(A, "cellof"):   # an older access_py: cell hooks take cellof(lambda: name)
        def outer():
            v = 1
            return lambda: v
        c = A.cellof(outer())
        assert type(c).__name__ == "cell" and c.cell_contents == 1 and A.cellof(lambda: 1) is None
    # Wrong argument counts raise as a Python function would.
    for call in (lambda: A.rd_attr(o, "x"), lambda: A.rd_whole(lst), lambda: A.set_active()):
        try:
            call()
        except TypeError:
            print("TypeError")
    # Non-containers are ignored by the item hooks even when active.
    engine.adopt_current_thread(); engine._set_active(True)
    s = "text"
    assert A.rd_item(s, 0, site) is s and A.rd_whole(s, site) is s and A.call_method(s, "count", site) is s
    print("shadowed", len(engine.shadow))
    A.rd_attr(o, "x", site)
    print("shadowed", len(engine.shadow), sorted(k for k in engine.shadow[id(o)] if isinstance(k, str)))
"""


@pytest.mark.parametrize("core", CORES)
def test_basics(tmp_path, core):
    out = ok(run(BASICS, core, tmp_path)).splitlines()
    assert out == ["ACTIVE False", "TypeError", "TypeError", "TypeError",
                   "shadowed 0", "shadowed 1 ['x']"]


ERRORS = """
    import sys
    from racedet import engine
    from racedet.core import access as A
    class O: pass
    o = O(); site = ("f.py", 1, "f", "f")
    main = engine.adopt_current_thread(); other = engine.fork("other"); engine._set_active(True)
    A.wr_attr(o, "x", site)
    def boom(race):
        raise ValueError("boom")
    engine.on_race = boom
    engine.thread_begin(other)
    for i in range(3):   # a race each time (reports forgotten): one note on stderr only
        engine.races_seen.clear()
        engine.snapshot()    # a new epoch of ``other``
        assert A.wr_attr(o, "x", site) is o
    print("errors", A._errors)
    def stop(race):
        raise KeyboardInterrupt
    engine.on_race = stop
    engine.races_seen.clear()
    try:
        A.rd_attr(o, "x", site)
    except KeyboardInterrupt:
        print("KeyboardInterrupt propagates")
"""


@pytest.mark.parametrize("core", CORES)
def test_internal_errors_never_reach_the_program(tmp_path, core):
    p = run(ERRORS, core, tmp_path)
    assert ok(p).splitlines() == ["errors 3", "KeyboardInterrupt propagates"]
    assert p.stderr.count("racedet: internal error (please report); detection continues:") == 1
    assert "ValueError: boom" in p.stderr


# A random mix of every hook, thread switches, sync operations, history
# settings, object deaths and huge clocks, driven identically under each core;
# it prints the hooks' results, every report and the final shadow state.
FUZZ = r'''
import collections, json, random, re, sys, threading, types
from racedet import engine, lockorder
from racedet.core import access as A, name as core_name

seed, nops = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(seed)

class Obj: pass
class Slotted:
    __slots__ = ("a", "b")

def make_cell():
    v = 1
    return (lambda: v)

objs = [Obj(), Obj(), Slotted(), types.ModuleType("fuzzmodule"), threading.local(), Obj]
conts = [[1, 2, 3], {"k": 1, 0: 2}, {1, 2}, collections.deque([1, 2]), bytearray(b"ab"), "text", Obj()]
G = {"__name__": "fuzzmod"}
cellfns = [make_cell(), make_cell()]
# The cell hooks take ``lambda: name`` (or, with an older access_py, ``cellof(lambda: name)``).
if hasattr(A, "cellof"):
    cells, NOCELL = [A.cellof(f) for f in cellfns], None
else:
    cells, NOCELL = cellfns, (lambda: 1)
SITES = [("f.py", i, "fn%d" % i, "Q.fn%d" % i) for i in range(1, 5)] + [("g.py", i, "g", "g") for i in range(200)]
KEYS = [0, 1, -1, "k", 1.5, (1, "a"), (1, None), None, True, b"x", slice(0, 1), Obj()]
METHS = list(A.METHOD_KINDS)
races = []

def on_race(r):
    races.append(json.loads(re.sub(r"0x[0-9a-f]+", "0x?", json.dumps(r.to_dict(), sort_keys=True, default=repr))))

engine.on_race = on_race
main = engine.adopt_current_thread()
threads = [main] + [engine.fork("T%d" % i) for i in range(3)]
svs = [engine.SyncVar() for _ in range(3)]
# Held-set entries as the lock models make them: history records keep their descriptions.
DESCS = [lockorder.describe("Lock", 900 + i, object(), "f.py:%d" % i) for i in range(3)]
engine._set_active(True)

def level2(op, *args):
    return level1(op, *args)

def level1(op, *args):
    if rnd.random() < 0.5:
        return op(*args)
    return level0(op, *args)

def level0(op, *args):
    r = rnd.random()
    if r < 0.3:
        return op(*args)
    if r < 0.6:
        return op(*args)
    return op(*args)

def run_op():
    k = rnd.randrange(28)
    site = rnd.choice(SITES) if rnd.random() < 0.2 else rnd.choice(SITES[:4])
    if k < 3:
        o = rnd.choice(objs)
        return level2([A.rd_attr, A.wr_attr, A.rmw_attr][k], o, rnd.choice(["a", "b"]), site) is o
    if k < 6:
        return level2([A.rd_global, A.wr_global, A.rmw_global][k - 3], G, rnd.choice(["g1", "g2"]), site)
    if k < 9:
        return level2([A.rd_cell, A.wr_cell, A.rmw_cell][k - 6], rnd.choice(cells + [NOCELL]), "cell v", site)
    if k < 12:
        c = rnd.choice(conts)
        return level2(rnd.choice([[A.rd_item, A.wr_item, A.rmw_item][k - 9], A.del_item]),
                      c, rnd.choice(KEYS), site) is c
    if k < 16:
        c = rnd.choice(conts)
        return level2(rnd.choice([[A.rd_index, A.wr_index, A.rd_whole, A.mut_whole][k - 12], A.rd_len, A.rd_iter]),
                      c, site) is c
    if k < 17:
        c = rnd.choice(conts)
        if rnd.random() < 0.3:   # a store whose argument comes later: store_method, then stored
            m = rnd.choice(sorted(A.STORE_ONE))
            A.store_method(c, m, site)
            v = rnd.choice([1, "s", None, [1], Obj(), 3])   # 3: already in the set
            return level1(A.stored, v, site) is v
        return level1(A.call_method, c, rnd.choice(METHS), site) is c
    if k < 19:
        engine.release(rnd.choice(svs)) if k == 17 else engine.acquire(rnd.choice(svs))
        return "sync"
    if k < 20:
        engine.release_merge(rnd.choice(svs))
        return "merge"
    if k < 22:
        engine.thread_begin(rnd.choice(threads))
        return "switch"
    if k < 23:
        engine.history_size = rnd.choice([0, 1, 8])
        return "history"
    if k < 24:
        engine.current_test = rnd.choice([None, "t::a", "t::b"])
        return "test"
    if k < 25:
        i = rnd.randrange(3)
        objs[i] = Slotted() if i == 2 else Obj()
        return "new object"
    if k < 26:
        c = rnd.randrange(5)
        conts[c] = [[1], {"k": 2}, {3}, collections.deque(), bytearray(b"z")][c]
        return "new container"
    if k < 27:   # a lock taken or released: same lines, other held sets
        held = engine.current().held
        if held and rnd.random() < 0.5:
            held.pop(rnd.randrange(len(held)))
            return "unheld"
        i = rnd.randrange(3)
        held.append((900 + i, DESCS[i], ()))
        return "held"
    if rnd.random() < 0.1:   # clocks beyond 32 and 63 bits
        ts = engine.current()
        ts.clk = rnd.choice([2**31 - 2, 2**32 + 5, 2**40, 2**70])
        ts.vc[ts.tid] = ts.clk
        ts.epoch = (ts.clk << 32) | ts.tid
        return "big clock"
    return "nop"

returns = []
for i in range(nops):
    returns.append(run_op())
    engine.races_seen.clear()

def rec(h):
    if h is None:
        return None
    site, callers, test, held = h
    return [list(site), None if callers is None else [[co.co_name, line] for co, line in callers], test,
            [d.name for d in held]]

def state(vs):
    if isinstance(vs, engine.SyncVar):   # a container's hand-off clock
        return ["handoff", vs.tid, None if vs.vc is None else sorted(vs.vc.items())]
    if isinstance(vs, tuple):
        return [[[t, e, rec(hh)] for t, (e, hh) in d.items()] for d in vs]
    w, wh, r, rh = vs
    rh = [[t, e, rec(hh)] for t, (e, hh) in rh.items()] if r < 0 else rec(rh)
    return [w, rec(wh), r, rh]

SENTINELS = {id(engine.CONTENTS): "<CONTENTS>", id(engine.CELL): "<CELL>", id(engine.HANDOFF): "<HANDOFF>"}
shadows = []
for o in objs + conts + [G] + [f.__closure__[0] for f in cellfns]:
    sh = engine.shadow.get(id(o))
    shadows.append(None if sh is None else
                   [[SENTINELS.get(id(k), repr(k)), state(v)] for k, v in sh.items() if k is not engine.REF])
json.dump({"core": core_name, "returns": returns, "races": races, "shadow": shadows,
           "errors": A._errors, "stats": engine.stats()}, sys.stdout, sort_keys=True, default=repr)
'''


@needs_c
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_same_results_as_python_core(tmp_path, seed):
    """Reports, history records and shadow state match access_py exactly."""
    res = {}
    for core in ("py", "c"):
        res[core] = json.loads(ok(run(FUZZ, core, tmp_path, str(seed), "2500")))
    py, c = res["py"], res["c"]
    assert (py["core"], c["core"]) == ("py", "c")
    assert py["errors"] == c["errors"] == 0
    assert len(py["races"]) > 50
    for key in ("returns", "shadow", "stats"):
        assert c[key] == py[key], key
    for i, (a, b) in enumerate(zip(py["races"], c["races"])):
        assert b == a, f"race {i}"
    assert len(c["races"]) == len(py["races"])


PROGRAMS = {
    "attribute, item, contents and global races": """
        import threading, _thread
        class C: pass
        c = C(); d = {}; lst = []; g = 0
        def a():
            global g
            c.x = 1; d["k"] = 1; lst.append(1); g += 1
        def b():
            global g
            print(c.x, d["k"], len(lst)); g += 1
        gate = threading._allocate_lock(); gate.acquire()
        def first(): a(); gate.release()
        def second(): gate.acquire(); b()
        ts = [threading.Thread(target=first), threading.Thread(target=second)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    "locked updates, no race": """
        import threading
        class Account:
            def __init__(self): self.balance = 0; self.lock = threading.Lock()
        acct = Account(); totals = {}
        def work(n):
            for i in range(200):
                with acct.lock:
                    acct.balance += 1
                    totals[n] = totals.get(n, 0) + 1
        ts = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(acct.balance, sum(totals.values()))
    """,
}


@needs_c
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_programs_report_the_same(tmp_path, name):
    got = {}
    for core in ("py", "c"):
        r = run_racedet(tmp_path, PROGRAMS[name], extra_env={"RACEDET_CORE": core})
        got[core] = (r.returncode, r.stdout, r.race_lines(),
                     [(x["location"].split(" at ")[0], x["current"]["kind"], x["previous"]["kind"]) for x in r.races])
    assert got["c"] == got["py"]


SHADOW_KINDS = """
    import threading, types, json
    from racedet import engine
    from racedet.core import access as A
    site = ("f.py", 1, "f", "f")
    engine.adopt_current_thread(); engine.fork("other"); engine._set_active(True)
    class O: pass
    class Prim: pass
    engine.register_ignored_type(Prim)
    kept = []
    for i in range(10000):        # strongly held shadows (lists), swept as they die
        lst = [i]
        A.wr_item(lst, 0, site)
        if i % 3 == 0:
            kept.append(lst)
    objs = [O() for _ in range(100)]
    for o in objs:
        A.wr_attr(o, "x", site)
    p, loc, mod = Prim(), threading.local(), types.ModuleType("m")
    for x in (p, loc, mod):
        A.wr_attr(x, "y", site); A.rd_attr(x, "y", site)
    mod_sh = engine.new_shadow(mod)   # a module's shadow: found again, not made
    print(json.dumps([engine.stats(), len(engine._strong), engine._SWEEP_EVERY,
                      id(p) in engine.shadow, id(loc) in engine.shadow, id(mod) in engine.shadow,
                      sorted(k for k in (mod_sh or {}) if isinstance(k, str))]))
"""


@needs_c
def test_shadow_kinds_and_sweeps_as_python(tmp_path):
    """Weak, strong (swept), ignored and module shadows are made as engine.new_shadow makes them."""
    py, c = (json.loads(ok(run(SHADOW_KINDS, core, tmp_path))) for core in ("py", "c"))
    assert c == py
    assert py[0]["strongly_held"] < 10000


# -- no leaks, no change in object lifetimes ---------------------------------

LEAKS = """
    import gc, sys, tracemalloc, weakref
    from racedet import engine
    from racedet.core import access as A
    class O: pass
    o = O(); lst = [1, 2, 3]; d = {"k": 1}; g = {"__name__": "m"}
    fn = (lambda v: (lambda: v))(1)
    cellarg = A.cellof(fn) if hasattr(A, "cellof") else fn
    cell = fn.__closure__[0]
    site = ("f.py", 1, "f", "f"); name = "x"; key = (1, "a")
    main = engine.adopt_current_thread(); other = engine.fork("other")
    sv = engine.SyncVar()
    def once(i):
        A.rd_attr(o, name, site); A.wr_attr(o, name, site); A.rmw_attr(o, name, site)
        A.rd_global(g, name, site); A.wr_global(g, name, site); A.rmw_global(g, name, site)
        A.rd_cell(cellarg, "c", site); A.wr_cell(cellarg, "c", site); A.rmw_cell(cellarg, "c", site)
        A.rd_item(lst, 1, site); A.wr_item(d, "k", site); A.rmw_item(lst, -1, site)
        A.rd_item(d, key, site); A.rd_item(lst, slice(0, 1), site)
        A.rd_index(lst, site); A.wr_index(d, site); A.rd_whole(lst, site); A.mut_whole(lst, site)
        A.call_method(lst, "append", site); A.call_method(d, "get", site)
        A.rd_iter(d, site); A.rd_iter(lst, site); A.call_method(d, "keys", site)
        engine.release(sv)                     # a new epoch every round: the slow paths
        engine.thread_begin(other if i % 3 else main)   # and races between the two
    def rounds(n):
        for i in range(n):
            once(i)
        engine.races_seen.clear()
    watched = [o, lst, d, g, cell, cellarg, site, name, key, main, other, sv, engine.CONTENTS, engine.CELL]
    def counts():
        # and the engine's own records: shadow dicts, location states, contents states
        state = [engine.shadow.get(id(x)) for x in (o, lst, d, g, cell)]
        state += [v for sh in state if sh for v in sh.values()]
        return [sys.getrefcount(x) for x in watched + state]
    for active in (False, True):
        engine._set_active(active)
        rounds(60)
        before = counts()
        rounds(600)
        after = counts()
        assert before == after, (active, before, after)
    # Memory stays flat over many more rounds.
    tracemalloc.start()
    rounds(3000)
    gc.collect()
    m1 = tracemalloc.get_traced_memory()[0]
    rounds(20000)
    gc.collect()
    m2 = tracemalloc.get_traced_memory()[0]
    assert m2 - m1 < 64 * 1024, (m1, m2)
    # Objects die when the program drops them; their shadow goes with them.
    n = len(engine.shadow)
    objs = [O() for _ in range(1000)]
    refs = [weakref.ref(x) for x in objs]
    for x in objs:
        A.wr_attr(x, "y", site); A.rd_attr(x, "y", site)
    assert len(engine.shadow) == n + 1000
    del objs, x
    assert all(r() is None for r in refs)
    assert len(engine.shadow) == n, (len(engine.shadow), n)
    print("ok", A.__name__)
"""


@pytest.mark.parametrize("core", CORES)
def test_no_leaks(tmp_path, core):
    assert ok(run(LEAKS, core, tmp_path)).split()[0] == "ok"
