"""A notify lost by racedet's interruptible Condition.wait (pytest --race only).

    pytest --race realworld/repro/test_condition_slice_lost_wakeup.py     # fails: DEADLOCK
    pytest realworld/repro/test_condition_slice_lost_wakeup.py            # passes

Under pytest, a test's thread waits in slices so that a deadlock can be
interrupted: ``blocking.wait_for`` calls ``threading.Condition.wait(SLICE)``
again and again.  When a slice times out while the notifier holds the
condition's lock, the waiter is still in ``_waiters`` while it re-acquires
the lock; the notifier's notify_all() releases that stale waiter, the slice
returns False, and wait_for starts a new slice with a new waiter that no one
will ever notify.  The program's own loop (``while not flag``) never gets
to look at the flag: the wait hangs, and racedet then declares a deadlock
(plain python returns from wait() and the test passes).

Seen as: pykka 4.5.0 (37 tests fail with "all goroutines are asleep" when
the machine is loaded), and it is the shape of janus 2.0.0's and fasteners
0.20's hangs (issue 11, section 1).  The hold below (longer than a slice)
only forces the interleaving that load produces by chance.
"""

import threading
import time


def test_notify_while_waiter_reacquires():
    cond = threading.Condition()
    state = {"flag": False}

    def notifier():
        while True:  # until the test's thread is inside cond.wait()
            with cond:
                if cond._waiters:
                    break
            time.sleep(0.001)
        with cond:
            time.sleep(0.3)  # longer than racedet's wait slice (0.05 s)
            state["flag"] = True
            cond.notify_all()

    t = threading.Thread(target=notifier)
    t.start()
    with cond:
        while not state["flag"]:
            cond.wait()
    t.join()
