"""Silencing accepted findings: a TSan-style suppressions file and inline ``# racedet: ignore`` comments.

A team adopting racedet on a large codebase needs to accept some findings
without losing sight of them, so suppressed findings are moved out and
counted (``Findings.suppressed``), never dropped silently.

File format, one rule a line (``#`` starts a comment; blank lines are ignored)::

    race:mypkg.cache.*          # any frame of either access, by qualified name
    race_top:LRUCache.put       # only the top frame (the access line itself)
    race:app.py:42              # a frame at file.py:LINE (basename or path suffix)
    leak:*/vendor/*             # a glob on the file path
    deadlock:Pool.shutdown
    lock_order:mypkg.db.*

A pattern is a glob on a frame's function: its qualname (``LRUCache.put``),
its plain name, or its module-qualified name (``mypkg.cache.LRUCache.put``,
module found from the package layout).  A pattern with a ``/`` or ending in
``.py`` is a glob on the file path, anchored at a path separator.
"""

from __future__ import annotations

import fnmatch
import functools
import linecache
import os
import re
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from racedet.exceptions import ConfigError
from racedet.model import BlockedThread, Deadlock, Findings, Frame, LockOrderInversion, Race, TStack

#: Kinds accepted in a suppressions file.
KINDS = ("race", "race_top", "leak", "deadlock", "lock_order")
#: Kinds accepted inside ``# racedet: ignore[...]``.
INLINE_KINDS = ("race", "leak", "deadlock", "lock_order")

TFinding = Union[Race, BlockedThread, Deadlock, LockOrderInversion]

_INLINE_RE = re.compile(r"#\s*racedet:\s*ignore(?:\[([^\]]*)\])?", re.IGNORECASE)
_DRIVE_RE = re.compile(r"^[A-Za-z]:[\\/]")


def _norm(path: str) -> str:
    return path.replace("\\", "/")


@functools.lru_cache(maxsize=1024)
def module_name(file: str) -> str:
    """The dotted module name of ``file``, from the ``__init__.py`` files of its packages.

    ``/repo/src/mypkg/cache.py`` with ``src/mypkg/__init__.py`` gives
    ``mypkg.cache``; a script gives its stem.  Pure file-system facts, so the
    answer does not depend on how the program was started.
    """
    d, base = os.path.split(os.path.abspath(file))
    stem = os.path.splitext(base)[0]
    parts = [] if stem == "__init__" else [stem]
    while d and os.path.isfile(os.path.join(d, "__init__.py")):
        d, pkg = os.path.split(d)
        parts.append(pkg)
        if not pkg:
            break
    return ".".join(reversed(parts))


class Rule:
    """One line of a suppressions file: ``kind:pattern``, matched against frames."""

    __slots__ = ("kind", "pattern", "source", "line", "hits", "_file", "_lineno", "_is_path")

    def __init__(self, kind: str, pattern: str, source: str = "<string>", line: int = 0) -> None:
        self.kind = kind
        self.pattern = pattern
        self.source = source
        self.line = line
        self.hits = 0
        self._file: Optional[str] = None
        self._lineno = 0
        head, sep, tail = pattern.rpartition(":")
        if sep and not _DRIVE_RE.match(pattern):
            if not head or not tail.isdigit() or int(tail) <= 0:
                raise ConfigError(f"{source}:{line}: bad 'file.py:LINE' pattern {pattern!r}")
            self._file, self._lineno = _norm(head), int(tail)
        p = _norm(pattern)
        self._is_path = "/" in p or p.endswith(".py")

    def __repr__(self) -> str:
        return f"<Rule {self.kind}:{self.pattern} at {self.source}:{self.line}, {self.hits} hits>"

    def matches_frame(self, frame: Frame) -> bool:
        """True when this rule's pattern names ``frame``."""
        path = _norm(frame.file)
        if self._file is not None:
            return frame.line == self._lineno and _path_match(path, self._file)
        if self._is_path:
            return _path_match(path, _norm(self.pattern))
        pat = self.pattern
        qual = frame.qualname or frame.function
        if fnmatch.fnmatchcase(qual, pat) or fnmatch.fnmatchcase(frame.function, pat):
            return True
        return fnmatch.fnmatchcase(f"{module_name(frame.file)}.{qual}", pat)


def _path_match(path: str, pat: str) -> bool:
    """Glob ``pat`` against the whole path or any suffix starting after a ``/``."""
    return fnmatch.fnmatchcase(path, pat) or fnmatch.fnmatchcase(path, "*/" + pat)


def parse_line(text: str, source: str = "<string>", line: int = 0) -> Optional[Rule]:
    """Parse one line of a suppressions file; None for blank lines and comments."""
    s = text.strip()
    if not s or s.startswith("#"):
        return None
    # A trailing comment needs whitespace before '#', so patterns may still hold '#'.
    s = re.split(r"\s+#", s, maxsplit=1)[0].strip()
    kind, sep, pattern = s.partition(":")
    kind, pattern = kind.strip(), pattern.strip()
    if not sep:
        raise ConfigError(f"{source}:{line}: expected 'kind:pattern', got {s!r}")
    if kind not in KINDS:
        raise ConfigError(f"{source}:{line}: unknown kind {kind!r}")
    if not pattern:
        raise ConfigError(f"{source}:{line}: empty pattern after '{kind}:'")
    return Rule(kind, pattern, source, line)


def _top_frames(stacks: Iterable[Sequence[Frame]]) -> Iterator[Frame]:
    for stack in stacks:
        if stack:
            yield stack[0]


def _all_frames(stacks: Iterable[Sequence[Frame]]) -> Iterator[Frame]:
    for stack in stacks:
        yield from stack


def _stacks(finding: TFinding) -> Tuple[str, List[TStack], List[TStack]]:
    """(kind, stacks any frame of which a rule may match, stacks whose top lines inline comments mark)."""
    if isinstance(finding, Race):
        both = [finding.current.stack, finding.previous.stack]
        return "race", both, both
    if isinstance(finding, BlockedThread):
        # A leak is named by where it is stuck or by where the thread was started.
        return "leak", [finding.stack, finding.created_at], [finding.stack]
    if isinstance(finding, Deadlock):
        stacks = [t.stack for t in finding.threads]
        return "deadlock", stacks, stacks
    if isinstance(finding, LockOrderInversion):
        stacks = [s for e in finding.cycle for s in (e.stack, e.held_stack)]
        return "lock_order", stacks, stacks
    raise TypeError(f"not a finding: {finding!r}")


def inline_kinds(file: str, line: int) -> Optional[frozenset]:
    """The kinds that ``# racedet: ignore`` on ``file:line`` silences (all of them when unrestricted)."""
    m = _INLINE_RE.search(linecache.getline(file, line))
    if m is None:
        return None
    if m.group(1) is None:
        return frozenset(INLINE_KINDS)
    return frozenset(k.strip().lower() for k in m.group(1).split(",") if k.strip())


class Suppressions:
    """The rules of a suppressions file plus the inline comments of the sources."""

    def __init__(self, rules: Sequence[Rule] = (), *, inline: bool = True,
                 source: Optional[str] = None) -> None:
        self.rules = list(rules)
        self.inline = inline
        self.source = source
        self.inline_hits = 0

    def __repr__(self) -> str:
        return f"<Suppressions {self.source or 'inline only'}: {len(self.rules)} rules>"

    @classmethod
    def empty(cls, *, inline: bool = True) -> "Suppressions":
        """No file rules; inline ``# racedet: ignore`` comments still count unless ``inline=False``."""
        return cls((), inline=inline)

    @classmethod
    def parse(cls, text: str, source: str = "<string>", *, inline: bool = True) -> "Suppressions":
        """Rules from ``text``; ``source`` names it in error messages."""
        rules = []
        for n, raw in enumerate(text.splitlines(), 1):
            rule = parse_line(raw, source, n)
            if rule is not None:
                rules.append(rule)
        return cls(rules, inline=inline, source=source)

    @classmethod
    def load(cls, path: str, *, inline: bool = True) -> "Suppressions":
        """Read a suppressions file; an unreadable or malformed one raises ConfigError."""
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise ConfigError(f"cannot read suppressions file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"cannot read suppressions file {path}: {exc.reason}") from None
        return cls.parse(text, path, inline=inline)

    def matching_rule(self, finding: TFinding) -> Optional[Rule]:
        """The first file rule that suppresses ``finding``, if any."""
        kind, stacks, _ = _stacks(finding)
        for rule in self.rules:
            if rule.kind == kind:
                frames = _all_frames(stacks)
            elif kind == "race" and rule.kind == "race_top":
                frames = _top_frames(stacks)
            else:
                continue
            if any(rule.matches_frame(f) for f in frames):
                return rule
        return None

    def suppressed_inline(self, finding: TFinding) -> bool:
        """True when a ``# racedet: ignore`` comment sits on the finding's access or blocking line."""
        if not self.inline:
            return False
        kind, _, tops = _stacks(finding)
        for frame in _top_frames(tops):
            kinds = inline_kinds(frame.file, frame.line)
            if kinds is not None and kind in kinds:
                return True
        return False

    def suppresses(self, finding: TFinding) -> bool:
        """True when a file rule or an inline comment silences ``finding``; counts the hit."""
        rule = self.matching_rule(finding)
        if rule is not None:
            rule.hits += 1
            return True
        if self.suppressed_inline(finding):
            self.inline_hits += 1
            return True
        return False

    def unused(self) -> List[Rule]:
        """Rules that matched nothing so far: candidates for deletion when burning down."""
        return [r for r in self.rules if r.hits == 0]


def filter_findings(findings: Findings, sup: Suppressions) -> Findings:
    """A new Findings without the suppressed ones; ``suppressed`` counts them on top of earlier ones."""
    out = Findings(suppressed=findings.suppressed)
    for race in findings.races:
        if sup.suppresses(race):
            out.suppressed += 1
        else:
            out.races.append(race)
    for leak in findings.leaks:
        if sup.suppresses(leak):
            out.suppressed += 1
        else:
            out.leaks.append(leak)
    if findings.deadlock is not None:
        if sup.suppresses(findings.deadlock):
            out.suppressed += 1
        else:
            out.deadlock = findings.deadlock
    for inv in findings.lock_order_inversions:
        if sup.suppresses(inv):
            out.suppressed += 1
        else:
            out.lock_order_inversions.append(inv)
    return out
