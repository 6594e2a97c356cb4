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
import fnmatch
import importlib.abc
import importlib.machinery
import importlib.util
import marshal
import os
import sys
import sysconfig
import zlib
from types import CodeType, ModuleType
from typing import List, Optional, Sequence

from racedet.instrument import rewrite

_HERE = os.path.dirname(os.path.abspath(__file__))
_PKG = os.path.dirname(_HERE) + os.sep


def _rewriter_key() -> str:
    """A short key of everything the rewritten code depends on (the pyc tag).

    A checksum, not hashlib: importing hashlib loads OpenSSL, several MB of
    memory every run pays, to tell apart a handful of rewriter versions.
    """
    data = []
    for name in ("rewrite.py", "scopes.py", "importer.py"):
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
PYC_TAIL = f".{sys.implementation.cache_tag}-racedet-{KEY}.pyc"
_HEADER = b"RDET" + KEY.encode()


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


def compile_instrumented(source: bytes, path: str, toplevel: bool) -> CodeType:
    """Parse, rewrite and compile one module (raises SyntaxError like compile())."""
    text = importlib.util.decode_source(source)
    tree = ast.parse(text, filename=path)
    try:
        tree = rewrite.instrument(tree, text, path, toplevel=toplevel)
    except RecursionError:  # pragma: no cover - absurdly deep expressions
        tree = ast.parse(text, filename=path)
    return compile(tree, path, "exec", dont_inherit=True)


def cache_path(path: str) -> str:
    d, base = os.path.split(path)
    name = os.path.splitext(base)[0]
    return os.path.join(d, "__pycache__", name + PYC_TAIL)


def _read_cache(pyc: str, st: os.stat_result) -> Optional[CodeType]:
    try:
        with open(pyc, "rb") as f:
            data = f.read()
    except OSError:
        return None
    n = len(_HEADER)
    if data[:n] != _HEADER:
        return None
    try:
        mtime = int.from_bytes(data[n:n + 8], "little")
        size = int.from_bytes(data[n + 8:n + 16], "little")
        if mtime != st.st_mtime_ns or size != st.st_size:
            return None
        code = marshal.loads(data[n + 16:])
    except Exception:
        return None
    return code if isinstance(code, CodeType) else None


def _write_cache(pyc: str, st: os.stat_result, code: CodeType) -> None:
    if sys.dont_write_bytecode:
        return
    data = _HEADER + st.st_mtime_ns.to_bytes(8, "little") + (st.st_size & (2**64 - 1)).to_bytes(8, "little") + marshal.dumps(code)
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
    """The instrumented code of ``path``, from the cache when it is fresh."""
    st = os.stat(path)
    pyc = cache_path(path) + ("-main" if toplevel else "")
    code = _read_cache(pyc, st)
    if code is None:
        with open(path, "rb") as f:
            source = f.read()
        code = compile_instrumented(source, path, toplevel)
        _write_cache(pyc, st, code)
    return code


class RacedetLoader(importlib.machinery.SourceFileLoader):
    """Loads a user module's instrumented code (never the plain pyc)."""

    def get_code(self, fullname: str) -> CodeType:  # type: ignore[override]
        path = self.get_filename(fullname)
        return load_code(path)


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


_finder: Optional[RacedetFinder] = None


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
