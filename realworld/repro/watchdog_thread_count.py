"""racedet's deadlock watchdog is a thread the program can count
(CPython's test_threading: BarrierTests.test_abort_and_reset fails with
"wait_threads() failed to cleanup 1 threads after 30 seconds").

    python realworld/repro/watchdog_thread_count.py             # extra threads: 0
    python -m racedet realworld/repro/watchdog_thread_count.py  # extra threads: 1

The first indefinite wait (here Event.wait()) starts racedet's watchdog
with _thread.start_new_thread, so _thread._count(), which CPython's
test.support.threading_helper (wait_threads_exit, threading_cleanup,
reap_threads) compares before and after a test, is one higher for good.
threading.enumerate() does not show it; _thread._count() must not either.
"""

import _thread
import threading
import time

before = _thread._count()
done = threading.Event()
t = threading.Thread(target=lambda: (time.sleep(0.3), done.set()))  # main really blocks
t.start()
done.wait()
t.join()
print("extra threads:", _thread._count() - before)
