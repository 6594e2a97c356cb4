"""Benchmark racedet: each workload under plain ``python`` and ``python -m racedet``, compared.

Usage: ``python bench/run.py [--quick] [--only NAME,...] [--repeat N] [--json PATH]
[--python EXE] [--core py|c]``.  See bench/README.md for what the workloads
represent and how to read the table.

Both modes run in the same invocation, alternating (plain first on even
repetitions, racedet first on odd ones) so that drift in machine load hits
both alike; the table shows medians.  Exit status: 0, or 1 when any workload
failed (a non-zero exit, e.g. racedet's 66 for a reported race, which on
these race-free programs is a bug), or 2 when ``python -m racedet`` cannot
run at all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchkit import machine, report, suite  # noqa: E402
from benchkit.measure import Sample, run_child  # noqa: E402
from benchkit.stats import EntryResult  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYCACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".pycache")
DEFAULT_REPEAT = 5
QUICK_REPEAT = 1
RACE_EXIT = 66
DEADLOCK_EXIT = 2


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=None, metavar="N",
                   help=f"runs per mode and workload "
                        f"(default {DEFAULT_REPEAT}; {QUICK_REPEAT} with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: small sizes and one repetition (well under a minute)")
    p.add_argument("--size", choices=("full", "quick", "tiny"), default=None,
                   help="workload size (default full; quick with --quick)")
    p.add_argument("--only", metavar="NAME[,NAME]",
                   help="run only these entries (names, groups such as 'scaling', or patterns)")
    p.add_argument("--json", metavar="PATH", help="also write machine-readable results here")
    p.add_argument("--markdown", metavar="PATH",
                   help="also write the results as a section ready for bench/RESULTS.md")
    p.add_argument("--python", metavar="EXE", default=sys.executable,
                   help="interpreter to benchmark (default: this one)")
    p.add_argument("--core", choices=("py", "c"),
                   help="set RACEDET_CORE for the racedet runs (default: racedet's own choice)")
    p.add_argument("--timeout", type=float, default=900.0, metavar="SECONDS",
                   help="kill a run that takes longer (default 900)")
    p.add_argument("--plain-only", action="store_true",
                   help="measure plain python only (no ratios); for tests and baselines")
    p.add_argument("--list", action="store_true", help="list the entries and exit")
    p.add_argument("--no-coverage", dest="coverage", action="store_false", default=True,
                   help="skip the coverage.py column (each workload under `coverage run`, line mode)")
    args = p.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        p.error("--repeat must be at least 1")
    args.size = args.size or ("quick" if args.quick else "full")
    args.repeat = args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    return args


def child_envs(core: Optional[str]) -> Dict[str, Dict[str, str]]:
    """Environments for the two modes: racedet importable in both, RACEDET_* only for racedet.

    Byte-code caching is forced on, into ``bench/.pycache`` (racedet keeps its
    rewritten code next to the workloads, in ``bench/workloads/__pycache__``):
    users run with warm caches, and the start-up target assumes them, even
    where the environment sets PYTHONDONTWRITEBYTECODE.
    """
    base = dict(os.environ)
    base.pop("BENCH_SIZE", None)  # the runner passes --size explicitly
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    base["PYTHONPYCACHEPREFIX"] = PYCACHE
    old = base.get("PYTHONPATH")
    base["PYTHONPATH"] = REPO_ROOT + (os.pathsep + old if old else "")
    plain = {k: v for k, v in base.items() if not k.startswith("RACEDET_")}
    racedet = dict(base)
    if core:
        racedet["RACEDET_CORE"] = core
    coverage = {k: v for k, v in plain.items() if not k.startswith("COVERAGE_")}
    return {"plain": plain, "racedet": racedet, "coverage": coverage}


#: coverage.py's data file for the coverage column: one per run, thrown away.
COVERAGE_DATA = os.path.join(tempfile.gettempdir(), f"racedet-bench-{os.getpid()}.coverage")


def command(python: str, mode: str, entry: suite.Entry, size: str) -> List[str]:
    """The child's command line: plain python, ``python -m racedet`` or ``coverage run`` (line mode)."""
    if mode == "racedet":
        prefix = [python, "-m", "racedet"]
    elif mode == "coverage":
        prefix = [python, "-m", "coverage", "run", f"--data-file={COVERAGE_DATA}"]
    else:
        prefix = [python]
    return prefix + entry.argv(size)


def has_coverage(python: str) -> bool:
    """Can ``python`` run coverage.py (the column is left out, with a note, when not)?"""
    return subprocess.run([python, "-c", "import coverage"], capture_output=True).returncode == 0


def describe_failure(s: Sample, timeout: float) -> str:
    if s.timed_out:
        return f"{s.mode}: killed after {timeout:g} s"
    if s.mode == "racedet" and s.returncode == RACE_EXIT:
        return ("racedet reported a race (exit 66); the workload is meant to be race-free, "
                "so this is a bug in racedet or in the workload")
    if s.mode == "racedet" and s.returncode == DEADLOCK_EXIT:
        return "racedet exited 2 (a reported deadlock, or a usage error)"
    if s.returncode != 0:
        return f"{s.mode}: exit status {s.returncode}"
    return f"{s.mode}: no JSON result on the last stdout line"


def run_entry(entry: suite.Entry, args: argparse.Namespace,
              envs: Dict[str, Dict[str, str]]) -> EntryResult:
    """All repetitions of one entry, alternating the modes; stops at the first failure or skip."""
    result = EntryResult(entry.name, entry.group_name, entry.summary, tags=entry.tags)
    modes = ["plain"] if args.plain_only else ["plain", "racedet"] + (["coverage"] if args.coverage else [])

    def once(mode: str, rep: int) -> Sample:
        return run_child(command(args.python, mode, entry, args.size), mode=mode, rep=rep,
                         env=envs[mode], cwd=REPO_ROOT, timeout=args.timeout)

    if entry.name == suite.STARTUP:  # start-up is all cache: warm both modes once, unrecorded
        for mode in modes:
            once(mode, -1)
    for rep in range(args.repeat):
        for mode in (modes if rep % 2 == 0 else modes[::-1]):
            s = once(mode, rep)
            result.samples.append(s)
            if s.skipped is not None:
                result.skipped = s.skipped
                return result
            if not s.ok or s.seconds is None:
                result.failure = describe_failure(s, args.timeout)
                return result
    return result


def preflight(args: argparse.Namespace, envs: Dict[str, Dict[str, str]]) -> Optional[str]:
    """Why ``python -m racedet`` cannot run a hello-world here, or None when it can."""
    hello = next(e for e in suite.ENTRIES if e.name == suite.STARTUP)
    s = run_child(command(args.python, "racedet", hello, args.size), mode="racedet", rep=-1,
                  env=envs["racedet"], cwd=REPO_ROOT, timeout=args.timeout)
    if s.ok and s.seconds is not None:
        return None
    return f"exit status {s.returncode}:\n{s.stderr_tail}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        entries = suite.select(args.only)
    except ValueError as exc:
        print(f"bench/run.py: {exc}", file=sys.stderr)
        return 2
    if args.list:
        for e in entries:
            print(f"{e.name:<{report.NAME_WIDTH}} {e.summary}")
        return 0
    envs = child_envs(args.core)
    try:
        python = machine.python_info(args.python)
    except (OSError, ValueError, subprocess.CalledProcessError) as exc:
        print(f"bench/run.py: cannot run --python {args.python}: {exc}", file=sys.stderr)
        return 2
    args.python = python["executable"] or args.python  # past any pyenv shim: no shell per run
    if args.coverage and not args.plain_only and not has_coverage(args.python):
        print(f"bench/run.py: coverage.py is not installed for {args.python}: no coverage column",
              file=sys.stderr)
        args.coverage = False
    if not args.plain_only:
        why = preflight(args, envs)
        if why:
            print(f"bench/run.py: `{args.python} -m racedet` cannot run a hello-world, {why}\n"
                  "(use --plain-only to measure plain python alone)", file=sys.stderr)
            return 2
    meta = {
        "date": machine.now(), "machine": machine.machine(), "python": python,
        "racedet_revision": machine.git_revision(REPO_ROOT), "core": args.core,
        "core_in_use": (None if args.plain_only
                        else machine.racedet_core(args.python, envs["racedet"])),
        "size": args.size, "repeat": args.repeat, "plain_only": args.plain_only,
        "coverage": (machine.coverage_version(args.python) if args.coverage and not args.plain_only else None),
        "argv": sys.argv[1:] if argv is None else list(argv),
    }
    results: List[EntryResult] = []
    try:
        for i, entry in enumerate(entries, 1):
            results.append(run_entry(entry, args, envs))
            print(report.progress(results[-1], i, len(entries)), file=sys.stderr, flush=True)
            if args.json:  # after every entry: a long run that dies still leaves its data
                write_json(args.json, meta, results)
    except KeyboardInterrupt:
        print("interrupted: reporting the entries that finished", file=sys.stderr)
    if os.path.exists(COVERAGE_DATA):
        os.unlink(COVERAGE_DATA)
    print(file=sys.stderr)
    report.print_report(meta, results, sys.stdout, plain_only=args.plain_only)
    if args.json:
        write_json(args.json, meta, results)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(report.markdown(meta, results))
    return 1 if any(r.status == "failed" for r in results) else 0


def write_json(path: str, meta: Dict[str, object], results: Sequence[EntryResult]) -> None:
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(report.document(meta, results), f, indent=2)
        f.write("\n")
    os.replace(tmp, path)  # readers never see half a file


if __name__ == "__main__":
    sys.exit(main())
