"""Baselines: gate CI only on findings that are new, so racedet can be adopted on a codebase with known races.

A finding's identity (its fingerprint) must survive unrelated edits that move
lines, and runs that see the two accesses of a race in the other order: it is
built from repository-relative file paths, function qualnames, the location
(with addresses removed) and the access kinds, never from line numbers,
thread names or addresses.  The baseline file is sorted JSON with a readable
summary per entry so that reviews of ``--update-baseline`` diffs make sense.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from racedet import files
from racedet.exceptions import ConfigError
from racedet.model import BlockedThread, Deadlock, Findings, Frame, LockOrderInversion, Race

TFinding = Union[Race, BlockedThread, Deadlock, LockOrderInversion]

#: Bumped when the fingerprint recipe changes; baselines of another version are refused.
VERSION = 1

#: Rule ids of the finding kinds, shared by SARIF, annotations and baselines.
DATA_RACE = "data-race"
LEAK = "goroutine-leak"
DEADLOCK = "deadlock"
LOCK_ORDER = "lock-order-inversion"

_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]+")
_INSTALL_DIRS = ("site-packages", "dist-packages")
_STDLIB_RE = re.compile(r"/lib/(?:pypy|python)\d+(?:\.\d+)?t?/")


def finding_kind(finding: TFinding) -> str:
    """The rule id of ``finding``: data-race, goroutine-leak, deadlock or lock-order-inversion."""
    if isinstance(finding, Race):
        return DATA_RACE
    if isinstance(finding, BlockedThread):
        return LEAK
    if isinstance(finding, Deadlock):
        return DEADLOCK
    if isinstance(finding, LockOrderInversion):
        return LOCK_ORDER
    raise TypeError(f"not a finding: {finding!r}")


def iter_findings(findings: Findings) -> Iterator[TFinding]:
    """Every finding in report order: races, leaks, the deadlock, lock-order inversions."""
    yield from findings.races
    yield from findings.leaks
    if findings.deadlock is not None:
        yield findings.deadlock
    yield from findings.lock_order_inversions


def relative_path(file: str, root: Optional[str]) -> str:
    """``file`` relative to ``root`` with ``/`` separators when inside it, else unchanged (``/`` separators)."""
    if root and os.path.isabs(file):
        rel = os.path.relpath(file, root) if _same_drive(file, root) else os.pardir
        if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
            return rel.replace(os.sep, "/")
    return file.replace(os.sep, "/")


def _same_drive(a: str, b: str) -> bool:
    return os.path.splitdrive(a)[0].lower() == os.path.splitdrive(os.path.abspath(b))[0].lower()


def portable_path(file: str, root: Optional[str]) -> str:
    """A path that is the same on every machine: relative to ``root``, or to site-packages or the stdlib."""
    path = relative_path(file, root)
    if not os.path.isabs(file) or path != file.replace(os.sep, "/"):
        return path
    parts = path.split("/")
    for d in _INSTALL_DIRS:
        if d in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(d):])
    m = _STDLIB_RE.search(path)
    if m:
        return path[m.end():]
    return path


def _func(frame: Frame) -> str:
    return frame.qualname or frame.function


def _frame_id(frame: Frame, root: Optional[str]) -> str:
    return f"{portable_path(frame.file, root)}::{_func(frame)}"


def _top_id(stack: Sequence[Frame], root: Optional[str]) -> str:
    return _frame_id(stack[0], root) if stack else "?"


def strip_addresses(text: str) -> str:
    """``dict item 'k' of <dict at 0x7f..>`` -> ``dict item 'k' of <dict at 0x?>``."""
    return _ADDRESS_RE.sub("0x?", text)


def _parts(finding: TFinding, root: Optional[str]) -> List[str]:
    """The line-free facts that identify ``finding``; order-independent where the detector's order is not."""
    kind = finding_kind(finding)
    if isinstance(finding, Race):
        # The detector may see the two accesses in either order from run to run.
        sides = sorted(f"{a.kind}@{_top_id(a.stack, root)}" for a in (finding.current, finding.previous))
        return [kind, strip_addresses(finding.location), *sides]
    if isinstance(finding, BlockedThread):
        return [kind, finding.blocked_in, *(_frame_id(f, root) for f in finding.stack)]
    if isinstance(finding, Deadlock):
        return [kind, *sorted(f"{t.blocked_in}@{_top_id(t.stack, root)}" for t in finding.threads)]
    assert isinstance(finding, LockOrderInversion)
    # A cycle has no first edge: sorting makes every rotation the same.
    return [kind, *sorted(f"{_top_id(e.held_stack, root)}->{_top_id(e.stack, root)}" for e in finding.cycle)]


def fingerprint(finding: TFinding, root: Optional[str] = None) -> str:
    """A stable 16-hex-digit identity of ``finding``; paths are taken relative to ``root``."""
    text = "\x1f".join([f"v{VERSION}", *_parts(finding, root)])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def summary(finding: TFinding, root: Optional[str] = None) -> str:
    """A one-line, line-number-free description for baseline entries (readable in review diffs)."""
    if isinstance(finding, Race):
        sides = sorted(f"{a.kind} in {_describe_top(a.stack, root)}" for a in (finding.current, finding.previous))
        return f"data race on {strip_addresses(finding.location)}: {sides[0]} / {sides[1]}"
    if isinstance(finding, BlockedThread):
        return f"leak: blocked in {finding.blocked_in} at {_describe_top(finding.stack, root)}"
    if isinstance(finding, Deadlock):
        threads = sorted(f"{t.blocked_in} at {_describe_top(t.stack, root)}" for t in finding.threads)
        return "deadlock: " + "; ".join(threads)
    assert isinstance(finding, LockOrderInversion)
    edges = sorted(f"{_describe_top(e.stack, root)}" for e in finding.cycle)
    return "lock-order inversion: " + "; ".join(edges)


def _describe_top(stack: Sequence[Frame], root: Optional[str]) -> str:
    if not stack:
        return "?"
    return f"{_func(stack[0])} ({portable_path(stack[0].file, root)})"


class Baseline:
    """The fingerprints of accepted findings, read from a baseline file."""

    def __init__(self, fingerprints: Sequence[str] = (), root: Optional[str] = None,
                 path: Optional[str] = None) -> None:
        self.fingerprints = frozenset(fingerprints)
        self.root = root
        self.path = path

    def __repr__(self) -> str:
        return f"<Baseline {self.path or '(empty)'}: {len(self.fingerprints)} findings>"

    def __len__(self) -> int:
        return len(self.fingerprints)

    @classmethod
    def load(cls, path: str) -> "Baseline":
        """Read a baseline file; paths in it are relative to its directory.  Bad files raise ConfigError."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except OSError as exc:
            raise ConfigError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"invalid baseline {path}: not JSON ({exc})") from None
        except RecursionError:
            raise ConfigError(f"invalid baseline {path}: nested too deeply") from None
        if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
            raise ConfigError(f"invalid baseline {path}: expected an object with a 'findings' list")
        if data.get("version") != VERSION:
            raise ConfigError(
                f"invalid baseline {path}: version {data.get('version')!r}, expected {VERSION}"
                " (rewrite it with --update-baseline)")
        fps = []
        for i, entry in enumerate(data["findings"]):
            fp = entry.get("fingerprint") if isinstance(entry, dict) else None
            if not isinstance(fp, str) or not fp:
                raise ConfigError(f"invalid baseline {path}: entry {i} has no fingerprint")
            fps.append(fp)
        return cls(fps, root=os.path.dirname(os.path.abspath(path)), path=path)

    def contains(self, finding: TFinding) -> bool:
        """True when ``finding`` was accepted in the baseline."""
        return fingerprint(finding, self.root) in self.fingerprints


def baseline_entries(findings: Findings, root: Optional[str]) -> List[Dict[str, Any]]:
    """One entry per distinct fingerprint, sorted by kind, summary and fingerprint."""
    entries: Dict[str, Dict[str, Any]] = {}
    for finding in iter_findings(findings):
        fp = fingerprint(finding, root)
        entries.setdefault(fp, {"fingerprint": fp, "kind": finding_kind(finding),
                                "summary": summary(finding, root)})
    return sorted(entries.values(), key=lambda e: (e["kind"], e["summary"], e["fingerprint"]))


def write_baseline(path: str, findings: Findings, root: Optional[str] = None) -> None:
    """Write ``findings`` as a baseline (stable sorted JSON); ``root`` defaults to the file's directory."""
    if root is None:
        root = os.path.dirname(os.path.abspath(path))
    doc = {"version": VERSION, "tool": "racedet", "findings": baseline_entries(findings, root)}
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    files.write_text(path, text, "baseline")  # A reader never sees a half-written baseline.


def split_new(findings: Findings, baseline: Baseline) -> Tuple[Findings, int]:
    """(the findings not in ``baseline``, how many were in it); ``suppressed`` is carried over."""
    new = Findings(suppressed=findings.suppressed)
    known = 0
    for race in findings.races:
        if baseline.contains(race):
            known += 1
        else:
            new.races.append(race)
    for leak in findings.leaks:
        if baseline.contains(leak):
            known += 1
        else:
            new.leaks.append(leak)
    if findings.deadlock is not None:
        if baseline.contains(findings.deadlock):
            known += 1
        else:
            new.deadlock = findings.deadlock
    for inv in findings.lock_order_inversions:
        if baseline.contains(inv):
            known += 1
        else:
            new.lock_order_inversions.append(inv)
    return new, known
