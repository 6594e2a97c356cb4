"""``pytest --race`` beside the plugins real suites run: each one real, loaded by name.

The plugins are in the test extras; a missing one skips its test (a plain
checkout without the extras still runs the rest).  Every run goes through
``pytester.runpytest_subprocess`` with plugin autoloading off, so each test
names exactly the plugins it is about.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Dict

import pytest

from test_plugin import pt, run  # noqa: F401  (the fixture and the runner)

pytest_plugins = ["pytester"]


def needs(module: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(importlib.util.find_spec(module) is None, reason=f"{module} not installed")


def outcomes(res: pytest.RunResult) -> Dict[str, int]:
    return res.parseoutcomes()


def marked_line(path: Path, marker: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if marker in line:
            return i
    raise AssertionError(marker)


SHARED_RACE = """
    import threading

    class Box:
        def __init__(self):
            self.n = 0

    box = Box()

    def bump():
        box.n += 1                      # R

    def test_racy():
        t = threading.Thread(target=bump)
        t.start()
        bump()
        t.join()

    def test_clean():
        lock = threading.Lock()
        b = Box()
        def locked():
            with lock:
                b.n += 1
        t = threading.Thread(target=locked)
        t.start()
        locked()
        t.join()
"""


# -- pytest-rerunfailures ---------------------------------------------------


@needs("pytest_rerunfailures")
def test_rerunfailures_reruns_a_racy_test_and_still_reports_it(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_r=SHARED_RACE + """
    import racedet

    def test_leaky():
        ch = racedet.Chan()
        racedet.go(ch.recv)
    """)
    res = run(pt, "-p", "rerunfailures", "--race", "--reruns", "2", "-rA")
    got = outcomes(res)
    assert got.get("failed") == 2 and got.get("passed") == 1, res.stdout.str()
    assert got.get("rerun") == 4, res.stdout.str()
    res.stdout.fnmatch_lines(["FAILED test_r.py::test_racy - DATA RACE on Box.n (test_r.py:* vs *)",
                              "FAILED test_r.py::test_leaky - LEAK of thread goroutine-* (blocked in Chan.recv)"])


@needs("pytest_rerunfailures")
def test_rerunfailures_flaky_marker_and_clean_tests(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_f="""
    import pytest, threading

    calls = []

    @pytest.mark.flaky(reruns=2)
    def test_fails_once():
        calls.append(1)
        assert len(calls) > 1

    def test_threads_joined():
        t = threading.Thread(target=calls.append, args=(2,))
        t.start()
        t.join()
    """)
    res = run(pt, "-p", "rerunfailures", "--race", "-p", "no:randomly")
    got = outcomes(res)
    assert got.get("passed") == 2 and got.get("rerun") == 1 and "failed" not in got, res.stdout.str()


# -- pytest-repeat and pytest-randomly: one race, many tests ----------------


@needs("pytest_repeat")
def test_repeat_groups_one_race_of_many_tests(pt: pytest.Pytester) -> None:
    path = pt.makepyfile(test_g=SHARED_RACE)
    res = run(pt, "-p", "pytest_repeat", "--race", "--count", "3", "-p", "no:randomly",
              "--race-sarif", "out.sarif", "--race-json", "out.json")
    got = outcomes(res)
    assert got.get("failed") == 3 and got.get("passed") == 3, res.stdout.str()
    line = marked_line(path, "# R")
    res.stdout.fnmatch_lines([f"*= racedet: 1 distinct race (Box.n, test_g.py:{line} vs {line}) in 3 tests =*"])
    out = res.stdout.str()
    # The first failure has the full report; the next two point at it.
    assert out.count("WARNING: DATA RACE") == 1, out
    assert out.count("the same race as in test_g.py::test_racy[1-3]; its failure has the full report") == 2, out
    # The JSON and SARIF logs group the same way: one race, the three tests it failed.
    tests = ["test_g.py::test_racy[1-3]", "test_g.py::test_racy[2-3]", "test_g.py::test_racy[3-3]"]
    (race,) = json.loads((pt.path / "out.json").read_text())["races"]
    assert race["tests"] == tests
    (result,) = json.loads((pt.path / "out.sarif").read_text())["runs"][0]["results"]
    assert result["properties"]["tests"] == tests


@needs("pytest_randomly")
def test_randomly_reorders_and_the_verdicts_stay(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_o=SHARED_RACE)
    for seed in ("1", "2", "3"):
        res = run(pt, "-p", "randomly", "--race", f"--randomly-seed={seed}")
        got = outcomes(res)
        assert got.get("failed") == 1 and got.get("passed") == 1, res.stdout.str()
        res.stdout.fnmatch_lines(["FAILED test_o.py::test_racy - DATA RACE on Box.n*"])


# -- pytest-run-parallel: the test body in N threads at once ---------------


RUN_PARALLEL = """
    import threading
    import pytest

    class Registry:
        def __init__(self):
            self.count = 0
            self.lock = threading.Lock()

        def register(self):
            self.count += 1             # P

        def register_locked(self):
            with self.lock:
                self.count += 1

    shared = Registry()
    guarded = Registry()

    def test_shared_state():
        shared.register()

    def test_locked_state():
        guarded.register_locked()

    def test_own_state():
        r = Registry()
        r.register()
        assert r.count == 1

    @pytest.mark.thread_unsafe
    def test_marked_unsafe():
        shared.register()
"""


@needs("pytest_run_parallel")
def test_run_parallel_finds_the_shared_state_of_a_test(pt: pytest.Pytester) -> None:
    path = pt.makepyfile(test_par=RUN_PARALLEL)
    res = run(pt, "-p", "pytest_run_parallel.plugin", "--race", "--parallel-threads=4", "-p", "no:randomly")
    out = res.stdout.str()
    line = marked_line(path, "# P")
    # run-parallel shows a failing parallel test as "PARALLEL FAILED" (an error), as it does without racedet.
    res.stdout.fnmatch_lines([f"PARALLEL FAILED test_par.py::test_shared_state - DATA RACE on Registry.count "
                              f"(test_par.py:{line} vs {line})"])
    assert out.count("WARNING: DATA RACE") == 1, out
    assert "test_locked_state" not in out.split("short test summary info")[-1], out
    assert "test_own_state" not in out.split("short test summary info")[-1], out
    assert "test_marked_unsafe" not in out.split("short test summary info")[-1], out
    # The stacks end at the test function: run-parallel's own frames are cut like pytest's.
    report = out.split("WARNING: DATA RACE")[1].split("==================")[0]
    assert "pytest_run_parallel" not in report, report
    assert f'test_par.py", line {line}, in register' in report, report
    assert "in test_shared_state" in report, report


@needs("pytest_run_parallel")
def test_run_parallel_clean_suite_has_no_findings(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_par=RUN_PARALLEL.replace("def test_shared_state():\n        shared.register()",
                                                "def test_shared_state():\n        pass"))
    res = run(pt, "-p", "pytest_run_parallel.plugin", "--race", "--parallel-threads=4", "--iterations=3",
              "-p", "no:randomly")
    assert "failed" not in outcomes(res) and "error" not in outcomes(res), res.stdout.str()
    res.stdout.fnmatch_lines(["*= racedet: no races, leaks or deadlocks in 4 tests =*"])


# -- hypothesis, pytest-asyncio, anyio, pytest-timeout ----------------------


@needs("hypothesis")
def test_hypothesis_examples_run_under_the_detector(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_h="""
    import threading
    from hypothesis import given, settings, strategies as st

    class Acc:
        total = 0

    acc = Acc()

    @settings(max_examples=5, deadline=None, database=None)
    @given(st.integers())
    def test_racy(x):
        def add():
            acc.total += x              # H
        t = threading.Thread(target=add)
        t.start()
        add()
        t.join()

    @settings(max_examples=5, deadline=None, database=None)
    @given(st.integers())
    def test_clean(x):
        out = []
        t = threading.Thread(target=out.append, args=(x,))
        t.start()
        t.join()
        assert out == [x]
    """)
    res = run(pt, "-p", "hypothesis.extra.pytestplugin", "--race", "-p", "no:randomly")
    got = outcomes(res)
    assert got.get("failed") == 1 and got.get("passed") == 1, res.stdout.str()
    res.stdout.fnmatch_lines(["FAILED test_h.py::test_racy - DATA RACE on Acc.total (test_h.py:* vs *)"])


@needs("pytest_asyncio")
def test_asyncio_threads_and_executors(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_a="""
    import asyncio
    import pytest

    class State:
        value = 0

    @pytest.mark.asyncio
    async def test_to_thread_is_ordered():
        s = State()
        def work():
            s.value += 1
        await asyncio.to_thread(work)
        s.value += 1
        assert s.value == 2

    @pytest.mark.asyncio
    async def test_run_in_executor():
        s = State()
        loop = asyncio.get_running_loop()
        def work():
            s.value = 5
        await loop.run_in_executor(None, work)
        assert s.value == 5
    """)
    res = run(pt, "-p", "pytest_asyncio.plugin", "--race", "-p", "no:randomly",
              "-o", "asyncio_default_fixture_loop_scope=function")
    got = outcomes(res)
    assert got.get("passed") == 2 and "failed" not in got, res.stdout.str()


@needs("anyio")
def test_anyio_worker_threads(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_any="""
    import anyio
    import pytest

    class State:
        value = 0

    @pytest.mark.anyio
    async def test_run_sync():
        s = State()
        def work():
            s.value += 1
        await anyio.to_thread.run_sync(work)
        s.value += 1
        assert s.value == 2

    @pytest.fixture
    def anyio_backend():
        return "asyncio"
    """)
    res = run(pt, "-p", "anyio.pytest_plugin", "--race", "-p", "no:randomly")
    got = outcomes(res)
    assert got.get("passed") == 1 and "failed" not in got, res.stdout.str()


@needs("pytest_timeout")
@pytest.mark.parametrize("method", ["signal", "thread"])
def test_timeout_methods(pt: pytest.Pytester, method: str) -> None:
    pt.makepyfile(test_t=SHARED_RACE)
    res = run(pt, "-p", "pytest_timeout", "--race", "--timeout=60", f"--timeout-method={method}",
              "-p", "no:randomly")
    got = outcomes(res)
    assert got.get("failed") == 1 and got.get("passed") == 1, res.stdout.str()
    res.stdout.fnmatch_lines(["FAILED test_t.py::test_racy - DATA RACE on Box.n*"])


# -- test modules that touch threading's machinery --------------------------


def test_excepthook_faulthandler_switchinterval_and_mock(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_m="""
    import faulthandler
    import sys
    import threading
    from unittest import mock

    def test_excepthook_sees_thread_errors():
        seen = []
        old = threading.excepthook
        threading.excepthook = lambda args: seen.append(args.exc_type)
        try:
            t = threading.Thread(target=lambda: 1 / 0)
            t.start()
            t.join()
        finally:
            threading.excepthook = old
        assert seen == [ZeroDivisionError]

    def test_faulthandler_dumps(tmp_path):
        with open(tmp_path / "dump.txt", "w+") as f:
            faulthandler.dump_traceback(file=f, all_threads=True)
            f.seek(0)
            assert "test_faulthandler_dumps" in f.read()

    def test_switchinterval():
        old = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            out = []
            ts = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert sorted(out) == [0, 1, 2, 3]
        finally:
            sys.setswitchinterval(old)

    def test_mock_patch_of_threading():
        with mock.patch("threading.current_thread") as cur:
            cur.return_value.name = "patched"
            assert threading.current_thread().name == "patched"
        with mock.patch.object(threading, "active_count", return_value=42):
            assert threading.active_count() == 42
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()
    """)
    res = run(pt, "--race", "-p", "no:randomly")
    got = outcomes(res)
    assert got.get("passed") == 4 and "failed" not in got, res.stdout.str()
