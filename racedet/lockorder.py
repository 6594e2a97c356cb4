"""Lock-order inversion (potential deadlock), as TSan's ``lock-order-inversion``.

Each modelled lock gets a small integer id when it is made.  Acquiring lock
``B`` while holding ``A`` adds the edge ``A -> B`` to a global graph, with the
stacks of both acquisitions; an edge that closes a cycle is a potential
deadlock even if this run did not hang.

Re-entering an RLock adds no edge, and neither does an acquisition that
cannot wait forever (``blocking=False`` or a timeout: :func:`tried`), as TSan
ignores try-locks: such a lock is still *held*, so locks taken while holding
it get their edges.  A lock released by another thread than the one that
took it (a Lock used as a binary semaphore: the first reader takes it, the
last one releases it) leaves its acquirer's held set (:func:`released`).

Such a hold was never the acquirer's to give back, so the edges formed
under it say nothing about the order in which one thread takes locks: when
another thread releases a hold, the edges formed while it lasted leave the
graph (they may form again under a later hold).  Whether a hold ends that
way is known only when it ends, so a cycle with an edge whose hold is still
on is *pending*: it is reported once those holds have ended by their own
thread's release (seen at the next lock-order event, a thread's end or
:func:`settle` at the end of the run or test, which reports what is still
pending), and dropped if one of them is released by another thread.  The
readerwriterlock shape (the first reader takes ``resource`` under
``count``; it takes ``count`` again to leave while ``resource`` is held for
all readers, and the last reader, another thread, releases it) is then no
inversion; two threads taking two locks in opposite orders still are.

A *gate lock* is a lock held at the
formation of every edge of a cycle (``G`` in ``G, A, B`` / ``G, B, A``): it
serializes the two paths, so they cannot deadlock, and such a cycle is not
reported.  That is the safe call: a gate-protected cycle becomes a real
deadlock only if some third path takes the locks without the gate, and that
path then forms its own, ungated edge which is reported.
"""

from __future__ import annotations

import _thread
import itertools
import sys
from typing import Callable, Dict, List, Optional, Tuple

from racedet import engine, frames
from racedet.model import LockAcquisition, LockOrderInversion

_uids = itertools.count(1)

#: (held uid, acquired uid) -> (thread name, acquired stack (raw), held stack (raw), gate uids, held desc, acquired desc)
edges: Dict[Tuple[int, int], tuple] = {}
_succ: Dict[int, set] = {}
_reported: set = set()
#: Edge -> (hold entry, thread state) it was formed under, and hold id -> (entry, its edges)
_edge_hold: Dict[Tuple[int, int], tuple] = {}
_under: Dict[int, Tuple[tuple, List[Tuple[int, int]]]] = {}
#: Cycles found whose holds had not all ended: (cycle key, inversion, [(entry, thread state)])
_pending: List[tuple] = []

on_inversion: Callable[[LockOrderInversion], None] = lambda inv: None
_graph_lock = _thread.allocate_lock()   # racedet's own: never modelled
enabled = True


def new_uid() -> int:
    return next(_uids)


def _where(depth: int) -> tuple:
    f = sys._getframe(depth)
    hidden = frames.is_hidden
    while f is not None and hidden(f.f_code.co_filename):
        f = f.f_back
    return ((f.f_code, f.f_lineno),) if f is not None else ()


def acquired(uid: int, desc: str) -> None:
    """The calling thread now holds lock ``uid`` (first, not re-entrant, acquisition)."""
    ts = engine.current()
    held = ts.held
    if held and enabled:
        stack = None
        found = False
        for hent in held:
            h, hdesc, hstack = hent
            if h == uid or (h, uid) in edges:
                continue
            if stack is None:
                stack = frames.capture_raw(sys._getframe(1), 16)
            gates = frozenset(g for g, _, _ in held if g != h)
            with _graph_lock:  # other threads add edges while a search walks the graph
                if (h, uid) in edges:
                    continue
                edges[(h, uid)] = (ts.display_name(), stack, hstack, gates, hdesc, desc)
                _succ.setdefault(h, set()).add(uid)
                _edge_hold[(h, uid)] = (hent, ts)
                _under.setdefault(id(hent), (hent, []))[1].append((h, uid))
                found = _check_cycle(h, uid) or found
        held.append((uid, desc, stack if stack is not None else _where(2)))
        if found or _pending:
            settle()
    else:
        f = sys._getframe(2)   # the user's acquire (or with statement) in the common case
        held.append((uid, desc, ((f.f_code, f.f_lineno),)))


def tried(uid: int, desc: str) -> None:
    """The calling thread now holds lock ``uid``, taken by an acquire that could not wait forever.

    No edge: a try-lock or a timed acquire gives up instead of deadlocking.
    """
    engine.current().held.append((uid, desc, _where(1)))


def released(uid: int) -> None:
    """Lock ``uid`` is released: it leaves the held set of the thread that holds it.

    That is the calling thread's, or, for a Lock released by another thread
    than its acquirer (a lock is not owned), the acquirer's: otherwise the
    acquirer would be taken to hold it still, and its later acquisitions
    would form edges from a lock it no longer holds.
    """
    me = engine.current()
    if _drop(me.held, uid) is not None:
        if _pending:
            settle()
        return
    for ts in list(engine.threads_by_tid.values()):
        if ts is not me and ts.held:   # a finished thread's hold too: the acquirer may be gone
            entry = _drop(ts.held, uid)
            if entry is not None:
                _void(entry)
                return


def _drop(held: list, uid: int) -> Optional[tuple]:
    """Remove the last entry of lock ``uid`` from ``held`` and return it (None: there was none)."""
    for i in range(len(held) - 1, -1, -1):
        try:
            entry = held[i]
        except IndexError:   # another thread's list, shrinking meanwhile
            continue
        if entry[0] == uid:
            for j in range(len(held) - 1, -1, -1):  # by identity: equal tuples are other holds
                try:
                    if held[j] is entry:
                        del held[j]
                        return entry
                except IndexError:  # pragma: no cover - shrinking meanwhile
                    continue
            return None  # pragma: no cover - gone meanwhile
    return None


def _void(entry: tuple) -> None:
    """The hold ``entry`` was released by another thread: its edges and pending cycles go."""
    with _graph_lock:
        got = _under.pop(id(entry), None)
        if got is None or got[0] is not entry:
            return
        for key in got[1]:
            if _edge_hold.get(key, (None,))[0] is entry:
                del _edge_hold[key]
                edges.pop(key, None)
                succ = _succ.get(key[0])
                if succ is not None:
                    succ.discard(key[1])
        keep = []
        for p in _pending:
            if any(e is entry for e, _ in p[2]):
                _reported.discard(p[0])
            else:
                keep.append(p)
        _pending[:] = keep


def _on(entry: tuple, ts: "engine.ThreadState") -> bool:
    """Is the hold ``entry`` still in its thread's held set?"""
    return any(e is entry for e in list(ts.held))


def settle(final: bool = False) -> None:
    """Report the pending cycles whose holds all ended (``final``: every pending cycle)."""
    if not _pending:
        return
    ready = []
    with _graph_lock:
        keep = []
        for p in _pending:
            if final or not any(_on(e, ts) for e, ts in p[2]):
                ready.append(p[1])
            else:
                keep.append(p)
        _pending[:] = keep
        if final:
            _under.clear()   # what is still on stays in the graph; no later release voids it
            _edge_hold.clear()
    for inv in ready:
        on_inversion(inv)


def _path(src: int, dst: int) -> Optional[List[int]]:
    """A path of lock uids from src to dst in the graph, if any (iterative DFS)."""
    stack = [(src, [src])]
    seen = {src}
    while stack:
        node, path = stack.pop()
        if node == dst:
            return path
        for nxt in _succ.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def _check_cycle(h: int, uid: int) -> bool:
    """Is there an inversion that the new edge ``h -> uid`` closes?  It becomes pending (under _graph_lock)."""
    back = _path(uid, h)
    if back is None:
        return False
    cycle = [h] + back          # h -> uid -> ... -> h
    pairs = list(zip(cycle, cycle[1:]))
    gates = None
    for p in pairs:
        g = edges[p][3]
        gates = g if gates is None else gates & g
    if gates:
        return False
    key = frozenset(pairs)
    if key in _reported:
        return False
    _reported.add(key)
    acqs = []
    for a, b in pairs:
        thread, stack, hstack, _, hdesc, desc = edges[(a, b)]
        acqs.append(LockAcquisition(
            held=hdesc, acquired=desc, thread=thread,
            stack=frames.to_frames(stack), held_stack=frames.to_frames(hstack)))
    holds = [_edge_hold[p] for p in pairs if p in _edge_hold]
    _pending.append((key, LockOrderInversion(tuple(acqs)), holds))
    return True


def reset() -> None:
    with _graph_lock:
        edges.clear()
        _succ.clear()
        _reported.clear()
        _edge_hold.clear()
        _under.clear()
        _pending.clear()


class LockDesc(str):
    """A modelled lock's description, as lock-order reports print it, which also knows its parts.

    ``name`` is the short Go/TSan-style name (``Lock L3``) that race reports
    give a held lock, and ``created`` the raw user frame where the lock was
    made (``((code, line),)``, or ``()``).  The lock keeps its description
    for life, and every held-set entry carries it, so a history record that
    keeps the held descriptions can name the locks later at no extra cost.
    """

    name: str
    created: tuple

    def __reduce__(self) -> tuple:
        return (str, (str(self),))   # a plain str off this process (the frame holds a code object)


def describe(kind: str, uid: int, obj: object, where: str) -> str:
    name = f"{kind} L{uid}"
    d = LockDesc(f"{name} at {hex(id(obj))} (created at {where})" if where else f"{name} at {hex(id(obj))}")
    d.name = name
    d.created = _where(2) if where else ()
    return d

