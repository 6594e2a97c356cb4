"""``pytest --race`` instruments the project under test wherever it is installed.

A tox or ``pip install .`` run puts the library in site-packages; racedet
must check it there, not only the tests.  The "installed" copy here sits in
the user site-packages directory (``PYTHONUSERBASE``), which racedet counts
as a library directory, as it does any site-packages.
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

import pytest

from test_plugin import pt, run  # noqa: F401  (the fixture and the runner)

pytest_plugins = ["pytester"]

LIB = """\
class Counter:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
"""

TEST = """
import threading
from mylib import Counter

def test_racy():
    c = Counter()
    t = threading.Thread(target=c.incr)
    t.start()
    c.incr()
    t.join()
"""


def _user_site(base: Path) -> Path:
    old = site.USER_BASE, site.USER_SITE
    try:
        site.USER_BASE, site.USER_SITE = str(base), None
        return Path(site.getusersitepackages())
    finally:
        site.USER_BASE, site.USER_SITE = old


def installed_project(pt: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name_in: str) -> Path:
    base = pt.path.parent / f"{pt.path.name}-userbase"
    usersite = _user_site(base)
    pkg = usersite / "mylib"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(LIB)
    dist = usersite / "my_lib-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-lib\nVersion: 1.0\n")
    (dist / "top_level.txt").write_text("mylib\n")
    monkeypatch.setenv("PYTHONUSERBASE", str(base))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(usersite), os.environ["PYTHONPATH"]]))
    if name_in == "pyproject":
        pt.makefile(".toml", pyproject='[project]\nname = "my-lib"\nversion = "1.0"\n')
    elif name_in == "setup.cfg":
        pt.makefile(".cfg", setup="[metadata]\nname = my_lib\n")
    pt.mkdir("tests")
    (pt.path / "tests" / "test_lib.py").write_text(TEST)
    return pkg / "__init__.py"


@pytest.mark.parametrize("name_in", ["pyproject", "setup.cfg"])
def test_the_installed_library_is_instrumented(pt: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                name_in: str) -> None:
    lib = installed_project(pt, monkeypatch, name_in)
    res = run(pt, "--race", "-p", "no:randomly", "tests")
    out = res.stdout.str()
    assert res.parseoutcomes().get("failed") == 1, out
    res.stdout.fnmatch_lines(["racedet: instrumented: * the project: mylib (*site-packages/mylib), from *my*lib*"])
    assert f'File "{lib}", line 6, in incr' in out, out
    res.stdout.fnmatch_lines(["FAILED tests/test_lib.py::test_racy - DATA RACE on Counter.n (__init__.py:6 vs 6)"])


def test_exclude_narrows_the_project_again(pt: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    installed_project(pt, monkeypatch, "pyproject")
    monkeypatch.setenv("RACEDET_OPTIONS", "exclude=*/mylib/*")
    res = run(pt, "--race", "-p", "no:randomly", "tests")
    assert res.parseoutcomes().get("passed") == 1, res.stdout.str()


def test_find_project_from_a_checkout(tmp_path: Path) -> None:
    from pytest_racedet.project import find_project

    (tmp_path / "src" / "pkgx").mkdir(parents=True)
    (tmp_path / "src" / "pkgx" / "__init__.py").write_text("")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path / "src"))
    try:
        project = find_project(str(tmp_path))
    finally:
        sys.path.remove(str(tmp_path / "src"))
    assert [n for n, _ in project.packages] == ["pkgx"]
    assert project.include_globs(str(tmp_path)) == []      # in the rootdir: user code already
    assert "in the rootdir" in project.describe(str(tmp_path))


def test_a_broken_pyproject_is_left_to_the_configuration_loader(tmp_path: Path) -> None:
    from pytest_racedet.project import find_project

    (tmp_path / "pyproject.toml").write_bytes(b"[project\nname = \xff")
    assert find_project(str(tmp_path)).packages == ()
