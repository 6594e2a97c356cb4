"""CPython's own test modules, under plain python and under racedet.

    python realworld/cpython.py [--only test_X[,test_Y]] [--python PY] [--out DIR] [--timeout S]

For each module it runs ``PY -m test -W test_X`` and
``PY -m racedet --include GLOB --json R -m test -W test_X`` (``-W``: a failing
test's output, so its name, is printed) where GLOB matches
the module's file (``*/test/test_X.py``) or, for a package, its folder
(``*/test/test_X/*``), and records regrtest's result both ways, the
counts it prints, the tests it names as failed, and racedet's findings.

Before the runs it checks that the glob really selects the module: a probe
imports ``test.test_X`` under ``python -m racedet --include GLOB`` and
reports which loader loaded it (racedet's own loader means the module's
code is instrumented).  A module absent from PY's test package (3.11.7 has
no test_concurrent_futures) is recorded as absent; run it with another
interpreter (``--python`` of a venv with racedet installed).

Writes cpython.json and CPYTHON.md in --out (default: this folder); with
--only, the other modules' rows are kept.  Each run has a wall-clock limit;
a run past it is a hang, recorded and killed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

import results

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = "/tmp/racedet-realworld/cpython"

# (module, regrtest arguments after the module name).  The language's own
# semantics first (issue 11), then the thread-heavy modules (issue 10).
MODULES: List[Tuple[str, List[str]]] = [
    ("test_grammar", []),
    ("test_scope", []),
    ("test_class", []),
    ("test_exceptions", []),
    ("test_traceback", []),
    ("test_sys", []),
    ("test_inspect", []),
    ("test_generators", []),
    ("test_coroutines", []),
    ("test_enum", []),
    ("test_typing", []),
    ("test_warnings", []),
    ("test_pickle", []),
    ("test_functools", []),
    ("test_weakref", []),
    ("test_contextlib", []),
    ("test_with", []),
    ("test_super", []),
    ("test_descr", []),
    ("test_decorators", []),
    ("test_threading", []),
    ("test_thread", []),
    ("test_threading_local", []),
    ("test_queue", []),
    ("test_logging", []),
    ("test_sched", []),
    ("test_threadedtempfile", []),
    ("test_concurrent_futures", []),
]

_RESULT = re.compile(r"^(?:== Tests result|Tests result|Result): ([A-Z][A-Z ,_]+?)(?: ==)?$", re.M)
_TOTAL = re.compile(r"^Total tests: (.*)$", re.M)
_FAILED = re.compile(r"^(FAIL|ERROR): (\S+) \(([^)]*)\)", re.M)


def parse_regrtest(output: str) -> Dict[str, Any]:
    """regrtest's final verdict, its totals line and the unittest failures it printed."""
    verdicts = _RESULT.findall(output)
    total = _TOTAL.findall(output)
    failed = sorted({f"{kind} {cls}.{name}" if not cls.endswith(name) else f"{kind} {cls}"
                     for kind, name, cls in _FAILED.findall(output)})
    return {
        "result": verdicts[-1].strip() if verdicts else None,
        "totals": total[-1].strip() if total else None,
        "failed": failed,
    }


def include_glob(test_dir: str, module: str) -> Optional[str]:
    """The --include glob of *module*: its file, or every file of its package; None if absent."""
    if os.path.isfile(os.path.join(test_dir, module + ".py")):
        return f"*/test/{module}.py"
    if os.path.isdir(os.path.join(test_dir, module)):
        return f"*/test/{module}/*"
    return None


def run(cmd: List[str], log: str, timeout: int, env: Dict[str, str], cwd: str) -> Tuple[int, float, bool, str]:
    """(exit status, wall seconds, hung?, output) of one run, killed past *timeout*."""
    start = time.monotonic()
    hung = False
    with open(log, "w", encoding="utf-8", errors="replace") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            hung = True
            out.write(f"\n===== cpython.py: run exceeded {timeout} s, killed =====\n")
            out.flush()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            rc = proc.wait()
    wall = round(time.monotonic() - start, 2)
    with open(log, encoding="utf-8", errors="replace") as f:
        return rc, wall, hung, f.read()


PROBE = """\
import importlib, sys
m = importlib.import_module(sys.argv[1])
print("LOADER", type(m.__loader__).__name__)
"""


def probe(python: str, module: str, glob: str, env: Dict[str, str], cwd: str) -> str:
    """The loader that imports test.<module> under racedet with *glob* included."""
    script = os.path.join(cwd, "rw_probe.py")
    with open(script, "w") as f:
        f.write(PROBE)
    try:
        p = subprocess.run([python, "-m", "racedet", "--no-leaks", "--include", glob, script, f"test.{module}"],
                           capture_output=True, text=True, timeout=300, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        return "probe timed out"
    m = re.search(r"^LOADER (\w+)$", p.stdout, re.M)
    return m.group(1) if m else f"probe failed: {(p.stderr.strip().splitlines() or ['?'])[-1][:200]}"


def run_module(python: str, module: str, extra: List[str], timeout: int, work: str) -> Dict[str, Any]:
    info = subprocess.run([python, "-c", "import os, sys, test; print(os.path.dirname(test.__file__)); "
                           "print(sys.version.split()[0])"], capture_output=True, text=True)
    test_dir, version = info.stdout.split()
    row: Dict[str, Any] = {"module": module, "python": version, "args": extra}
    glob = include_glob(test_dir, module)
    if glob is None:
        row["status"] = f"absent in {version}"
        return row
    row["include"] = glob
    cwd = os.path.join(work, module)
    os.makedirs(cwd, exist_ok=True)
    env = dict(os.environ)
    env.pop("RACEDET_OPTIONS", None)
    row["loader"] = probe(python, module, glob, env, cwd)
    for side in ("plain", "race"):
        log = os.path.join(cwd, f"{side}.log")
        report = os.path.join(cwd, "race.json")
        if side == "plain":
            cmd = [python, "-m", "test", "-W", module, *extra]
        else:
            if os.path.exists(report):
                os.remove(report)
            cmd = [python, "-m", "racedet", "--include", glob, "--json", report, "-m", "test", "-W", module, *extra]
        rc, wall, hung, output = run(cmd, log, timeout, env, cwd)
        parsed = parse_regrtest(output)
        row[side] = {"exit": rc, "wall": wall, "hung": hung, "log": log, **parsed}
        if side == "race":
            rep = results.load_report(report) or {}
            row["findings"] = results.findings(rep, [(test_dir + "/", "test/"),
                                                     (os.path.dirname(test_dir) + "/", "stdlib/")])
            row["racedet_wrote_report"] = bool(rep)
    plain, race = row["plain"], row["race"]
    row["same_result"] = plain["result"] == race["result"] and plain["totals"] == race["totals"]
    row["status"] = "hang" if race["hung"] or plain["hung"] else "ok"
    return row


def markdown(doc: Dict[str, Any]) -> str:
    meta = doc["meta"]
    lines = [
        "# CPython's test modules under racedet",
        "",
        f"- date: {meta['date']}",
        f"- racedet revision: {meta['revision']}",
        f"- command: `{meta['command']}`",
        "",
        "Each module runs as `python -m test test_X` and as",
        "`python -m racedet --include GLOB -m test test_X`. `loader` is what a probe",
        "import under racedet with that glob reported (RacedetLoader: the module's",
        "code is instrumented). `same` = regrtest's result and totals line are equal",
        "both ways. `findings` = racedet reports (listed below the table).",
        "",
        "| module | python | include | loader | plain result | race result | totals (race) | same | plain s | race s | ratio | findings |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        if "plain" not in r:
            lines.append(f"| {r['module']} | {r.get('python', '?')} | - | - | {r['status']} | - | - | - | - | - | - | - |")
            continue
        p, q = r["plain"], r["race"]
        res_p = ("HANG" if p["hung"] else p["result"] or f"exit {p['exit']}")
        res_q = ("HANG" if q["hung"] else q["result"] or f"exit {q['exit']}")
        ratio = results.ratio(p["wall"], q["wall"])
        lines.append(
            f"| {r['module']} | {r['python']} | `{r['include']}` | {r['loader']} | {res_p} | {res_q} | "
            f"{q['totals'] or '-'} | {'yes' if r['same_result'] else '**no**'} | {p['wall']:.1f} | {q['wall']:.1f} | "
            f"{'-' if ratio is None else f'{ratio:.1f}x'} | {len(r.get('findings') or [])} |"
        )
    for r in doc["rows"]:
        if "plain" not in r:
            continue
        notes = []
        only_race = sorted(set(r["race"]["failed"]) - set(r["plain"]["failed"]))
        for t in only_race:
            notes.append(f"- fails only under racedet: `{t}`")
        for f in r.get("findings") or []:
            notes.append(f"- {f['kind']} `{f['location']}`: {f['detail']}")
        if not r["same_result"] and not notes:
            notes.append(f"- results differ: plain {r['plain']['result']} ({r['plain']['totals']}), "
                         f"racedet {r['race']['result']} ({r['race']['totals']}), exit {r['race']['exit']}")
        if notes:
            lines += ["", f"## {r['module']} ({r['python']})", ""] + notes
    return "\n".join(lines) + "\n"


def revision() -> str:
    from run import revision as racedet_revision  # one definition of "racedet's revision"

    return racedet_revision()


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="realworld/cpython.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", help="modules to run (repeat or comma-separate)")
    ap.add_argument("--python", default=sys.executable, help="interpreter with racedet installed (default: this one)")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--work", default=WORK)
    ap.add_argument("--timeout", type=int, default=900, help="wall-clock limit of one run (s)")
    args = ap.parse_args(argv)
    table = dict(MODULES)
    only = [n for o in args.only or [] for n in o.split(",") if n]
    for n in only:
        if n not in table:
            print(f"realworld: {n!r} is not in cpython.py's module list", file=sys.stderr)
            return 2
    chosen = only or [m for m, _ in MODULES]
    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, "cpython.json")
    rows: Dict[Tuple[str, str], Dict[str, Any]] = {}
    if os.path.exists(json_path):
        try:
            with open(json_path) as f:
                for r in json.load(f)["rows"]:
                    rows[(r["module"], r.get("python", "?"))] = r
        except (OSError, ValueError, KeyError):
            rows = {}
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "revision": revision(),
        "command": " ".join(["python", "realworld/cpython.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    rank = {m: i for i, (m, _) in enumerate(MODULES)}
    for m in chosen:
        print(f"[{time.strftime('%H:%M:%S')}] {m}", flush=True)
        row = run_module(args.python, m, table[m], args.timeout, args.work)
        rows[(m, row.get("python", "?"))] = row
        doc = {"meta": meta, "rows": sorted(rows.values(), key=lambda r: (rank.get(r["module"], 99), r.get("python", "")))}
        results.write_json(json_path, doc)
        with open(os.path.join(args.out, "CPYTHON.md"), "w", encoding="utf-8") as f:
            f.write(markdown(doc))
        print(f"    plain {row.get('plain', {}).get('result')} race {row.get('race', {}).get('result')} "
              f"findings {len(row.get('findings') or [])} loader {row.get('loader')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
