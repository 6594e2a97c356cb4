"""Print the results table and summary, and build the ``--json`` document.

Formatting only: every figure is computed in :mod:`benchkit.stats` and
:mod:`benchkit.targets`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, TextIO

from benchkit import targets
from benchkit.stats import EntryResult
from benchkit.suite import STARTUP

NAME_WIDTH = 22
DASH = "-"


def fmt_time(v: Optional[float]) -> str:
    if v is None:
        return DASH
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def fmt_mb(kb: Optional[float]) -> str:
    return DASH if kb is None else f"{kb / 1024:.1f} MB"


def fmt_ratio(v: Optional[float]) -> str:
    return DASH if v is None else f"{v:.2f}x"


def fmt_ns(v: Optional[float]) -> str:
    if v is None:
        return DASH
    return f"{v / 1000:.2f} us" if v >= 1000 else f"{v:.0f} ns"


HEADER = (f"{'workload':<{NAME_WIDTH}} {'wall plain':>10} {'racedet':>9} {'ratio':>7}"
          f" | {'in-proc plain':>13} {'racedet':>9} {'ratio':>7}"
          f" | {'RSS plain':>9} {'racedet':>9} {'ratio':>6}"
          f" | {'coverage':>9} {'ratio':>6} {'rd/cov':>6}")


def row(r: EntryResult) -> str:
    name = f"{r.name:<{NAME_WIDTH}}"
    if r.status == "failed":
        return f"{name} FAILED: {r.failure}"
    if r.status == "skipped":
        return f"{name} skipped: {r.skipped}"
    p, d = r.plain, r.racedet
    return (f"{name} {fmt_time(p.wall):>10} {fmt_time(d.wall):>9} {fmt_ratio(r.time_ratio):>7}"
            f" | {fmt_time(p.seconds):>13} {fmt_time(d.seconds):>9} {fmt_ratio(r.inproc_ratio):>7}"
            f" | {fmt_mb(p.maxrss_kb):>9} {fmt_mb(d.maxrss_kb):>9} {fmt_ratio(r.mem_ratio):>6}"
            f" | {fmt_time(r.coverage.wall):>9} {fmt_ratio(r.coverage_ratio):>6} {fmt_ratio(r.vs_coverage):>6}")


def progress(r: EntryResult, index: int, total: int) -> str:
    """One line as each entry finishes, so a long run shows it is alive."""
    if r.status != "ok":
        return f"[{index}/{total}] {r.name}: {r.status}: {r.failure or r.skipped}"
    return (f"[{index}/{total}] {r.name}: wall {fmt_time(r.plain.wall)} -> "
            f"{fmt_time(r.racedet.wall)}"
            f" ({fmt_ratio(r.time_ratio)}), RSS {fmt_mb(r.plain.maxrss_kb)} -> "
            f"{fmt_mb(r.racedet.maxrss_kb)} ({fmt_ratio(r.mem_ratio)})"
            + (f", coverage {fmt_time(r.coverage.wall)} (racedet/coverage {fmt_ratio(r.vs_coverage)})"
               if r.coverage.wall is not None else ""))


def print_report(meta: Dict[str, Any], results: Sequence[EntryResult], out: TextIO,
                 plain_only: bool = False) -> None:
    py, m = meta["python"], meta["machine"]
    print(f"racedet benchmark  {meta['date']}  racedet {meta.get('racedet_revision') or '?'}"
          f"  core={meta.get('core_in_use') or meta.get('core') or 'default'}", file=out)
    print(f"python {py['version']} ({py['implementation']}, {py['executable']});"
          f" {m['uname']}", file=out)
    print(f"{m['cpus']} CPUs ({m.get('cpu_model') or '?'}), memory {m.get('memory') or '?'};"
          f" size={meta['size']}, {meta['repeat']} repeat(s), medians shown", file=out)
    print(file=out)
    print(HEADER, file=out)
    print("-" * len(HEADER), file=out)
    for r in results:
        print(row(r), file=out)
    print(file=out)
    _print_scaling(results, out)
    _print_failures(results, out)
    if plain_only:
        print("plain python only (--plain-only): no ratios, targets not judged.", file=out)
        return
    _print_summary(results, out)
    if meta["size"] != "full":
        print(f"  (size={meta['size']}: the targets are meant for the full sizes)", file=out)


def _print_scaling(results: Sequence[EntryResult], out: TextIO) -> None:
    rows = [r for r in results if r.tags and r.status == "ok"]
    if not rows:
        return
    print("scaling, in-process cost per locked update (plain -> racedet):", file=out)
    for tag in ("threads", "locations"):
        tagged = [r for r in rows if tag in r.tags]
        if not tagged:
            continue
        cells = ", ".join(f"{r.name.rsplit('-', 1)[1]}: {fmt_ns(r.plain.ns_per_op)} -> "
                          f"{fmt_ns(r.racedet.ns_per_op)}" for r in tagged)
        sp = targets.scaling_spread(results, tag)
        base = targets.scaling_spread(results, tag, mode="plain")
        print(f"  {tag:<9} {cells}; spread racedet {fmt_ratio(sp)} (plain {fmt_ratio(base)})",
              file=out)
    print(file=out)


def _print_failures(results: Sequence[EntryResult], out: TextIO) -> None:
    for r in results:
        if r.status != "failed":
            continue
        bad = next((s for s in r.samples if s.stderr_tail), None)
        print(f"--- {r.name} failed: {r.failure}", file=out)
        if bad is not None:
            print(f"    {bad.mode} run {bad.rep + 1}, exit status {bad.returncode};"
                  " stderr (head and tail):", file=out)
            for line in bad.stderr_tail.splitlines():
                print(f"    | {line}", file=out)
        print(file=out)


def _print_summary(results: Sequence[EntryResult], out: TextIO) -> None:
    n = len({r.group for r in results if r.status == "ok" and r.name != STARTUP})
    print(f"geometric mean over {n} workload(s) (scaling rows count once, start-up excluded):",
          file=out)
    print(f"  time {fmt_ratio(targets.suite_geomean(results, 'time_ratio'))} wall,"
          f" {fmt_ratio(targets.suite_geomean(results, 'inproc_ratio'))} in-process;"
          f" memory {fmt_ratio(targets.suite_geomean(results, 'mem_ratio'))}", file=out)
    if any(r.coverage.wall is not None for r in results):
        print(f"  coverage.py {fmt_ratio(targets.suite_geomean(results, 'coverage_ratio'))} wall;"
              f" racedet / coverage {fmt_ratio(targets.suite_geomean(results, 'vs_coverage'))}", file=out)
    added = targets.startup_added_ms(results)
    if added is not None:
        print(f"start-up: racedet adds {added:.0f} ms to a hello-world", file=out)
    print(file=out)
    print("targets (issue 13):", file=out)
    for c in targets.evaluate(results):
        print(f"  [{c.verdict:^7}] {c.target}: {c.figure}", file=out)


def document(meta: Dict[str, Any], results: Sequence[EntryResult]) -> Dict[str, Any]:
    """The ``--json`` output: metadata, every entry with its samples, the summary and targets."""
    checks: List[Dict[str, Any]] = [
        {"target": c.target, "met": c.met, "figure": c.figure} for c in targets.evaluate(results)]
    return {
        **meta,
        "entries": [r.to_dict() for r in results],
        "summary": {
            "geomean_time_ratio": targets.suite_geomean(results, "time_ratio"),
            "geomean_inproc_ratio": targets.suite_geomean(results, "inproc_ratio"),
            "geomean_mem_ratio": targets.suite_geomean(results, "mem_ratio"),
            "geomean_coverage_ratio": targets.suite_geomean(results, "coverage_ratio"),
            "geomean_vs_coverage": targets.suite_geomean(results, "vs_coverage"),
            "startup_added_ms": targets.startup_added_ms(results),
            "scaling_spread": {tag: targets.scaling_spread(results, tag)
                               for tag in ("threads", "locations")},
            "targets": checks,
        },
    }


MD_HEADER = ("| workload | wall plain | wall racedet | ratio "
             "| in-proc plain | in-proc racedet | ratio "
             "| RSS plain | RSS racedet | ratio "
             "| wall coverage | ratio | racedet / coverage "
             "| run spread plain / racedet / coverage |\n"
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def markdown(meta: Dict[str, Any], results: Sequence[EntryResult]) -> str:
    """A RESULTS.md section: provenance, the table, the scaling costs and the targets."""
    py, m = meta["python"], meta["machine"]
    lines = [
        f"### {meta['date'][:10]}: Python {py['version']},"
        f" racedet {meta.get('racedet_revision') or '?'},"
        f" core {meta.get('core_in_use') or meta.get('core') or 'default'}",
        "",
        f"- machine: `{m['uname']}`; {m['cpus']} CPUs ({m.get('cpu_model') or '?'}),"
        f" memory {m.get('memory') or '?'}",
        f"- python: {py['implementation']} {py['version']} (`{py['executable']}`)",
        f"- date: {meta['date']}; size {meta['size']}, {meta['repeat']} run(s) per mode, medians;"
        f" command: `python bench/run.py {' '.join(meta.get('argv') or [])}`".rstrip(),
        "",
        MD_HEADER,
    ]
    for r in results:
        if r.status != "ok":
            reason = r.failure if r.status == "failed" else r.skipped
            lines.append(f"| {r.name} | {r.status}: {reason} |" + " |" * 12)
            continue
        p, d = r.plain, r.racedet
        lines.append(
            f"| {r.name} | {fmt_time(p.wall)} | {fmt_time(d.wall)} | {fmt_ratio(r.time_ratio)} "
            f"| {fmt_time(p.seconds)} | {fmt_time(d.seconds)} | {fmt_ratio(r.inproc_ratio)} "
            f"| {fmt_mb(p.maxrss_kb)} | {fmt_mb(d.maxrss_kb)} | {fmt_ratio(r.mem_ratio)} "
            f"| {fmt_time(r.coverage.wall)} | {fmt_ratio(r.coverage_ratio)} | {fmt_ratio(r.vs_coverage)} "
            f"| {' / '.join(fmt_ratio(m.wall_spread) for m in (p, d, r.coverage))} |")
    lines.append("")
    lines.append("Run spread: max/min of one mode's wall times over its runs (the medians above"
                 " sit inside it).")
    lines.append("")
    scaling = [r for r in results if r.tags and r.status == "ok"]
    if scaling:
        lines.append("In-process cost per locked update (scaling rows), plain -> racedet: "
                     + "; ".join(f"{r.name} {fmt_ns(r.plain.ns_per_op)} -> "
                                 f"{fmt_ns(r.racedet.ns_per_op)}" for r in scaling) + ".")
        lines.append("")
    lines.append(f"Geometric mean: time {fmt_ratio(targets.suite_geomean(results, 'time_ratio'))}"
                 " wall,"
                 f" {fmt_ratio(targets.suite_geomean(results, 'inproc_ratio'))} in-process;"
                 f" memory {fmt_ratio(targets.suite_geomean(results, 'mem_ratio'))}"
                 + (f"; coverage.py {fmt_ratio(targets.suite_geomean(results, 'coverage_ratio'))},"
                    f" racedet / coverage {fmt_ratio(targets.suite_geomean(results, 'vs_coverage'))}"
                    if any(r.coverage.wall is not None for r in results) else "") + ".")
    lines += ["", "| target | result | verdict |", "|---|---|---|"]
    for c in targets.evaluate(results):
        lines.append(f"| {c.target} | {c.figure} | {c.verdict} |")
    if meta["size"] != "full":
        lines += ["", f"(size {meta['size']}: the targets are meant for the full sizes.)"]
    return "\n".join(lines) + "\n"
