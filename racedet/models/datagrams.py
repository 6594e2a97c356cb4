"""Model of datagrams between sockets of one process: UDP and Unix datagram sockets.

A datagram sent to a socket bound in this process happens before the
receive that returns it (logging's ``DatagramHandler`` and
``SysLogHandler`` against a UDP server thread).  Unlike a stream, a
datagram socket has no connection to hang the order on: every datagram
names its destination, and the OS may drop datagrams.  So each address a
socket of this process is bound to has a :class:`Mailbox`, and a send to it
puts a :class:`Msg` there (the sender's clock, taken before the datagram
can arrive, its source address and a prefix of its payload).  The receive
that returns a datagram looks for the messages it can be: same source
(when the receive says where it came from), same length and payload prefix.

The matching is built so that an edge is never stronger than the truth:

* of the candidates, the oldest one ``c0`` is taken, with every candidate
  whose send is not ordered after ``c0``'s (two threads sending the same
  bytes from one socket, or a receive that does not say the source): the
  datagram is one of those, and the receive acquires the meet (pointwise
  minimum) of their clocks, which happened before whichever it is.  A
  candidate ordered after ``c0`` would arrive after it (loopback delivery is
  FIFO between ordered sends); if ``c0`` was dropped, its clock is below the
  later one's anyway.
* a message given up on (too many unread in one mailbox, or an ambiguous
  match) leaves its clock in the mailbox's *floor* under its payload, and a
  later match on that payload also meets the floor: the datagram may be the
  one given up on.
* two threads receiving on one socket at once may each get the datagram the
  other matched: a receive that overlapped another on its mailbox acquires
  nothing (it still takes a message off, so the counts stay right).
* a receive that matches nothing acquires nothing.
* a message sent where no mailbox is yet (a reply to a client whose first
  ``sendto`` autobound it and has not returned) is parked, and the mailbox
  made at that address takes it; parked messages pushed out make that
  mailbox give no edges.

Sockets made by ``socket.socketpair`` are not here: their two ends are
known, and streams.py treats each datagram as one unit of a stream.
"""

from __future__ import annotations

import _socket
import _thread
import os
import weakref
from typing import Any, Dict, List, Optional, Tuple

from racedet import engine
from racedet.clock import flat, time_of

#: Unread messages a mailbox keeps; beyond it the oldest go to the floor.
BOX_MAX = 1024
#: Payload prefixes a floor keeps; beyond it the mailbox gives no more edges.
FLOOR_MAX = 256
#: Bytes of payload kept to tell datagrams apart.
HEAD = 64

_INET = (_socket.AF_INET, getattr(_socket, "AF_INET6", -1))
_AF_UNIX = getattr(_socket, "AF_UNIX", -2)
_WILDCARD = ("", "0.0.0.0", "::")
_MSG_TRUNC = getattr(_socket, "MSG_TRUNC", 0x20)

#: "The receive does not say where the datagram came from."
UNKNOWN = object()


def meet(a: dict, b: dict) -> dict:
    """The pointwise minimum of two clocks: what both of them know."""
    out = {}
    for t, c in flat(a).items():
        m = time_of(b, t)
        if m < c:
            c = m
        if c:
            out[t] = c
    return out


def _norm(family: int, addr: Any) -> Any:
    """An address as a key: (host, port) for IP, a ``str`` path (or abstract bytes, or None) for Unix."""
    if family in _INET:
        return (addr[0], addr[1])
    if isinstance(addr, (bytes, bytearray)) and addr[:1] != b"\0":
        addr = os.fsdecode(bytes(addr))
    return addr or None


def _loopback(host: str) -> bool:
    return host.startswith("127.") or host == "::1" or host == "localhost"


class Msg:
    """One datagram sent: who sent it (when known), how it starts, the sender's clock."""

    __slots__ = ("src", "sock", "size", "head", "vc", "tid", "own")

    def __init__(self, src: Any, sock: Any, size: int, head: bytes, vc: dict, tid: int) -> None:
        self.src = src          # the sender's bound address (normalised), or UNKNOWN until bound
        self.sock = sock        # a weak reference to the sender, to learn its address later
        self.size = size
        self.head = head
        self.vc = vc
        self.tid = tid
        self.own = time_of(vc, tid)

    def source(self) -> Any:
        """The sender's address, asked of the sender when the send autobound it."""
        if self.src is UNKNOWN and self.sock is not None:
            sock = self.sock()
            if sock is not None:
                self.src = _own_address(sock)
        return self.src

    def before(self, other: "Msg") -> bool:
        """Is ``other``'s send ordered after this one's (so its datagram is queued later)?"""
        return time_of(other.vc, self.tid) >= self.own


def _content_ok(size: int, head: bytes, n: int, got: bytes, trunc: Optional[bool]) -> bool:
    """Can a datagram of ``size`` bytes starting with ``head`` be what a receive of ``n`` bytes got?

    ``trunc``: the receive says the datagram was cut to ``n`` (True), was not
    (False), or cannot tell, having filled all the room it had (None).
    """
    if trunc is False:
        if size != n:
            return False
    elif trunc:
        if size <= n:
            return False
    elif size < n:
        return False
    k = min(n, HEAD)
    return head[:k] == got[:k]


def _source_ok(family: int, msg: Msg, src: Any) -> bool:
    if src is UNKNOWN:
        return True
    have = msg.source()
    if have is UNKNOWN:
        return True      # the sender is gone before it could be asked: it may be this one
    if family in _INET:
        return have[1] == src[1] and (have[0] in _WILDCARD or have[0] == src[0])
    return have == src


class Mailbox:
    """The datagrams sent to one bound address and not received yet."""

    __slots__ = ("lock", "family", "key", "owner", "host", "msgs", "floor", "lossy", "active", "overlaps")

    def __init__(self, sock: Any, family: int, host: Any) -> None:
        self.lock = _thread.allocate_lock()    # racedet's own: never modelled
        self.family = family
        self.key: Any = None
        self.owner = weakref.ref(sock)
        self.host = host            # the bound host for IP (it decides which sends arrive)
        self.msgs: List[Msg] = []
        self.floor: Dict[Tuple[int, bytes], dict] = {}
        self.lossy = False          # the floor overflowed: no edges from here on
        self.active = 0             # receives between their call and their match
        self.overlaps = 0           # how many times a receive began while another was active

    def alive(self) -> bool:
        sock = self.owner()
        return sock is not None and sock.fileno() != -1

    def accepts(self, host: str) -> bool:
        """Does a datagram sent to ``host`` (and this port) arrive here?"""
        mine = self.host
        return mine in _WILDCARD or mine == host or (host == "localhost" and _loopback(mine))

    def put(self, msg: Msg) -> None:
        with self.lock:
            if self.lossy:
                return
            self.msgs.append(msg)
            if len(self.msgs) > BOX_MAX:
                self._give_up(self.msgs[:BOX_MAX // 2])
                del self.msgs[:BOX_MAX // 2]

    def unsend(self, msg: Msg) -> None:
        """The send of ``msg`` failed: it never reaches the socket."""
        with self.lock:
            for i, m in enumerate(self.msgs):
                if m is msg:
                    del self.msgs[i]
                    return

    def _give_up(self, msgs: List[Msg]) -> None:
        floor = self.floor
        for m in msgs:
            key = (m.size, m.head)
            old = floor.get(key)
            floor[key] = m.vc if old is None else meet(old, m.vc)
        if len(floor) > FLOOR_MAX:
            self.lossy = True
            floor.clear()
            del self.msgs[:]

    def enter(self) -> Tuple[int, bool]:
        """A receive is about to ask the OS for a datagram."""
        with self.lock:
            self.active += 1
            crowded = self.active > 1
            if crowded:
                self.overlaps += 1
            return self.overlaps, crowded

    def leave(self) -> None:
        with self.lock:
            self.active -= 1

    def match(self, token: Tuple[int, bool], n: int, got: bytes, trunc: Optional[bool], src: Any,
              peek: bool) -> Optional[dict]:
        """A receive got ``n`` bytes starting with ``got`` from ``src``: the clock it may acquire."""
        family = self.family
        with self.lock:
            overlapped = token[1] or self.overlaps != token[0] or self.active > 1
            self.active -= 1
            if self.lossy:
                return None
            cands = [m for m in self.msgs
                     if _content_ok(m.size, m.head, n, got, trunc) and _source_ok(family, m, src)]
            if not cands:
                return None
            first = cands[0]
            maybe = [first] + [m for m in cands[1:] if not first.before(m)]
            vc = first.vc
            for m in maybe[1:]:
                vc = meet(vc, m.vc)
            for (size, head), low in self.floor.items():
                if _content_ok(size, head, n, got, trunc):
                    vc = meet(vc, low)
            if not peek:
                for m in maybe:
                    self.msgs.remove(m)
                if len(maybe) > 1:
                    # Which of them came is unknown: the others may still
                    # arrive, and a later datagram of the same bytes meets them all.
                    self._give_up(maybe)
        return None if overlapped else vc


class DgramEnd:
    """What racedet knows of one datagram socket: the mailbox it receives at, the peer it sends to."""

    __slots__ = ("box", "own", "peer")

    def __init__(self) -> None:
        self.box: Optional[Mailbox] = None
        self.own: Any = UNKNOWN    # its address once bound (None: an unnamed Unix socket)
        self.peer: Any = None      # the address connect() gave it


#: (family, port) for IP or (family, path) for Unix -> the mailbox of the socket bound there.
_boxes: Dict[Tuple[int, Any], Mailbox] = {}
_reg_lock = _thread.allocate_lock()
#: Messages sent to an address no mailbox is at yet, oldest key first: a
#: socket that autobinds on its first send has its address only once that
#: send returns, and a reply may be faster than that.  A mailbox made there
#: takes them.  (An address where no socket of this process is bound, a
#: remote one, keeps them until they are pushed out.)
_parked: Dict[Tuple[int, Any], List[Tuple[Any, Msg]]] = {}
PARKED_KEYS = 256
PARKED_PER_KEY = 64
#: Addresses whose parked messages were pushed out: a mailbox made there
#: cannot know what it missed, and gives no edges.
_lost: Dict[Tuple[int, Any], None] = {}
LOST_MAX = 4096


def _park(key: Tuple[int, Any], host: Any, msg: Msg) -> None:
    """Keep ``msg`` for a mailbox that may appear at ``key`` (lock held)."""
    lst = _parked.get(key)
    if lst is None:
        lst = _parked[key] = []
        while len(_parked) > PARKED_KEYS:
            _lose(next(iter(_parked)))
    lst.append((host, msg))
    if len(lst) > PARKED_PER_KEY:
        _lose(key)


def _lose(key: Tuple[int, Any]) -> None:
    del _parked[key]
    _lost[key] = None
    while len(_lost) > LOST_MAX:
        del _lost[next(iter(_lost))]


def _box_key(family: int, addr: Any) -> Tuple[int, Any]:
    return (family, addr[1]) if family in _INET else (family, addr)


def _own_address(sock: Any) -> Any:
    """``sock``'s address as a key; None for an unnamed Unix socket, UNKNOWN while IP is unbound."""
    try:
        own = _norm(sock.family, sock.getsockname())
    except OSError:
        return UNKNOWN
    if sock.family in _INET and own[1] == 0:
        return UNKNOWN
    return own


def bound(sock: Any, end: DgramEnd) -> None:
    """``sock`` has (or may have) an address now: it receives at a mailbox there."""
    own = _own_address(sock)
    end.own = own
    if own is UNKNOWN or own is None:
        return
    box = end.box
    if box is not None and box.alive() and box.key == _box_key(sock.family, own):
        return
    box = Mailbox(sock, sock.family, own[0] if sock.family in _INET else None)
    box.key = key = _box_key(sock.family, own)
    with _reg_lock:
        parked = _parked.pop(key, ())
        if _lost.pop(key, 0) is None:
            box.lossy = True
        # Older than anything sent once the mailbox is known: they go first.
        box.msgs[:] = [m for host, m in parked if sock.family not in _INET or box.accepts(host)]
        _boxes[key] = box
    end.box = box


def closing(sock: Any, end: DgramEnd) -> None:
    """``sock`` is closing: its address may be bound again by another socket."""
    box = end.box
    if box is None:
        return
    with _reg_lock:
        if _boxes.get(box.key) is box:
            del _boxes[box.key]


def _deliver(family: int, key: Tuple[int, Any], host: Any, msg: Msg) -> Optional[Mailbox]:
    """Put ``msg`` in the mailbox at ``key`` (None: parked, or it cannot arrive there)."""
    with _reg_lock:
        box = _boxes.get(key)
        if box is not None and not box.alive():
            del _boxes[key]
            box = None
        if box is None:
            _park(key, host, msg)
            return None
    if family in _INET and not box.accepts(host):
        return None
    box.put(msg)
    return box


def _head(data: Any) -> Tuple[int, bytes]:
    if type(data) is bytes:
        return len(data), data[:HEAD]
    try:
        view = memoryview(data).cast("B")
    except TypeError:
        return -1, b""
    return view.nbytes, bytes(view[:HEAD])


def before_send(sock: Any, end: DgramEnd, data: Any, dest: Any) -> Optional[Tuple[Mailbox, Msg]]:
    """``sock`` is about to send ``data`` to ``dest`` (None: its peer): record it there first."""
    if dest is None:
        dest = end.peer
        if dest is None:
            try:
                dest = sock.getpeername()
            except OSError:
                return None
    family = sock.family
    try:
        addr = _norm(family, dest)
    except (TypeError, IndexError, ValueError):
        return None
    if addr is None:
        return None
    size, head = _head(data)
    if size < 0:
        return None
    if end.own is UNKNOWN:
        bound(sock, end)
    src = end.own
    ts = engine.current()
    vc = engine.snapshot()
    msg = Msg(src, weakref.ref(sock) if src is UNKNOWN else None, size, head, vc, ts.tid)
    box = _deliver(family, _box_key(family, addr), addr[0] if family in _INET else None, msg)
    return None if box is None else (box, msg)


def after_send(sock: Any, end: DgramEnd, sent: Optional[Tuple[Mailbox, Msg]], ok: bool) -> None:
    if sent is not None and not ok:
        sent[0].unsend(sent[1])
    if end.own is UNKNOWN:
        bound(sock, end)     # the send bound it (to receive the replies)
        if sent is not None and end.own is not UNKNOWN:
            sent[1].src = end.own


def before_recv(sock: Any, end: DgramEnd) -> Optional[Tuple[Mailbox, Tuple[int, bool]]]:
    box = end.box
    if box is None or end.own is UNKNOWN:
        bound(sock, end)
        box = end.box
        if box is None:
            return None
    return box, box.enter()


def after_recv(sock: Any, end: DgramEnd, entered: Optional[Tuple[Mailbox, Tuple[int, bool]]],
               n: Optional[int], got: bytes, trunc: Optional[bool], src: Any, peek: bool) -> None:
    """The receive returned ``n`` bytes (None: it failed) from ``src``: acquire what sent them."""
    if entered is None:
        return
    box, token = entered
    if n is None:
        box.leave()
        return
    if src is UNKNOWN and end.peer is not None:
        src = end.peer
    elif src is not UNKNOWN:
        src = _norm(sock.family, src) if src else None
    if src is not UNKNOWN and sock.family in _INET and src is None:
        src = UNKNOWN
    vc = box.match(token, n, got, trunc, src, peek)
    if vc:
        engine.acquire_clock(vc)


def connected(sock: Any, end: DgramEnd) -> None:
    try:
        end.peer = _norm(sock.family, sock.getpeername())
    except OSError:
        end.peer = None
    bound(sock, end)


def trunc_of(n: int, asked: int) -> Optional[bool]:
    """What a receive of ``n`` bytes into room for ``asked`` says of truncation."""
    return False if n < asked else None


def trunc_of_flags(flags: int) -> bool:
    return bool(flags & _MSG_TRUNC)


def uninstall() -> None:
    with _reg_lock:
        _boxes.clear()
        _parked.clear()
        _lost.clear()
