"""GitHub Actions annotations: one ``::error`` workflow command per finding, shown on the PR's diff.

Reviewers see a finding on the line that has it without opening the log.
Paths are relative to ``root`` (the repository checkout, ``GITHUB_WORKSPACE``)
because GitHub attaches an annotation only to a repository-relative file.
The same one-line messages serve as SARIF result messages.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

from racedet.baseline import iter_findings, relative_path
from racedet.model import BlockedThread, Deadlock, Findings, Frame, LockOrderInversion, Race

TFinding = Union[Race, BlockedThread, Deadlock, LockOrderInversion]

TITLES = {
    Race: "DATA RACE",
    BlockedThread: "GOROUTINE LEAK",
    Deadlock: "DEADLOCK",
    LockOrderInversion: "LOCK-ORDER INVERSION",
}


def _where(stack: Sequence[Frame], root: Optional[str]) -> str:
    return f"{relative_path(stack[0].file, root)}:{stack[0].line}" if stack else "an unknown line"


def title(finding: TFinding) -> str:
    """``DATA RACE``, ``GOROUTINE LEAK``, ``DEADLOCK`` or ``LOCK-ORDER INVERSION``."""
    return TITLES[type(finding)]


def primary_frame(finding: TFinding) -> Optional[Frame]:
    """The line a finding is reported on: the current access, the blocking point, the first acquisition."""
    if isinstance(finding, Race):
        stack: Sequence[Frame] = finding.current.stack
    elif isinstance(finding, BlockedThread):
        stack = finding.stack
    elif isinstance(finding, Deadlock):
        stack = next((t.stack for t in finding.threads if t.stack), ())
    else:
        stack = next((e.stack for e in finding.cycle if e.stack), ())
    return stack[0] if stack else None


def message(finding: TFinding, root: Optional[str] = None) -> str:
    """One line saying what was found, for annotations and SARIF results."""
    if isinstance(finding, Race):
        cur, prev = finding.current, finding.previous
        return (f"{cur.kind.capitalize()} of {finding.location} by {cur.thread} races with "
                f"previous {prev.kind} by {prev.thread} at {_where(prev.stack, root)}")
    if isinstance(finding, BlockedThread):
        state = ("is still running" if finding.blocked_in == "running"
                 else f"is still blocked in {finding.blocked_in}")
        when = f"when test {finding.test} ended" if finding.test else "at exit"
        text = f"{finding.thread} {state} {when}"
        if finding.created_at:
            text += f" (created at {_where(finding.created_at, root)})"
        return text
    if isinstance(finding, Deadlock):
        threads = "; ".join(f"{t.thread} in {t.blocked_in} at {_where(t.stack, root)}"
                            for t in finding.threads)
        return f"all goroutines are asleep - deadlock! {threads}"
    edges = "; ".join(f"{e.thread} acquired {e.acquired} at {_where(e.stack, root)} "
                      f"while holding {e.held}" for e in finding.cycle)
    return f"potential deadlock: lock-order inversion: {edges}"


def escape_data(text: str) -> str:
    """Escape a workflow command's message (GitHub's toolkit ``escapeData``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command property value (GitHub's toolkit ``escapeProperty``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: TFinding, root: Optional[str] = None) -> str:
    """The ``::error file=...,line=...,title=...::message`` command for one finding."""
    props: List[Tuple[str, str]] = []
    frame = primary_frame(finding)
    if frame is not None:
        props.append(("file", relative_path(frame.file, root)))
        props.append(("line", str(frame.line)))
    props.append(("title", title(finding)))
    head = ",".join(f"{k}={escape_property(v)}" for k, v in props)
    return f"::error {head}::{escape_data(message(finding, root))}"


def github_annotations(findings: Findings, root: Optional[str] = None) -> List[str]:
    """One workflow command line per finding, in report order (print them to stdout)."""
    return [annotation(f, root) for f in iter_findings(findings)]
