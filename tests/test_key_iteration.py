"""Reading the keys is not reading the values (issue 10, section 5).

A store into an existing key, ``d[k] = v``, changes no key of ``d``: it does
not race with what reads only the keys (iteration over a dict or a set,
``list(d)``, ``sorted(d)``, ``d.keys()``, ``len(d)``, ``k in d``).  It still
races, Go-strict, with a read of that item (``d[k]``) and with the readers
of the values (``d.values()``, ``d.items()``, ``dict(d)``,
``d.copy()``, ``{**d}``).  ``s.add(x)`` of a scalar already in ``s`` changes
nothing: it is no access.  Adding a key, deleting one, ``s.add`` of a new
element still race with the readers of the keys.  ``d.get(k)`` stays one of
the atomic methods (test_container_handoff): it races with no store.

dogpile.cache 1.5.0's test_nameregistry (``list(baton)`` against
``baton[name] = True``, realworld/repro/dict_store_vs_key_iteration.py) is
the case from real code.  ``two(a, b)`` runs a() then b() in two threads
with no happens-before edge; race tests assert the exact pair of lines
``# R``, no-race tests zero reports; both on every access core.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CORES, ROOT, expect_no_race, expect_race, run_racedet
from test_descriptors import program

NO_RACES = {
    "existing key store vs list(d)": """
        d = {"a": 0, "b": 0}
        def a(): d["a"] = 1
        def b(): print(list(d))
        two(a, b)
    """,
    "existing key store vs sorted(d)": """
        d = {"a": 0, "b": 0}
        def a(): d["b"] = 1
        def b(): assert sorted(d) == ["a", "b"]
        two(a, b)
    """,
    "existing key store vs for k in d": """
        d = {"a": 0, "b": 0}
        def a(): d["a"] = 1
        def b():
            for k in d:
                print(k)
        two(a, b)
    """,
    "existing key store vs for k in d.keys()": """
        d = {"a": 0, "b": 0}
        def a(): d["a"] = 1
        def b():
            for k in d.keys():
                print(k)
        two(a, b)
    """,
    "existing key store vs len(d)": """
        d = {"a": 0}
        def a(): d["a"] = 1
        def b(): print(len(d))
        two(a, b)
    """,
    "existing key store vs k in d": """
        d = {"a": 0}
        def a(): d["a"] = 1
        def b(): print("a" in d, "z" not in d)
        two(a, b)
    """,
    "existing key store vs comprehension over keys": """
        d = {"a": 0, "b": 0}
        def a(): d["a"] = 1
        def b(): print({k for k in d}, [k for k in d.keys()])
        two(a, b)
    """,
    "key iteration first, then an existing key store": """
        d = {"a": 0, "b": 0}
        def a(): print(list(d), len(d), "a" in d)
        def b(): d["b"] = 1
        two(a, b)
    """,
    "augmented store into an existing key vs list(d)": """
        d = {"a": 0}
        def a(): d["a"] += 1
        def b(): print(list(d))
        two(a, b)
    """,
    "existing key store vs d.get of another key": """
        d = {"a": 0, "b": 0}
        def a(): d["a"] = 1
        def b(): print(d.get("b"), d.get("b", 7))
        two(a, b)
    """,
    # d.get(k) is one of the atomic methods that hand an element off
    # (test_container_handoff's "dict store, get"): no race with a store.
    "existing key store vs d.get(k)": """
        d = {"a": 0}
        def a(): d["a"] = 1
        def b(): print(d.get("a"), d.get("a", None))
        two(a, b)
    """,
    "set add of a present element vs iteration": """
        s = {1, "x"}
        def a():
            s.add(1)
            s.add("x")
        def b():
            for x in s:
                print(x)
        two(a, b)
    """,
    "set add of a present element vs len, in and sorted": """
        s = {1, 2}
        def a(): s.add(2)
        def b(): print(len(s), 1 in s, sorted(s))
        two(a, b)
    """,
    "dogpile NameRegistry baton": """
        baton = {"beans": False, "means": False, "please": False}
        def a():
            baton["please"] = True
            baton["please"] = False
        def b(): assert sorted(baton) == ["beans", "means", "please"]
        two(a, b)
    """,
}

RACES = {
    "new key vs list(d)": """
        d = {"a": 0}
        def a(): d["new"] = 1  # R
        def b(): print(list(d))  # R
        two(a, b)
    """,
    "new key vs for k in d.keys()": """
        d = {"a": 0}
        def a(): d["new"] = 1  # R
        def b():
            for k in d.keys():  # R
                pass
        two(a, b)
    """,
    "key iteration first, then a new key": """
        d = {"a": 0}
        def a():
            for k in d:  # R
                pass
        def b(): d["new"] = 1  # R
        two(a, b)
    """,
    "delete vs sorted(d)": """
        d = {"a": 0, "b": 0}
        def a(): del d["a"]  # R
        def b(): print(sorted(d))  # R
        two(a, b)
    """,
    "pop vs for k in d": """
        d = {"a": 0, "b": 0}
        def a(): d.pop("a")  # R
        def b():
            for k in d:  # R
                pass
        two(a, b)
    """,
    "defaultdict augmented store adding a key vs list(d)": """
        import collections
        d = collections.defaultdict(int)
        def a(): d["new"] += 1  # R
        def b(): print(list(d))  # R
        two(a, b)
    """,
    "existing key store vs d[k]": """
        d = {"a": 0}
        def a(): d["a"] = 1  # R
        def b(): print(d["a"])  # R
        two(a, b)
    """,
    "existing key store vs d.values()": """
        d = {"a": 0}
        def a(): d["a"] = 1  # R
        def b(): print(sum(d.values()))  # R
        two(a, b)
    """,
    "existing key store vs d.items()": """
        d = {"a": 0}
        def a(): d["a"] = 1  # R
        def b():
            for k, v in d.items():  # R
                print(k, v)
        two(a, b)
    """,
    "existing key store vs dict(d)": """
        d = {"a": 0}
        def a(): d["a"] = 1  # R
        def b(): print(dict(d))  # R
        two(a, b)
    """,
    "existing key store vs d.copy()": """
        d = {"a": 0}
        def a(): d["a"] = 1  # R
        def b(): print(d.copy())  # R
        two(a, b)
    """,
    "existing key store vs {**d}": """
        d = {"a": 0}
        def a(): d["a"] = 1  # R
        def b(): print({**d, "z": 2})  # R
        two(a, b)
    """,
    "set add of a new element vs iteration": """
        s = {1}
        def a(): s.add(2)  # R
        def b():
            for x in s:  # R
                pass
        two(a, b)
    """,
    "set discard of a present element vs list(s)": """
        s = {1, 2}
        def a(): s.discard(2)  # R
        def b(): print(list(s))  # R
        two(a, b)
    """,
    "list item store vs list(lst)": """
        lst = [0, 0]
        def a(): lst[0] = 1  # R
        def b(): print(list(lst))  # R
        two(a, b)
    """,
}


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(NO_RACES))
def test_no_race(tmp_path, name, core):
    res = expect_no_race(tmp_path, program(NO_RACES[name]), core)
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(RACES))
def test_race(tmp_path, name, core):
    res = expect_race(tmp_path, program(RACES[name]), core)
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr


@pytest.mark.parametrize("core", CORES)
def test_dogpile_repro_is_clean(tmp_path, core):
    """The reproducer from dogpile.cache's suite, threads racing for real: zero reports."""
    src = (ROOT / "realworld" / "repro" / "dict_store_vs_key_iteration.py").read_text()
    res = expect_no_race(tmp_path, src, core)
    assert res.stdout.strip() == "ok", res.stderr
