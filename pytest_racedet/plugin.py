"""pytest plugin entry point (``pytest11``): options only until the plugin lands."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("racedet", "data race detection (racedet)")
    group.addoption("--race", action="store_true", default=None, help="run every test under the racedet data race detector")
