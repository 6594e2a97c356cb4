"""Tests of racedet.report.annotations: GitHub Actions ``::error`` workflow commands."""

from __future__ import annotations

import pytest

from racedet.model import (Access, BlockedThread, Deadlock, Findings, Frame, LockAcquisition,
                           LockOrderInversion, Race)
from racedet.report.annotations import (annotation, escape_data, escape_property, github_annotations,
                                        message, primary_frame, title)

ROOT = "/repo"


def F(file: str, line: int, qualname: str) -> Frame:
    return Frame(file, line, qualname.rsplit(".", 1)[-1], qualname)


def race(file="/repo/src/app.py", location="Counter.value") -> Race:
    return Race(location, 0x7F00,
                Access("write", "goroutine-3", (F(file, 10, "Counter.incr"), F(file, 20, "main"))),
                Access("read", "goroutine-2", (F(file, 9, "Counter.incr"),)))


def test_race_line_exactly():
    assert github_annotations(Findings(races=[race()]), ROOT) == [
        "::error file=src/app.py,line=10,title=DATA RACE::Write of Counter.value by goroutine-3 "
        "races with previous read by goroutine-2 at src/app.py:9"]


def test_leak_line():
    lk = BlockedThread("goroutine-5", "Chan.recv", (F("/repo/src/app.py", 7, "worker"),),
                       (F("/repo/src/app.py", 30, "main"),))
    assert github_annotations(Findings(leaks=[lk]), ROOT) == [
        "::error file=src/app.py,line=7,title=GOROUTINE LEAK::goroutine-5 is still blocked in "
        "Chan.recv at exit (created at src/app.py:30)"]


def test_leak_in_a_test_and_running_thread():
    lk = BlockedThread("Thread-1 (spin)", "running", (F("/repo/t.py", 3, "spin"),),
                       test="tests/test_x.py::test_spin")
    assert message(lk, ROOT) == "Thread-1 (spin) is still running when test tests/test_x.py::test_spin ended"
    # ':' in the message needs no escaping (only in properties).
    assert annotation(lk, ROOT).endswith("::Thread-1 (spin) is still running when test "
                                         "tests/test_x.py::test_spin ended")


def test_deadlock_line():
    dl = Deadlock((BlockedThread("MainThread", "WaitGroup.wait", (F("/repo/a.py", 40, "main"),)),
                   BlockedThread("goroutine-1", "Chan.send", (F("/repo/a.py", 44, "produce"),))))
    assert github_annotations(Findings(deadlock=dl), ROOT) == [
        "::error file=a.py,line=40,title=DEADLOCK::all goroutines are asleep - deadlock! "
        "MainThread in WaitGroup.wait at a.py:40; goroutine-1 in Chan.send at a.py:44"]


def test_deadlock_primary_is_first_thread_with_a_stack():
    dl = Deadlock((BlockedThread("a", "select", ()),
                   BlockedThread("b", "Chan.send", (F("/repo/a.py", 44, "produce"),))))
    assert primary_frame(dl) == F("/repo/a.py", 44, "produce")
    assert "a in select at an unknown line" in message(dl, ROOT)


def test_lock_order_line():
    inv = LockOrderInversion((
        LockAcquisition("Lock A", "Lock B", "t1", (F("/repo/db.py", 10, "put"),), (F("/repo/db.py", 9, "put"),)),
        LockAcquisition("Lock B", "Lock A", "t2", (F("/repo/db.py", 20, "get"),)),
    ))
    assert github_annotations(Findings(lock_order_inversions=[inv]), ROOT) == [
        "::error file=db.py,line=10,title=LOCK-ORDER INVERSION::potential deadlock: lock-order "
        "inversion: t1 acquired Lock B at db.py:10 while holding Lock A; "
        "t2 acquired Lock A at db.py:20 while holding Lock B"]


def test_one_line_per_finding_in_report_order():
    lk = BlockedThread("g", "Chan.recv", (F("/repo/a.py", 1, "w"),))
    dl = Deadlock((BlockedThread("m", "Lock.acquire", (F("/repo/a.py", 2, "m"),)),))
    inv = LockOrderInversion((LockAcquisition("A", "B", "t", (F("/repo/a.py", 3, "f"),)),))
    lines = github_annotations(Findings(races=[race(), race(location="Counter.total")], leaks=[lk],
                                        deadlock=dl, lock_order_inversions=[inv]), ROOT)
    assert [ln.split("title=")[1].split("::")[0] for ln in lines] == [
        "DATA RACE", "DATA RACE", "GOROUTINE LEAK", "DEADLOCK", "LOCK-ORDER INVERSION"]
    assert all(ln.startswith("::error ") and "\n" not in ln for ln in lines)


def test_empty():
    assert github_annotations(Findings(), ROOT) == []


def test_titles():
    assert title(race()) == "DATA RACE"


# --- escaping -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw, data, prop", [
    ("plain", "plain", "plain"),
    ("100%", "100%25", "100%25"),
    ("a\nb\r\nc", "a%0Ab%0D%0Ac", "a%0Ab%0D%0Ac"),
    ("C:\\x,y", "C:\\x,y", "C%3A\\x%2Cy"),
    ("%0A", "%250A", "%250A"),  # '%' first, so escapes are not double-decoded
])
def test_escaping(raw, data, prop):
    assert escape_data(raw) == data
    assert escape_property(raw) == prop


def test_escaped_paths_and_messages():
    r = race(file="/repo/odd,dir/a:b%.py", location="list item 0\nof x, 100%")
    (line,) = github_annotations(Findings(races=[r]), ROOT)
    head, _, msg = line.partition("::")[2].partition("::")
    assert head == "error file=odd%2Cdir/a%3Ab%25.py,line=10,title=DATA RACE"
    assert msg.startswith("Write of list item 0%0Aof x, 100%25 by goroutine-3")
    assert msg.endswith("at odd,dir/a:b%25.py:9")


# --- paths and missing stacks -------------------------------------------------------------


def test_paths_outside_root_stay_absolute():
    (line,) = github_annotations(Findings(races=[race(file="/usr/lib/x.py")]), ROOT)
    assert line.startswith("::error file=/usr/lib/x.py,line=10,")


def test_no_root():
    (line,) = github_annotations(Findings(races=[race()]))
    assert line.startswith("::error file=/repo/src/app.py,line=10,")


def test_finding_without_stack_has_no_file():
    r = Race("x", 1, Access("write", "t1", ()), Access("read", "t2", ()))
    assert github_annotations(Findings(races=[r]), ROOT) == [
        "::error title=DATA RACE::Write of x by t1 races with previous read by t2 at an unknown line"]
