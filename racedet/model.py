"""Plain records of what the detector found: races, leaks, deadlocks, lock-order cycles.

Every reporter (text, JSON, SARIF, GitHub annotations, baselines, the pytest
plugin) reads these records and nothing else, so they hold only plain data:
strings, ints and tuples of :class:`Frame`.  Stacks are innermost first and
never contain a frame of racedet itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple


@dataclasses.dataclass(frozen=True)
class Frame:
    """One line of a user-facing stack."""

    file: str
    line: int
    function: str
    qualname: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "function": self.function}


TStack = Tuple[Frame, ...]


@dataclasses.dataclass(frozen=True)
class HeldLock:
    """A lock a thread held at an access: its Go/TSan-style name and where it was created."""

    name: str                       # "Lock L1", "RLock L2", "Condition L3"
    created_at: Optional[Frame] = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name}
        if self.created_at is not None:
            d["created_at"] = self.created_at.to_dict()
        return d


@dataclasses.dataclass(frozen=True)
class Access:
    """One side of a data race: a read or a write by one thread."""

    kind: str                   # "read" or "write"
    thread: str                 # thread name, e.g. "goroutine-3" or "Thread-1 (worker)"
    stack: TStack               # innermost first; stack[0] is the access itself
    thread_status: str = "running"   # "running" or "finished"
    created_at: TStack = ()     # where the thread was created (empty for the main thread)
    stack_restored: bool = True  # False when history could not restore the callers
    test: Optional[str] = None  # pytest node id during which the access happened, if known
    #: The locks the thread held at the access, innermost last; None when not known.
    held_locks: Optional[Tuple[HeldLock, ...]] = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind,
            "thread": self.thread,
            "stack": [f.to_dict() for f in self.stack],
        }
        if self.created_at:
            d["created_at"] = [f.to_dict() for f in self.created_at]
        if not self.stack_restored:
            d["stack_restored"] = False
        if self.test is not None:
            d["test"] = self.test
        if self.held_locks is not None:
            d["held_locks"] = [h.to_dict() for h in self.held_locks]
        return d


@dataclasses.dataclass(frozen=True)
class Race:
    """Two conflicting accesses that no synchronization orders."""

    location: str               # as the user wrote it: "Counter.value", "global counter", ...
    address: int                # id() of the object holding the location
    current: Access
    previous: Access
    location_kind: str = "attribute"  # attribute | global | cell | item | container

    @property
    def key(self) -> tuple:
        """The pair of source lines: a race is reported once per key."""
        a = (self.current.stack[0].file, self.current.stack[0].line)
        b = (self.previous.stack[0].file, self.previous.stack[0].line)
        return (min(a, b), max(a, b))

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "current": self.current.to_dict(),
            "previous": self.previous.to_dict(),
        }


@dataclasses.dataclass(frozen=True)
class BlockedThread:
    """A thread (or goroutine) that is stuck: used by leaks and deadlocks."""

    thread: str
    blocked_in: str             # "Chan.recv", "Lock.acquire", ..., or "running"
    stack: TStack
    created_at: TStack = ()
    test: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "thread": self.thread,
            "blocked_in": self.blocked_in,
            "stack": [f.to_dict() for f in self.stack],
            "created_at": [f.to_dict() for f in self.created_at],
        }
        if self.test is not None:
            d["test"] = self.test
        return d


Leak = BlockedThread


@dataclasses.dataclass(frozen=True)
class Deadlock:
    """Every live thread blocked for good (Go's "all goroutines are asleep")."""

    threads: Tuple[BlockedThread, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"threads": [t.to_dict() for t in self.threads]}


@dataclasses.dataclass(frozen=True)
class LockAcquisition:
    """One edge of a lock-order cycle: `acquired` was taken while `held` was held."""

    held: str                   # description of the lock already held, e.g. "Lock at 0x7f.. (created at app.py:3)"
    acquired: str
    thread: str
    stack: TStack               # stack of the acquisition of `acquired`
    held_stack: TStack = ()     # stack where `held` was acquired

    def to_dict(self) -> dict[str, Any]:
        return {
            "held": self.held,
            "acquired": self.acquired,
            "thread": self.thread,
            "stack": [f.to_dict() for f in self.stack],
            "held_stack": [f.to_dict() for f in self.held_stack],
        }


@dataclasses.dataclass(frozen=True)
class LockOrderInversion:
    """A cycle in the lock-order graph: a potential deadlock (TSan's lock-order-inversion)."""

    cycle: Tuple[LockAcquisition, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"cycle": [e.to_dict() for e in self.cycle]}


@dataclasses.dataclass
class Findings:
    """Everything one run (or one test) found, in report order."""

    races: list[Race] = dataclasses.field(default_factory=list)
    leaks: list[BlockedThread] = dataclasses.field(default_factory=list)
    deadlock: Optional[Deadlock] = None
    lock_order_inversions: list[LockOrderInversion] = dataclasses.field(default_factory=list)
    suppressed: int = 0
    #: Under pytest: every test each race (by its ``key``) came from, for reports that group them.
    race_tests: dict[tuple, list[str]] = dataclasses.field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.races or self.leaks or self.deadlock or self.lock_order_inversions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "races": [r.to_dict() for r in self.races],
            "leaks": [lk.to_dict() for lk in self.leaks],
            "deadlock": self.deadlock.to_dict() if self.deadlock else None,
            "lock_order_inversions": [c.to_dict() for c in self.lock_order_inversions],
        }
