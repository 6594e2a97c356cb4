"""Which installed packages are the project under test, so ``pytest --race`` checks the library too.

racedet instruments user code: everything outside the standard library and
site-packages.  A CI that runs ``pip install .`` or tox puts the project
itself in site-packages, and then only its tests would be instrumented, never
the library they test.  This module names the project's top-level packages
and finds where they are installed, so their files are instrumented wherever
they are:

1. the distribution named by the rootdir's ``pyproject.toml`` (``[project]
   name``, or ``[tool.poetry] name``) or ``setup.cfg`` (``[metadata] name``):
   its top-level packages as installed (``top_level.txt``, else the files
   of its ``RECORD``);
2. else the packages that sit in the rootdir itself or in ``rootdir/src``;
3. else an installed package named like the rootdir.

Nothing is imported: packages are located with ``importlib.util.find_spec``
on top-level names only, which runs no package code.
"""

from __future__ import annotations

import configparser
import dataclasses
import importlib.metadata
import importlib.util
import os
import re
import sys
from typing import Iterable, List, Optional, Tuple

#: Folders that hold a project's tests or tooling, never its library.
_NOT_PACKAGES = {"tests", "test", "testing", "docs", "doc", "examples", "benchmarks", "bench", "build", "dist"}


@dataclasses.dataclass(frozen=True)
class Project:
    """The project's packages (``name``, installed directory) and where their names came from."""

    source: str                                # "pyproject.toml [project] name 'filelock'", ...
    packages: Tuple[Tuple[str, str], ...] = ()  # (top-level name, directory or module file)

    def include_globs(self, rootdir: str) -> List[str]:
        """Globs for the packages installed outside the rootdir (those inside are user code already)."""
        root = os.path.realpath(rootdir) + os.sep
        out = []
        for _, where in self.packages:
            real = os.path.realpath(where)
            if real.startswith(root):
                continue
            out.append(real + (os.sep + "*" if os.path.isdir(real) else ""))
        return out

    def describe(self, rootdir: str) -> str:
        """For the pytest header: ``filelock (site-packages/filelock, from pyproject.toml [project] name)``."""
        if not self.packages:
            return f"no installed project package found ({self.source})"
        root = os.path.realpath(rootdir) + os.sep
        parts = []
        for name, where in self.packages:
            real = os.path.realpath(where)
            shown = "in the rootdir" if real.startswith(root) else _short(real)
            parts.append(f"{name} ({shown})")
        return ", ".join(parts) + f", from {self.source}"


def _short(path: str) -> str:
    marker = os.sep + "site-packages" + os.sep
    i = path.find(marker)
    return path[i + 1:] if i >= 0 else path


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _read_toml(path: str) -> Optional[dict]:
    try:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - 3.10
            import tomli as tomllib
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, ValueError, UnicodeDecodeError):
        return None   # racedet's own configuration loader reports a broken file


def distribution_name(rootdir: str) -> Tuple[Optional[str], str]:
    """The project's distribution name and the place it was read from."""
    data = _read_toml(os.path.join(rootdir, "pyproject.toml")) or {}
    name = (data.get("project") or {}).get("name")
    if isinstance(name, str) and name:
        return name, f"pyproject.toml [project] name {name!r}"
    name = ((data.get("tool") or {}).get("poetry") or {}).get("name")
    if isinstance(name, str) and name:
        return name, f"pyproject.toml [tool.poetry] name {name!r}"
    cfg = configparser.ConfigParser(interpolation=None)
    try:
        cfg.read(os.path.join(rootdir, "setup.cfg"), encoding="utf-8")
        name = cfg.get("metadata", "name", fallback=None)
    except (configparser.Error, UnicodeDecodeError):
        name = None
    if name:
        return name, f"setup.cfg [metadata] name {name!r}"
    return None, "no project name in pyproject.toml or setup.cfg"


def _top_level_of(dist: importlib.metadata.Distribution) -> List[str]:
    text = dist.read_text("top_level.txt")
    if text:
        return [n.strip() for n in text.splitlines() if n.strip() and not n.strip().startswith("_")]
    names = []
    for f in dist.files or ():
        parts = f.parts
        if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data")) or parts[0] == "..":
            continue
        top = parts[0]
        if len(parts) == 1:
            if not top.endswith(".py"):
                continue
            top = top[:-3]
        if top.isidentifier() and not top.startswith("_") and top not in names:
            names.append(top)
    return names


def _find_distribution(name: str) -> Optional[importlib.metadata.Distribution]:
    try:
        return importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        pass
    want = _canonical(name)
    for dist in importlib.metadata.distributions():
        if _canonical(dist.metadata.get("Name") or "") == want:
            return dist
    return None


def _located(names: Iterable[str]) -> Tuple[Tuple[str, str], ...]:
    out = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            where = list(spec.submodule_search_locations)[0]
        elif spec.origin and spec.origin.endswith(".py"):
            where = spec.origin
        else:
            continue    # a compiled module: nothing to instrument
        out.append((name, where))
    return tuple(out)


def _packages_in(rootdir: str) -> List[str]:
    names = []
    for base in (rootdir, os.path.join(rootdir, "src")):
        try:
            entries = sorted(os.listdir(base))
        except OSError:
            continue
        for e in entries:
            if e in _NOT_PACKAGES or not e.isidentifier() or e.startswith(("_", ".")):
                continue
            if os.path.isfile(os.path.join(base, e, "__init__.py")):
                names.append(e)
    return names


def find_project(rootdir: str) -> Project:
    """The project under test in ``rootdir``, and where each of its packages is installed."""
    name, source = distribution_name(rootdir)
    if name is not None:
        dist = _find_distribution(name)
        if dist is not None:
            tops = _top_level_of(dist)
            if tops:
                return Project(source, _located(tops))
        # Not installed as a distribution (run from a checkout): its packages in the rootdir.
    names = _packages_in(rootdir)
    if names:
        where = "the packages in the rootdir" if name is None else f"{source}, packages in the rootdir"
        return Project(where, _located(names))
    guess = re.sub(r"\W", "_", os.path.basename(os.path.realpath(rootdir)))
    if guess.isidentifier() and guess not in _NOT_PACKAGES:
        found = _located([guess])
        if found:
            return Project(f"the rootdir's name {guess!r}", found)
    return Project(source)
