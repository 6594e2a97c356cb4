"""Vector clocks and epochs, the arithmetic of happens-before.

A vector clock is a plain ``dict`` mapping a thread id to that thread's logical
time; a missing entry means 0.  Plain dicts keep joins and copies in C.

Large clocks are shared, not copied.  Key :data:`BASE` (0, never a thread id)
may hold a *base*: a flat clock that is never changed once made, shared by
every clock that knows at least that much.  A clock's time for thread ``t``
is the larger of its own entry and its base's entry.  A thread whose clock
has grown past :data:`REBASE_AT` own entries freezes it into a new base
(:func:`rebased`) before publishing it, so a release then copies a few
entries and ten thousand goroutines that acquire the same big clock share
one dict instead of holding ten thousand copies (Go bounds the same cost by
reusing the slots of finished goroutines).

An *epoch* ``c@t`` (FastTrack) packs a single thread's time into one int,
``(c << TID_BITS) | t``, so the common access compares two ints.  Epoch 0
means "no access".
"""

from __future__ import annotations

from typing import Any, Dict

TVectorClock = Dict[int, Any]

TID_BITS = 32
TID_MASK = (1 << TID_BITS) - 1

#: The key of a clock's shared base (thread ids start at 1).
BASE = 0
#: Own entries beyond which a thread freezes its clock into a new base.
REBASE_AT = 64


def time_of(vc: TVectorClock, t: int) -> int:
    """The time ``vc`` knows for thread ``t`` (its own entry or its base's)."""
    c = vc.get(t, 0)
    base = vc.get(BASE)
    if base is not None:
        b = base.get(t, 0)
        if b > c:
            return b
    return c


def beyond(vc: TVectorClock, t: int, c: int) -> bool:
    """Is time ``c`` of thread ``t`` later than what ``vc``'s base knows?

    The access cores call it only after ``c > vc.get(t, 0)``: the own entry
    did not cover ``c``, so the answer rests on the base.
    """
    base = vc.get(BASE)
    return base is None or c > base.get(t, 0)


def _take_base(dst: TVectorClock, base: TVectorClock) -> None:
    """dst := dst ⊔ base, for a base: share it, or fold the smaller of two bases in."""
    mine = dst.get(BASE)
    if mine is base:
        return
    if mine is None:
        dst[BASE] = base
        return
    if len(base) >= len(mine):
        dst[BASE] = base
        base = mine
    get = dst.get
    for t, c in base.items():     # bases are flat
        if c > get(t, 0):
            dst[t] = c


def join_into(dst: TVectorClock, src: TVectorClock) -> None:
    """dst := dst ⊔ src (pointwise max).  ``src`` is not changed, nor any base."""
    get = dst.get
    base = src.get(BASE)
    if base is None:
        for t, c in src.items():
            if c > get(t, 0):
                dst[t] = c
        return
    _take_base(dst, base)
    for t, c in src.items():
        if t and c > get(t, 0):
            dst[t] = c


def flat(vc: TVectorClock) -> TVectorClock:
    """A new clock without a base that knows what ``vc`` knows."""
    base = vc.get(BASE)
    if base is None:
        return dict(vc)
    out = dict(base)
    get = out.get
    for t, c in vc.items():
        if t and c > get(t, 0):
            out[t] = c
    return out


def rebased(vc: TVectorClock) -> bool:
    """Freeze a thread's large clock into a new base, in place; True if it did.

    Afterwards ``vc`` is ``{BASE: frozen}``: the caller (the thread owning
    ``vc``) puts its own entry back.
    """
    if len(vc) <= REBASE_AT:
        return False
    frozen = flat(vc)
    vc.clear()
    vc[BASE] = frozen
    return True
