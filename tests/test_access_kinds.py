"""Every kind of access racedet observes, each with a race test and a no-race test.

Race tests force the real-time order with raw ``_thread`` locks, which racedet
does not model (no happens-before edge), so the verdict does not depend on
timing.  Each race test asserts the exact pair of lines (marked ``# R``); each
no-race test asserts zero reports.
"""

from __future__ import annotations

import pytest

from helpers import CORES, TWO, expect_no_race, line_of, marked_pair, run_racedet

# A prelude every program gets: ``two(a, b)`` runs a() in one thread, then b()
# in another thread once a() returned, with no happens-before edge between them.
PRELUDE = TWO

RACES = {
    "attr write/write": """
        class C: pass
        c = C()
        def a(): c.x = 1  # R
        def b(): c.x = 2  # R
        two(a, b)
    """,
    "attr write/read": """
        class C: pass
        c = C()
        def a(): c.x = 1  # R
        def b(): print(c.x)  # R
        two(a, b)
    """,
    "attr read/write": """
        class C:
            x = 0
        c = C()
        c.x = 5
        def a(): print(c.x)  # R
        def b(): c.x = 2  # R
        two(a, b)
    """,
    "attr augmented": """
        class Counter:
            def __init__(self): self.n = 0
            def incr(self): self.n += 1  # R
        k = Counter()
        two(k.incr, k.incr)
    """,
    "attr delete": """
        class C: pass
        c = C()
        c.x = 1
        def a(): del c.x  # R
        def b(): c.x = 3  # R
        two(a, b)
    """,
    "class attribute": """
        class C:
            count = 0
        def a(): C.count += 1  # R
        def b(): C.count += 1  # R
        two(a, b)
    """,
    "global in functions": """
        n = 0
        def a():
            global n
            n += 1  # R
        def b():
            print(n)  # R
        two(a, b)
    """,
    "global at module level": """
        counter = 0
        def worker():
            global counter
            counter += 1  # R
        t = threading.Thread(target=worker)
        t.start()
        counter += 1  # R
        t.join()
    """,
    "closure cell": """
        def main():
            total = 0
            def a():
                nonlocal total
                total += 1  # R
            def b():
                print(total)  # R
            two(a, b)
        main()
    """,
    "closure cell outer write": """
        def main():
            done = False
            def worker():
                print(done)  # R
            t = threading.Thread(target=worker)
            gate = threading._allocate_lock()
            gate.acquire()
            t.start()
            done = True  # R
            t.join()
        main()
    """,
    "dict item same key": """
        d = {}
        def a(): d["k"] = 1  # R
        def b(): d["k"] = 2  # R
        two(a, b)
    """,
    "dict item read/delete": """
        d = {"k": 1}
        def a(): print(d["k"])  # R
        def b(): del d["k"]  # R
        two(a, b)
    """,
    "list item augmented": """
        lst = [0, 0]
        def a(): lst[0] += 1  # R
        def b(): lst[0] += 1  # R
        two(a, b)
    """,
    "list negative index": """
        lst = [0, 0]
        def a(): lst[1] = 5  # R
        def b(): print(lst[-1])  # R
        two(a, b)
    """,
    "append vs len": """
        lst = []
        def a(): lst.append(1)  # R
        def b(): print(len(lst))  # R
        two(a, b)
    """,
    "append vs iteration": """
        lst = [1]
        def a(): lst.append(2)  # R
        def b():
            for x in lst:  # R
                pass
        two(a, b)
    """,
    "setdefault vs in": """
        d = {}
        def a(): d.setdefault("k", []).append(1)  # R
        def b(): print("k" in d)  # R
        two(a, b)
    """,
    "pop vs indexing": """
        lst = [1, 2, 3]
        def a(): lst.pop()  # R
        def b(): print(lst[0])  # R
        two(a, b)
    """,
    "set add vs list()": """
        s = set()
        def a(): s.add(1)  # R
        def b(): print(list(s))  # R
        two(a, b)
    """,
    "dict item write vs iteration": """
        d = {}
        def a(): d["x"] = 1  # R
        def b(): print(sorted(d))  # R
        two(a, b)
    """,
}

NO_RACES = {
    "attr same thread": """
        class C: pass
        c = C()
        def a():
            c.x = 1
            c.x += 1
            print(c.x)
        two(a, lambda: None)
    """,
    "attr read/read": """
        class C: pass
        c = C()
        c.x = 1
        def a(): print(c.x)
        def b(): print(c.x)
        two(a, b)
    """,
    "different attributes": """
        class C: pass
        c = C()
        def a(): c.x = 1
        def b(): c.y = 2
        two(a, b)
    """,
    "different objects": """
        class C: pass
        c1, c2 = C(), C()
        def a(): c1.x = 1
        def b(): c2.x = 2
        two(a, b)
    """,
    "dict different keys": """
        d = {}
        def a(): d["a"] = 1
        def b(): d["b"] = 2
        two(a, b)
    """,
    "list different indexes": """
        results = [None, None]
        def a(): results[0] = "a"
        def b(): results[1] = "b"
        two(a, b)
        print(results)
    """,
    "atomic appends": """
        out = []
        def a(): out.append(1)
        def b(): out.append(2)
        two(a, b)
        print(len(out))
    """,
    "atomic setdefault and add": """
        d, s = {}, set()
        def a():
            d.setdefault("k", 1)
            s.add(1)
        def b():
            d.setdefault("j", 2)
            s.add(2)
        two(a, b)
    """,
    "threading.local": """
        loc = threading.local()
        def a(): loc.x = 1
        def b(): loc.x = 2
        two(a, b)
    """,
    "locals are private": """
        def work():
            x = 0
            for i in range(100):
                x += i
            return x
        two(work, work)
    """,
    "immutable containers": """
        t = (1, 2, 3)
        s = "abc"
        def a(): print(t[0], s[1])
        def b(): print(t[0], s[1])
        two(a, b)
    """,
    "globals read only": """
        LIMIT = 10
        def a(): print(LIMIT)
        def b(): print(LIMIT)
        two(a, b)
    """,
    "module level before threads": """
        config = {"debug": False}
        config["debug"] = True
        class C: pass
        c = C()
        c.x = 1
        def a(): print(config["debug"], c.x)
        def b(): print(config["debug"], c.x)
        two(a, b)
    """,
    "address reuse": """
        class Box:
            __slots__ = ("v",)
        class Obj:
            pass
        def a():
            for i in range(2000):
                o = Obj(); o.v = i
                b = Box(); b.v = i
                l = [i]; l[0] = i + 1
        def b():
            for i in range(2000):
                o = Obj(); o.v = i
                b = Box(); b.v = i
                l = [i]; l[0] = i + 1
        two(a, b)
    """,
}


def _program(body: str) -> str:
    import textwrap

    return PRELUDE + textwrap.dedent(body)


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(RACES))
def test_race(tmp_path, name, core):
    src = _program(RACES[name])
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert res.returncode == 66, res.stderr
    assert res.race_lines() == [marked_pair(src)], res.stderr
    assert "WARNING: DATA RACE" in res.stderr
    assert "racedet: found 1 data race(s)" in res.stderr


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(NO_RACES))
def test_no_race(tmp_path, name, core):
    res = expect_no_race(tmp_path, _program(NO_RACES[name]), core)
    assert "DATA RACE" not in res.stderr


def test_location_names(tmp_path):
    src = _program("""
        class Counter:
            def __init__(self): self.value = 0
        k = Counter()
        d = {}
        def main():
            total = 0
            def a():
                nonlocal total
                total = 1
                k.value = 1
                d["key"] = 1
            def b():
                nonlocal total
                total = 2
                k.value = 2
                d["key"] = 2
            two(a, b)
        main()
    """)
    res = run_racedet(tmp_path, src)
    locations = sorted(r["location"] for r in res.races)
    assert locations[0] == "Counter.value"
    assert locations[1] == "cell 'total' of main"
    assert locations[2].startswith("dict item 'key' of <dict at 0x")
    assert line_of(src, "k.value = 1") in [f["line"] for r in res.races for f in (r["current"]["stack"][0], r["previous"]["stack"][0])]
