"""Go's text report format, for stderr: races, leaks, deadlocks and lock-order inversions."""

from __future__ import annotations

from typing import List, Optional, Tuple

from racedet.model import Access, BlockedThread, Deadlock, Findings, LockOrderInversion, Race, TStack
from racedet.report.diagnose import caret_span, diagnose, source_line

SEP = "=================="


class Formatter:
    """Formats findings; ``strip_path_prefix`` is removed from file paths (Go's option).

    With ``source`` (the default; ``--no-source`` turns it off) every frame
    is followed by its source line, as Python tracebacks show it, and the
    location in an access's own line is marked with carets.
    """

    def __init__(self, strip_path_prefix: str = "", source: bool = True) -> None:
        self.strip = strip_path_prefix
        self.source = source

    def path(self, p: str) -> str:
        if self.strip and p.startswith(self.strip):
            return p[len(self.strip):]
        return p

    def stack(self, stack: TStack, restored: bool = True, mark: Optional[Race] = None) -> List[str]:
        """Frames, innermost first; ``mark``: the race whose location the first frame's line shows."""
        out = []
        for i, f in enumerate(stack):
            out.append(f'  File "{self.path(f.file)}", line {f.line}, in {f.function}')
            if not self.source:
                continue
            text = source_line(f.file, f.line)
            if not text:
                continue
            out.append(f"    {text}")
            span: Optional[Tuple[int, int]] = caret_span(text, mark) if (i == 0 and mark is not None) else None
            if span is not None:
                out.append("    " + " " * span[0] + "^" * (span[1] - span[0]))
        if not restored:
            out.append("  [failed to restore the stack]")
        return out

    @staticmethod
    def held(a: Access) -> List[str]:
        """``  holding Lock L1 (created at pool.py:12)``, ``  no lock held``; nothing when unknown."""
        if a.held_locks is None:
            return []
        if not a.held_locks:
            return ["  no lock held"]
        parts = []
        for h in a.held_locks:
            where = f" (created at {h.created_at.file.rsplit('/', 1)[-1]}:{h.created_at.line})" if h.created_at else ""
            parts.append(h.name + where)
        return ["  holding " + ", ".join(parts)]

    def race(self, race: Race) -> str:
        cur, prev = race.current, race.previous
        lines = [SEP, "WARNING: DATA RACE"]
        lines.append(f"{cur.kind.capitalize()} of {race.location} at {hex(race.address)} by thread {cur.thread}:")
        lines += self.stack(cur.stack, mark=race)
        lines += self.held(cur)
        lines.append("")
        lines.append(f"Previous {prev.kind} of {race.location} by thread {prev.thread}:")
        lines += self.stack(prev.stack, prev.stack_restored, mark=race)
        lines += self.held(prev)
        lines += self._created(cur)
        if prev.thread != cur.thread:
            lines += self._created(prev)
        d = diagnose(race)
        if d is not None:
            lines += ["", f"Diagnosis: {d.text}"] + [f"  {s}" for s in d.steps]
        lines.append(SEP)
        return "\n".join(lines) + "\n"

    def _created(self, a: Access) -> List[str]:
        if not a.created_at:
            return []
        return ["", f"Thread {a.thread} ({a.thread_status}) created at:"] + self.stack(a.created_at)

    def leak(self, leak: BlockedThread, when: str = "at exit") -> str:
        where = "running" if leak.blocked_in == "running" else f"blocked in {leak.blocked_in}"
        lines = [SEP, "WARNING: LEAK", f"Thread {leak.thread} still {where} {when}:"]
        lines += self.stack(leak.stack) or ["  [no Python frames]"]
        if leak.created_at:
            lines += ["", f"Thread {leak.thread} created at:"] + self.stack(leak.created_at)
        lines.append(SEP)
        return "\n".join(lines) + "\n"

    def deadlock(self, dl: Deadlock) -> str:
        lines = ["fatal error: all goroutines are asleep - deadlock!", ""]
        for t in dl.threads:
            lines.append(f"Thread {t.thread} [{t.blocked_in}]:")
            lines += self.stack(t.stack) or ["  [no Python frames]"]
            if t.created_at:
                lines.append("created at:")
                lines += self.stack(t.created_at)
            lines.append("")
        return "\n".join(lines)

    def inversion(self, inv: LockOrderInversion) -> str:
        names = [e.held.split(" ")[1] if " " in e.held else e.held for e in inv.cycle]
        lines = [SEP, "WARNING: LOCK-ORDER INVERSION (potential deadlock)",
                 "Cycle in lock order graph: " + " => ".join(names + names[:1])]
        for e in inv.cycle:
            lines += ["", f"{e.acquired} acquired here while holding {e.held} in thread {e.thread}:"]
            lines += self.stack(e.stack)
            if e.held_stack:
                lines += ["", f"{e.held} previously acquired by the same thread here:"]
                lines += self.stack(e.held_stack)
        lines.append(SEP)
        return "\n".join(lines) + "\n"

    def summary(self, f: Findings) -> str:
        parts = []
        if f.races:
            parts.append(f"racedet: found {len(f.races)} data race(s)")
        if f.leaks:
            parts.append(f"racedet: found {len(f.leaks)} leaked thread(s)")
        if f.lock_order_inversions:
            parts.append(f"racedet: found {len(f.lock_order_inversions)} lock-order inversion(s)")
        if f.suppressed:
            parts.append(f"racedet: {f.suppressed} suppressed")
        return "\n".join(parts) + ("\n" if parts else "")
