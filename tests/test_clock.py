"""Vector clocks with shared bases (racedet.clock): joins, copies and lookups."""

from __future__ import annotations

from racedet import clock
from racedet.clock import BASE, REBASE_AT, beyond, flat, join_into, rebased, time_of


def big(n: int, start: int = 1, c: int = 5) -> dict:
    return {t: c for t in range(start, start + n)}


def test_join_of_flat_clocks_is_pointwise_max() -> None:
    dst = {1: 3, 2: 1}
    join_into(dst, {2: 4, 3: 1})
    assert dst == {1: 3, 2: 4, 3: 1}


def test_join_shares_the_base_instead_of_copying_it() -> None:
    base = big(1000)
    src = {BASE: base, 7: 9}
    dst = {2000: 1}
    join_into(dst, src)
    assert dst[BASE] is base and len(dst) == 3
    assert time_of(dst, 500) == 5 and time_of(dst, 7) == 9 and time_of(dst, 2000) == 1
    assert base == big(1000)  # a base is never changed


def test_two_bases_keep_the_larger_and_fold_the_smaller() -> None:
    b1, b2 = big(10, 1, c=3), big(100, 5, c=2)
    dst = {BASE: b1}
    join_into(dst, {BASE: b2})
    assert dst[BASE] is b2
    for t in range(1, 105):
        assert time_of(dst, t) == max(b1.get(t, 0), b2.get(t, 0))
    assert b1 == big(10, 1, c=3) and b2 == big(100, 5, c=2)


def test_rebase_freezes_a_large_clock_and_keeps_what_it_knows() -> None:
    vc = big(REBASE_AT + 1)
    before = dict(vc)
    assert rebased(vc)
    assert list(vc) == [BASE] and vc[BASE] == before
    assert not rebased({1: 1})


def test_rebase_of_a_clock_with_a_base_merges_both() -> None:
    vc = {BASE: big(10, c=1), **big(REBASE_AT + 1, 5, c=2)}
    want = {t: time_of(vc, t) for t in range(1, 100)}
    assert rebased(vc)
    assert BASE not in vc[BASE]
    assert {t: time_of(vc, t) for t in range(1, 100)} == want
    assert flat(vc) == vc[BASE]


def test_beyond_looks_at_the_base_only() -> None:
    vc = {BASE: {3: 10}, 3: 2}
    assert not beyond(vc, 3, 10) and beyond(vc, 3, 11) and beyond({3: 2}, 3, 1)
    assert clock.TID_MASK == (1 << clock.TID_BITS) - 1
