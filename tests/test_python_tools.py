"""Python's own tools beside ``python -m racedet``: pdb, cProfile, tracemalloc, faulthandler."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import env

RACY = """
    import threading

    class Box:
        n = 0

    box = Box()

    def bump():
        box.n += 1

    t = threading.Thread(target=bump)
    t.start()
    bump()
    t.join()
"""


def _run(args, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=str(cwd),
                          env=env(), input=stdin, timeout=120)


def _write(tmp_path: Path, name: str, source: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(source).lstrip("\n"))
    return p


def test_breakpoint_stops_as_under_python(tmp_path: Path) -> None:
    prog = _write(tmp_path, "bp.py", """
        class C:
            pass

        c = C()
        c.x = 5
        breakpoint()
        print("after", c.x)
    """)
    commands = "p c.x\nc\n"
    plain = _run([str(prog)], tmp_path, commands)
    raced = _run(["-m", "racedet", str(prog)], tmp_path, commands)
    assert raced.returncode == plain.returncode == 0, raced.stderr
    assert raced.stdout == plain.stdout
    assert "(Pdb) 5" in raced.stdout and "after 5" in raced.stdout


def test_cprofile_profiles_the_program(tmp_path: Path) -> None:
    prog = _write(tmp_path, "prof.py", RACY)
    res = _run(["-m", "cProfile", "-s", "cumtime", "-m", "racedet", str(prog)], tmp_path)
    # profile's runner swallows SystemExit, racedet's 66 as any program's status: exit 0 as under python.
    assert res.returncode == 0, res.stderr
    assert "prof.py:1(<module>)" in res.stdout and "prof.py:8(bump)" in res.stdout, res.stdout
    assert "WARNING: DATA RACE" in res.stderr


def test_tracemalloc_and_faulthandler(tmp_path: Path) -> None:
    prog = _write(tmp_path, "tools.py", """
        import faulthandler
        import sys
        import tracemalloc

        tracemalloc.start()
        data = [bytes(100) for _ in range(1000)]
        snap = tracemalloc.take_snapshot()
        top = snap.statistics("lineno")[0]
        print("top line", top.traceback[0].lineno)
        faulthandler.dump_traceback(file=sys.stdout, all_threads=False)
    """)
    plain = _run([str(prog)], tmp_path)
    raced = _run(["-m", "racedet", str(prog)], tmp_path)
    assert raced.returncode == plain.returncode == 0, raced.stderr
    assert "top line 6" in raced.stdout and "top line 6" in plain.stdout
    # faulthandler walks every frame of the C stack: the program's own frame comes first,
    # racedet's launcher frames (which it cannot hide from faulthandler) follow.
    first = [ln for ln in raced.stdout.splitlines() if ln.strip().startswith("File")][0]
    assert first.strip().startswith(f'File "{prog}", line 10 in <module>'), raced.stdout
