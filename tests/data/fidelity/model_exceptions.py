"""Exceptions through the models: tracebacks, frozen exception classes, SimpleQueue, ExceptionGroup members."""

import _thread
import concurrent.futures as cf
import dataclasses
import queue
import sys
import threading
import traceback


@dataclasses.dataclass(frozen=True)
class Frozen(Exception):
    what: str = ""


class Watched(Exception):
    """Says so if anything sets an attribute on it (python sets __traceback__ below __setattr__)."""

    def __setattr__(self, name, value):
        print("  setattr", name)
        super().__setattr__(name, value)


def show(fn):
    try:
        fn()
    except BaseException as e:
        traceback.print_exc(file=sys.stdout)
        return e


def raiser(exc):
    def f(*args):
        raise exc
    return f


def fut_frozen():
    with cf.ThreadPoolExecutor(1) as ex:
        ex.submit(raiser(Frozen("task"))).result()


def fut_watched():
    with cf.ThreadPoolExecutor(1) as ex:
        f = ex.submit(raiser(Watched("task")))
        print("  exception():", repr(f.exception()))
        f.result()


def fut_user_made():
    f = cf.Future()
    f.set_exception(Frozen("set"))
    f.result()


class Refusing(queue.Queue):
    def _put(self, item):
        raise Frozen("put")


def queue_put_frozen():
    Refusing().put(1)


def queue_instance_put():
    q = queue.Queue()
    q._put = raiser(Watched("instance _put"))
    q.put(1)


def cond_wait_for():
    c = threading.Condition()
    with c:
        c.wait_for(raiser(Frozen("predicate")))


def sq_timeout():
    queue.SimpleQueue().get(timeout=0.01)


def sq_nowait():
    queue.SimpleQueue().get_nowait()


def sq_nonblocking():
    queue.SimpleQueue().get(False)


def sq_negative():
    queue.SimpleQueue().get(True, -1)


def q_timeout():
    queue.Queue().get(True, 0.01)


def q_full():
    q = queue.Queue(1)
    q.put(0)
    q.put_nowait(1)


def bsem_over():
    threading.BoundedSemaphore(2).release()


def sem_bad():
    threading.Semaphore(-1)


def barrier_broken():
    b = threading.Barrier(1, action=raiser(Frozen("action")))
    b.wait()


def thread_frozen():
    t = threading.Thread(target=raiser(Frozen("in thread")))
    t.start()
    t.join()


def thread_watched():
    t = threading.Thread(target=raiser(Watched("in thread")))
    t.start()
    t.join()


def start_new_thread_frozen():
    done = threading.Event()

    def hook(args):
        print("  unraisable:", type(args.exc_value).__name__, args.exc_value,
              [f.name for f in traceback.extract_tb(args.exc_traceback)])
        done.set()

    old, sys.unraisablehook = sys.unraisablehook, hook
    try:
        _thread.start_new_thread(raiser(Frozen("started")), ())
        done.wait()
    finally:
        sys.unraisablehook = old


def excepthook_frozen():
    seen = threading.Event()

    def hook(args):
        print("  excepthook:", type(args.exc_value).__name__,
              [f.name for f in traceback.extract_tb(args.exc_traceback)])
        seen.set()

    old, threading.excepthook = threading.excepthook, hook
    try:
        t = threading.Thread(target=raiser(Frozen("hooked")))
        t.start()
        t.join()
    finally:
        threading.excepthook = old


errs = []
for f in (fut_frozen, fut_watched, fut_user_made, queue_put_frozen, queue_instance_put, cond_wait_for,
          sq_timeout, sq_nowait, sq_nonblocking, sq_negative, q_timeout, q_full, bsem_over, sem_bad,
          barrier_broken, thread_frozen, thread_watched, start_new_thread_frozen, excepthook_frozen):
    print("==", f.__name__, flush=True)
    errs.append(show(f))
    sys.stdout.flush()

if sys.version_info >= (3, 11):
    caught = [e for e in errs if isinstance(e, Exception)]
    print("== group of", len(caught))
    try:
        try:
            raise ExceptionGroup("inner", caught[:3])
        except ExceptionGroup as inner:
            raise ExceptionGroup("outer", [inner] + caught[3:])
    except ExceptionGroup:
        traceback.print_exc(file=sys.stdout)
    print("== except*")
    try:
        try:
            raise ExceptionGroup("star", caught)
        except* queue.Empty as g:
            print("  Empty:", len(g.exceptions))
            traceback.print_exception(g, file=sys.stdout)
        except* Frozen as g:
            print("  Frozen:", len(g.exceptions))
    except ExceptionGroup as rest:
        print("  rest:", len(rest.exceptions))

print("== uncaught")
sys.stdout.flush()
raise Frozen("uncaught")
