"""``python -m racedet``: the program behaves as under plain python; bad input gets one clear line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import env, run_racedet, write


def racedet(tmp_path, *argv, extra_env=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "racedet", *argv], capture_output=True, text=True,
                          cwd=str(tmp_path), env=env(extra_env), timeout=60, input=stdin)


def plain(tmp_path, *argv, stdin=None):
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                          cwd=str(tmp_path), env=env(), timeout=60, input=stdin)


def same_as_plain(tmp_path, source, *args, stdin=None, name="prog.py"):
    write(tmp_path, source, name)
    a = plain(tmp_path, name, *args, stdin=stdin)
    b = racedet(tmp_path, name, *args, stdin=stdin)
    assert b.stdout == a.stdout
    assert b.stderr == a.stderr
    assert b.returncode == a.returncode
    return b


# -- the program sees what plain python gives it ---------------------------


def test_argv_name_file_path(tmp_path):
    same_as_plain(tmp_path, """
        import sys, os
        print(__name__, sys.argv, os.path.basename(__file__), os.path.isabs(__file__))
        print(sys.path[0] == os.path.dirname(os.path.abspath(__file__)))
        print(__package__, __spec__, type(__loader__).__name__)
        print(sys.modules["__main__"].__dict__ is globals())
    """, "a", "--b", "-m")


def test_traceback_identical(tmp_path):
    res = same_as_plain(tmp_path, """
        import threading
        class C:
            def __init__(self):
                self.d = {}
        def f(c):
            return c.d["missing"] + c.x
        t = threading.Thread(target=print); t.start(); t.join()
        f(C())
    """)
    assert "racedet" not in res.stderr
    assert "KeyError: 'missing'" in res.stderr


def test_traceback_attribute_error_carets(tmp_path):
    same_as_plain(tmp_path, """
        class C: pass
        def g(o):
            return o.missing
        g(C())
    """)


def test_exception_in_thread_identical(tmp_path):
    same_as_plain(tmp_path, """
        import threading
        def boom():
            raise ValueError("in thread")
        t = threading.Thread(target=boom, name="T")
        t.start(); t.join()
        print("main goes on")
    """)


def test_locals_unchanged(tmp_path):
    same_as_plain(tmp_path, """
        import threading
        g = 0
        def outer(a):
            x, y = 1, 2
            def inner():
                nonlocal x
                global g
                x += g
                g = x + y
                return sorted(locals())
            t = threading.Thread(target=inner); t.start(); t.join()
            return sorted(locals()), inner()
        print(outer(5), sorted(k for k in globals() if not k.startswith("__")))
    """)


def test_primitive_reprs_unchanged(tmp_path):
    same_as_plain(tmp_path, """
        import re, threading, queue
        def show(x):
            print(re.sub(r"0x[0-9a-f]+|owner=\\d+", "X", repr(x)))
        lock, rlock = threading.Lock(), threading.RLock()
        show(lock); show(rlock); rlock.acquire(); show(rlock); lock.acquire(); show(lock)
        show(threading.Condition()); show(threading.Event()); show(threading.Semaphore(2))
        show(threading.BoundedSemaphore()); show(threading.Barrier(2))
        print(type(queue.Queue()).__name__, isinstance(lock, type(lock)))
    """)


def test_exit_status(tmp_path):
    same_as_plain(tmp_path, "import sys\nsys.exit(3)\n")
    same_as_plain(tmp_path, "import sys\nsys.exit('bye')\n")
    same_as_plain(tmp_path, "raise SystemExit\n")


def test_syntax_error_is_pythons(tmp_path):
    res = same_as_plain(tmp_path, "x = (1,\nprint(x\n")
    assert "SyntaxError" in res.stderr


def test_input_and_output(tmp_path):
    same_as_plain(tmp_path, """
        name = input("name? ")
        print("hello", name)
    """, stdin="gopher\n")


def test_finalizers_run_in_order(tmp_path):
    same_as_plain(tmp_path, """
        import threading
        class R:
            def __init__(self, n): self.n = n
            def __del__(self): print("del", self.n)
        def work():
            r = R(1)
            r.n = 2
            print("work")
        t = threading.Thread(target=work); t.start(); t.join()
        work()
        print("end")
    """)


def test_module_mode_relative_imports(tmp_path):
    write(tmp_path, "", "pkg/__init__.py")
    write(tmp_path, "VALUE = 41\n", "pkg/helper.py")
    write(tmp_path, """
        import sys
        from . import helper
        from .helper import VALUE
        print(__name__, __package__, VALUE + 1, sys.argv[1:])
    """, "pkg/main.py")
    a = plain(tmp_path, "-m", "pkg.main", "x")
    b = racedet(tmp_path, "-m", "pkg.main", "x")
    assert b.stdout == a.stdout == "__main__ pkg 42 ['x']\n"
    assert b.returncode == 0


def test_module_mode_finds_races(tmp_path):
    write(tmp_path, "", "app/__init__.py")
    write(tmp_path, """
        import threading
        class S: pass
        s = S()
        def w(): s.v = 1
        def main():
            ts = [threading.Thread(target=w) for _ in range(2)]
            for t in ts: t.start()
            for t in ts: t.join()
        main()
    """, "app/__main__.py")
    res = racedet(tmp_path, "-m", "app")
    assert res.returncode == 66, res.stderr
    assert "S.v" in res.stderr


# -- exit status and options ----------------------------------------------

RACY = """
import threading
class S: pass
s = S()
def w(): s.v = 1
ts = [threading.Thread(target=w) for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
print("after")
"""


def test_exitcode_option_and_env(tmp_path):
    write(tmp_path, RACY)
    assert racedet(tmp_path, "--exitcode", "3", "prog.py").returncode == 3
    assert racedet(tmp_path, "prog.py", extra_env={"RACEDET_OPTIONS": "exitcode=7"}).returncode == 7


def test_program_status_wins(tmp_path):
    write(tmp_path, RACY + "raise SystemExit(5)\n")
    assert racedet(tmp_path, "prog.py").returncode == 5


def test_halt_on_error(tmp_path):
    write(tmp_path, RACY)
    res = racedet(tmp_path, "--halt-on-error", "prog.py")
    assert res.returncode == 66
    assert "after" not in res.stdout
    assert "DATA RACE" in res.stderr


def test_json_shape(tmp_path):
    res = run_racedet(tmp_path, RACY)
    rep = res.report
    assert set(rep) >= {"version", "races", "leaks", "deadlock", "lock_order_inversions"}
    assert rep["version"] == 1 and rep["deadlock"] is None
    race = rep["races"][0]
    assert race["location"] == "S.v"
    for side in ("current", "previous"):
        assert race[side]["kind"] in ("read", "write")
        top = race[side]["stack"][0]
        assert set(top) == {"file", "line", "function"}
        assert top["line"] == 4 and top["function"] == "w"
        assert "racedet" not in top["file"]


def test_clean_program_prints_nothing(tmp_path):
    res = run_racedet(tmp_path, "print('hi')\n")
    assert res.stdout == "hi\n" and res.stderr == "" and res.returncode == 0


# -- bad input: one line from racedet, exit 2, no traceback -----------------


@pytest.mark.parametrize("argv, message", [
    (["missing.py"], "racedet: can't open file"),
    (["-m", "no_such_module_xyz"], "racedet: No module named no_such_module_xyz"),
    (["--bogus", "prog.py"], "racedet: unrecognized arguments: --bogus"),
    (["--exitcode", "x", "prog.py"], "racedet: invalid exitcode 'x' from the command line"),
    ([], "racedet: no program given"),
    (["--json"], "racedet: option --json needs a value"),
    (["--include", "src/[ab.py", "prog.py"], "racedet: invalid include 'src/[ab.py' from the command line"),
    (["--history-size", "99", "prog.py"], "racedet: invalid history_size '99' from the command line"),
])
def test_bad_command_line(tmp_path, argv, message):
    write(tmp_path, "print('ran')\n")
    res = racedet(tmp_path, *argv)
    assert res.returncode == 2
    assert res.stderr.startswith(message), res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""


def test_bad_racedet_options(tmp_path):
    write(tmp_path, "print('ran')\n")
    res = racedet(tmp_path, "prog.py", extra_env={"RACEDET_OPTIONS": "exitcode=x"})
    assert res.returncode == 2
    assert res.stderr == "racedet: invalid exitcode 'x' from RACEDET_OPTIONS\n"


def test_broken_suppressions_file(tmp_path):
    write(tmp_path, "print('ran')\n")
    (tmp_path / "sup.txt").write_text("race:ok_function\nrcae:oops\n")
    res = racedet(tmp_path, "--suppressions", "sup.txt", "prog.py")
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "sup.txt:2" in res.stderr, res.stderr


def test_version(tmp_path):
    res = racedet(tmp_path, "--version")
    assert res.returncode == 0 and res.stdout.startswith("racedet ")


def test_console_script_entry_point():
    import importlib.metadata as md

    eps = [e for e in md.entry_points(group="console_scripts") if e.name == "racedet"]
    assert eps and eps[0].value == "racedet.cli:main"


def test_instrumented_bytecode_cached_apart(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    write(tmp_path, "import mod\nmod.f()\n")
    write(tmp_path, "def f():\n    print('f')\n", "mod.py")
    assert racedet(tmp_path, "prog.py").returncode == 0
    assert racedet(tmp_path, "prog.py").stdout == "f\n"   # from the cache
    assert plain(tmp_path, "prog.py").stdout == "f\n"
    cached = sorted(p.name for p in (tmp_path / "__pycache__").iterdir())
    assert any("-racedet-" in n for n in cached)
    assert any(n.endswith(f"{sys.implementation.cache_tag}.pyc") for n in cached)


def test_report_json_is_valid_json_with_leaks(tmp_path):
    res = run_racedet(tmp_path, """
        import threading
        ev = threading.Event()
        t = threading.Thread(target=ev.wait, daemon=True, name="stuck")
        t.start()
    """)
    assert res.returncode == 66
    assert [lk["thread"] for lk in res.leaks] == ["stuck"]
    assert res.leaks[0]["blocked_in"] == "Event.wait"
    json.dumps(res.report)



def test_queue_timeouts_and_full_identical(tmp_path):
    # The queue models try a non-blocking put/get first: what a program sees
    # (values, Empty/Full after a timeout, its traceback) must not change.
    same_as_plain(tmp_path, """
        import queue, threading
        q = queue.Queue(1)
        q.put(1)
        try:
            q.put(2, timeout=0.01)
        except queue.Full as e:
            print("full", repr(e), e.__context__)
        print(q.get(), q.get(True, 1))  if False else print(q.get())
        try:
            q.get(timeout=0.01)
        except queue.Empty as e:
            print("empty", repr(e), e.__context__)
        room, took = threading.Event(), threading.Event()
        def consumer():
            room.wait()
            print("got", q.get())
            took.set()
        t = threading.Thread(target=consumer); t.start()
        q.put("a")
        room.set()
        took.wait()
        q.put("b", timeout=5)
        print("left", q.get_nowait(), q.qsize())
        t.join()
        sq = queue.SimpleQueue()
        sq.put(None); sq.put(None)
        print(sq.get(), sq.get_nowait(), sq.empty(), sq.qsize())
        try:
            sq.get_nowait()
        except queue.Empty as e:
            print("empty", repr(e), e.__context__)
        try:
            sq.get(timeout=0.01)
        except queue.Empty as e:
            print("empty", repr(e), e.__context__)
        q.get(timeout=0.01)
    """)


def test_errors_raised_through_models_show_no_racedet_frame(tmp_path):
    # RuntimeError from a model lock's release, in a thread and in the main
    # thread: the tracebacks are plain python's, line for line.
    same_as_plain(tmp_path, """
        import threading
        lock = threading.Lock()
        def worker():
            lock.release()
        t = threading.Thread(target=worker, name="W")
        t.start()
        t.join()
        sem = threading.BoundedSemaphore(1)
        def outer():
            sem.release()
        outer()
    """)
