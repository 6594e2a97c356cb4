"""``pytest --race``: one detector session for the test run, findings attributed test by test.

Only imported when the detector is on.  :class:`RaceSession` is registered as
a pytest plugin; it

* instruments conftest.py and test modules inside pytest's own assertion
  rewriter (so assert introspection is unchanged), in a pyc cache of their
  own, and every other user module through racedet's import hook;
* runs each test with ``engine.current_test`` set, and fails the test once,
  on its call report, for the races, leaked threads and deadlock found while
  it ran (the report text is the failure text, so terminal, ``--junitxml``
  and xdist all carry it);
* reports what happened outside any test in the terminal summary, writes
  the JSON/SARIF outputs and makes the exit status non-zero;
* under xdist, ships each worker's findings to the controller through
  ``workeroutput`` (see :mod:`pytest_racedet.xdist`).
"""

from __future__ import annotations

import _thread
import ast
import dataclasses
import functools
import hashlib
import importlib.util
import json
import os
import sys
import threading
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import pytest
from _pytest._code.code import ExceptionRepr
from _pytest.runner import runtestprotocol

from pytest_racedet import census
from pytest_racedet.census import LEAK_GRACE
from pytest_racedet.options import RaceOptions, load_settings, marker_settings
from pytest_racedet.render import (_FRAMEWORK_DIRS, PLUGIN_DIR, Record, Reporter, _outside_note, _where,
                                   grouped_lines, longrepr, short_message, summary_line, trim_finding)
from racedet import blocking, engine, files, lockorder
from racedet.blocking import DeadlockAbort
from racedet.exceptions import ConfigError
from racedet.model import BlockedThread, Deadlock, Findings, Frame
from racedet.report import jsondoc
from racedet.report.text import Formatter



class _TestState:
    """What one running test has: its settings, the threads before it, what was found."""

    def __init__(self, item: pytest.Item) -> None:
        self.nodeid = item.nodeid
        self.races, self.leaks, self.marker_error = marker_settings(item)
        self.records: List[Record] = []
        self.before: Set[tuple] = set()   # keys of the threads alive when it started
        self.deadlock = False
        self.aborted: Set[str] = set()     # phases that ended in DeadlockAbort
        self.reports: List[pytest.TestReport] = []   # this run's reports so far
        self.target_base: Optional[tuple] = None     # the failed report's own outcome and text
        self.took_over = False             # racedet's text is the failure (the test itself passed)
        self.finished = False              # the engine was re-enabled after a races=False test



# --------------------------------------------------------------------------
# The plugin


class RaceSession:
    """The racedet plugin object of one pytest process (a worker, the controller, or the only one)."""

    def __init__(self, config: pytest.Config, options: RaceOptions, controller: bool = False) -> None:
        self.config = config
        self.options = options
        self.controller = controller
        self.settings = load_settings(config, options)
        self.reporter = Reporter(Formatter(self.settings.strip_path_prefix, source=self.settings.source))
        self.records: List[Record] = []          # this process's findings, or every worker's
        self.tests_run = 0
        self.suppressed = 0
        self.known = 0
        self.output_error: Optional[str] = None
        self.current: Optional[_TestState] = None
        self.session: Any = None                 # racedet.session.Session, not on the controller
        self.selector: Any = None
        self.project: Any = None                 # pytest_racedet.project.Project, not on the controller
        self._mp = pytest.MonkeyPatch()          # undone at unconfigure
        self._mp_threads = pytest.MonkeyPatch()  # undone once no thread of the run is left
        self._started = False
        self._main_ts: Any = None
        # Threads are known by key (see _thread_keys), since idents are reused.
        self._session_keys: Set[tuple] = set()   # threads alive when the detector started
        self._fixture_keys: Set[tuple] = set()   # threads started by wider-scoped fixtures
        self._done_keys: Set[tuple] = set()      # leaks already reported, or exempted by a marker
        self._ignored_keys: Set[tuple] = set()   # infrastructure threads
        self._added_idents: Set[int] = set()     # what we put in blocking.internal_idents
        self._leak_sink: Optional[List[BlockedThread]] = None
        self._outside_deadlock = False
        self._saved_tests: Dict[int, Optional[str]] = {}
        self._first_seen: Dict[tuple, str] = {}   # race key -> the test whose failure shows it in full

    def __repr__(self) -> str:
        role = "controller" if self.controller else "runner"
        return f"<RaceSession {role} at {id(self):#x}: {self.tests_run} tests, {len(self.records)} findings>"

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        if self.controller:
            from pytest_racedet.xdist import ControllerHooks

            self.config.pluginmanager.register(ControllerHooks(self), "racedet-xdist-controller")
            return
        from racedet.exceptions import RacedetError
        from racedet.instrument import importer
        from racedet.session import Session

        try:
            # halt_on_error would os._exit mid-run; here it stops the session after the test instead.
            s = Session(dataclasses.replace(self.settings, halt_on_error=False), stream=sys.__stderr__)
        except RacedetError as exc:
            raise pytest.UsageError(f"racedet: {exc}") from None
        s.echo = False
        s.listeners.append(self._on_finding)
        s.on_deadlock_exit = self._on_deadlock
        self.session = s
        from pytest_racedet.project import find_project

        rootdir = str(self.config.rootpath)
        self.project = find_project(rootdir)
        self.selector = importer.Selector(list(self.settings.include) + self.project.include_globs(rootdir),
                                          list(self.settings.exclude) + [os.path.join(PLUGIN_DIR, "*")])
        s.start(instrument=False)
        self.config.pluginmanager.register(_MarkerCheck(self), "racedet-marker-check")
        engine.reset_reports()
        self._install_import_hooks()
        self._main_ts = engine.current()
        blocking.set_interruptible(self._main_ts, True)
        self._mp_threads.setattr(blocking, "interruptible", census.interruptible)
        alive = census.thread_keys()
        self._session_keys = set(alive.values())
        # Threads of pytest and its plugins (xdist's I/O thread) cannot wake a test: they must not
        # keep the watchdog from seeing that a test's threads are all blocked for good.
        self._ignored_keys = {k for i, k in alive.items() if i != _thread.get_ident()}
        self._sync_ignored(alive)
        self._started = True

    def _install_import_hooks(self) -> None:
        """Instrument test modules and conftest.py inside pytest's assertion rewriter, the rest after it."""
        from _pytest.assertion import rewrite as ar

        from racedet.instrument import importer

        orig = ar.rewrite_asserts
        selector = self.selector

        def rewrite_asserts(mod: ast.Module, source: bytes, module_path: Optional[str] = None,
                            config: Optional[pytest.Config] = None) -> None:
            orig(mod, source, module_path, config)
            if module_path is not None and selector.wants(str(module_path)):
                _instrument(mod, source, str(module_path), lambda tree: orig(tree, source, module_path, config))

        self._mp.setattr(ar, "rewrite_asserts", rewrite_asserts)
        # pytest caches the compiled code and execs it: it is linked to the hooks in between
        # (racedet.instrument.link), and cached unlinked (a linked code object holds functions).
        orig_read, orig_rewrite, orig_write = ar._read_pyc, ar._rewrite_test, ar._write_pyc
        unlinked: dict = {}

        def read_pyc(*args: Any, **kwargs: Any) -> Any:
            co = orig_read(*args, **kwargs)
            return None if co is None else importer.linked(co)

        def rewrite_test(*args: Any, **kwargs: Any) -> Any:
            stamp, co = orig_rewrite(*args, **kwargs)
            done = importer.linked(co)
            unlinked.clear()        # exec_module writes (or not) right after rewriting
            unlinked[id(done)] = (done, co)
            return stamp, done

        def write_pyc(state: Any, co: Any, *args: Any, **kwargs: Any) -> Any:
            return orig_write(state, unlinked.pop(id(co), (co, co))[1], *args, **kwargs)

        self._mp.setattr(ar, "_read_pyc", read_pyc)
        self._mp.setattr(ar, "_rewrite_test", rewrite_test)
        self._mp.setattr(ar, "_write_pyc", write_pyc)
        # A pyc tag of our own: a later plain pytest run never loads instrumented bytecode,
        # and a change of racedet's rewriter or of the selection is never served stale code.
        h = hashlib.sha256(importer.KEY.encode())
        with open(os.path.join(PLUGIN_DIR, "session.py"), "rb") as f:
            h.update(f.read())
        h.update(repr((selector.include, selector.exclude)).encode())
        tail = f".{sys.implementation.cache_tag}-pytest-{pytest.__version__}-racedet-{h.hexdigest()[:12]}{ar.PYC_EXT}"
        self._mp.setattr(ar, "PYC_TAIL", tail)
        index = 0
        for i, finder in enumerate(sys.meta_path):
            if isinstance(finder, ar.AssertionRewritingHook):
                index = i + 1
                break
        importer.install(selector, index)

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        if self._started:   # after pytest's own threadexception plugin has set its hook
            self._mp.setattr(threading, "excepthook", census.excepthook(threading.excepthook))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.stop()

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        from racedet import models

        self.session.stop()
        self._mp.undo()
        blocking.set_interruptible(self._main_ts, False)
        blocking.internal_idents.difference_update(self._added_idents)
        engine.current_test = None
        alive = census.thread_keys()
        leftover = [t for t in threading.enumerate()
                    if alive.get(t.ident or 0) not in self._session_keys and not t.daemon and t.is_alive()]
        if leftover:
            # Leaked non-daemon threads keep the interpreter from exiting; if they end up all
            # blocked for good at exit, unblock them rather than hang (they were reported).
            # Tracking stays on (accesses are not recorded) so Python's exit wait counts as blocked.
            engine.TRACKING = True
            blocking.on_deadlock = functools.partial(census.exit_deadlock, self._main_ts)
        else:
            self._mp_threads.undo()
            models.uninstall()

    # -- attribution -----------------------------------------------------

    def _on_finding(self, kind: str, finding: Any) -> None:
        """Session listener; runs in the thread of the access (races) or of the census (leaks)."""
        if kind == "leak":
            if self._leak_sink is not None:
                self._leak_sink.append(finding)
            return
        test = engine.current_test
        st = self.current
        owner = engine.current().test
        finding = trim_finding(kind, finding)
        if st is not None and test == st.nodeid:
            if not st.races:
                return
            if owner is None or owner == test:
                st.records.append(Record(kind, finding, test))
                return
        self.records.append(Record(kind, finding, None, _outside_note(kind, finding, owner)))

    def _on_deadlock(self, dl: Deadlock) -> None:
        """Called by the watchdog thread: fail the running test, unblock its threads."""
        st = self.current
        test = st.nodeid if st is not None and engine.current_test == st.nodeid else None
        # The test's own threads and the main thread; other tests' leaked threads have their reports.
        dl = trim_finding("deadlock", dataclasses.replace(
            dl, threads=tuple(t for t in dl.threads if t.test is None or t.test == test)))
        if st is not None and test is not None:
            if not st.deadlock:
                st.deadlock = True
                st.records.append(Record("deadlock", dl, test))
        elif not self._outside_deadlock:
            self._outside_deadlock = True
            self.records.append(Record("deadlock", dl, None, "racedet: deadlock outside of test execution"))
        census.break_deadlock(self._main_ts, DeadlockAbort("racedet: all threads of the test are blocked (deadlock)"),
                        test)

    def _sync_ignored(self, alive: Dict[int, tuple]) -> None:
        """Put the live ignored threads, and only them, in ``blocking.internal_idents``."""
        want = {i for i, k in alive.items() if k in self._ignored_keys} - (blocking.internal_idents - self._added_idents)
        blocking.internal_idents.difference_update(self._added_idents - want)
        blocking.internal_idents.update(want)
        self._added_idents = want

    def _is_user_thread(self, frames_: Sequence[Frame]) -> bool:
        """Was this stack (a thread's creation) in user code before it reached pytest's machinery?"""
        for fr in frames_:
            if fr.file.startswith(_FRAMEWORK_DIRS):
                return False
            if self.selector.wants(fr.file):
                return True
        return False

    def _user_leak(self, lk: BlockedThread) -> bool:
        return self._is_user_thread(lk.created_at) if lk.created_at else self._is_user_thread(lk.stack)

    def _ignore_infrastructure(self) -> None:
        """Threads started by plugins (pytest-timeout's timer) are neither leaks nor deadlock parties."""
        from racedet import frames

        alive = census.thread_keys()
        for t in threading.enumerate():
            ts = engine.thread_states.get(t)
            if ts is None:
                continue
            key = ("t", ts.tid)
            if key in self._ignored_keys or alive.get(ts.ident or 0) != key or ts is self._main_ts:
                continue
            if ts.created_at and not self._is_user_thread(frames.to_frames(ts.created_at)):
                self._ignored_keys.add(key)
        self._sync_ignored(alive)

    # -- running a test --------------------------------------------------
    #
    # The per-test work hangs on hooks that fire inside ``runtestprotocol``
    # (setup, makereport), not on the protocol itself, so it is the same
    # whoever runs the protocol: racedet, or pytest-rerunfailures for a test
    # it may rerun.  Both run it with ``log=False``, so the call report is not
    # shown before the leak check after teardown has had its say.

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Optional[pytest.Item]) -> Optional[bool]:
        """pytest's protocol, with the reports held back until the leak check after teardown.

        A leak is only known once the test's fixtures are torn down; holding the
        reports lets it fail the test itself (its call report) rather than add a
        teardown error, and lets ``-x`` stop at it.
        """
        if not self._started or _rerun_plugin_runs(item):
            return None
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        reports = runtestprotocol(item, log=False, nextitem=nextitem)
        for rep in reports:
            ihook.pytest_runtest_logreport(report=rep)
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Any:
        """Each run of a test (a rerun too) starts with a clean slate, before its fixtures."""
        if self._started:
            self._begin(item)
        yield

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """Fail the call report with what was found; after teardown, check leaks and attach them too.

        ``trylast``: the innermost wrapper, so other plugins' wrappers
        (pytest-rerunfailures deciding on a rerun) see the report racedet failed.
        """
        outcome = yield
        st = self.current
        if st is None or st.nodeid != item.nodeid:
            return
        rep = outcome.get_result()
        if call.excinfo is not None and call.excinfo.errisinstance(DeadlockAbort):
            st.aborted.add(call.when)
        st.reports.append(rep)
        if call.when == "call":
            self._attach(item, st)
        elif call.when == "teardown":
            self._end(item, st)

    def marker_check(self, item: pytest.Item) -> None:
        """A misused ``racedet`` marker fails the test's setup (a plain hook: see :class:`_MarkerCheck`)."""
        st = self.current
        if st is not None and st.nodeid == item.nodeid and st.marker_error:
            pytest.fail(st.marker_error, pytrace=False)

    def _begin(self, item: pytest.Item) -> None:
        if self.current is not None:        # the last test never got to its teardown report
            self._finish_state(self.current)
        st = _TestState(item)
        self.tests_run += 1
        ts = engine.current()
        if ts is not self._main_ts:    # tests run in another thread than the one that started us
            blocking.set_interruptible(self._main_ts, False)
            blocking.set_interruptible(ts, True)
            self._main_ts = ts
        self._ignore_infrastructure()
        self._outside_deadlock = False
        st.before = set(census.thread_keys().values())
        engine.reset_reports()   # a test's verdict does not depend on which tests ran before it
        self.current = st
        engine.current_test = st.nodeid
        if not st.races:
            engine.disable()

    def _finish_state(self, st: _TestState) -> None:
        if not st.races and not st.finished:
            engine.enable()
        st.finished = True
        engine.current_test = None
        self.current = None
        self._main_ts.abort = None   # a second interrupt of the same deadlock must not leak out

    def _end(self, item: pytest.Item, st: _TestState) -> None:
        lockorder.settle(final=True)   # the test is over: its pending lock-order cycles are reported
        try:
            if not st.races:
                engine.enable()
                st.finished = True
            self._check_leaks(st)
        finally:
            self._finish_state(st)
        self._attach(item, st)
        self.records.extend(st.records)
        for r in st.records:
            if r.kind == "race":
                self._first_seen.setdefault(r.finding.key, st.nodeid)
        if st.records and self.settings.halt_on_error:
            item.session.shouldfail = f"racedet: halt_on_error after {st.nodeid}"

    def _check_leaks(self, st: _TestState) -> None:
        old = st.before | self._fixture_keys | self._done_keys
        alive = census.thread_keys()
        exclude = {i for i, k in alive.items() if k in old}
        new = {k for i, k in alive.items() if i not in exclude and i not in blocking.internal_idents}
        if not st.leaks or not self.settings.leaks or st.deadlock:
            self._done_keys |= new   # exempt: never reported later either
            return
        if not new:
            return
        found = [trim_finding("leak", lk) for lk in self.session.census(exclude=exclude, grace=LEAK_GRACE)
                 if self._user_leak(lk)]
        self._done_keys |= new
        if not found:
            return
        self._leak_sink = []
        try:
            self.session.add_leaks(found)
            accepted = self._leak_sink
        finally:
            self._leak_sink = None
        st.records.extend(Record("leak", lk, st.nodeid) for lk in accepted)

    def _attach(self, item: pytest.Item, st: _TestState) -> None:
        """Fail the test once, on its call report (setup report if it never ran), with the report.

        Called after the call phase and again after teardown: the text is
        rendered anew from every record so far, so findings of teardown and
        leaks join those of the call in one failure.
        """
        if not st.records:
            return
        reports = st.reports
        target = next((r for r in reports if r.when == "call"), reports[0])
        text = self.reporter.test_text(st.records, self._first_seen)
        first = st.records[0]
        message = short_message(first)
        if len(st.records) > 1:
            message += f" (+{len(st.records) - 1} more)"
        for rep in reports:
            if rep is not target and rep.when in st.aborted:
                rep.longrepr = longrepr("racedet: deadlock, see the test's report", message, None, item)
        if st.target_base is None:
            st.target_base = (target.outcome, target.longrepr)
        outcome, base = st.target_base
        if target.when in st.aborted or outcome != "failed" or st.took_over:
            st.took_over = True
            target.outcome = "failed"
            target.longrepr = longrepr(text, message, _where(first), item)
            if hasattr(target, "wasxfail"):
                del target.wasxfail
        elif isinstance(base, ExceptionRepr):
            sections = [sec for sec in base.sections if sec[0] != "racedet"]
            base.sections[:] = sections
            base.addsection("racedet", text)
        else:
            target.longrepr = f"{base}\n\n{text}"

    # -- wider-scoped fixtures run outside of any test -------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Any:
        if not self._started or fixturedef.scope == "function":
            yield
            return
        saved = engine.current_test
        before = set(census.thread_keys().values())
        engine.current_test = None
        yield
        engine.current_test = saved
        self._fixture_keys |= set(census.thread_keys().values()) - before
        # Added after the fixture's own finalizer, so it runs first at teardown.
        fixturedef.addfinalizer(functools.partial(self._fixture_teardown, fixturedef))

    def _fixture_teardown(self, fixturedef: Any) -> None:
        self._saved_tests[id(fixturedef)] = engine.current_test
        engine.current_test = None

    def pytest_fixture_post_finalizer(self, fixturedef: Any, request: Any) -> None:
        key = id(fixturedef)
        if key in self._saved_tests:
            engine.current_test = self._saved_tests.pop(key)

    # -- end of the run --------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """After the last fixtures are torn down: leaks of the whole run, outputs, exit status."""
        if self._started:
            self._final_census()
            self.suppressed += self.session.findings.suppressed
            self.known += self.session.known
        if hasattr(self.config, "workeroutput"):
            from pytest_racedet import wire

            self.config.workeroutput["racedet"] = {
                "records": wire.dump_all(self.records),
                "tests": self.tests_run, "suppressed": self.suppressed, "known": self.known,
            }
            return
        self._write_outputs()
        if self.output_error is not None and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        elif self.records and not self.settings.update_baseline and session.exitstatus == 0:
            session.exitstatus = self.exitcode()

    def _final_census(self) -> None:
        if not self.settings.leaks:
            return
        old = self._session_keys | self._done_keys
        alive = census.thread_keys()
        exclude = {i for i, k in alive.items() if k in old}
        if not set(alive) - exclude - blocking.internal_idents:
            return
        found = [trim_finding("leak", lk) for lk in self.session.census(exclude=exclude, grace=LEAK_GRACE)
                 if self._user_leak(lk)]
        self._leak_sink = []
        try:
            self.session.add_leaks(found)
            accepted = self._leak_sink
        finally:
            self._leak_sink = None
        for lk in accepted:
            note = f"racedet: thread started during {lk.test} and still alive at the end of the run" \
                if lk.test else "racedet: thread still alive at the end of the run"
            self.records.append(Record("leak", lk, None, note))

    def exitcode(self) -> int:
        """pytest's "tests failed" unless racedet's exitcode was set explicitly."""
        from racedet import config as rconfig

        if self.settings.sources.get("exitcode", rconfig.DEFAULT) != rconfig.DEFAULT:
            return int(self.settings.exitcode)
        return int(pytest.ExitCode.TESTS_FAILED)

    def merge(self, data: Dict[str, Any]) -> None:
        """Add one worker's ``workeroutput["racedet"]`` (controller side)."""
        from pytest_racedet import wire

        for rec in data.get("records") or []:
            self.records.append(Record(rec["kind"], wire.load(rec["kind"], rec["data"]), rec["test"],
                                       rec.get("note", "")))
        self.tests_run += int(data.get("tests", 0))
        self.suppressed += int(data.get("suppressed", 0))
        self.known += int(data.get("known", 0))

    # -- outputs ---------------------------------------------------------

    def findings(self) -> Findings:
        """All records as one Findings (races once per pair of lines), for SARIF and baselines."""
        f = Findings(suppressed=self.suppressed)
        keys: Set[tuple] = set()
        for r in self.records:
            if r.kind == "race":
                if r.finding.key not in keys:
                    keys.add(r.finding.key)
                    f.races.append(r.finding)
                if r.test is not None:
                    tests = f.race_tests.setdefault(r.finding.key, [])
                    if r.test not in tests:
                        tests.append(r.test)
            elif r.kind == "leak":
                f.leaks.append(r.finding)
            elif r.kind == "deadlock":
                if f.deadlock is None:
                    f.deadlock = r.finding
            else:
                f.lock_order_inversions.append(r.finding)
        return f

    def html_records(self) -> List[Tuple[str, Any, List[str]]]:
        """``(kind, finding, tests)`` for the HTML page: a race once per pair of lines, with all its tests."""
        out: List[Tuple[str, Any, List[str]]] = []
        races: Dict[tuple, List[str]] = {}
        for r in self.records:
            if r.kind == "race":
                tests = races.get(r.finding.key)
                if tests is None:
                    tests = races[r.finding.key] = []
                    out.append(("race", r.finding, tests))
            else:
                tests = []
                out.append((r.kind, r.finding, tests))
            if r.test is not None and r.test not in tests:
                tests.append(r.test)
        return out

    def to_json(self) -> Dict[str, Any]:
        """The API.md JSON, with ``test`` (node id, or null outside of tests) on each finding."""
        races: Dict[tuple, Dict[str, Any]] = {}
        out: Dict[str, Any] = {"version": 1, "races": [], "leaks": [], "deadlock": None,
                               "lock_order_inversions": []}
        deadlocks: List[Dict[str, Any]] = []
        for r in self.records:
            if r.kind == "race":
                d = races.get(r.finding.key)
                if d is not None:
                    if r.test is not None and r.test not in d["tests"]:
                        d["tests"].append(r.test)
                    continue
                d = races[r.finding.key] = jsondoc.race_dict(r.finding)
                d["tests"] = [r.test] if r.test is not None else []
                out["races"].append(d)
            else:
                d = r.finding.to_dict()
                {"leak": out["leaks"], "lock_order": out["lock_order_inversions"],
                 "deadlock": deadlocks}[r.kind].append(d)
            d["test"] = r.test
            if r.test is None:
                d["outside_test_execution"] = True
        if deadlocks:
            out["deadlock"] = deadlocks[0]
            out["deadlocks"] = deadlocks
        out["tests_run"] = self.tests_run
        out["suppressed"] = self.suppressed
        return out

    def _write_outputs(self) -> None:
        s = self.settings
        try:
            if s.json:
                files.write_text(s.json, json.dumps(self.to_json(), indent=2) + "\n", "JSON report")
            if s.html:
                from racedet.report import html

                files.write_text(s.html, html.render(self.html_records(),
                                                     subtitle=f"pytest --race, {self.tests_run} tests"),
                                 "HTML report")
            if s.sarif or (s.update_baseline and s.baseline) or s.annotations == "github":
                from racedet.session import Session

                out = Session(dataclasses.replace(s, json=None), stream=sys.__stderr__)
                out.findings = out.all_findings = self.findings()
                try:
                    out.write_outputs()
                except ImportError as exc:  # pragma: no cover - a core without SARIF support
                    self.output_error = f"racedet: cannot write {s.sarif}: {exc}"
        except (OSError, ConfigError) as exc:
            self.output_error = f"racedet: {exc}"

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        if hasattr(self.config, "workeroutput"):
            return
        tr = terminalreporter
        outside = [r for r in self.records if r.test is None]
        if outside:
            tr.write_sep("=", "racedet: race detected outside of test execution"
                         if any(r.kind == "race" for r in outside)
                         else "racedet: findings outside of test execution", red=True)
            for r in outside:
                tr.write(self.reporter.text(r))
        if self.output_error:
            tr.write_line(self.output_error, red=True)
        extra = []
        if self.suppressed:
            extra.append(f"{self.suppressed} suppressed")
        if self.known:
            extra.append(f"{self.known} known (baseline)")
        line = summary_line(self.records, self.tests_run) + (f" ({', '.join(extra)})" if extra else "")
        bad = bool(self.records)
        details = grouped_lines(self.records)
        if len(details) > 1 or (details and any(r.kind != "race" for r in self.records)):
            tr.write_sep("-", "racedet: distinct races")
            for d in details:
                tr.write_line(d)
        tr.write_sep("=", line, red=bad, green=not bad, bold=True)

    def header_lines(self) -> List[str]:
        from racedet import config as rconfig

        o, s = self.options, self.settings
        leaks_src = s.sources.get("leaks", rconfig.DEFAULT)
        line = f"racedet: race=on ({o.race_source}), leaks={'on' if s.leaks else 'off'} ({leaks_src})"
        if self.controller:
            line += ", detector runs in the xdist workers"
        else:
            from racedet import core

            line += f", core={core.name} ({core.reason})"
        lines = [line]
        project = self.project
        if project is not None:
            lines.append("racedet: instrumented: test modules, conftest.py files, modules outside "
                         f"site-packages, and the project: {project.describe(str(self.config.rootpath))}")
        summary = s.summary()
        if summary != "defaults":
            lines.append(f"racedet settings: {summary}")
        return lines



class _MarkerCheck:
    """The setup hook that fails a test with a misused marker.

    A plain hook, not the session's setup wrapper: a wrapper that raises
    before it yields would skip the other plugins' wrappers, which then
    fail in teardown.
    """

    def __init__(self, rs: RaceSession) -> None:
        self.rs = rs

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.rs.marker_check(item)


def _rerun_plugin_runs(item: pytest.Item) -> bool:
    """Will pytest-rerunfailures run this test's protocol (it may rerun it)?

    It then runs ``runtestprotocol(log=False)`` itself; racedet's per-test
    hooks do the same work inside it.
    """
    mod = sys.modules.get("pytest_rerunfailures")
    if mod is None or not item.config.pluginmanager.hasplugin("rerunfailures"):
        return False
    excluded = getattr(mod, "_is_rerun_path_excluded", None)
    try:
        if excluded is not None and excluded(item):
            return False
        return mod.get_reruns_count(item) is not None
    except Exception:  # pragma: no cover - another version's internals: run the protocol ourselves
        return False


def _instrument(mod: ast.Module, source: bytes, path: str, reassert: Any) -> None:
    """Instrument an assertion-rewritten test module or conftest.py, functions only.

    Module-level code runs at collection, under the import lock, before any
    thread of the test exists (``toplevel=False``).
    """
    from racedet.instrument import rewrite

    text = importlib.util.decode_source(source) if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        rewrite.instrument(mod, text, path, toplevel=False)
    except RecursionError:  # pragma: no cover - absurdly deep expressions: assertions only
        fresh = ast.parse(source, filename=path)
        reassert(fresh)
        mod.body[:] = fresh.body


