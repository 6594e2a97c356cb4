"""The settings of ``pytest --race``: its switches (command line > environment > ini > default),
racedet's own configuration beside them, and the per-test ``racedet`` marker.

Imported by the plugin entry point without the detector, so it imports
nothing of the detector at module level.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, Optional, Tuple

import pytest

#: The environment variable that switches the detector on (CLI > env > ini > default).
ENV_VAR = "PYTEST_RACE"

#: Names of the places a setting comes from, as the report header and errors show them.
SRC_CLI = "command line"
SRC_ENV = f"{ENV_VAR} environment variable"
SRC_DEFAULT = "default"

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


@dataclasses.dataclass(frozen=True)
class RaceOptions:
    """The pytest-level switches in effect and where each came from.

    Detector options (suppressions, baseline, exit code, ...) come from
    racedet's own configuration (``[tool.racedet]``, ``RACEDET_OPTIONS``);
    these are only the ones pytest owns.
    """

    race: bool = False
    race_source: str = SRC_DEFAULT
    #: None: not set at the pytest level (racedet's own configuration decides).
    leaks: Optional[bool] = None
    leaks_source: str = SRC_DEFAULT
    json: Optional[str] = None
    sarif: Optional[str] = None
    html: Optional[str] = None


# --------------------------------------------------------------------------
# Settings: command line > environment > ini > default


def parse_bool(value: object, where: str, name: str = "race") -> bool:
    """A boolean setting; a bad value is a usage error naming the place to fix."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise pytest.UsageError(f"Invalid {name} value {value!r} from {where}")


def _ini_where(config: pytest.Config, name: str) -> str:
    path = getattr(config, "inipath", None)
    return f"{name} in {os.path.basename(str(path)) if path else 'the ini file'}"


def _ini_raw(config: pytest.Config, name: str) -> Any:
    """The ini value as written, or None when the ini file does not set it.

    pytest's ``getini`` answers the default for both "unset" and "set to the
    default", and the report header has to tell them apart.
    """
    cfg = getattr(config, "_inicfg", None)       # pytest >= 9: name -> ConfigValue
    if cfg is not None:
        entry = cfg.get(name)
        return None if entry is None else getattr(entry, "value", entry)
    try:
        return config.inicfg.get(name)           # pytest < 9: plain mapping
    except AttributeError:  # pragma: no cover - no ini support at all
        return None


def _ini_bool(config: pytest.Config, name: str) -> Optional[bool]:
    raw = _ini_raw(config, name)
    if raw is None:
        return None
    where = _ini_where(config, name)
    try:
        value = config.getini(name)
    except (ValueError, pytest.UsageError):   # pytest < 9.2 raises ValueError, later UsageError
        raise pytest.UsageError(f"Invalid {name} value {raw!r} from {where}") from None
    return parse_bool(value, where, name)


def get_env_settings(config: pytest.Config, namespace: Any = None) -> RaceOptions:
    """Resolve the switches from ``namespace`` (the parsed command line), env and ini.

    ``namespace`` is ``config.option`` once the command line is parsed, or
    ``config.known_args_namespace`` in ``pytest_load_initial_conftests``.
    """
    ns = namespace if namespace is not None else config.option
    cli_race = getattr(ns, "race", None)
    env_race = os.environ.get(ENV_VAR)
    if cli_race is not None:
        race, race_source = bool(cli_race), SRC_CLI
    elif env_race is not None and env_race.strip() != "":
        race, race_source = parse_bool(env_race, SRC_ENV), SRC_ENV
    else:
        ini = _ini_bool(config, "race")
        if ini is not None:
            race, race_source = ini, _ini_where(config, "race")
        else:
            race, race_source = False, SRC_DEFAULT

    leaks: Optional[bool] = None
    leaks_source = SRC_DEFAULT
    if getattr(ns, "race_no_leaks", None):
        leaks, leaks_source = False, SRC_CLI
    else:
        ini_leaks = _ini_bool(config, "race_leaks")
        if ini_leaks is not None:
            leaks, leaks_source = ini_leaks, _ini_where(config, "race_leaks")
    return RaceOptions(race, race_source, leaks, leaks_source,
                       getattr(ns, "race_json", None), getattr(ns, "race_sarif", None),
                       getattr(ns, "race_html", None))



# --------------------------------------------------------------------------
# racedet's configuration and the marker


def marker_settings(item: pytest.Item) -> Tuple[bool, bool, Optional[str]]:
    """``(races, leaks, error)`` from the closest ``racedet`` markers (function over class over module)."""
    found: Dict[str, bool] = {}
    for mark in item.iter_markers("racedet"):
        if mark.args:
            return True, True, f"@pytest.mark.racedet takes keyword arguments only, got {mark.args!r}"
        for key, value in mark.kwargs.items():
            if key not in ("races", "leaks"):
                return True, True, (f"@pytest.mark.racedet got an unknown argument {key!r} "
                                    "(expected races=... or leaks=...)")
            if not isinstance(value, bool):
                return True, True, f"@pytest.mark.racedet({key}=...) expects True or False, got {value!r}"
            found.setdefault(key, value)
    return found.get("races", True), found.get("leaks", True), None


def load_settings(config: pytest.Config, options: RaceOptions) -> Any:
    """racedet's settings ([tool.racedet] < RACEDET_OPTIONS < command line), with pytest's switches.

    The pytest-level leak switches sit where pytest users expect them:
    ``--race-no-leaks`` beats everything; ``race_leaks`` in the ini file beats
    ``[tool.racedet]`` but not ``RACEDET_OPTIONS`` (an environment tweak of one run).
    """
    from racedet import config as rconfig
    from racedet.exceptions import ConfigError

    base = str(config.invocation_params.dir)
    cli: Dict[str, object] = {}
    if options.json:
        cli["json"] = os.path.join(base, options.json)
    if options.sarif:
        cli["sarif"] = os.path.join(base, options.sarif)
    if options.html:
        cli["html"] = os.path.join(base, options.html)
    try:
        settings = rconfig.load(cli, environ=os.environ, start_dir=str(config.rootpath))
    except ConfigError as exc:
        raise pytest.UsageError(f"racedet: {exc}") from None
    if options.leaks is not None and (
            options.leaks_source == SRC_CLI
            or settings.sources.get("leaks", rconfig.DEFAULT) in (rconfig.DEFAULT, rconfig.PYPROJECT)):
        settings.leaks = options.leaks
        settings.sources["leaks"] = options.leaks_source
    return settings


