"""Tests of racedet.report.sarif, validated against the official SARIF 2.1.0 schema (tests/data)."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

jsonschema = pytest.importorskip("jsonschema")

from racedet.baseline import fingerprint  # noqa: E402
from racedet.exceptions import ConfigError  # noqa: E402
from racedet.model import (Access, BlockedThread, Deadlock, Findings, Frame, LockAcquisition,  # noqa: E402
                           LockOrderInversion, Race)
from racedet.report.sarif import FINGERPRINT_KEY, SRCROOT, rules, to_sarif, write_sarif  # noqa: E402

SCHEMA_PATH = pathlib.Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
ROOT = "/repo"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate(validator, log):
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def F(file: str, line: int, qualname: str) -> Frame:
    return Frame(file, line, qualname.rsplit(".", 1)[-1], qualname)


def race(root=ROOT) -> Race:
    app = os.path.join(root, "src/app.py")
    return Race("Counter.value", 0x7F00,
                Access("write", "goroutine-3", (F(app, 10, "Counter.incr"), F(app, 20, "main.<locals>.run")),
                       created_at=(F(app, 25, "main"),), test="tests/test_app.py::test_incr"),
                Access("read", "goroutine-2", (F(app, 9, "Counter.incr"), F(app, 19, "main.<locals>.run")),
                       thread_status="finished"))


def leak(root=ROOT) -> BlockedThread:
    app = os.path.join(root, "src/app.py")
    return BlockedThread("goroutine-5", "Chan.recv", (F(app, 7, "worker"),), (F(app, 30, "main"),))


def deadlock(root=ROOT) -> Deadlock:
    app = os.path.join(root, "src/app.py")
    return Deadlock((BlockedThread("MainThread", "WaitGroup.wait", (F(app, 40, "main"),)),
                     BlockedThread("goroutine-1", "Chan.send", (F(app, 44, "produce"), F(app, 50, "run")))))


def inversion(root=ROOT) -> LockOrderInversion:
    db = os.path.join(root, "src/db.py")
    return LockOrderInversion((
        LockAcquisition("Lock A", "Lock B", "t1", (F(db, 10, "Store.put"),), (F(db, 9, "Store.put"),)),
        LockAcquisition("Lock B", "Lock A", "t2", (F(db, 20, "Store.get"),), (F(db, 19, "Store.get"),)),
    ))


def everything(root=ROOT) -> Findings:
    return Findings(races=[race(root)], leaks=[leak(root)], deadlock=deadlock(root),
                    lock_order_inversions=[inversion(root)], suppressed=3)


# --- schema validity ----------------------------------------------------------------------


def test_schema_file_is_the_official_one():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["id"] == ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/"
                            "schemas/sarif-schema-2.1.0.json")
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"


def test_schema_rejects_a_broken_log(validator):
    # Guards against a validator that accepts anything.
    log = to_sarif(everything(), tool_version="0.1.0", root=ROOT)
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert list(validator.iter_errors(log))
    del log["version"]
    assert list(validator.iter_errors(log))


@pytest.mark.parametrize("root", [ROOT, None])
def test_valid_with_every_kind(validator, root):
    validate(validator, to_sarif(everything(), tool_version="0.1.0", root=root))


def test_valid_when_empty(validator):
    log = to_sarif(Findings(), tool_version="0.1.0", root=ROOT)
    validate(validator, log)
    assert log["runs"][0]["results"] == []


def test_valid_with_empty_stacks_and_odd_paths(validator):
    odd = Race("x", 1, Access("write", "t1", ()),
               Access("read", "t2", (Frame("/repo/dir with space/ü.py", 0, "<module>"),)))
    lk = BlockedThread("t", "running", ())
    log = to_sarif(Findings(races=[odd], leaks=[lk]), tool_version="0.1.0", root=ROOT)
    validate(validator, log)
    res = log["runs"][0]["results"][0]
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "dir%20with%20space/%C3%BC.py"
    assert loc["region"]["startLine"] == 1  # SARIF lines start at 1
    assert "locations" not in log["runs"][0]["results"][1]


# --- the run and its rules ----------------------------------------------------------------


def test_log_envelope():
    log = to_sarif(everything(), tool_version="1.2.3", root=ROOT)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    assert run["tool"]["driver"]["name"] == "racedet"
    assert run["tool"]["driver"]["version"] == "1.2.3"
    assert run["originalUriBaseIds"] == {SRCROOT: {"uri": "file:///repo/"}}
    assert run["properties"] == {"suppressed": 3}
    assert len(run["results"]) == 4


def test_rules():
    rs = rules()
    assert [r["id"] for r in rs] == ["data-race", "goroutine-leak", "deadlock", "lock-order-inversion"]
    for r in rs:
        assert r["name"] and r["name"][0].isupper() and " " not in r["name"]
        assert r["shortDescription"]["text"] and r["fullDescription"]["text"]
        assert r["help"]["text"] and r["help"]["markdown"]
        assert r["defaultConfiguration"] == {"level": "error"}
    log = to_sarif(everything(), tool_version="0.1.0", root=ROOT)
    driver_rules = log["runs"][0]["tool"]["driver"]["rules"]
    for res in log["runs"][0]["results"]:
        assert driver_rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] == "error"


# --- a race result ------------------------------------------------------------------------


def test_race_result():
    log = to_sarif(Findings(races=[race()]), tool_version="0.1.0", root=ROOT)
    (res,) = log["runs"][0]["results"]
    assert res["ruleId"] == "data-race"
    assert res["message"]["text"] == ("Write of Counter.value by goroutine-3 races with previous "
                                      "read by goroutine-2 at src/app.py:9")
    (primary,) = res["locations"]
    assert primary["physicalLocation"] == {
        "artifactLocation": {"uri": "src/app.py", "uriBaseId": SRCROOT},
        "region": {"startLine": 10}}
    assert primary["logicalLocations"][0]["fullyQualifiedName"] == "Counter.incr"
    assert primary["message"]["text"] == "write of Counter.value by goroutine-3"
    (related,) = res["relatedLocations"]
    assert related["id"] == 1
    assert related["physicalLocation"]["region"] == {"startLine": 9}
    assert related["message"]["text"] == "read of Counter.value by goroutine-2 (previous access)"
    assert res["partialFingerprints"] == {FINGERPRINT_KEY: fingerprint(race(), ROOT)}
    assert res["properties"] == {"tests": ["tests/test_app.py::test_incr"],
                                 "location": "Counter.value", "locationKind": "attribute"}


def test_race_stacks_innermost_first():
    (res,) = to_sarif(Findings(races=[race()]), tool_version="0", root=ROOT)["runs"][0]["results"]
    cur, prev = res["stacks"]
    lines = [[fr["location"]["physicalLocation"]["region"]["startLine"] for fr in s["frames"]]
             for s in (cur, prev)]
    assert lines == [[10, 20], [9, 19]]
    assert cur["message"]["text"].startswith("write of Counter.value")


def test_race_code_flow_outermost_first():
    (res,) = to_sarif(Findings(races=[race()]), tool_version="0", root=ROOT)["runs"][0]["results"]
    (flow,) = res["codeFlows"]
    cur, prev = flow["threadFlows"]
    assert (cur["id"], prev["id"]) == ("goroutine-3", "goroutine-2")
    assert [loc["location"]["physicalLocation"]["region"]["startLine"] for loc in cur["locations"]] == [20, 10]
    assert [loc["nestingLevel"] for loc in cur["locations"]] == [0, 1]
    assert cur["locations"][-1]["location"]["message"]["text"] == "in Counter.incr"


# --- other kinds --------------------------------------------------------------------------


def test_leak_result():
    (res,) = to_sarif(Findings(leaks=[leak()]), tool_version="0", root=ROOT)["runs"][0]["results"]
    assert res["ruleId"] == "goroutine-leak"
    assert res["locations"][0]["physicalLocation"]["region"] == {"startLine": 7}
    assert res["relatedLocations"][0]["physicalLocation"]["region"] == {"startLine": 30}
    assert res["relatedLocations"][0]["message"]["text"] == "goroutine-5 created here"
    ids = [tf["id"] for tf in res["codeFlows"][0]["threadFlows"]]
    assert len(ids) == len(set(ids)) == 2


def test_deadlock_result():
    (res,) = to_sarif(Findings(deadlock=deadlock()), tool_version="0", root=ROOT)["runs"][0]["results"]
    assert res["ruleId"] == "deadlock"
    assert res["locations"][0]["physicalLocation"]["region"] == {"startLine": 40}
    assert res["relatedLocations"][0]["physicalLocation"]["region"] == {"startLine": 44}
    assert len(res["stacks"]) == 2 and len(res["codeFlows"][0]["threadFlows"]) == 2


def test_lock_order_result():
    (res,) = to_sarif(Findings(lock_order_inversions=[inversion()]), tool_version="0",
                      root=ROOT)["runs"][0]["results"]
    assert res["ruleId"] == "lock-order-inversion"
    assert res["locations"][0]["physicalLocation"]["region"] == {"startLine": 10}
    assert [r["physicalLocation"]["region"]["startLine"] for r in res["relatedLocations"]] == [9, 20, 19]
    assert [r["id"] for r in res["relatedLocations"]] == [1, 2, 3]
    ids = [tf["id"] for tf in res["codeFlows"][0]["threadFlows"]]
    assert len(ids) == len(set(ids))


# --- paths --------------------------------------------------------------------------------


def test_file_outside_root_is_an_absolute_uri():
    r = race(root="/elsewhere")
    (res,) = to_sarif(Findings(races=[r]), tool_version="0", root=ROOT)["runs"][0]["results"]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "file:///elsewhere/src/app.py"}


def test_without_root_uris_are_absolute():
    log = to_sarif(Findings(races=[race()]), tool_version="0", root=None)
    assert "originalUriBaseIds" not in log["runs"][0]
    loc = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc == {"uri": "file:///repo/src/app.py"}


def test_already_relative_paths_use_srcroot():
    r = Race("x", 1, Access("write", "t", (Frame("src/app.py", 3, "f"),)), Access("read", "u", ()))
    log = to_sarif(Findings(races=[r]), tool_version="0", root=None)
    loc = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc == {"uri": "src/app.py", "uriBaseId": SRCROOT}


def test_fingerprints_stable_across_checkouts():
    a = to_sarif(Findings(races=[race("/a/repo")]), tool_version="0", root="/a/repo")
    b = to_sarif(Findings(races=[race("/b/repo")]), tool_version="0", root="/b/repo")
    assert (a["runs"][0]["results"][0]["partialFingerprints"]
            == b["runs"][0]["results"][0]["partialFingerprints"])


# --- writing ------------------------------------------------------------------------------


def test_write_sarif(tmp_path, validator):
    path = tmp_path / "racedet.sarif"
    write_sarif(str(path), everything(str(tmp_path)), tool_version="0.1.0", root=str(tmp_path))
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    log = json.loads(text)
    validate(validator, log)
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "src/app.py", "uriBaseId": SRCROOT}
    assert [p.name for p in tmp_path.iterdir()] == ["racedet.sarif"]


def test_write_sarif_unwritable(tmp_path):
    path = tmp_path / "no-such-dir" / "racedet.sarif"
    with pytest.raises(ConfigError, match=r"^cannot write SARIF log .*racedet\.sarif: No such file"):
        write_sarif(str(path), Findings(), tool_version="0")
