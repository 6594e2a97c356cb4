"""The HTML report: ``--html`` for a program, ``--race-html`` under pytest, checked in a real browser."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import run_racedet
from test_report_text import LOST_UPDATE
from racedet.model import Access, BlockedThread, Findings, Frame, Race
from racedet.report import html
from test_plugin import pt, run  # noqa: F401  (the fixture and the runner)

pytest_plugins = ["pytester"]

#: The lost update of test_report_text, and a thread left parked at exit (a leak).
PROGRAM = LOST_UPDATE + """    stuck = threading.Event()
    threading.Thread(target=stuck.wait, name="parked", daemon=True).start()
"""


def test_render_escapes_groups_and_shows_source(tmp_path: Path) -> None:
    src = tmp_path / "app.py"
    src.write_text("a = 1\nb = '<script>'\nc = 3\n")
    fr = Frame(str(src), 2, "<module>")
    race = Race("dict item '<k>' of <dict at 0x1>", 1, Access("write", "t<1>", (fr,)),
                Access("read", "t2", (fr,)), location_kind="item")
    leak = BlockedThread("w", "Queue.get", (fr,), (fr,))
    page = html.render([("race", race, ["t::a", "t::b"]), ("leak", leak, ["t::c"])])
    assert "<script>" not in page.replace("<style>", "")      # everything user-written is escaped
    assert "&lt;script&gt;" in page and "t&lt;1&gt;" in page
    assert '<span class="hit"><i>2</i>b = &#x27;&lt;script&gt;&#x27;</span>' in page
    assert "<i>1</i>a = 1" in page and "<i>3</i>c = 3" in page   # lines around the frame
    assert "in 2 tests: <code>t::a</code>, <code>t::b</code>" in page
    assert "thread w (blocked in Queue.get)" in page
    assert "http" not in page.split("<body>")[1]     # no network: nothing is loaded
    empty = html.render(html.records_of(Findings()))
    assert "No races, leaks, deadlocks or lock-order inversions." in empty


def test_cli_html_report(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    res = run_racedet(tmp_path, PROGRAM, options=["--html", str(out)])
    assert res.returncode == 66, res.stderr
    page = out.read_text()
    assert "DATA RACE</span>Counter.value" in page
    assert "Diagnosis:</b> lost update" in page
    assert "thread parked (blocked in Event.wait)" in page


def test_html_written_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.html"
    target.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    run_racedet(tmp_path, PROGRAM, options=["--html", str(link)])
    assert link.is_symlink() and "Counter.value" in target.read_text()


def test_pytest_race_html_lists_the_tests(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_h="""
    import threading
    import pytest

    class Box:
        n = 0

    box = Box()

    @pytest.mark.parametrize("i", range(3))
    def test_bump(i):
        def bump():
            box.n += 1
        t = threading.Thread(target=bump)
        t.start()
        bump()
        t.join()
    """)
    res = run(pt, "--race", "--race-html", "out.html", "-p", "no:randomly")
    assert res.parseoutcomes().get("failed") == 3, res.stdout.str()
    page = (pt.path / "out.html").read_text()
    assert "in 3 tests: <code>test_h.py::test_bump[0]</code>" in page, page


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return ""


@pytest.mark.skipif(not _chromium(), reason="no Chromium installed (Debian: apt-get install chromium)")
def test_the_page_renders_in_a_browser(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    run_racedet(tmp_path, PROGRAM, options=["--html", str(out)])
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1400"]
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", out.as_uri()], capture_output=True, text=True,
                         timeout=120)
    assert "Counter.value" in dom.stdout and "Previous write of Counter.value" in dom.stdout, dom.stderr[-2000:]
    shot = tmp_path / "shot.png"
    subprocess.run([_chromium(), *flags, f"--screenshot={shot}", out.as_uri()], capture_output=True,
                   timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000   # a page with content, not a blank one
    keep = os.environ.get("RACEDET_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
