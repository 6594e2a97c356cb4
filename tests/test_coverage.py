"""coverage.py beside racedet: ``coverage run -m racedet`` gives both coverage and race reports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT, env

pytest.importorskip("coverage")


def _run(tmp_path, *argv):
    return subprocess.run([sys.executable, "-m", "coverage", *argv], capture_output=True, text=True,
                          cwd=str(tmp_path), env=env(), timeout=120)


def _lines(tmp_path, data_file):
    res = _run(tmp_path, "json", "--data-file", data_file, "-o", "-", "--include", "*racy_counter.py")
    files = json.loads(res.stdout)["files"]
    (entry,) = files.values()
    return entry["executed_lines"], entry["missing_lines"]


def test_coverage_run_racedet(tmp_path):
    shutil.copy(ROOT / "examples" / "racy_counter.py", tmp_path)
    plain = _run(tmp_path, "run", "--data-file", "plain.cov", "racy_counter.py")
    assert plain.returncode == 0, plain.stderr
    raced = _run(tmp_path, "run", "--data-file", "raced.cov", "-m", "racedet", "racy_counter.py")
    assert raced.returncode == 66, raced.stderr
    assert "WARNING: DATA RACE" in raced.stderr
    assert "cmdline.py" not in raced.stderr, "launcher frames leaked into the stack"
    assert _lines(tmp_path, "raced.cov") == _lines(tmp_path, "plain.cov")
