"""How ``pytest --race`` shows findings: stacks without pytest's frames, failure texts, summary lines.

Pure functions of racedet's model records (and pytest's report classes): no
detector state, so the controller of an xdist run, which runs no detector,
renders its workers' findings with the same code.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from _pytest._code.code import ExceptionChainRepr, ReprFileLocation, ReprTracebackNative

from racedet.model import Frame
from racedet.report.text import Formatter

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))

_FRAMEWORK_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep
    for m in (pytest, __import__("_pytest"), __import__("pluggy"))
    if getattr(m, "__file__", None)
)

#: Plugins that call the test function themselves (pytest-run-parallel runs its body in
#: N threads), and unittest's case runner (pytest runs a TestCase through it): their frames
#: below the test are machinery too.  Found without importing them.
_RUNNER_PLUGINS = ("pytest_run_parallel", "pytest_rerunfailures", "pytest_repeat", "pytest_timeout", "xdist",
                   "unittest")


def _runner_dirs() -> Tuple[str, ...]:
    import importlib.util

    out = []
    for name in _RUNNER_PLUGINS:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # pragma: no cover - a broken install
            continue
        if spec is not None and spec.origin:
            out.append(os.path.dirname(os.path.abspath(spec.origin)) + os.sep)
    return tuple(out)


#: Stacks are cut where pytest's machinery starts, as Go cuts at testing.tRunner.
_CUT_DIRS = _FRAMEWORK_DIRS + (PLUGIN_DIR + os.sep,) + _runner_dirs()

_KINDS = ("race", "lock_order", "leak", "deadlock")
_NOUNS = {"race": ("race", "races"), "leak": ("leak", "leaks"), "deadlock": ("deadlock", "deadlocks"),
          "lock_order": ("lock-order inversion", "lock-order inversions")}


@dataclasses.dataclass
class Record:
    """One finding and the test it is attributed to (None: outside of test execution)."""

    kind: str                   # race | lock_order | leak | deadlock
    finding: Any
    test: Optional[str]
    note: str = ""              # outside of tests: which tests the accesses/threads belong to



# --------------------------------------------------------------------------
# Stacks without pytest's frames


def trim(stack: Sequence[Frame], keep_one: bool = True) -> Tuple[Frame, ...]:
    """The frames above pytest's machinery (the test function and what it called).

    A stack that is all machinery keeps its innermost frame (``keep_one``),
    except a thread's creation: a thread that pytest-run-parallel started
    for the test body has no user frame to show, and its plugin's line
    would only be noise.
    """
    out = []
    for fr in stack:
        if fr.file.startswith(_CUT_DIRS):
            break
        out.append(fr)
    if out or not keep_one:
        return tuple(out)
    return tuple(stack[:1])


def trim_finding(kind: str, f: Any) -> Any:
    """``f`` with every stack trimmed; the records are frozen dataclasses."""
    rep = dataclasses.replace
    if kind == "race":
        return rep(f, current=rep(f.current, stack=trim(f.current.stack),
                                  created_at=trim(f.current.created_at, keep_one=False)),
                   previous=rep(f.previous, stack=trim(f.previous.stack),
                                created_at=trim(f.previous.created_at, keep_one=False)))
    if kind == "leak":
        return rep(f, stack=trim(f.stack), created_at=trim(f.created_at))
    if kind == "deadlock":
        return rep(f, threads=tuple(trim_finding("leak", t) for t in f.threads))
    return rep(f, cycle=tuple(rep(e, stack=trim(e.stack), held_stack=trim(e.held_stack)) for e in f.cycle))


# --------------------------------------------------------------------------
# Text of findings


def _lines(race: Any) -> str:
    """``cache.py:14 vs 17`` (``a.py:3 vs b.py:9`` across files): the race's two access lines."""
    cur = race.current.stack[0] if race.current.stack else None
    prev = race.previous.stack[0] if race.previous.stack else None
    if cur is None or prev is None:
        return ""
    a, b = os.path.basename(cur.file), os.path.basename(prev.file)
    first, second = sorted([(a, cur.line), (b, prev.line)])
    if first[0] == second[0]:
        return f"{first[0]}:{first[1]} vs {second[1]}"
    return f"{first[0]}:{first[1]} vs {second[0]}:{second[1]}"


def finding_title(kind: str, f: Any) -> str:
    """The kind first, then where: ``DATA RACE on LRUCache.size (cache.py:14 vs 17)``.

    Short, so that pytest's one-line short test summary keeps it whole.
    """
    if kind == "race":
        where = _lines(f)
        return f"DATA RACE on {f.location}" + (f" ({where})" if where else "")
    if kind == "leak":
        where = "running" if f.blocked_in == "running" else f"blocked in {f.blocked_in}"
        return f"LEAK of thread {f.thread} ({where})"
    if kind == "deadlock":
        return "DEADLOCK (all threads are asleep)"
    names = [e.held.split(" ")[-1] for e in f.cycle]
    return "LOCK-ORDER INVERSION " + " => ".join(names + names[:1])


def short_message(rec: Record) -> str:
    """One line for the short test summary and JUnit's ``message``."""
    return finding_title(rec.kind, rec.finding)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def count_phrase(records: Sequence[Record], distinct: bool = False) -> str:
    """``1 race, 2 leaks``: races counted once per pair of lines, the rest one by one.

    With ``distinct``, the run's summary says so and adds how many reports
    (test failures) the races made when that differs: ``2 distinct races (5 reports)``.
    """
    parts = []
    for kind in _KINDS:
        if kind == "race":
            races = [r for r in records if r.kind == "race"]
            n = len({r.finding.key for r in races})
            if n and distinct:
                text = f"{n} distinct {'race' if n == 1 else 'races'}"
                if len(races) != n:
                    text += f" ({_plural(len(races), 'report')})"
                parts.append(text)
                continue
        else:
            n = sum(1 for r in records if r.kind == kind)
        if n:
            one, many = _NOUNS[kind]
            parts.append(f"{n} {one if n == 1 else many}")
    return ", ".join(parts)


def summary_line(records: Sequence[Record], tests_run: int) -> str:
    """The end-of-run line: ``racedet: 1 distinct race (3 reports), 1 leak in 3 tests``.

    One race alone is named: ``racedet: 1 distinct race (LRUCache.size, cache.py:14 vs 17) in 45 tests``.
    """
    inside = [r for r in records if r.test is not None]
    outside = [r for r in records if r.test is None]
    parts = []
    if inside:
        phrase = count_phrase(inside, distinct=True)
        keys = {r.finding.key for r in inside if r.kind == "race"}
        if len(keys) == 1 and all(r.kind == "race" for r in inside):
            race = inside[0].finding
            where = _lines(race)
            phrase = f"1 distinct race ({race.location}" + (f", {where})" if where else ")")
        parts.append(f"{phrase} in {_plural(len({r.test for r in inside}), 'test')}")
    if outside:
        parts.append(f"{count_phrase(outside, distinct=True)} outside of test execution")
    if not parts:
        return f"racedet: no races, leaks or deadlocks in {_plural(tests_run, 'test')}"
    return "racedet: " + ", ".join(parts)


def grouped_lines(records: Sequence[Record]) -> List[str]:
    """One line per distinct race of the run, with the tests it failed: the summary's detail.

    ``DATA RACE on PoolContext._status (base_pool.py:147 vs 151) in 45 tests (first: tests/test_pool.py::test_map)``
    """
    groups: Dict[tuple, List[Record]] = {}
    for r in records:
        if r.kind == "race":
            groups.setdefault(r.finding.key, []).append(r)
    out = []
    for recs in groups.values():
        tests = [r.test for r in recs if r.test is not None]
        distinct_tests = list(dict.fromkeys(tests))
        text = finding_title("race", recs[0].finding)
        if distinct_tests:
            text += f" in {_plural(len(distinct_tests), 'test')} (first: {distinct_tests[0]})"
        if len(tests) != len(recs):
            text += (" and" if distinct_tests else "") + " outside of test execution"
        out.append(text)
    return out


class Reporter:
    """Formats records as racedet's Go-style text, plus the test attribution pytest needs."""

    def __init__(self, fmt: Formatter) -> None:
        self.fmt = fmt

    def text(self, rec: Record) -> str:
        f = rec.finding
        if rec.kind == "race":
            body = self.fmt.race(f)
        elif rec.kind == "leak":
            body = self.fmt.leak(f, "after the test" if rec.test is not None else "at exit")
        elif rec.kind == "deadlock":
            body = self.fmt.deadlock(f).rstrip("\n") + "\n"
        else:
            body = self.fmt.inversion(f)
        return body + (rec.note + "\n" if rec.note else "")

    def test_text(self, records: Sequence[Record], first_seen: Optional[Dict[tuple, str]] = None) -> str:
        """A test's failure text; a race shown in full by an earlier test gets one line pointing there.

        One race in a shared fixture or pool fails every test that touches it
        (as ``go test -race`` does); repeating its stacks 45 times helps no one.
        """
        head = f"racedet: {count_phrase(records)} during this test"
        parts = []
        for r in records:
            first = (first_seen or {}).get(r.finding.key) if r.kind == "race" else None
            if first is not None and first != r.test:
                parts.append(f"{finding_title('race', r.finding)}: the same race as in {first}; "
                             "its failure has the full report\n")
            else:
                parts.append(self.text(r))
        return head + "\n\n" + "\n".join(parts)


def longrepr(text: str, message: str, where: Optional[Frame], item: pytest.Item) -> ExceptionChainRepr:
    """A failure representation pytest prints, serializes (xdist) and writes to JUnit XML.

    ``message`` is what the short test summary and JUnit's ``message`` show.
    """
    lines = [line + "\n" for line in text.rstrip("\n").split("\n")]
    if where is not None:
        path, lineno = where.file, where.line
    else:
        fspath, line0, _ = item.location
        path, lineno = fspath, (line0 or 0) + 1
    return ExceptionChainRepr([(ReprTracebackNative(lines), ReprFileLocation(path, lineno, message), None)])


def _where(rec: Record) -> Optional[Frame]:
    f = rec.finding
    if rec.kind == "race":
        return f.current.stack[0] if f.current.stack else None
    if rec.kind == "leak":
        return f.stack[0] if f.stack else None
    if rec.kind == "deadlock":
        main = next((t for t in f.threads if t.stack), None)
        return main.stack[0] if main else None
    return f.cycle[0].stack[0] if f.cycle and f.cycle[0].stack else None


def _outside_note(kind: str, finding: Any, owner: Optional[str]) -> str:
    if kind != "race":
        return "racedet: found outside of test execution"
    cur, prev = finding.current, finding.previous
    lines = ["racedet: race detected outside of test execution"]
    for label, acc in (("current", cur), ("previous", prev)):
        where = f"during {acc.test}" if acc.test else "outside of any test"
        if label == "current" and owner and owner != acc.test:
            where += f" (by a thread started during {owner})"
        lines.append(f"  {label} {acc.kind} by thread {acc.thread}: {where}")
    return "\n".join(lines)


