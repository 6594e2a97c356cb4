"""The suite: which workload scripts run, with which arguments, under which entry names.

An *entry* is one row of the results table.  Several entries can share a
*group* (the scaling runs): a group counts once in the geometric means, so
six scaling rows do not outweigh the other workloads.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from typing import List, Sequence, Tuple

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS_DIR = os.path.join(BENCH_DIR, "workloads")
STARTUP = "start-up"


@dataclass(frozen=True)
class Entry:
    """One measured program: ``workloads/<script>`` with ``args``, plus ``--size``."""

    name: str
    script: str
    summary: str
    group: str = ""
    args: Tuple[str, ...] = ()
    sized: bool = True  # hello-world takes no size
    tags: Tuple[str, ...] = ()  # scaling dimension: 'threads' or 'locations'

    @property
    def path(self) -> str:
        return os.path.join(WORKLOADS_DIR, self.script)

    @property
    def group_name(self) -> str:
        return self.group or self.name

    def argv(self, size: str) -> List[str]:
        """The workload's command line after the interpreter (and ``-m racedet``)."""
        extra = ["--size", size] if self.sized else []
        return [self.path, *self.args, *extra]


def _scaling() -> List[Entry]:
    entries = []
    for t in (2, 8, 32):
        entries.append(Entry(
            f"scaling-threads-{t}", "scaling.py",
            f"same per-thread work, {t} threads, 10^3 locations",
            group="scaling", args=("--threads", str(t), "--locations", "1000"), tags=("threads",)))
    for exp in (3, 5, 6):
        entries.append(Entry(
            f"scaling-locations-1e{exp}", "scaling.py",
            f"4 threads, 10^{exp} distinct shared locations", group="scaling",
            args=("--threads", "4", "--locations", f"1e{exp}"), tags=("locations",)))
    return entries


ENTRIES: List[Entry] = [
    Entry(STARTUP, "hello.py", "hello-world: interpreter + detector start-up", sized=False),
    Entry("bank", "bank.py", "attribute-heavy: accounts + LRU cache under locks, 4 threads"),
    Entry("pipeline", "pipeline.py", "4-stage producer/consumer pipeline over queue.Queue"),
    Entry("executor", "executor.py", "ThreadPoolExecutor.map over dict/list work"),
    Entry("chan-pool", "chan_pool.py", "5 workers over racedet.Chan + WaitGroup"),
    Entry("churn", "churn.py", "1M short-lived objects handed between threads"),
    *_scaling(),
    Entry("single", "single.py", "single-threaded JSON encoder/decoder"),
    Entry("goroutines", "goroutines.py", "10,000 goroutines parked on one channel, then released"),
]


def select(only: str | None, entries: Sequence[Entry] = ENTRIES) -> List[Entry]:
    """Entries named by ``--only``: comma-separated names, group names or shell patterns.

    Raises ``ValueError`` naming the choices when a pattern matches nothing,
    so a typo never silently benchmarks nothing.
    """
    if not only:
        return list(entries)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen = []
    for pattern in wanted:
        hits = [e for e in entries
                if fnmatch.fnmatchcase(e.name, pattern) or fnmatch.fnmatchcase(e.group, pattern)
                or e.script == pattern]
        if not hits:
            names = ", ".join(e.name for e in entries)
            raise ValueError(f"--only: no workload matches {pattern!r} (choose from: {names})")
        chosen.extend(h for h in hits if h not in chosen)
    return [e for e in entries if e in chosen]  # keep suite order
