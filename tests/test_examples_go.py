"""The Go programs of ``examples/``: each runs under plain python and gets its verdict from racedet.

The examples read ``RACEDET_EXAMPLE_SCALE`` to shorten their sleeps; the
printed text does not change.  Verdicts: clean programs report nothing and
exit 0; leaking ones report each blocked goroutine with the primitive and
the line it is stuck on and exit 66; a program where every goroutine is
blocked dies at once with Go's deadlock message and status 2.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from helpers import ROOT, Result, env, run_racedet

EXAMPLES = ROOT / "examples"
FAST = {"RACEDET_EXAMPLE_SCALE": "0.05"}
# The select examples need their sleeps to keep their order on a busy machine.
SELECT = {"RACEDET_EXAMPLE_SCALE": "0.2"}

OUTPUT: Dict[str, List[str]] = {
    "fetch_user_data.py": ["Waiting for API response...", "User data: {id: 1, name: 'Alice'}"],
    "buffered.py": ["buffered 3 of 3", "1 2 3"],
    "select_timeout.py": ["Error: The request timed out after 3 seconds."],
    "select_timeout_fixed.py": ["Error: The request timed out after 3 seconds."],
    "worker_pool.py": ["processed 50 jobs, sum of results: 2550"],
    "worker_pool_leak.py": ["processed 50 jobs, sum of results: 2550"],
}
CLEAN = ["fetch_user_data.py", "buffered.py", "select_timeout_fixed.py", "worker_pool.py",
         "context_cancel.py"]


def scale_for(name: str) -> Dict[str, str]:
    return SELECT if name.startswith("select_timeout") else FAST


def line_in(path: Path, text: str) -> int:
    """The 1-based line of ``path`` containing ``text`` (exactly one)."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert len(hits) == 1, (text, hits)
    return hits[0]


def run_example(tmp_path: Path, name: str) -> Result:
    return run_racedet(tmp_path, script=EXAMPLES / name, extra_env=scale_for(name))


def plain(name: str) -> Result:
    p = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True,
                       timeout=60, env=env(scale_for(name)), cwd=str(EXAMPLES))
    return Result(p.returncode, p.stdout, p.stderr)


# --------------------------------------------------------------------------
# Under plain python


@pytest.mark.parametrize("name", sorted(OUTPUT))
def test_runs_under_plain_python(name: str) -> None:
    res = plain(name)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == OUTPUT[name]
    assert res.stderr == ""


def test_context_cancel_under_plain_python() -> None:
    res = plain("context_cancel.py")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[-1] == "All workers stopped"
    stops = sorted(line for line in lines if "stopping" in line)
    assert stops == [f"Worker {i} stopping: context deadline exceeded" for i in (1, 2, 3)]
    assert all(line.endswith("working...") for line in lines[:-1] if "stopping" not in line)


def test_full_scale_text_is_the_same() -> None:
    """The scale factor changes only the delays, never the words."""
    src = (EXAMPLES / "select_timeout.py").read_text()
    assert 'print("Error: The request timed out after 3 seconds.")' in src


# --------------------------------------------------------------------------
# Under racedet


@pytest.mark.parametrize("name", CLEAN)
def test_clean(tmp_path: Path, name: str) -> None:
    res = run_example(tmp_path, name)
    assert res.races == [], res.stderr
    assert res.leaks == [], res.stderr
    assert res.report.get("deadlock") is None, res.stderr
    assert res.returncode == 0, res.stderr
    if name in OUTPUT:
        assert res.stdout.splitlines() == OUTPUT[name]


def test_select_timeout_leaks_the_late_sender(tmp_path: Path) -> None:
    path = EXAMPLES / "select_timeout.py"
    res = run_example(tmp_path, "select_timeout.py")
    assert res.stdout.splitlines() == OUTPUT["select_timeout.py"]
    assert res.races == [], res.stderr
    assert len(res.leaks) == 1, res.stderr
    leak = res.leaks[0]
    assert leak["thread"] == "goroutine-1"
    assert leak["blocked_in"] == "Chan.send"
    assert leak["stack"][0]["file"] == str(path)
    assert leak["stack"][0]["line"] == line_in(path, 'result.send("Data received")')
    assert leak["created_at"][0]["line"] == line_in(path, "racedet.go(fetch, result)")
    assert res.returncode == 66
    assert "WARNING: LEAK" in res.stderr and "still blocked in Chan.send" in res.stderr


def test_worker_pool_leak_reports_every_worker(tmp_path: Path) -> None:
    path = EXAMPLES / "worker_pool_leak.py"
    res = run_example(tmp_path, "worker_pool_leak.py")
    assert res.stdout.splitlines() == OUTPUT["worker_pool_leak.py"]
    assert res.races == [], res.stderr
    assert sorted(leak["thread"] for leak in res.leaks) == [f"goroutine-{i}" for i in range(1, 6)]
    loop = line_in(path, "for j in jobs:")
    spawn = line_in(path, "racedet.go(worker, w, jobs, results, wg)")
    for leak in res.leaks:
        assert leak["blocked_in"] == "Chan.recv"
        assert leak["stack"][0]["line"] == loop and leak["stack"][0]["function"] == "worker"
        assert leak["created_at"][0]["line"] == spawn
    assert res.returncode == 66


def test_no_leaks_option_silences_leaks(tmp_path: Path) -> None:
    res = run_racedet(tmp_path, script=EXAMPLES / "worker_pool_leak.py", options=["--no-leaks"],
                      extra_env=FAST)
    assert res.leaks == [] and res.returncode == 0, res.stderr


def _variant(tmp_path: Path, name: str, old: str, new: str) -> Path:
    src = (EXAMPLES / name).read_text()
    assert old in src
    p = tmp_path / name
    p.write_text(src.replace(old, new))
    return p


def test_buffered_fourth_send_is_a_deadlock(tmp_path: Path) -> None:
    """Go: ``fatal error: all goroutines are asleep - deadlock!`` on the fourth send."""
    script = _variant(tmp_path, "buffered.py", "    # ch.send(4)  ", "    ch.send(4)    ")
    res = run_racedet(tmp_path, script=script)
    assert res.returncode == 2, res.stderr
    assert "fatal error: all goroutines are asleep - deadlock!" in res.stderr
    threads = res.report["deadlock"]["threads"]
    assert [(t["thread"], t["blocked_in"]) for t in threads] == [("MainThread", "Chan.send")]
    assert threads[0]["stack"][0]["line"] == line_in(script, "ch.send(4)")
    assert res.stdout == ""


def test_worker_pool_waiting_without_close_is_a_deadlock(tmp_path: Path) -> None:
    """Forgetting close(jobs) and then waiting: main in WaitGroup.wait, workers in Chan.recv."""
    script = _variant(tmp_path, "worker_pool.py", "    jobs.close()  ", "    pass  ")
    res = run_racedet(tmp_path, script=script, extra_env=FAST)
    assert res.returncode == 2, res.stderr
    assert "fatal error: all goroutines are asleep - deadlock!" in res.stderr
    blocked = sorted((t["thread"], t["blocked_in"]) for t in res.report["deadlock"]["threads"])
    assert blocked == [("MainThread", "WaitGroup.wait")] + [
        (f"goroutine-{i}", "Chan.recv") for i in range(1, 6)]
