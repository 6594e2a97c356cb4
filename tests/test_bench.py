"""The benchmark suite runs end to end and every workload runs; no assertion is about speed.

Timings on a shared CI machine prove nothing, so these tests only check that
the runner measures, parses and reports (and that its peak-RSS figure is
the child's own, not inherited from the runner), and that each workload is a
correct, self-checking program at a tiny size.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RUN = BENCH / "run.py"
WORKLOADS = sorted(p for p in (BENCH / "workloads").glob("*.py") if not p.name.startswith("_"))

sys.path.insert(0, str(BENCH))
from benchkit import suite  # noqa: E402
from benchkit.measure import Sample, parse_result, run_child  # noqa: E402


def _load_runner():
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env() -> dict:
    env = dict(os.environ)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + old if old else "")
    return env


def _bench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUN), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def test_quick_run_plain_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = _bench("--quick", "--plain-only", "--size", "tiny", "--only", "start-up,single",
                  "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "start-up" in proc.stdout and "single" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["python"]["version"] and doc["machine"]["cpus"] and doc["date"]
    assert [e["name"] for e in doc["entries"]] == ["start-up", "single"]
    for entry in doc["entries"]:
        assert entry["status"] == "ok"
        [sample] = entry["samples"]
        assert sample["mode"] == "plain" and sample["returncode"] == 0
        assert sample["maxrss_kb"] > 0 and sample["wall"] > 0 and sample["seconds"] is not None


def test_quick_run_under_racedet(tmp_path: Path) -> None:
    """Both modes, ratios and the targets block; skipped where racedet cannot run at all."""
    out = tmp_path / "results.json"
    proc = _bench("--quick", "--size", "tiny", "--only", "start-up,single", "--json", str(out))
    if proc.returncode == 2 and "cannot run a hello-world" in proc.stderr:
        pytest.skip("python -m racedet does not run here: " + proc.stderr[-300:])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "targets (issue 13)" in proc.stdout
    doc = json.loads(out.read_text())
    single = next(e for e in doc["entries"] if e["name"] == "single")
    assert {s["mode"] for s in single["samples"]} == {"plain", "racedet", "coverage"}
    assert single["time_ratio"] > 0 and single["mem_ratio"] > 0
    assert single["coverage_ratio"] > 0 and single["vs_coverage"] > 0
    assert any(t["target"].startswith("racedet / coverage.py") for t in doc["summary"]["targets"])
    assert any(t["target"].startswith("start-up") for t in doc["summary"]["targets"])


@pytest.mark.parametrize("script", WORKLOADS, ids=lambda p: p.stem)
def test_workload_runs_plain_at_tiny_size(script: Path) -> None:
    proc = subprocess.run([sys.executable, str(script), "--size", "tiny"], capture_output=True,
                          text=True, cwd=ROOT, env=_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = parse_result(proc.stdout)
    assert "seconds" in result or "skipped" in result, proc.stdout


def test_every_workload_file_is_in_the_suite() -> None:
    assert {e.script for e in suite.ENTRIES} == {p.name for p in WORKLOADS}


def test_select_by_name_group_and_pattern() -> None:
    assert [e.name for e in suite.select("single")] == ["single"]
    assert len(suite.select("scaling")) == 6
    assert [e.name for e in suite.select("scaling-threads-*")] == [
        "scaling-threads-2", "scaling-threads-8", "scaling-threads-32"]
    with pytest.raises(ValueError, match="no workload matches 'nope'"):
        suite.select("nope")


def test_peak_rss_is_the_childs_own() -> None:
    """A fat parent must not make a small child look fat (Linux keeps maxrss across exec)."""
    ballast = b"x" * (300 << 20)  # noqa: F841 - keeps 300 MB resident while the child runs
    s = run_child([sys.executable, "-c", "print('{\"seconds\": 0}')"], mode="plain", rep=0,
                  env=os.environ, cwd=str(ROOT), timeout=30)
    assert s.ok and s.seconds == 0
    assert 0 < s.maxrss_kb < 150 * 1024


def test_a_race_report_is_a_failure() -> None:
    runner = _load_runner()
    sample = Sample(mode="racedet", rep=0, wall=1.0, maxrss_kb=1, returncode=66)
    assert "race" in runner.describe_failure(sample, timeout=10)
    assert not sample.ok


def test_result_line_is_the_last_json_line() -> None:
    assert parse_result('noise\n{"seconds": 1.5, "ops": 3}\n\n') == {"seconds": 1.5, "ops": 3}
    assert parse_result("no json here\n") == {}
