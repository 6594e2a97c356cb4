"""Findings as plain data, so xdist workers can send them to the controller.

execnet carries only builtins (dicts, lists, tuples, str, int, bool, None),
and the controller rebuilds racedet's model records from them to write one
JSON/SARIF report and count the totals.  Unlike ``to_dict()`` (the public
JSON), this keeps every field, so the controller's records equal the
worker's.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List

from racedet.model import (Access, BlockedThread, Deadlock, Frame, HeldLock, LockAcquisition,
                           LockOrderInversion, Race)

TWire = Dict[str, Any]


def dump(finding: Any) -> TWire:
    """Every field of a model record, recursively, as builtins."""
    return dataclasses.asdict(finding)


def _stack(items: Any) -> tuple:
    return tuple(Frame(**f) for f in items or ())


def _held(items: Any) -> Any:
    if items is None:
        return None
    return tuple(HeldLock(h["name"], Frame(**h["created_at"]) if h.get("created_at") else None) for h in items)


def _access(d: TWire) -> Access:
    return Access(**{**d, "stack": _stack(d["stack"]), "created_at": _stack(d.get("created_at")),
                     "held_locks": _held(d.get("held_locks"))})


def _blocked(d: TWire) -> BlockedThread:
    return BlockedThread(**{**d, "stack": _stack(d["stack"]), "created_at": _stack(d.get("created_at"))})


def _acquisition(d: TWire) -> LockAcquisition:
    return LockAcquisition(**{**d, "stack": _stack(d["stack"]), "held_stack": _stack(d.get("held_stack"))})


def load(kind: str, d: TWire) -> Any:
    """The model record of ``kind`` (``race``, ``leak``, ``deadlock``, ``lock_order``) from :func:`dump`."""
    if kind == "race":
        return Race(**{**d, "current": _access(d["current"]), "previous": _access(d["previous"])})
    if kind == "leak":
        return _blocked(d)
    if kind == "deadlock":
        return Deadlock(tuple(_blocked(t) for t in d["threads"]))
    if kind == "lock_order":
        return LockOrderInversion(tuple(_acquisition(e) for e in d["cycle"]))
    raise ValueError(f"unknown finding kind {kind!r}")


def dump_all(records: List[Any]) -> List[TWire]:
    """Records (:class:`pytest_racedet.render.Record`) as builtins, for ``workeroutput``."""
    return [{"kind": r.kind, "test": r.test, "note": r.note, "data": dump(r.finding)} for r in records]
