"""pytest-xdist: the controller merges the findings its workers send in ``workeroutput``.

Each test's report already travels to the controller with its test report
(the failure text holds it).  What does not is the run's totals: findings
outside of any test, the counts, and everything the JSON and SARIF outputs
need; a worker puts them in ``config.workeroutput["racedet"]`` at session
finish and the controller adds them up as each node goes down (the model is
pytest-cov's ``DistMaster.testnodedown``), before its own session finish
writes the outputs and sets the exit status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import pytest

if TYPE_CHECKING:
    from pytest_racedet.session import RaceSession


class ControllerHooks:
    """Registered on the xdist controller only (it runs no test, so it runs no detector)."""

    def __init__(self, rs: "RaceSession") -> None:
        self.rs = rs

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Optional[object]) -> None:
        output = getattr(node, "workeroutput", None) or {}
        data = output.get("racedet")
        if data:
            self.rs.merge(data)
