"""User attribute hooks are calls: ``obj.x`` is memory only where it reaches the instance.

On a class with a Python ``__getattr__``, ``__getattribute__``,
``__setattr__`` or ``__delattr__``, attribute syntax runs user code, whose
own accesses are instrumented.  The access at the call site is memory only
when the name lives in the instance: in its ``__dict__`` (a hook that
delegated to ``object.__setattr__``) or a ``__slots__`` member; a read
through ``__getattr__`` also when the class has the name.  asgiref's
``Local`` (storage in a ``threading.local``) is clean; a validating
``__setattr__`` over ``object.__setattr__`` still races at the call sites.
Race tests force the order with raw ``_thread`` locks (no happens-before
edge) and assert the exact pair of lines; no-race tests assert zero reports.
"""

from __future__ import annotations

import textwrap

import pytest

from helpers import CORES, TWO, expect_no_race, marked_pair, run_racedet


def program(body: str) -> str:
    return TWO + textwrap.dedent(body)


NO_RACES = {
    "asgiref-style Local over threading.local": """
        class Local:
            def __init__(self):
                object.__setattr__(self, "_storage", threading.local())
            def __getattr__(self, key):
                return getattr(self._storage, key)
            def __setattr__(self, key, value):
                setattr(self._storage, key, value)
            def __delattr__(self, key):
                delattr(self._storage, key)
        local = Local()
        def a():
            local.value = 1
            local.value += 1
            assert local.value == 2
            del local.value
        def b():
            local.value = 3
            assert local.value == 3
            print(hasattr(local, "value"), getattr(local, "value"))
        two(a, b)
    """,
    "__getattr__ proxy to a per-thread object": """
        class Target:
            def __init__(self):
                self.count = 0
                self.items = []
        class PerThread:
            def __init__(self):
                object.__setattr__(self, "_tls", threading.local())
            def _target(self):
                t = getattr(self._tls, "target", None)
                if t is None:
                    t = self._tls.target = Target()
                return t
            def __getattr__(self, key):
                return getattr(self._target(), key)
            def __setattr__(self, key, value):
                setattr(self._target(), key, value)
        p = PerThread()
        def a():
            p.items.append(1)
            p.count += 1
            print(p.count, len(p.items))
        def b():
            p.items.append(2)
            p.count = 7
            print(p.count, len(p.items))
        two(a, b)
    """,
    "__setattr__ forwarding to a locked store": """
        class Store:
            def __init__(self):
                self.lock = threading.Lock()
                self.data = {}
        class Facade:
            def __init__(self, store):
                object.__setattr__(self, "_store", store)
            def __setattr__(self, key, value):
                with self._store.lock:
                    self._store.data[key] = value
            def __delattr__(self, key):
                with self._store.lock:
                    del self._store.data[key]
            def __getattr__(self, key):
                with self._store.lock:
                    return self._store.data[key]
        f = Facade(Store())
        def a():
            f.level = 1
            f.level += 1
        def b():
            print(f.level)
            del f.level
            f.level = 5
        two(a, b)
    """,
    "__getattribute__ forwarding to a locked target": """
        class Target:
            def __init__(self):
                self.lock = threading.Lock()
                self.v = 0
        class Wrap:
            def __init__(self, target):
                object.__setattr__(self, "_t", target)
            def __getattribute__(self, key):
                t = object.__getattribute__(self, "_t")
                with t.lock:
                    return getattr(t, key)
            def __setattr__(self, key, value):
                t = object.__getattribute__(self, "_t")
                with t.lock:
                    setattr(t, key, value)
        w = Wrap(Target())
        def a(): w.v = 1
        def b(): print(w.v)
        two(a, b)
    """,
    "validating __setattr__ under the caller's lock": """
        class Checked:
            def __init__(self):
                self.x = 0
            def __setattr__(self, key, value):
                if not isinstance(value, int):
                    raise TypeError(key)
                super().__setattr__(key, value)
        lock = threading.Lock()
        o = Checked()
        def a():
            with lock:
                o.x = 1
        def b():
            with lock:
                print(o.x)
        two(a, b)
    """,
    "metaclass __getattr__ over a locked registry": """
        class Registry(type):
            _lock = threading.Lock()
            _extra = {}
            def __getattr__(cls, key):
                with Registry._lock:
                    return Registry._extra[key]
            def __setattr__(cls, key, value):
                if key.startswith("plugin_"):
                    with Registry._lock:
                        Registry._extra[key] = value
                else:
                    super().__setattr__(key, value)
        class Service(metaclass=Registry):
            pass
        def a(): Service.plugin_x = 1
        def b(): print(Service.plugin_x)
        two(a, b)
    """,
}

VALIDATING = """
class Checked:
    def __init__(self):
        self.x = 0
    def __setattr__(self, key, value):
        if not isinstance(value, int):
            raise TypeError(key)
        object.__setattr__(self, key, value)
o = Checked()
"""

SUPER = """
class Checked:
    def __init__(self):
        self.x = 0
    def __setattr__(self, key, value):
        if key.startswith("_"):
            raise AttributeError(key)
        super().__setattr__(key, value)
    def __delattr__(self, key):
        super().__delattr__(key)
o = Checked()
"""

RACES = {
    "validating __setattr__ over object.__setattr__": (VALIDATING + """
def a(): o.x = 1  # R
def b(): o.x = 2  # R
two(a, b)
""", "# R"),
    "super().__setattr__: write against read": (SUPER + """
def a(): o.x = 1  # R
def b(): print(o.x)  # R
two(a, b)
""", "# R"),
    "super().__setattr__: augmented": (SUPER + """
def a(): o.x += 1  # R
def b(): o.x += 1  # R
two(a, b)
""", "# R"),
    "super().__delattr__ against a read": (SUPER + """
def a(): del o.x  # R
def b(): print(getattr(o, "x", None))  # R
two(a, b)
""", "# R"),
    "setattr() builtin through the hook": (VALIDATING + """
def a(): setattr(o, "x", 1)  # R
def b(): print(o.x)  # R
two(a, b)
""", "# R"),
    "__setattr__ storing into self.__dict__": ("""
class Raw:
    def __init__(self):
        self.__dict__["x"] = 0
    def __setattr__(self, key, value):
        self.__dict__[key] = value
o = Raw()
def a(): o.x = 1  # R
def b(): print(o.x)  # R
two(a, b)
""", "# R"),
    "__getattr__ class with attributes in __dict__": ("""
class Lazy:
    def __init__(self):
        self.n = 0
    def __getattr__(self, key):
        return None
o = Lazy()
def a(): o.n = 5  # R
def b(): print(o.n)  # R
two(a, b)
""", "# R"),
    "__getattr__ class, augmented": ("""
class Lazy:
    def __init__(self):
        self.n = 0
    def __getattr__(self, key):
        return None
o = Lazy()
def a(): o.n += 1  # R
def b(): o.n += 1  # R
two(a, b)
""", "# R"),
    "__getattribute__ delegating to object's": ("""
class Logged:
    def __init__(self):
        self.n = 0
    def __getattribute__(self, key):
        return object.__getattribute__(self, key)
o = Logged()
def a(): o.n = 5  # R
def b(): print(o.n)  # R
two(a, b)
""", "# R"),
    "slots with a validating __setattr__": ("""
class Box:
    __slots__ = ("v",)
    def __setattr__(self, key, value):
        object.__setattr__(self, key, value)
box = Box()
def a(): box.v = 1  # R
def b(): print(box.v)  # R
two(a, b)
""", "# R"),
    "metaclass __setattr__ delegating to type's": ("""
class Frozen(type):
    def __setattr__(cls, key, value):
        if key.startswith("_"):
            raise AttributeError(key)
        super().__setattr__(key, value)
class Config(metaclass=Frozen):
    level = 0
def a(): Config.level = 1  # R
def b(): print(Config.level)  # R
two(a, b)
""", "# R"),
}


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(NO_RACES))
def test_no_race(tmp_path, name, core):
    res = expect_no_race(tmp_path, program(NO_RACES[name]), core)
    assert "Traceback" not in res.stderr, res.stderr


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(RACES))
def test_race(tmp_path, name, core):
    body, mark = RACES[name]
    src = program(body)
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert res.returncode == 66, res.stderr
    assert res.race_lines() == [marked_pair(src, mark)], res.stderr


@pytest.mark.parametrize("core", CORES)
def test_asgiref_repro_is_clean(tmp_path, core):
    """realworld/repro/custom_setattr_local.py: asgiref 3.8.1's Local, reported as ContextLocal.value before."""
    from helpers import ROOT

    res = run_racedet(tmp_path, script=ROOT / "realworld" / "repro" / "custom_setattr_local.py",
                      extra_env={"RACEDET_CORE": core})
    assert res.races == [], res.stderr
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
