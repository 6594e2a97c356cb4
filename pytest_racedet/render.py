"""How ``pytest --race`` shows findings: stacks without pytest's frames, failure texts, summary lines.

Pure functions of racedet's model records (and pytest's report classes): no
detector state, so the controller of an xdist run, which runs no detector,
renders its workers' findings with the same code.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional, Sequence, Tuple

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

#: Stacks are cut where pytest's machinery starts, as Go cuts at testing.tRunner.
_CUT_DIRS = _FRAMEWORK_DIRS + (PLUGIN_DIR + os.sep,)

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


def trim(stack: Sequence[Frame]) -> Tuple[Frame, ...]:
    """The frames above pytest's machinery (the test function and what it called)."""
    out = []
    for fr in stack:
        if fr.file.startswith(_CUT_DIRS):
            break
        out.append(fr)
    return tuple(out) if out else tuple(stack[:1])


def trim_finding(kind: str, f: Any) -> Any:
    """``f`` with every stack trimmed; the records are frozen dataclasses."""
    rep = dataclasses.replace
    if kind == "race":
        return rep(f, current=rep(f.current, stack=trim(f.current.stack), created_at=trim(f.current.created_at)),
                   previous=rep(f.previous, stack=trim(f.previous.stack), created_at=trim(f.previous.created_at)))
    if kind == "leak":
        return rep(f, stack=trim(f.stack), created_at=trim(f.created_at))
    if kind == "deadlock":
        return rep(f, threads=tuple(trim_finding("leak", t) for t in f.threads))
    return rep(f, cycle=tuple(rep(e, stack=trim(e.stack), held_stack=trim(e.held_stack)) for e in f.cycle))


# --------------------------------------------------------------------------
# Text of findings


def short_message(rec: Record) -> str:
    """One line for the short test summary: ``DATA RACE on LRUCache.size``."""
    f = rec.finding
    if rec.kind == "race":
        return f"DATA RACE on {f.location}"
    if rec.kind == "leak":
        where = "running" if f.blocked_in == "running" else f"blocked in {f.blocked_in}"
        return f"LEAK of thread {f.thread} ({where})"
    if rec.kind == "deadlock":
        return "DEADLOCK (all threads are asleep)"
    return "LOCK-ORDER INVERSION (potential deadlock)"


def count_phrase(records: Sequence[Record]) -> str:
    """``1 race, 2 leaks``: distinct races (by their pair of lines), the rest one by one."""
    parts = []
    for kind in _KINDS:
        if kind == "race":
            n = len({r.finding.key for r in records if r.kind == "race"})
        else:
            n = sum(1 for r in records if r.kind == kind)
        if n:
            one, many = _NOUNS[kind]
            parts.append(f"{n} {one if n == 1 else many}")
    return ", ".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(records: Sequence[Record], tests_run: int) -> str:
    """The end-of-run line: ``racedet: 1 race, 1 leak in 2 tests``."""
    inside = [r for r in records if r.test is not None]
    outside = [r for r in records if r.test is None]
    parts = []
    if inside:
        parts.append(f"{count_phrase(inside)} in {_plural(len({r.test for r in inside}), 'test')}")
    if outside:
        parts.append(f"{count_phrase(outside)} outside of test execution")
    if not parts:
        return f"racedet: no races, leaks or deadlocks in {_plural(tests_run, 'test')}"
    return "racedet: " + ", ".join(parts)


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

    def test_text(self, records: Sequence[Record]) -> str:
        head = f"racedet: {count_phrase(records)} during this test"
        return head + "\n\n" + "\n".join(self.text(r) for r in records)


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


