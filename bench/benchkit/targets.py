"""The issue's targets (issue 13; issue 6's per-access and start-up targets kept), checked against one run.

Each check says met / NOT met / n/a with the figure that decided it, so
RESULTS.md can quote them as they are.  The start-up entry is judged by the
time it adds, not by a ratio, and is left out of the geometric means and the
per-workload limits (a hello-world's ratio says nothing about workloads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

from benchkit.stats import EntryResult, geomean, group_geomeans, spread
from benchkit.suite import STARTUP

GEOMEAN_SLOWDOWN = 3.0
MAX_SLOWDOWN = 6.0
SINGLE_SLOWDOWN = 1.5
MAX_MEMORY = 2.0
#: racedet's wall time over coverage.py's (line mode) on the same workload.
GEOMEAN_VS_COVERAGE = 0.7
MAX_VS_COVERAGE = 1.0
FLAT_SPREAD = 1.5
#: One locked update (acquire, attribute read-modify-write, release) under
#: racedet, in-process, as the 2-thread scaling row measures it.
LOCKED_UPDATE_US = 3.0
LOCKED_UPDATE_ENTRY = "scaling-threads-2"
STARTUP_ADDED_MS = 150.0


@dataclass(frozen=True)
class Check:
    target: str
    met: Optional[bool]   # None: could not be judged (entries skipped, failed or not run)
    figure: str

    @property
    def verdict(self) -> str:
        return "n/a" if self.met is None else ("met" if self.met else "NOT met")


def _by_name(results: Sequence[EntryResult], name: str) -> Optional[EntryResult]:
    return next((r for r in results if r.name == name and r.status == "ok"), None)


def suite_geomean(results: Sequence[EntryResult], attr: str) -> Optional[float]:
    """Geometric mean over groups (scaling counts once), start-up excluded."""
    return geomean(group_geomeans(results, attr, exclude=(STARTUP,)).values())


def startup_added_ms(results: Sequence[EntryResult]) -> Optional[float]:
    r = _by_name(results, STARTUP)
    if r is None or r.racedet.wall is None or r.plain.wall is None:
        return None
    return (r.racedet.wall - r.plain.wall) * 1000


def locked_update_us(results: Sequence[EntryResult], mode: str = "racedet") -> Optional[float]:
    """Cost of one locked update in microseconds (the 2-thread scaling row)."""
    r = _by_name(results, LOCKED_UPDATE_ENTRY)
    ns = r.mode(mode).ns_per_op if r is not None else None
    return ns / 1000 if ns is not None else None


def scaling_spread(results: Sequence[EntryResult], tag: str,
                   mode: str = "racedet") -> Optional[float]:
    """max/min of the in-process cost per operation across one scaling dimension."""
    rows = [r for r in results if tag in r.tags and r.status == "ok"]
    return spread(r.mode(mode).ns_per_op for r in rows)


def _check(target: str, value: Optional[float], limit: float, fmt: str, extra: str = "",
           strict: bool = False) -> Check:
    if value is None:
        return Check(target, None, "not measured")
    met = value < limit if strict else value <= limit
    return Check(target, met, fmt.format(value) + extra)


def evaluate(results: Sequence[EntryResult]) -> List[Check]:
    """All targets, in the issue's order."""
    workloads = [r for r in results if r.name != STARTUP and r.status == "ok"]
    checks = [_check(f"geometric mean slowdown <= {GEOMEAN_SLOWDOWN:g}x",
                     suite_geomean(results, "time_ratio"), GEOMEAN_SLOWDOWN, "{:.2f}x")]
    worst = max(workloads, key=lambda r: r.time_ratio or 0, default=None)
    checks.append(_check(f"no workload above {MAX_SLOWDOWN:g}x",
                         worst.time_ratio if worst else None, MAX_SLOWDOWN, "{:.2f}x",
                         f" (worst: {worst.name})" if worst else ""))
    single = _by_name(results, "single")
    checks.append(_check(f"single-threaded <= {SINGLE_SLOWDOWN:g}x",
                         single.time_ratio if single else None, SINGLE_SLOWDOWN, "{:.2f}x"))
    fattest = max(workloads, key=lambda r: r.mem_ratio or 0, default=None)
    checks.append(_check(f"peak memory <= {MAX_MEMORY:g}x on every workload",
                         fattest.mem_ratio if fattest else None, MAX_MEMORY, "{:.2f}x",
                         f" (worst: {fattest.name})" if fattest else ""))
    plain_us = locked_update_us(results, "plain")
    checks.append(_check(f"a locked update <= {LOCKED_UPDATE_US:g} us",
                         locked_update_us(results), LOCKED_UPDATE_US, "{:.2f} us",
                         f" (plain {plain_us:.2f} us)" if plain_us is not None else ""))
    for tag, label in (("threads", "2 -> 32 threads"), ("locations", "10^3 -> 10^6 locations")):
        checks.append(_check(f"cost per access flat within {FLAT_SPREAD:g}x, {label}",
                             scaling_spread(results, tag), FLAT_SPREAD, "{:.2f}x spread"))
    if any(r.coverage.wall is not None for r in workloads):
        checks.append(_check(f"racedet / coverage.py <= {GEOMEAN_VS_COVERAGE:g} on the geometric mean",
                             suite_geomean(results, "vs_coverage"), GEOMEAN_VS_COVERAGE, "{:.2f}"))
        worst_cov = max(workloads, key=lambda r: r.vs_coverage or 0, default=None)
        checks.append(_check(f"racedet / coverage.py <= {MAX_VS_COVERAGE:g} on every workload",
                             worst_cov.vs_coverage if worst_cov else None, MAX_VS_COVERAGE, "{:.2f}",
                             f" (worst: {worst_cov.name})" if worst_cov else ""))
    checks.append(_check(f"start-up adds < {STARTUP_ADDED_MS:g} ms",
                         startup_added_ms(results), STARTUP_ADDED_MS, "{:.0f} ms",
                         strict=True))
    any_failed = [r.name for r in results if r.status == "failed"]
    if any_failed:
        checks.append(Check("every workload runs clean under racedet", False,
                            "failed: " + ", ".join(any_failed)))
    return checks
