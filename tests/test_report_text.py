"""The parts of a race report a person acts on: source lines, held locks, the diagnosis."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CORES, line_of, run_racedet
from racedet.model import Access, Frame, HeldLock, Race
from racedet.report.diagnose import diagnose, is_read_modify_write
from racedet.report.text import Formatter

LOST_UPDATE = """
    import threading

    class Counter:
        def __init__(self):
            self.value = 0

        def incr(self):
            self.value += 1            # R

    c = Counter()
    b = threading.Barrier(2)

    def worker():
        b.wait()
        c.incr()

    ts = [threading.Thread(target=worker, name=f"w{i}") for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
"""

START_JOIN = """
    import threading

    class Job:
        pass

    job = Job()
    job.state = "new"
    seen = threading.Event()

    def run():
        print(job.state)            # READ
        seen.set()

    def main():
        t = threading.Thread(target=run, name="runner")
        t.start()
        job.state = "started"       # WRITE
        t.join()

    main()
"""


@pytest.mark.parametrize("core", CORES)
def test_source_lines_carets_and_lost_update(tmp_path: Path, core: str) -> None:
    res = run_racedet(tmp_path, LOST_UPDATE, extra_env={"RACEDET_CORE": core})
    line = line_of(LOST_UPDATE, "# R")
    err = res.stderr
    assert f'line {line}, in incr\n    self.value += 1            # R\n         ^^^^^\n' in err, err
    assert "Diagnosis: lost update: `self.value += 1` reads and writes Counter.value" in err, err
    assert "  3. thread w" in err and "write is lost" in err, err
    (race,) = res.races
    assert race["diagnosis"]["kind"] == "lost-update"
    assert len(race["diagnosis"]["steps"]) == 3


def test_no_source_turns_source_lines_off(tmp_path: Path) -> None:
    res = run_racedet(tmp_path, LOST_UPDATE, options=["--no-source"])
    assert "self.value += 1" not in res.stderr.split("Diagnosis:")[0], res.stderr
    assert "WARNING: DATA RACE" in res.stderr


@pytest.mark.parametrize("core", CORES)
def test_start_join_diagnosis(tmp_path: Path, core: str) -> None:
    res = run_racedet(tmp_path, START_JOIN, extra_env={"RACEDET_CORE": core})
    assert res.race_lines() == [tuple(sorted((line_of(START_JOIN, "# READ"), line_of(START_JOIN, "# WRITE"))))]
    (race,) = res.races
    assert race["diagnosis"]["kind"] == "unordered-start-join", race
    assert "thread runner was started at prog.py:" in race["diagnosis"]["text"]


def _race(cur_held, prev_held, cur_kind="write", prev_kind="read") -> Race:
    fr = Frame("/nowhere/app.py", 3, "f")
    return Race("Pool.status", 0x10,
                Access(cur_kind, "t1", (fr,), held_locks=cur_held),
                Access(prev_kind, "t2", (Frame("/nowhere/app.py", 9, "g"),), held_locks=prev_held))


def test_held_lock_diagnoses_and_lines() -> None:
    l1 = HeldLock("Lock L1", Frame("/x/pool.py", 12, "__init__"))
    l2 = HeldLock("RLock L2")
    one = diagnose(_race((l1,), ()))
    assert one is not None and one.kind == "one-side-unlocked"
    assert one.text == "the write holds Lock L1, the read holds nothing: take Lock L1 around the read too."
    diff = diagnose(_race((l1,), (l2,)))
    assert diff is not None and diff.kind == "different-locks"
    assert "Lock L1 and RLock L2" in diff.text
    assert diagnose(_race((l1,), (l1,))) is None
    assert diagnose(_race(None, None)) is None      # unknown: no guess
    fmt = Formatter(source=False)
    text = fmt.race(_race((l1,), ()))
    assert "  holding Lock L1 (created at pool.py:12)\n" in text
    assert "  no lock held\n" in text


@pytest.mark.parametrize("line, name, item, expected", [
    ("self.n += 1", "n", False, True),
    ("total = total + x", "total", False, True),
    ("self.n = 0", "n", False, False),
    ("d[k] = d[k] + 1", "", True, True),
    ("d[k] += 1", "", True, True),
    ("d[k] = 1", "", True, False),
    ("print(self.n)", "n", False, False),
    ("if x:", "x", False, False),
])
def test_read_modify_write_shapes(line: str, name: str, item: bool, expected: bool) -> None:
    assert is_read_modify_write(line, name, item) is expected
