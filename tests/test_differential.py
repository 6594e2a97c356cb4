"""The differential corpus: each program in tests/differential/ behaves the same under python and racedet.

One file is one case.  The program runs under ``python`` and under
``python -m racedet``, from the same temporary directory, and the exit
status, stdout and stderr must be identical (``0x...`` addresses aside).

Optional header comments, one setting per line, anywhere in the file::

    # differential: args=a --b "c d"        program arguments (shell-split)
    # differential: stdin=line\\n            text on stdin (``\\n`` escapes)
    # differential: form=module             how python runs it (below)
    # differential: racedet-options=--no-leaks
    # differential: python>=3.11            skip on older interpreters
    # differential: xfail=issue 11 section 2: what differs (owner)
    # differential: xfail-on=3.12,3.13 why it differs on those versions only

Several settings may share a line (``form=pyz args=x``).  Forms: ``script``
(the default: ``python NAME.py``), ``dotdot`` (``python sub/../NAME.py``),
``module`` (``python -m NAME``), ``dir`` (a directory holding the program as
``__main__.py``), ``zip`` and ``pyz`` (a zip file / zipapp holding it) and
``pyc`` (``python NAME.pyc``, compiled by the interpreter under test).

A known difference that another part of racedet owns is marked ``xfail``
with the issue bullet it belongs to, so it is tracked instead of left out.
"""

from __future__ import annotations

import py_compile
import re
import shlex
import shutil
import subprocess
import sys
import zipapp
import zipfile
from pathlib import Path
from typing import Dict, List, NamedTuple, Tuple

import pytest

from helpers import env

CORPUS = Path(__file__).resolve().parent / "differential"
_HEADER = re.compile(r"^#\s*differential:\s*(.*)$", re.MULTILINE)
#: The setting names; a setting's value runs up to the next name (``xfail`` to the end of the line).
_KEY = re.compile(r"(?:^|\s)(form=|args=|stdin=|racedet-options=|python>=|xfail=|xfail-on=)")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def settings(path: Path) -> Dict[str, str]:
    """The ``# differential:`` settings of one program."""
    out: Dict[str, str] = {}
    for line in _HEADER.findall(path.read_text(encoding="utf-8", errors="replace")):
        keys = list(_KEY.finditer(line))
        for i, m in enumerate(keys):
            key = m.group(1).rstrip("=") if not m.group(1).endswith(">=") else m.group(1)
            free_text = key in ("xfail", "xfail-on")
            stop = len(line) if free_text or i + 1 == len(keys) else keys[i + 1].start()
            out[key] = line[m.end():stop].strip()
            if free_text:
                break
    return out


def _version(text: str) -> Tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


class Case(NamedTuple):
    cwd: Path
    argv: List[str]


def build(path: Path, form: str, tmp: Path) -> Case:
    """Lay the program out in ``tmp`` in the given form; return the command-line target."""
    name = path.stem
    if form == "script":
        shutil.copy(path, tmp / path.name)
        return Case(tmp, [path.name])
    if form == "dotdot":
        (tmp / "sub").mkdir()
        shutil.copy(path, tmp / path.name)
        return Case(tmp, [f"sub/../{path.name}"])
    if form == "module":
        shutil.copy(path, tmp / path.name)
        return Case(tmp, ["-m", name])
    if form in ("dir", "zip", "pyz"):
        d = tmp / name
        d.mkdir()
        shutil.copy(path, d / "__main__.py")
        if form == "dir":
            return Case(tmp, [name])
        if form == "pyz":
            zipapp.create_archive(d, tmp / f"{name}.pyz")
            shutil.rmtree(d)
            return Case(tmp, [f"{name}.pyz"])
        with zipfile.ZipFile(tmp / f"{name}.zip", "w") as z:
            z.write(d / "__main__.py", "__main__.py")
        shutil.rmtree(d)
        return Case(tmp, [f"{name}.zip"])
    if form == "pyc":
        src = tmp / path.name
        shutil.copy(path, src)
        py_compile.compile(str(src), cfile=str(tmp / f"{name}.pyc"), dfile=str(src), doraise=True)
        src.unlink()
        return Case(tmp, [f"{name}.pyc"])
    raise ValueError(f"{path.name}: unknown form {form!r}")


def normalise(text: str) -> str:
    return _ADDRESS.sub("0xADDR", text)


def _params() -> list:
    out = []
    for path in sorted(CORPUS.glob("*.py")):
        s = settings(path)
        marks = []
        if "xfail" in s:
            marks.append(pytest.mark.xfail(reason=s["xfail"], strict=False))
        if "xfail-on" in s:
            versions, _, reason = s["xfail-on"].partition(" ")
            if any(sys.version_info[:2] == _version(v) for v in versions.split(",")):
                marks.append(pytest.mark.xfail(reason=reason, strict=False))
        need = s.get("python>=")
        if need and sys.version_info[:2] < _version(need):
            marks.append(pytest.mark.skip(reason=f"needs Python {need}"))
        out.append(pytest.param(path, id=path.stem, marks=marks))
    return out


def run(argv: List[str], cwd: Path, stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], cwd=str(cwd), env=env(), input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("path", _params())
def test_same_as_python(path: Path, tmp_path: Path) -> None:
    s = settings(path)
    case = build(path, s.get("form", "script"), tmp_path)
    args = shlex.split(s.get("args", ""))
    stdin = s.get("stdin", "").encode().decode("unicode_escape")
    options = shlex.split(s.get("racedet-options", ""))
    plain = run([*case.argv, *args], case.cwd, stdin)
    under = run(["-m", "racedet", *options, *case.argv, *args], case.cwd, stdin)
    assert normalise(under.stderr) == normalise(plain.stderr)
    assert normalise(under.stdout) == normalise(plain.stdout)
    assert under.returncode == plain.returncode


def test_corpus_settings_parse() -> None:
    """Every program's header parses, and names a known form."""
    forms = {"script", "dotdot", "module", "dir", "zip", "pyz", "pyc"}
    for path in CORPUS.glob("*.py"):
        s = settings(path)
        assert s.get("form", "script") in forms, path.name
        assert set(s) <= {"form", "args", "stdin", "racedet-options", "python>=", "xfail", "xfail-on"}, (path.name, s)
    assert settings(CORPUS / "form_pyz.py") == {"form": "pyz", "args": "x"}
    assert settings(CORPUS / "argv_and_path.py") == {"args": 'a --b -m "c d"'}
