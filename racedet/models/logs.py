"""Model of logging's handler locks: ordered where user code runs under them or takes them.

``Handler.handle`` calls ``emit`` (and through it ``format`` and the
stream's ``write``) with the handler's lock held; a handler of the user's
own (a counting or collecting ``emit``, pykka's test handler, which also
takes ``self.lock`` in its reader) relies on that lock.  The lock stays the
raw RLock that ``createLock`` makes, and ``Handler.lock`` becomes a
:class:`racedet.models.stdlocks.StdlibLockAttr`: logging's own code gets
the raw lock for a handler whose locked work is all the standard library's
(a StreamHandler on a file: two threads logging are not ordered by it, as
they would not be by their log lines), and the view whose sections are
edges when the handler, its formatter or its stream is user code; user
code that takes ``handler.lock`` itself always gets the view.  Filters run
before ``handle`` takes the lock: they are ordered by nothing here.
"""

from __future__ import annotations

import logging
from typing import Any

from racedet.models import stdlocks

_Handler = logging.Handler
_MISSING = object()
_had_lock = _Handler.__dict__.get("lock", _MISSING)

#: What a handler runs with its lock held: its own methods, its formatter's, its stream's.
_HANDLER_HOOKS = ("emit", "format", "flush", "handleError")
_FORMATTER_HOOKS = ("format", "formatMessage", "formatTime", "formatException", "formatStack", "usesTime")
_user_types: dict = {}


def _user_type(t: type, hooks: tuple) -> bool:
    r = _user_types.get((t, hooks))
    if r is None:
        r = _user_types[(t, hooks)] = any(stdlocks.user_function(getattr(t, n, None)) for n in hooks)
    return r


def _runs_user_code(h: Any) -> bool:
    """Does user code run while logging holds ``h``'s lock?  (Asked on every record.)"""
    d = h.__dict__
    t, f, s = type(h), type(d.get("formatter")), type(d.get("stream"))
    if t in _plain and f in _plain and s in _plain:
        return False
    user = _user_type(t, _HANDLER_HOOKS) or _user_type(f, _FORMATTER_HOOKS) or stdlocks.user_module(s.__module__)
    if not user:
        _plain.update((t, f, s))
    return user


#: Handler, formatter and stream types that run only the standard library's code
#: (a type is one or the other in all three roles: a user type is never added).
_plain: set = set()


def _internal(module: str) -> bool:
    return module == "logging" or module.startswith("logging.")


def install() -> None:
    _Handler.lock = stdlocks.StdlibLockAttr(  # type: ignore[attr-defined]
        "lock", vars(logging), _internal, _runs_user_code)


def uninstall() -> None:
    if _had_lock is _MISSING:
        try:
            del _Handler.lock  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover
            pass
    else:  # pragma: no cover - a logging with a class attribute of that name
        _Handler.lock = _had_lock  # type: ignore[attr-defined]
