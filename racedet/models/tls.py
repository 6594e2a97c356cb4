"""Model of TLS over loopback sockets: ``ssl.SSLSocket`` application data, written and read.

An ``ssl.SSLSocket`` sends and receives through its TLS object, in C, not
through ``socket.socket``'s methods that streams.py patches: the handshake
and the records never show there.  So the stream of a TLS connection is
counted in application bytes, at ``SSLSocket.write``/``send`` (``sendall``
loops over ``send``) and ``SSLSocket.read`` (``recv`` and ``recv_into``
call it); the TCP connection underneath and its two streams are those
streams.py already knows (``SSLContext.wrap_socket`` hands the plain
socket's end to the ``SSLSocket``).  Both ends must count the same way: a
read whose peer end does not count application bytes (an ``ssl.SSLObject``
over a plain socket, as asyncio's TLS does, sends records that streams.py
counts as bytes) gives up on the connection instead of matching offsets
that do not agree.

Patched when the program first imports ``ssl``: importing it up front would
change the program.
"""

from __future__ import annotations

import types
from typing import Any, Dict

from racedet import engine, frames
from racedet.models import streams
from racedet.models.onimport import OnImport

_orig: Dict[str, Any] = {}
_len = len


def _read(self: Any, len: int = 1024, buffer: Any = None) -> Any:  # noqa: A002 - ssl's own names
    """``SSLSocket.read``: acquire the writes whose application bytes it returns."""
    try:
        res = _orig["read"](self, len, buffer)
    except BaseException as e:
        frames.hide_own(e)   # SSLWantReadError, a timeout: as ssl.py shows them
        raise
    if engine.TRACKING:
        end = streams.tls_end(self)
        if end is not None:
            streams.tls_received(self, end, res if buffer is not None else _len(res), len)
    return res


def _counted(self: Any, call: Any, data: Any) -> Any:
    end = streams.tls_end(self)
    if end is None:
        return call(self, data)
    entry = end.out.before_write(streams._nbytes(data))
    n = 0
    try:
        n = call(self, data)
    finally:
        end.out.after_write(entry, n)
    return n


def _write(self: Any, data: Any) -> Any:
    """``SSLSocket.write``: the clock before, for the read that returns these bytes."""
    try:
        if engine.TRACKING and getattr(self, "_sslobj", None) is not None:
            return _counted(self, _orig["write"], data)
        return _orig["write"](self, data)
    except BaseException as e:
        frames.hide_own(e)
        raise


def _send(self: Any, data: Any, flags: int = 0) -> Any:
    """``SSLSocket.send``: as ``write`` over TLS; unwrapped, it is ``socket.send`` (streams.py counts it)."""
    try:
        if engine.TRACKING and flags == 0 and getattr(self, "_sslobj", None) is not None:
            return _counted(self, lambda s, d: _orig["send"](s, d), data)
        return _orig["send"](self, data, flags)
    except BaseException as e:
        frames.hide_own(e)
        raise


def _wrap_socket(self: Any, sock: Any, *args: Any, **kwargs: Any) -> Any:
    """``SSLContext.wrap_socket``: the ``SSLSocket`` is the end ``sock`` was."""
    try:
        tls = _orig["wrap_socket"](self, sock, *args, **kwargs)
    except BaseException as e:
        frames.hide_own(e)
        raise
    if engine.TRACKING:
        streams.tls_adopt(sock, tls)
    return tls


_HOOKS = {"read": _read, "write": _write, "send": _send}


def _patch(mod: types.ModuleType) -> None:
    if _orig:
        return
    cls = mod.SSLSocket  # type: ignore[attr-defined]
    for name, fn in _HOOKS.items():
        orig = cls.__dict__.get(name)
        if orig is None:  # pragma: no cover - every supported version has them
            continue
        _orig[name] = orig
        for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
            setattr(fn, attr, getattr(orig, attr))
        setattr(cls, name, fn)
    ctx = mod.SSLContext  # type: ignore[attr-defined]
    orig = ctx.__dict__.get("wrap_socket")
    if orig is not None:
        _orig["wrap_socket"] = orig
        for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
            setattr(_wrap_socket, attr, getattr(orig, attr))
        ctx.wrap_socket = _wrap_socket
    _orig["module"] = mod


_finder = OnImport("ssl", _patch)


def install() -> None:
    _finder.install()


def uninstall() -> None:
    _finder.remove()
    mod = _orig.pop("module", None)
    if mod is None:
        return
    for name in _HOOKS:
        if name in _orig:
            setattr(mod.SSLSocket, name, _orig.pop(name))  # type: ignore[attr-defined]
    if "wrap_socket" in _orig:
        mod.SSLContext.wrap_socket = _orig.pop("wrap_socket")  # type: ignore[attr-defined]
    _orig.clear()
