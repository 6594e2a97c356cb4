"""The models are the primitives they stand for, as far as a program can tell.

Each program in tests/data/fidelity runs under python and under ``python -m
racedet``: exit status, stdout and stderr must be the same, byte for byte.
What the programs print differs between Python versions (a lock's
``blocking`` argument must be an int on 3.10 and 3.11, any object does from 3.12;
``threading.Lock`` is a function before 3.13, a type from 3.13), so the
comparison runs on this interpreter and on those listed in
``RACEDET_TEST_PYTHONS`` (paths, separated by ``os.pathsep``; each must be
able to import racedet's dependencies), with the pure-Python core there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import CORES, ROOT, env

DATA = ROOT / "tests" / "data" / "fidelity"
PROGRAMS = sorted(p.name for p in DATA.glob("*.py"))


def _interpreters() -> list:
    out = [(sys.executable, core) for core in CORES]
    for path in filter(None, os.environ.get("RACEDET_TEST_PYTHONS", "").split(os.pathsep)):
        out.append((path, "py"))
    return out


def _run(cmd: list, core: str) -> tuple:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=str(DATA),
                       env=env({"RACEDET_CORE": core}))
    return p.returncode, _normal(p.stdout), _normal(p.stderr)


def _normal(text: str) -> str:
    return re.sub(r"0x[0-9a-f]+", "0x?", text)


@pytest.mark.parametrize("python,core", _interpreters(), ids=lambda v: Path(v).parent.parent.name or v)
@pytest.mark.parametrize("program", PROGRAMS)
def test_same_as_python(program, python, core):
    plain = _run([python, program], core)
    raced = _run([python, "-m", "racedet", program], core)
    assert raced == plain


def test_programs_cover_the_models():
    # A program that printed nothing would pass trivially.
    plain = _run([sys.executable, "model_identity.py"], "py")
    assert "cannot pickle '_thread.lock' object" in plain[1]
    assert "Lock is LockType -> True" in plain[1]
    assert "thread.__init__() not called" in plain[1]
    tbs = _run([sys.executable, "model_tracebacks.py"], "py")[1]
    assert tbs.count("Traceback (most recent call last)") >= 19
    assert "queue.py" in tbs and "threading.py" in tbs and "_base.py" in tbs
