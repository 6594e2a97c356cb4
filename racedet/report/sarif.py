"""SARIF 2.1.0 logs, so code-scanning services show racedet's findings on the lines that have them.

One rule per finding kind; each result points at the current access (or the
blocking point), lists the other access as a related location, and carries
every stack twice: as SARIF ``stacks`` (innermost first, as racedet prints
them) and as a ``codeFlow`` with one ``threadFlow`` per thread (outermost
first, which is what GitHub's "show paths" view draws).  The baseline
fingerprint is the ``partialFingerprints`` entry, so the service tracks a
finding across edits the same way ``--baseline`` does.
"""

from __future__ import annotations

import json
import os
import pathlib
import urllib.parse
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from racedet import files
from racedet.baseline import (DATA_RACE, DEADLOCK, LEAK, LOCK_ORDER, finding_kind, fingerprint,
                              iter_findings, relative_path)
from racedet.model import (BlockedThread, Deadlock, Findings, Frame, LockOrderInversion, Race,
                           TStack)
from racedet.report.annotations import message
from racedet.report.diagnose import diagnose

TFinding = Union[Race, BlockedThread, Deadlock, LockOrderInversion]
TDict = Dict[str, Any]

SARIF_VERSION = "2.1.0"
SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
#: Key of racedet's entry in ``partialFingerprints``; the suffix is baseline.VERSION.
FINGERPRINT_KEY = "racedetFingerprint/v1"

_RULES: Tuple[Tuple[str, str, str, str, str], ...] = (
    (DATA_RACE, "DataRace",
     "Data race: two threads access the same location without synchronization.",
     "Two threads accessed the same location (attribute, global, closure cell or container item), "
     "at least one of them writing, and no synchronization (lock, queue, event, join, channel, ...) "
     "ordered the two accesses. The result depends on thread timing.",
     "Protect every access to the location with the same lock, or hand the data from one thread "
     "to the other through a queue or channel, so that one access happens before the other. "
     "Both accesses and their stacks are in the result's related location and stacks."),
    (LEAK, "GoroutineLeak",
     "Leak: a goroutine or thread is still blocked when the program or test ends.",
     "A goroutine or thread started by the program (or by one test) was still blocked, or running, "
     "when it ended. It will never finish, or finishes after its owner stopped looking.",
     "Make sure every started thread can finish: close the channel it receives from, cancel its "
     "context, set the event it waits for, and join it before returning."),
    (DEADLOCK, "Deadlock",
     "Deadlock: all goroutines are asleep.",
     "Every live thread was blocked for good (Go's 'all goroutines are asleep - deadlock!'): "
     "each one waits for something that only another blocked thread could provide.",
     "Look at what each blocked thread waits for (its stack is in the result) and break the "
     "cycle: a missing send, close, release or done()."),
    (LOCK_ORDER, "LockOrderInversion",
     "Lock-order inversion: locks taken in inconsistent orders (potential deadlock).",
     "Locks were acquired in orders that form a cycle (A then B in one place, B then A in another). "
     "No deadlock happened in this run, but a different interleaving would deadlock.",
     "Always acquire these locks in one global order, or take them together under one lock."),
)

_RULE_INDEX = {rule[0]: i for i, rule in enumerate(_RULES)}


def rules() -> List[TDict]:
    """The reportingDescriptor of each finding kind, in a fixed order (results refer to them by index)."""
    return [
        {
            "id": rid,
            "name": name,
            "shortDescription": {"text": short},
            "fullDescription": {"text": full},
            "help": {"text": f"{full}\n\n{fix}", "markdown": f"{full}\n\n**How to fix:** {fix}"},
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["concurrency", "reliability"], "precision": "high",
                           "problem.severity": "error"},
        }
        for rid, name, short, full, fix in _RULES
    ]


def _artifact(file: str, root: Optional[str]) -> TDict:
    """An artifactLocation: relative to %SRCROOT% when under ``root`` (or already relative), else a file URI."""
    rel = relative_path(file, root)
    if os.path.isabs(rel):
        return {"uri": pathlib.Path(rel).as_uri()}
    return {"uri": urllib.parse.quote(rel, safe="/"), "uriBaseId": SRCROOT}


def _location(frame: Frame, root: Optional[str], text: Optional[str] = None,
              loc_id: Optional[int] = None) -> TDict:
    loc: TDict = {}
    if loc_id is not None:
        loc["id"] = loc_id
    loc["physicalLocation"] = {
        "artifactLocation": _artifact(frame.file, root),
        "region": {"startLine": max(frame.line, 1)},
    }
    loc["logicalLocations"] = [{"fullyQualifiedName": frame.qualname or frame.function,
                                "name": frame.function, "kind": "function"}]
    if text is not None:
        loc["message"] = {"text": text}
    return loc


def _stack(frames: Sequence[Frame], root: Optional[str], text: str) -> TDict:
    return {"message": {"text": text},
            "frames": [{"location": _location(f, root)} for f in frames]}


def _thread_flow(frames: Sequence[Frame], root: Optional[str], thread: str, text: str) -> TDict:
    # Execution order: the outermost caller first, the access or blocking call last.
    return {
        "id": thread,
        "message": {"text": text},
        "locations": [{"location": _location(f, root, f"in {f.qualname or f.function}"),
                       "nestingLevel": depth}
                      for depth, f in enumerate(reversed(frames))],
    }


def _sides(finding: TFinding) -> List[Tuple[str, str, TStack]]:
    """(thread, description, stack) of every thread involved; the first is the primary one."""
    if isinstance(finding, Race):
        return [(a.thread, f"{a.kind} of {finding.location} by {a.thread}"
                 + ("" if a is finding.current else " (previous access)"), a.stack)
                for a in (finding.current, finding.previous)]
    if isinstance(finding, BlockedThread):
        sides = [(finding.thread, f"{finding.thread} blocked in {finding.blocked_in}", finding.stack)]
        if finding.created_at:
            sides.append((finding.thread, f"{finding.thread} created here", finding.created_at))
        return sides
    if isinstance(finding, Deadlock):
        return [(t.thread, f"{t.thread} blocked in {t.blocked_in}", t.stack) for t in finding.threads]
    sides = []
    for e in finding.cycle:
        sides.append((e.thread, f"{e.thread} acquired {e.acquired} while holding {e.held}", e.stack))
        if e.held_stack:
            sides.append((e.thread, f"{e.thread} acquired {e.held}", e.held_stack))
    return sides


def _unique_ids(sides: Sequence[Tuple[str, str, TStack]]) -> List[str]:
    """Thread names made unique (a leak's creation stack, two acquisitions by one thread)."""
    seen: Dict[str, int] = {}
    out = []
    for thread, _, _ in sides:
        n = seen[thread] = seen.get(thread, 0) + 1
        out.append(thread if n == 1 else f"{thread} #{n}")
    return out


def result(finding: TFinding, root: Optional[str] = None, tests: Sequence[str] = ()) -> TDict:
    """The SARIF result object of one finding; ``tests``: every test it came from (pytest)."""
    kind = finding_kind(finding)
    res: TDict = {
        "ruleId": kind,
        "ruleIndex": _RULE_INDEX[kind],
        "level": "error",
        "message": {"text": message(finding, root)},
    }
    sides = [s for s in _sides(finding) if s[2]]
    if sides:
        _, text, stack = sides[0]
        res["locations"] = [_location(stack[0], root, text)]
    if len(sides) > 1:
        res["relatedLocations"] = [_location(stack[0], root, text, loc_id=i)
                                   for i, (_, text, stack) in enumerate(sides[1:], 1)]
    if sides:
        res["codeFlows"] = [{
            "message": {"text": res["message"]["text"]},
            "threadFlows": [_thread_flow(stack, root, thread, text)
                            for thread, (_, text, stack) in zip(_unique_ids(sides), sides)],
        }]
        res["stacks"] = [_stack(stack, root, text) for _, text, stack in sides]
    res["partialFingerprints"] = {FINGERPRINT_KEY: fingerprint(finding, root)}
    props: TDict = {}
    tests = sorted({t for t in _tests(finding) if t} | set(tests))
    if tests:
        props["tests"] = tests
    if isinstance(finding, Race):
        props["location"] = finding.location
        props["locationKind"] = finding.location_kind
        diag = diagnose(finding)
        if diag is not None:
            props["diagnosis"] = diag.to_dict()
            res["message"]["text"] += f" ({diag.text})"
        held = {side: [h.name for h in acc.held_locks] for side, acc in
                (("current", finding.current), ("previous", finding.previous)) if acc.held_locks is not None}
        if held:
            props["heldLocks"] = held
    if props:
        res["properties"] = props
    return res


def _tests(finding: TFinding) -> List[Optional[str]]:
    if isinstance(finding, Race):
        return [finding.current.test, finding.previous.test]
    if isinstance(finding, BlockedThread):
        return [finding.test]
    if isinstance(finding, Deadlock):
        return [t.test for t in finding.threads]
    return []


def to_sarif(findings: Findings, *, tool_version: str, root: Optional[str] = None) -> TDict:
    """A SARIF 2.1.0 log (as a dict) with one run holding one result per finding."""
    run: TDict = {
        "tool": {"driver": {"name": "racedet", "version": tool_version, "rules": rules()}},
    }
    if root is not None:
        run["originalUriBaseIds"] = {
            SRCROOT: {"uri": pathlib.Path(os.path.abspath(root)).as_uri().rstrip("/") + "/"}}
    grouped = findings.race_tests
    run["results"] = [result(f, root, grouped.get(f.key, ()) if grouped and isinstance(f, Race) else ())
                      for f in iter_findings(findings)]
    run["properties"] = {"suppressed": findings.suppressed}
    return {"$schema": SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def write_sarif(path: str, findings: Findings, *, tool_version: str,
                root: Optional[str] = None) -> None:
    """Write :func:`to_sarif` to ``path`` (UTF-8 JSON; see :mod:`racedet.files`)."""
    text = json.dumps(to_sarif(findings, tool_version=tool_version, root=root), indent=2) + "\n"
    files.write_text(path, text, "SARIF log")
