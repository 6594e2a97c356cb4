"""Go's text report format, for stderr: races, leaks, deadlocks and lock-order inversions."""

from __future__ import annotations

from typing import List

from racedet.model import Access, BlockedThread, Deadlock, Findings, LockOrderInversion, Race, TStack

SEP = "=================="


class Formatter:
    """Formats findings; ``strip_path_prefix`` is removed from file paths (Go's option)."""

    def __init__(self, strip_path_prefix: str = "") -> None:
        self.strip = strip_path_prefix

    def path(self, p: str) -> str:
        if self.strip and p.startswith(self.strip):
            return p[len(self.strip):]
        return p

    def stack(self, stack: TStack, restored: bool = True) -> List[str]:
        out = [f'  File "{self.path(f.file)}", line {f.line}, in {f.function}' for f in stack]
        if not restored:
            out.append("  [failed to restore the stack]")
        return out

    def race(self, race: Race) -> str:
        cur, prev = race.current, race.previous
        lines = [SEP, "WARNING: DATA RACE"]
        lines.append(f"{cur.kind.capitalize()} of {race.location} at {hex(race.address)} by thread {cur.thread}:")
        lines += self.stack(cur.stack)
        lines.append("")
        lines.append(f"Previous {prev.kind} of {race.location} by thread {prev.thread}:")
        lines += self.stack(prev.stack, prev.stack_restored)
        lines += self._created(cur)
        if prev.thread != cur.thread:
            lines += self._created(prev)
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
