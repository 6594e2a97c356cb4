"""A pytest plugin the harness loads into each package's run (``-p rw_outcomes``).

It appends one JSON line per event to the file named by RW_OUTCOMES: the
start of each test and each phase's report.  Because every line is flushed
as it happens, a run the harness has to kill still says which test was in
flight (a hang), and the table never depends on parsing pytest's terminal
output.  It lives outside the package's tree and is excluded from racedet's
instrumentation, so it adds nothing racedet could see.
"""

import json
import os

_PATH = os.environ.get("RW_OUTCOMES")
_FILE = None


def _emit(record):
    global _FILE
    if not _PATH:
        return
    if _FILE is None:
        _FILE = open(_PATH, "a", encoding="utf-8")
    _FILE.write(json.dumps(record) + "\n")
    _FILE.flush()


def pytest_runtest_logstart(nodeid, location):
    _emit({"event": "start", "nodeid": nodeid})


def pytest_runtest_logreport(report):
    message = ""
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash is not None else str(report.longrepr)
        message = message.strip().splitlines()[0][:300] if message.strip() else ""
    _emit(
        {
            "event": "report",
            "nodeid": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "xfail": hasattr(report, "wasxfail"),
            "message": message,
        }
    )


def pytest_collectreport(report):
    if report.failed:
        _emit({"event": "collect-error", "nodeid": report.nodeid})


def pytest_sessionfinish(session):
    # Which modules racedet's import hook rewrote (the library itself, not
    # only its tests): read from the loaders, so that nothing is imported.
    names = sorted(
        name
        for name, mod in list(__import__("sys").modules.items())
        if type(getattr(mod, "__loader__", None)).__name__ == "RacedetLoader"
    )
    _emit({"event": "instrumented", "modules": names})
    global _FILE
    if _FILE is not None:
        _FILE.close()
        _FILE = None


def pytest_unconfigure(config):
    # Reports after sessionfinish (none expected) reopen the file in _emit.
    if _FILE is not None:
        _FILE.close()
