"""``pytest --race`` end to end: pytester runs of small suites in subprocesses.

Every program is deterministic: the unordered pair of accesses is forced by a
raw ``_thread`` lock (racedet does not model it, so it orders the accesses in
time without ordering them for the detector); everything else waits on events
and joins, never on sleeps.  Runs disable plugin autoload and load only the
plugins they need, which keeps each run near a second.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

_CLEAN_ENV = ("PYTEST_RACE", "RACEDET_OPTIONS", "GITHUB_ACTIONS", "PYTEST_ADDOPTS", "PYTEST_PLUGINS",
              "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
              "PYTEST_TIMEOUT", "COV_CORE_SOURCE", "COV_CORE_CONFIG", "COV_CORE_DATAFILE")


@pytest.fixture
def pt(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose subprocesses see racedet and no stray configuration."""
    for var in _CLEAN_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("CI", "1")   # short test summary lines in full, whatever the terminal width
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return pytester


def run(pt: pytest.Pytester, *args: str, cache: bool = False) -> pytest.RunResult:
    base = ["-p", "pytest_racedet.plugin"] + ([] if cache else ["-p", "no:cacheprovider"])
    return pt.runpytest_subprocess(*base, *args, timeout=120)


def line_of(path: Path, marker: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if marker in line:
            return i
    raise AssertionError(f"{marker!r} not in {path}")


def frame(path: Path, marker: str, function: str) -> str:
    """The report's line for the frame at ``marker``."""
    return f'  File "{path}", line {line_of(path, marker)}, in {function}'


RACY = """
    import _thread
    import threading


    class Counter:
        def __init__(self):
            self.value = 0


    def test_racy():
        c = Counter()
        gate = threading._allocate_lock()
        gate.acquire()

        def first():
            c.value = 1  # first write
            gate.release()

        t = threading.Thread(target=first, name="first")
        t.start()  # started here
        gate.acquire()
        c.value = 2  # second write
        t.join()


    def test_locked():
        c = Counter()
        lock = threading.Lock()
        done = threading.Event()

        def first():
            with lock:
                c.value = 1
            done.set()

        t = threading.Thread(target=first)
        t.start()
        done.wait()
        with lock:
            c.value = 2
        t.join()
        assert c.value == 2
"""


# -- races -----------------------------------------------------------------


def test_racy_test_fails_with_both_lines_locked_test_passes(pt: pytest.Pytester) -> None:
    path = pt.makepyfile(test_counter=RACY)
    res = run(pt, "--race", "-rA")
    res.assert_outcomes(passed=1, failed=1)
    assert res.ret == 1
    res.stdout.fnmatch_lines([
        "*__ test_racy __*",
        "racedet: 1 race during this test",
        "WARNING: DATA RACE",
        "Write of Counter.value at 0x* by thread MainThread:",
        frame(path, "# second write", "test_racy"),
        "",
        "Previous write of Counter.value by thread first:",
        frame(path, "# first write", "first"),
        "",
        "Thread first (finished) created at:",
        frame(path, "# started here", "test_racy"),
        "==================",
    ])
    res.stdout.fnmatch_lines([
        "*= racedet: 1 distinct race (Counter.value, test_counter.py:* vs *) in 1 test =*",
        "PASSED test_counter.py::test_locked",
        "FAILED test_counter.py::test_racy - DATA RACE on Counter.value (*)",
    ])
    # pytest's machinery is cut off the stacks, as Go cuts at testing.tRunner.
    frames = [line for line in res.stdout.lines if line.startswith('  File "')]
    assert frames and not [line for line in frames if "pluggy" in line or "_pytest" in line]


def test_assert_introspection_unchanged(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_intro="""
        class Box:
            def __init__(self):
                self.items = [1, 2]

        def test_intro():
            b = Box()
            assert b.items == [1, 2, 3]
    """)
    plain = run(pt)
    raced = run(pt, "--race")
    for res in (plain, raced):
        res.assert_outcomes(failed=1)

    def explanation(res: pytest.RunResult) -> list:
        return [line for line in res.stdout.lines if line.startswith(("E ", ">"))]

    assert explanation(raced) == explanation(plain)
    assert any("Right contains one more item: 3" in line for line in explanation(raced))


def test_conftest_fixtures_and_project_modules_are_instrumented(pt: pytest.Pytester) -> None:
    pkg = pt.mkpydir("shop")
    (pkg / "cart.py").write_text(textwrap.dedent("""
        class Cart:
            def __init__(self):
                self.total = 0

            def add(self, n):
                self.total += n  # cart add
    """))
    conftest = pt.makeconftest("""
        import _thread, threading
        import pytest

        @pytest.fixture
        def bumped():
            box = {"n": 0}
            gate = threading._allocate_lock()
            gate.acquire()

            def bump():
                box["n"] = 1  # fixture thread write
                gate.release()

            t = threading.Thread(target=bump, name="bumper")
            t.start()
            gate.acquire()
            yield box
            box["n"] = 2  # fixture teardown write
            t.join()
    """)
    path = pt.makepyfile(test_shop="""
        import _thread, threading
        from shop.cart import Cart

        def test_cart():
            cart = Cart()
            gate = threading._allocate_lock()
            gate.acquire()

            def add():
                cart.add(1)
                gate.release()

            t = threading.Thread(target=add)
            t.start()
            gate.acquire()
            cart.add(2)
            t.join()

        def test_fixture(bumped):
            pass
    """)
    res = run(pt, "--race", "-rf")
    res.assert_outcomes(failed=2)
    cart = pkg / "cart.py"
    res.stdout.fnmatch_lines([
        "Read of Cart.total at 0x* by thread MainThread:",
        frame(cart, "# cart add", "add"),
        f'  File "{path}", line *, in test_cart',
    ])
    res.stdout.fnmatch_lines([
        "Write of dict item 'n' of <dict at 0x*> at 0x* by thread MainThread:",
        frame(conftest, "# fixture teardown write", "bumped"),
        "",
        "Previous write of dict item 'n' of <dict at 0x*> by thread bumper:",
        frame(conftest, "# fixture thread write", "bump"),
    ])
    res.stdout.fnmatch_lines(["FAILED test_shop.py::test_cart - DATA RACE on Cart.total (*)",
                              "FAILED test_shop.py::test_fixture - DATA RACE on dict item 'n' *"])


def test_race_outside_of_test_execution_fails_the_session(pt: pytest.Pytester) -> None:
    path = pt.makepyfile(test_late="""
        import _thread, threading
        import pytest

        class Shared:
            x = 0

        s = Shared()
        pending = []

        @pytest.mark.racedet(leaks=False)
        def test_starts_a_late_writer():
            gate = threading._allocate_lock()
            gate.acquire()

            def late():
                gate.acquire()
                s.x = 2  # late write

            t = threading.Thread(target=late, name="late", daemon=True)
            t.start()
            pending.append((t, gate))
            s.x = 1  # test write

        def test_other():
            pass

        @pytest.fixture(scope="session", autouse=True)
        def release_at_session_end():
            yield
            t, gate = pending[0]
            gate.release()
            t.join()
    """)
    res = run(pt, "--race")
    res.assert_outcomes(passed=2)
    assert res.ret == 1
    res.stdout.fnmatch_lines([
        "*= racedet: race detected outside of test execution =*",
        "Write of Shared.x at 0x* by thread late:",
        frame(path, "# late write", "late"),
        "",
        "Previous write of Shared.x by thread MainThread:",
        frame(path, "# test write", "test_starts_a_late_writer"),
        "*",
        "racedet: race detected outside of test execution",
        "  current write by thread late: outside of any test (by a thread started during "
        "test_late.py::test_starts_a_late_writer)",
        "  previous write by thread MainThread: during test_late.py::test_starts_a_late_writer",
        "*= racedet: 1 distinct race outside of test execution =*",
    ])


# -- leaks -----------------------------------------------------------------

LEAKS = """
    import threading
    import pytest
    import racedet


    def test_leaks_a_thread():
        stop = threading.Event()

        def worker():
            stop.wait()  # stuck here

        threading.Thread(target=worker, name="worker", daemon=True).start()  # made here


    def test_fixed():
        stop = threading.Event()

        def worker():
            stop.wait()

        t = threading.Thread(target=worker, name="worker", daemon=True)
        t.start()
        stop.set()
        t.join()


    def test_leaks_a_goroutine():
        ch = racedet.Chan()

        def receive():
            ch.recv()  # goroutine stuck here

        racedet.go(receive)


    def test_goroutine_fixed():
        ch = racedet.Chan()
        g = racedet.go(ch.recv)
        ch.send(1)
        g.join()


    @pytest.mark.racedet(leaks=False)
    def test_allowed_to_leak():
        threading.Thread(target=threading.Event().wait, daemon=True).start()


    @pytest.fixture(scope="session")
    def server():
        stop = threading.Event()
        t = threading.Thread(target=stop.wait, name="server")
        t.start()
        yield
        stop.set()
        t.join()


    def test_session_fixture_thread_is_not_a_leak(server):
        pass
"""


def test_leaking_test_fails_and_fixed_version_passes(pt: pytest.Pytester) -> None:
    path = pt.makepyfile(test_leaks=LEAKS)
    res = run(pt, "--race", "-rA", "--race-json", "out.json")
    res.assert_outcomes(passed=4, failed=2)
    res.stdout.fnmatch_lines([
        "*__ test_leaks_a_thread __*",
        "racedet: 1 leak during this test",
        "WARNING: LEAK",
        "Thread worker still blocked in Event.wait after the test:",
        frame(path, "# stuck here", "worker"),
        "",
        "Thread worker created at:",
        frame(path, "# made here", "test_leaks_a_thread"),
    ])
    res.stdout.fnmatch_lines([
        "Thread goroutine-* still blocked in Chan.recv after the test:",
        frame(path, "# goroutine stuck here", "receive"),
    ])
    res.stdout.fnmatch_lines([
        "*= racedet: 2 leaks in 2 tests =*",
        "PASSED test_leaks.py::test_fixed",
        "PASSED test_leaks.py::test_goroutine_fixed",
        "PASSED test_leaks.py::test_allowed_to_leak",
        "PASSED test_leaks.py::test_session_fixture_thread_is_not_a_leak",
        "FAILED test_leaks.py::test_leaks_a_thread - LEAK of thread worker (blocked in Event.wait)",
        "FAILED test_leaks.py::test_leaks_a_goroutine - LEAK of thread goroutine-* (blocked in Chan.recv)",
    ])
    report = json.loads((pt.path / "out.json").read_text())
    assert sorted(lk["test"] for lk in report["leaks"]) == [
        "test_leaks.py::test_leaks_a_goroutine", "test_leaks.py::test_leaks_a_thread"]


def test_leaked_non_daemon_thread_does_not_hang_the_exit(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_stuck="""
        import threading

        def test_stuck():
            threading.Thread(target=threading.Event().wait, name="stuck").start()
    """)
    res = run(pt, "--race")      # plain pytest would wait for "stuck" forever
    res.assert_outcomes(failed=1)
    res.stderr.fnmatch_lines(["racedet: ended 1 leaked thread(s) blocked for good at exit*"])
    assert "Traceback" not in res.stderr.str()


def test_leak_opt_outs_cli_and_ini(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_leaks=LEAKS)
    run(pt, "--race", "--race-no-leaks").assert_outcomes(passed=6)
    pt.makeini("[pytest]\nrace = true\nrace_leaks = false\n")
    res = run(pt)
    res.assert_outcomes(passed=6)
    res.stdout.fnmatch_lines(["racedet: race=on (race in tox.ini), leaks=off (race_leaks in tox.ini)*"])


# -- deadlocks -------------------------------------------------------------

DEADLOCK = """
    import threading

    def test_deadlock():
        a, b = threading.Lock(), threading.Lock()
        holding_b = threading.Event()

        def other():
            with b:
                holding_b.set()
                a.acquire()  # other blocks

        a.acquire()
        t = threading.Thread(target=other, name="other")   # not a daemon: exit must not hang
        t.start()
        holding_b.wait()
        b.acquire()  # main blocks

    def test_next():
        pass
"""


def test_deadlocking_test_fails_fast_and_the_suite_goes_on(pt: pytest.Pytester) -> None:
    # A thread left waiting by an earlier test, while later tests release locks, must not
    # keep the deadlock from being seen.
    pt.makepyfile(test_a_leak="""
        import threading
        import pytest

        @pytest.mark.racedet(leaks=False)
        def test_leaves_a_waiter():
            threading.Thread(target=threading.Event().wait, daemon=True).start()
            lock = threading.Lock()
            with lock:
                pass
    """)
    path = pt.makepyfile(test_dl=DEADLOCK)
    start = time.monotonic()
    res = run(pt, "--race", "-rA", "-p", "pytest_timeout", "--timeout=60")
    assert time.monotonic() - start < 30   # not the timeout: the deadlock report
    res.assert_outcomes(passed=2, failed=1)
    res.stdout.fnmatch_lines([
        "racedet: 1 deadlock during this test",
        "fatal error: all goroutines are asleep - deadlock!",
        "Thread MainThread [Lock.acquire]:",
        frame(path, "# main blocks", "test_deadlock"),
        "",
        "Thread other [Lock.acquire]:",
        frame(path, "# other blocks", "other"),
    ])
    res.stdout.fnmatch_lines(["PASSED test_dl.py::test_next",
                              "FAILED test_dl.py::test_deadlock - DEADLOCK (all threads are asleep)"])
    assert "Timeout" not in res.stdout.str()


# -- outputs and exit status -----------------------------------------------


def test_json_sarif_and_junitxml(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_counter=RACY)
    res = run(pt, "--race", "--race-json", "race.json", "--race-sarif", "race.sarif",
              "--junitxml", "junit.xml", "--tb=short")
    res.assert_outcomes(passed=1, failed=1)
    res.stdout.fnmatch_lines(["WARNING: DATA RACE", "Previous write of Counter.value by thread first:"])
    report = json.loads((pt.path / "race.json").read_text())
    assert report["version"] == 1 and report["deadlock"] is None
    (race,) = report["races"]
    assert race["location"] == "Counter.value"
    assert race["test"] == "test_counter.py::test_racy"
    assert race["current"]["test"] == race["previous"]["test"] == "test_counter.py::test_racy"
    assert {race["current"]["stack"][0]["function"], race["previous"]["stack"][0]["function"]} == {"first", "test_racy"}
    sarif = json.loads((pt.path / "race.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    assert len(sarif["runs"][0]["results"]) == 1
    cases = {c.get("name"): c for c in ET.parse(pt.path / "junit.xml").getroot().iter("testcase")}
    failure = cases["test_racy"].find("failure")
    assert failure is not None and failure.get("message").startswith("DATA RACE on Counter.value (test_counter.py:")
    assert "WARNING: DATA RACE" in (failure.text or "") and "Previous write of Counter.value" in failure.text
    assert cases["test_locked"].find("failure") is None


def test_exit_status_and_summary_when_clean(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_ok="def test_ok():\n    pass\n")
    res = run(pt, "--race")
    assert res.ret == 0
    res.stdout.fnmatch_lines(["*= racedet: no races, leaks or deadlocks in 1 test =*"])


def test_exitfirst_stops_at_the_first_racy_test(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_a=RACY, test_b="def test_b():\n    pass\n")
    res = run(pt, "--race", "-x")
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_last_failed_reruns_the_racy_test(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_counter=RACY)
    run(pt, "--race", cache=True).assert_outcomes(passed=1, failed=1)
    res = run(pt, "--race", "--lf", cache=True)
    res.assert_outcomes(failed=1, passed=0)
    res.stdout.fnmatch_lines(["run-last-failure: rerun previous 1 failure*"])


def test_markers(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_marks="""
        import _thread, threading
        import pytest

        @pytest.mark.racedet(races=False)
        def test_races_off():
            box = [0]
            gate = threading._allocate_lock()
            gate.acquire()

            def w():
                box[0] = 1
                gate.release()

            t = threading.Thread(target=w)
            t.start()
            gate.acquire()
            box[0] = 2
            t.join()

        @pytest.mark.racedet(leak=False)
        def test_misspelt():
            pass
    """)
    res = run(pt, "--race", "--strict-markers", "-rA")
    res.assert_outcomes(passed=1, errors=1)
    res.stdout.fnmatch_lines(["*@pytest.mark.racedet got an unknown argument 'leak'*"])
    run(pt, "--strict-markers").assert_outcomes(passed=2)   # registered even without --race
    run(pt, "--markers").stdout.fnmatch_lines(["@pytest.mark.racedet(races=True, leaks=True): *"])


# -- settings --------------------------------------------------------------


def test_precedence_cli_env_ini(pt: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pt.makepyfile(test_counter=RACY)
    pt.makeini("[pytest]\nrace = true\n")
    res = run(pt)
    res.stdout.fnmatch_lines(["racedet: race=on (race in tox.ini), leaks=on (default), core=*"])
    res.assert_outcomes(passed=1, failed=1)
    monkeypatch.setenv("PYTEST_RACE", "0")     # env beats ini
    res = run(pt)
    res.assert_outcomes(passed=2)
    assert "racedet" not in res.stdout.str()
    res = run(pt, "--race")                    # command line beats env
    res.stdout.fnmatch_lines(["racedet: race=on (command line)*"])
    monkeypatch.setenv("PYTEST_RACE", "sometimes")
    res = run(pt)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*Invalid race value 'sometimes' from PYTEST_RACE environment variable*"])


def test_bad_ini_value_names_the_file(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_ok="def test_ok():\n    pass\n")
    pt.makeini("[pytest]\nrace = often\n")
    res = run(pt)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*Invalid race value 'often' from race in tox.ini*"])


def test_racedet_configuration_applies(pt: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pt.makepyfile(test_counter=RACY, test_z="def test_z():\n    pass\n")
    pt.makefile(".txt", sup="race:test_racy\n")
    pt.makepyprojecttoml('[tool.racedet]\nsuppressions = "sup.txt"\n')
    res = run(pt, "--race")
    res.assert_outcomes(passed=3)
    res.stdout.fnmatch_lines(["*= racedet: no races, leaks or deadlocks in 3 tests (1 suppressed) =*"])
    (pt.path / "pyproject.toml").unlink()
    monkeypatch.setenv("RACEDET_OPTIONS", "halt_on_error=1")   # stop after the test, not os._exit
    res = run(pt, "--race")
    res.assert_outcomes(failed=1)     # test_locked and test_z never ran
    assert res.ret == 1
    res.stdout.fnmatch_lines(["*racedet: halt_on_error after test_counter.py::test_racy*"])


def test_without_race_nothing_is_loaded_or_patched(pt: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    pt.makepyfile(test_plain="""
        import sys, threading

        class C:
            x = 0

        def test_plain():
            c = C()
            c.x = 1
            assert not [m for m in sys.modules if m == "racedet" or m.startswith("racedet.")]
            assert threading.Thread.start.__module__ == "threading"
            assert not [n for n in test_plain.__code__.co_names if "racedet" in n]
            assert type(sys.meta_path[0]).__name__ == "AssertionRewritingHook"
            assert not [f for f in sys.meta_path if "Racedet" in type(f).__name__]
    """)
    run(pt, "--race", "--race-no-leaks").assert_outcomes(failed=1)   # instrumented, pyc cached
    tags = sorted(p.name for p in (pt.path / "__pycache__").glob("test_plain*.pyc"))
    assert len(tags) == 1 and "-racedet-" in tags[0]
    run(pt).assert_outcomes(passed=1)                                 # a later plain run: plain code
    assert len(list((pt.path / "__pycache__").glob("test_plain*.pyc"))) == 2


def test_entry_point_and_report_header(pt: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import entry_points

    if not any(ep.value == "pytest_racedet.plugin" for ep in entry_points(group="pytest11")):
        pytest.skip("racedet is not installed (pip install -e .): no pytest11 entry point")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("PYTEST_RACE", "1")
    pt.makepyfile(test_ok="def test_ok():\n    pass\n")
    res = pt.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:xdist",
                                  "-p", "no:benchmark", timeout=120)
    res.assert_outcomes(passed=1)
    res.stdout.fnmatch_lines(["racedet: race=on (PYTEST_RACE environment variable), leaks=on (default), core=*"])


# -- other plugins ---------------------------------------------------------


def test_xdist_finds_the_same_races(pt: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pt.makepyfile(test_counter=RACY, test_leaks=LEAKS, test_dl=DEADLOCK)
    res = run(pt, "--race", "-p", "xdist", "-n", "2", "-rf", "--race-json", "out.json")
    res.assert_outcomes(passed=6, failed=4)
    assert res.ret == 1
    res.stdout.fnmatch_lines(["*= racedet: 1 distinct race, 2 leaks, 1 deadlock in 4 tests =*"])
    res.stdout.fnmatch_lines(["Previous write of Counter.value by thread first:"])   # report came along
    res.stdout.fnmatch_lines(["FAILED test_counter.py::test_racy - DATA RACE on Counter.value (*)"])
    report = json.loads((pt.path / "out.json").read_text())
    assert [r["test"] for r in report["races"]] == ["test_counter.py::test_racy"]
    assert len(report["leaks"]) == 2 and report["tests_run"] == 10
    assert report["deadlock"]["test"] == "test_dl.py::test_deadlock"


def test_coverage_is_unchanged_and_races_found(pt: pytest.Pytester) -> None:
    pytest.importorskip("pytest_cov")
    pkg = pt.mkpydir("pkg")
    (pkg / "cache.py").write_text(textwrap.dedent("""
        import threading


        class LRUCache:
            def __init__(self):
                self.size = 0
                self.lock = threading.Lock()
                self.items = {}

            def put(self, key, value):
                with self.lock:
                    self.items[key] = value
                self.size += 1

            def never_called(self):
                if self.size:
                    return self.size
                return 0
    """))
    pt.makepyfile(test_cache="""
        import _thread, threading
        from pkg.cache import LRUCache

        def test_concurrent_fill():
            c = LRUCache()
            gate = threading._allocate_lock()
            gate.acquire()

            def fill():
                c.put("a", 1)
                gate.release()

            t = threading.Thread(target=fill)
            t.start()
            gate.acquire()
            c.put("b", 2)
            t.join()
    """)
    cov = ["-p", "pytest_cov", "--cov=pkg", "--cov-report=term-missing"]

    def table(res: pytest.RunResult) -> list:
        return [line for line in res.stdout.lines if line.startswith(("pkg", "TOTAL"))]

    plain = run(pt, *cov)
    raced = run(pt, "--race", *cov)
    plain.assert_outcomes(passed=1)
    raced.assert_outcomes(failed=1)
    raced.stdout.fnmatch_lines(["FAILED test_cache.py::test_concurrent_fill - DATA RACE on LRUCache.size (*)"])
    assert table(plain) and table(raced) == table(plain)
    assert any("17-19" in line for line in table(plain))


# -- pieces ----------------------------------------------------------------


class _Config:
    """Just enough of a pytest Config for get_env_settings."""

    def __init__(self, ini: dict, namespace: Any) -> None:
        self._ini = ini
        self.option = namespace
        self.inipath = Path("/proj/pytest.ini")

    @property
    def inicfg(self) -> dict:
        return self._ini

    def getini(self, name: str) -> Any:
        return self._ini[name]


@pytest.mark.parametrize("cli, env, ini, expected", [
    (None, None, None, (False, "default")),
    (None, None, "true", (True, "race in pytest.ini")),
    (None, "0", "true", (False, "PYTEST_RACE environment variable")),
    (None, "", "true", (True, "race in pytest.ini")),
    (True, "0", "false", (True, "command line")),
    (False, "1", "true", (False, "command line")),
])
def test_get_env_settings_precedence(monkeypatch: pytest.MonkeyPatch, cli: Any, env: Any, ini: Any,
                                     expected: tuple) -> None:
    from types import SimpleNamespace

    from pytest_racedet.plugin import get_env_settings

    monkeypatch.delenv("PYTEST_RACE", raising=False)
    if env is not None:
        monkeypatch.setenv("PYTEST_RACE", env)
    config = _Config({} if ini is None else {"race": ini}, SimpleNamespace(race=cli))
    options = get_env_settings(config)  # type: ignore[arg-type]
    assert (options.race, options.race_source) == expected


def test_summary_line_and_wire_round_trip() -> None:
    from racedet.model import Access, BlockedThread, Deadlock, Frame, Race

    from pytest_racedet import wire
    from pytest_racedet.render import Record, summary_line

    fr = Frame("/a.py", 3, "f", "f")
    race = Race("C.x", 1, Access("write", "t1", (fr,), test="t::a"),
                Access("read", "t2", (Frame("/a.py", 4, "g"),), "finished", (fr,), False, "t::a"))
    leak = BlockedThread("t3", "Chan.recv", (fr,), (fr,), "t::b")
    dl = Deadlock((leak,))
    records = [Record("race", race, "t::a"), Record("race", race, "t::c"), Record("leak", leak, "t::b"),
               Record("deadlock", dl, None)]
    assert summary_line(records, 5) == ("racedet: 1 distinct race (2 reports), 1 leak in 3 tests, "
                                        "1 deadlock outside of test execution")
    assert summary_line([], 1) == "racedet: no races, leaks or deadlocks in 1 test"
    for rec in records:
        data = json.loads(json.dumps(wire.dump_all([rec])))[0]
        assert wire.load(data["kind"], data["data"]) == rec.finding
