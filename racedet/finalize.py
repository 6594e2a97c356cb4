"""A finalizer is ordered after every access to the garbage it finalizes.

CPython runs ``__del__`` when an object has become unreachable: its last
reference was dropped, or the cyclic collector found it in unreachable
garbage.  Either way every access any thread made to the object came before
it became unreachable, and the loss of reachability is ordered before the
finalizer (reference counts change atomically; the collector stops the
world).  A finalizer often runs in another thread than the one that used the
object (the collector runs in whichever thread allocates), with no edge that
racedet sees: ``__init__``'s writes and ``__del__``'s reads would be
reported.

The rewriter makes ``__del__`` (a ``def`` in a class body) call
:func:`finalizing` with its ``self`` first.  It forgets what the shadow
memory recorded of ``self`` and of the objects that only garbage holds
(:func:`_garbage`), so the finalizer's accesses to them start afresh, like
those of a new object nobody else can reach.  A container's hand-off clock
is kept: what the finalizer takes out of a garbage list is still ordered
after what its storer did before storing it.  Accesses to every other object
(a global, a live object the garbage points to) race as before.

Only what is recorded is forgotten, and only of objects unreachable but
through the finalized one: a finalizer never makes a report disappear for an
object another thread can still reach.  A ``__del__`` called explicitly on
a live object loses the history of that object (and of what only it holds),
so a race between that call and earlier accesses goes unreported.
"""

from __future__ import annotations

import gc
import sys
import types
from typing import Any, Dict, List

from racedet import engine

#: How many objects one finalizer looks through (breadth first, nearest first).
LIMIT = 128

#: Objects never garbage held by one object alone, not looked into: what they
#: point to is shared (a class's namespace, a function's globals).
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.CodeType, types.BuiltinFunctionType,
           types.MethodType, types.FrameType, int, str, bytes, float, bool, type(None))

def finalizing(obj: Any, _engine: Any = engine, _exiting: Any = sys.is_finalizing) -> None:
    """``obj.__del__`` starts: forget the accesses to ``obj`` and to what only garbage holds.

    What it uses is bound at definition: a finalizer can run at interpreter
    exit, after this module's globals are gone (then nothing is recorded).
    """
    try:
        if _engine.ACTIVE and _engine.shadow:
            _forget(_garbage(obj))
    except Exception:  # pragma: no cover - the detector must never break the program
        if not _exiting():   # at exit this module's globals may be gone: say nothing
            from racedet import access_py

            access_py._internal_error()


def _forget(oids: List[int]) -> None:
    shadow = engine.shadow
    ref, handoff = engine.REF, engine.HANDOFF
    for oid in oids:
        sh = shadow.get(oid)
        if sh is None or sh is engine.IGNORED:
            continue
        kept = {k: v for k, v in sh.items() if k is ref or k is handoff}
        if kept:
            shadow[oid] = kept
        else:   # a watched object: a new shadow is watched again
            del shadow[oid]


def _garbage(root: Any) -> List[int]:
    """The ids of ``root`` and of the objects reachable from it that only they hold.

    ``root`` is garbage (it is being finalized).  The objects reachable from it
    are explored breadth first, up to :data:`LIMIT`, through those that have a
    shadow (were accessed) and plain dicts (an instance's ``__dict__``); as
    the cyclic collector does, an explored object whose reference count
    exceeds the references the explored objects hold to it is held from
    outside, and so is everything it reaches but through ``root``.  The rest
    is garbage.  Every approximation errs on the side of "held from outside":
    an object not looked into holds references that go uncounted, a reference
    the traversal does not show (a C extension's) counts as outside, and a
    strongly shadowed object's own reference is the only one subtracted.
    """
    nodes = [root]
    index = {id(root): 0}
    inner = [0]                    # inner[k]: references the explored objects hold to nodes[k]
    edges: List[List[int]] = []    # edges[i]: the nodes nodes[i] holds, once per reference
    referents = gc.get_referents
    skip = _skipped
    sh_get = engine.shadow.get
    while len(edges) < len(nodes) and len(edges) < LIMIT:
        o = nodes[len(edges)]
        out: List[int] = []
        edges.append(out)
        if type(o) is not dict and sh_get(id(o)) is None and len(edges) > 1:
            continue   # nothing recorded of it: what it holds is not looked into
        for r in referents(o):
            k = index.get(id(r))
            if k is None:
                if skip(type(r)):
                    index[id(r)] = -1   # alive while its holder is: the id stays its own
                    continue
                k = index[id(r)] = len(nodes)
                nodes.append(r)
                inner.append(1)
            elif k < 0:
                continue
            else:
                inner[k] += 1
            out.append(k)
        r = o = None
    if len(nodes) == 1:
        return [id(root)]
    getrc = sys.getrefcount
    ref = engine.REF
    held = [False] * len(nodes)
    live = []
    n_edges = len(edges)
    for k in range(1, len(nodes)):
        sh = sh_get(id(nodes[k]))
        if sh is None and (k >= n_edges or not edges[k]):
            continue   # a leaf with nothing recorded: nothing to forget, nothing held through it
        # Not counted: ``nodes`` and getrefcount's argument; a strongly held shadow's reference.
        n = getrc(nodes[k]) - 2
        if n > inner[k] and (sh is None or sh.get(ref) is not nodes[k] or n - 1 > inner[k]):
            live.append(k)
    sh = None
    while live:
        k = live.pop()
        if held[k]:
            continue
        held[k] = True
        if k < len(edges):
            live.extend(j for j in edges[k] if j and not held[j])  # nothing live holds root
    return [id(nodes[k]) for k in range(len(nodes)) if not held[k]]


#: Is a type left out (see _OPAQUE), by id(type); an entry goes with its type (as engine._type_kind's).
_opaque_kinds: Dict[int, bool] = {}
_opaque_refs: Dict[int, Any] = {}


def _skipped(t: type) -> bool:
    s = _opaque_kinds.get(id(t))
    if s is None:
        s = _opaque_kinds[id(t)] = issubclass(t, _OPAQUE)
        if t.__flags__ & _HEAPTYPE:
            r = _opaque_refs[id(t)] = engine._Ref(t, _forget_type)
            r.oid = id(t)
    return s


def _forget_type(r: Any, _kinds: Any = _opaque_kinds.pop, _refs: Any = _opaque_refs.pop) -> None:
    _kinds(r.oid, None)
    _refs(r.oid, None)


_HEAPTYPE = 1 << 9   # Py_TPFLAGS_HEAPTYPE: a class made by ``class``
