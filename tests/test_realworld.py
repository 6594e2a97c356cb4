"""The proving ground's offline parts: the pinned list, outcome summaries, findings, table, diff.

realworld/run.py itself needs the network (PyPI); everything it computes from
what it downloaded and ran lives in realworld/pinned.py and results.py, and
is checked here on made-up data.
"""

import json
import os
import subprocess
import sys

import pytest

REALWORLD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "realworld")
sys.path.insert(0, REALWORLD)

import cpython  # noqa: E402
import pinned  # noqa: E402
import results  # noqa: E402


# ---------------------------------------------------------------- pinned list


def test_the_recorded_list_is_valid_and_pinned():
    pkgs = pinned.load()
    assert len(pkgs) >= 12
    for p in pkgs:
        assert p.tests, p.name
        assert p.requirement == f"{p.name}=={p.version}"
    assert len({pinned.normalise(p.name) for p in pkgs}) == len(pkgs)


def test_parse_defaults_and_key():
    (p,) = pinned.parse({"package": [{"name": "dogpile.cache", "version": "1.5.0", "tests": ["tests"]}]})
    assert p.timeout == pinned.DEFAULT_TIMEOUT and p.run_timeout == pinned.DEFAULT_RUN_TIMEOUT
    assert p.deps == [] and p.soak == []
    assert p.key == "dogpile-cache-1.5.0"


@pytest.mark.parametrize(
    "table, message",
    [
        ({"name": "a", "version": ">=1.0", "tests": ["t"]}, "version must be an exact release"),
        ({"name": "a", "version": "1.0"}, "tests is missing"),
        ({"name": "a", "version": "1.0", "tests": "t"}, "tests must be a list of strings"),
        ({"name": "a", "version": "1.0", "tests": ["t"], "timeout": 0}, "timeout must be a positive integer"),
        ({"name": "a", "version": "1.0", "tests": ["t"], "colour": 1}, "unknown key 'colour'"),
        ({"version": "1.0", "tests": ["t"]}, "name is missing"),
    ],
)
def test_parse_rejects_with_one_line(table, message):
    with pytest.raises(pinned.ListError) as e:
        pinned.parse({"package": [table]})
    assert message in str(e.value) and "\n" not in str(e.value)


def test_parse_rejects_duplicates_in_any_spelling():
    t = {"version": "1.0", "tests": ["t"]}
    with pytest.raises(pinned.ListError, match="listed twice"):
        pinned.parse({"package": [dict(t, name="Dogpile_Cache"), dict(t, name="dogpile.cache")]})


def test_load_reports_bad_toml(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("[[package]\n")
    with pytest.raises(pinned.ListError):
        pinned.load(str(f))


def test_select_by_any_spelling():
    pkgs = pinned.parse({"package": [{"name": "dogpile.cache", "version": "1.5.0", "tests": ["t"]},
                                     {"name": "pebble", "version": "5.2.3", "tests": ["t"]}]})
    assert [p.name for p in pinned.select(pkgs, ["Dogpile-Cache"])] == ["dogpile.cache"]
    assert pinned.select(pkgs, None) == pkgs
    with pytest.raises(pinned.ListError, match="not in the pinned list"):
        pinned.select(pkgs, ["nope"])


# ---------------------------------------------------------------- outcomes


def _rep(nodeid, when, outcome, xfail=False, message=""):
    return {"event": "report", "nodeid": nodeid, "when": when, "outcome": outcome, "xfail": xfail, "message": message}


def _test(nodeid, call="passed", setup="passed", teardown="passed", **kw):
    recs = [{"event": "start", "nodeid": nodeid}, _rep(nodeid, "setup", setup, **({} if setup == "passed" else kw))]
    if setup == "passed":
        recs.append(_rep(nodeid, "call", call, **kw))
    recs.append(_rep(nodeid, "teardown", teardown))
    return recs


def test_summarise_counts_each_outcome_like_pytest():
    recs = (
        _test("t::a")
        + _test("t::b", call="failed", message="racedet: DATA RACE on C.v")
        + _test("t::c", setup="failed", message="fixture broke")
        + _test("t::d", setup="skipped")
        + _test("t::e", call="skipped", xfail=True)
        + _test("t::f", call="passed", xfail=True)
        + _test("t::g", teardown="failed")
    )
    s = results.summarise(recs)
    assert s["tests"] == 7 and s["in_flight"] is None
    assert s["outcomes"] == {"t::a": "passed", "t::b": "failed", "t::c": "error", "t::d": "skipped",
                             "t::e": "xfailed", "t::f": "xpassed", "t::g": "error"}
    assert s["counts"] == {"passed": 1, "failed": 1, "error": 2, "skipped": 1, "xfailed": 1, "xpassed": 1}
    assert s["messages"]["t::b"] == "racedet: DATA RACE on C.v"


def test_summarise_names_the_test_in_flight_of_a_killed_run(tmp_path):
    log = tmp_path / "o.jsonl"
    lines = [json.dumps(r) for r in _test("t::a") + [{"event": "start", "nodeid": "t::hangs"},
                                                     _rep("t::hangs", "setup", "passed")]]
    log.write_text("\n".join(lines) + '\n{"event": "rep')  # the kill tore the last line
    s = results.summarise(results.read_jsonl(str(log)))
    assert s["in_flight"] == "t::hangs"
    assert s["outcomes"] == {"t::a": "passed"} and s["tests"] == 2


def test_summarise_keeps_the_instrumented_modules():
    s = results.summarise([{"event": "instrumented", "modules": ["pkg", "pkg.core"]}])
    assert s["instrumented"] == ["pkg", "pkg.core"]
    assert results.summarise([])["instrumented"] is None


def test_only_under_race_and_timed_out():
    plain = {"a": "passed", "b": "failed", "c": "passed", "d": "skipped"}
    race = {"a": "failed", "b": "failed", "c": "passed", "d": "error", "new": "failed"}
    assert results.only_under_race(plain, race) == ["a", "d"]
    assert results.timed_out({"x": "Failed: Timeout >60.0s", "y": "AssertionError"}) == ["x"]


# ---------------------------------------------------------------- findings

SRC = "/w/src/pkg-1.0/pkg-1.0/"


def _frame(path, line, fn="f"):
    return {"file": path, "line": line, "function": fn}


def _race(loc, a, b, tests):
    return {
        "location": loc,
        "current": {"kind": "write", "thread": "T1", "stack": [_frame(SRC + a[0], a[1])]},
        "previous": {"kind": "read", "thread": "T2", "stack": [_frame(SRC + b[0], b[1])]},
        "tests": tests,
    }


REPORT = {
    "version": 1,
    "races": [
        _race("C.v", ("pkg/core.py", 10), ("pkg/core.py", 9), ["t::a"]),
        # the same pair, the other way round, from another test: one finding
        dict(_race("C.v", ("pkg/core.py", 9), ("pkg/core.py", 10), ["t::b"]),
             current={"kind": "read", "stack": [_frame(SRC + "pkg/core.py", 9)]},
             previous={"kind": "write", "stack": [_frame(SRC + "pkg/core.py", 10)]}),
        _race("contents of <list at 0x7f55ab648740>", ("tests/h.py", 35), ("tests/h.py", 52), ["t::c"]),
    ],
    "leaks": [{"thread": "Thread-3", "blocked_in": "Event.wait", "stack": [_frame("/usr/lib/python3.11/threading.py", 600)],
               "created_at": [_frame(SRC + "tests/t.py", 11)], "test": "t::leak"}],
    "deadlock": {"threads": [{"thread": "MainThread", "blocked_in": "Condition.wait",
                              "stack": [_frame(SRC + "pkg/f.py", 71)]}], "test": "t::dl"},
    "lock_order_inversions": [{"cycle": [
        {"stack": [_frame(SRC + "pkg/l.py", 19)], "held_stack": [_frame(SRC + "pkg/l.py", 18)]},
        {"stack": [_frame(SRC + "pkg/l.py", 16)], "held_stack": [_frame(SRC + "pkg/l.py", 15)]}], "test": "t::inv"}],
}
ROOTS = [(SRC, ""), ("/usr/lib/python3.11/", "stdlib/")]


def test_findings_are_relative_merged_and_without_addresses():
    fs = results.findings(REPORT, ROOTS)
    races = [f for f in fs if f["kind"] == "race"]
    assert [(f["location"], f["sites"], f["tests"]) for f in races] == [
        ("C.v", ["pkg/core.py:10", "pkg/core.py:9"], ["t::a", "t::b"]),
        ("contents of <list>", ["tests/h.py:35", "tests/h.py:52"], ["t::c"]),
    ]
    assert races[0]["detail"] == "write pkg/core.py:10 / read pkg/core.py:9"
    (leak,) = [f for f in fs if f["kind"] == "leak"]
    assert leak["location"] == "Event.wait" and leak["detail"] == "created tests/t.py:11, blocked at stdlib/threading.py:600"
    (inv,) = [f for f in fs if f["kind"] == "lock-order-inversion"]
    assert inv["sites"] == ["pkg/l.py:16", "pkg/l.py:19"]
    (dl,) = [f for f in fs if f["kind"] == "deadlock"]
    assert dl["location"] == "Condition.wait" and dl["tests"] == ["t::dl"]
    assert len({f["id"] for f in fs}) == len(fs) == 5


def test_findings_prefer_the_deadlocks_list():
    rep = dict(REPORT, deadlocks=[REPORT["deadlock"], REPORT["deadlock"]])
    assert len([f for f in results.findings(rep, ROOTS) if f["kind"] == "deadlock"]) == 1
    assert results.findings({}, ROOTS) == []


# ---------------------------------------------------------------- table and diff


def _row(pkg, findings=(), race_only=(), race_status="ok"):
    side = {"status": "ok", "tests": 3, "wall": 1.0, "counts": {"passed": 3, "failed": 0, "error": 0}}
    return {"package": pkg, "version": "1.0", "status": "ok" if race_status == "ok" else "hang",
            "plain": side, "race": dict(side, wall=3.0, status=race_status, in_flight="t::x", instrumented=4),
            "ratio": 3.0, "findings": list(findings), "race_only": list(race_only)}


def test_markdown_has_a_row_per_package_and_each_finding():
    fs = results.findings(REPORT, ROOTS)
    doc = {"meta": {"date": "d", "revision": "abc123"},
           "rows": [_row("pkg", fs, ["t::a"]), _row("other", race_status="hang")]}
    md = results.markdown(doc)
    assert "racedet revision: abc123" in md
    assert "| pkg | 1.0 | 3 | 3/0/0 | 3/0/0 | 1.0 | 3.0 | 3.0x | 1 | 5 | 4 |" in md
    assert "| other (hang) |" in md and "race run HUNG" in md
    assert "- race `C.v`: write pkg/core.py:10 / read pkg/core.py:9 in `t::a`, `t::b`" in md


def test_diff_lists_new_and_gone_findings_failures_and_hangs():
    fs = results.findings(REPORT, ROOTS)
    old = {"rows": [_row("pkg", fs[:2], ["t::a"]), _row("same", fs)]}
    new = {"rows": [_row("pkg", fs[1:3], ["t::b"], race_status="hang"), _row("same", fs), _row("added")]}
    out = results.diff(old, new)
    assert out[0] == "added: only in new table"
    assert out[1] == "pkg:"
    assert f"+ {fs[2]['id']}" in out and f"- {fs[0]['id']}" in out
    assert "+ fails only under --race: t::b" in out and "- fails only under --race: t::a" in out
    assert "+ race run hangs (in flight: t::x)" in out
    assert not any(line.startswith("same") for line in out)
    assert results.diff(old, old) == []


def test_merge_rows_keeps_other_packages_in_list_order():
    old = [_row("b"), _row("a")]
    new = [dict(_row("a"), version="2.0")]
    merged = results.merge_rows(old, new, ["a", "b"])
    assert [(r["package"], r["version"]) for r in merged] == [("a", "2.0"), ("b", "1.0")]


def _script(name, *args, cwd=None):
    return subprocess.run([sys.executable, os.path.join(REALWORLD, name), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_diff_command(tmp_path):
    fs = results.findings(REPORT, ROOTS)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    results.write_json(str(a), {"meta": {}, "rows": [_row("pkg", fs[:1])]})
    results.write_json(str(b), {"meta": {}, "rows": [_row("pkg", fs[:2])]})
    p = _script("diff.py", str(a), str(a))
    assert (p.returncode, p.stdout) == (0, "")
    p = _script("diff.py", str(a), str(b), "--fail-on-new")
    assert p.returncode == 1 and p.stdout == f"pkg:\n+ {fs[1]['id']}\n"
    (tmp_path / "bad.json").write_text("{}")
    p = _script("diff.py", str(a), str(tmp_path / "bad.json"))
    assert p.returncode == 2 and p.stderr.startswith("realworld: ") and p.stderr.count("\n") == 1


def test_run_command_rejects_unknown_package_before_any_network(tmp_path):
    p = _script("run.py", "--only", "no-such-pkg", "--out", str(tmp_path), "--work", str(tmp_path))
    assert p.returncode == 2 and p.stderr == "realworld: 'no-such-pkg' is not in the pinned list\n"
    assert not os.listdir(tmp_path)


# ---------------------------------------------------------------- CPython modules

REGRTEST_FAILURE = """\
0:00:00 load avg: 1.0 Run tests sequentially
0:00:00 load avg: 1.0 [1/1] test_x
test test_x failed -- Traceback (most recent call last):
======================================================================
FAIL: test_b (test.test_x.T.test_b)
----------------------------------------------------------------------
ERROR: test_c (test.test_x.U)
test_x failed (1 failure)

== Tests result: FAILURE ==

1 test failed:
    test_x

Total duration: 46 ms
Total tests: run=40 failures=1
Total test files: run=1/1 failed=1
Result: FAILURE
"""


def test_parse_regrtest():
    r = cpython.parse_regrtest(REGRTEST_FAILURE)
    assert r == {"result": "FAILURE", "totals": "run=40 failures=1",
                 "failed": ["ERROR test.test_x.U.test_c", "FAIL test.test_x.T.test_b"]}
    assert cpython.parse_regrtest("== Tests result: SUCCESS ==\n\nResult: SUCCESS\n")["result"] == "SUCCESS"
    assert cpython.parse_regrtest("killed")["result"] is None


def test_include_glob_matches_file_or_package(tmp_path):
    (tmp_path / "test_a.py").write_text("")
    (tmp_path / "test_b").mkdir()
    assert cpython.include_glob(str(tmp_path), "test_a") == "*/test/test_a.py"
    assert cpython.include_glob(str(tmp_path), "test_b") == "*/test/test_b/*"
    assert cpython.include_glob(str(tmp_path), "test_c") is None


def test_summarise_fails_a_test_whose_subtest_failed():
    recs = [{"event": "start", "nodeid": "t::s"}, _rep("t::s", "setup", "passed"),
            _rep("t::s", "call", "failed", message="Failed: Timeout (>60.0s) from pytest-timeout."),
            _rep("t::s", "call", "passed"), _rep("t::s", "teardown", "passed")]
    s = results.summarise(recs)
    assert s["outcomes"] == {"t::s": "failed"}
    assert results.timed_out(s["messages"]) == ["t::s"]


# ---------------------------------------------------------------- triage

import triage  # noqa: E402


def test_triage_gives_every_race_only_test_one_line(tmp_path):
    fs = results.findings(REPORT, ROOTS)
    row = _row("pkg", fs, ["t::a", "t::c", "t::x"])
    row["race"]["messages"] = {"t::x": "AssertionError: boom"}
    v = tmp_path / "v.toml"
    v.write_text(
        '[[verdict]]\npackage = "pkg"\nfinding = "race C.v @"\nverdict = "true race"\nwhy = "unlocked read."\n'
        '[[verdict]]\npackage = "pkg"\nfinding = "contents of <list>"\nverdict = "false positive"\n'
        'class = "c"\nwhy = "w."\nrepro = "realworld/repro/x.py"\n'
    )
    text, untriaged = triage.build({"meta": {}, "rows": [row]}, triage.load_verdicts(str(v)))
    assert untriaged == 1
    assert "- `t::a`: true race V1" in text
    assert "- `t::c`: false positive V2" in text
    assert "- `t::x`: **UNTRIAGED** (AssertionError: boom)" in text
    assert "- V2 `contents of <list>`: **false positive** (c): w. Repro: `realworld/repro/x.py`." in text


@pytest.mark.parametrize(
    "body, message",
    [
        ('verdict = "maybe"\nfinding = "x"\nwhy = "w"', "verdict must be one of"),
        ('verdict = "true race"\nwhy = "w"', "needs 'finding' or 'message'"),
        ('verdict = "false positive"\nfinding = "x"\nwhy = "w"', "needs a 'repro'"),
    ],
)
def test_triage_rejects_incomplete_verdicts(tmp_path, body, message):
    v = tmp_path / "v.toml"
    v.write_text('[[verdict]]\npackage = "pkg"\n' + body + "\n")
    with pytest.raises(ValueError, match=message):
        triage.load_verdicts(str(v))


def test_recorded_verdicts_are_valid_and_name_existing_reproducers():
    for v in triage.load_verdicts(os.path.join(REALWORLD, "verdicts.toml")):
        if v.get("repro"):
            path = v["repro"].split("#")[0]
            assert os.path.exists(os.path.join(os.path.dirname(REALWORLD), path)), v["repro"]


def test_finding_id_leaves_out_random_dict_keys():
    rep = {"races": [_race("dict item 'some_key_98983' of <dict at 0x7f1>", ("m.py", 62), ("m.py", 62), ["t"])]}
    (f,) = results.findings(rep, ROOTS)
    assert f["location"] == "dict item 'some_key_98983' of <dict>"
    assert f["id"] == "race dict item of <dict> @ m.py:62 | m.py:62"


def test_triage_keeps_first_matching_verdict_for_each_finding():
    specific = {"package": "p", "finding": "race X @ a.py:1", "verdict": "true race"}
    general = {"package": "p", "finding": "race X @", "verdict": "false positive"}
    ids = ["race X @ a.py:1 | a.py:2", "race X @ a.py:1 | a.py:3"]
    assert triage.verdicts_for("p", ids, "", [specific, general]) == [specific]
