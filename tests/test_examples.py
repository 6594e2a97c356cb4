"""The examples give the verdicts the README shows (the Go-primitive examples are in test_examples_go.py)."""

from __future__ import annotations

import pytest

from helpers import ROOT, run_plain, run_racedet

EXAMPLES = ROOT / "examples"


def test_racy_counter(tmp_path):
    res = run_racedet(tmp_path, script=EXAMPLES / "racy_counter.py")
    assert res.returncode == 66, res.stderr
    assert res.race_lines() == [(15, 15)]
    race = res.races[0]
    assert race["location"] == "Counter.value"
    assert {race["current"]["thread"], race["previous"]["thread"]} == {"worker-1", "worker-2"}
    assert race["current"]["stack"][0]["function"] == "incr"
    assert race["current"]["stack"][1]["function"] == "worker"
    assert "Thread worker-" in res.stderr and "created at:" in res.stderr
    assert res.stdout == "final value: 2000\n"


@pytest.mark.parametrize("name", ["counter_fixed.py", "crawler.py", "pipeline.py"])
def test_clean_examples(tmp_path, name):
    plain = run_plain(EXAMPLES / name)
    res = run_racedet(tmp_path, script=EXAMPLES / name)
    assert res.races == [] and res.leaks == [], res.stderr
    assert res.returncode == 0, res.stderr
    assert res.stdout == plain.stdout
