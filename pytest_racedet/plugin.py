"""pytest plugin entry point (``pytest11``): options, ini settings and markers; the detector loads lazily.

Without ``--race`` this module is all of racedet that pytest ever imports: it
registers the options and the marker and returns, so a plain ``pytest`` run
pays nothing (no patches, no import hook, no engine).  With ``--race`` it
hands over to :mod:`pytest_racedet.session`, as early as pytest allows (before
the initial conftest.py files are imported, so they are instrumented too).
"""

from __future__ import annotations

import os
from typing import Any, List, Optional

import pytest

from pytest_racedet.options import RaceOptions, get_env_settings

#: Help texts, shared by addoption and addini (as pytest-timeout does).
RACE_DESC = (
    "run every test under racedet, the data race detector: a test during which a race, a leaked "
    "thread or a deadlock is found fails with the report. Also PYTEST_RACE=1 or the ini "
    "setting race = true."
)
NO_RACE_DESC = "do not run the race detector, even if PYTEST_RACE or the ini file asks for it"
NO_LEAKS_DESC = "do not fail tests that leave threads or goroutines running when they end"
LEAKS_INI_DESC = (
    "fail tests that leave threads or goroutines running when they end (default true; "
    "--race-no-leaks and @pytest.mark.racedet(leaks=False) turn it off)"
)
JSON_DESC = "write racedet's JSON report (with the test node id of each finding) to PATH"
SARIF_DESC = "write a SARIF 2.1.0 log of racedet's findings to PATH (for code scanning)"
HTML_DESC = "write a self-contained HTML report of racedet's findings, with the tests each came from, to PATH"
MARKER_DESC = (
    "racedet(races=True, leaks=True): per-test settings of the race detector (pytest --race): "
    "races=False runs the test without race detection, leaks=False does not fail it for "
    "threads it leaves running."
)

_OPTIONS_KEY = pytest.StashKey[RaceOptions]()
_PLUGIN_NAME = "racedet-session"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("racedet", "data race detection (racedet)")
    group.addoption("--race", action="store_true", dest="race", default=None, help=RACE_DESC)
    group.addoption("--no-race", action="store_false", dest="race", help=NO_RACE_DESC)
    group.addoption("--race-no-leaks", action="store_true", dest="race_no_leaks", default=None,
                    help=NO_LEAKS_DESC)
    group.addoption("--race-json", metavar="PATH", dest="race_json", default=None, help=JSON_DESC)
    group.addoption("--race-sarif", metavar="PATH", dest="race_sarif", default=None, help=SARIF_DESC)
    group.addoption("--race-html", metavar="PATH", dest="race_html", default=None, help=HTML_DESC)
    parser.addini("race", RACE_DESC, type="bool", default=None)
    parser.addini("race_leaks", LEAKS_INI_DESC, type="bool", default=None)


# --------------------------------------------------------------------------
# Activation


def _is_xdist_controller(config: pytest.Config, ns: Any) -> bool:
    """True in the process that hands tests to xdist workers and runs none itself.

    Workers get the controller's command line (``-n 2`` included) and are told
    apart by the environment xdist sets before it builds their config.
    """
    if hasattr(config, "workerinput") or os.environ.get("PYTEST_XDIST_WORKER"):
        return False
    if not config.pluginmanager.hasplugin("xdist"):
        return False
    n = getattr(ns, "numprocesses", None)
    if n in ("auto", "logical"):
        return not getattr(ns, "usepdb", False)
    return bool(n) or bool(getattr(ns, "tx", None))


def _activate(config: pytest.Config, ns: Any, options: RaceOptions) -> None:
    if config.pluginmanager.has_plugin(_PLUGIN_NAME):
        return
    from pytest_racedet.session import RaceSession

    rs = RaceSession(config, options, controller=_is_xdist_controller(config, ns))
    config.pluginmanager.register(rs, _PLUGIN_NAME)
    rs.start()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: List[str]) -> None:
    """Switch the detector on before the first conftest.py is imported, so it is instrumented."""
    ns = early_config.known_args_namespace
    options = get_env_settings(early_config, ns)
    if options.race:
        _activate(early_config, ns, options)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DESC)
    options = get_env_settings(config)
    config.stash[_OPTIONS_KEY] = options
    if options.race:
        _activate(config, config.option, options)   # loaded too late for the early hook


def pytest_report_header(config: pytest.Config) -> Optional[List[str]]:
    options = config.stash.get(_OPTIONS_KEY, None)
    if options is None or not options.race:
        return None
    rs = config.pluginmanager.get_plugin(_PLUGIN_NAME)
    if rs is None:  # pragma: no cover - activation failed and pytest still prints a header
        return [f"racedet: race=on ({options.race_source})"]
    return rs.header_lines()
