"""A Future made by user code: add_done_callback, then set_result in another thread
(pebble 5.2.3's map_results: cell 'futures'; issue 10 section 3).

    python -m racedet realworld/repro/user_future_callback.py

Everything before add_done_callback() happens before the callback runs,
and everything before set_result() happens before the callback and before
result() returns.  Only futures of racedet's modelled executors get these
edges today, so the callback's read of the cell written before
add_done_callback() is reported.  Expected clean.
"""

import queue
import threading
import time
from concurrent.futures import Future


def map_results(futures):
    done = []

    def done_map(_):
        done.append(len(futures))   # read of the cell 'futures'

    for f in futures:
        f.add_done_callback(done_map)
    return done


def worker(tasks):
    f = tasks.get()                 # the future reaches the worker first
    time.sleep(0.3)                 # forces the interleaving; creates no edge
    f.set_result(1)                 # runs done_map here


def main():
    tasks = queue.Queue()
    t = threading.Thread(target=worker, args=(tasks,))
    t.start()
    f = Future()
    tasks.put(f)
    futures = [f]                   # the cell is written after the hand-off
    done = map_results(futures)
    assert f.result() == 1
    t.join()
    print("ok", done)


main()
