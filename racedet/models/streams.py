"""Model of byte streams between threads of one process: loopback sockets and pipes.

A write happens before the read, on the other end, that returns its bytes:
a server thread that fills in a result and then replies is ordered before
the client thread that has received the reply (most HTTP test servers).

Each direction of a stream is a :class:`Stream`: a log of the writes not yet
read, each stamped with the byte range it occupies in the stream and the
writer's clock, taken *before* the bytes can reach the reader.  A read that
returns ``n`` bytes advances the stream's read offset by ``n`` and acquires
the clock of every write that has a byte in what it has received so far.
Extra edges (a read that also acquires a write it has not received all of)
can hide a race, never invent one.  The end of a stream is a write too: a
``shutdown`` (for writing) or the close of a socket, or ``os.close`` of a
pipe's write end, happens before the read that returns end of stream there.

Which streams are modelled: both ends must be in this process.

* ``socket.socketpair()``: both ends are known when it returns.
* TCP and Unix stream sockets: the end that ``accept()`` returns and the end
  that connected are matched by their addresses (for TCP, the pair of
  (host, port) is unique while the connection lives; Unix clients are
  matched with accepts in order).  A client end is modelled only when it is
  connected to a socket listening in this process; an accepted end gives up
  on its stream as soon as it receives bytes while no client end of this
  process has joined it (the client is elsewhere).
* ``os.pipe()``: the two descriptors, checked against the pipe's inode on
  every use, so a descriptor number reused after ``close`` never inherits a
  stale pipe.

Socket I/O is seen at ``socket.socket``'s methods (``send``, ``sendall``,
``sendto``, ``sendmsg``, ``recv``, ``recv_into``, ``recvfrom``,
``recvfrom_into``, ``recvmsg``, ``recvmsg_into``), which ``makefile()``
objects and ``http.server``/``http.client`` go through; pipe I/O at
``os.read``/``os.write``.  Datagram sockets other than a socketpair's are
handed to datagrams.py, TLS application data to tls.py (which counts it on
these same streams).  Everything else (other families, file objects over
pipes) passes through untouched.  Streams made by the
standard library for its own wake-ups (asyncio's self-pipe, subprocess) are
not modelled.  A thread blocked in a read or write is in I/O, never taken
for blocked for good.
"""

from __future__ import annotations

import _socket
import _thread
import os
import socket
import sys
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple

from racedet import engine
from racedet.clock import join_into
from racedet.models import datagrams
from racedet.models.datagrams import UNKNOWN, DgramEnd

#: Unread writes a stream keeps one by one; beyond it, the oldest half is
#: merged into one entry (a reader then acquires all of them at once).
LOG_MAX = 64

#: Modules whose streams are bookkeeping (wake-up pipes), matched on ``__name__`` prefixes.
EXEMPT_PREFIXES = (
    "asyncio", "selectors", "subprocess", "multiprocessing", "concurrent.futures", "racedet",
    "_pytest", "pytest", "pluggy", "xdist", "execnet", "coverage",
)


class Stream:
    """One direction of a byte stream: the unread writes with their writers' clocks."""

    __slots__ = ("lock", "written", "taken", "log", "eof_vc")

    def __init__(self) -> None:
        self.lock = _thread.allocate_lock()   # racedet's own: never modelled
        self.written = 0     # stream offset after the last write (reserved before the call)
        self.taken = 0       # stream offset after the last read
        self.log: List[list] = []    # [start, end, clock], in stream order
        self.eof_vc: Optional[dict] = None   # the clocks of the writers' ends closing

    def before_eof(self) -> None:
        """The calling thread is about to end its writing side (close, shutdown)."""
        vc = engine.snapshot()
        with self.lock:
            if self.eof_vc is not None:
                join_into(vc, self.eof_vc)   # a new dict: readers use it without the lock
            self.eof_vc = vc

    def after_eof(self) -> None:
        """A read returned end of stream: everything written and the close happened before."""
        with self.lock:
            got = [entry[2] for entry in self.log]
            del self.log[:]
            self.taken = self.written
            eof = self.eof_vc
        for vc in got:
            engine.acquire_clock(vc)
        engine.acquire_clock(eof)

    def before_write(self, n: int) -> list:
        """The calling thread is about to write ``n`` bytes: record its clock first."""
        vc = engine.snapshot()
        with self.lock:
            start = self.written
            entry = [start, start + n, vc]
            self.written = start + n
            log = self.log
            log.append(entry)
            if len(log) > LOG_MAX:
                self._squash()
        return entry

    def after_write(self, entry: list, n: int) -> None:
        """The write of ``entry`` put ``n`` bytes in the stream (fewer than planned, or 0)."""
        start, end = entry[0], entry[1]
        if start + n >= end:
            return
        with self.lock:
            if self.written == end:   # no later write has reserved bytes after it
                self.written = entry[1] = start + n
                if n <= 0 and self.log and self.log[-1] is entry:
                    self.log.pop()

    def after_read(self, n: int, peek: bool = False) -> None:
        """The calling thread has received ``n`` more bytes: acquire the writes they came from."""
        if n <= 0:
            return
        with self.lock:
            end = self.taken + n
            log = self.log
            got = []
            for entry in log:
                if entry[0] >= end:
                    break
                got.append(entry[2])
            if not peek:
                self.taken = end
                i = 0
                while i < len(log) and log[i][1] <= end:
                    i += 1
                if i:
                    del log[:i]
        for vc in got:
            engine.acquire_clock(vc)

    def _squash(self) -> None:
        log = self.log
        half = len(log) // 2
        merged: dict = {}
        for entry in log[:half]:
            join_into(merged, entry[2])
        log[:half] = [[log[0][0], log[half - 1][1], merged]]

    def __repr__(self) -> str:
        return f"<Stream written={self.written} read={self.taken} unread writes={len(self.log)}>"


def _made_by_user(depth: int = 2) -> bool:
    try:
        name = sys._getframe(depth).f_globals.get("__name__", "") or ""
    except ValueError:  # pragma: no cover
        return True
    return not any(name == p or name.startswith(p + ".") for p in EXEMPT_PREFIXES)


# --------------------------------------------------------------------------
# Sockets

_CLIENT, _SERVER = 0, 1


class _Conn:
    """A connection both of whose ends may be in this process: one stream each way."""

    __slots__ = ("streams", "joined", "key", "tls", "__weakref__")

    def __init__(self, key: Any = None) -> None:
        self.streams = (Stream(), Stream())   # client -> server, server -> client
        self.joined = [False, False]          # has the client / server end been seen?
        self.key = key                        # where it waits in _waiting, if it does
        self.tls = [False, False]             # does the client / server end count TLS application bytes?


class _End:
    """What one socket object writes to and reads from."""

    __slots__ = ("conn", "side", "out", "inp", "unit")

    def __init__(self, conn: _Conn, side: int, unit: bool = False) -> None:
        self.conn = conn
        self.side = side
        self.out = conn.streams[side]
        self.inp = conn.streams[1 - side]
        self.unit = unit     # datagrams: every message counts as one unit, whatever its size


_ends: "weakref.WeakKeyDictionary[Any, Optional[_End]]" = weakref.WeakKeyDictionary()
_reg_lock = _thread.allocate_lock()
TKey = Tuple[int, Any, Any]     # (family, client address, server address)
#: Connections one end of which has been seen, waiting for the other, oldest first.
#: Held strongly: the end seen may be gone (closed, freed) with its bytes
#: still unread when the other end joins.
_waiting: Dict[TKey, List[_Conn]] = {}
#: At most this many addresses wait (the oldest go first): an accepted end
#: whose client is elsewhere and that never reads would wait forever.
WAITING_MAX = 4096
#: TCP connections both ends of which have been seen (a dup of an end finds it here).
_joined: "weakref.WeakValueDictionary[TKey, _Conn]" = weakref.WeakValueDictionary()
#: Sockets listening in this process: (family, port or path) -> (socket ref, bound host).
_listeners: Dict[Tuple[int, Any], Tuple["weakref.ref[Any]", Any]] = {}

_INET = (_socket.AF_INET, getattr(_socket, "AF_INET6", -1))
_SOCK_DGRAM = int(_socket.SOCK_DGRAM)
#: The socket's type as a plain int (``socket.socket.type`` builds an enum member each time).
_sock_type = _socket.socket.type.__get__
_AF_UNIX = getattr(_socket, "AF_UNIX", -2)
_WILDCARD = ("", "0.0.0.0", "::")


def _addr(family: int, a: Any) -> Any:
    if family in _INET:
        return (a[0], a[1])     # IPv6: without flow info and scope
    return a


def _loopback(host: str) -> bool:
    return host.startswith("127.") or host == "::1" or host == "localhost"


def _listening_here(family: int, own: Any, peer: Any) -> bool:
    """Is ``peer`` (what a client end is connected to) a socket listening in this process?"""
    if family in _INET:
        ent = _listeners.get((family, peer[1]))
        if ent is None:
            return False
        host = ent[1]
        # A connection to this host has the same address at both ends (or both loopback).
        to_this_host = own[0] == peer[0] or (_loopback(own[0]) and _loopback(peer[0]))
        if not (host == peer[0] or (host in _WILDCARD and to_this_host)):
            return False
    else:
        ent = _listeners.get((family, peer))
        if ent is None:
            return False
    lsock = ent[0]()
    return lsock is not None and lsock.fileno() != -1


def _take_waiting(key: TKey, side: int) -> Optional[_Conn]:
    """The oldest connection at ``key`` whose other end has joined and ``side`` not (lock held)."""
    lst = _waiting.get(key)
    if not lst:
        return None
    found = None
    keep = []
    for c in lst:
        if found is None and c.joined[1 - side] and not c.joined[side]:
            found = c
            c.key = None
        else:
            keep.append(c)
    if keep:
        _waiting[key] = keep
    else:
        del _waiting[key]
    return found


def _seen_waiting(key: TKey, side: int) -> Optional[_Conn]:
    """A connection at ``key`` still waiting for its other end, whose ``side`` has been seen (lock held)."""
    for c in _waiting.get(key, ()):
        if c.joined[side]:
            return c
    return None


def _forget_waiting(conn: _Conn) -> None:
    with _reg_lock:
        key, conn.key = conn.key, None
        lst = _waiting.get(key) if key is not None else None
        if lst and conn in lst:
            lst.remove(conn)
            if not lst:
                del _waiting[key]


def _join(sock: Any, side: int, own: Any, peer: Any, create: bool) -> Optional[_End]:
    """Match the end ``sock`` (``side`` of its connection) with the other end, or wait for it."""
    family = sock.family
    key = (family, own, peer) if side == _CLIENT else (family, peer, own)
    with _reg_lock:
        conn = _take_waiting(key, side)
        if conn is None:
            if not create:
                return None
            conn = _Conn(key)
            conn.joined[side] = True
            _waiting.setdefault(key, []).append(conn)
            while len(_waiting) > WAITING_MAX:
                for c in _waiting.pop(next(iter(_waiting))):
                    c.key = None
        else:
            conn.joined[side] = True
            if family in _INET:
                _joined[key] = conn
    end = _End(conn, side)
    _ends[sock] = end
    return end


def _addresses(sock: Any) -> Optional[Tuple[Any, Any]]:
    if sock.family not in _INET and sock.family != _AF_UNIX:
        return None
    if sock.type != _socket.SOCK_STREAM:
        return None
    try:
        return _addr(sock.family, sock.getsockname()), _addr(sock.family, sock.getpeername())
    except OSError:
        return None


def _classify(sock: Any) -> Any:
    """First I/O of a socket racedet has not seen connect or be accepted (a dup, a non-blocking connect)."""
    family = sock.family
    if family not in _INET and family != _AF_UNIX:
        _ends[sock] = None      # other families: not modelled
        return None
    if sock.type != _socket.SOCK_STREAM:
        if sock.type != _socket.SOCK_DGRAM:
            _ends[sock] = None
            return None
        dg = _ends[sock] = DgramEnd()     # datagrams between addresses: datagrams.py
        return dg
    addrs = _addresses(sock)
    if addrs is None:
        return None     # not connected (yet): ask again next time
    own, peer = addrs
    if family in _INET:
        # A TCP address pair names one live connection: a socket with the
        # address pair of an end already seen is that end (a dup, a fromfd).
        for side, key in ((_CLIENT, (family, own, peer)), (_SERVER, (family, peer, own))):
            with _reg_lock:
                conn = _joined.get(key) or _seen_waiting(key, side)
            if conn is not None:
                end = _ends[sock] = _End(conn, side)
                return end
    end = _join(sock, _CLIENT, own, peer, _listening_here(family, own, peer))
    if end is None:
        _ends[sock] = None
    return end


def _end_of(sock: Any) -> Any:
    """The _End (a stream), DgramEnd (datagrams to addresses) or None (not modelled) of ``sock``."""
    try:
        return _ends[sock]
    except KeyError:
        return _classify(sock)
    except TypeError:  # pragma: no cover - not weakly referenceable
        return None


def _dgram_of(sock: Any) -> Optional[DgramEnd]:
    """``sock``'s DgramEnd, before a receive (streams are classified after theirs)."""
    if _sock_type(sock) != _SOCK_DGRAM:
        return None
    try:
        end = _ends[sock]
    except KeyError:
        end = _classify(sock)
    except TypeError:  # pragma: no cover - not weakly referenceable
        return None
    return end if type(end) is DgramEnd else None


def _received(sock: Any, end: _End, n: int, peek: bool) -> None:
    if not end.conn.joined[1 - end.side]:
        # Bytes came from an end racedet never saw: another process, or a
        # writer it cannot see.  Nothing to order with: stop modelling.
        _ends[sock] = None
        _forget_waiting(end.conn)
        return
    if n and end.conn.tls[1 - end.side] and not end.conn.tls[end.side]:
        # The peer counts TLS application bytes (ssl.SSLSocket) and this end
        # reads the TLS records themselves (an ssl.SSLObject over it): their
        # offsets do not agree.  Stop modelling rather than guess.
        _ends[sock] = None
        return
    if n:
        end.inp.after_read(1 if end.unit else n, peek)
    elif not end.unit and not peek:
        end.inp.after_eof()


def tls_end(sock: Any) -> Optional[_End]:
    """The end of the TCP connection under the ``ssl.SSLSocket`` ``sock``, which counts application bytes."""
    end = _end_of(sock)
    if type(end) is not _End or end.unit:
        return None
    end.conn.tls[end.side] = True
    return end


def tls_received(sock: Any, end: _End, n: int, asked: int) -> None:
    """``sock``'s TLS layer returned ``n`` bytes of application data (0 of ``asked``: end of stream)."""
    conn = end.conn
    if not conn.joined[1 - end.side] or not conn.tls[1 - end.side]:
        # The peer is elsewhere, or writes TLS records racedet counts as
        # bytes (an ssl.SSLObject over a plain socket): nothing to match.
        _ends[sock] = None
        _forget_waiting(conn)
        return
    if n:
        end.inp.after_read(n)
    elif asked and end.inp.eof_vc is not None:
        # The peer closed (a close_notify alone may be an unwrap, with plain bytes to follow).
        end.inp.after_eof()


def tls_adopt(plain: Any, tls: Any) -> None:
    """``tls`` (an ``ssl.SSLSocket``) took over ``plain``'s descriptor: it is the same end (or listener)."""
    with _reg_lock:
        for key, (ref, host) in list(_listeners.items()):
            if ref() is plain:
                _listeners[key] = (weakref.ref(tls), host)
    try:
        end = _ends[plain]
    except (KeyError, TypeError):
        return
    try:
        _ends[tls] = end
    except TypeError:  # pragma: no cover - not weakly referenceable
        return
    if type(end) is _End and not end.unit:
        end.conn.tls[end.side] = True


def _asked(args: tuple, kwargs: dict, into: bool) -> int:
    """How many bytes a recv call asked for (0 returned then means end of stream)."""
    if not into:
        return args[0] if args and isinstance(args[0], int) else 1
    n = args[1] if len(args) > 1 else kwargs.get("nbytes", 0)
    if n:
        return n
    try:
        return memoryview(args[0] if args else kwargs["buffer"]).nbytes
    except (TypeError, KeyError):  # pragma: no cover - the call itself would have failed
        return 0


def _nbytes(data: Any) -> int:
    if type(data) is bytes or type(data) is bytearray:
        return len(data)
    try:
        return memoryview(data).nbytes
    except TypeError:
        return 0


_orig_sock = {name: getattr(_socket.socket, name) for name in (
    "send", "sendall", "sendto", "recv", "recv_into", "recvfrom", "recvfrom_into", "connect",
    "connect_ex", "listen", "shutdown", "bind", "sendmsg", "recvmsg", "recvmsg_into")
    if hasattr(_socket.socket, name)}
_orig_accept = socket.socket.accept
_orig_real_close = socket.socket._real_close
_SHUT_WR = getattr(_socket, "SHUT_WR", 1)
_SHUT_RDWR = getattr(_socket, "SHUT_RDWR", 2)
_orig_socketpair = socket.socketpair
_MSG_PEEK = getattr(_socket, "MSG_PEEK", 2)


def _counted(sock: Any, end: _End, call: Any, data: Any, args: tuple) -> Any:
    """Make a send that returns how much it sent, with its clock recorded before."""
    out = end.out
    entry = out.before_write(1 if end.unit else _nbytes(data))
    n = 0
    try:
        n = call(sock, data, *args)
    finally:
        out.after_write(entry, (1 if n else 0) if end.unit else n)
    return n


def _dgram_send(sock: Any, end: DgramEnd, call: Any, data: Any, dest: Any, args: tuple) -> Any:
    """One datagram to ``dest`` (None: the peer), recorded at its mailbox before it goes."""
    sent = datagrams.before_send(sock, end, data, dest)
    ok = False
    try:
        res = call(sock, *args)
        ok = True
    finally:
        datagrams.after_send(sock, end, sent, ok)
    return res


def _send(self: Any, data: Any, *args: Any) -> Any:
    if engine.TRACKING:
        end = _end_of(self)
        if end is not None:
            if type(end) is DgramEnd:
                return _dgram_send(self, end, _orig_send, data, None, (data,) + args)
            return _counted(self, end, _orig_send, data, args)
    return _orig_send(self, data, *args)


def _sendall(self: Any, data: Any, *args: Any) -> Any:
    if engine.TRACKING:
        end = _end_of(self)
        if end is not None:
            if type(end) is DgramEnd:
                return _dgram_send(self, end, _orig_sendall, data, None, (data,) + args)
            end.out.before_write(1 if end.unit else _nbytes(data))
    return _orig_sendall(self, data, *args)


def _sendto(self: Any, data: Any, *args: Any) -> Any:
    if engine.TRACKING:
        end = _end_of(self)
        if end is not None:
            if type(end) is DgramEnd:
                dest = args[-1] if args else None
                return _dgram_send(self, end, _orig_sendto, data, dest, (data,) + args)
            return _counted(self, end, _orig_sendto, data, args)
    return _orig_sendto(self, data, *args)


def _joined_buffers(buffers: Any) -> Any:
    """The bytes of sendmsg's buffers (None when they cannot be read twice)."""
    if not isinstance(buffers, (list, tuple)):
        return None
    try:
        return b"".join(buffers)
    except TypeError:
        return None


def _sendmsg(self: Any, buffers: Any, *args: Any) -> Any:
    if engine.TRACKING:
        end = _end_of(self)
        data = _joined_buffers(buffers) if end is not None else None
        if data is not None:
            if type(end) is DgramEnd:
                dest = args[2] if len(args) > 2 else None
                return _dgram_send(self, end, _orig_sendmsg, data, dest, (buffers,) + args)
            out = end.out
            entry = out.before_write(1 if end.unit else len(data))
            n = 0
            try:
                n = _orig_sendmsg(self, buffers, *args)
            finally:
                out.after_write(entry, (1 if n else 0) if end.unit else n)
            return n
    return _orig_sendmsg(self, buffers, *args)


def _peek(args: tuple, at: int) -> bool:
    return len(args) > at and bool(args[at] & _MSG_PEEK)


def _dgram_recv(sock: Any, end: DgramEnd, call: Any, args: tuple, kwargs: dict,
                shape: Callable[[Any], Tuple[int, bytes, Optional[bool], Any]], peek: bool) -> Any:
    """One receive on an addressed datagram socket: acquire the datagram it returns."""
    entered = datagrams.before_recv(sock, end)
    try:
        res = call(sock, *args, **kwargs)
    except BaseException:
        datagrams.after_recv(sock, end, entered, None, b"", None, UNKNOWN, peek)
        raise
    if entered is not None:
        n, got, trunc, src = shape(res)
        datagrams.after_recv(sock, end, entered, n, got, trunc, src, peek)
    return res


def _head_of(buf: Any, n: int) -> bytes:
    try:
        return bytes(memoryview(buf).cast("B")[:min(n, datagrams.HEAD)])
    except (TypeError, ValueError):  # pragma: no cover - the receive itself would have failed
        return b""


def _heads_of(buffers: Any, n: int) -> bytes:
    out = b""
    for buf in buffers:
        if len(out) >= min(n, datagrams.HEAD):
            break
        out += _head_of(buf, n - len(out))
    return out


def _flags(args: tuple, at: int, kwargs: dict) -> int:
    f = args[at] if len(args) > at else kwargs.get("flags", 0)
    return f if isinstance(f, int) else 0


def _recv(self: Any, *args: Any) -> Any:
    if engine.TRACKING:
        dg = _dgram_of(self)
        if dg is not None:
            asked = _asked(args, {}, False)
            return _dgram_recv(self, dg, _orig_recv, args, {}, lambda r: (
                len(r), r[:datagrams.HEAD], datagrams.trunc_of(len(r), asked), UNKNOWN), _peek(args, 1))
    data = _orig_recv(self, *args)
    if engine.TRACKING and (data or _asked(args, {}, False)):
        end = _end_of(self)
        if end is not None:
            _received(self, end, len(data), _peek(args, 1))
    return data


def _recv_into(self: Any, *args: Any, **kwargs: Any) -> Any:
    if engine.TRACKING:
        dg = _dgram_of(self)
        if dg is not None:
            asked = _asked(args, kwargs, True)
            buf = args[0] if args else kwargs.get("buffer")
            return _dgram_recv(self, dg, _orig_recv_into, args, kwargs, lambda r: (
                r, _head_of(buf, r), datagrams.trunc_of(r, asked), UNKNOWN),
                bool(_flags(args, 2, kwargs) & _MSG_PEEK))
    n = _orig_recv_into(self, *args, **kwargs)
    if engine.TRACKING and (n or _asked(args, kwargs, True)):
        end = _end_of(self)
        if end is not None:
            _received(self, end, n, _peek(args, 2) or bool(kwargs.get("flags", 0) & _MSG_PEEK))
    return n


def _recvfrom(self: Any, *args: Any) -> Any:
    if engine.TRACKING:
        dg = _dgram_of(self)
        if dg is not None:
            asked = _asked(args, {}, False)
            return _dgram_recv(self, dg, _orig_recvfrom, args, {}, lambda r: (
                len(r[0]), r[0][:datagrams.HEAD], datagrams.trunc_of(len(r[0]), asked), r[1]),
                _peek(args, 1))
    res = _orig_recvfrom(self, *args)
    if engine.TRACKING and (res[0] or _asked(args, {}, False)):
        end = _end_of(self)
        if end is not None:
            _received(self, end, len(res[0]), _peek(args, 1))
    return res


def _recvfrom_into(self: Any, *args: Any, **kwargs: Any) -> Any:
    if engine.TRACKING:
        dg = _dgram_of(self)
        if dg is not None:
            asked = _asked(args, kwargs, True)
            buf = args[0] if args else kwargs.get("buffer")
            return _dgram_recv(self, dg, _orig_recvfrom_into, args, kwargs, lambda r: (
                r[0], _head_of(buf, r[0]), datagrams.trunc_of(r[0], asked), r[1]),
                bool(_flags(args, 2, kwargs) & _MSG_PEEK))
    res = _orig_recvfrom_into(self, *args, **kwargs)
    if engine.TRACKING and (res[0] or _asked(args, kwargs, True)):
        end = _end_of(self)
        if end is not None:
            _received(self, end, res[0], _peek(args, 2) or bool(kwargs.get("flags", 0) & _MSG_PEEK))
    return res


def _recvmsg(self: Any, *args: Any) -> Any:
    if engine.TRACKING:
        dg = _dgram_of(self)
        if dg is not None:
            return _dgram_recv(self, dg, _orig_recvmsg, args, {}, lambda r: (
                len(r[0]), r[0][:datagrams.HEAD], datagrams.trunc_of_flags(r[2]), r[3]),
                _peek(args, 2))
    res = _orig_recvmsg(self, *args)
    if engine.TRACKING and (res[0] or _asked(args, {}, False)):
        end = _end_of(self)
        if end is not None:
            _received(self, end, len(res[0]), _peek(args, 2))
    return res


def _recvmsg_into(self: Any, buffers: Any, *args: Any) -> Any:
    if engine.TRACKING:
        dg = _dgram_of(self)
        if dg is not None:
            if not isinstance(buffers, (list, tuple)):
                buffers = list(buffers)    # read once by the call, once for the payload
            return _dgram_recv(self, dg, _orig_recvmsg_into, (buffers,) + args, {}, lambda r: (
                r[0], _heads_of(buffers, r[0]), datagrams.trunc_of_flags(r[2]), r[3]),
                _peek(args, 1))
    res = _orig_recvmsg_into(self, buffers, *args)
    if engine.TRACKING:
        end = _end_of(self)
        if end is not None and res[0]:     # (its end of stream is not told apart: no edge)
            _received(self, end, res[0], _peek(args, 1))
    return res


def _ending(sock: Any) -> None:
    """``sock`` stops writing (shutdown, or its descriptor closes): the peer's end of stream."""
    try:
        end = _ends[sock]
    except (KeyError, TypeError):
        return
    if type(end) is DgramEnd:
        datagrams.closing(sock, end)
    elif end is not None and not end.unit:
        end.out.before_eof()


def _shutdown(self: Any, how: int) -> None:
    if engine.TRACKING and how in (_SHUT_WR, _SHUT_RDWR):
        _ending(self)
    _orig_shutdown(self, how)


def _real_close(self: Any) -> None:
    if engine.TRACKING:
        _ending(self)
    _orig_real_close(self)


def _connected(sock: Any) -> None:
    if sock.type == _socket.SOCK_DGRAM:
        dg = _dgram_of(sock)
        if dg is not None:
            datagrams.connected(sock, dg)
        return
    addrs = _addresses(sock)
    if addrs is not None:
        own, peer = addrs
        end = _join(sock, _CLIENT, own, peer, _listening_here(sock.family, own, peer))
        if end is None:
            _ends[sock] = None


def _connect(self: Any, address: Any) -> None:
    _orig_connect(self, address)
    if engine.TRACKING:
        _connected(self)


def _connect_ex(self: Any, address: Any) -> int:
    err = _orig_connect_ex(self, address)
    if err == 0 and engine.TRACKING:
        _connected(self)
    return err


def _bind(self: Any, address: Any) -> None:
    _orig_bind(self, address)
    if engine.TRACKING and self.type == _socket.SOCK_DGRAM:
        dg = _dgram_of(self)
        if dg is not None:
            datagrams.bound(self, dg)


def _listen(self: Any, *args: Any) -> None:
    _orig_listen(self, *args)
    if engine.TRACKING and self.family in _INET + (_AF_UNIX,):
        try:
            own = self.getsockname()
        except OSError:  # pragma: no cover
            return
        with _reg_lock:
            if self.family in _INET:
                _listeners[(self.family, own[1])] = (weakref.ref(self), own[0])
            else:
                _listeners[(self.family, own)] = (weakref.ref(self), own)


def _accept(self: Any) -> Any:
    conn_sock, address = _orig_accept(self)
    if engine.TRACKING:
        addrs = _addresses(conn_sock)
        if addrs is not None:
            _join(conn_sock, _SERVER, addrs[0], addrs[1], True)
    return conn_sock, address


def _socketpair(*args: Any, **kwargs: Any) -> Any:
    a, b = _orig_socketpair(*args, **kwargs)
    if engine.TRACKING and _made_by_user():
        conn = _Conn()
        conn.joined[:] = [True, True]
        unit = a.type != _socket.SOCK_STREAM
        _ends[a] = _End(conn, _CLIENT, unit)
        _ends[b] = _End(conn, _SERVER, unit)
    return a, b


_orig_send = _orig_sock["send"]
_orig_sendall = _orig_sock["sendall"]
_orig_sendto = _orig_sock["sendto"]
_orig_recv = _orig_sock["recv"]
_orig_recv_into = _orig_sock["recv_into"]
_orig_recvfrom = _orig_sock["recvfrom"]
_orig_recvfrom_into = _orig_sock["recvfrom_into"]
_orig_connect = _orig_sock["connect"]
_orig_connect_ex = _orig_sock["connect_ex"]
_orig_listen = _orig_sock["listen"]
_orig_shutdown = _orig_sock["shutdown"]
_orig_bind = _orig_sock["bind"]
_orig_sendmsg = _orig_sock.get("sendmsg")
_orig_recvmsg = _orig_sock.get("recvmsg")
_orig_recvmsg_into = _orig_sock.get("recvmsg_into")

_SOCKET_METHODS = {
    "send": _send, "sendall": _sendall, "sendto": _sendto, "recv": _recv, "recv_into": _recv_into,
    "recvfrom": _recvfrom, "recvfrom_into": _recvfrom_into, "connect": _connect,
    "connect_ex": _connect_ex, "listen": _listen, "shutdown": _shutdown, "accept": _accept,
    "_real_close": _real_close, "bind": _bind, "sendmsg": _sendmsg, "recvmsg": _recvmsg,
    "recvmsg_into": _recvmsg_into,
}
for _name in ("sendmsg", "recvmsg", "recvmsg_into"):
    if _name not in _orig_sock:  # pragma: no cover - not on every platform
        del _SOCKET_METHODS[_name]


# --------------------------------------------------------------------------
# Pipes

#: Descriptor -> (the pipe's inode, its stream, is it the write end), for pipes made by os.pipe().
_pipes: Dict[int, Tuple[Tuple[int, int], Stream, bool]] = {}
_orig_os = {name: getattr(os, name) for name in ("pipe", "pipe2", "read", "write", "close") if hasattr(os, name)}
_os_read = _orig_os["read"]
_os_write = _orig_os["write"]
_os_close = _orig_os["close"]
_os_fstat = os.fstat


def _register_pipe(r: int, w: int) -> None:
    st = _os_fstat(r)
    ino = (st.st_dev, st.st_ino)
    stream = Stream()
    _pipes[r] = (ino, stream, False)
    _pipes[w] = (ino, stream, True)


def _pipe_stream(fd: int) -> Optional[Stream]:
    ent = _pipes.get(fd)
    if ent is None:
        return None
    try:
        st = _os_fstat(fd)
    except (OSError, TypeError, ValueError):
        st = None
    if st is None or (st.st_dev, st.st_ino) != ent[0]:
        _pipes.pop(fd, None)   # closed and reused behind racedet's back
        return None
    return ent[1]


def _pipe() -> Tuple[int, int]:
    r, w = _orig_os["pipe"]()
    if engine.TRACKING and _made_by_user():
        _register_pipe(r, w)
    return r, w


def _pipe2(flags: int) -> Tuple[int, int]:
    r, w = _orig_os["pipe2"](flags)
    if engine.TRACKING and _made_by_user():
        _register_pipe(r, w)
    return r, w


def _write(fd: int, data: Any) -> int:
    if engine.TRACKING and _pipes:
        stream = _pipe_stream(fd)
        if stream is not None:
            entry = stream.before_write(_nbytes(data))
            n = 0
            try:
                n = _os_write(fd, data)
            finally:
                stream.after_write(entry, n)
            return n
    return _os_write(fd, data)


def _read(fd: int, n: int) -> bytes:
    data = _os_read(fd, n)
    if engine.TRACKING and _pipes and (data or n):
        stream = _pipe_stream(fd)
        if stream is not None:
            if data:
                stream.after_read(len(data))
            else:
                stream.after_eof()
    return data


#: Called with the descriptor before ``os.close`` closes it (file locks go with it).
on_close: List[Callable[[int], None]] = []


def _close(fd: int) -> None:
    if _pipes:
        ent = _pipes.get(fd)
        if ent is not None and ent[2] and engine.TRACKING:
            stream = _pipe_stream(fd)
            if stream is not None:
                stream.before_eof()
        _pipes.pop(fd, None)
    for fn in on_close:
        fn(fd)
    _os_close(fd)


_OS_FUNCS = {"pipe": _pipe, "pipe2": _pipe2, "read": _read, "write": _write, "close": _close}


def _copy_meta(new: Any, orig: Any) -> None:
    for attr in ("__name__", "__qualname__", "__doc__"):
        try:
            setattr(new, attr, getattr(orig, attr))
        except (AttributeError, TypeError):  # pragma: no cover
            pass


for _name, _fn in _SOCKET_METHODS.items():
    _copy_meta(_fn, {"accept": _orig_accept, "_real_close": _orig_real_close}.get(_name) or _orig_sock[_name])
_copy_meta(_socketpair, _orig_socketpair)
for _name, _fn in _OS_FUNCS.items():
    if _name in _orig_os:
        _copy_meta(_fn, _orig_os[_name])


def install() -> None:
    for name, fn in _SOCKET_METHODS.items():
        setattr(socket.socket, name, fn)
    socket.socketpair = _socketpair
    for name, fn in _OS_FUNCS.items():
        if name in _orig_os:
            setattr(os, name, fn)


def uninstall() -> None:
    for name in _SOCKET_METHODS:
        if name == "accept":
            socket.socket.accept = _orig_accept  # type: ignore[method-assign]
        elif name == "_real_close":
            socket.socket._real_close = _orig_real_close  # type: ignore[attr-defined]
        else:
            try:
                delattr(socket.socket, name)   # back to _socket.socket's method
            except AttributeError:  # pragma: no cover
                pass
    socket.socketpair = _orig_socketpair
    for name, fn in _orig_os.items():
        setattr(os, name, fn)
    _pipes.clear()
    datagrams.uninstall()
