"""A program never hangs under racedet where it does not under python.

An interruptible wait (a test's non-daemon threads under ``pytest --race``)
wakes every ``blocking.SLICE`` to look for a deadlock abort.  It used to
wait in slices of ``cond.wait(SLICE)``: a notify landing just after a slice
timed out was taken by the timed-out waiter, and the wait went on for good
(janus' ``join`` after ``close``, fasteners' writers).  These programs force
that interleaving: the notifier holds the condition's lock until the waiter
has been through several slices (or, with the old slicing, is queued to
re-acquire the lock), then notifies once.
"""

from __future__ import annotations

import pytest

from helpers import CORES, run_racedet

#: Counts the waiter's slices through ``blocking.wait_for``; ``progress`` is
#: released once it has been through three of them, or when it queues up to
#: re-acquire the lock in the middle of its wait (what the old slicing did).
HARNESS = """
import _thread, sys, threading
from racedet import blocking, engine

blocking.SLICE = 0.001
real_wait_for = blocking.wait_for
progress = threading._allocate_lock()
progress.acquire()
waiter_ident = []
slices = [0]

def counting_wait_for(what, waitfn, timeout=None, ready=None, obj=None):
    if _thread.get_ident() not in waiter_ident:
        return real_wait_for(what, waitfn, timeout, ready, obj)
    if what == "Lock.acquire" and progress.locked():
        progress.release()

    def counted(t):
        r = waitfn(t)
        slices[0] += 1
        if slices[0] == 3 and progress.locked():
            progress.release()
        return r

    return real_wait_for(what, counted, timeout, ready, obj)

blocking.wait_for = counting_wait_for
results = []

def start_waiter(body):
    entered = threading._allocate_lock()
    entered.acquire()

    def run():
        waiter_ident.append(_thread.get_ident())
        blocking.set_interruptible(engine.current(), True)
        body(entered)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, entered

def finish(t):
    t.join(10)
    print(results, "hung" if t.is_alive() else "woken")
"""

CONDITION = HARNESS + """
lock = threading.{kind}()
cond = threading.Condition(lock)

def body(entered):
    with cond:
        entered.release()       # main cannot notify before this wait: it needs the lock
        results.append(cond.wait())

t, entered = start_waiter(body)
entered.acquire()
with cond:
    progress.acquire(True, 10)
    cond.{notify}()
finish(t)
"""

EVENT_PULSE = HARNESS + """
ev = threading.Event()

def body(entered):
    entered.release()
    results.append(ev.wait())

t, entered = start_waiter(body)
entered.acquire()
with ev._cond:
    progress.acquire(True, 10)
    # set(); clear() in one step: a waiter already waiting is woken with True
    ev._flag = True
    ev._cond.notify_all()
    ev._flag = False
finish(t)
"""


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("kind", ["Lock", "RLock"])
@pytest.mark.parametrize("notify", ["notify", "notify_all"])
def test_notify_after_a_slice_is_not_lost(tmp_path, core, kind, notify):
    res = run_racedet(tmp_path, CONDITION.format(kind=kind, notify=notify), extra_env={"RACEDET_CORE": core})
    assert res.returncode == 0, res.stderr
    assert res.stdout == "[True] woken\n"
    assert res.races == []


@pytest.mark.parametrize("core", CORES)
def test_event_pulse_after_a_slice_is_not_lost(tmp_path, core):
    res = run_racedet(tmp_path, EVENT_PULSE, extra_env={"RACEDET_CORE": core})
    assert res.returncode == 0, res.stderr
    assert res.stdout == "[True] woken\n"


def test_interruptible_waiters_still_deadlock(tmp_path):
    # Interruptible waiters on a condition nobody notifies: a deadlock.  Their
    # slices used to re-acquire and release the lock, each a wake-up for the
    # others, so the watchdog never saw them still (fasteners' hang was silent).
    res = run_racedet(tmp_path, """
        import threading
        from racedet import blocking, engine

        cond = threading.Condition()

        def writer():
            blocking.set_interruptible(engine.current(), True)
            with cond:
                cond.wait()

        ts = [threading.Thread(target=writer, name=f"w{i}", daemon=True) for i in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    """, timeout=30)
    assert res.returncode == 2, res.stderr
    blocked = sorted(t["blocked_in"] for t in res.report["deadlock"]["threads"])
    assert blocked == ["Condition.wait"] * 3 + ["Thread.join"]


@pytest.mark.parametrize("core", CORES)
def test_soak_short(tmp_path, core):
    # The short run of tests/soak_hangs.py (the long one: run it by hand with
    # a few thousand rounds): every round's wake-ups reach their waiters.
    from helpers import ROOT

    res = run_racedet(tmp_path, None, "400", script=ROOT / "tests" / "soak_hangs.py",
                      extra_env={"RACEDET_CORE": core}, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout == "400 rounds, no hang\n"
    assert res.races == []
