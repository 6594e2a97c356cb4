"""Tests of racedet.baseline: fingerprints that survive line shifts, the file format, gating on new findings."""

from __future__ import annotations

import json
import os

import pytest

from racedet.baseline import (Baseline, baseline_entries, finding_kind, fingerprint, iter_findings,
                              portable_path, relative_path, split_new, strip_addresses, summary,
                              write_baseline)
from racedet.exceptions import ConfigError
from racedet.model import (Access, BlockedThread, Deadlock, Findings, Frame, LockAcquisition,
                           LockOrderInversion, Race)
from racedet.report.annotations import github_annotations

ROOT = "/repo"


def F(file: str, line: int, qualname: str) -> Frame:
    return Frame(file, line, qualname.rsplit(".", 1)[-1], qualname)


def race(cur_line=10, prev_line=9, *, root=ROOT, location="Counter.value", cur_kind="write",
         prev_kind="read", cur_func="Counter.incr", prev_func="Counter.incr", file="src/app.py",
         threads=("goroutine-3", "goroutine-2")) -> Race:
    path = os.path.join(root, file)
    return Race(location, 0x7F12345678,
                Access(cur_kind, threads[0], (F(path, cur_line, cur_func), F(path, cur_line + 20, "main"))),
                Access(prev_kind, threads[1], (F(path, prev_line, prev_func),)))


def leak(line=7, *, root=ROOT, blocked_in="Chan.recv", thread="goroutine-5") -> BlockedThread:
    path = os.path.join(root, "src/app.py")
    return BlockedThread(thread, blocked_in, (F(path, line, "worker"), F(path, line + 10, "serve")),
                         (F(path, 30 + line, "main"),))


def deadlock(shift=0, order=(0, 1)) -> Deadlock:
    threads = [BlockedThread("main", "WaitGroup.wait", (F("/repo/a.py", 3 + shift, "main"),)),
               BlockedThread("goroutine-1", "Chan.send", (F("/repo/a.py", 9 + shift, "produce"),))]
    return Deadlock(tuple(threads[i] for i in order))


def inversion(shift=0, rotate=False) -> LockOrderInversion:
    a, b = "Lock at 0x7f01 (created at db.py:3)", "Lock at 0x7f02 (created at db.py:4)"
    db = "/repo/db.py"
    e1 = LockAcquisition(a, b, "t1", (F(db, 10 + shift, "Store.put"),), (F(db, 9 + shift, "Store.put"),))
    e2 = LockAcquisition(b, a, "t2", (F(db, 20 + shift, "Store.get"),), (F(db, 19 + shift, "Store.get"),))
    return LockOrderInversion((e2, e1) if rotate else (e1, e2))


# --- paths --------------------------------------------------------------------------------


def test_relative_path():
    assert relative_path("/repo/src/app.py", "/repo") == "src/app.py"
    assert relative_path("/repo/src/app.py", "/repo/") == "src/app.py"
    assert relative_path("/other/app.py", "/repo") == "/other/app.py"
    assert relative_path("/repository/app.py", "/repo") == "/repository/app.py"
    assert relative_path("/repo/src/app.py", None) == "/repo/src/app.py"
    assert relative_path("src/app.py", "/repo") == "src/app.py"


def test_portable_path():
    assert portable_path("/repo/src/app.py", "/repo") == "src/app.py"
    assert portable_path("/venv/lib/python3.11/site-packages/lib/x.py", "/repo") == "lib/x.py"
    assert portable_path("/usr/lib/python3/dist-packages/lib/x.py", "/repo") == "lib/x.py"
    assert portable_path("/usr/lib/python3.12/queue.py", "/repo") == "queue.py"
    assert portable_path("/opt/py/lib/python3.13t/queue.py", None) == "queue.py"
    assert portable_path("/elsewhere/x.py", "/repo") == "/elsewhere/x.py"
    assert portable_path("rel/x.py", None) == "rel/x.py"


def test_strip_addresses():
    assert strip_addresses("dict item 'k' of <dict at 0x7f3a2b>") == "dict item 'k' of <dict at 0x?>"
    assert strip_addresses("Counter.value") == "Counter.value"


# --- fingerprints -------------------------------------------------------------------------


def test_fingerprint_shape():
    fp = fingerprint(race(), ROOT)
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fingerprint(race(), ROOT) == fp


def test_fingerprint_survives_line_shifts():
    assert fingerprint(race(10, 9), ROOT) == fingerprint(race(52, 51), ROOT)
    assert fingerprint(leak(7), ROOT) == fingerprint(leak(40), ROOT)
    assert fingerprint(deadlock(), ROOT) == fingerprint(deadlock(shift=5), ROOT)
    assert fingerprint(inversion(), ROOT) == fingerprint(inversion(shift=5), ROOT)


def test_fingerprint_ignores_threads_and_addresses():
    r1 = race(threads=("goroutine-3", "goroutine-2"), location="dict item 'k' of <dict at 0x7f01>")
    r2 = race(threads=("Thread-9 (worker)", "MainThread"), location="dict item 'k' of <dict at 0x5500>")
    assert fingerprint(r1, ROOT) == fingerprint(r2, ROOT)
    assert fingerprint(leak(thread="a"), ROOT) == fingerprint(leak(thread="b"), ROOT)


def test_fingerprint_does_not_depend_on_access_order():
    # Which access the detector sees second depends on timing.
    a = race(cur_kind="write", prev_kind="read", cur_func="Counter.incr", prev_func="Counter.get")
    b = race(cur_kind="read", prev_kind="write", cur_func="Counter.get", prev_func="Counter.incr")
    assert fingerprint(a, ROOT) == fingerprint(b, ROOT)
    assert fingerprint(deadlock(order=(0, 1)), ROOT) == fingerprint(deadlock(order=(1, 0)), ROOT)
    assert fingerprint(inversion(), ROOT) == fingerprint(inversion(rotate=True), ROOT)


@pytest.mark.parametrize("change", [
    {"location": "Counter.total"},
    {"cur_kind": "read"},
    {"prev_kind": "write"},
    {"cur_func": "Counter.decr"},
    {"file": "src/other.py"},
])
def test_fingerprint_distinguishes_races(change):
    assert fingerprint(race(**change), ROOT) != fingerprint(race(), ROOT)


def test_fingerprint_distinguishes_leaks_and_kinds():
    assert fingerprint(leak(blocked_in="Chan.send"), ROOT) != fingerprint(leak(), ROOT)
    kinds = {fingerprint(x, ROOT) for x in (race(), leak(), deadlock(), inversion())}
    assert len(kinds) == 4


def test_fingerprint_is_relative_to_root():
    # The same project checked out elsewhere (another CI runner) gives the same fingerprints.
    assert fingerprint(race(root="/home/ci/work/repo"), "/home/ci/work/repo") == fingerprint(race(), ROOT)
    assert fingerprint(race(), None) != fingerprint(race(), ROOT)


def test_fingerprint_uses_qualname_then_function():
    with_qual = Race("x", 1, Access("write", "t", (Frame("/repo/a.py", 1, "incr", "Counter.incr"),)),
                     Access("read", "u", (Frame("/repo/a.py", 2, "incr", "Counter.incr"),)))
    other_class = Race("x", 1, Access("write", "t", (Frame("/repo/a.py", 1, "incr", "Gauge.incr"),)),
                       Access("read", "u", (Frame("/repo/a.py", 2, "incr", "Gauge.incr"),)))
    no_qual = Race("x", 1, Access("write", "t", (Frame("/repo/a.py", 1, "incr"),)),
                   Access("read", "u", (Frame("/repo/a.py", 2, "incr"),)))
    fps = {fingerprint(r, ROOT) for r in (with_qual, other_class, no_qual)}
    assert len(fps) == 3


def test_fingerprint_with_empty_stacks():
    r = Race("x", 1, Access("write", "t", ()), Access("read", "u", ()))
    assert len(fingerprint(r, ROOT)) == 16


def test_finding_kind():
    assert [finding_kind(x) for x in (race(), leak(), deadlock(), inversion())] == \
        ["data-race", "goroutine-leak", "deadlock", "lock-order-inversion"]
    with pytest.raises(TypeError):
        finding_kind(object())  # type: ignore[arg-type]


def test_iter_findings_order():
    f = Findings(races=[race()], leaks=[leak()], deadlock=deadlock(), lock_order_inversions=[inversion()])
    assert [finding_kind(x) for x in iter_findings(f)] == \
        ["data-race", "goroutine-leak", "deadlock", "lock-order-inversion"]


def test_summaries_have_no_line_numbers():
    assert summary(race(), ROOT) == \
        "data race on Counter.value: read in Counter.incr (src/app.py) / write in Counter.incr (src/app.py)"
    assert summary(leak(), ROOT) == "leak: blocked in Chan.recv at worker (src/app.py)"
    assert summary(deadlock(), ROOT) == \
        "deadlock: Chan.send at produce (a.py); WaitGroup.wait at main (a.py)"
    assert summary(inversion(), ROOT) == \
        "lock-order inversion: Store.get (db.py); Store.put (db.py)"
    assert summary(race(location="list item 0 of <list at 0x7f99>"), ROOT).startswith(
        "data race on list item 0 of <list at 0x?>:")


# --- the baseline file --------------------------------------------------------------------


def all_findings(root=ROOT) -> Findings:
    return Findings(races=[race(root=root), race(root=root, location="Counter.total"),
                           race(root=root, cur_line=80)],  # same fingerprint as the first
                    leaks=[leak(root=root)], deadlock=deadlock(),
                    lock_order_inversions=[inversion()])


def test_write_baseline_format(tmp_path):
    path = tmp_path / "racedet-baseline.json"
    write_baseline(str(path), all_findings(str(tmp_path)))
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    doc = json.loads(text)
    assert text == json.dumps(doc, indent=2, sort_keys=True) + "\n"
    assert doc["version"] == 1 and doc["tool"] == "racedet"
    entries = doc["findings"]
    assert len(entries) == 5  # the two races that differ only by line collapse
    assert [e["kind"] for e in entries] == sorted(e["kind"] for e in entries)
    for e in entries:
        assert set(e) == {"fingerprint", "kind", "summary"}
    races = [e for e in entries if e["kind"] == "data-race"]
    assert [e["summary"] for e in races] == sorted(e["summary"] for e in races)
    assert "src/app.py" in races[0]["summary"] and str(tmp_path) not in text


def test_write_baseline_is_stable_under_reordering_and_shifts(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_baseline(str(a), all_findings(str(tmp_path)))
    shuffled = all_findings(str(tmp_path))
    shuffled.races = [race(42, 41, root=str(tmp_path), location="Counter.total"),
                      race(90, 91, root=str(tmp_path))]
    shuffled.leaks = [leak(70, root=str(tmp_path))]
    write_baseline(str(b), shuffled)
    assert a.read_bytes() == b.read_bytes()


def test_write_baseline_explicit_root(tmp_path):
    path = tmp_path / "ci" / "baseline.json"
    path.parent.mkdir()
    write_baseline(str(path), Findings(races=[race(root=str(tmp_path))]), root=str(tmp_path))
    assert "(src/app.py)" in path.read_text()


def test_write_empty_baseline(tmp_path):
    path = tmp_path / "b.json"
    write_baseline(str(path), Findings())
    assert json.loads(path.read_text()) == {"findings": [], "tool": "racedet", "version": 1}
    assert len(Baseline.load(str(path))) == 0


def test_write_baseline_unwritable(tmp_path):
    path = tmp_path / "missing-dir" / "b.json"
    with pytest.raises(ConfigError, match=r"^cannot write baseline .*b\.json: No such file or directory$"):
        write_baseline(str(path), Findings())
    assert not list(tmp_path.iterdir())


def test_round_trip(tmp_path):
    path = tmp_path / "b.json"
    findings = all_findings(str(tmp_path))
    write_baseline(str(path), findings)
    b = Baseline.load(str(path))
    assert b.root == str(tmp_path) and b.path == str(path)
    assert len(b) == 5
    for f in iter_findings(findings):
        assert b.contains(f)
    assert not b.contains(race(root=str(tmp_path), location="Other.x"))
    assert "5 findings" in repr(b)


# --- bad baseline files -------------------------------------------------------------------


def test_load_missing(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigError) as exc:
        Baseline.load(str(path))
    assert str(exc.value) == f"cannot read baseline {path}: No such file or directory"


def test_load_directory(tmp_path):
    with pytest.raises(ConfigError, match=r"^cannot read baseline "):
        Baseline.load(str(tmp_path))


@pytest.mark.parametrize("content, reason", [
    ("{not json", r"not JSON \("),
    ("", r"not JSON \("),
    ("[]", "expected an object with a 'findings' list"),
    ('{"version": 1}', "expected an object with a 'findings' list"),
    ('{"version": 1, "findings": {}}', "expected an object with a 'findings' list"),
    ('{"version": 2, "findings": []}', r"version 2, expected 1 \(rewrite it with --update-baseline\)"),
    ('{"findings": []}', "version None, expected 1"),
    ('{"version": 1, "findings": [{"summary": "x"}]}', "entry 0 has no fingerprint"),
    ('{"version": 1, "findings": [{"fingerprint": "ab"}, "ab"]}', "entry 1 has no fingerprint"),
    ('{"version": 1, "findings": [{"fingerprint": ""}]}', "entry 0 has no fingerprint"),
])
def test_load_invalid(tmp_path, content, reason):
    path = tmp_path / "baseline.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^invalid baseline {path}: {reason}"):
        Baseline.load(str(path))


def test_load_not_utf8(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_bytes(b'{"version": 1, "findings": ["\xff"]}')
    with pytest.raises(ConfigError, match=r"^invalid baseline .*baseline\.json: not JSON"):
        Baseline.load(str(path))


# --- split_new ----------------------------------------------------------------------------


def test_split_new(tmp_path):
    root = str(tmp_path)
    path = tmp_path / "b.json"
    write_baseline(str(path), Findings(races=[race(root=root)], leaks=[leak(root=root)],
                                       deadlock=deadlock(), lock_order_inversions=[inversion()]))
    b = Baseline.load(str(path))
    new_race = race(root=root, location="Counter.total")
    new_leak = leak(root=root, blocked_in="WaitGroup.wait")
    current = Findings(races=[race(30, 29, root=root), new_race], leaks=[new_leak, leak(3, root=root)],
                       deadlock=None, lock_order_inversions=[inversion(shift=2)], suppressed=4)
    new, known = split_new(current, b)
    assert known == 3
    assert new.races == [new_race] and new.leaks == [new_leak]
    assert new.lock_order_inversions == [] and new.deadlock is None
    assert new.suppressed == 4
    assert len(current.races) == 2  # input untouched


def test_split_new_deadlock(tmp_path):
    b = Baseline(root="/repo")
    new, known = split_new(Findings(deadlock=deadlock()), b)
    assert new.deadlock is not None and known == 0
    b = Baseline([fingerprint(deadlock(), "/repo")], root="/repo")
    new, known = split_new(Findings(deadlock=deadlock(shift=3)), b)
    assert new.deadlock is None and known == 1 and not new


def test_adoption_demo(tmp_path):
    """The README's story: baseline a known race, shift it, add a new one: only the new one fails."""
    root = str(tmp_path)
    path = tmp_path / "racedet-baseline.json"
    known = race(10, 9, root=root)
    write_baseline(str(path), Findings(races=[known]))
    b = Baseline.load(str(path))
    # Unrelated edits moved the known race down by 5 lines; nothing is new: CI green.
    new, n_known = split_new(Findings(races=[race(15, 14, root=root)]), b)
    assert not new and n_known == 1
    # A new race on another attribute: CI red, one annotation, on the new line only.
    introduced = race(40, 38, root=root, location="Counter.hits", cur_func="Counter.hit",
                      prev_func="Counter.hit")
    new, n_known = split_new(Findings(races=[race(15, 14, root=root), introduced]), b)
    assert new.races == [introduced] and n_known == 1
    assert github_annotations(new, root) == [
        "::error file=src/app.py,line=40,title=DATA RACE::Write of Counter.hits by goroutine-3 "
        "races with previous read by goroutine-2 at src/app.py:38"]


def test_baseline_entries_dedupe():
    entries = baseline_entries(Findings(races=[race(), race(50, 49)]), ROOT)
    assert len(entries) == 1
