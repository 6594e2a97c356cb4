"""The README's adoption story, end to end: baseline, green, new race, red with one annotation."""

from __future__ import annotations

import subprocess
import sys

from helpers import env

APP = """
import threading

class Counter:
    def __init__(self):
        self.value = 0
        self.hits = 0

    def incr(self):
        self.value += 1{new}

def main():
    c = Counter()
    ts = [threading.Thread(target=c.incr, name=f"worker-{{i + 1}}") for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()

main()
"""


def _run(tmp_path, *opts):
    return subprocess.run([sys.executable, "-m", "racedet", "--baseline", "baseline.json", *opts, "app.py"],
                          cwd=str(tmp_path), env=env({"GITHUB_ACTIONS": "true"}), capture_output=True,
                          text=True, timeout=60)


def test_adopt_with_a_baseline(tmp_path):
    app = tmp_path / "app.py"
    app.write_text(APP.format(new=""))
    # 1. The known race is recorded.
    first = _run(tmp_path, "--update-baseline")
    assert first.returncode == 0, first.stderr
    assert '"kind": "data-race"' in (tmp_path / "baseline.json").read_text()
    # 2. Unrelated edits move the race: still green.
    app.write_text("# one\n# two\n# three\n" + APP.format(new=""))
    green = _run(tmp_path)
    assert green.returncode == 0, green.stderr
    assert "::error" not in green.stderr
    # 3. A new race: red, with an annotation on the new line only.
    app.write_text("# one\n# two\n# three\n" + APP.format(new="\n        self.hits += 1"))
    red = _run(tmp_path)
    assert red.returncode == 66, red.stderr
    new_line = app.read_text().splitlines().index("        self.hits += 1") + 1
    annotations = [ln for ln in red.stderr.splitlines() if ln.startswith("::error")]
    assert len(annotations) == 1, red.stderr
    assert annotations[0].startswith(f"::error file=app.py,line={new_line},title=DATA RACE::")
    assert "Counter.hits" in annotations[0]
