"""Run a script or a ``-m`` module as ``__main__``, exactly as ``python`` would, but instrumented.

What the program sees is what plain ``python`` gives it: ``sys.argv``,
``sys.path[0]``, ``__name__``, ``__file__``, ``__spec__`` and ``__package__``
(so relative imports work under ``-m``), and an uncaught exception prints
the same traceback, without racedet's frames.  :func:`run` returns the exit
status Python would have used.
"""

from __future__ import annotations

import builtins
import importlib.machinery
import importlib.util
import os
import sys
import traceback
import types
from typing import List, Optional

from racedet import frames
from racedet.exceptions import UsageError
from racedet.instrument import importer


def _new_main(file: str) -> types.ModuleType:
    mod = types.ModuleType("__main__")
    mod.__dict__["__annotations__"] = {}  # as Python's own __main__ starts with
    mod.__dict__["__builtins__"] = builtins
    mod.__file__ = file
    return mod


def prepare_script(path: str, args: List[str]) -> tuple:
    """Compile the script and build its ``__main__`` module (before the detector starts)."""
    abspath = os.path.abspath(path)
    if not os.path.exists(abspath) or os.path.isdir(abspath):
        raise UsageError(f"can't open file {abspath!r}: [Errno 2] No such file or directory")
    with open(abspath, "rb") as f:
        source = f.read()
    sys.argv[:] = [path] + list(args)
    sys.path[0] = os.path.dirname(os.path.realpath(abspath))
    mod = _new_main(abspath)
    mod.__loader__ = importlib.machinery.SourceFileLoader("__main__", abspath)  # type: ignore[attr-defined]
    mod.__spec__ = None
    mod.__package__ = None
    mod.__cached__ = None  # type: ignore[attr-defined]
    return source, abspath, mod


def prepare_module(name: str, args: List[str]) -> tuple:
    """Find a ``-m`` module (a package runs its ``__main__``) as runpy does."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        raise UsageError(f"Error while finding module specification for {name!r} ({type(exc).__name__}: {exc})") from None
    if spec is None:
        raise UsageError(f"No module named {name}")
    if spec.submodule_search_locations is not None:
        main = name + ".__main__"
        spec = importlib.util.find_spec(main)
        if spec is None:
            raise UsageError(f"No module named {main}; {name!r} is a package and cannot be directly executed")
    if spec.origin is None or not spec.origin.endswith(".py"):
        raise UsageError(f"racedet can only run modules with Python source: {name}")
    with open(spec.origin, "rb") as f:
        source = f.read()
    sys.argv[:] = [spec.origin] + list(args)
    mod = _new_main(spec.origin)
    mod.__spec__ = spec
    mod.__loader__ = spec.loader  # type: ignore[attr-defined]
    mod.__package__ = spec.parent
    mod.__cached__ = spec.cached  # type: ignore[attr-defined]
    return source, spec.origin, mod


def execute(source: bytes, path: str, mod: types.ModuleType) -> int:
    """Run the program; return its exit status (exceptions printed as Python prints them)."""
    try:
        code = importer.compile_instrumented(source, path, toplevel=True)
    except (SyntaxError, ValueError, UnicodeError):
        code = None  # Python's own file reader raises its error (importer.run_as_python)
    sys.modules["__main__"] = mod
    frames.main_code = code
    try:
        if code is None:
            importer.run_as_python(path, mod.__dict__)
        else:
            exec(code, mod.__dict__)
    except SystemExit as exc:
        return _system_exit_status(exc)
    except BaseException:
        etype, value, tb = sys.exc_info()
        _print_exception(etype, value, tb)
        if isinstance(value, KeyboardInterrupt):
            return 130
        return 1
    return 0


def _system_exit_status(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF if code >= 0 else code & 0xFF
    try:
        sys.stderr.write(str(code) + "\n")
    except Exception:  # pragma: no cover
        pass
    return 1


def _strip(tb: Optional[types.TracebackType], skip_all: bool = False) -> Optional[types.TracebackType]:
    """Drop racedet's leading frames (runner, CLI, runpy) from a traceback."""
    while tb is not None and (skip_all or _hidden(tb.tb_frame.f_code.co_filename)):
        tb = tb.tb_next
    return tb


def _hidden(filename: str) -> bool:
    return frames.is_hidden(filename) or filename.endswith(("runpy.py", "<frozen runpy>"))


def _print_exception(etype, value, tb, skip_all: bool = False) -> None:  # type: ignore[no-untyped-def]
    tb = _strip(tb, skip_all)
    if value is not None:
        value.__traceback__ = tb
        frames.without_own_frames(value)
        tb = value.__traceback__
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    try:
        sys.excepthook(etype, value, tb)
    except BaseException:  # pragma: no cover - a broken excepthook: fall back as Python does
        traceback.print_exception(etype, value, tb)
