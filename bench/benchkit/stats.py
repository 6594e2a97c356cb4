"""Turn samples into the per-entry figures and the suite's geometric means.

Medians, not means: a threaded run on a busy machine has a long tail, and
one slow outlier should not decide a ratio.  A ratio is always
``racedet / plain`` from the same invocation.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence

from benchkit.measure import Sample


def median(values: Iterable[float]) -> Optional[float]:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def ratio(num: Optional[float], den: Optional[float]) -> Optional[float]:
    if num is None or den is None or den <= 0:
        return None
    return num / den


def geomean(values: Iterable[Optional[float]]) -> Optional[float]:
    vals = [v for v in values if v is not None and v > 0]
    if not vals:
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


@dataclass
class ModeStats:
    """Medians over one mode's successful runs."""

    runs: int = 0
    wall: Optional[float] = None
    seconds: Optional[float] = None
    maxrss_kb: Optional[float] = None
    ops: Optional[int] = None
    #: max/min of the runs' wall times: how far one run can be from another
    #: on this machine (None with fewer than two runs).
    wall_spread: Optional[float] = None

    @property
    def startup(self) -> Optional[float]:
        """Median wall time outside the measured section (start-up, set-up, exit)."""
        if self.wall is None or self.seconds is None:
            return None
        return self.wall - self.seconds

    @property
    def ns_per_op(self) -> Optional[float]:
        if self.seconds is None or not self.ops:
            return None
        return self.seconds / self.ops * 1e9

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> "ModeStats":
        good = [s for s in samples if s.ok and s.skipped is None and s.seconds is not None]
        if not good:
            return cls()
        ops = {s.ops for s in good}
        return cls(runs=len(good), wall=median(s.wall for s in good),
                   seconds=median(s.seconds for s in good),
                   maxrss_kb=median(float(s.maxrss_kb) for s in good),
                   ops=ops.pop() if len(ops) == 1 else None,
                   wall_spread=spread(s.wall for s in good))

    def to_dict(self) -> Dict[str, Any]:
        return {"runs": self.runs, "wall": self.wall, "seconds": self.seconds,
                "maxrss_kb": self.maxrss_kb, "ops": self.ops, "startup": self.startup,
                "ns_per_op": self.ns_per_op, "wall_spread": self.wall_spread}


@dataclass
class EntryResult:
    """Everything measured for one entry, and its status: ok, skipped or failed."""

    name: str
    group: str
    summary: str
    tags: Sequence[str] = ()
    samples: List[Sample] = field(default_factory=list)
    skipped: Optional[str] = None
    failure: Optional[str] = None   # one line; the stderr tail is in the failing sample

    def mode(self, mode: str) -> ModeStats:
        return ModeStats.of([s for s in self.samples if s.mode == mode])

    @property
    def status(self) -> str:
        if self.failure:
            return "failed"
        if self.skipped:
            return "skipped"
        return "ok"

    @property
    def plain(self) -> ModeStats:
        return self.mode("plain")

    @property
    def racedet(self) -> ModeStats:
        return self.mode("racedet")

    @property
    def time_ratio(self) -> Optional[float]:
        return ratio(self.racedet.wall, self.plain.wall) if self.status == "ok" else None

    @property
    def inproc_ratio(self) -> Optional[float]:
        return ratio(self.racedet.seconds, self.plain.seconds) if self.status == "ok" else None

    @property
    def mem_ratio(self) -> Optional[float]:
        return ratio(self.racedet.maxrss_kb, self.plain.maxrss_kb) if self.status == "ok" else None

    @property
    def coverage(self) -> ModeStats:
        return self.mode("coverage")

    @property
    def coverage_ratio(self) -> Optional[float]:
        """coverage.py's own slowdown (``coverage run`` / plain), wall time."""
        return ratio(self.coverage.wall, self.plain.wall) if self.status == "ok" else None

    @property
    def vs_coverage(self) -> Optional[float]:
        """racedet's cost beside coverage.py's on the same workload: racedet wall / coverage wall."""
        return ratio(self.racedet.wall, self.coverage.wall) if self.status == "ok" else None

    def to_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name, "group": self.group, "summary": self.summary, "status": self.status,
            "skipped": self.skipped, "failure": self.failure,
            "plain": self.plain.to_dict(), "racedet": self.racedet.to_dict(),
            "time_ratio": self.time_ratio, "inproc_ratio": self.inproc_ratio,
            "mem_ratio": self.mem_ratio,
            "coverage": self.coverage.to_dict(), "coverage_ratio": self.coverage_ratio,
            "vs_coverage": self.vs_coverage,
            "samples": [s.to_dict() for s in self.samples],
        }


def group_geomeans(results: Sequence[EntryResult], attr: str,
                   exclude: Sequence[str] = ()) -> Dict[str, float]:
    """Per group, the geometric mean of ``attr`` over its ok entries (a group counts once)."""
    groups: Dict[str, List[float]] = {}
    for r in results:
        value = getattr(r, attr)
        if r.group in exclude or value is None:
            continue
        groups.setdefault(r.group, []).append(value)
    return {g: geomean(vs) for g, vs in groups.items()}  # type: ignore[misc]


def spread(values: Iterable[Optional[float]]) -> Optional[float]:
    """max/min of the values, or None with fewer than two."""
    vals = [v for v in values if v is not None and v > 0]
    if len(vals) < 2:
        return None
    return max(vals) / min(vals)
