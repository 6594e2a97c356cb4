"""Model of the queue module: ``put`` happens before the ``get`` that receives that item.

Each queue keeps, beside its items, the clock of every pending put, keyed by
the item's identity (the queue holds the item, so the identity is stable
while it waits).  Two puts of the very same object share one entry whose
clock joins both: a get of it is then ordered after both puts, which can hide
a race but never invents one.  The queue's own mutex and conditions stay raw
(see :mod:`racedet.models.locks`), so a get is not ordered after puts of
other items, whatever the timing.
"""

from __future__ import annotations

import queue
from typing import Any, Optional

from racedet import blocking, engine
from racedet.clock import join_into

_orig = {
    "Queue": queue.Queue,
    "LifoQueue": queue.LifoQueue,
    "PriorityQueue": queue.PriorityQueue,
    "SimpleQueue": queue.SimpleQueue,
}


def _record(clocks: dict, item: Any) -> None:
    vc = engine.snapshot()
    ent = clocks.get(id(item))
    if ent is None:
        clocks[id(item)] = [1, vc]
    else:
        ent[0] += 1
        join_into(ent[1], vc)


def _take(clocks: dict, item: Any) -> None:
    ent = clocks.get(id(item))
    if ent is None:
        return
    ent[0] -= 1
    if ent[0] <= 0:
        del clocks[id(item)]
    engine.acquire_clock(ent[1])


class _ItemEdges:
    """Mixin for Queue and its subclasses: ``_put``/``_get`` run under the queue's mutex."""

    _rd_clocks: dict

    def _put(self, item: Any) -> None:
        if engine.TRACKING:
            try:
                clocks = self._rd_clocks
            except AttributeError:
                clocks = self._rd_clocks = {}
            _record(clocks, item)
        super()._put(item)  # type: ignore[misc]
        blocking.wake(self)

    def _get(self) -> Any:
        item = super()._get()  # type: ignore[misc]
        blocking.wake(self)
        if engine.TRACKING:
            clocks = getattr(self, "_rd_clocks", None)
            if clocks:
                _take(clocks, item)
        return item

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        sup = super().get  # type: ignore[misc]
        if not block:
            return sup(False)
        # An item is usually there: take it as a blocking get would, without
        # the blocked-thread bookkeeping.
        try:
            return sup(False)
        except queue.Empty:
            pass
        box: list = []

        def w(t: Optional[float]) -> bool:
            try:
                box.append(sup(True, t))
            except queue.Empty:
                if t is not None and t < 0:
                    raise
                return False
            return True

        if blocking.wait_for("Queue.get", w, timeout, lambda: self._qsize() > 0, self):  # type: ignore[attr-defined]
            return box[0]
        return sup(True, 0)  # timed out: raises Empty from queue.py, as plain python shows it

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        sup = super().put  # type: ignore[misc]
        if not block or self.maxsize <= 0:  # type: ignore[attr-defined]
            return sup(item, block, timeout)
        try:  # there is usually room: no blocked-thread bookkeeping
            return sup(item, False)
        except queue.Full:
            pass

        def w(t: Optional[float]) -> bool:
            try:
                sup(item, True, t)
            except queue.Full:
                if t is not None and t < 0:
                    raise
                return False
            return True

        if not blocking.wait_for("Queue.put", w, timeout, lambda: self._qsize() < self.maxsize, self):  # type: ignore[attr-defined]
            sup(item, True, 0)  # timed out: raises Full from queue.py, as plain python shows it

    def task_done(self) -> None:
        """task_done -> the join() it releases (workers' results are then visible)."""
        if engine.TRACKING:
            engine.release_merge(_done_sv(self))
        super().task_done()  # type: ignore[misc]
        blocking.wake(self)

    def join(self) -> None:
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


def _done_sv(q: Any) -> engine.SyncVar:
    sv = q.__dict__.get("_rd_done")
    if sv is None:
        sv = q.__dict__.setdefault("_rd_done", engine.SyncVar())
    return sv


class Queue(_ItemEdges, _orig["Queue"]):  # type: ignore[misc, valid-type]
    """``queue.Queue`` with put -> get edges per item."""


class LifoQueue(_ItemEdges, _orig["LifoQueue"]):  # type: ignore[misc, valid-type]
    """``queue.LifoQueue`` with put -> get edges per item."""


class PriorityQueue(_ItemEdges, _orig["PriorityQueue"]):  # type: ignore[misc, valid-type]
    """``queue.PriorityQueue`` with put -> get edges per item."""


class _Stamped:
    """An item put while tracking, with the putter's clock: the pair travels
    through the queue as one object, so the get that receives the item
    receives exactly its put's clock, with no lock of racedet's own beside
    the queue's (a lock that threads would queue up on)."""

    __slots__ = ("item", "vc")

    def __init__(self, item: Any, vc: dict) -> None:
        self.item = item
        self.vc = vc


class SimpleQueue(_orig["SimpleQueue"]):  # type: ignore[misc, valid-type]
    """``queue.SimpleQueue`` with put -> get edges per item (it has no _put/_get hooks)."""

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        if engine.TRACKING:
            item = _Stamped(item, engine.snapshot())
        super().put(item, block, timeout)
        blocking.wake(self)

    put_nowait = put  # type: ignore[assignment]

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        sup = super().get
        if not block:
            item = sup(False)
        elif timeout is not None:
            item = sup(True, timeout)
        else:
            box: list = []
            try:  # an item is usually there: no blocked-thread bookkeeping
                box.append(sup(False))
            except queue.Empty:
                pass
            if not box:
                def w(t: Optional[float]) -> bool:
                    try:
                        box.append(sup(True, t))
                    except queue.Empty:
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
        return self.get(False)


def install() -> None:
    queue.Queue = Queue  # type: ignore[misc]
    queue.LifoQueue = LifoQueue  # type: ignore[misc]
    queue.PriorityQueue = PriorityQueue  # type: ignore[misc]
    queue.SimpleQueue = SimpleQueue  # type: ignore[misc]


def uninstall() -> None:
    for name, orig in _orig.items():
        setattr(queue, name, orig)
