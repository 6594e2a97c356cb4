# An uncaught exception in a thread of _thread.start_new_thread goes to
# sys.unraisablehook naming the function the program started (CPython's
# test_thread: test_unraisable_exception); SystemExit ends the thread silently.
# The main thread waits for the count of threads to drop, as CPython's
# threading_helper.wait_threads_exit does: that orders it after the thread.
import _thread
import sys
import time

seen = []
started = _thread.allocate_lock()


def task():
    started.release()
    raise ValueError("task failed")


def quiet():
    started.release()
    raise SystemExit(3)


def start(fn):
    started.acquire()
    _thread.start_new_thread(fn, ())
    started.acquire()           # it runs
    started.release()


def wait_for_threads(before):
    while _thread._count() > before:
        time.sleep(0.001)


before = _thread._count()
sys.unraisablehook = seen.append
start(task)
wait_for_threads(before)
sys.unraisablehook = sys.__unraisablehook__
u = seen[0]
print(type(u.exc_value).__name__, u.exc_value, u.object is task or u.object, u.err_msg)
print([f.name for f in __import__("traceback").extract_tb(u.exc_traceback)])
start(quiet)
wait_for_threads(before)
start(task)                     # the default hook prints it to stderr
wait_for_threads(before)
print("end")
