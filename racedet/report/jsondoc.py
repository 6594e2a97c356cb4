"""The JSON report (API.md's schema): the records' own ``to_dict`` plus what reporting adds.

Reporting adds each race's optional ``diagnosis`` (see :mod:`racedet.report.diagnose`);
the records stay plain data and never compute it themselves.
"""

from __future__ import annotations

from typing import Any, Dict

from racedet.model import Findings, Race
from racedet.report.diagnose import diagnose


def race_dict(race: Race) -> Dict[str, Any]:
    d = race.to_dict()
    diag = diagnose(race)
    if diag is not None:
        d["diagnosis"] = diag.to_dict()
    return d


def document(findings: Findings) -> Dict[str, Any]:
    """The whole JSON report of one run."""
    d = findings.to_dict()
    d["races"] = [race_dict(r) for r in findings.races]
    return d
