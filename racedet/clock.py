"""Vector clocks and epochs, the arithmetic of happens-before.

A vector clock is a plain ``dict`` mapping a thread id to that thread's logical
time; a missing entry means 0.  Plain dicts keep joins and copies in C.

An *epoch* ``c@t`` (FastTrack) packs a single thread's time into one int,
``(c << TID_BITS) | t``, so the common access compares two ints.  Epoch 0
means "no access".
"""

from __future__ import annotations

from typing import Dict

TVectorClock = Dict[int, int]

TID_BITS = 32
TID_MASK = (1 << TID_BITS) - 1


def join_into(dst: TVectorClock, src: TVectorClock) -> None:
    """dst := dst ⊔ src (pointwise max)."""
    get = dst.get
    for t, c in src.items():
        if c > get(t, 0):
            dst[t] = c
