"""Capturing user-facing stacks: racedet's own frames and thread bootstrap frames never show."""

from __future__ import annotations

import os
import threading
import traceback
from types import FrameType, TracebackType
from typing import Iterator, Optional, Tuple

from racedet import env
from racedet.model import Frame, TStack

#: Directory of the racedet package: frames from here are never shown to users.
RACEDET_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_THREADING_FILE = threading.__file__
_HIDDEN_FILES = {_THREADING_FILE}

#: A raw captured frame: (code object, line number).  Turned into Frame lazily.
TRawFrame = Tuple[object, int]


_RUNPY_FILE = getattr(__import__("runpy"), "__file__", "") or ""
_HIDDEN_FILES.add(_RUNPY_FILE)


def is_hidden(filename: str) -> bool:
    """True for racedet's own files, runpy (``python -m``) and the threading bootstrap."""
    return filename.startswith(RACEDET_DIR) or filename in _HIDDEN_FILES or filename.startswith("<frozen runpy")


_hidden_codes: dict = {}

#: The main script's module code: stacks end there, as they do under plain
#: python (no frames of a launcher such as ``coverage run`` below it).
main_code: Optional[object] = None


def code_hidden(co: object) -> bool:
    """:func:`is_hidden` for a code object, cached (it is asked on every captured frame)."""
    h = _hidden_codes.get(co)
    if h is None:
        h = _hidden_codes[co] = is_hidden(co.co_filename)  # type: ignore[attr-defined]
    return h


def capture_raw(f: Optional[FrameType], limit: int = 32) -> tuple:
    """Capture (code, line) pairs of ``f`` and its callers, innermost first, skipping hidden frames."""
    out = []
    get = _hidden_codes.get
    n = 0
    while f is not None and n < limit:
        co = f.f_code
        h = get(co)
        if h is None:
            h = code_hidden(co)
        if not h:
            out.append((co, f.f_lineno))
            n += 1
            if co is main_code:
                break
        f = f.f_back
    return tuple(out)


def _display_path(filename: str) -> str:
    if filename.startswith("<"):
        return filename
    return os.path.abspath(filename)


def to_frames(raw: tuple) -> TStack:
    """Turn raw (code, line) pairs into :class:`Frame` records."""
    return tuple(
        Frame(_display_path(co.co_filename), line, co.co_name, env.qualname_of(co))
        for co, line in raw
    )


def user_stack(f: Optional[FrameType], limit: int = 32) -> TStack:
    """The user-facing stack of frame ``f`` (innermost first)."""
    return to_frames(capture_raw(f, limit))


def _stdlib_dirs() -> tuple:
    import sysconfig

    paths = sysconfig.get_paths()
    return tuple(os.path.realpath(paths[k]) + os.sep for k in ("stdlib", "platstdlib") if k in paths)


_STDLIB = _stdlib_dirs()


def trim_library_top(stack: TStack) -> TStack:
    """Drop the standard library frames on top of a blocked thread's stack.

    A thread blocked in ``q.get()`` is stuck in queue.py; the line a person
    acts on, and that suppressions match, is the user's call below it.
    """
    i = 0
    while i < len(stack) - 1 and stack[i].file.startswith(_STDLIB):
        i += 1
    return stack[i:]


#: Sets an exception's ``__traceback__`` as the interpreter does, below the
#: class's ``__setattr__``: a ``@dataclass(frozen=True)`` exception (whose
#: ``__setattr__`` refuses every name) or one whose ``__setattr__`` logs or
#: counts must not see racedet tidying its traceback.
set_traceback = BaseException.__traceback__.__set__  # type: ignore[attr-defined]


def _own(tb: TracebackType) -> bool:
    return tb.tb_frame.f_code.co_filename.startswith(RACEDET_DIR)


def hide_own(exc: BaseException) -> None:
    """Take racedet's frames out of the traceback of ``exc``, which a model re-raises.

    A model's method catches what it raises (``queue.Empty`` from queue.py,
    the raw lock's RuntimeError), calls this, and re-raises with a bare
    ``raise``: on 3.11+ that re-raises with ``__traceback__`` as it stands
    and adds no entry for the model's frame, so the user's ``except`` clause,
    ``traceback.print_exc()`` and an ExceptionGroup holding the exception see
    the stack plain python gives.  On 3.10 a bare ``raise`` restores the traceback it caught, whose first
    entry is the model's frame: :func:`install` hides it where tracebacks are
    read (the traceback module).
    """
    first = prev = None
    tb = exc.__traceback__
    while tb is not None:
        nxt = tb.tb_next
        if not _own(tb):
            if prev is None:
                first = tb
            else:
                prev.tb_next = tb
            prev = tb
        tb = nxt
    if prev is not None and prev.tb_next is not None:
        prev.tb_next = None
    set_traceback(exc, first)


_orig_walk_tb = traceback.walk_tb


def _walk_tb_without_own(tb: Optional[TracebackType]) -> Iterator[Tuple[FrameType, int]]:
    for f, lineno in _orig_walk_tb(tb):
        if not f.f_code.co_filename.startswith(RACEDET_DIR):
            yield f, lineno


def install() -> None:
    """On 3.10, where a model's re-raise keeps its own frame, hide it from the traceback module."""
    if not env.PYBEHAVIOR.reraise_reads_traceback:
        traceback.walk_tb = _walk_tb_without_own


def uninstall() -> None:
    traceback.walk_tb = _orig_walk_tb


def without_own_frames(exc: Optional[BaseException]) -> None:
    """Drop racedet's own frames from the tracebacks of ``exc`` and its chained exceptions.

    An exception raised through a model (``Queue.get`` timing out inside the
    model's ``get``) passes a racedet frame; plain python would show only the
    user's and the standard library's.  Python adds a frame to the traceback
    as the exception leaves it, so the frame cannot be kept out at the raise:
    it is taken out here, before the traceback is shown.  Other frames keep
    their ``tb_lasti``, hence their carets.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = exc.__traceback__
        kept = []
        dropped = False
        while tb is not None:
            if _own(tb):
                dropped = True
            else:
                kept.append(tb)
            tb = tb.tb_next
        if dropped:
            new = None
            for t in reversed(kept):
                new = TracebackType(new, t.tb_frame, t.tb_lasti, t.tb_lineno)
            set_traceback(exc, new)
        exc = exc.__cause__ or exc.__context__
