"""What a container access touches: an item, the values, or the size.

A store into an existing key or position does not change the container's
size: it races with a read of that item and with iteration over the values,
not with ``len()`` (Go's TestNoRaceSliceWriteLen).  A store that adds a key,
and every deletion, changes the size.  A dict's negative keys are keys; only
sequences count from the end, by their builtin length.  Race tests force the
order with raw ``_thread`` locks and assert the exact pair of lines ``# R``.
"""

from __future__ import annotations

import pytest

from helpers import CORES, expect_no_race, marked_pair, run_racedet
from test_descriptors import program

NO_RACES = {
    "list item store vs len": """
        lst = [0, 0, 0]
        def a(): lst[1] = 5
        def b(): print(len(lst))
        two(a, b)
    """,
    "dict existing key store vs len": """
        d = {"k": 1}
        def a(): d["k"] = 2
        def b(): print(len(d))
        two(a, b)
    """,
    "list augmented item vs len": """
        lst = [0]
        def a(): lst[0] += 1
        def b(): print(len(lst))
        two(a, b)
    """,
    "dict negative key is a key": """
        d = {-1: "last?", 1: "one"}
        def a(): d[-1] = "minus one"
        def b(): print(d[1])
        two(a, b)
    """,
    "dict negative key vs another negative key": """
        d = {-1: 0, -2: 0}
        def a(): d[-1] = 1
        def b(): d[-2] = 2
        two(a, b)
    """,
    "deque negative index vs another index": """
        import collections
        dq = collections.deque([0, 0, 0])
        def a(): dq[-1] = 1
        def b(): dq[0] = 2
        two(a, b)
    """,
}

RACES = {
    "dict new key vs len": """
        d = {}
        def a(): d["new"] = 1  # R
        def b(): print(len(d))  # R
        two(a, b)
    """,
    "list item store vs iteration": """
        lst = [0, 0]
        def a(): lst[0] = 5  # R
        def b():
            for x in lst:  # R
                pass
        two(a, b)
    """,
    "dict existing key vs values": """
        d = {"k": 1}
        def a(): d["k"] = 2  # R
        def b(): print(list(d.values()))  # R
        two(a, b)
    """,
    "dict delete vs len": """
        d = {"k": 1}
        def a(): del d["k"]  # R
        def b(): print(len(d))  # R
        two(a, b)
    """,
    "list delete vs len": """
        lst = [1, 2]
        def a(): del lst[0]  # R
        def b(): print(len(lst))  # R
        two(a, b)
    """,
    "append vs len": """
        lst = []
        def a(): lst.append(1)  # R
        def b(): print(len(lst))  # R
        two(a, b)
    """,
    "dict negative key same key": """
        d = {-1: 0}
        def a(): d[-1] = 1  # R
        def b(): print(d[-1])  # R
        two(a, b)
    """,
    "list subclass negative index, its __len__ never called": """
        class Odd(list):
            def __len__(self):
                raise RuntimeError("user __len__ called")
        lst = Odd([0, 0])
        def a(): lst[-1] = 1  # R
        def b(): print(lst[1])  # R
        two(a, b)
    """,
    "deque negative index": """
        import collections
        dq = collections.deque([0, 0])
        def a(): dq[-1] = 1  # R
        def b(): print(dq[1])  # R
        two(a, b)
    """,
}


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(NO_RACES))
def test_no_race(tmp_path, name, core):
    res = expect_no_race(tmp_path, program(NO_RACES[name]), core)
    assert "Traceback" not in res.stderr, res.stderr


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(RACES))
def test_race(tmp_path, name, core):
    src = program(RACES[name])
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert res.returncode == 66, res.stderr
    assert res.race_lines() == [marked_pair(src)], res.stderr
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr, res.stderr
