"""The happens-before engine: threads, vector clocks, sync variables and races.

This module owns the detector's state.  Instrumented code reaches it through
the access core (:mod:`racedet.access_py`), and synchronization models
(:mod:`racedet.models`, :mod:`racedet.sync`) through the small API below,
modelled on Go's ``runtime/race``:

``acquire(sv)``        the current thread acquires sync variable ``sv``
``release(sv)``        the current thread releases ``sv`` (``sv`` := its clock)
``release_merge(sv)``  like release, but joins into ``sv`` (many releasers)
``fork()/thread_begin()/thread_end()/join()``  thread lifetime edges

Nothing here creates an edge between user threads by itself: the engine's own
lock is a raw ``_thread`` lock and is never modelled.
"""

from __future__ import annotations

import _thread
import gc
import sys
import weakref
from typing import Any, Callable, Dict, List, Optional

from racedet import frames
from racedet.sidetable import SideTable
from racedet.clock import REBASE_AT, TID_BITS, TID_MASK, TVectorClock, join_into, rebased, time_of
from racedet.model import Access, Frame, HeldLock, Race

# --------------------------------------------------------------------------
# Threads

_sync_lock = _thread.RLock()   # guards sync variables' clocks; never modelled


class ThreadState:
    """What the detector knows about one thread: its vector clock and identity."""

    __slots__ = (
        "tid", "vc", "clk", "epoch", "name", "thread_ref", "ident", "created_at",
        "finished", "final_vc", "blocked", "block_seq", "held", "is_goroutine",
        "test", "abort", "hval", "loads", "stores", "__weakref__",
    )

    def __init__(self, tid: int, vc: TVectorClock, name: str) -> None:
        self.tid = tid
        self.vc = vc
        vc[tid] = vc.get(tid, 0) + 1
        self.clk = vc[tid]
        self.epoch = (self.clk << TID_BITS) | tid
        self.name = name
        self.thread_ref: Optional[weakref.ref] = None
        self.ident: Optional[int] = None
        self.created_at: tuple = ()          # raw frames (see frames.capture_raw)
        self.finished = False
        self.final_vc: Optional[TVectorClock] = None
        self.blocked: Optional[tuple] = None  # (what, indefinite) while blocked
        self.block_seq = 0
        self.held: list = []                 # locks held, for lock-order checking
        self.is_goroutine = False
        self.test: Optional[str] = None      # test running when the thread was created
        self.abort: Optional[BaseException] = None
        self.hval: dict = {}                 # history cache: (site, caller code, caller line, test) -> hist
        self.loads: list = []                # hand-off clocks of the last containers read (see report)
        self.stores: list = []               # (site, id) of container stores whose argument is pending

    def tick(self) -> None:
        c = self.clk + 1
        self.clk = c
        self.vc[self.tid] = c
        self.epoch = (c << TID_BITS) | self.tid

    def display_name(self) -> str:
        t = self.thread_ref() if self.thread_ref is not None else None
        if t is not None:
            try:
                self.name = t.name
            except Exception:  # pragma: no cover - a broken Thread subclass
                pass
        return self.name

    def __repr__(self) -> str:
        return f"<ThreadState {self.tid} {self.name!r} clk={self.clk} |vc|={len(self.vc)}>"


class _TLS(_thread._local):
    ts: Optional[ThreadState] = None


_tls = _TLS()
#: Called with the thread's state right after ``_tls.ts`` is bound (the
#: compiled access core, racedet._access, caches it per thread).
_on_bind: List[Callable[[ThreadState], None]] = []
_next_tid = 1
threads_by_tid: Dict[int, ThreadState] = {}
#: Thread states in the order they were made, and how many have not ended
#: (adopted threads never end): see :func:`_quiesce_if_alone`.
_states_in_order: List[ThreadState] = []
_running = 0


def _new_tid() -> int:
    global _next_tid
    with _sync_lock:
        tid = _next_tid
        _next_tid += 1
    return tid


#: threading.Thread objects -> their states (kept beside them: the program's objects get no attributes).
thread_states: "SideTable[ThreadState]" = SideTable(lambda: None)  # type: ignore[arg-type, return-value]


def adopt_current_thread() -> ThreadState:
    """Give a thread racedet did not see start (main, or a foreign thread) its state.

    Such a thread is ordered with nothing that came before: that is exact for
    the main thread and the safe assumption for threads started from C.
    """
    import threading

    t = threading.current_thread()
    ts = thread_states.get(t)
    if ts is None:
        ts = ThreadState(_new_tid(), {}, t.name)
        ts.thread_ref = weakref.ref(t)
        thread_states.put(t, ts)
        with _sync_lock:
            threads_by_tid[ts.tid] = ts
            _states_in_order.append(ts)
            _count_running(1)
    ts.ident = _thread.get_ident()
    _tls.ts = ts
    for fn in _on_bind:  # racedet._access: forget its cached thread state
        fn(ts)
    return ts


def current() -> ThreadState:
    """The state of the calling thread."""
    ts = _tls.ts
    if ts is None:
        ts = adopt_current_thread()
    return ts


# --------------------------------------------------------------------------
# Sync variables

#: True while a detector session runs.  Synchronization models skip their
#: engine calls when it is False, so racedet's primitives cost nothing extra
#: under plain ``python``.
TRACKING = False


class SyncVar:
    """The clock a synchronization object carries from releasers to acquirers.

    ``tid`` is the thread that made ``vc`` by a plain release (0 after a merge
    or never released): that thread skips the join when it acquires again,
    since its own clock already covers ``vc`` (the common case of a lock
    taken again by the thread that last held it).  A dict published by
    :func:`release` is never changed afterwards, so acquiring it needs no
    lock; :func:`release_merge` changes its dict in place, under the engine's
    lock, and acquirers of a merged clock take that lock.
    """

    __slots__ = ("vc", "tid")

    def __init__(self) -> None:
        self.vc: Optional[TVectorClock] = None
        self.tid = 0

    def __repr__(self) -> str:
        return f"<SyncVar |vc|={len(self.vc) if self.vc else 0}>"


def acquire(sv: SyncVar) -> None:
    """The calling thread acquires ``sv``: everything released into it happens before now."""
    vc = sv.vc          # read before tid: see release_merge
    if vc:
        ts = _tls.ts or adopt_current_thread()
        owner = sv.tid
        if owner == ts.tid:
            return
        if owner:
            join_into(ts.vc, vc)
        else:
            with _sync_lock:
                join_into(ts.vc, vc)


def acquire_clock(vc: Optional[TVectorClock]) -> None:
    """Acquire a bare vector clock (a thread's final clock, a queue item's clock).

    No lock: ``vc`` must not change meanwhile.  Snapshots and final clocks
    never change; a queue item's merged clock changes only under the queue's
    mutex, which its acquirer holds.  A global lock here was a point where
    every producer and consumer queued up (one voluntary context switch per
    item in a pipeline).
    """
    if vc:
        ts = _tls.ts or adopt_current_thread()
        join_into(ts.vc, vc)


def published(ts: ThreadState) -> TVectorClock:
    """A copy of ``ts``'s clock to hand to other threads (the caller ticks after).

    A clock with many own entries is frozen into a shared base first
    (:func:`racedet.clock.rebased`), so the copy is a few entries long.
    """
    vc = ts.vc
    if len(vc) > REBASE_AT and rebased(vc):
        vc[ts.tid] = ts.clk
    return dict(vc)


def release(sv: SyncVar) -> None:
    """The calling thread releases ``sv``: its clock replaces ``sv``'s."""
    ts = _tls.ts or adopt_current_thread()
    sv.tid = 0
    sv.vc = published(ts)
    sv.tid = ts.tid
    ts.tick()


def release_merge(sv: SyncVar) -> None:
    """The calling thread releases ``sv`` without forgetting earlier releasers."""
    ts = _tls.ts or adopt_current_thread()
    with _sync_lock:
        vc = sv.vc
        if vc is None or sv.tid:
            # A clock published by release() is never changed: merge into a copy.
            vc = dict(vc) if vc else {}
            join_into(vc, ts.vc)
            sv.tid = 0          # before publishing: see acquire
            sv.vc = vc
        else:
            join_into(vc, ts.vc)
        ts.tick()


def snapshot() -> TVectorClock:
    """A copy of the calling thread's clock, as a release that a later acquire_clock takes."""
    ts = _tls.ts or adopt_current_thread()
    vc = published(ts)   # only its own thread changes ts.vc
    ts.tick()
    return vc


# --------------------------------------------------------------------------
# Thread lifetime


def fork(name: str, created_at: tuple = ()) -> ThreadState:
    """The calling thread is about to start a new thread: make the child's state."""
    global ACTIVE
    parent = _tls.ts or adopt_current_thread()
    with _sync_lock:
        child = ThreadState(_new_tid(), published(parent), name)
        parent.tick()
        threads_by_tid[child.tid] = child
        _states_in_order.append(child)
        _count_running(1)
    child.created_at = created_at
    child.test = current_test
    if _enabled:
        ACTIVE = True
        _set_active(True)
    return child


def thread_begin(ts: ThreadState) -> None:
    """Called first thing in the new thread."""
    ts.ident = _thread.get_ident()
    _tls.ts = ts
    for fn in _on_bind:  # racedet._access: forget its cached thread state
        fn(ts)


def thread_end(ts: ThreadState) -> None:
    """Called last thing in a thread: its final clock is what joiners acquire."""
    # The thread changes its clock no more: joiners share the dict (no copy,
    # which matters when thousands of goroutines end with large clocks).
    ts.final_vc = ts.vc
    with _sync_lock:
        ts.finished = True
        _count_running(-1)
    from racedet import blocking

    blocking.wake(ts)  # its joiners may go on


def join(child: Optional[ThreadState]) -> None:
    """The calling thread has seen ``child`` end (join returned, is_alive() was False)."""
    if child is not None and child.final_vc is not None:
        acquire_clock(child.final_vc)
        if _running == 1 and ACTIVE:
            _quiesce_if_alone()


def _count_running(n: int) -> None:
    global _running
    _running += n


#: How many of _states_in_order are known to have ended before the thread
#: ``_ordered_for`` (their final clocks are in its clock, which only grows).
_ordered_prefix = 0
_ordered_for = 0


def _quiesce_if_alone() -> None:
    """Forget all shadow state when the caller is alone and after everything.

    When every other thread has ended and its last clock is in the caller's
    (it joined them all), no access recorded so far can race with a later
    one: a thread started later is ordered after the caller by its start.
    Recording stops until the next thread starts, and the shadow memory is
    freed, so the single-threaded tail of a program (summing up results)
    costs what it costs under plain python.  Goroutines, which are never
    joined, and threads racedet did not see start keep recording on.
    """
    global ACTIVE, _SWEEP_EVERY, _ordered_prefix, _ordered_for
    me = _tls.ts
    if me is None:
        return
    vc = me.vc
    with _sync_lock:
        if _ordered_for != me.tid:
            _ordered_for, _ordered_prefix = me.tid, 0
        states = _states_in_order
        i = _ordered_prefix
        while i < len(states):
            ts = states[i]
            if ts is not me and not (ts.finished and ts.clk <= time_of(vc, ts.tid)):
                _ordered_prefix = i
                return
            i += 1
        _ordered_prefix = i
        if _running != 1:
            return
        ACTIVE = False
        _set_active(False)
        _forget_shadows()
        _SWEEP_EVERY = _SWEEP_MIN


# --------------------------------------------------------------------------
# Detector switches and callbacks

#: True once a second thread has started: before that, no access can race, so
#: the access core returns at once.  Read by the access core on every access.
ACTIVE = False
_enabled = False
_set_active: Callable[[bool], None] = lambda on: None   # the access core's switch

#: The pytest node id of the running test, set by the plugin.
current_test: Optional[str] = None

#: How many caller frames to keep for the previous access of a race.
history_size = 8

#: Called with every new (not yet seen) Race.  Set by the session.
on_race: Callable[[Race], None] = lambda race: None

races_seen: Dict[tuple, Race] = {}
race_count = 0


def enable() -> None:
    """Start recording accesses (once there are two threads)."""
    global _enabled, ACTIVE
    _enabled = True
    if len(threads_by_tid) > 1 or _multi_threaded():
        ACTIVE = True
        _set_active(True)


def disable() -> None:
    """Stop recording accesses (sync edges are still kept)."""
    global _enabled, ACTIVE
    _enabled = False
    ACTIVE = False
    _set_active(False)


def _multi_threaded() -> bool:
    import threading

    return threading.active_count() > 1


def set_active_hook(fn: Callable[[bool], None]) -> None:
    global _set_active
    _set_active = fn
    fn(ACTIVE)


# --------------------------------------------------------------------------
# Shadow memory
#
# ``shadow`` maps id(obj) to a dict: location key -> per-location state.  The
# shadow never keeps the program's objects alive (that would delay their
# ``__del__``, keep the cycles they are in from being collected and change
# what ``gc.collect()`` returns), and its entry goes when the object dies,
# before CPython can give the address to a new object (a stale entry would
# make a false race).  Three ways, by type (:func:`_classify`):
#
# * watched: instances of classes, lists, dicts, tuples and closure cells
#   are not referenced at all; the compiled helper :mod:`racedet._lifetime`
#   drops the entry from their type's deallocator (Go's race runtime resets
#   shadow memory on free the same way).  This also covers the objects
#   without weakref support (``__slots__`` without ``__weakref__``, and all
#   but the first of those types), and costs less than a weak reference;
# * weak: other objects with weakref support (sets, deques, classes,
#   functions, ...) are followed by a weak reference whose callback drops
#   the entry;
# * strong: what neither can follow (objects without weakref support that
#   hold no references, such as ``str``, ``int`` and ``bytearray``, and every
#   object without weakref support when the compiled helper is not built) is
#   held, with a sweep that drops those nobody else holds.

try:
    from racedet import _lifetime  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - not built (no compiler, free-threaded build)
    _lifetime = None

REF = object()          # key of the (weak or strong) reference in a shadow dict
CONTENTS = object()     # key of a container's contents state
CELL = object()         # key of a cell's state
HANDOFF = object()      # key of a container's hand-off clock (a SyncVar)

shadow: Dict[int, Dict[Any, Any]] = {}
if _lifetime is not None:
    _lifetime.bind(shadow)


class _IgnoredShadow(dict):
    """Shadow of objects whose accesses never race (threading.local, primitives)."""

    def __setitem__(self, k: Any, v: Any) -> None:  # pragma: no cover - never written
        pass


IGNORED = _IgnoredShadow()


class _Ref(weakref.ref):
    __slots__ = ("oid",)


#: Weak references whose object died, kept a little longer: see _on_death.
_dead_refs: List[_Ref] = []


def _on_death(r: _Ref, _forget: Callable[[int, None], Any] = shadow.pop,
              _dead: List[_Ref] = _dead_refs) -> None:
    # What it uses is bound at definition: at interpreter exit the callback
    # can run after this module's globals are gone, and must still work.
    _forget(r.oid, None)
    # ``r`` must outlive its callback: the cyclic GC counts a reference that
    # its callback frees as garbage it collected, so gc.collect() would
    # return more than under python.  The dead are freed in batches.
    if len(_dead) >= 256:
        del _dead[:]
    _dead.append(r)


_strong: List[int] = []
#: Sweep after this many new strongly held shadows.  Kept small: a strongly
#: held object keeps its memory, so the delay must stay short; it grows with
#: the number of survivors, which keeps the sweeping amortised O(1) per new
#: shadow.
_SWEEP_MIN = 8
_SWEEP_EVERY = _SWEEP_MIN
_ignored_types: set = set()
#: Kind by id(type).  Keyed by id so that the cache keeps no class (and so no
#: module's globals) alive; an entry goes when its type dies (_type_refs).
_type_kind: Dict[int, int] = {}
_type_refs: Dict[int, _Ref] = {}
_KIND_WEAK, _KIND_STRONG, _KIND_IGNORE, _KIND_MODULE, _KIND_WATCH = 0, 1, 2, 3, 4
_watch: Callable[[Any, int], bool] = _lifetime.watch if _lifetime is not None else (lambda obj, oid: False)


def _forget_type(r: _Ref, _kinds: Callable[[int, None], Any] = _type_kind.pop,
                 _refs: Callable[[int, None], Any] = _type_refs.pop) -> None:
    _kinds(r.oid, None)
    _refs(r.oid, None)


def register_ignored_type(t: type) -> None:
    """Accesses to attributes of instances of ``t`` never race (sync primitives, locals)."""
    _ignored_types.add(t)
    _type_kind.clear()


def _classify(t: type) -> int:
    import types

    if issubclass(t, _thread._local) or any(issubclass(t, i) for i in _ignored_types):
        k = _KIND_IGNORE
    elif issubclass(t, types.ModuleType):
        k = _KIND_MODULE
    elif _lifetime is not None and _lifetime.watchable(t):
        k = _KIND_WATCH   # also with weakref support: no weak reference to make and keep
    elif t.__weakrefoffset__:
        k = _KIND_WEAK
    else:
        k = _KIND_STRONG
    tid = id(t)
    if tid not in _type_refs:
        r = _type_refs[tid] = _Ref(t, _forget_type)
        r.oid = tid
    _type_kind[tid] = k
    return k


def new_shadow(obj: Any) -> Dict[Any, Any]:
    """Make the shadow dict of ``obj`` (first access since it was born)."""
    t = type(obj)
    kind = _type_kind.get(id(t))
    if kind is None:
        kind = _classify(t)
    if kind == _KIND_WEAK:
        oid = id(obj)
        try:
            r = _Ref(obj, _on_death)
        except TypeError:
            kind = _KIND_WATCH
        else:
            r.oid = oid
            sh = {REF: r}
            shadow[oid] = sh
            return sh
    if kind == _KIND_WATCH:
        oid = id(obj)
        if _watch(obj, oid):
            sh = shadow[oid] = {}
            return sh
        kind = _KIND_STRONG
    if kind == _KIND_STRONG:
        sh = {REF: obj}
        oid = id(obj)
        shadow[oid] = sh
        _strong.append(oid)
        if len(_strong) >= _SWEEP_EVERY:
            sweep()
        return sh
    if kind == _KIND_MODULE:
        # ``mod.x`` is the global ``x`` of ``mod``: globals are keyed by the
        # module's ``__name__`` string (what instrumented code passes).
        key = obj.__dict__.get("__name__")
        if not isinstance(key, str):
            return IGNORED
        sh = shadow.get(id(key))
        if sh is None:
            sh = new_shadow(key)
        return sh
    return IGNORED


def _forget_shadows() -> None:
    """Drop every shadow (the caller knows no recorded access can race any more)."""
    if _lifetime is not None:
        _lifetime.forget_all()
    shadow.clear()
    del _strong[:]
    del _dead_refs[:]


_sweep_lock = _thread.allocate_lock()


def sweep() -> None:
    """Drop the shadows of strongly held objects that only the shadow still holds.

    Dropping one lets its referents go too: those that are strongly shadowed
    are checked again at once, so a chain (a dead linked list whose nodes
    lack weakref support) is freed in one sweep, not one node per sweep.
    One thread sweeps at a time (others go on); shadows made meanwhile are
    appended behind the ones taken here and wait for the next sweep.
    """
    global _SWEEP_EVERY
    if not _sweep_lock.acquire(False):
        return
    try:
        getrc = sys.getrefcount
        referents = gc.get_referents
        tracked = gc.is_tracked
        n = len(_strong)
        taken = _strong[:n]
        del _strong[:n]
        keep = []
        pending: List[int] = []
        dropped = False
        for oid in taken:
            pending.append(oid)
            while pending:
                o = pending.pop()
                sh = shadow.get(o)
                if sh is None:
                    continue
                obj = sh.get(REF)
                if obj is None or isinstance(obj, _Ref):
                    obj = sh = None
                    continue  # the address now belongs to a weakly held or watched object
                # References: the shadow dict, ``obj`` here, and getrefcount's argument.
                if getrc(obj) > 3:
                    if o == oid:
                        keep.append(oid)
                    obj = sh = None
                    continue
                kids = []
                if tracked(obj):  # an untracked dict holds only atoms: nothing to follow
                    for k in referents(obj):
                        ks = shadow.get(id(k))
                        if ks is not None and ks.get(REF) is k:
                            kids.append(id(k))
                    ks = k = None
                shadow.pop(o, None)
                dropped = True
                obj = sh = None   # it dies here: its referents lose a reference
                pending.extend(kids)
        if dropped:
            keep = [o for o in keep if o in shadow]
        _strong.extend(keep)
        # Sweep again when the survivors have doubled, so the cost stays amortised O(1).
        _SWEEP_EVERY = max(_SWEEP_MIN, 2 * len(keep))
    finally:
        _sweep_lock.release()


# --------------------------------------------------------------------------
# Access histories and race reports

LOC_ATTR, LOC_GLOBAL, LOC_CELL, LOC_ITEM, LOC_CONTENTS = range(5)
_LOC_KIND_NAMES = ("attribute", "global", "cell", "item", "container")
_SCALAR_KEYS = (int, str, bytes, float, bool, type(None))


def _user_frame(f):
    hidden = frames.code_hidden
    while f is not None and hidden(f.f_code):
        f = f.f_back
    return f


def _held_of(ts: Optional[ThreadState]) -> tuple:
    """The descriptions of the locks ``ts`` holds, outermost first (see lockorder.LockDesc)."""
    if ts is None:
        ts = current()
    held = ts.held
    return tuple([e[1] for e in held]) if held else ()


def hist(site: tuple, ts: Optional[ThreadState] = None) -> tuple:
    """What is kept of an access for a later report: (site, callers, test, held).

    The callers of the accessing frame are captured from the live stack;
    ``held`` is the descriptions of the locks the thread holds (``ts.held``
    read afresh: a lock leaves it in several ways, even from another thread).
    A thread that touches the same site again from the same calling line,
    holding the same locks, gets the record it had (one entry per thread),
    so a loop over a locked update pays for one capture, not one per
    iteration.
    """
    held = _held_of(ts)
    if not history_size:
        return (site, None, current_test, held)
    f = _user_frame(sys._getframe(1))
    if f is None:
        return (site, (), current_test, held)
    back = f.f_back
    if ts is not None and back is not None:
        key = (site, back.f_code, back.f_lineno, current_test, held)
        cache = ts.hval
        h = cache.get(key)
        if h is None:
            if len(cache) >= 512:
                cache.clear()
            h = cache[key] = (site, frames.capture_raw(back, history_size), current_test, held)
        return h
    return (site, frames.capture_raw(back, history_size) if back is not None else (), current_test, held)


def held_locks(held: tuple) -> tuple:
    """The :class:`HeldLock` records of a history record's held descriptions."""
    out = []
    for d in held:
        created = getattr(d, "created", ())
        out.append(HeldLock(getattr(d, "name", None) or str(d).split(" at ", 1)[0],
                            frames.to_frames(created)[0] if created else None))
    return tuple(out)


def _site_frame(site: tuple) -> Frame:
    # site = (filename, lineno, function, qualname)
    return Frame(site[0], site[1], site[2], site[3])


def _safe_repr(key: Any) -> str:
    if isinstance(key, _SCALAR_KEYS) or (type(key) is tuple and all(isinstance(k, _SCALAR_KEYS) for k in key)):
        r = repr(key)
        return r if len(r) <= 60 else r[:57] + "..."
    return f"<{type(key).__name__} object>"


def describe(lk: int, obj: Any, key: Any) -> str:
    """The location as the user wrote it."""
    if lk == LOC_ATTR:
        import types

        if isinstance(obj, type):
            return f"{obj.__qualname__}.{key}"
        if isinstance(obj, types.ModuleType):
            return describe(LOC_GLOBAL, obj.__name__, key)
        return f"{type(obj).__qualname__}.{key}"
    if lk == LOC_GLOBAL:
        mod = obj if isinstance(obj, str) else "?"
        return f"global {key}" if mod == "__main__" else f"global {mod}.{key}"
    if lk == LOC_CELL:
        return key
    tn = type(obj).__name__
    if lk == LOC_ITEM:
        return f"{tn} item {_safe_repr(key)} of <{tn} at {hex(id(obj))}>"
    return f"contents of <{tn} at {hex(id(obj))}>"


_MemberDescriptor = type(ThreadState.tid)


def data_descriptor(t: type, name: Any) -> bool:
    """Is ``name`` a data descriptor of type ``t`` (a property, a getset, ``__set__``/``__delete__``)?

    ``obj.name`` then runs the descriptor's code, whose own accesses are
    instrumented: the access of ``name`` itself touches no memory of
    ``obj``.  ``__slots__`` members are memory and are not counted.  The
    lookup is the one ``type.__getattribute__`` makes (the type's MRO,
    nearest first), done afresh: a class can change after it was seen.
    """
    if type(name) is not str:
        return False
    try:
        mro = type.__dict__["__mro__"].__get__(t)
    except Exception:  # pragma: no cover - not a type
        return False
    for k in mro:
        try:
            d = type.__dict__["__dict__"].__get__(k)[name]
        except KeyError:
            continue
        dt = type(d)
        if dt is _MemberDescriptor:
            return False
        return getattr(dt, "__set__", None) is not None or getattr(dt, "__delete__", None) is not None
    return False


_WrapperDescriptor = type(object.__dict__["__setattr__"])
_GetSetDescriptor = type(type.__dict__["__dict__"])
_NOT_FOUND = object()

#: User-defined attribute hooks of a type (bits of :func:`attr_hooks`).
HOOK_GETATTR = 1        # __getattr__: runs when the normal lookup fails
HOOK_GETATTRIBUTE = 2   # __getattribute__: runs for every read
HOOK_SETATTR = 4        # __setattr__ or __delattr__: runs for every store and delete


def _type_lookup(t: type, name: str) -> Any:
    """``name`` as ``type.__getattribute__`` finds it on ``t`` (the MRO, nearest first), or _NOT_FOUND."""
    for k in type.__dict__["__mro__"].__get__(t):
        d = type.__dict__["__dict__"].__get__(k)
        if name in d:
            return d[name]
    return _NOT_FOUND


def _user_slot(t: type, name: str) -> bool:
    """Does ``t`` get ``name`` from Python code (not object's or a C type's slot wrapper)?"""
    d = _type_lookup(t, name)
    return d is not _NOT_FOUND and type(d) is not _WrapperDescriptor


def attr_hooks(t: type) -> int:
    """Which attribute hooks of ``t`` are user code: HOOK_GETATTR | HOOK_GETATTRIBUTE | HOOK_SETATTR.

    A C type's own ``tp_getattro``/``tp_setattro`` (``type``, modules,
    ``threading.local``) is not counted: its attributes are memory as before.
    """
    try:
        h = 0
        if _user_slot(t, "__getattribute__"):
            h |= HOOK_GETATTRIBUTE
        elif _type_lookup(t, "__getattr__") is not _NOT_FOUND:
            h |= HOOK_GETATTR
        if _user_slot(t, "__setattr__") or _user_slot(t, "__delattr__"):
            h |= HOOK_SETATTR
        return h
    except Exception:  # pragma: no cover - not a type
        return 0


def _instance_dict(obj: Any, t: type) -> Optional[dict]:
    """The instance ``__dict__`` of ``obj`` as ``object.__setattr__`` stores into it, or None.

    Through the C ``__dict__`` getset of the MRO: a class's own ``__dict__``
    (a property of a proxy, say) is skipped, and no user code runs.
    """
    for k in type.__dict__["__mro__"].__get__(t):
        d = type.__dict__["__dict__"].__get__(k).get("__dict__")
        if type(d) is _GetSetDescriptor:
            try:
                v = d.__get__(obj, t)
            except Exception:
                return None
            return v if type(v) is dict else None
    return None


def hooked_memory(obj: Any, name: Any, hooks: int, read: bool, write: bool) -> bool:
    """Is ``obj.name`` memory although ``type(obj)`` has user attribute hooks ``hooks``?

    Decided when the hook runs, just before the access (data descriptors are
    excluded before this is asked):

    * a store or delete through a user ``__setattr__``/``__delattr__`` is
      memory when ``name`` is in the instance ``__dict__`` already or is a
      ``__slots__`` member: the hook delegated to ``object.__setattr__``
      before.  A store that creates the name through the hook is not
      recorded (the hook runs after this decision); the next one is.
    * a read through a user ``__getattr__`` is memory when the normal lookup
      finds ``name`` (instance ``__dict__``, slot, class); otherwise
      ``__getattr__`` runs, and its own accesses are recorded where it makes them.
    * a read through a user ``__getattribute__`` is memory when ``name`` is in
      the instance ``__dict__`` or a slot: that is what a hook delegating to
      ``object.__getattribute__`` returns; other names are the hook's code.

    For a class whose metaclass has the hooks, "the instance ``__dict__``" is
    the class's MRO (what ``type.__getattribute__`` finds).
    """
    if type(name) is not str:
        return True
    t = type(obj)
    if (write and hooks & HOOK_SETATTR) or (read and hooks & (HOOK_GETATTR | HOOK_GETATTRIBUTE)):
        if isinstance(obj, type):   # a class under a metaclass with hooks: its own MRO
            if _type_lookup(obj, name) is not _NOT_FOUND:
                return True
        else:
            d = _instance_dict(obj, t)
            if d is not None and name in d:
                return True
        found = _type_lookup(t, name)
        if type(found) is _MemberDescriptor:
            return True
        if write and hooks & HOOK_SETATTR:
            return False
        if hooks & HOOK_GETATTRIBUTE:
            return False
        return found is not _NOT_FOUND
    return True


def _handed_off(ts: ThreadState, pepoch: int) -> bool:
    """Was the previous access published to ``ts`` by a container it read just now?

    A container read acquires the container's hand-off clock in its hook,
    which runs just before the read itself: a store made by another thread
    in between (a thread switch right after the hook) can hand over the very
    element the read returns.  The clocks of the last containers ``ts``
    read stay open for that until ``ts`` touches the container again; a
    conflict that one of them orders is then acquired, not reported.
    """
    ptid = pepoch & TID_MASK
    pc = pepoch >> TID_BITS
    for sv in ts.loads:
        vc = sv.vc
        if vc and time_of(vc, ptid) >= pc:
            ts.loads.remove(sv)
            join_into(ts.vc, dict(vc))   # a copy: another thread's hook may be joining into vc
            return True
    return False


def report(ts: ThreadState, kind: str, site: tuple, pkind: str, pepoch: int,
           phist: Optional[tuple], lk: int, obj: Any, key: Any) -> None:
    """A conflict was found: build the Race (once per pair of source lines) and hand it on."""
    global race_count
    if lk == LOC_ATTR and data_descriptor(type(obj), key):
        # The class made ``key`` a data descriptor after the location was first
        # seen (the cores skip descriptors when they make a location).
        return
    if lk == LOC_ATTR:
        hooks = attr_hooks(type(obj))
        if hooks and not hooked_memory(obj, key, hooks, kind == "read", kind == "write"):
            # Likewise for a class that has user attribute hooks now.
            return
    if ts.loads and _handed_off(ts, pepoch):
        return
    ptid = pepoch & TID_MASK
    pts = threads_by_tid.get(ptid)
    psite = phist[0] if phist else None
    cur_line = (site[0], site[1])
    prev_line = (psite[0], psite[1]) if psite else ("?", 0)
    dkey = (min(cur_line, prev_line), max(cur_line, prev_line))
    # Claimed in one atomic step: two threads racing on the same pair at once report it once.
    claim = object()
    if races_seen.setdefault(dkey, claim) is not claim:
        return
    f = _user_frame(sys._getframe(1))
    cur_stack = frames.user_stack(f)
    if not cur_stack or (cur_stack[0].file, cur_stack[0].line) != cur_line:
        cur_stack = (_site_frame(site),) + cur_stack[1:]
    if psite is not None:
        callers = phist[1]
        pstack = (_site_frame(psite),) + (frames.to_frames(callers) if callers else ())
        restored = callers is not None
        ptest = phist[2]
        pheld = held_locks(phist[3]) if len(phist) > 3 else None
    else:  # pragma: no cover - every recorded access keeps its site
        pstack, restored, ptest, pheld = (), False, None, None
    race = Race(
        location=describe(lk, obj, key),
        address=id(obj),
        current=Access(kind, ts.display_name(), cur_stack, "running",
                       frames.to_frames(ts.created_at), True, current_test, held_locks(_held_of(ts))),
        previous=Access(pkind, pts.display_name() if pts else f"thread-{ptid}", pstack,
                        "finished" if pts is not None and pts.finished else "running",
                        frames.to_frames(pts.created_at) if pts else (), restored, ptest, pheld),
        location_kind=_LOC_KIND_NAMES[lk],
    )
    races_seen[dkey] = race
    race_count += 1
    on_race(race)


def reset_reports() -> None:
    """Forget which pairs were reported (a new pytest session)."""
    global race_count
    races_seen.clear()
    race_count = 0


def stats() -> dict:
    return {
        "threads": len(threads_by_tid),
        "shadowed_objects": len(shadow),
        "strongly_held": len(_strong),
        "watched": _lifetime.count() if _lifetime is not None else 0,
        "races": race_count,
    }
