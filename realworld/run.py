"""The proving ground: run released packages' own test suites with and without --race.

    python realworld/run.py [--only PKG[,PKG]] [--out DIR] [--work DIR] [-j 2]

For each package of the pinned list (packages.toml) it downloads the
released sdist from PyPI, unpacks it afresh, makes the package its own venv
with racedet (editable, from this repository) and the package itself
(editable, so that the library's modules are instrumented under --race, not
only its tests; an ``include`` glob for the unpacked tree says so
explicitly), and runs the selected tests under plain ``pytest`` and under
``pytest --race --race-json``.  Each run has a per-test timeout
(pytest-timeout) and a wall-clock limit: a run past it is recorded as a hang
(with every thread's stack, from faulthandler) and killed, so that a hang
never blocks the harness.

It writes results.json and RESULTS.md in --out (default: this folder); with
--only, the rows of the other packages are kept.  Logs, outcomes and race
reports of each run stay under --work (default /tmp/racedet-realworld).
Needs the network (PyPI); not part of CI.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import glob
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from typing import Any, Dict, List, Optional, Tuple

import pinned
import results

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PLUGIN_DIR = os.path.join(HERE, "plugin")
DEFAULT_WORK = "/tmp/racedet-realworld"

# `pip install -e REPO` builds racedet's compiled core in the repository;
# two venvs being set up at once must not build it at the same time.
_REPO_INSTALL = threading.Lock()


class SetupError(Exception):
    """A package could not be downloaded, unpacked or installed (one line)."""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(cmd: List[str], logfile: str, timeout: int, env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None) -> int:
    """Run a setup command, appending its output to *logfile*; its exit status."""
    with open(logfile, "a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        try:
            return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout, env=env, cwd=cwd).returncode
        except subprocess.TimeoutExpired:
            out.write(f"\n(timed out after {timeout} s)\n")
            return -1


# ---------------------------------------------------------------- setup


def download(pkg: pinned.Package, work: str) -> str:
    """The sdist of *pkg* (downloaded once, kept under work/sdists)."""
    d = os.path.join(work, "sdists", pkg.key)
    os.makedirs(d, exist_ok=True)
    found = [f for f in os.listdir(d) if f.endswith((".tar.gz", ".zip", ".tar.bz2"))]
    if not found:
        logfile = os.path.join(work, "logs", f"{pkg.key}.setup.log")
        # Only the package itself must come as an sdist: its build backend's own
        # dependencies may be wheels (some, such as vcs-versioning, cannot be built
        # from their sdists outside a git checkout).
        name = pkg.requirement.split("==")[0].split("[")[0].strip()
        rc = sh([sys.executable, "-m", "pip", "download", "--no-binary", name, "--no-deps",
                 "--quiet", pkg.requirement, "-d", d], logfile, 600,
                env=setup_env(pkg))
        found = [f for f in os.listdir(d) if f.endswith((".tar.gz", ".zip", ".tar.bz2"))]
        if rc != 0 or not found:
            raise SetupError(f"pip download {pkg.requirement} failed (see {logfile})")
    return os.path.join(d, sorted(found)[0])


def unpack(archive: str, dest: str) -> str:
    """Unpack *archive* into a fresh *dest*; the sdist's top folder."""
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    if archive.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    else:
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")
    tops = [os.path.join(dest, n) for n in os.listdir(dest)]
    if len(tops) != 1 or not os.path.isdir(tops[0]):
        raise SetupError(f"{os.path.basename(archive)} does not unpack to one folder")
    return tops[0]


def setup_env(pkg: pinned.Package) -> Dict[str, str]:
    env = dict(os.environ)
    # sdists built with setuptools-scm / hatch-vcs have no git metadata.
    env["SETUPTOOLS_SCM_PRETEND_VERSION"] = pkg.version
    env.pop("PYTHONPATH", None)
    return env


def install_tree(pkg: pinned.Package, src: str, venv: str, work: str) -> None:
    """Install the freshly unpacked tree editable into *venv* (its deps are there already).

    Done again after every unpack: a legacy editable install keeps its
    metadata (``*.egg-info``) in the tree itself.
    """
    logfile = os.path.join(work, "logs", f"{pkg.key}.setup.log")
    py = os.path.join(venv, "bin", "python")
    if sh([py, "-m", "pip", "install", "-q", "-e", src], logfile, 900, setup_env(pkg), cwd=src) != 0:
        raise SetupError(f"pip install -e of the unpacked {pkg.key} failed (see {logfile})")


def make_venv(pkg: pinned.Package, src: str, work: str, python: str) -> str:
    """The package's venv, with pytest, its test deps, racedet and the package (editable)."""
    venv = os.path.join(work, "venvs", pkg.key)
    py = os.path.join(venv, "bin", "python")
    logfile = os.path.join(work, "logs", f"{pkg.key}.setup.log")
    env = setup_env(pkg)
    stamp = os.path.join(venv, "rw-stamp")
    want = repr((REPO, sorted(pkg.deps), python))
    fresh = not (os.path.exists(stamp) and open(stamp).read() == want)
    if fresh:
        if os.path.exists(venv):
            shutil.rmtree(venv)
        if sh([python, "-m", "venv", venv], logfile, 300) != 0:
            raise SetupError(f"cannot create a venv with {python}")
        if sh([py, "-m", "pip", "install", "-q", "pytest", "pytest-timeout", *pkg.deps], logfile, 900, env) != 0:
            raise SetupError(f"installing pytest and {pkg.deps} failed (see {logfile})")
    with _REPO_INSTALL:
        if fresh and sh([py, "-m", "pip", "install", "-q", "-e", REPO], logfile, 900, env) != 0:
            raise SetupError(f"installing racedet from {REPO} failed (see {logfile})")
    install_tree(pkg, src, venv, work)
    if fresh:
        with open(stamp, "w") as f:
            f.write(want)
    return venv


# ---------------------------------------------------------------- one run


def run_suite(pkg: pinned.Package, side: str, src: str, venv: str, work: str, tag: str = "") -> Dict[str, Any]:
    """One pytest run of the package's selection, plain or under --race (files named side+tag)."""
    base = os.path.join(work, "runs", pkg.key, side + tag)
    os.makedirs(os.path.dirname(base), exist_ok=True)
    outcomes, report, output = base + ".outcomes.jsonl", base + ".race.json", base + ".log"
    for p in (outcomes, report, output):
        if os.path.exists(p):
            os.remove(p)
    cmd = [os.path.join(venv, "bin", "python"), "-m", "pytest", "-p", "no:cacheprovider", "-p", "rw_outcomes",
           f"--timeout={pkg.timeout}", "-rf", *pkg.tests]
    if side == "race":
        cmd += ["--race", f"--race-json={report}"]
    env = setup_env(pkg)
    env.pop("PYTEST_RACE", None)
    env.pop("PYTEST_ADDOPTS", None)
    env["PYTHONPATH"] = PLUGIN_DIR
    env["RW_OUTCOMES"] = outcomes
    # So that a run killed at exit (after pytest's own faulthandler is off) still dumps its stacks.
    env["PYTHONFAULTHANDLER"] = "1"
    env["RACEDET_OPTIONS"] = f"include={src}/* exclude={PLUGIN_DIR}/*"
    start = time.monotonic()
    hung = False
    with open(output, "w", encoding="utf-8") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=src, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout=pkg.run_timeout)
        except subprocess.TimeoutExpired:
            hung = True
            out.write(f"\n\n===== realworld: run exceeded {pkg.run_timeout} s: SIGABRT for faulthandler's stacks =====\n")
            out.flush()
            try:
                proc.send_signal(signal.SIGABRT)  # pytest's faulthandler dumps every thread
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            rc = proc.wait()
    wall = round(time.monotonic() - start, 2)
    summary = results.summarise(results.read_jsonl(outcomes))
    side_row: Dict[str, Any] = {
        "status": "hang" if hung else ("ok" if rc in (0, 1) else f"exit {rc}"),
        "exit": rc,
        "wall": wall,
        "tests": summary["tests"],
        "counts": summary["counts"],
        "collect_errors": summary["collect_errors"],
        "in_flight": summary["in_flight"] if hung else None,
        "timed_out": results.timed_out(summary["messages"]),
        "outcomes": summary["outcomes"],
        "messages": summary["messages"],
        "log": output,
    }
    if side == "race":
        # Modules racedet's import hook loaded (the library and its helpers;
        # test modules go through pytest's rewriter and are not counted).
        mods = summary["instrumented"]
        side_row["instrumented"] = len(mods) if mods is not None else None
        side_row["instrumented_modules"] = mods
        side_row["report"] = report
    return side_row


def path_roots(src: str, venv: str) -> List[Tuple[str, str]]:
    """Prefixes shortened in findings, most specific first."""
    site = glob.glob(os.path.join(venv, "lib", "python*", "site-packages"))
    stdlib = os.path.dirname(os.__file__)
    roots = [(src.rstrip("/") + "/", ""), (REPO + "/", "racedet-repo/")]
    roots += [(s + "/", "site-packages/") for s in site]
    roots.append((stdlib + "/", "stdlib/"))
    return roots


def prepare(pkg: pinned.Package, work: str, python: str) -> Tuple[str, str, str]:
    """(sdist, unpacked tree, venv) of *pkg*, set up for a run; raises SetupError."""
    os.makedirs(os.path.join(work, "logs"), exist_ok=True)
    archive = download(pkg, work)
    src = unpack(archive, os.path.join(work, "src", pkg.key))
    return archive, src, make_venv(pkg, src, work, python)


def refresh_side(side_row: Dict[str, Any], outcomes: str) -> None:
    """Recompute a side's outcome fields from its saved outcomes log (no run)."""
    summary = results.summarise(results.read_jsonl(outcomes))
    side_row.update(tests=summary["tests"], counts=summary["counts"], collect_errors=summary["collect_errors"],
                    timed_out=results.timed_out(summary["messages"]), outcomes=summary["outcomes"],
                    messages=summary["messages"])
    if side_row.get("status") == "hang":
        side_row["in_flight"] = summary["in_flight"]


def refresh_row(row: Dict[str, Any], pkg: pinned.Package, work: str) -> Dict[str, Any]:
    """A row rebuilt from the files its last run left under *work* (after a change to results.py)."""
    base = os.path.join(work, "runs", pkg.key)
    tops = glob.glob(os.path.join(work, "src", pkg.key, "*"))
    venv = os.path.join(work, "venvs", pkg.key)
    if row.get("status") == "setup-failed" or not tops:
        return row
    refresh_side(row["plain"], os.path.join(base, "plain.outcomes.jsonl"))
    refresh_side(row["race"], os.path.join(base, "race.outcomes.jsonl"))
    report = results.load_report(os.path.join(base, "race.race.json")) or {}
    row["findings"] = results.findings(report, path_roots(tops[0], venv))
    row["race_only"] = results.only_under_race(row["plain"]["outcomes"], row["race"]["outcomes"])
    return row


def run_package(pkg: pinned.Package, work: str, python: str) -> Dict[str, Any]:
    """Set up *pkg* and run it both ways; its row of the table."""
    row: Dict[str, Any] = {"package": pkg.name, "version": pkg.version, "tests_args": pkg.tests, "status": "ok"}
    try:
        log(f"{pkg.key}: setting up")
        archive, src, venv = prepare(pkg, work, python)
        log(f"{pkg.key}: plain pytest")
        plain = run_suite(pkg, "plain", src, venv, work)
        # A fresh tree for the race run too: nothing left behind by the plain run.
        src = unpack(archive, os.path.join(work, "src", pkg.key))
        install_tree(pkg, src, venv, work)
        log(f"{pkg.key}: pytest --race")
        race = run_suite(pkg, "race", src, venv, work)
    except SetupError as e:
        row.update(status="setup-failed", error=str(e), plain={"status": "not-run"}, race={"status": "not-run"})
        log(f"{pkg.key}: {e}")
        return row
    report = results.load_report(race.pop("report")) or {}
    row["findings"] = results.findings(report, path_roots(src, venv))
    row["plain"], row["race"] = plain, race
    row["ratio"] = results.ratio(plain["wall"], race["wall"])
    row["race_only"] = results.only_under_race(plain["outcomes"], race["outcomes"])
    if plain["status"] == "hang" or race["status"] == "hang":
        row["status"] = "hang"
    elif plain["collect_errors"] or race["collect_errors"]:
        row["status"] = "collection-error"
    elif plain["status"] != "ok" or race["status"] != "ok":
        row["status"] = f"pytest {plain['status']} / {race['status']}"  # internal or usage error
    log(f"{pkg.key}: done: plain {plain['counts']} {plain['wall']}s, race {race['counts']} {race['wall']}s, "
        f"{len(row['findings'])} findings, {len(row['race_only'])} race-only failures")
    return row


# ---------------------------------------------------------------- main


def revision() -> str:
    try:
        # the last commit that changed racedet itself (realworld/ commits do not count)
        rev = subprocess.run(["git", "-C", REPO, "log", "-1", "--format=%h", "--", "racedet", "pytest_racedet",
                              "setup.py", "pyproject.toml"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "racedet", "pytest_racedet"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def interpreter_version(python: str) -> str:
    try:
        return subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="realworld/run.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", help="run only these packages (repeat or comma-separate)")
    ap.add_argument("--out", default=HERE, help="where results.json and RESULTS.md go (default: realworld/)")
    ap.add_argument("--work", default=DEFAULT_WORK, help=f"downloads, venvs, logs (default {DEFAULT_WORK})")
    ap.add_argument("--list", default=pinned.DEFAULT_LIST, help="the pinned list (default realworld/packages.toml)")
    ap.add_argument("--python", default="python3.11", help="interpreter for the venvs (default python3.11)")
    ap.add_argument("-j", "--jobs", type=int, default=1, choices=(1, 2), help="packages at a time (at most 2)")
    ap.add_argument("--refresh", action="store_true",
                    help="rebuild results.json/RESULTS.md from the last run's files under --work, running nothing")
    args = ap.parse_args(argv)
    try:
        packages = pinned.load(args.list)
        only = [n for o in args.only or [] for n in o.split(",") if n]
        chosen = pinned.select(packages, only or None)
    except pinned.ListError as e:
        print(f"realworld: {e}", file=sys.stderr)
        return 2
    if shutil.which(args.python) is None and not os.path.exists(args.python):
        print(f"realworld: no interpreter {args.python!r}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    json_path = os.path.join(args.out, "results.json")
    if args.refresh:
        try:
            doc = results.load_results(json_path)
        except ValueError as e:
            print(f"realworld: {e}", file=sys.stderr)
            return 2
        by_name = {p.name: p for p in packages}
        names = {p.name for p in chosen}
        doc["rows"] = [refresh_row(r, by_name[r["package"]], args.work) if r["package"] in names and r["package"] in by_name
                       else r for r in doc["rows"]]
        results.write_json(json_path, doc)
        with open(os.path.join(args.out, "RESULTS.md"), "w", encoding="utf-8") as f:
            f.write(results.markdown(doc))
        log(f"refreshed {json_path} and RESULTS.md")
        return 0
    old_rows: List[Dict[str, Any]] = []
    if only and os.path.exists(json_path):
        try:
            old_rows = results.load_results(json_path)["rows"]
        except ValueError:
            old_rows = []
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "revision": revision(),
        "python": interpreter_version(args.python),
        "command": " ".join(["python", "realworld/run.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    done: List[Dict[str, Any]] = []
    lock = threading.Lock()
    order = [p.name for p in packages]

    def record(row: Dict[str, Any]) -> None:
        with lock:
            done.append(row)
            doc = {"meta": meta, "rows": results.merge_rows(old_rows, done, order)}
            results.write_json(json_path, doc)
            with open(os.path.join(args.out, "RESULTS.md"), "w", encoding="utf-8") as f:
                f.write(results.markdown(doc))

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futs = [pool.submit(run_package, p, args.work, args.python) for p in chosen]
        for fut in concurrent.futures.as_completed(futs):
            record(fut.result())
    log(f"wrote {json_path} and RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
