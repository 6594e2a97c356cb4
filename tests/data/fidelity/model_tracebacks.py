"""Exceptions raised through the models, caught and printed by the program: the same tracebacks as under python."""

import sys, threading, queue, traceback, concurrent.futures as cf

def show(fn):
    try:
        fn()
    except BaseException as e:
        traceback.print_exc(file=sys.stdout)
        return e

def q_get():
    queue.Queue().get(timeout=0.01)

def q_put():
    q = queue.Queue(1); q.put(1)
    q.put(2, timeout=0.01)

def q_nowait():
    queue.Queue().get_nowait()

def lock_release():
    threading.Lock().release()

def lock_exit():
    l = threading.Lock()
    with l:
        l.release()

def rlock_release():
    threading.RLock().release()

def bsem():
    s = threading.BoundedSemaphore(1)
    s.release()

def sem_bad():
    threading.Semaphore(1).acquire(False, 1)

def cond_notify():
    threading.Condition().notify()

def cond_wait():
    threading.Condition().wait()

def barrier():
    b = threading.Barrier(2)
    b.abort()
    b.wait()

def acquire_bad():
    threading.Lock().acquire(timeout=-5)

def thread_twice():
    t = threading.Thread(target=lambda: None)
    t.start(); t.join()
    t.start()

def join_unstarted():
    threading.Thread(target=lambda: None).join()

def fut():
    def boom():
        raise ValueError("boom")
    with cf.ThreadPoolExecutor(1) as ex:
        ex.submit(boom).result()

def fut_timeout():
    with cf.ThreadPoolExecutor(1) as ex:
        ev = threading.Event()
        f = ex.submit(ev.wait)
        try:
            f.result(timeout=0.01)
        finally:
            ev.set()

def subclass():
    class X(threading.Lock):
        pass

class T(threading.Thread):
    def __init__(self):
        pass

def uninit_start():
    T().start()

def uninit_join():
    T().join()

errs = []
for f in (q_get, q_put, q_nowait, lock_release, lock_exit, rlock_release, bsem, sem_bad, cond_notify, cond_wait,
          barrier, acquire_bad, thread_twice, join_unstarted, fut, fut_timeout, subclass, uninit_start, uninit_join):
    print("==", f.__name__)
    errs.append(show(f))
if sys.version_info >= (3, 11):
    print("== group")
    try:
        raise ExceptionGroup("several", [e for e in errs if isinstance(e, Exception)][:5])
    except ExceptionGroup:
        traceback.print_exc(file=sys.stdout)

print("== interrupted join")
class Interrupting(threading.Condition):
    def wait(self, timeout=None):
        raise KeyboardInterrupt

q = queue.Queue()
q.put(1)
q.all_tasks_done = Interrupting(q.mutex)
show(q.join)
