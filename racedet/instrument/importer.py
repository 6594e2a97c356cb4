"""The import hook: user modules are rewritten as they are imported, with a pyc cache of their own.

Only *user code* is rewritten: the main script, and modules from outside the
standard library, site-packages and racedet itself (``include``/``exclude``
globs adjust that).  Rewritten code is cached next to the normal pyc as
``__pycache__/NAME.{cache_tag}-racedet-{KEY}.pyc``, where KEY changes with
racedet's rewriter, so a plain ``python`` run never sees instrumented
bytecode and a cached one is never stale.
"""

from __future__ import annotations

import ast
import contextlib
import fnmatch
import importlib.abc
import importlib.machinery
import marshal
import os
import sys
import sysconfig
import zlib
from types import CodeType, ModuleType
from typing import Iterator, List, Optional, Sequence

from racedet.instrument import link, rewrite

_HERE = os.path.dirname(os.path.abspath(__file__))
_PKG = os.path.dirname(_HERE) + os.sep


def _rewriter_key() -> str:
    """A short key of everything the rewritten code depends on (the pyc tag).

    A checksum, not hashlib: importing hashlib loads OpenSSL, several MB of
    memory every run pays, to tell apart a handful of rewriter versions.
    """
    data = []
    for name in ("rewrite.py", "scopes.py", "importer.py", "link.py"):
        try:
            with open(os.path.join(_HERE, name), "rb") as f:
                data.append(f.read())
        except OSError:  # pragma: no cover
            pass
    from racedet import access_py

    data.append(repr(sorted(access_py.METHOD_KINDS.items())).encode())
    data.append(sys.version.encode())
    blob = b"\0".join(data)
    return f"{zlib.crc32(blob):08x}{zlib.adler32(blob) & 0xFFFF:04x}"


KEY = _rewriter_key()
#: The optimisation level (``-O``, ``-OO``) decides which asserts and docstrings
#: the code has: it is part of the cache's name, as ``.opt-1.pyc`` is Python's.
_OPT = f".opt-{sys.flags.optimize}" if sys.flags.optimize else ""
PYC_TAIL = f".{sys.implementation.cache_tag}-racedet-{KEY}{_OPT}.pyc"
_HEADER = b"RDET" + KEY.encode() + str(sys.flags.optimize).encode()


def _library_dirs() -> List[str]:
    dirs = set()
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            p = sysconfig.get_paths()[name]
        except KeyError:  # pragma: no cover
            continue
        dirs.add(os.path.realpath(p))
    try:
        import site

        for p in site.getsitepackages() + [site.getusersitepackages()]:
            dirs.add(os.path.realpath(p))
    except Exception:  # pragma: no cover - embedded or virtualenv oddities
        pass
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix):
        dirs.add(os.path.realpath(os.path.join(p, "lib")))
    return sorted(d + os.sep for d in dirs)


class Selector:
    """Decides which source files are user code to instrument."""

    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self.include = list(include)
        self.exclude = list(exclude)
        self.libdirs = _library_dirs()
        self._cache: dict = {}

    def wants(self, path: str) -> bool:
        r = self._cache.get(path)
        if r is None:
            r = self._cache[path] = self._decide(path)
        return r

    def _decide(self, path: str) -> bool:
        real = os.path.realpath(path)
        if any(fnmatch.fnmatch(real, g) or fnmatch.fnmatch(path, g) for g in self.exclude):
            return False
        if any(fnmatch.fnmatch(real, g) or fnmatch.fnmatch(path, g) for g in self.include):
            return True
        if real.startswith(_PKG):
            return False
        return not any(real.startswith(d) for d in self.libdirs)


def instrumented_code(source: bytes, path: str, toplevel: bool) -> CodeType:
    """Parse, rewrite and compile one module, not yet linked (marshal-able, for the cache).

    Raises exactly what ``compile(source, path, "exec")`` raises for bad source
    (SyntaxError, a decoding error): the source is parsed from its bytes, as
    Python's own loader compiles it, so the encoding declaration, a BOM and
    every message are Python's.  Should the rewrite itself fail, the code is
    compiled as it is, uninstrumented.
    """
    flags = ast.PyCF_ONLY_AST
    tree = compile(source, path, "exec", flags, dont_inherit=True)
    try:
        try:
            tree = rewrite.instrument(tree, source, path, toplevel=toplevel)
        except RecursionError:
            # Deeply nested code: once more, from a fresh tree, with room to recurse.
            tree = compile(source, path, "exec", flags, dont_inherit=True)
            limit = sys.getrecursionlimit()
            sys.setrecursionlimit(rewrite.deep_limit())
            try:
                tree = rewrite.instrument(tree, source, path, toplevel=toplevel)
            finally:
                sys.setrecursionlimit(limit)
        return compile(tree, path, "exec", dont_inherit=True)
    except RecursionError:  # pragma: no cover - deeper than the compiler itself goes
        return compile(source, path, "exec", dont_inherit=True)


def linked(code: CodeType, source: Optional[bytes] = None, path: str = "") -> CodeType:
    """``code`` ready to run (hooks linked); the plain code if it cannot be linked."""
    try:
        return link.link(code)
    except link.LinkError:  # pragma: no cover - a code object with no room for a hook
        if source is None:
            raise
        return compile(source, path, "exec", dont_inherit=True)


def compile_instrumented(source: bytes, path: str, toplevel: bool) -> CodeType:
    """Instrumented, linked code of one module (raises SyntaxError etc. like compile())."""
    return linked(instrumented_code(source, path, toplevel), source, path)


def run_as_python(path: str, namespace: dict) -> None:
    """Run the main script ``path`` as Python's own ``python path`` reads it, uninstrumented.

    For a script ``compile()`` rejects: Python reads a script through its
    file tokenizer, whose decoding errors (no encoding declaration, a bad
    one, a BOM with another one, NUL bytes) read differently from
    ``compile()``'s, and which even runs some of those files.  So the file is
    handed to the interpreter's own file runner: it raises exactly Python's
    error, or runs the program as Python would.
    """
    import ctypes

    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    run = ctypes.pythonapi.PyRun_FileExFlags
    run.restype = ctypes.py_object
    run.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.py_object, ctypes.py_object,
                    ctypes.c_int, ctypes.c_void_p]
    fp = libc.fopen(os.fsencode(path), b"rb")
    if not fp:  # pragma: no cover - it was just read
        raise OSError(f"can't open file {path!r}")
    file_input = 257  # Py_file_input
    run(fp, os.fsencode(path), file_input, namespace, namespace, 1, None)


def cache_path(path: str) -> str:
    d, base = os.path.split(path)
    name = os.path.splitext(base)[0]
    return os.path.join(d, "__pycache__", name + PYC_TAIL)


def _stamp(st: os.stat_result, path: str) -> bytes:
    """What the cached code depends on besides racedet: the source's mtime and size, and
    its path (the code names it in every traceback: a moved project is compiled anew)."""
    where = os.fsencode(path)
    return (st.st_mtime_ns.to_bytes(8, "little") + (st.st_size & (2**64 - 1)).to_bytes(8, "little")
            + len(where).to_bytes(4, "little") + where)


def _read_cache(pyc: str, st: os.stat_result, path: str) -> Optional[CodeType]:
    try:
        with open(pyc, "rb") as f:
            data = f.read()
    except OSError:
        return None
    head = _HEADER + _stamp(st, path)
    if data[:len(head)] != head:
        return None
    try:
        code = marshal.loads(data[len(head):])
    except Exception:
        return None
    return code if isinstance(code, CodeType) else None


def _write_cache(pyc: str, st: os.stat_result, path: str, code: CodeType) -> None:
    if sys.dont_write_bytecode:
        return
    data = _HEADER + _stamp(st, path) + marshal.dumps(code)
    tmp = f"{pyc}.{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(pyc), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, pyc)  # the cached file is always complete
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def load_code(path: str, toplevel: bool = False) -> CodeType:
    """The instrumented, linked code of ``path``, from the cache when it is fresh."""
    st = os.stat(path)
    pyc = cache_path(path) + ("-main" if toplevel else "")
    code = _read_cache(pyc, st, path)
    source = None
    if code is None:
        with open(path, "rb") as f:
            source = f.read()
        code = instrumented_code(source, path, toplevel)
        _write_cache(pyc, st, path, code)
    return linked(code, source, path) if source is not None else _linked_cached(code, path)


def _linked_cached(code: CodeType, path: str) -> CodeType:
    try:
        return link.link(code)
    except link.LinkError:  # pragma: no cover
        with open(path, "rb") as f:
            return compile(f.read(), path, "exec", dont_inherit=True)


class RacedetLoader(importlib.machinery.SourceFileLoader):
    """Loads a user module's instrumented code (never the plain pyc)."""

    def get_code(self, fullname: str) -> CodeType:  # type: ignore[override]
        path = self.get_filename(fullname)
        try:
            return load_code(path)
        except (SyntaxError, ValueError, UnicodeError):
            # Bad source: Python's own compile raises it, from a frame the import
            # system drops, so the user sees exactly Python's traceback.
            with open(path, "rb") as f:
                return _raiser(f.read(), path)


def _raiser(source: bytes, path: str) -> CodeType:
    """Code that, run by the loader's exec_module, raises what compiling ``source`` raises.

    Its frame is named and filed as importlib's ``_call_with_frames_removed``,
    which the import system removes from tracebacks, as it removes the one
    Python's own loader compiles in; so the traceback is Python's.
    """
    call = ast.Call(ast.Name("compile", ast.Load()),
                    [ast.Constant(source), ast.Constant(path), ast.Constant("exec")],
                    [ast.keyword("dont_inherit", ast.Constant(True))])
    tree = ast.fix_missing_locations(ast.Module([ast.Expr(call)], []))
    code = compile(tree, "<frozen importlib._bootstrap>", "exec", dont_inherit=True)
    return code.replace(co_name="_call_with_frames_removed")


class RacedetFinder(importlib.abc.MetaPathFinder):
    """Finds user modules through the normal path finder and swaps in :class:`RacedetLoader`."""

    def __init__(self, selector: Selector) -> None:
        self.selector = selector

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None, target: Optional[ModuleType] = None):  # type: ignore[override]
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        if not spec.origin.endswith(".py") or not self.selector.wants(spec.origin):
            return None
        spec.loader = RacedetLoader(fullname, spec.origin)
        return spec


def python_loader(loader: object) -> object:
    """The loader python itself would give a module that racedet's finder gave :class:`RacedetLoader`.

    For ``-m``'s main module, whose code racedet compiles itself: the
    program sees python's plain SourceFileLoader (``type(__loader__)``,
    ``__spec__.loader``), and resources, linecache and pkgutil get the same
    answers from it, as RacedetLoader only changes ``get_code``.
    """
    if isinstance(loader, RacedetLoader):
        return importlib.machinery.SourceFileLoader(loader.name, loader.path)
    return loader


_finder: Optional[RacedetFinder] = None


@contextlib.contextmanager
def finder_suspended() -> Iterator[None]:
    """Imports inside run as under python: racedet's finder is out of ``sys.meta_path`` meanwhile."""
    finder = _finder
    try:
        index = sys.meta_path.index(finder) if finder is not None else -1
    except ValueError:
        index = -1
    if index >= 0:
        del sys.meta_path[index]
    try:
        yield
    finally:
        if index >= 0 and _finder is finder and finder not in sys.meta_path:
            sys.meta_path.insert(min(index, len(sys.meta_path)), finder)


def install(selector: Selector, index: int = 0) -> RacedetFinder:
    global _finder
    uninstall()
    _finder = RacedetFinder(selector)
    sys.meta_path.insert(index, _finder)
    return _finder


def uninstall() -> None:
    global _finder
    if _finder is not None:
        try:
            sys.meta_path.remove(_finder)
        except ValueError:
            pass
        _finder = None
