"""Model of the queue module: ``put`` happens before the ``get`` that receives that item.

Each queue keeps, beside its items, the clock of every pending put, keyed by
the item's identity (the queue holds the item, so the identity is stable
while it waits).  Two puts of the very same object share one entry whose
clock joins both: a get of it is then ordered after both puts, which can hide
a race but never invents one.  The queue's own mutex and conditions stay raw
(see :mod:`racedet.models.locks`), so a get is not ordered after puts of
other items, whatever the timing.

A bounded queue is also a counting semaphore: ``Queue(maxsize=N)`` lets the
(k+N)-th put complete only after the k-th get made room, so the k-th get
happens before the (k+N)-th put returns (as for a buffered channel of
capacity N: ``Queue(1)`` used as a mutex, put to enter and get to leave, is
a lock).  Each get leaves its clock under its number; the put N numbers
later takes it.  Only that one edge: a put is not ordered after other gets.

The mutex and its conditions become edges where user code is involved
(:mod:`racedet.models.stdlocks`): user code that takes ``q.mutex``,
``q.not_empty``, ``q.not_full`` or ``q.all_tasks_done`` itself is ordered
with every other such section, and a subclass with its own ``_put``,
``_get`` or ``_qsize`` (run under the mutex by ``put``/``get``) has all its
sections ordered by the mutex, as its user code needs.

Every copy of the module the program loads gets the same models
(:func:`model_module`: importlib.reload, or test.support's
import_fresh_module as CPython's test_queue uses): the classes are built
over that copy's own classes, exceptions and globals.
"""

from __future__ import annotations

import _thread
import queue
import weakref
from types import ModuleType
from typing import Any, Dict, List, Optional, Tuple

from racedet import blocking, engine, frames
from racedet.clock import join_into
from racedet.models import reimports, stdlocks
from racedet.sidetable import SideTable

#: The classes a copy of the queue module has, which the models replace.
_MODELLED = ("Queue", "LifoQueue", "PriorityQueue", "SimpleQueue")
_orig = {name: getattr(queue, name) for name in _MODELLED}


class _Handoff(_thread._local):
    """What a thread's put/get hands to the ``_put``/``_get`` they run under the queue's mutex.

    The clock work happens outside the mutex: ``put`` takes its snapshot
    before, ``get`` acquires the item's clock after.  Python code run while
    holding the mutex can be preempted there, and then every other producer
    and consumer blocks on the mutex, so that time is kept short.
    """

    put_vc: Optional[dict] = None     # the snapshot of the put under way
    in_put = False                    # a modelled put() is under way...
    freed_vc: Optional[dict] = None   # ...and the clock of the get that made room for it
    in_get = False                    # a modelled get() is under way...
    got_vc: Optional[dict] = None     # ...and this is the clock of the item it took
    get_vc: Optional[dict] = None     # the snapshot of the get under way (bounded queues)


_handoff = _Handoff()


def _record(clocks: dict, item: Any, vc: dict) -> None:
    ent = clocks.get(id(item))
    if ent is None:
        clocks[id(item)] = [1, vc]
    else:
        ent[0] += 1
        join_into(ent[1], vc)


def _take(clocks: dict, item: Any) -> Optional[dict]:
    """The clock to acquire for ``item`` (the queue's mutex is held)."""
    ent = clocks.get(id(item))
    if ent is None:
        return None
    ent[0] -= 1
    if ent[0] <= 0:
        del clocks[id(item)]
        return ent[1]
    return dict(ent[1])   # still shared with a later put of the same object: a copy


class _QueueState:
    """What racedet keeps about one queue (beside it: the queue gets no attributes)."""

    __slots__ = ("clocks", "puts", "gets", "freed", "done")

    def __init__(self) -> None:
        self.clocks: dict = {}               # id(item) -> [count, clock] of the pending puts
        self.puts = 0                        # how many _put / _get ran (bounded queues: the semaphore's count)
        self.gets = 0
        self.freed: Optional[dict] = None    # get number -> its clock, for the put maxsize later
        self.done: Optional[engine.SyncVar] = None   # task_done -> join


_states: SideTable[_QueueState] = SideTable(_QueueState)


#: Per class made over a copy of the queue module: that copy's (Empty, Full).  Kept
#: here, not as class attributes, so that ``dir(q)`` is python's.
_copy_exceptions: Dict[type, Tuple[type, type]] = {}
_exceptions_of_type: Dict[type, Tuple[type, type]] = {}


def _exceptions(q: Any) -> Tuple[type, type]:
    """The (Empty, Full) of the queue module copy ``q``'s class was made over."""
    t = type(q)
    r = _exceptions_of_type.get(t)
    if r is None:
        r = next((_copy_exceptions[c] for c in t.__mro__ if c in _copy_exceptions),
                 (queue.Empty, queue.Full))
        _exceptions_of_type[t] = r
    return r


def _room_taken(q: Any, st: _QueueState, h: _Handoff) -> None:
    """This put is number p: the get number p - maxsize made its room (mutex held)."""
    p = st.puts
    st.puts = p + 1
    freed = st.freed
    if freed:
        vc = freed.pop(p - q.maxsize, None)  # type: ignore[attr-defined]
        if vc is not None:
            if h.in_put:
                h.freed_vc = vc
            else:
                engine.acquire_clock(vc)   # _put called directly, not by put()


def _room_made(q: Any, st: _QueueState, h: _Handoff) -> None:
    """This get is number g: leave its clock for the put number g + maxsize (mutex held)."""
    g = st.gets
    st.gets = g + 1
    vc = h.get_vc
    h.get_vc = None
    if g + q.maxsize < st.puts:  # type: ignore[attr-defined]
        return   # items left otherwise (q.queue.clear()): that put is past
    if vc is None:
        vc = engine.snapshot()   # _get called directly, not by get()
    freed = st.freed
    if freed is None:
        freed = st.freed = {}
    freed[g] = vc


class _ItemEdges:
    """Mixin for Queue and its subclasses: ``_put``/``_get`` run under the queue's mutex.

    It adds no name python's Queue lacks (``dir(q)`` is the program's): its
    helpers are this module's functions.
    """

    def _put(self, item: Any) -> None:
        if engine.TRACKING:
            h = _handoff
            vc = h.put_vc
            if vc is None:
                vc = engine.snapshot()   # _put called directly, not by put()
            else:
                h.put_vc = None
            st = _states.of(self)
            if st is not None:
                _record(st.clocks, item, vc)
                if self.maxsize > 0:  # type: ignore[attr-defined]
                    _room_taken(self, st, h)
        super()._put(item)  # type: ignore[misc]



    def _get(self) -> Any:
        item = super()._get()  # type: ignore[misc]
        if engine.TRACKING:
            h = _handoff
            if self.maxsize > 0:  # type: ignore[attr-defined]
                st = _states.of(self)
                if st is not None:
                    _room_made(self, st, h)
            else:
                st = _states.get(self)
            clocks = st.clocks if st is not None else None
            if clocks:
                vc = _take(clocks, item)
                if vc is not None:
                    if h.in_get:
                        h.got_vc = vc
                    else:
                        engine.acquire_clock(vc)   # _get called directly, not by get()
        return item

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        h = _handoff
        h.in_get = True
        if engine.TRACKING and self.maxsize > 0:  # type: ignore[attr-defined]
            h.get_vc = engine.snapshot()
        try:
            item = _get_item(self, block, timeout)
        except BaseException as e:
            frames.hide_own(e)   # queue.Empty shows queue.py's get, as under python
            raise
        finally:
            h.in_get = False
            h.get_vc = None     # unused if the get failed
            vc = h.got_vc
            h.got_vc = None
        blocking.wake(self)
        if vc is not None:
            engine.acquire_clock(vc)
        return item

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        h = _handoff
        if engine.TRACKING:
            h.put_vc = engine.snapshot()
        h.in_put = True
        try:
            _put_item(self, item, block, timeout)
        except BaseException as e:
            frames.hide_own(e)
            raise
        finally:
            h.put_vc = None    # unused if the put failed
            h.in_put = False
            vc = h.freed_vc
            h.freed_vc = None
        blocking.wake(self)
        if vc is not None:
            engine.acquire_clock(vc)

    def task_done(self) -> None:
        """task_done -> the join() it releases (workers' results are then visible)."""
        if engine.TRACKING:
            engine.release_merge(_done_sv(self))
        super().task_done()  # type: ignore[misc]
        blocking.wake(self)

    def join(self) -> None:
        if not blocking.waits_in_slices():
            try:
                with blocking.blocked("Queue.join", True, lambda: not self.unfinished_tasks, self):  # type: ignore[attr-defined]
                    super().join()  # type: ignore[misc]
            except BaseException as e:
                frames.hide_own(e)   # a KeyboardInterrupt shows queue.py's join, as under python
                raise
            if engine.TRACKING:
                engine.acquire(_done_sv(self))
            return
        cond = self.all_tasks_done  # type: ignore[attr-defined]

        def w(t: Optional[float]) -> bool:
            with cond:
                if self.unfinished_tasks:  # type: ignore[attr-defined]
                    cond.wait(t)
                return not self.unfinished_tasks  # type: ignore[attr-defined]

        while not blocking.wait_for("Queue.join", w, None, lambda: not self.unfinished_tasks, self):  # type: ignore[attr-defined]
            pass
        if engine.TRACKING:
            engine.acquire(_done_sv(self))


#: Methods ``queue.Queue`` calls with its mutex held.
_HOOKS_UNDER_MUTEX = ("_put", "_get", "_qsize")
_runs_user_code_cache: dict = {}


def _runs_user_code(q: Any) -> bool:
    """Does ``q`` run user code under its mutex: its class's own ``_put``/``_get``/``_qsize``,
    or one set on the queue itself (pebble's ``waitforqueues`` swaps ``q._put`` under
    ``q.mutex``)?  The class's answer is kept; the queue's own is looked at each time,
    since a program may swap a hook in at any moment."""
    t = type(q)
    r = _runs_user_code_cache.get(t)
    if r is None:
        r = _runs_user_code_cache[t] = any(
            stdlocks.user_function(getattr(t, n, None)) for n in _HOOKS_UNDER_MUTEX)
    if r:
        return True
    try:
        d = q.__dict__
    except AttributeError:   # pragma: no cover - a subclass with __slots__ only
        return False
    if "_put" in d or "_get" in d or "_qsize" in d:
        return any(stdlocks.user_function(d.get(n)) for n in _HOOKS_UNDER_MUTEX)
    return False


def _internal(module: str) -> bool:
    return module == __name__


#: The locks a queue makes for itself (see :mod:`racedet.models.stdlocks`).
_LOCK_ATTRS = ("mutex", "not_empty", "not_full", "all_tasks_done")


def _done_sv(q: Any) -> engine.SyncVar:
    st = _states.of(q)
    if st is None:   # pragma: no cover - a queue takes weak references
        return engine.SyncVar()
    sv = st.done
    if sv is None:
        with _done_lock:
            sv = st.done
            if sv is None:
                sv = st.done = engine.SyncVar()
    return sv


_done_lock = _thread.allocate_lock()   # racedet's own: makes each queue's task_done clock once


class _Stamped:
    """An item put while tracking, with the putter's clock: the pair travels
    through the queue as one object, so the get that receives the item
    receives exactly its put's clock, with no lock of racedet's own beside
    the queue's (a lock that threads would queue up on)."""

    __slots__ = ("item", "vc")

    def __init__(self, item: Any, vc: dict) -> None:
        self.item = item
        self.vc = vc


class _SimpleEdges:
    """Mixin for ``queue.SimpleQueue``: put -> get edges per item (it has no _put/_get hooks).

    No slots of its own: python's SimpleQueue has neither ``__dict__`` nor
    ``__weakref__`` to show.
    """

    __slots__ = ()

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        if engine.TRACKING:
            item = _Stamped(item, engine.snapshot())
        try:
            super().put(item, block, timeout)
        except BaseException as e:
            frames.hide_own(e)
            raise
        blocking.wake(self)

    put_nowait = put  # type: ignore[assignment]

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        sup = super().get
        if not block or timeout is not None:
            try:
                item = sup(block, timeout)
            except BaseException as e:
                frames.hide_own(e)   # SimpleQueue.get is C: python shows no frame of it
                raise
        else:
            box: list = []
            try:  # an item is usually there: no blocked-thread bookkeeping
                box.append(sup(False))
            except _exceptions(self)[0]:
                pass
            if not box:
                def w(t: Optional[float]) -> bool:
                    try:
                        box.append(sup(True, t))
                    except _exceptions(self)[0]:
                        return False
                    return True

                blocking.wait_for("Queue.get", w, None, lambda: not self.empty(), self)
            item = box[0]
        if type(item) is _Stamped:
            if engine.TRACKING:
                engine.acquire_clock(item.vc)
            item = item.item
        return item

    def get_nowait(self) -> Any:
        try:
            return self.get(False)
        except BaseException as e:
            frames.hide_own(e)
            raise


def _models_over(mod: ModuleType) -> Dict[str, type]:
    """The model classes over one copy of the queue module (its classes, exceptions, globals)."""
    home = vars(mod)
    attrs: Dict[str, Any] = {n: stdlocks.StdlibLockAttr(n, home, _internal, _runs_user_code)
                             for n in _LOCK_ATTRS}
    attrs.update(__module__=__name__)
    edges = type("_ItemEdges", (_ItemEdges,), attrs)
    _copy_exceptions[edges] = (home["Empty"], home["Full"])
    out: Dict[str, type] = {}
    for name in ("Queue", "LifoQueue", "PriorityQueue"):
        out[name] = type(name, (edges, home[name]), {
            "__module__": __name__, "__qualname__": name,
            "__doc__": f"``queue.{name}`` with put -> get edges per item."})
    out["SimpleQueue"] = type("SimpleQueue", (_SimpleEdges, home["SimpleQueue"]), {
        "__module__": __name__, "__qualname__": "SimpleQueue", "__slots__": (),
        "__doc__": "``queue.SimpleQueue`` with put -> get edges per item."})
    _copy_exceptions[out["SimpleQueue"]] = (home["Empty"], home["Full"])
    del out["SimpleQueue"].__slots__   # it took effect; dir() must not list it
    return out


# What the class statement left that python's SimpleQueue (a C type) has not: the
# slots took effect, and 3.13's line and attribute records say nothing to a program.
for _name in ("__slots__", "__firstlineno__", "__static_attributes__"):
    if _name in vars(_SimpleEdges):
        delattr(_SimpleEdges, _name)
_models = _models_over(queue)
Queue = _models["Queue"]
LifoQueue = _models["LifoQueue"]
PriorityQueue = _models["PriorityQueue"]
SimpleQueue = _models["SimpleQueue"]

#: Copies of the module the program loaded, with the classes the models replaced there.
_copies: List[Tuple["weakref.ref[ModuleType]", Dict[str, Any]]] = []


def model_module(mod: ModuleType) -> None:
    """A copy of the queue module was just executed: its queues get the models too."""
    home = vars(mod)
    if not all(isinstance(home.get(n), type) for n in _MODELLED + ("Empty", "Full")):
        return   # not a queue module as racedet knows it: left as it is
    originals = {n: home[n] for n in _MODELLED}
    for name, cls in _models_over(mod).items():
        setattr(mod, name, cls)
    _copies.append((weakref.ref(mod), originals))


def install() -> None:
    for name, cls in _models.items():
        setattr(queue, name, cls)
    reimports.watch("queue", model_module)


def uninstall() -> None:
    reimports.unwatch("queue")
    for name, orig in _orig.items():
        setattr(queue, name, orig)
    for ref, originals in _copies:
        mod = ref()
        if mod is not None:
            for name, orig in originals.items():
                setattr(mod, name, orig)
    _copies.clear()


def _get_item(q: Any, block: bool, timeout: Optional[float]) -> Any:
    sup = super(_ItemEdges, q).get  # type: ignore[misc]
    if not block or (timeout is not None and timeout < 0):
        return sup(block, timeout)   # and queue.py's ValueError for a negative timeout
    # An item is usually there: take it as a blocking get would, without
    # the blocked-thread bookkeeping.
    try:
        return sup(False)
    except _exceptions(q)[0]:
        pass
    box: list = []

    def w(t: Optional[float]) -> bool:
        try:
            box.append(sup(True, t))
        except _exceptions(q)[0]:
            if t is not None and t < 0:
                raise
            return False
        return True

    # A _qsize of the user's own is not called from racedet's watchdog (unlocked, from another thread).
    ready = None if _runs_user_code(q) else (lambda: q._qsize() > 0)  # type: ignore[attr-defined]
    if blocking.wait_for("Queue.get", w, timeout, ready, q):
        return box[0]
    return sup(True, 0)  # timed out: raises Empty from queue.py, as plain python shows it


def _put_item(q: Any, item: Any, block: bool, timeout: Optional[float]) -> None:
    sup = super(_ItemEdges, q).put  # type: ignore[misc]
    if not block or q.maxsize <= 0 or (timeout is not None and timeout < 0):  # type: ignore[attr-defined]
        return sup(item, block, timeout)   # and queue.py's ValueError for a negative timeout
    try:  # there is usually room: no blocked-thread bookkeeping
        return sup(item, False)
    except _exceptions(q)[1]:
        pass

    def w(t: Optional[float]) -> bool:
        try:
            sup(item, True, t)
        except _exceptions(q)[1]:
            if t is not None and t < 0:
                raise
            return False
        return True

    ready = None if _runs_user_code(q) else (lambda: q._qsize() < q.maxsize)  # type: ignore[attr-defined]
    if not blocking.wait_for("Queue.put", w, timeout, ready, q):
        sup(item, True, 0)  # timed out: raises Full from queue.py, as plain python shows it
