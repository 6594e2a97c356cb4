"""A one-line diagnosis of a data race: what kind of mistake the two accesses make, and the fix.

Reads only the race record and the program's source lines (``linecache``),
so every reporter (text, JSON, SARIF, HTML) gives the same verdict.  The
kinds, first match wins:

``lost-update``
    one access is a read-modify-write of the location (``x += 1``,
    ``d[k] = d[k] + 1``) and the other a write: one of the two updates can
    be lost.  Comes with the interleaving that loses it, as numbered steps.
``one-side-unlocked``
    one access holds a lock, the other holds none.
``different-locks``
    both hold locks, but no lock in common.
``unordered-start-join``
    one access is in the thread that started the other's thread, in the
    function that started it: after ``start()`` or before ``join()``.

A race with no recognisable shape gets no diagnosis.
"""

from __future__ import annotations

import ast
import dataclasses
import linecache
import re
from typing import Any, List, Optional, Tuple

from racedet.model import Access, Race


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    kind: str
    text: str
    steps: Tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d: dict = {"kind": self.kind, "text": self.text}
        if self.steps:
            d["steps"] = list(self.steps)
        return d


def source_line(file: str, line: int) -> str:
    """The stripped source line, or '' when the file cannot be read (as tracebacks do)."""
    return linecache.getline(file, line).strip()


def location_name(race: Race) -> str:
    """The name the user wrote for the location: ``value`` of ``Counter.value``, ``n`` of ``global n``."""
    loc = race.location
    kind = race.location_kind
    if kind == "attribute" and "." in loc:
        return loc.rsplit(".", 1)[1]
    if kind in ("global", "cell"):
        return loc.split()[-1]
    return ""


def _target_name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Subscript):
        return _target_name(node.value)
    return ""


def _mentions(node: ast.AST, name: str) -> bool:
    return any(_target_name(n) == name for n in ast.walk(node) if isinstance(n, (ast.Attribute, ast.Name)))


def is_read_modify_write(text: str, name: str, item: bool = False) -> bool:
    """Does this line update the location from its own old value (``+=``, ``x = x + 1``)?"""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.AugAssign):
            t = node.target
            if item and isinstance(t, ast.Subscript):
                return True
            if name and _target_name(t) == name and not isinstance(t, ast.Subscript):
                return True
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            t = node.targets[0]
            if item and isinstance(t, ast.Subscript):
                key = ast.dump(t.slice)
                if any(isinstance(n, ast.Subscript) and ast.dump(n.slice) == key for n in ast.walk(node.value)):
                    return True
            elif name and _target_name(t) == name and not isinstance(t, ast.Subscript) and _mentions(node.value, name):
                return True
    return False


def _without_comment(text: str) -> str:
    """The statement as written, less a trailing comment (``ast.unparse`` of the line)."""
    try:
        return ast.unparse(ast.parse(text))
    except (SyntaxError, ValueError):  # pragma: no cover - is_read_modify_write parsed it already
        return text


def _held_names(a: Access) -> List[str]:
    return [h.name for h in a.held_locks or ()]


def _short(a: Access) -> str:
    fr = a.stack[0] if a.stack else None
    return f"{fr.file.rsplit('/', 1)[-1]}:{fr.line}" if fr else "?"


def diagnose(race: Race) -> Optional[Diagnosis]:
    cur, prev = race.current, race.previous
    name = location_name(race)
    item = race.location_kind == "item"
    for rmw, other in ((cur, prev), (prev, cur)):
        if not rmw.stack or other.kind != "write":
            continue
        text = source_line(rmw.stack[0].file, rmw.stack[0].line)
        if text and is_read_modify_write(text, name, item):
            text = _without_comment(text)
            loc = race.location
            a, b = rmw.thread, other.thread
            steps = (
                f"1. thread {a} reads {loc} ({_short(rmw)})",
                f"2. thread {b} writes {loc} ({_short(other)})",
                f"3. thread {a} writes {loc} from the value it read: {b}'s write is lost",
            )
            return Diagnosis("lost-update",
                             f"lost update: `{text}` reads and writes {loc} in two steps; a write by another "
                             "thread between them is lost. Hold one lock around the whole update.", steps)
    if cur.held_locks is not None and prev.held_locks is not None:
        ch, ph = _held_names(cur), _held_names(prev)
        if bool(ch) != bool(ph):
            locked, bare = (cur, prev) if ch else (prev, cur)
            locks = " and ".join(_held_names(locked))
            return Diagnosis("one-side-unlocked",
                             f"the {locked.kind} holds {locks}, the {bare.kind} holds nothing: "
                             f"take {_held_names(locked)[0]} around the {bare.kind} too.")
        if ch and ph and not set(ch) & set(ph):
            return Diagnosis("different-locks",
                             f"the accesses hold different locks, {', '.join(ch)} and {', '.join(ph)}: "
                             "a location must be guarded by the same lock everywhere.")
    for parent, child in ((cur, prev), (prev, cur)):
        if not child.created_at or not parent.stack:
            continue
        origin = child.created_at[0]
        if any(f.file == origin.file and f.function == origin.function for f in parent.stack):
            if parent.thread == child.thread:
                continue
            return Diagnosis("unordered-start-join",
                             f"thread {child.thread} was started at {origin.file.rsplit('/', 1)[-1]}:{origin.line} "
                             f"in {origin.function}, which also accesses {race.location} with nothing ordering "
                             "the two: access it before start(), or after join().")
    return None



def caret_span(text: str, race: Race) -> Optional[Tuple[int, int]]:
    """Columns of the location in the access line, for a ``^^^`` marker under it (as tracebacks mark)."""
    name = location_name(race)
    if not name:
        if race.location_kind == "item":
            m = re.search(r"\[[^\]]*\]", text)
            return (m.start(), m.end()) if m else None
        return None
    for m in re.finditer(r"(?<![\w])" + re.escape(name) + r"(?![\w])", text):
        return m.start(), m.end()
    return None


def describe_any(finding: Any) -> Optional[dict]:
    """The JSON ``diagnosis`` of a race record (None for other findings or no diagnosis)."""
    if not isinstance(finding, Race):
        return None
    d = diagnose(finding)
    return d.to_dict() if d else None
