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
from typing import Any, List

from racedet import engine

#: How many objects one finalizer looks through (breadth first, nearest first).
LIMIT = 128

#: Objects never garbage held by one object alone, not looked into: what they
#: point to is shared (a class's namespace, a function's globals).
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.CodeType, types.BuiltinFunctionType,
           types.MethodType, types.FrameType, int, str, bytes, float, bool, type(None))

#: Keys of a shadow dict that are no record of an access (see engine.REF, engine.HANDOFF).
_KEEP = (engine.REF, engine.HANDOFF)


def finalizing(obj: Any) -> None:
    """``obj.__del__`` starts: forget the accesses to ``obj`` and to what only garbage holds."""
    if engine.ACTIVE and engine.shadow:
        try:
            _forget(_garbage(obj))
        except Exception:  # pragma: no cover - the detector must never break the program
            from racedet import access_py

            access_py._internal_error()


def _forget(oids: List[int]) -> None:
    shadow = engine.shadow
    keep = _KEEP
    for oid in oids:
        sh = shadow.get(oid)
        if sh is None or sh is engine.IGNORED:
            continue
        for k in [k for k in sh if k not in keep]:
            del sh[k]


def _garbage(root: Any) -> List[int]:
    """The ids of ``root`` and of the objects reachable from it that only they hold.

    ``root`` is garbage (it is being finalized).  The objects reachable from it
    are explored breadth first, up to :data:`LIMIT`; as the cyclic collector
    does, an explored object whose reference count exceeds the references the
    explored objects hold to it is held from outside, and so is everything it
    reaches.  The rest is garbage.  Every approximation errs on the side of
    "held from outside": an object not looked into holds references that go
    uncounted, a reference the traversal does not show (a C extension's) counts
    as outside, and a strongly shadowed object's own reference is the only one
    subtracted.
    """
    nodes = [root]
    index = {id(root): 0}
    edges: List[List[int]] = []    # edges[i]: the nodes nodes[i] holds, once per reference
    referents = gc.get_referents
    opaque = _OPAQUE
    while len(edges) < len(nodes) and len(edges) < LIMIT:
        out: List[int] = []
        for r in referents(nodes[len(edges)]):
            if isinstance(r, opaque):
                continue
            k = index.get(id(r))
            if k is None:
                k = index[id(r)] = len(nodes)
                nodes.append(r)
            out.append(k)
        r = None
        edges.append(out)
    if len(nodes) == 1:
        return [id(root)]
    inner = [0] * len(nodes)
    for out in edges:
        for k in out:
            inner[k] += 1
    live = [k for k in range(1, len(nodes)) if _outside(nodes, k) > inner[k]]
    held = [False] * len(nodes)
    while live:
        k = live.pop()
        if held[k] or k == 0:   # nothing live holds root: what it holds is not held through it
            continue
        held[k] = True
        if k < len(edges):
            live.extend(j for j in edges[k] if not held[j])
    return [id(nodes[k]) for k in range(len(nodes)) if not held[k]]


def _outside(nodes: List[Any], k: int, getrc: Any = sys.getrefcount) -> int:
    """The references to ``nodes[k]`` but the ones :func:`_garbage` holds (``nodes`` and
    getrefcount's argument) and a strongly held shadow's."""
    n = getrc(nodes[k]) - 2
    sh = engine.shadow.get(id(nodes[k]))
    if sh is not None and sh.get(engine.REF) is nodes[k]:
        n -= 1
    return n
