"""racedet's own errors: each becomes one clear line on stderr and exit status 2."""

from __future__ import annotations


class RacedetError(Exception):
    """Base of racedet's errors; ``slug`` names the area for warnings and tests."""

    slug = "error"


class ConfigError(RacedetError):
    """A bad option, environment value, configuration file or suppressions file."""

    slug = "config"


class UsageError(RacedetError):
    """The command line cannot be run (missing script or module)."""

    slug = "usage"
