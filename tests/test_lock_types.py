"""Lock and RLock through every entry point of their models, on both access cores.

Under the compiled core, user locks are instances of classes on
racedet._access's LockCore/RLockCore (acquire, release, ``with`` and locked
are one C call each); under the pure-Python core, of the Python models.
Each way of taking and giving back a lock orders the sections it guards
(no report), and the same program with the lock taken in one thread only
is reported at its two lines.  ``two(a, b)`` runs a then b with no edge of
its own, so only the lock can order them.
"""

from __future__ import annotations

import pytest

from helpers import CORES, TWO, expect_no_race, expect_race

#: (take, give back) around ``box.n += 1``, as user code writes them.
WAYS = {
    "with Lock": ("lk = threading.Lock()", "with lk:", None),
    "acquire/release": ("lk = threading.Lock()", "lk.acquire()", "lk.release()"),
    "try-lock": ("lk = threading.Lock()", "assert lk.acquire(False)", "lk.release()"),
    "timeout": ("lk = threading.Lock()", "assert lk.acquire(True, 5)", "lk.release()"),
    "keywords": ("lk = threading.Lock()", "assert lk.acquire(blocking=True, timeout=-1)", "lk.release()"),
    "with RLock": ("lk = threading.RLock()", "with lk:", None),
    "RLock nested": ("lk = threading.RLock()", "lk.acquire(); lk.acquire(); lk.release()", "lk.release()"),
    "Condition on Lock": ("lk = threading.Condition(threading.Lock())", "with lk:", None),
    "type(lock)() on RLock": ("lk = type(threading.RLock())()", "with lk:", None),
}


def _program(way: str, locked_in_b: bool) -> str:
    make, take, give = WAYS[way]
    def section(name: str, guarded: bool) -> str:
        if give is None:
            body = f"    {take}\n        box.n += 1  # R\n" if guarded else "    box.n += 1  # R\n"
        elif guarded:
            body = f"    {take}\n    box.n += 1  # R\n    {give}\n"
        else:
            body = "    box.n += 1  # R\n"
        return f"def {name}():\n{body}"
    return (TWO + f"\nclass Box:\n    n = 0\n\nbox = Box()\n{make}\n\n"
            + section("a", True) + "\n" + section("b", locked_in_b)
            + "\ntwo(a, b)\nassert box.n == 2\n")


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("way", sorted(WAYS))
def test_locked_sections_are_ordered(tmp_path, core, way):
    expect_no_race(tmp_path, _program(way, True), core)


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("way", sorted(WAYS))
def test_unlocked_twin_is_reported(tmp_path, core, way):
    expect_race(tmp_path, _program(way, False), core)


@pytest.mark.parametrize("core", CORES)
def test_failed_try_lock_gives_no_edge(tmp_path, core):
    # b's try-lock fails (a still holds the lock): b's write is unordered with a's.
    src = TWO + """
import _thread
class Box:
    n = 0
box = Box()
lk = threading.Lock()
done = threading._allocate_lock()
done.acquire()

def a():
    lk.acquire()
    box.n += 1  # R

def b():
    assert not lk.acquire(False)
    assert not lk.acquire(timeout=0)
    box.n += 1  # R

two(a, b)
lk.release()
"""
    expect_race(tmp_path, src, core)
