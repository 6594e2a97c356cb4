"""Run one child process and measure it: wall time, peak RSS, exit status, result line.

Wall time is taken around the whole child, so it includes interpreter and
detector start-up; the workload's own in-process timing comes from the last
line of its stdout.

Peak RSS needs care.  Linux carries ``ru_maxrss`` across ``exec``: a child
spawned straight from this runner starts with the runner's own high-water
mark (a 100 MB runner makes a hello-world "use" 100 MB), and
``RUSAGE_CHILDREN`` only ever grows.  So each child is started by a tiny
launcher (``python -I -S``, about 8 MB, less than any Python program) that
``posix_spawn``s it, ``wait4``s for exactly that process and writes its wall
time, ``ru_maxrss`` and status to a file.  Output goes to temporary files,
not pipes, so a chatty child can never block on a full pipe.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional

#: ``ru_maxrss`` is in KiB on Linux and the BSDs, in bytes on macOS.
_MAXRSS_DIVISOR = 1024 if sys.platform == "darwin" else 1
STDERR_HEAD_LINES = 8    # a report's headline ("fatal error: ...", "WARNING: DATA RACE")
STDERR_TAIL_LINES = 30   # ... and where it ended up


@dataclass
class Sample:
    """One run of one entry in one mode."""

    mode: str                    # "plain" or "racedet"
    rep: int
    wall: float                  # seconds, whole process
    maxrss_kb: int
    returncode: int
    seconds: Optional[float] = None   # in-process measured section
    ops: Optional[int] = None
    result: Dict[str, Any] = field(default_factory=dict)
    skipped: Optional[str] = None
    timed_out: bool = False
    stderr_tail: str = ""       # head and tail of stderr, for failures

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        if self.ok:
            d.pop("stderr_tail")
        return d


def parse_result(stdout: str) -> Dict[str, Any]:
    """The JSON object on the last non-empty stdout line, or ``{}`` when there is none."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line:
            try:
                value = json.loads(line)
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def _tail(text: str) -> str:
    """The first and last lines of a failed run's output: the report's headline and its end."""
    lines = text.rstrip().splitlines()
    if len(lines) <= STDERR_HEAD_LINES + STDERR_TAIL_LINES:
        return "\n".join(lines)
    skipped = len(lines) - STDERR_HEAD_LINES - STDERR_TAIL_LINES
    return "\n".join(lines[:STDERR_HEAD_LINES] + [f"[... {skipped} lines ...]"]
                     + lines[-STDERR_TAIL_LINES:])


#: Runs the measured command as its only child; argv: result-file, command...
LAUNCHER = """\
import os, sys, time
argv = sys.argv[2:]
t0 = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as f:
    f.write("%r %d %d" % (wall, ru.ru_maxrss, status))
"""


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def run_child(cmd: List[str], *, mode: str, rep: int, env: Mapping[str, str], cwd: str,
              timeout: float) -> Sample:
    """Run ``cmd`` to completion (killing it after ``timeout`` seconds) and measure it."""
    timed_out = False
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory() as tmp:
        measured = os.path.join(tmp, "rusage")
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", LAUNCHER, measured, *cmd],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=dict(env),
                                cwd=cwd, start_new_session=True)  # a group: kill reaches the child
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
        except BaseException:  # Ctrl-C: do not leave the workload running
            _kill_group(proc)
            raise
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        try:
            with open(measured, encoding="ascii") as f:
                wall_s, rss_s, status_s = f.read().split()
            wall, maxrss = float(wall_s), int(rss_s)
            returncode = os.waitstatus_to_exitcode(int(status_s))
        except (OSError, ValueError):  # the launcher was killed, or could not spawn
            wall, maxrss, returncode = float("nan"), 0, proc.returncode or -1
    result = parse_result(stdout)
    sample = Sample(mode=mode, rep=rep, wall=wall, maxrss_kb=maxrss // _MAXRSS_DIVISOR,
                    returncode=returncode, timed_out=timed_out)
    if isinstance(result.get("skipped"), str):
        sample.skipped = result["skipped"]
    if isinstance(result.get("seconds"), (int, float)):
        sample.seconds = float(result["seconds"])
    if isinstance(result.get("ops"), int):
        sample.ops = result["ops"]
    sample.result = result
    if not sample.ok or (sample.seconds is None and sample.skipped is None):
        sample.stderr_tail = _tail(stderr) or _tail(stdout)
    return sample
