"""Model of SQLite write transactions between threads: they order like a lock on the database file.

SQLite lets one connection at a time write a database file, across the
connections of a process too.  A write transaction is the lock's hold:

* it starts with ``BEGIN IMMEDIATE``/``BEGIN EXCLUSIVE``, or with the first
  writing statement of a deferred transaction (in the default isolation
  mode, the ``BEGIN`` that the ``sqlite3`` module issues before a DML
  statement is one);
* it ends with ``COMMIT``/``END``/``ROLLBACK``, ``conn.commit()``,
  ``conn.rollback()``, ``with conn:``, ``conn.close()``, or an error that
  rolls it back.

The end of one write transaction happens before the start of the next on
the same file (by ``(st_dev, st_ino)``; a shared-cache memory database by
its name; each private ``:memory:`` or temporary database is its own).  A
writing statement outside any transaction (autocommit) is both: it acquires
what earlier writers released and publishes its thread's clock first.

The clock is published before every statement that runs inside a write
transaction, since any statement may end it (an error can roll it back);
the acquire comes after the statement that took the lock.  Statements are
classified by their first keyword.

``sqlite3.Connection`` is a C type: ``sqlite3.connect()`` builds, by its
``factory`` argument, a subclass that watches ``execute``/``executemany``/
``executescript``, its cursors' too, ``commit``/``rollback``/``close``,
``__exit__`` and the ``isolation_level``/``autocommit`` setters.  The
subclass keeps the base's name and module (``isinstance(conn,
sqlite3.Connection)`` holds, ``repr`` is unchanged) and a user's factory is
subclassed the same way.  ``sqlite3`` is patched when the program imports it.
"""

from __future__ import annotations

import _thread
import os
import re
import sys
from typing import Any, Dict, Optional
from urllib.parse import parse_qs, unquote

from racedet import engine
from racedet.models.onimport import OnImport

_TARGET = "sqlite3.dbapi2"
_orig: Dict[str, Any] = {}

_WRITE = re.compile(
    r"""(?:^|;)\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*
        (?:INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|VACUUM|REINDEX|ANALYZE
          |BEGIN\s+(?:IMMEDIATE|EXCLUSIVE)
          |WITH\b.*?\b(?:INSERT|UPDATE|DELETE|REPLACE)
          |PRAGMA\s+[\w.]+\s*=)\b""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
_DML = re.compile(r"\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*(?:INSERT|UPDATE|DELETE|REPLACE)\b",
                  re.IGNORECASE | re.DOTALL)


_DEFERRED_BEGIN = re.compile(r"\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*BEGIN\b", re.IGNORECASE | re.DOTALL)


def _first_writes(sql: Any) -> bool:
    """Does the statement write (or take the write lock)?"""
    return isinstance(sql, str) and _WRITE.match(sql) is not None


def _any_writes(script: Any) -> bool:
    return isinstance(script, str) and _WRITE.search(script) is not None


class TxnState:
    """One connection's view of the write lock of its database file."""

    __slots__ = ("sv", "in_write", "snapped")

    def __init__(self, sv: engine.SyncVar) -> None:
        self.sv = sv
        self.in_write = False    # this connection holds the file's write lock
        self.snapped = False     # its read transaction has seen the file (acquired)

    def __repr__(self) -> str:
        return f"<TxnState in_write={self.in_write}>"


class _Busy(_thread._local):
    """The connections the calling thread is inside a hooked call of (conn.execute -> cursor.execute)."""

    def __init__(self) -> None:
        self.conns: set = set()


_busy = _Busy()


_files: Dict[Any, engine.SyncVar] = {}


def _db_key(database: Any, uri: bool) -> Any:
    """What identifies the database file a connection opens (None: a database of its own)."""
    try:
        name = os.fsdecode(os.fspath(database))
    except TypeError:
        return None
    if uri and name.startswith("file:"):
        path, _, query = name[5:].partition("?")
        opts = parse_qs(query)
        path = unquote(path)
        if path.startswith("//"):   # file://host/path: an empty or localhost authority
            path = "/" + path[2:].partition("/")[2]
        if path == ":memory:" or opts.get("mode") == ["memory"]:
            return ("memory", path) if opts.get("cache") == ["shared"] else None
        name = path
    if name in ("", ":memory:"):
        return None
    try:
        st = os.stat(name)
    except (OSError, ValueError):
        return ("path", os.path.abspath(name))
    return (st.st_dev, st.st_ino)


#: Watching class -> the slot that holds a connection's TxnState.  The slot's
#: descriptor is taken out of the class (as is ``__slots__``): ``dir(conn)`` is
#: python's.  (A connection takes no weak reference: no side table can hold it.)
_txn_slots: Dict[type, Any] = {}


def _state(conn: Any) -> Optional[TxnState]:
    slot = _txn_slots.get(type(conn))
    if slot is None:
        return None
    try:
        return slot.__get__(conn)
    except AttributeError:
        return None


def _in_txn(conn: Any) -> bool:
    try:
        return bool(conn.in_transaction)
    except Exception:   # closed connection
        return False


def _autocommit_legacy(conn: Any) -> bool:
    """Does the module open a transaction before DML itself (the default mode)?"""
    ac = getattr(conn, "autocommit", -1)
    if ac is True:
        return False
    try:
        return conn.isolation_level is not None
    except Exception:  # pragma: no cover - closed
        return False


def _before(conn: Any, st: TxnState, writes: bool, implicit_begin: bool) -> bool:
    """A hooked call is about to run: publish if it may end a write transaction.

    Returns whether this is the outermost hooked call of this thread on ``conn``.
    """
    busy = _busy.conns
    if id(conn) in busy:
        return False
    busy.add(id(conn))
    if engine.TRACKING:
        if st.in_write:
            engine.release_merge(st.sv)
        elif writes and not implicit_begin and not _in_txn(conn):
            engine.release_merge(st.sv)     # an autocommit write: takes and drops the lock inside
    return True


def _after(conn: Any, st: TxnState, writes: bool, ok: bool, reads: bool = True) -> None:
    """The outermost hooked call has returned (``ok``) or raised: follow the lock.

    ``reads`` is False for a deferred ``BEGIN``: the transaction sees the
    file as its first statement finds it, not as it was at ``BEGIN``.
    """
    _busy.conns.discard(id(conn))
    in_txn = _in_txn(conn)
    if not (writes or reads):
        if not in_txn:
            st.in_write = st.snapped = False
        return
    if ok and not st.in_write and (writes or not st.snapped) and engine.TRACKING:
        # The lock was just taken, or a read saw the file as the last commit left it.
        engine.acquire(st.sv)
    if in_txn:
        if ok:
            if writes:
                st.in_write = True
            else:
                st.snapped = True
    else:
        st.in_write = st.snapped = False


def _hooked_call(conn: Any, call: Any, self: Any, sql: Any, args: tuple, kwargs: dict, script: bool = False) -> Any:
    st = _state(conn)
    if st is None:
        return call(self, sql, *args, **kwargs)
    if script:
        writes, implicit_begin = _any_writes(sql), False
    else:
        writes = _first_writes(sql)
        implicit_begin = writes and _DML.match(sql) is not None and _autocommit_legacy(conn)
    if not _before(conn, st, writes, implicit_begin):
        return call(self, sql, *args, **kwargs)
    reads = script or writes or not (isinstance(sql, str) and _DEFERRED_BEGIN.match(sql))
    ok = False
    try:
        res = call(self, sql, *args, **kwargs)
        ok = True
        return res
    finally:
        _after(conn, st, writes, ok, reads)


def _hooked_end(conn: Any, call: Any, *args: Any) -> Any:
    """commit/rollback/close/__exit__ (and setters that commit)."""
    st = _state(conn)
    if st is None or not _before(conn, st, False, False):
        return call(conn, *args)
    try:
        return call(conn, *args)
    finally:
        st.in_write = st.snapped = False   # committed or rolled back (a new transaction may be open)
        _after(conn, st, False, False)


_cursor_classes: Dict[type, type] = {}
_connection_classes: Dict[type, type] = {}


def _watching_cursor(base: type) -> type:
    cls = _cursor_classes.get(base)
    if cls is not None:
        return cls

    def execute(self: Any, sql: Any, *args: Any, **kwargs: Any) -> Any:
        return _hooked_call(self.connection, base.execute, self, sql, args, kwargs)

    def executemany(self: Any, sql: Any, *args: Any, **kwargs: Any) -> Any:
        return _hooked_call(self.connection, base.executemany, self, sql, args, kwargs)

    def executescript(self: Any, script: Any, *args: Any, **kwargs: Any) -> Any:
        return _hooked_call(self.connection, base.executescript, self, script, args, kwargs, script=True)

    ns = {"__slots__": (), "execute": execute, "executemany": executemany, "executescript": executescript,
          "__module__": base.__module__, "__qualname__": base.__qualname__, "__doc__": base.__doc__}
    cls = type(base.__name__, (base,), ns)
    for name in ("execute", "executemany", "executescript"):
        _like(ns[name], getattr(base, name))
    _cursor_classes[base] = cls
    return cls


def _like(fn: Any, orig: Any) -> None:
    fn.__name__ = getattr(orig, "__name__", fn.__name__)
    fn.__doc__ = getattr(orig, "__doc__", None)


def _setter(base: type, attr: str) -> Any:
    """A property like ``base.attr`` whose setter may end a transaction (it commits)."""
    desc = base.__dict__.get(attr) or getattr(base, attr, None)
    if desc is None:
        return None

    def get(self: Any) -> Any:
        return desc.__get__(self, type(self))

    def set_(self: Any, value: Any) -> None:
        _hooked_end(self, lambda c: desc.__set__(c, value))

    return property(get, set_, None, getattr(desc, "__doc__", None))


def _watching_connection(base: type) -> type:
    cls = _connection_classes.get(base)
    if cls is not None:
        return cls
    cursor_base = _orig["Cursor"]

    def cursor(self: Any, factory: Any = cursor_base) -> Any:
        if isinstance(factory, type) and issubclass(factory, cursor_base):
            factory = _watching_cursor(factory)
        return base.cursor(self, factory)

    def execute(self: Any, sql: Any, *args: Any, **kwargs: Any) -> Any:
        return _hooked_call(self, base.execute, self, sql, args, kwargs)

    def executemany(self: Any, sql: Any, *args: Any, **kwargs: Any) -> Any:
        return _hooked_call(self, base.executemany, self, sql, args, kwargs)

    def executescript(self: Any, script: Any, *args: Any, **kwargs: Any) -> Any:
        return _hooked_call(self, base.executescript, self, script, args, kwargs, script=True)

    def commit(self: Any) -> Any:
        return _hooked_end(self, base.commit)

    def rollback(self: Any) -> Any:
        return _hooked_end(self, base.rollback)

    def close(self: Any) -> Any:
        return _hooked_end(self, base.close)

    def __exit__(self: Any, *exc: Any) -> Any:
        return _hooked_end(self, base.__exit__, *exc)

    ns: Dict[str, Any] = {
        "cursor": cursor, "execute": execute, "executemany": executemany, "executescript": executescript,
        "commit": commit, "rollback": rollback, "close": close, "__exit__": __exit__,
    }
    for name, fn in list(ns.items()):
        _like(fn, getattr(base, name))
    for attr in ("isolation_level", "autocommit"):
        prop = _setter(base, attr)
        if prop is not None:
            ns[attr] = prop
    ns.update({"__slots__": ("_rd_txn",), "__module__": base.__module__, "__qualname__": base.__qualname__,
               "__doc__": base.__doc__})
    cls = type(base.__name__, (base,), ns)
    _txn_slots[cls] = cls.__dict__["_rd_txn"]
    del cls._rd_txn, cls.__slots__   # the layout keeps the slot
    _connection_classes[base] = cls
    return cls


def _connect(database: Any, *args: Any, **kwargs: Any) -> Any:
    connect = _orig["connect"]
    base_conn = _orig["Connection"]
    if not engine.TRACKING:
        return connect(database, *args, **kwargs)
    # connect(database, timeout, detect_types, isolation_level, check_same_thread,
    #         factory, cached_statements, uri, *, autocommit)
    if len(args) > 4:
        factory = args[4]
    else:
        factory = kwargs.get("factory", base_conn)
    uri = bool(args[6]) if len(args) > 6 else bool(kwargs.get("uri", False))
    key = _db_key(database, uri)
    if key is None or not (isinstance(factory, type) and issubclass(factory, base_conn)):
        return connect(database, *args, **kwargs)
    cls = _watching_connection(factory)
    if len(args) > 4:
        args = args[:4] + (cls,) + args[5:]
    else:
        kwargs["factory"] = cls
    conn = connect(database, *args, **kwargs)
    if type(conn) is cls:
        key = _db_key(database, uri) or key   # the file exists now
        sv = _files.get(key)
        if sv is None:
            sv = _files.setdefault(key, engine.SyncVar())
        _txn_slots[cls].__set__(conn, TxnState(sv))
    return conn


def _patch(mod: Any) -> None:
    if mod.connect is _connect:
        return
    if "connect" not in _orig:
        _orig["connect"] = mod.connect
        _orig["Connection"] = mod.Connection
        _orig["Cursor"] = mod.Cursor
        _like(_connect, mod.connect)
    mod.connect = _connect
    pkg = sys.modules.get("sqlite3")
    if pkg is not None and getattr(pkg, "connect", None) is _orig["connect"]:
        pkg.connect = _connect


#: Patches sqlite3.dbapi2 right after it is first imported (sqlite3 then re-exports the patch).
_finder = OnImport(_TARGET, _patch)


def install() -> None:
    _finder.install()


def uninstall() -> None:
    """Put the original connect back (the originals stay known: a connect kept by the program still works)."""
    _finder.remove()
    orig = _orig.get("connect")
    if orig is not None:
        for name in (_TARGET, "sqlite3"):
            mod = sys.modules.get(name)
            if mod is not None and getattr(mod, "connect", None) is _connect:
                mod.connect = orig
    _files.clear()
