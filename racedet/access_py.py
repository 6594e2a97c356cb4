"""The access core in pure Python: what every instrumented access calls.

Instrumented code calls these with the object, the location and a *site*, a
constant tuple ``(file, line, function, qualname)`` made once per source
location by the rewriter.  The attribute and item hooks return the object
itself, so the real access still happens in the user's frame (tracebacks and
line numbers do not change); the key hooks (``rd_key``...) return the key, for
``obj[rd_key(obj, key, site)]``; the others return ``None`` and are used as
``(hook(...) or name)``.

Per location the shadow keeps a FastTrack state ``[W, WH, R, RH]``:

``W``   epoch of the last write (0: none), ``WH`` its history
``R``   epoch of the last read, 0 for none, or -1 when reads are shared, then
``RH``  is a dict tid -> (epoch, history); otherwise the read's history.

The same-epoch case (the thread touched this location since its last sync
operation) returns after one comparison.  Before a second thread exists no
access can race, and every hook returns at once.

A compiled core with the same functions may replace this module
(:mod:`racedet.core` chooses); this one is always there and always tested.
"""

from __future__ import annotations

from sys import _getframe
from weakref import ref as _weakref
from typing import Any

from racedet import engine
from racedet.clock import TID_BITS, TID_MASK, beyond

_tls = engine._tls
_adopt = engine.adopt_current_thread
_shadow_get = engine.shadow.get
_new_shadow = engine.new_shadow
_IGNORED = engine.IGNORED
_CONTENTS = engine.CONTENTS
_CELL = engine.CELL
_hist = engine.hist
_report = engine.report
LOC_ATTR, LOC_GLOBAL, LOC_CELL, LOC_ITEM, LOC_CONTENTS = (
    engine.LOC_ATTR, engine.LOC_GLOBAL, engine.LOC_CELL, engine.LOC_ITEM, engine.LOC_CONTENTS)
M = TID_MASK
B = TID_BITS

ACTIVE = False


def set_active(on: bool) -> None:
    global ACTIVE
    ACTIVE = on


# --------------------------------------------------------------------------
# FastTrack read and write on one location state


def _read(ts, vs, site, lk, obj, key):
    e = ts.epoch
    tid = ts.tid
    vc = ts.vc
    w = vs[0]
    if w and (w & M) != tid and (w >> B) > vc.get(w & M, 0) and beyond(vc, w & M, w >> B):
        _report(ts, "read", site, "write", w, vs[1], lk, obj, key)
    r = vs[2]
    if r >= 0:
        if r == 0 or (r & M) == tid or (r >> B) <= vc.get(r & M, 0) or not beyond(vc, r & M, r >> B):
            vs[3] = _hist(site, ts)
            vs[2] = e
        else:
            vs[3] = {r & M: (r, vs[3]), tid: (e, _hist(site, ts))}
            vs[2] = -1
    else:
        rs = vs[3]
        ent = rs.get(tid)
        if ent is None or ent[0] != e:
            rs[tid] = (e, _hist(site, ts))


def _write(ts, vs, site, lk, obj, key):
    e = ts.epoch
    tid = ts.tid
    vc = ts.vc
    w = vs[0]
    if w and (w & M) != tid and (w >> B) > vc.get(w & M, 0) and beyond(vc, w & M, w >> B):
        _report(ts, "write", site, "write", w, vs[1], lk, obj, key)
    r = vs[2]
    if r > 0:
        if (r & M) != tid and (r >> B) > vc.get(r & M, 0) and beyond(vc, r & M, r >> B):
            _report(ts, "write", site, "read", r, vs[3], lk, obj, key)
    elif r < 0:
        for t, (re, rh) in tuple(vs[3].items()):
            if t != tid and (re >> B) > vc.get(t, 0) and beyond(vc, t, re >> B):
                _report(ts, "write", site, "read", re, rh, lk, obj, key)
    vs[1] = _hist(site, ts)
    vs[0] = e
    vs[2] = 0
    vs[3] = None


def _state(sh, key):
    vs = sh.get(key)
    if vs is None:
        vs = sh[key] = [0, None, 0, None]
    return vs


# --------------------------------------------------------------------------
# Attributes


_data_descriptor = engine.data_descriptor
_attr_hooks = engine.attr_hooks
_hooked_memory = engine.hooked_memory
#: (id of a type, name) pairs found to be memory once and for all: not a data
#: descriptor, and the type runs no user attribute hooks.  A stale entry (the
#: class changed since, or the id now belongs to another type) only makes a
#: location that engine.report then recognises as a descriptor or a hook's.
_plain_attrs: set = set()
#: id of a type -> (its attribute hooks, a weak reference to the type): types
#: with user hooks, whose verdict depends on the instance (engine.hooked_memory).
_hooked_types: dict = {}


def _hooks_of(t: type) -> int:
    ent = _hooked_types.get(id(t))
    if ent is not None and ent[1]() is t:
        return ent[0]
    h = _attr_hooks(t)
    if h:
        if len(_hooked_types) >= 1024:
            _hooked_types.clear()
        _hooked_types[id(t)] = (h, _weakref(t))
    return h


def _descriptor(obj: Any, name: str, read: bool, write: bool) -> bool:
    """Is ``obj.name`` code (a data descriptor's, or a user attribute hook's) rather than memory?"""
    t = type(obj)
    k = (id(t), name)
    if k in _plain_attrs:
        return False
    if _data_descriptor(t, name):
        return True
    h = _hooks_of(t)
    if h:
        return not _hooked_memory(obj, name, h, read, write)
    if len(_plain_attrs) >= 4096:
        _plain_attrs.clear()
    _plain_attrs.add(k)
    return False


def rd_attr(obj: Any, name: str, site: tuple) -> Any:
    if ACTIVE:
        try:
            ts = _tls.ts or _adopt()
            sh = _shadow_get(id(obj))
            if sh is None:
                sh = _new_shadow(obj)
            vs = sh.get(name)
            if vs is None:
                if sh is _IGNORED or _descriptor(obj, name, True, False):
                    return obj
                sh[name] = [0, None, ts.epoch, _hist(site, ts)]
            elif vs[2] != ts.epoch:
                _read(ts, vs, site, LOC_ATTR, obj, name)
        except Exception:  # pragma: no cover - the detector must never break the program
            _internal_error()
    return obj


def wr_attr(obj: Any, name: str, site: tuple) -> Any:
    if ACTIVE:
        try:
            ts = _tls.ts or _adopt()
            sh = _shadow_get(id(obj))
            if sh is None:
                sh = _new_shadow(obj)
            vs = sh.get(name)
            if vs is None:
                if sh is _IGNORED or _descriptor(obj, name, False, True):
                    return obj
                sh[name] = [ts.epoch, _hist(site, ts), 0, None]
            elif vs[0] != ts.epoch:
                _write(ts, vs, site, LOC_ATTR, obj, name)
        except Exception:  # pragma: no cover
            _internal_error()
    return obj


def rmw_attr(obj: Any, name: str, site: tuple) -> Any:
    """``obj.name += v``: a read and a write (none for a data descriptor: its getter and setter record theirs)."""
    if ACTIVE:
        try:
            ts = _tls.ts or _adopt()
            sh = _shadow_get(id(obj))
            if sh is None:
                sh = _new_shadow(obj)
            vs = sh.get(name)
            if vs is None:
                if sh is _IGNORED or _descriptor(obj, name, True, True):
                    return obj
                vs = sh[name] = [0, None, 0, None]
            if vs[0] != ts.epoch:
                if vs[2] != ts.epoch:
                    _read(ts, vs, site, LOC_ATTR, obj, name)
                _write(ts, vs, site, LOC_ATTR, obj, name)
        except Exception:  # pragma: no cover
            _internal_error()
    return obj


# --------------------------------------------------------------------------
# Module globals (the module's dict is the object) and closure cells


def _named(holder, key, site, lk, write, read):
    if holder is None:   # a global: its module's __name__, from the caller's globals (see link.GLOBALS)
        holder = _getframe(2).f_globals.get("__name__")
    ts = _tls.ts or _adopt()
    sh = _shadow_get(id(holder))
    if sh is None:
        sh = _new_shadow(holder)
    vs = _state(sh, key)
    e = ts.epoch
    if read and vs[2] != e and vs[0] != e:
        _read(ts, vs, site, lk, holder, key)
    if write and vs[0] != e:
        _write(ts, vs, site, lk, holder, key)


def _name_hook(work, lk, write, read, doc):
    """A hook for a named location (``global n``, a cell): returns None, for ``(hook(...) or n)``."""
    def hook(holder: Any, name: str, site: tuple) -> None:
        if ACTIVE:
            try:
                work(holder, name, site, lk, write, read)
            except Exception:  # pragma: no cover
                _internal_error()
    hook.__doc__ = doc
    return hook


def cellof(fn: Any) -> Any:
    """The cell a one-name closure ``lambda: name`` closes over (None if it is not a cell)."""
    c = fn.__closure__
    return c[0] if c else None


def _cell(cell, desc, site, lk, write, read):
    if cell is None:
        return
    ts = _tls.ts or _adopt()
    sh = _shadow_get(id(cell))
    if sh is None:
        sh = _new_shadow(cell)
    vs = sh.get(_CELL)
    if vs is None:
        vs = sh[_CELL] = [0, None, 0, None]
    e = ts.epoch
    if read and vs[2] != e and vs[0] != e:
        _read(ts, vs, site, LOC_CELL, cell, desc)
    if write and vs[0] != e:
        _write(ts, vs, site, LOC_CELL, cell, desc)


rd_global = _name_hook(_named, LOC_GLOBAL, False, True, "Read of module global ``name`` (the module's ``__name__`` is ``holder``).")
wr_global = _name_hook(_named, LOC_GLOBAL, True, False, "Write of module global ``name``.")
rmw_global = _name_hook(_named, LOC_GLOBAL, True, True, "``global n; n += 1``: a read and a write.")
rd_cell = _name_hook(_cell, LOC_CELL, False, True, "Read of a closure cell; ``name`` is its description.")
wr_cell = _name_hook(_cell, LOC_CELL, True, False, "Write of a closure cell.")
rmw_cell = _name_hook(_cell, LOC_CELL, True, True, "``nonlocal n; n += 1``: a read and a write.")


# --------------------------------------------------------------------------
# Containers
#
# Items are tracked per key (Go-strict: any unordered pair with a write).  The
# container's *contents* have seven kinds of access, which conflict as follows
# (single operations CPython makes atomic do not race with each other):
#
#   ATOMIC_MUT  list.append, dict.setdefault, set.add, ...  vs WHOLE_READ, INDEX_READ, LEN_READ, KEYS_READ
#   ITEM_MUT    c[k] = v adding k, del c[k]                 vs WHOLE_READ, LEN_READ, KEYS_READ
#   ITEM_SET    c[k] = v for an existing k or index         vs WHOLE_READ (the size and keys stay)
#   WHOLE_READ  the values: list iteration, d.values(),     vs ATOMIC_MUT, ITEM_MUT, ITEM_SET
#               d.items(), dict(d), {**d}, copies
#   INDEX_READ  c[k], c.get(k), k in c                      vs ATOMIC_MUT
#   LEN_READ    len(c)                                      vs ATOMIC_MUT, ITEM_MUT
#   KEYS_READ   the keys only: iteration over a dict or a   vs ATOMIC_MUT, ITEM_MUT
#               set (for k in d, list(d), sorted(s)), d.keys()
#
# A store into an existing key changes no key, so it does not race with a
# reader of the keys; it still races with a read of that item (per key) and
# with the readers of the values.  ``s.add(x)`` of a scalar already in ``s``
# changes nothing and is no access at all (see :func:`stored`).
#
# Hand-off: the operations also synchronize like Go's atomics.  Each container
# has a clock (a SyncVar under engine.HANDOFF in its shadow): an operation that
# stores elements releases into it first, then records its own access at the
# new epoch; one that reads elements records its access, then acquires.  So a
# thread that takes an object out of a container is ordered after what was
# done before it was put in, while the container's own accesses keep the
# rules above (the store's own access is after the release it made).

ATOMIC_MUT, ITEM_MUT, WHOLE_READ, INDEX_READ, ITEM_SET, LEN_READ, KEYS_READ = range(7)
_CONFLICTS = ((WHOLE_READ, INDEX_READ, LEN_READ, KEYS_READ), (WHOLE_READ, LEN_READ, KEYS_READ),
              (ATOMIC_MUT, ITEM_MUT, ITEM_SET), (ATOMIC_MUT,), (WHOLE_READ,), (ATOMIC_MUT, ITEM_MUT),
              (ATOMIC_MUT, ITEM_MUT))
_IS_WRITE = (True, True, False, False, True, False, False)
_N_KINDS = 7

#: Hand-off flags of an access: it releases (stores elements), acquires (reads them).
H_NONE, H_RELEASE, H_ACQUIRE, H_BOTH = 0, 1, 2, 3

_BUILTIN_CONTAINERS: tuple = ()
_SEQUENCES: tuple = ()
_ctypes: dict = {}
_HANDOFF = engine.HANDOFF
_SyncVar = engine.SyncVar
_release_merge = engine.release_merge
_acquire = engine.acquire
#: Elements that carry nothing to order: storing one publishes no clock.
_ATOMS = frozenset((int, str, bytes, float, bool, type(None)))
_LOADS_KEPT = 4
_HEAPTYPE = 1 << 9   # Py_TPFLAGS_HEAPTYPE: a class made by ``class``


def _container_types() -> tuple:
    import collections

    return (list, dict, set, bytearray, collections.deque)


def _is_container(t: type) -> bool:
    ok = _ctypes.get(t)
    if ok is None:
        global _BUILTIN_CONTAINERS, _SEQUENCES
        if not _BUILTIN_CONTAINERS:
            _BUILTIN_CONTAINERS = _container_types()
            _SEQUENCES = tuple(c for c in _BUILTIN_CONTAINERS if c not in (dict, set))
        ok = issubclass(t, _BUILTIN_CONTAINERS)
        if not t.__flags__ & _HEAPTYPE:  # a cached class would keep its module's globals alive
            _ctypes[t] = ok
    return ok


def _handoff(ts, sh, how):
    """The hand-off before a container access: close the read window, release if it stores.

    Returns the clock, for :func:`_acquired` after the access is recorded.
    """
    sv = sh.get(_HANDOFF)
    if sv is None:
        if sh is _IGNORED:
            return None
        sv = sh[_HANDOFF] = _SyncVar()
    loads = ts.loads
    if sv in loads:
        loads.remove(sv)
    if how & H_RELEASE:
        _release_merge(sv)
    return sv


def _acquired(ts, sv):
    """After a container read: acquire its clock, and keep it open (see engine._handed_off)."""
    if sv is not None:
        if sv.vc:
            _acquire(sv)
        loads = ts.loads
        loads.insert(0, sv)
        if len(loads) > _LOADS_KEPT:
            del loads[_LOADS_KEPT:]


def _contents(ts, obj, sh, site, how):
    cs = sh.get(_CONTENTS)
    if cs is None:
        cs = sh[_CONTENTS] = ({}, {}, {}, {}, {}, {}, {})
    e = ts.epoch
    mine = cs[how]
    ent = mine.get(ts.tid)
    if ent is not None and ent[0] == e:
        return
    vc = ts.vc
    tid = ts.tid
    kind = "write" if _IS_WRITE[how] else "read"
    for other in _CONFLICTS[how]:
        d = cs[other]
        if d:
            for t, (oe, oh) in tuple(d.items()):
                if t != tid and (oe >> B) > vc.get(t, 0) and beyond(vc, t, oe >> B):
                    _report(ts, kind, site, "write" if _IS_WRITE[other] else "read",
                            oe, oh, LOC_CONTENTS, obj, None)
    mine[tid] = (e, _hist(site, ts))


def _key(obj, key):
    t = type(key)
    if t is int:
        if key < 0 and isinstance(obj, _SEQUENCES):
            # Only sequences count from the end; a dict's -1 is a key.  The
            # builtin's own length: a subclass's __len__ is user code.
            for c in _SEQUENCES:
                if isinstance(obj, c):
                    key += c.__len__(obj)
                    break
        return key
    if t is str or t is bytes or t is float or t is bool or key is None:
        return key
    if t is tuple and all(type(k) in (int, str, bytes, float, bool) for k in key):
        return key
    return _CONTENTS  # slices and objects: tracked at the level of the contents


def _store_kind(obj, k):
    """``obj[k] = v`` or ``obj[k] += v``: ITEM_SET when ``k`` is there already (the keys stay),
    else ITEM_MUT (a defaultdict's ``d[k] += 1`` adds ``k``)."""
    if isinstance(obj, dict):
        return ITEM_SET if dict.__contains__(obj, k) else ITEM_MUT
    return ITEM_SET   # a sequence's index: in range, or the store fails


def _item(obj, key, site, read, write, delete=False):
    ts = _tls.ts or _adopt()
    sh = _shadow_get(id(obj))
    if sh is None:
        sh = _new_shadow(obj)
    k = _key(obj, key)
    if k is _CONTENTS:
        sv = _handoff(ts, sh, H_RELEASE if write and not delete else H_NONE)
        _contents(ts, obj, sh, site, ATOMIC_MUT if write else WHOLE_READ)
        if read:
            _acquired(ts, sv)
        return
    sv = _handoff(ts, sh, H_RELEASE if write and not delete else H_NONE)
    if delete:
        how = ITEM_MUT
    elif write:
        how = _store_kind(obj, k)
    else:
        how = INDEX_READ
    _contents(ts, obj, sh, site, how)
    vs = sh.get(k)
    if vs is None:
        vs = sh[k] = [0, None, 0, None]
    e = ts.epoch
    if read and vs[2] != e and vs[0] != e:
        _read(ts, vs, site, LOC_ITEM, obj, k)
    if write and vs[0] != e:
        _write(ts, vs, site, LOC_ITEM, obj, k)
    if read:
        _acquired(ts, sv)


def _item_hook(read, write, delete, doc):
    def hook(obj: Any, key: Any, site: tuple) -> Any:
        if ACTIVE and _is_container(type(obj)):
            try:
                _item(obj, key, site, read, write, delete)
            except Exception:  # pragma: no cover
                _internal_error()
        return obj
    hook.__doc__ = doc
    return hook


def _key_hook(read, write, delete, doc):
    def hook(obj: Any, key: Any, site: tuple) -> Any:
        if ACTIVE and _is_container(type(obj)):
            try:
                _item(obj, key, site, read, write, delete)
            except Exception:  # pragma: no cover
                _internal_error()
        return key
    hook.__doc__ = doc
    return hook


rd_key = _key_hook(True, False, False, "``obj[key]`` read, as ``obj[rd_key(obj, key, site)]``: returns the key.")
wr_key = _key_hook(False, True, False, "``obj[key] = v``: returns the key; the size changes only for a new key.")
del_key = _key_hook(False, True, True, "``del obj[key]``: returns the key; the contents' size changes.")
rmw_key = _key_hook(True, True, False, "``obj[key] += v``: a read and a write of the item; returns the key.")

rd_item = _item_hook(True, False, False, "``obj[key]`` read: the item, and the contents as indexed.")
wr_item = _item_hook(False, True, False, "``obj[key] = v``: the item; the size changes only for a new key.")
del_item = _item_hook(False, True, True, "``del obj[key]``: the item, and the contents' size.")
rmw_item = _item_hook(True, True, False, "``obj[key] += v``: a read and a write of the item.")


def _whole(obj, site, how, hand):
    ts = _tls.ts or _adopt()
    sh = _shadow_get(id(obj))
    if sh is None:
        sh = _new_shadow(obj)
    _whole_sh(ts, obj, sh, site, how, hand)


def _whole_sh(ts, obj, sh, site, how, hand):
    sv = _handoff(ts, sh, hand)
    _contents(ts, obj, sh, site, how)
    if hand & H_ACQUIRE:
        _acquired(ts, sv)


def _contents_hook(how, hand, doc):
    def hook(obj: Any, site: tuple) -> Any:
        if ACTIVE and _is_container(type(obj)):
            try:
                _whole(obj, site, how, hand)
            except Exception:  # pragma: no cover
                _internal_error()
        return obj
    hook.__doc__ = doc
    return hook


rd_index = _contents_hook(INDEX_READ, H_ACQUIRE, "``obj[key]`` read where the key cannot be evaluated "
                                                 "twice, or ``x in obj``: contents level only.")
wr_index = _contents_hook(ITEM_MUT, H_RELEASE, "``obj[key] = v`` where the key cannot be evaluated twice: "
                                               "contents level only.")
rd_whole = _contents_hook(WHOLE_READ, H_ACQUIRE, "``dict(obj)``, ``{**obj}``, ``obj[a:b]``: reads all the values.")
rd_len = _contents_hook(LEN_READ, H_NONE, "``len(obj)``: reads the size only.")


def rd_iter(obj: Any, site: tuple) -> Any:
    """``for x in obj``, ``list(obj)``, ``sorted(obj)``: what iteration yields, a dict's or a
    set's keys (KEYS_READ: a store into an existing key is no conflict), a sequence's values."""
    if ACTIVE and _is_container(type(obj)):
        try:
            _whole(obj, site, KEYS_READ if isinstance(obj, (dict, set)) else WHOLE_READ, H_ACQUIRE)
        except Exception:  # pragma: no cover
            _internal_error()
    return obj


mut_whole = _contents_hook(ATOMIC_MUT, H_RELEASE, "``obj[a:b] = seq`` or ``del obj[a:b]``: one atomic change "
                                                  "of the contents.")


#: Container methods the rewriter routes through :func:`call_method`, by kind.
METHOD_KINDS = {
    **dict.fromkeys(
        ("append", "extend", "insert", "pop", "remove", "clear", "add", "discard", "update",
         "setdefault", "popitem", "appendleft", "popleft", "extendleft", "rotate", "sort",
         "reverse", "difference_update", "intersection_update",
         "symmetric_difference_update"), ATOMIC_MUT),
    **dict.fromkeys(
        ("copy", "count", "index", "values", "items", "issubset", "issuperset",
         "isdisjoint", "union", "intersection", "difference", "symmetric_difference"),
        WHOLE_READ),
    "get": INDEX_READ,
    "keys": KEYS_READ,
}

#: Methods that store elements (release the hand-off clock) and that return
#: them (acquire it); the others neither (remove, clear, sort, ...).
_STORING = ("append", "appendleft", "extend", "extendleft", "insert", "add", "update",
            "setdefault", "symmetric_difference_update")
_RETURNING = ("pop", "popleft", "popitem", "setdefault", "get")
METHOD_HANDOFF = {m: (H_RELEASE if m in _STORING else 0)
                  | (H_ACQUIRE if m in _RETURNING or METHOD_KINDS[m] in (WHOLE_READ, KEYS_READ) else 0)
                  for m in METHOD_KINDS}
#: Methods that store the one element given as their last positional argument:
#: the rewriter calls :func:`store_method` on the receiver and :func:`stored`
#: on that argument, so the release comes after the argument is evaluated
#: (``q.append(Item(x))`` fills the item before it is stored).
STORE_ONE = frozenset(("append", "appendleft", "add", "insert", "setdefault", "extend",
                       "extendleft", "update"))
_STORE_ONE_ELEMENT = frozenset(("append", "appendleft", "add", "insert", "setdefault"))


def call_method(obj: Any, meth: str, site: tuple) -> Any:
    """``obj.meth(...)`` for a container method name: one contents access."""
    if ACTIVE and _is_container(type(obj)):
        try:
            _whole(obj, site, METHOD_KINDS[meth], METHOD_HANDOFF[meth])
        except Exception:  # pragma: no cover
            _internal_error()
    return obj


def _note(obj: Any, meth: str, site: tuple) -> None:
    """Note the receiver of ``obj.meth(...)`` for the hook on one of its arguments (:func:`_take_note`)."""
    ts = _tls.ts or _adopt()
    sh = _shadow_get(id(obj))
    if sh is None:
        _new_shadow(obj)
    stores = ts.stores
    if len(stores) >= 16:   # left by exceptions in arguments: the oldest go
        del stores[:8]
    stores.append((site, obj, meth))   # the object: a watched shadow holds no reference


def _take_note(ts, site):
    """The last note made at ``site`` (the same constant, or after marshalling an equal one), removed."""
    stores = ts.stores
    i = len(stores) - 1
    while i >= 0 and stores[i][0] is not site:
        i -= 1
    if i < 0:
        i = len(stores) - 1
        while i >= 0 and stores[i][0] != site:
            i -= 1
    return stores.pop(i) if i >= 0 else None


def store_method(obj: Any, meth: str, site: tuple) -> Any:
    """The receiver of ``obj.meth(..., v)`` for a method of STORE_ONE: the access waits for :func:`stored`."""
    if ACTIVE and _is_container(type(obj)):
        try:
            _note(obj, meth, site)
        except Exception:  # pragma: no cover
            _internal_error()
    return obj


def stored(value: Any, site: tuple) -> Any:
    """The last argument ``value`` of a store method is evaluated: release, then record the store.

    ``s.add(x)`` of a scalar ``x`` already in the set changes nothing: no access.
    """
    if ACTIVE:
        try:
            ts = _tls.ts or _adopt()
            note = _take_note(ts, site)
            if note is not None:
                _, obj, meth = note
                sh = _shadow_get(id(obj))
                if sh is not None:
                    hand = METHOD_HANDOFF[meth]
                    if meth in _STORE_ONE_ELEMENT and type(value) in _ATOMS:
                        if meth == "add" and isinstance(obj, set) and set.__contains__(obj, value):
                            return value
                        hand &= ~H_RELEASE
                    _whole_sh(ts, obj, sh, site, ATOMIC_MUT, hand)
        except Exception:  # pragma: no cover
            _internal_error()
    return value



# --------------------------------------------------------------------------

_errors = 0


def _internal_error() -> None:  # pragma: no cover - reached only through a racedet bug
    """A bug in racedet must not change the program: note it once on stderr, go on."""
    global _errors
    import sys

    if isinstance(sys.exc_info()[1], RecursionError):
        return  # the program is at its recursion limit: this access goes unrecorded
    _errors += 1
    if _errors == 1:
        import sys
        import traceback

        sys.stderr.write("racedet: internal error (please report); detection continues:\n")
        traceback.print_exc()


engine.set_active_hook(set_active)
