"""Run programs under ``python -m racedet`` and read what it found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent


def _cores() -> List[str]:
    """Both access cores when the compiled one is built (race suites run on each)."""
    import importlib.util

    return ["c", "py"] if importlib.util.find_spec("racedet._access") is not None else ["py"]


CORES = _cores()


@dataclass
class Result:
    """What one run produced: exit status, output and the JSON report."""

    returncode: int
    stdout: str
    stderr: str
    report: Dict[str, Any] = field(default_factory=dict)

    @property
    def races(self) -> List[Dict[str, Any]]:
        return self.report.get("races", [])

    @property
    def leaks(self) -> List[Dict[str, Any]]:
        return self.report.get("leaks", [])

    def race_lines(self) -> List[Tuple[int, int]]:
        """Each race as the sorted pair of (current, previous) access lines."""
        return sorted(
            tuple(sorted((r["current"]["stack"][0]["line"], r["previous"]["stack"][0]["line"])))
            for r in self.races
        )


def env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    e = dict(os.environ)
    e.pop("RACEDET_OPTIONS", None)
    e.pop("GITHUB_ACTIONS", None)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    if extra:
        e.update(extra)
    return e


def write(tmp_path: Path, source: str, name: str = "prog.py") -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(source).lstrip("\n"))
    return p


def run_racedet(tmp_path: Path, source: Optional[str] = None, *args: str, script: Optional[Path] = None,
                options: Sequence[str] = (), extra_env: Optional[Dict[str, str]] = None,
                timeout: float = 60, cwd: Optional[Path] = None, stdin: Optional[str] = None) -> Result:
    """Run ``source`` (written to tmp_path/prog.py) or ``script`` under ``python -m racedet --json``."""
    if script is None:
        assert source is not None
        script = write(tmp_path, source)
    out = tmp_path / "racedet-report.json"
    if out.exists():
        out.unlink()
    cmd = [sys.executable, "-m", "racedet", "--json", str(out), *options, str(script), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(extra_env),
                       cwd=str(cwd or tmp_path), input=stdin)
    report = json.loads(out.read_text()) if out.exists() else {}
    return Result(p.returncode, p.stdout, p.stderr, report)


def run_plain(script: Path, *args: str, timeout: float = 60, cwd: Optional[Path] = None,
              extra_env: Optional[Dict[str, str]] = None) -> Result:
    p = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                       timeout=timeout, env=env(extra_env), cwd=str(cwd or script.parent))
    return Result(p.returncode, p.stdout, p.stderr)


def line_of(source: str, marker: str) -> int:
    """1-based line number of the line of ``source`` (dedented) containing ``marker``."""
    for i, line in enumerate(textwrap.dedent(source).lstrip("\n").splitlines(), 1):
        if marker in line:
            return i
    raise AssertionError(f"marker {marker!r} not in source")


#: How long in-process tests wait for a thread or goroutine before failing.
JOIN = 10.0


def wait_until(pred: Callable[[], bool], timeout: float = JOIN) -> None:
    """Poll ``pred`` until it holds (a test's safety net, never its synchronization)."""
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)


def joined(g: Any) -> None:
    """Join a thread or goroutine, failing the test instead of hanging."""
    g.join(JOIN)
    assert not g.is_alive(), f"{g.name} did not finish"


def marked_pair(src: str, mark: str = "# R") -> Tuple[int, int]:
    """The sorted pair of lines of ``src`` that end with ``mark`` (a line alone races with itself)."""
    lines = [i for i, ln in enumerate(src.lstrip("\n").splitlines(), 1) if ln.rstrip().endswith(mark)]
    assert 1 <= len(lines) <= 2, f"{len(lines)} lines marked {mark!r}"
    return (lines[0], lines[-1])


#: ``two(a, b)`` for test programs: runs a() in one thread, then b() in another once a()
#: returned, with no happens-before edge between them (a raw lock is no model).
TWO = """
import _thread, threading

def two(a, b):
    gate = threading._allocate_lock()
    gate.acquire()
    def first():
        a()
        gate.release()
    def second():
        gate.acquire()
        b()
    t1 = threading.Thread(target=first)
    t2 = threading.Thread(target=second)
    t1.start(); t2.start(); t1.join(); t2.join()
"""


def expect_no_race(tmp_path: Path, src: str, core: str) -> Result:
    """Run ``src`` on access core ``core``: zero reports, exit status 0."""
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert res.races == [], res.stderr
    assert res.returncode == 0, res.stderr
    return res


def expect_race(tmp_path: Path, src: str, core: str) -> Result:
    """Run ``src`` on access core ``core``: exactly the race of its two ``# R`` lines, exit status 66."""
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert res.race_lines() == [marked_pair(src)], res.stderr
    assert res.returncode == 66, res.stderr
    return res
