"""Threads of ``_thread.start_new_thread``, ordered by ``_thread`` locks and by ``_thread._count()``.

Code written against ``_thread`` (CPython's test_thread, older libraries)
orders its threads with ``_thread.allocate_lock()`` and waits for them by
polling the thread count (``test.support.threading_helper.wait_threads_exit``).
Both are synchronization: a lock user code allocates is a ``threading.Lock``,
and a read of the count that sees a thread's end is ordered after it.
"""

from __future__ import annotations

import pytest

from helpers import CORES, expect_no_race, expect_race

LOCKED = """
import _thread
import threading

class Box:
    pass

box = Box()
box.n = 0
mutex = _thread.allocate_lock()
done = threading._allocate_lock()      # raw: the end orders nothing
done.acquire()

def task():
    with mutex:
        box.n += 1{task_mark}
    done.release()

with mutex:
    _thread.start_new_thread(task, ())
    {main_inc}
done.acquire()
with mutex:
    print(box.n){main_mark}
"""

COUNTED = """
import _thread
import threading
import time

class Box:
    pass

box = Box()
started = _thread.allocate_lock()
stay = threading.Event()
other = threading.Thread(target=stay.wait)      # a second thread throughout
other.start()
before = _thread._count()

def task():
    started.release()
    box.x = 1                                   # R

started.acquire()
_thread.start_new_thread(task, ())
started.acquire()
{early}while _thread._count() > before:
    time.sleep(0.001)
print(box.x)
stay.set()
other.join()
"""


@pytest.mark.parametrize("core", CORES)
def test_allocate_lock_orders_raw_threads(tmp_path, core):
    expect_no_race(tmp_path, LOCKED.format(task_mark="", main_mark="", main_inc="box.n += 1"), core)


@pytest.mark.parametrize("core", CORES)
def test_allocate_lock_racy_twin(tmp_path, core):
    src = LOCKED.replace("    with mutex:\n        box.n += 1{task_mark}", "    box.n += 1  # R")
    src = src.format(main_mark="  # R", main_inc="pass")
    expect_race(tmp_path, src, core)


@pytest.mark.parametrize("core", CORES)
def test_stdlib_allocate_lock_stays_raw(tmp_path, core):
    # importlib's module locks come from _thread.allocate_lock too: no model for them.
    src = """
import _thread, importlib._bootstrap as b
import threading
print(type(b._ModuleLock("m").lock) is threading._allocate_lock().__class__)
"""
    res = expect_no_race(tmp_path, src, core)
    assert res.stdout.strip() == "True"


@pytest.mark.parametrize("core", CORES)
def test_thread_count_dropping_orders_after_the_thread(tmp_path, core):
    src = COUNTED.format(early="").replace("  # R", "")
    res = expect_no_race(tmp_path, src, core)
    assert res.stdout.strip() == "1"


@pytest.mark.parametrize("core", CORES)
def test_thread_count_racy_twin(tmp_path, core):
    # The read before the wait is unordered with the thread's write, whichever runs first.
    expect_race(tmp_path, COUNTED.format(early="print(getattr(box, 'x', 0))   # R\n"), core)
