"""One configuration for the CLI and the pytest plugin: defaults < pyproject < RACEDET_OPTIONS < command line.

Teams set racedet up once in ``[tool.racedet]``, tweak one run with
``RACEDET_OPTIONS`` (as ``GORACE`` does for Go, so CI can change a job without
editing files) and override either from the command line.  Every value
remembers where it came from, so a bad one is reported against the place the
user has to fix, and ``pytest_report_header`` can show what is in effect.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from racedet.exceptions import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised by the 3.10 run of the suite
    import tomli as tomllib

#: The environment variable read as GORACE-style ``key=value`` pairs.
ENV_VAR = "RACEDET_OPTIONS"

#: Names of the layers, as they appear in error messages and ``Settings.sources``.
DEFAULT = "default"
GITHUB = "GITHUB_ACTIONS"
PYPROJECT = "pyproject.toml [tool.racedet]"
ENVIRON = ENV_VAR
COMMAND_LINE = "the command line"

#: Prepositions for "unknown option 'x' <in> <where>".
_IN = {PYPROJECT: "in", ENVIRON: "in", COMMAND_LINE: "on"}

#: One line of help per option (plus the ``no_leaks`` switch), shared by argparse and the
#: pytest plugin's addoption/addini.
OPTION_HELP: Dict[str, str] = {
    "json": "write the machine-readable JSON report to PATH",
    "sarif": "write a SARIF 2.1.0 log to PATH (for code scanning)",
    "exitcode": "exit status when races or leaks are found (default 66, as Go)",
    "halt_on_error": "stop the program at the first report",
    "suppressions": "skip findings matching the patterns in FILE (race:, race_top:, leak:, deadlock:, lock_order:)",
    "leaks": "report goroutines/threads still blocked at exit (default on; no_leaks=1 turns it off)",
    "no_leaks": "do not report goroutines/threads still blocked at exit (same as leaks=0)",
    "baseline": "fail only on findings that are not in the baseline FILE",
    "update_baseline": "write the current findings to the baseline file instead of failing on them",
    "history_size": "per-thread access history kept to restore the previous access's stack (0..64, default 8)",
    "strip_path_prefix": "remove this prefix from file paths in reports",
    "include": "glob(s) of source files to instrument besides the defaults (comma separated)",
    "exclude": "glob(s) of source files never to instrument (comma separated)",
    "annotations": "emit CI annotations: 'github' or 'none' (default: github when GITHUB_ACTIONS=true)",
    "html": "write a self-contained HTML report to PATH",
    "source": "show the source line under each frame of a report (default on; no_source=1 turns it off)",
    "no_source": "do not show source lines under the frames of a report (same as source=0)",
}


@dataclasses.dataclass
class Settings:
    """Every racedet option in effect, and ``sources[name]``: the layer each value came from."""

    json: Optional[str] = None
    sarif: Optional[str] = None
    exitcode: int = 66
    halt_on_error: bool = False
    suppressions: Optional[str] = None
    leaks: bool = True
    baseline: Optional[str] = None
    update_baseline: bool = False
    history_size: int = 8
    strip_path_prefix: str = ""
    include: List[str] = dataclasses.field(default_factory=list)
    exclude: List[str] = dataclasses.field(default_factory=list)
    annotations: Optional[str] = None
    html: Optional[str] = None
    source: bool = True
    #: The pyproject.toml whose ``[tool.racedet]`` was read, if any.
    config_file: Optional[str] = None
    sources: Dict[str, str] = dataclasses.field(default_factory=dict)

    def summary(self) -> str:
        """The values that differ from the defaults, with their sources (for report headers)."""
        parts = []
        for name in _PARSERS:
            where = self.sources.get(name, DEFAULT)
            if where != DEFAULT:
                parts.append(f"{name}={getattr(self, name)!r} ({where})")
        return ", ".join(parts) if parts else "defaults"


# --- value parsers: each takes (raw value) and returns the typed value or raises ValueError.

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _to_bool(v: object) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    raise ValueError(v)


def _to_int(lo: int, hi: int) -> Callable[[object], int]:
    def parse(v: object) -> int:
        if isinstance(v, bool):
            raise ValueError(v)
        if isinstance(v, int):
            n = v
        elif isinstance(v, str) and v.strip().lstrip("+-").isdigit():
            n = int(v.strip())
        else:
            raise ValueError(v)
        if not lo <= n <= hi:
            raise ValueError(v)
        return n

    return parse


def _to_path(v: object) -> Optional[str]:
    """A file path; an empty value unsets it (so RACEDET_OPTIONS can switch off a pyproject output)."""
    if v is None:
        return None
    if not isinstance(v, str):
        raise ValueError(v)
    v = v.strip()
    return os.path.expanduser(v) if v else None


def _to_str(v: object) -> str:
    if not isinstance(v, str):
        raise ValueError(v)
    return v


def _to_globs(v: object) -> List[str]:
    if isinstance(v, str):
        items: List[object] = list(v.split(","))
    elif isinstance(v, (list, tuple)):
        items = list(v)
    else:
        raise ValueError(v)
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(v)
        item = item.strip()
        if item:
            _check_glob(item)
            out.append(item)
    return out


class _BadGlob(ValueError):
    """One glob of a list is bad: the error names it, not the whole list."""


def _check_glob(g: str) -> None:
    """Reject a glob that cannot mean what its author wanted (NUL, an unclosed ``[``)."""
    if "\0" in g:
        raise _BadGlob(g)
    i = 0
    while i < len(g):
        if g[i] == "[":
            j = g.find("]", i + 2 if g[i + 1:i + 2] in ("!", "]") else i + 1)
            if j < 0:
                raise _BadGlob(g)
            i = j
        i += 1


def _to_annotations(v: object) -> Optional[str]:
    if v is None or v is False:
        return None
    if v is True:
        return "github"
    if isinstance(v, str):
        s = v.strip().lower()
        if s == "github":
            return "github"
        if s in ("", "none") or s in _FALSE:
            return None
    raise ValueError(v)


_PARSERS: Dict[str, Callable[[object], Any]] = {
    "json": _to_path,
    "sarif": _to_path,
    "exitcode": _to_int(0, 255),
    "halt_on_error": _to_bool,
    "suppressions": _to_path,
    "leaks": _to_bool,
    "baseline": _to_path,
    "update_baseline": _to_bool,
    "history_size": _to_int(0, 64),
    "strip_path_prefix": _to_str,
    "include": _to_globs,
    "exclude": _to_globs,
    "annotations": _to_annotations,
    "html": _to_path,
    "source": _to_bool,
}

#: Options holding file paths: relative ones in pyproject.toml are relative to its directory.
_PATH_OPTIONS = ("json", "sarif", "suppressions", "baseline", "html")


def _apply(settings: Settings, raw: Mapping[str, object], where: str,
           base_dir: Optional[str] = None) -> None:
    """Validate one layer's ``raw`` values and store them in ``settings``, recording ``where``."""
    for key, value in raw.items():
        name = key.replace("-", "_")
        if where == COMMAND_LINE and value is None:
            continue  # argparse's "not given"
        invert = False
        if name in ("no_leaks", "no_source"):
            name, invert = name[3:], True
        parser = _PARSERS.get(name)
        if parser is None:
            raise ConfigError(f"unknown option {key!r} {_IN[where]} {where}")
        try:
            parsed = parser(value)
        except _BadGlob as exc:
            raise ConfigError(f"invalid {key} {exc.args[0]!r} from {where}") from None
        except ValueError:
            raise ConfigError(f"invalid {key} {value!r} from {where}") from None
        if invert:
            parsed = not parsed
        if base_dir is not None:
            parsed = _relative_to(name, parsed, base_dir)
        setattr(settings, name, parsed)
        settings.sources[name] = where


def _relative_to(name: str, value: Any, base_dir: str) -> Any:
    """Anchor pyproject.toml's relative paths and globs at its directory, not the cwd."""
    if name in _PATH_OPTIONS and value is not None and not os.path.isabs(value):
        return os.path.normpath(os.path.join(base_dir, value))
    if name in ("include", "exclude"):
        # "*/vendor/*" matches anywhere and stays as written; "src/*" means this project's src.
        return [g if g.startswith("*") or os.path.isabs(g) else os.path.join(base_dir, g)
                for g in value]
    if name == "strip_path_prefix" and value and not os.path.isabs(value):
        return os.path.join(os.path.normpath(os.path.join(base_dir, value)), "")
    return value


def parse_options(text: str, where: str = ENVIRON) -> Dict[str, str]:
    """Split GORACE-style ``"key=value key2='a b'"`` into a dict (later keys win).

    Quotes group a value with spaces; backslashes are kept as written so that
    Windows paths survive.
    """
    lex = shlex.shlex(text, posix=True)
    lex.whitespace_split = True
    lex.escape = ""
    lex.commenters = ""
    try:
        tokens = list(lex)
    except ValueError as exc:
        raise ConfigError(f"cannot parse {where}: {str(exc).lower()}") from None
    out: Dict[str, str] = {}
    for tok in tokens:
        key, eq, value = tok.partition("=")
        if not eq or not key:
            raise ConfigError(f"invalid option {tok!r} in {where} (expected key=value)")
        out[key] = value
    return out


def find_pyproject(start_dir: str) -> Optional[Tuple[str, Dict[str, Any]]]:
    """The nearest pyproject.toml at or above ``start_dir`` with a ``[tool.racedet]`` table.

    Like pytest's rootdir search, a pyproject.toml without the table (a
    sub-package's) does not hide the project's own one higher up.
    """
    d = os.path.abspath(start_dir)
    while True:
        path = os.path.join(d, "pyproject.toml")
        if os.path.isfile(path):
            table = _read_table(path)
            if table is not None:
                return path, table
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _read_table(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise ConfigError(f"invalid TOML in {path}: nested too deeply") from None
    tool = data.get("tool")
    if not isinstance(tool, dict) or "racedet" not in tool:
        return None
    table = tool["racedet"]
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.racedet] in {path} is not a table")
    return table


def load(cli: Mapping[str, object], environ: Optional[Mapping[str, str]] = None,
         start_dir: Optional[str] = None) -> Settings:
    """Build the settings in effect from every layer; raise ConfigError naming a bad value's source.

    ``cli`` holds the command-line values the user gave, keyed by field name
    (``None`` values count as not given).  ``environ`` defaults to
    ``os.environ`` and ``start_dir`` to the current directory.
    """
    if environ is None:
        environ = os.environ
    if start_dir is None:
        start_dir = os.getcwd()
    settings = Settings()
    settings.sources = {name: DEFAULT for name in _PARSERS}
    if environ.get("GITHUB_ACTIONS", "").strip().lower() == "true":
        settings.annotations = "github"
        settings.sources["annotations"] = GITHUB

    found = find_pyproject(start_dir)
    if found is not None:
        path, table = found
        settings.config_file = path
        _apply(settings, table, PYPROJECT, base_dir=os.path.dirname(path))

    text = environ.get(ENV_VAR, "")
    if text.strip():
        _apply(settings, parse_options(text), ENVIRON)

    _apply(settings, cli, COMMAND_LINE)
    return settings
