"""Where the numbers came from: machine, interpreter, racedet commit and date.

Ratios only mean something next to the machine and Python that produced
them, so every text and JSON report starts with this.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from typing import Any, Dict, Optional

_PY_PROBE = ("import json, platform, sys; print(json.dumps({'version': platform.python_version(), "
             "'implementation': platform.python_implementation(), 'executable': sys.executable, "
             "'gil': getattr(sys, '_is_gil_enabled', lambda: True)()}))")


def _first(path: str, prefix: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine() -> Dict[str, Any]:
    u = platform.uname()
    mem = _first("/proc/meminfo", "MemTotal")
    return {
        "uname": " ".join([u.system, u.node, u.release, u.version, u.machine]),
        "system": u.system, "machine": u.machine,
        "cpus": os.cpu_count(),
        "cpu_model": _first("/proc/cpuinfo", "model name") or platform.processor() or None,
        "memory": mem,
    }


def python_info(exe: str) -> Dict[str, Any]:
    """Ask the benchmarked interpreter (not necessarily this one) about itself."""
    out = subprocess.run([exe, "-c", _PY_PROBE], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def git_revision(root: str) -> Optional[str]:
    """``HEAD``'s short hash, with ``+dirty`` when racedet's tree has local changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "racedet"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev + ("+dirty" if dirty else "")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def racedet_core(exe: str, env: Dict[str, str]) -> Optional[str]:
    """Which access core ``python -m racedet`` will use with ``env`` ("c" or "py"), and why."""
    probe = "import racedet.core as c; print(c.name + ': ' + c.reason)"
    try:
        out = subprocess.run([exe, "-c", probe], capture_output=True, text=True, env=env,
                             timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def coverage_version(exe: str) -> Optional[str]:
    """coverage.py's version for ``exe`` (its default core: the C tracer where it is built), or None."""
    try:
        out = subprocess.run([exe, "-c", "import coverage; print(coverage.__version__)"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
