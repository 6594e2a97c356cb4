"""The pinned list of third-party packages (packages.toml), parsed and checked.

The list is the proving ground's input, like mypy_primer's project list: an
exact version per package, so that two runs of the harness at two racedet
revisions differ only by racedet.  A mistake in the list is reported as one
line naming the package and the key, never as a traceback.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from typing import Any, Dict, List, Optional, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the harness runs on 3.11
    import tomli as tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_LIST = os.path.join(HERE, "packages.toml")

DEFAULT_TIMEOUT = 60
DEFAULT_RUN_TIMEOUT = 900

# An exact release: digits and dots, optionally a PEP 440 suffix (rc1, .post1).
_EXACT = re.compile(r"^\d+(\.\d+)*([abc]|rc|\.post|\.dev)?\d*$")


class ListError(ValueError):
    """The pinned list is malformed; the message is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Package:
    """One pinned package and how to run its suite."""

    name: str
    version: str
    tests: List[str]
    deps: List[str] = dataclasses.field(default_factory=list)
    timeout: int = DEFAULT_TIMEOUT
    run_timeout: int = DEFAULT_RUN_TIMEOUT
    soak: List[str] = dataclasses.field(default_factory=list)
    why: str = ""

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def key(self) -> str:
        """A file-system friendly name: pebble-5.2.3."""
        return f"{normalise(self.name)}-{self.version}"


def normalise(name: str) -> str:
    """PEP 503 normalisation: dogpile.cache, Dogpile_Cache -> dogpile-cache."""
    return re.sub(r"[-_.]+", "-", name).lower()


_KEYS = {f.name for f in dataclasses.fields(Package)}


def _strings(where: str, key: str, value: Any) -> List[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ListError(f"{where}: {key} must be a list of strings")
    return list(value)


def _positive(where: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ListError(f"{where}: {key} must be a positive integer")
    return value


def parse(data: Dict[str, Any]) -> List[Package]:
    """Packages from the decoded TOML document (``[[package]]`` tables)."""
    extra = set(data) - {"package"}
    if extra:
        raise ListError(f"unknown top-level key {sorted(extra)[0]!r}")
    tables = data.get("package", [])
    if not isinstance(tables, list) or not tables:
        raise ListError("no [[package]] tables")
    out: List[Package] = []
    seen = set()
    for i, t in enumerate(tables, 1):
        where = f"package #{i}"
        name = t.get("name")
        if not isinstance(name, str) or not name:
            raise ListError(f"{where}: name is missing")
        where = f"package {name!r}"
        unknown = set(t) - _KEYS
        if unknown:
            raise ListError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        version = t.get("version")
        if not isinstance(version, str) or not _EXACT.match(version):
            raise ListError(f"{where}: version must be an exact release such as '1.2.3'")
        if normalise(name) in seen:
            raise ListError(f"{where}: listed twice")
        seen.add(normalise(name))
        if "tests" not in t:
            raise ListError(f"{where}: tests is missing")
        why = t.get("why", "")
        if not isinstance(why, str):
            raise ListError(f"{where}: why must be a string")
        out.append(
            Package(
                name=name,
                version=version,
                tests=_strings(where, "tests", t["tests"]),
                deps=_strings(where, "deps", t.get("deps", [])),
                timeout=_positive(where, "timeout", t.get("timeout", DEFAULT_TIMEOUT)),
                run_timeout=_positive(where, "run_timeout", t.get("run_timeout", DEFAULT_RUN_TIMEOUT)),
                soak=_strings(where, "soak", t.get("soak", [])),
                why=why,
            )
        )
    return out


def load(path: str = DEFAULT_LIST) -> List[Package]:
    """Read and check the pinned list at *path*."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ListError(f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ListError(f"{path}: {e}") from None
    return parse(data)


def select(packages: Sequence[Package], only: Optional[Sequence[str]]) -> List[Package]:
    """The packages named in *only* (any spelling of the name), all if None."""
    if not only:
        return list(packages)
    by_name = {normalise(p.name): p for p in packages}
    chosen = []
    for n in only:
        p = by_name.get(normalise(n))
        if p is None:
            raise ListError(f"{n!r} is not in the pinned list")
        chosen.append(p)
    return chosen
