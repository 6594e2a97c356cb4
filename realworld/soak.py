"""Soak: the thread-heavy tests of the proving ground, many times under --race.

    python realworld/soak.py [-n 20] [--only PKG[,PKG]] [--out DIR] [--work DIR]

For each package with a ``soak`` selection in packages.toml, it sets the
package up as run.py does (sdist, venv, editable install) and runs that
selection N times (default 20) under ``pytest --race``, each run with the
package's per-test timeout and a wall-clock limit (--run-timeout, default
300 s).  A run past the limit is a hang: recorded with the test in flight (and every thread's stack in its
log) and killed, and the soak goes on.  Also recorded per package: how many
runs had a failure, which tests failed in how many runs (flaky verdicts are
what a soak finds besides hangs), and racedet's deadlock reports.

Writes soak.json and SOAK.md in --out (default: this folder).  Slow and
network-bound: not part of CI.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import os
import sys
import time
from typing import Any, Dict, List, Optional

import pinned
import results
import run as harness


def soak_package(pkg: pinned.Package, rounds: int, work: str, python: str,
                 run_timeout: Optional[int] = None) -> Dict[str, Any]:
    row: Dict[str, Any] = {"package": pkg.name, "version": pkg.version, "tests_args": pkg.soak, "rounds": rounds}
    try:
        _, src, venv = harness.prepare(pkg, work, python)
    except harness.SetupError as e:
        row.update(status="setup-failed", error=str(e))
        return row
    selection = dataclasses.replace(pkg, tests=list(pkg.soak), run_timeout=run_timeout or pkg.run_timeout)
    stamp = time.strftime("%Y%m%d-%H%M%S")  # a hung run's log is kept: never overwrite one
    hangs: List[Dict[str, Any]] = []
    failing: collections.Counter = collections.Counter()
    messages: Dict[str, str] = {}
    walls: List[float] = []
    bad_runs = 0
    deadlocks: Dict[str, Dict[str, Any]] = {}
    for i in range(1, rounds + 1):
        side = harness.run_suite(selection, "race", src, venv, work, tag=f".soak-{stamp}-{i}")
        walls.append(side["wall"])
        if side["status"] == "hang":
            hangs.append({"round": i, "in_flight": side["in_flight"], "log": side["log"]})
            # keep the hung run's log: the next rounds use other names
        failed = [n for n, o in side["outcomes"].items() if o in ("failed", "error")]
        if failed or side["status"] != "ok":
            bad_runs += 1
        for n in failed:
            failing[n] += 1
            messages.setdefault(n, side["messages"].get(n, ""))
        report = results.load_report(side["report"]) or {}
        for f in results.findings(report, harness.path_roots(src, venv)):
            if f["kind"] == "deadlock":
                deadlocks.setdefault(f["id"], dict(f, rounds=0))["rounds"] += 1
        if side["status"] != "hang":
            for p in (side["log"], side["report"]):
                if os.path.exists(p):
                    os.remove(p)
        harness.log(f"{pkg.key}: soak round {i}/{rounds}: {side['status']}, {len(failed)} failing")
    row.update(
        status="hang" if hangs else "ok",
        hangs=hangs,
        runs_with_failures=bad_runs,
        failing={n: {"runs": c, "message": messages.get(n, "")} for n, c in sorted(failing.items())},
        deadlocks=sorted(deadlocks.values(), key=lambda f: f["id"]),
        wall_min=min(walls) if walls else None,
        wall_max=max(walls) if walls else None,
    )
    return row


def markdown(doc: Dict[str, Any]) -> str:
    meta = doc["meta"]
    lines = [
        "# Soak: thread-heavy proving-ground tests, repeated under --race",
        "",
        f"- date: {meta['date']}",
        f"- racedet revision: {meta['revision']}",
        f"- command: `{meta['command']}`",
        "",
        "| package | selection | rounds | hangs | runs with a failure | distinct failing tests | deadlock reports | wall s (min-max) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        if r.get("status") == "setup-failed":
            lines.append(f"| {r['package']} | - | - | - | setup failed: {r['error']} | - | - | - |")
            continue
        lines.append(
            f"| {r['package']} {r['version']} | {' '.join(r['tests_args'])} | {r['rounds']} | {len(r['hangs'])} | "
            f"{r['runs_with_failures']} | {len(r['failing'])} | {len(r['deadlocks'])} | "
            f"{r['wall_min']:.1f}-{r['wall_max']:.1f} |"
        )
    for r in doc["rows"]:
        if r.get("status") == "setup-failed" or not (r["hangs"] or r["failing"] or r["deadlocks"]):
            continue
        lines += ["", f"## {r['package']} {r['version']}", ""]
        for h in r["hangs"]:
            where = f"in flight `{h['in_flight']}`" if h["in_flight"] else "after the last test: the interpreter did not exit"
            lines.append(f"- round {h['round']}: HANG, {where} (log {h['log']})")
        for n, v in r["failing"].items():
            lines.append(f"- `{n}` failed in {v['runs']}/{r['rounds']} runs: {v['message']}")
        for d in r["deadlocks"]:
            lines.append(f"- deadlock report in {d['rounds']} runs: {d['location']} at {', '.join(d['sites'])}")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="realworld/soak.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--rounds", type=int, default=20, help="runs per package (default 20)")
    ap.add_argument("--only", action="append", help="packages to soak (repeat or comma-separate)")
    ap.add_argument("--run-timeout", type=int, default=300,
                    help="wall-clock limit of one run in seconds, past which it is a hang (default 300)")
    ap.add_argument("--out", default=harness.HERE)
    ap.add_argument("--work", default=harness.DEFAULT_WORK)
    ap.add_argument("--list", default=pinned.DEFAULT_LIST)
    ap.add_argument("--python", default="python3.11")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        print("realworld: --rounds must be at least 1", file=sys.stderr)
        return 2
    try:
        only = [n for o in args.only or [] for n in o.split(",") if n]
        chosen = [p for p in pinned.select(pinned.load(args.list), only or None) if p.soak]
    except pinned.ListError as e:
        print(f"realworld: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "revision": harness.revision(),
        "command": " ".join(["python", "realworld/soak.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    rows = []
    for pkg in chosen:
        rows.append(soak_package(pkg, args.rounds, args.work, args.python, args.run_timeout))
        doc = {"meta": meta, "rows": rows}
        results.write_json(os.path.join(args.out, "soak.json"), doc)
        with open(os.path.join(args.out, "SOAK.md"), "w", encoding="utf-8") as f:
            f.write(markdown(doc))
    harness.log(f"wrote {os.path.join(args.out, 'SOAK.md')}")
    return 1 if any(r.get("hangs") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
