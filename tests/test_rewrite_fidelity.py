"""The rewritten program evaluates, names and fails exactly as under plain python.

Each program runs under ``python`` and under ``python -m racedet`` (both access
cores); exit status, stdout and stderr must be identical byte for byte.  Most
programs keep a second thread alive while they run, so the hooks do their
full work (before a second thread exists they return at once).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from helpers import CORES, env, line_of, run_racedet, write

#: A second thread alive for the whole program: the hooks are active.
ALIVE = """
import threading as _t
_stop = _t.Event()
_bg = _t.Thread(target=_stop.wait, daemon=True)
_bg.start()
"""


def _run(cmd, cwd, extra_env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=str(cwd), env=env(extra_env), timeout=120)
    return p.returncode, p.stdout, p.stderr


def both(tmp_path, core, *argv, flags=(), cwd=None):
    """Run ``python [flags] argv`` and ``python [flags] -m racedet argv``: (plain, racedet)."""
    cwd = cwd or tmp_path
    a = _run([sys.executable, *flags, *argv], cwd)
    b = _run([sys.executable, *flags, "-m", "racedet", "--no-leaks", *argv], cwd, {"RACEDET_CORE": core})
    return a, b


def same(tmp_path, core, source, *args, name="prog.py", flags=(), alive=True):
    write(tmp_path, (textwrap.dedent(ALIVE) if alive else "") + textwrap.dedent(source), name)
    a, b = both(tmp_path, core, name, *args, flags=flags)
    assert b[1] == a[1]
    assert b[2] == a[2]
    assert b[0] == a[0]
    return b


# -- 1. every expression is evaluated once, in Python's order ----------------

COUNTING = """
class K:
    def __init__(self, v):
        self.v = v
    def __add__(self, o):
        print("add", self.v, o.v)
        return K(self.v + o.v)
    def __neg__(self):
        print("neg", self.v)
        return K(-self.v)
    def __hash__(self):
        return hash(self.v)
    def __eq__(self, o):
        return isinstance(o, K) and self.v == o.v
    def __repr__(self):
        return f"K({self.v})"

class L(list):
    def __len__(self):
        print("len called")
        return 99

def trace(tag, v):
    print("eval", tag)
    return v
"""


@pytest.mark.parametrize("core", CORES)
def test_subscript_key_evaluated_once(tmp_path, core):
    same(tmp_path, core, COUNTING + """
def f():
    a, b = K(1), K(2)
    d = {K(3): "three", K(-1): "minus one"}
    print(d[a + b], d[-a])
    d[a + b] = 4
    d[a + b] += 1
    print(d[a + b])
    del d[a + b]
    lst = L([1, 2, 3])
    print(lst[-1], list.__len__(lst))
    lst[-1] = 7
    lst[-2] += 10
    del lst[-3]
    print(list.__repr__(lst))
    m = [[1, 2], [3, 4]]
    m[trace("i", 1)][trace("j", 0)] += trace("v", 10)
    trace("obj", m)[trace("key", 0)] = trace("value", [9])
    x = trace("outer", m)[trace("inner", m)[1][0] - 13]
    print(m, x, m[0][:1], m[1:], m[::-1], m[0][-1:])
    e = {}
    e[(n := trace("walrus", 5))] = n
    print(e, [d2[k] for d2 in [{1: "one"}] for k in [1]])

class Body:
    table = {K(3): "class level"}
    got = table[K(1) + K(2)]
    table[K(0) + K(1)] = "set"
    print(got, table)
f()
""")


@pytest.mark.parametrize("core", CORES)
def test_subscript_key_with_await_and_yield(tmp_path, core):
    same(tmp_path, core, COUNTING + """
import asyncio
async def key():
    await asyncio.sleep(0)
    return K(1) + K(2)
async def main():
    d = {K(3): 0}
    async def bump():
        d[await key()] += 1
    await asyncio.gather(bump(), bump(), bump())
    print(d)
def gen(d):
    d[(yield)] = "sent"
    yield d
g = gen({})
next(g)
print(g.send(K(1) + K(1)))
asyncio.run(main())
""")


@pytest.mark.parametrize("core", CORES)
def test_subscript_errors_are_pythons(tmp_path, core):
    same(tmp_path, core, """
def f(d, k):
    return d[
        k + 1]
def g(lst):
    lst[10] = 1
try:
    f({}, 1)
except KeyError as e:
    import traceback; traceback.print_exc()
try:
    g([])
except IndexError:
    import traceback; traceback.print_exc()
f({"a": 1}, "a")
""")


# A racy twin: keys computed by expressions are still tracked per key.  The
# order is forced with a raw ``_thread`` lock, which racedet does not model.
RACY_KEYS = """
import _thread, threading
d = {}
gate = threading._allocate_lock()
gate.acquire()
def first(i):
    d[i % 2 + 1] = i          # write
    gate.release()
def second():
    gate.acquire()
    d[2 - 1] = 5              # other
t1 = threading.Thread(target=first, args=(0,))
t2 = threading.Thread(target=second)
t1.start(); t2.start(); t1.join(); t2.join()
"""


@pytest.mark.parametrize("core", CORES)
def test_computed_key_race_found_once_evaluated(tmp_path, core):
    res = run_racedet(tmp_path, RACY_KEYS, extra_env={"RACEDET_CORE": core})
    assert res.race_lines() == [(line_of(RACY_KEYS, "# write"), line_of(RACY_KEYS, "# other"))]


@pytest.mark.parametrize("core", CORES)
def test_computed_key_other_key_no_race(tmp_path, core):
    src = RACY_KEYS.replace("d[2 - 1] = 5", "d[2 + 1] = 5")
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert res.returncode == 0, res.stderr
    assert res.races == []


# -- 2. namespaces exactly as under python -----------------------------------


@pytest.mark.parametrize("core", CORES)
def test_local_dunder_name_and_global(tmp_path, core):
    same(tmp_path, core, """
g = 0
def f():
    global g
    g += 1
    g = g + 1
    __name__ = "local"
    return __name__, g
print(f(), g)
""")


@pytest.mark.parametrize("core", CORES)
def test_prepare_namespace_never_asked_for_hooks(tmp_path, core):
    same(tmp_path, core, """
class Ns(dict):
    def __missing__(self, key):
        print("missing", key)
        raise KeyError(key)
    def __getitem__(self, key):
        print("getitem", key)
        return dict.__getitem__(self, key)
class Meta(type):
    @classmethod
    def __prepare__(mcls, name, bases):
        return Ns()
shared = [1]
g = 1
class Body(metaclass=Meta):
    global g
    y = shared[0]
    shared[0] = 5
    g += 1
    z = [v for v in shared]
    w = [shared[i - 1] for i in range(1, 2)]
    shared[-1 + 0] += 1
print(shared, g, Body.y, Body.z, Body.w)
""")


@pytest.mark.parametrize("core", CORES)
def test_builtins_globals_locals_unchanged(tmp_path, core):
    same(tmp_path, core, """
import builtins, dataclasses, keyword
names = [n for n in dir(builtins) if not keyword.iskeyword(n)]
C = dataclasses.make_dataclass("C", names)
print(len(dataclasses.fields(C)) == len(names))
print(sorted(dir(builtins)) == sorted(vars(builtins)), [n for n in vars(builtins) if not n.isidentifier()])
x = {}
def f(a):
    b = a[0]
    x[b] = a
    return sorted(locals()), sorted(globals())
print(f([1]))
print(sorted(globals()))
""")


@pytest.mark.parametrize("core", CORES)
def test_code_names_are_the_programs(tmp_path, core):
    # inspect.getclosurevars reads co_names (CPython's test_inspect): the hooks' markers are
    # gone once linked, at every nesting level and whatever kind of access named them.
    same(tmp_path, core, """
import inspect
_ref = object()
class Box:
    def get(self, d, k):
        self.seen = d[k]
        return self.seen
def f(x):
    return x + _ref and len
def g(d, k):
    d[k] = d.get(k)
def outer():
    n = 0
    def inner():
        nonlocal n
        n += 1
        return _ref
    return inner
for fn in (f, g, Box.get, outer(), outer):
    cv = inspect.getclosurevars(fn)
    print(fn.__name__, fn.__code__.co_names, sorted(cv.globals), sorted(cv.builtins), sorted(cv.unbound))
""")


@pytest.mark.parametrize("core", CORES)
def test_main_annotations(tmp_path, core):
    same(tmp_path, core, """
import sys
x: int = 1
y: "list[str]"
print(__annotations__, sys.modules["__main__"].__annotations__ is __annotations__)
print(list(globals())[:9])
""", alive=False)


@pytest.mark.parametrize("core", CORES)
def test_instrumented_del_at_shutdown(tmp_path, core):
    """Finalizers that run while the interpreter tears down (builtins restored to
    their startup copy, module dicts cleared) still reach the hooks."""
    write(tmp_path, """
        import sys
        class Holder:
            def __init__(self, tag):
                self.tag = tag
                self.items = {"k": 1}
            def __del__(self):
                sys.stdout.write(f"del {self.tag} {self.items['k']}\\n")
    """, "delmod.py")
    same(tmp_path, core, """
import builtins, sys, delmod
counter = 0
class Holder:
    def __init__(self):
        self.items = {"k": 1}
    def __del__(self):
        global counter
        counter += self.items["k"]
        sys.stdout.write(f"del {counter} {self.items['k']}\\n")
keep = Holder()
cycle = Holder(); cycle.me = cycle
builtins.kept_in_builtins = delmod.Holder("builtins")
print("end")
""", alive=False)


@pytest.mark.parametrize("core", CORES)
def test_very_long_expression(tmp_path, core):
    terms = " + ".join(["x"] * 1500)
    mod = write(tmp_path, f"def total(x):\n    return {terms}\n", "longexpr.py")
    assert mod.exists()
    same(tmp_path, core, f"""
import longexpr
def here(x):
    return {terms}
print(longexpr.total(2), here(3))
""")


@pytest.mark.parametrize("core", CORES)
def test_recursion_limit_reached_inside_hooks(tmp_path, core):
    """At the recursion limit a hook may fail to record an access; it never says so, and
    the program sees RecursionError where it recurses (the depth itself differs by the
    launcher's frames: runpy, racedet's __main__, cli, runner)."""
    same(tmp_path, core, """
g = 0
class O: pass
o = O(); o.n = 0
d = {}
def f(n):
    global g
    g += 1
    o.n = n
    d[n % 3] = n
    try:
        return f(n + 1)
    except RecursionError:
        return n
print(f(0) > 900, g > 900)
""")


# -- 3. the instrumented-pyc cache and bad source ---------------------------


MOD_ASSERT = '''
"""Doc of the module."""
def check(v):
    """Doc of check."""
    assert v, "assert ran"
    return check.__doc__, __doc__
'''


@pytest.mark.parametrize("core", CORES)
def test_cache_follows_optimisation_level(tmp_path, core, monkeypatch):
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    write(tmp_path, MOD_ASSERT, "mod_assert.py")
    write(tmp_path, textwrap.dedent(ALIVE) + "import mod_assert\nprint(mod_assert.check(0))\n")
    for flags in ((), ("-O",), ("-OO",), (), ("-O",)):
        a, b = both(tmp_path, core, "prog.py", flags=flags)
        assert b == a, flags
    assert list((tmp_path / "__pycache__").glob("mod_assert.*racedet*"))


@pytest.mark.parametrize("core", CORES)
def test_moved_project_names_its_new_path(tmp_path, core, monkeypatch):
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    old = tmp_path / "old"
    write(old, "def fail():\n    raise ValueError('where')\n", "modpath.py")
    write(old, textwrap.dedent(ALIVE) + "import modpath\nmodpath.fail()\n")
    a, b = both(old, core, "prog.py")
    assert b == a and "old" in b[2]
    new = tmp_path / "new"
    shutil.move(str(old), str(new))
    assert list((new / "__pycache__").glob("modpath.*racedet*"))  # the cache moved along
    a, b = both(new, core, "prog.py")
    assert b == a
    assert str(old) not in b[2] and str(new) in b[2]


BAD_SOURCES = {
    "syntax": b"def f(:\n    pass\n",
    "no_cookie": b'x = "\xff"\n',
    "bad_cookie": b"# -*- coding: bogus -*-\nx = 1\n",
    "nul": b"x = 1\x00\n",
    "bom_latin1": b"\xef\xbb\xbf# -*- coding: latin-1 -*-\nx = 1\n",
    "indent": b"if 1:\nx = 1\n",
}


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("case", sorted(BAD_SOURCES))
def test_bad_source_main_script(tmp_path, core, case):
    (tmp_path / "prog.py").write_bytes(BAD_SOURCES[case])
    a, b = both(tmp_path, core, "prog.py")
    assert b == a


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("case", sorted(BAD_SOURCES))
def test_bad_source_imported_module(tmp_path, core, case):
    (tmp_path / "badmod.py").write_bytes(BAD_SOURCES[case])
    write(tmp_path, """
        def load():
            import badmod
        try:
            load()
        except Exception:
            import traceback; traceback.print_exc()
        load()
    """)
    a, b = both(tmp_path, core, "prog.py")
    assert b == a
    assert "racedet" not in b[2] and "importlib" not in b[2] and "ast.py" not in b[2]


def test_linked_code_loads_no_racedet_name(tmp_path):
    """After linking, no instruction of any nested code object looks a racedet name up."""
    import dis
    from types import CodeType

    from racedet import hooks
    from racedet.instrument import importer

    src = textwrap.dedent("""
        g = {}
        class C:
            t = g[1 if g else 0] if g else None
            def m(self, d, k):
                global g
                g = d
                self.a = d[k] + self.b
                d[k + 1] += [x[k] for x in d]
                return lambda: d[-1]
        g[0] = C
    """)
    code = importer.compile_instrumented(src.encode(), os.path.join(str(tmp_path), "m.py"), True)
    seen = set()

    def walk(co):
        for ins in dis.get_instructions(co):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                assert not str(ins.argval).startswith("@"), (co.co_name, ins)
            if ins.opname == "LOAD_CONST" and callable(ins.argval) and not isinstance(ins.argval, type):
                seen.add(ins.argval)
        for c in co.co_consts:
            if isinstance(c, CodeType):
                walk(c)

    walk(code)
    assert {hooks.rd_key, hooks.wr_global, hooks.rmw_key, hooks.wr_attr} <= seen
    ns: dict = {"__name__": "m"}
    exec(code, ns)
    assert ns["g"][0] is ns["C"]


def _big_program() -> str:
    """Functions, a class body and module code with 300+ constants and names, so that
    hooks, names and the key copy need EXTENDED_ARG where they are linked."""
    body = [f"    o.a{i} = 'c{i}'\n    d['k{i}'] = o.a{i} + 'x{i}'" for i in range(300)]
    cls = [f"    n{i} = G.get('k{i}', 'z{i}')\n    G['m{i}'] = n{i}" for i in range(300)]
    top = [f"v{i} = G['m{i}'] + 'q{i}'" for i in range(300)]
    return "\n".join(["class O: pass", "G = {}", "def f(o, d):", "    global G", *body,
                      "    G = d", "    return len(d)", "print(f(O(), {}))", "class Big:", *cls, *top,
                      "print(len(G), v299, Big.n5)"]) + "\n"


@pytest.mark.parametrize("core", CORES)
def test_big_code_objects_are_linked(tmp_path, core):
    from types import CodeType

    from racedet.instrument import importer, link

    src = _big_program()
    same(tmp_path, core, src)
    raw = importer.instrumented_code(src.encode(), str(tmp_path / "big.py"), True)
    code = link.link(raw)            # LinkError if some load had no room

    def hooks_in(co):
        n = sum(1 for c in co.co_consts if callable(c) and not isinstance(c, type))
        return n + sum(hooks_in(c) for c in co.co_consts if isinstance(c, CodeType))

    assert len(code.co_consts) > 256 and len(code.co_names) > 256
    assert hooks_in(code) >= 10
