"""Data descriptors are code, not memory: ``obj.prop`` records what the getter and setter touch.

A property (any type attribute with ``__set__`` or ``__delete__``) runs
instrumented code whose own accesses are recorded; the access of the
property's name at the call site is not a memory access of ``obj``.
``__slots__`` members are memory and stay tracked.  Race tests force the
order with raw ``_thread`` locks (no happens-before edge) and assert the
exact pair of lines marked ``# R``; no-race tests assert zero reports.
"""

from __future__ import annotations

import textwrap

import pytest

from helpers import CORES, TWO, expect_no_race, marked_pair, run_racedet

# ``two(a, b)`` runs a() in one thread, then b() in another once a() returned,
# with no happens-before edge between them.
PRELUDE = TWO


def program(body: str) -> str:
    return PRELUDE + textwrap.dedent(body)


def D(body: str) -> str:
    """A dedented snippet, to follow a class definition kept at column 0."""
    return textwrap.dedent(body).lstrip("\n")


LOCKED = """
class Level:
    def __init__(self):
        self._lock = threading.Lock()
        self._v = 0
    @property
    def level(self):
        with self._lock:
            return self._v
    @level.setter
    def level(self, v):
        with self._lock:
            self._v = v
    @level.deleter
    def level(self):
        with self._lock:
            self._v = None
"""

UNLOCKED = """
class Level:
    def __init__(self):
        self._v = 0
    @property
    def level(self):
        return self._v  # G
    @level.setter
    def level(self, v):
        self._v = v  # S
"""

NO_RACES = {
    "locked property read/write": LOCKED + D("""
        o = Level()
        def a(): o.level = 1
        def b(): print(o.level)
        two(a, b)
    """),
    "locked property augmented": LOCKED + D("""
        o = Level()
        def a(): o.level += 1
        def b(): o.level += 1
        two(a, b)
        print(o.level)
    """),
    "locked property delete": LOCKED + D("""
        o = Level()
        def a(): del o.level
        def b(): o.level = 3
        two(a, b)
    """),
    "locked property through getattr/setattr": LOCKED + D("""
        o = Level()
        def a(): setattr(o, "level", 1)
        def b(): print(getattr(o, "level"), hasattr(o, "level"))
        two(a, b)
    """),
    "descriptor class with __set__": """
        class Guarded:
            def __init__(self):
                self.lock = threading.Lock()
            def __set_name__(self, owner, name):
                self.slot = "_" + name
            def __get__(self, obj, owner=None):
                with self.lock:
                    return getattr(obj, self.slot, None)
            def __set__(self, obj, v):
                with self.lock:
                    setattr(obj, self.slot, v)
        class Box:
            value = Guarded()
        box = Box()
        def a(): box.value = 1
        def b(): print(box.value)
        two(a, b)
    """,
    "property on a metaclass": """
        class Meta(type):
            _lock = threading.Lock()
            @property
            def registry(cls):
                with Meta._lock:
                    return cls.__dict__.get("_reg")
            @registry.setter
            def registry(cls, v):
                with Meta._lock:
                    type.__setattr__(cls, "_reg", v)
        class Service(metaclass=Meta):
            pass
        def a(): Service.registry = 1
        def b(): print(Service.registry)
        two(a, b)
    """,
    "class attribute becomes a locked property": LOCKED + D("""
        class Plain:
            pass
        p, q = Plain(), Plain()
        q._lock = threading.Lock()
        def a():
            p.level = 1
            Plain.level = Level.level
            q.level = 2
        def b(): print(q.level)
        two(a, b)
    """),
}

RACES = {
    "unlocked property": (UNLOCKED + D("""
        o = Level()
        def a(): o.level = 1
        def b(): print(o.level)
        two(a, b)
    """), ("# G", "# S")),
    "unlocked property augmented": (UNLOCKED + D("""
        o = Level()
        def a(): o.level += 1
        def b(): print(o.level)
        two(a, b)
    """), ("# G", "# S")),
    "slots are memory": ("""
        class Box:
            __slots__ = ("v",)
        box = Box()
        def a(): box.v = 1  # R
        def b(): print(box.v)  # R
        two(a, b)
    """, ("# R", "# R")),
    "property deleted from the class": (LOCKED + D("""
        o = Level()
        def a():
            print(o.level)
            del Level.level
            o.level = 5  # R
        def b(): print(o.level)  # R
        two(a, b)
    """), ("# R", "# R")),
}


def _line(src: str, mark: str) -> int:
    lines = [i for i, ln in enumerate(src.lstrip("\n").splitlines(), 1) if ln.rstrip().endswith(mark)]
    assert len(lines) == 1, (mark, lines)
    return lines[0]


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(NO_RACES))
def test_no_race(tmp_path, name, core):
    res = expect_no_race(tmp_path, program(NO_RACES[name]), core)
    assert "Traceback" not in res.stderr, res.stderr


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(RACES))
def test_race(tmp_path, name, core):
    body, (m1, m2) = RACES[name]
    src = program(body)
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert res.returncode == 66, res.stderr
    want = marked_pair(src) if m1 == m2 else tuple(sorted((_line(src, m1), _line(src, m2))))
    assert res.race_lines() == [want], res.stderr


@pytest.mark.parametrize("core", CORES)
def test_one_report_per_location(tmp_path, core):
    """pebble's PoolContext.status: a property over ``_status`` is reported once, as ``_status``."""
    src = program("""
        class PoolContext:
            def __init__(self):
                self._status = "created"
            @property
            def status(self):
                return self._status  # G
            @status.setter
            def status(self, v):
                self._status = v  # S
        ctx = PoolContext()
        def a(): ctx.status = "running"
        def b(): print(ctx.status == "running")
        two(a, b)
    """)
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert [r["location"] for r in res.races] == ["PoolContext._status"], res.stderr
    assert res.race_lines() == [tuple(sorted((_line(src, "# G"), _line(src, "# S"))))]
