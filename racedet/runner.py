"""Run a program as ``__main__``, exactly as ``python`` would, but instrumented.

Every form ``python`` runs is accepted: a script, a ``-m`` module, a directory
or zip file (``.pyz`` zipapp) holding ``__main__.py``, and a ``.pyc`` file.
What the program sees is what plain ``python`` gives it: ``sys.argv``,
``sys.path[0]``, ``__name__``, ``__file__`` (absolute but not normalised),
``__spec__``, ``__loader__`` and ``__package__``.  Source forms are
instrumented; a ``.pyc`` (and a zip holding only bytecode) runs as it is.

Python's frames below the program are part of what it sees: none for a
script or a ``.pyc``, runpy's two frames for ``-m``, a directory or a zip.
With the compiled helper racedet._stack (racedet/_stack.c) the program's
main code is evaluated exactly there: its frame is linked to runpy's frame
(or to none), past racedet's launcher frames, and it runs at python's
recursion depth, so ``sys._getframe``, ``traceback.extract_stack()``,
``warnings.warn(stacklevel=N)``, faulthandler and pdb see python's stack.
Without the helper the launcher frames stay below the program, and what can
be hidden is hidden in Python: a traceback is rebuilt with python's frames
(:func:`visible_traceback`, needed either way, as racedet's frame that
caught the exception is on it) and ``warnings.warn`` is wrapped while the
program runs so that a ``stacklevel`` below the program is attributed as
python would attribute it.

How the program ended (:class:`Ending`) is kept, not turned into a number:
after racedet's report, :meth:`Ending.finish` ends the process the way the
program's own ending would have, so python itself maps ``sys.exit(obj)`` to a
status and message, and an uncaught ``KeyboardInterrupt`` kills the process
with SIGINT, on every version exactly as it does without racedet.
"""

from __future__ import annotations

import builtins
import dataclasses
import importlib.machinery
import importlib.util
import marshal
import operator
import os
import sys
import types
import warnings
from typing import List, NoReturn, Optional, Sequence

from racedet import env, frames
from racedet.exceptions import UsageError
from racedet.instrument import importer

try:
    from racedet import _stack as stack_ext
except ImportError:  # not built: the launcher's frames stay below the program
    stack_ext = None  # type: ignore[assignment]

#: The recursion depth (``stack_ext.depth()``) python runs a ``-m`` program's
#: module at: measured by racedet/__main__.py where runpy runs it; None when
#: racedet was not started through runpy.
launch_depth: Optional[tuple] = None
#: What measures how much evaluating a module adds to the depth: the call
#: racedet/__main__.py measures with.  Compiled afresh for each use: how a
#: call site counts toward the depth changes once the interpreter specialises it.
_DEPTH_PROBE = "depth_seen = runner.stack_ext.depth()"


@dataclasses.dataclass
class Program:
    """A program ready to run as ``__main__``."""

    #: The module the program runs in (``sys.modules["__main__"]`` while it runs).
    module: types.ModuleType
    #: The file name its code is compiled with (tracebacks show it).
    path: str
    #: Its source, to instrument; ``None`` when only bytecode exists (``code`` then).
    source: Optional[bytes] = None
    code: Optional[types.CodeType] = None
    #: True for the forms python runs through runpy (``-m``, a directory, a zip):
    #: their tracebacks and warnings see runpy's two frames below the program.
    via_runpy: bool = False
    #: The ``-m`` name (None for a directory or zip, which runpy runs as ``__main__``).
    module_name: Optional[str] = None


def _new_main(file: Optional[str]) -> types.ModuleType:
    mod = types.ModuleType("__main__")
    mod.__dict__["__annotations__"] = {}  # as Python's own __main__ starts with
    mod.__dict__["__builtins__"] = builtins
    if file is not None:
        mod.__file__ = file
    return mod


def _python_abspath(path: str) -> str:
    """The absolute path python makes of a command-line path: joined to the cwd, not normalised."""
    if os.path.isabs(path):
        return path
    return os.path.join(os.getcwd(), path)


def _main_importer(path: str) -> object:
    """The path-entry importer python would run ``path``'s ``__main__`` from (a directory, a zip), or None."""
    for hook in sys.path_hooks:
        try:
            return hook(path)
        except ImportError:
            continue
    return None


def _is_pyc(path: str) -> bool:
    """As python decides: a ``.pyc`` name, or a file starting with the first half of the magic number."""
    if path.endswith(".pyc"):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(2) == importlib.util.MAGIC_NUMBER[:2]
    except OSError:
        return False


def prepare_script(path: str, args: List[str]) -> Program:
    """Build the program named by a path: a script, a ``.pyc``, or a directory or zip with ``__main__``."""
    abspath = _python_abspath(path)
    if not os.path.exists(abspath):
        raise UsageError(f"can't open file {abspath!r}: [Errno 2] No such file or directory")
    main_importer = _main_importer(abspath)
    if main_importer is not None:
        return _prepare_main_importer(path, abspath, main_importer, args)
    if os.path.isdir(abspath):  # pragma: no cover - FileFinder takes every directory
        raise UsageError(f"can't find '__main__' module in {abspath!r}")
    sys.argv[:] = [path] + list(args)
    sys.path[0] = os.path.dirname(os.path.realpath(abspath))
    mod = _new_main(abspath)
    mod.__spec__ = None
    mod.__package__ = None
    mod.__cached__ = None  # type: ignore[attr-defined]
    try:
        with open(abspath, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise UsageError(f"can't open file {abspath!r}: [Errno {exc.errno}] {exc.strerror}") from None
    if _is_pyc(abspath):
        mod.__loader__ = importlib.machinery.SourcelessFileLoader("__main__", abspath)  # type: ignore[attr-defined]
        if data[:4] != importlib.util.MAGIC_NUMBER:
            raise UsageError(f"Bad magic number in .pyc file: {path}")
        try:
            code = marshal.loads(data[16:])
        except (EOFError, ValueError, TypeError):
            raise UsageError(f"Bad code object in .pyc file: {path}") from None
        if not isinstance(code, types.CodeType):
            raise UsageError(f"Bad code object in .pyc file: {path}")
        return Program(mod, abspath, code=code)
    mod.__loader__ = importlib.machinery.SourceFileLoader("__main__", abspath)  # type: ignore[attr-defined]
    return Program(mod, abspath, source=data)


def _prepare_main_importer(path: str, abspath: str, main_importer: object, args: List[str]) -> Program:
    """A directory or zip file: its ``__main__`` runs as runpy runs it (``sys.argv[0]`` as given)."""
    try:
        spec = main_importer.find_spec("__main__")  # type: ignore[attr-defined]
    except Exception:  # pragma: no cover - a broken zip
        spec = None
    if spec is None or spec.loader is None:
        raise UsageError(f"can't find '__main__' module in {abspath!r}")
    sys.argv[:] = [path] + list(args)
    sys.path[0] = abspath
    mod = _new_main(spec.origin)
    mod.__spec__ = spec
    mod.__loader__ = spec.loader  # type: ignore[attr-defined]
    mod.__package__ = spec.parent
    mod.__cached__ = spec.cached  # type: ignore[attr-defined]
    mod.__doc__ = None
    source = None
    if spec.origin.endswith(".py") and hasattr(spec.loader, "get_data"):
        try:  # the bytes, not get_source()'s text: a coding cookie must still be read
            source = spec.loader.get_data(spec.origin)
        except OSError:
            source = None
    if source is not None:
        return Program(mod, spec.origin, source=source, via_runpy=True)
    return Program(mod, spec.origin, code=spec.loader.get_code("__main__"), via_runpy=True)


def prepare_module(name: str, args: List[str]) -> Program:
    """Find a ``-m`` module (a package runs its ``__main__``) as runpy does."""
    sys.argv[:] = ["-m"] + list(args)  # what python shows while it imports the parent packages
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
    # The finder found it as user code, with racedet's loader; python's is the
    # SourceFileLoader, which the program sees (the main code is compiled by
    # racedet.runner, not by a loader).
    spec.loader = importer.python_loader(spec.loader)
    mod = _new_main(spec.origin)
    mod.__spec__ = spec
    mod.__loader__ = spec.loader  # type: ignore[attr-defined]
    mod.__package__ = spec.parent
    mod.__cached__ = spec.cached  # type: ignore[attr-defined]
    mod.__doc__ = None
    return Program(mod, spec.origin, source=source, via_runpy=True, module_name=name)


# -- how the program ended ---------------------------------------------------


@dataclasses.dataclass
class Ending:
    """How the program ended: returned, ``SystemExit``, or an uncaught exception (already printed)."""

    #: The SystemExit, or the uncaught exception; None when the program returned.
    exc: Optional[BaseException] = None

    @property
    def failed(self) -> bool:
        """Whether python would exit with a non-zero status (racedet never hides that)."""
        exc = self.exc
        if exc is None:
            return False
        if not isinstance(exc, SystemExit):
            return True
        code = exc.code
        if code is None:
            return False
        if isinstance(code, int):
            # Python converts to a C long (out of range: -1) and exits with its low byte.
            return not -2 ** 63 <= code < 2 ** 63 or code & 0xFF != 0
        return True

    def finish(self) -> NoReturn:
        """End the process as the program's own ending would have (python maps it to a status)."""
        _restore_program_limit()
        exc = self.exc
        if exc is None:
            raise SystemExit(0)
        if isinstance(exc, SystemExit):
            raise exc
        if type(exc) is KeyboardInterrupt:
            _end_by_interrupt(exc)
        raise SystemExit(1)


def _end_by_interrupt(exc: KeyboardInterrupt) -> NoReturn:
    """Re-raise an uncaught KeyboardInterrupt to python, which exits by SIGINT after finalizing.

    It was printed already: a quiet excepthook, which gives the program's
    hook and ``sys.last_*`` back at once, keeps python from printing it again.
    """
    saved = {name: getattr(sys, name) for name in ("excepthook", "last_type", "last_value",
                                                     "last_traceback", "last_exc") if hasattr(sys, name)}

    def quiet(*_: object) -> None:
        for name in ("excepthook", "last_type", "last_value", "last_traceback", "last_exc"):
            if name in saved:
                setattr(sys, name, saved[name])
            elif hasattr(sys, name):
                delattr(sys, name)

    sys.excepthook = quiet
    raise exc


# -- running -----------------------------------------------------------------

#: The frame of :func:`execute` while the program runs: the program's stack ends above it.
_base_frame: Optional[types.FrameType] = None
#: The frames python would have below the program (runpy's, outermost first), or none.
_python_frames: Sequence[types.FrameType] = ()


def _runpy_frames() -> List[types.FrameType]:
    """runpy's two frames at the bottom of this process's stack (``python -m racedet``), outermost first."""
    out: List[types.FrameType] = []
    f: Optional[types.FrameType] = sys._getframe()
    while f is not None:
        if f.f_code.co_name in ("_run_code", "_run_module_as_main") and _is_runpy(f.f_code.co_filename):
            out.append(f)
        f = f.f_back
    return out[::-1][:2] if len(out) >= 2 else []


def launched_by_runpy() -> bool:
    """True under ``python -m racedet``; False for the console script (no runpy frames below)."""
    return bool(_runpy_frames())


def _is_runpy(filename: str) -> bool:
    return filename.startswith("<frozen runpy") or os.path.basename(filename) == "runpy.py"


def execute(program: Program) -> Ending:
    """Run the program; uncaught exceptions are printed as python prints them."""
    global _base_frame, _python_frames
    mod = program.module
    code = program.code
    as_python = False
    if program.source is not None and program.via_runpy:
        try:
            code = importer.compile_instrumented(program.source, program.path, toplevel=True)
        except (SyntaxError, ValueError, UnicodeError):
            code = None
        if code is None:  # outside the except block: the error python raises has no context
            error = _runpy_compile_error(program)
            if error is not None:  # raised by runpy's own loading, as under python
                return _uncaught(type(error), error, error.__traceback__, exact=True)
    if program.source is not None and code is None:
        try:
            code = importer.compile_instrumented(program.source, program.path, toplevel=True)
        except (SyntaxError, ValueError, UnicodeError) as exc:
            if os.path.isfile(program.path):
                # Python's own file reader raises its error, word for word (importer.run_as_python).
                as_python = True
            elif isinstance(exc, SyntaxError):
                # Printed outside the except block: the hook sees no exception being handled.
                error: BaseException = exc
            else:  # a zip's __main__.py: null bytes, bad encoding
                sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
                return Ending(SystemExit(1))
            if not as_python:
                return _uncaught(type(error), error, error.__traceback__, skip_all=True)
    assert code is not None or as_python
    sys.modules["__main__"] = mod
    frames.main_code = code
    _base_frame = sys._getframe()
    _python_frames = _runpy_frames() if program.via_runpy else ()
    on_python_stack = stack_ext is not None and not as_python
    if not on_python_stack:
        _install_warn()
    uncaught: Optional[BaseException] = None
    try:
        if as_python:
            importer.run_as_python(program.path, mod.__dict__)
        elif on_python_stack:
            _run_on_python_stack(code, mod.__dict__, program.via_runpy)
        else:
            exec(code, mod.__dict__)
    except SystemExit as exc:
        ending = _system_exit(exc)
    except BaseException as exc:
        uncaught = exc
    else:
        ending = Ending()
    finally:
        _base_frame = None
    if uncaught is not None:
        ending = _uncaught(type(uncaught), uncaught, uncaught.__traceback__)
    if not program.via_runpy:
        # Python runs a file with a __file__ of its own making, gone once the program ends.
        mod.__dict__.pop("__file__", None)
        mod.__dict__.pop("__cached__", None)
    return ending


def _run_on_python_stack(code: types.CodeType, namespace: dict, via_runpy: bool) -> None:
    """Evaluate the main code with python's frames below it and at python's recursion depth.

    A script has nothing below it and a fresh thread's depth; a runpy form
    has runpy's frames (the ones that run racedet) and the depth measured
    where runpy ran racedet.  Started without runpy (``cli.main(argv)`` in a
    process of its own), a runpy form gets what a script gets.
    """
    below = _python_frames[-1] if via_runpy and _python_frames else None
    target = launch_depth if below is not None else None
    probe_globals = {"__builtins__": builtins, "runner": sys.modules[__name__]}
    try:
        probe = compile(_DEPTH_PROBE, "<racedet depth probe>", "exec", dont_inherit=True)
        stack_ext.run(code, namespace, below, target, probe, probe_globals)
    finally:
        _lift_low_limit()


#: The recursion limit the program left, when it is too low for racedet to
#: finish under (python's own exit needs only a few frames): put back by
#: :meth:`Ending.finish`, before python's exit and the atexit handlers.
_program_limit: Optional[int] = None
#: What racedet needs to wait for threads and report, below its launcher frames.
_FINISH_LIMIT = 250


def _lift_low_limit() -> None:
    global _program_limit
    limit = sys.getrecursionlimit()
    if limit < _FINISH_LIMIT:
        _program_limit = limit
        sys.setrecursionlimit(_FINISH_LIMIT)


def _restore_program_limit() -> None:
    global _program_limit
    limit, _program_limit = _program_limit, None
    if limit is not None:
        try:
            sys.setrecursionlimit(limit)
        except RecursionError:  # pragma: no cover - lower than the frames ending the process
            pass


def _runpy_compile_error(program: Program) -> Optional[BaseException]:
    """The error runpy raises loading a runpy form's bad source, its traceback python's, or None.

    Python compiles a ``-m`` module, a directory's or a zip's ``__main__``
    through runpy and the loader, and shows their frames above the error.
    So runpy's own function is called here (with racedet's finder out of the
    way: python's loader compiles), and its traceback is given the frame
    that called it, runpy's ``_run_module_as_main`` (racedet's launcher runs
    in that very frame), at the call python makes.
    """
    import dis
    import runpy

    bottom = _runpy_frames()
    if not bottom:
        return None
    if program.module_name is not None:
        details, call = (lambda: runpy._get_module_details(program.module_name, runpy._Error),  # type: ignore[attr-defined]
                         "_get_module_details")
    else:
        details, call = runpy._get_main_module_details, "_get_main_module_details"  # type: ignore[attr-defined]
    try:
        with importer.finder_suspended():
            details()
    except BaseException as exc:  # noqa: B902 - whatever python would print
        error = exc
    else:
        return None
    top = bottom[0]
    code = top.f_code
    at = next((ins.offset for ins in dis.get_instructions(code)
               if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and ins.argval == call), None)
    line = next((ln for start, end, ln in code.co_lines() if at is not None and start <= at < end), None)
    if at is None or line is None:  # pragma: no cover - a runpy of another shape
        return None
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(frames.RACEDET_DIR):
        tb = tb.tb_next
    error.__traceback__ = types.TracebackType(tb, top, at, line)
    return error


def _system_exit(exc: SystemExit) -> Ending:
    """Print a ``sys.exit(message)`` when python would: as the program ends, before threads are waited for.

    An int (or None) prints nothing and is left to python.  So is a code
    whose ``str()`` raises: what python prints then differs by version.
    """
    code = exc.code
    if code is None or isinstance(code, int):
        return Ending(exc)
    try:
        text = str(code)
    except Exception:
        return Ending(exc)
    stderr = getattr(sys, "stderr", None)
    if stderr is None:
        _write_fd2(text)
    else:
        _write_stderr(text)
    _write_stderr("\n")
    return Ending(SystemExit(1))


def visible_traceback(tb: Optional[types.TracebackType], skip_all: bool = False) -> Optional[types.TracebackType]:
    """The traceback python would show: racedet's leading frames replaced by python's (runpy's for ``-m``)."""
    while tb is not None and (skip_all or _hidden(tb.tb_frame.f_code.co_filename)):
        tb = tb.tb_next
    if skip_all:
        return tb
    for f in reversed(_python_frames):
        tb = types.TracebackType(tb, f, f.f_lasti, f.f_lineno)
    return tb


def _hidden(filename: str) -> bool:
    return frames.is_hidden(filename) or _is_runpy(filename)


def _write_stderr(text: str) -> None:
    """Write as python's PySys_WriteStderr does: to sys.stderr, else to the process's stderr."""
    try:
        sys.stderr.write(text)
        return
    except Exception:
        pass
    _write_fd2(text)


def _write_fd2(text: str) -> None:
    try:
        os.write(2, text.encode("utf-8", "backslashreplace"))
    except (OSError, ValueError):  # pragma: no cover
        pass


def _display(exc: BaseException) -> None:
    sys.__excepthook__(type(exc), exc, exc.__traceback__)


def _uncaught(etype, value, tb, skip_all: bool = False, exact: bool = False) -> Ending:  # type: ignore[no-untyped-def]
    """Print an uncaught exception as python's PyErr_Print does, broken or missing excepthook included.

    ``exact``: ``tb`` is python's traceback already (see :func:`_runpy_compile_error`).
    """
    if not exact:
        tb = visible_traceback(tb, skip_all)
    if value is None:  # pragma: no cover - only exception instances reach here
        value = etype()
    frames.set_traceback(value, tb)
    frames.without_own_frames(value)
    tb = value.__traceback__
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    if env.PYBEHAVIOR.sys_last_exc:
        sys.last_exc = value  # type: ignore[attr-defined]
    if not hasattr(sys, "excepthook"):
        _write_stderr("sys.excepthook is missing\n")
        _display(value)
        return Ending(value)
    hook = sys.excepthook
    try:
        hook(etype, value, tb)
    except SystemExit as exc:  # python exits with the hook's status at once
        return Ending(exc)
    except BaseException as hook_exc:
        frames.without_own_frames(hook_exc)
        tb2 = hook_exc.__traceback__
        while tb2 is not None and frames.is_hidden(tb2.tb_frame.f_code.co_filename):
            tb2 = tb2.tb_next
        frames.set_traceback(hook_exc, tb2)
        try:
            if sys.stdout is not None:
                sys.stdout.flush()
        except Exception:
            pass
        _write_stderr("Error in sys.excepthook:\n")
        _display(hook_exc)
        _write_stderr("\nOriginal exception was:\n")
        _display(value)
    return Ending(value)


# -- warnings whose stacklevel reaches below the program ----------------------

_orig_warn = warnings.warn


def _internal(f: types.FrameType, prefixes: Sequence[str]) -> bool:
    """As the warnings machinery decides: importlib's bootstrap frames, and skip_file_prefixes."""
    name = f.f_code.co_filename
    if "importlib" in name and "_bootstrap" in name:
        return True
    return bool(prefixes) and name.startswith(tuple(prefixes))


def _program_stack(f: Optional[types.FrameType]) -> Optional[List[types.FrameType]]:
    """The stack python would have from ``f`` down: the program's frames, then python's own.

    None when ``f`` is not on the program's stack (another thread, after the
    program ended): the warnings machinery then sees the real stack.
    """
    base = _base_frame
    if base is None:
        return None
    out = []
    while f is not None and f is not base:
        out.append(f)
        f = f.f_back
    if f is None:
        return None
    return out + list(reversed(_python_frames))


def _target(stack: List[types.FrameType], level: int, prefixes: Sequence[str]) -> Optional[types.FrameType]:
    """The frame python's warn attributes to, walking ``stack`` (None: past the top, ``sys``)."""
    i = 0
    plain = level <= 0 or _internal(stack[0], ())
    while level > 1 and i < len(stack):
        level -= 1
        i += 1
        if not plain:
            while i < len(stack) and _internal(stack[i], prefixes):
                i += 1
    return stack[i] if i < len(stack) else None


def warn(message, category=None, stacklevel=1, source=None, **kwargs):  # type: ignore[no-untyped-def]
    # ``warnings.warn`` while the program runs: ``stacklevel`` is counted on the
    # stack python would have (the program's frames, then runpy's for -m), and
    # the builtin warn is called with the level that reaches that frame here.
    level = operator.index(stacklevel)
    prefixes = kwargs.get("skip_file_prefixes") or ()
    if prefixes:
        level = max(level, 2)
    caller = sys._getframe(1)
    stack = _program_stack(caller)
    if stack is None:
        return _orig_warn(message, category, max(level, 1) + 1, source, **kwargs)
    target = _target(stack, level, prefixes)
    if target is None:
        real = sys.maxsize  # off the top of the real stack: python's "sys" attribution
    else:
        real = _steps_to(target, prefixes)
    return _orig_warn(message, category, real, source, **kwargs)


def _steps_to(target: types.FrameType, prefixes: Sequence[str]) -> int:
    """The stacklevel that takes python's walk from :func:`warn`'s frame to ``target`` on the real stack."""
    level = 1
    f: Optional[types.FrameType] = sys._getframe(1)  # warn's frame: python starts there
    while f is not None and f is not target:
        f = f.f_back
        while f is not None and f is not target and _internal(f, prefixes):
            f = f.f_back
        level += 1
    return level


warn.__doc__ = _orig_warn.__doc__
warn.__module__ = getattr(_orig_warn, "__module__", None) or "warnings"


def _install_warn() -> None:
    """Route ``warnings.warn`` through :func:`warn` (a plain walk of the real stack counts each frame once)."""
    if warnings.warn is _orig_warn:
        warnings.warn = warn  # type: ignore[assignment]


# -- waiting for threads at exit ------------------------------------------------


def wait_for_threads() -> None:
    """Wait for the non-daemon threads as python's exit does (racedet reports after that).

    An exception out of the wait (Ctrl-C while python waits) does not end
    python's exit: it is reported as python reports it, as unraisable.
    """
    from racedet.models import threads

    try:
        threads.shutdown_threads()
    except BaseException as exc:
        frames.without_own_frames(exc)
        obj = sys.modules.get("threading") if env.PYBEHAVIOR.shutdown_error_names_threading else None
        try:
            sys.unraisablehook(_hook_args_type()((type(exc), exc, exc.__traceback__, None, obj)))
        except Exception:  # pragma: no cover - a broken unraisablehook
            pass
    # Python's own exit calls threading._shutdown() again: let it meet python's
    # function (which returns at once), in whatever state the program left.
    import threading

    threading._shutdown = threads._orig_shutdown  # type: ignore[attr-defined]


def _hook_args_type() -> type:
    """``sys.UnraisableHookArgs`` (not exposed by name): taken from one unraisable exception, once."""
    global _HOOK_ARGS
    if _HOOK_ARGS is None:
        seen: List[object] = []
        old = sys.unraisablehook
        sys.unraisablehook = seen.append

        class _Raises:
            def __del__(self) -> None:
                raise RuntimeError

        try:
            _Raises()
        finally:
            sys.unraisablehook = old
        _HOOK_ARGS = type(seen[0])
    return _HOOK_ARGS


_HOOK_ARGS: Optional[type] = None
