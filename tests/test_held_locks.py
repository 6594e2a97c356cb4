"""Each side of a race report names the locks its thread held at the access.

The threads are ordered with a raw ``_thread`` lock, which racedet does not
model (no happens-before edge, and not listed as held), so every verdict is
independent of timing.  The held set is part of an access's history record,
read when the access is made: the same line run with other locks held gets
its own record, on both access cores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest

from helpers import CORES, TWO, line_of, marked_pair, run_racedet

# ``two(a, b)`` runs a() in one thread, then b() in another once a() returned.
PRELUDE = TWO + """
class C:
    n = 0
c = C()
"""


@pytest.fixture(params=CORES)
def core(request: Any) -> str:
    return request.param


def _run(tmp_path: Path, core: str, body: str) -> tuple:
    src = PRELUDE + body
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert len(res.races) == 1, res.stderr
    assert res.race_lines() == [marked_pair(src)], res.stderr
    return src, res, res.races[0]


def _by_line(race: Dict[str, Any], src: str, marker: str) -> Dict[str, Any]:
    """The side of ``race`` whose access is on the line marked ``marker``."""
    line = line_of(src, marker)
    side = [a for a in (race["current"], race["previous"]) if a["stack"][0]["line"] == line]
    assert len(side) == 1, race
    return side[0]


def _held(access: Dict[str, Any]) -> List[tuple]:
    return [(h["name"], h["created_at"]["line"], h["created_at"]["function"]) for h in access["held_locks"]]


def test_one_side_locked(tmp_path: Path, core: str) -> None:
    src, res, race = _run(tmp_path, core, """
lock = threading.Lock()  # made
def a():
    with lock:
        c.n = 1  # write # R
def b():
    print(c.n)  # read # R
two(a, b)
""")
    made = line_of(src, "# made")
    assert _held(_by_line(race, src, "# write")) == [("Lock L1", made, "<module>")]
    assert _by_line(race, src, "# read")["held_locks"] == []   # the raw gate is not listed
    assert f"  holding Lock L1 (created at prog.py:{made})" in res.stderr.splitlines()
    assert "  no lock held" in res.stderr.splitlines()
    assert race["diagnosis"]["kind"] == "one-side-unlocked"
    assert "take Lock L1 around the read too" in race["diagnosis"]["text"]


def test_different_locks(tmp_path: Path, core: str) -> None:
    src, res, race = _run(tmp_path, core, """
la = threading.Lock()  # made a
lb = threading.Lock()  # made b
def a():
    with la:
        c.n = 1  # one # R
def b():
    with lb:
        c.n = 2  # two # R
two(a, b)
""")
    assert _held(_by_line(race, src, "# one")) == [("Lock L1", line_of(src, "# made a"), "<module>")]
    assert _held(_by_line(race, src, "# two")) == [("Lock L2", line_of(src, "# made b"), "<module>")]
    assert race["diagnosis"]["kind"] == "different-locks"
    assert "Lock L1" in race["diagnosis"]["text"] and "Lock L2" in race["diagnosis"]["text"]


def test_rlock_reentered_is_listed_once(tmp_path: Path, core: str) -> None:
    src, res, race = _run(tmp_path, core, """
r = threading.RLock()  # made
def a():
    with r:
        with r:
            pass
        c.n = 1  # write: the inner release left the outer acquisition held # R
def b():
    print(c.n)  # read # R
two(a, b)
""")
    assert _held(_by_line(race, src, "# write")) == [("RLock L1", line_of(src, "# made"), "<module>")]
    assert _by_line(race, src, "# read")["held_locks"] == []


def test_lock_taken_in_a_caller(tmp_path: Path, core: str) -> None:
    src, res, race = _run(tmp_path, core, """
lock = threading.Lock()  # made
def store():
    c.n = 1  # write # R
def a():
    with lock:
        store()
def b():
    print(c.n)  # read # R
two(a, b)
""")
    assert _held(_by_line(race, src, "# write")) == [("Lock L1", line_of(src, "# made"), "<module>")]
    assert race["diagnosis"]["kind"] == "one-side-unlocked"


@pytest.mark.parametrize("order", ["locked last", "unlocked last"])
def test_same_line_with_other_locks_held(tmp_path: Path, core: str, order: str) -> None:
    """One calling line, once with the lock and once without: the last record says which."""
    last_locked = order == "locked last"
    src, res, race = _run(tmp_path, core, f"""
lock = threading.Lock()  # made
tick = threading.Lock()
def store():
    c.n = 1  # write # R
def a():
    for locked in ({not last_locked}, {last_locked}):
        with tick:   # a release between the writes: the second one is recorded
            pass
        if locked:
            lock.acquire()
        store()
        if locked:
            lock.release()
def b():
    print(c.n)  # read # R
two(a, b)
""")
    held = _by_line(race, src, "# write")["held_locks"]
    assert [h["name"] for h in held] == (["Lock L1"] if last_locked else [])


def test_nested_locks_outermost_first(tmp_path: Path, core: str) -> None:
    src, res, race = _run(tmp_path, core, """
a_lock = threading.Lock()  # made a
b_lock = threading.RLock()  # made b
def a():
    with a_lock:
        with b_lock:
            c.n = 1  # write # R
c_lock = threading.Lock()  # made c
def b():
    with c_lock:
        print(c.n)  # read # R
two(a, b)
""")
    ma, mb, mc = line_of(src, "# made a"), line_of(src, "# made b"), line_of(src, "# made c")
    assert _held(_by_line(race, src, "# write")) == [("Lock L1", ma, "<module>"), ("RLock L2", mb, "<module>")]
    assert _held(_by_line(race, src, "# read")) == [("Lock L3", mc, "<module>")]
    assert (f"  holding Lock L1 (created at prog.py:{ma}), RLock L2 (created at prog.py:{mb})"
            in res.stderr.splitlines())
    assert race["diagnosis"]["kind"] == "different-locks"


def test_condition_names_its_lock(tmp_path: Path, core: str) -> None:
    src, res, race = _run(tmp_path, core, """
cond = threading.Condition()  # made
def a():
    with cond:
        c.n = 1  # write # R
def b():
    print(c.n)  # read # R
two(a, b)
""")
    assert _held(_by_line(race, src, "# write")) == [("RLock L1", line_of(src, "# made"), "<module>")]


def test_locked_twin_has_no_race(tmp_path: Path, core: str) -> None:
    src = PRELUDE + """
lock = threading.Lock()
def a():
    with lock:
        c.n = 1
def b():
    with lock:
        print(c.n)
two(a, b)
"""
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert res.returncode == 0 and res.races == [], res.stderr


def test_lock_order_report_names_locks_the_same_way(tmp_path: Path, core: str) -> None:
    src = """
import threading
la = threading.Lock()
lb = threading.Lock()
def one():
    with la:
        with lb:
            pass
def two():
    with lb:
        with la:
            pass
for f in (one, two):
    t = threading.Thread(target=f); t.start(); t.join()
"""
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    inv = res.report["lock_order_inversions"]
    assert len(inv) == 1, res.stderr
    names = sorted(e["held"].split(" at ")[0] for e in inv[0]["cycle"])
    assert names == ["Lock L1", "Lock L2"]
