"""A detector session: switch the detector on, collect findings, report them at the end.

The CLI runs one session around the whole program; the pytest plugin runs one
per test session and reads the findings test by test.  A session owns the
callbacks of the engine (races), the lock-order graph (inversions) and the
watchdog (deadlocks), and applies suppressions and the baseline.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import IO, Any, Callable, List, Optional

from racedet import blocking, engine, files, hooks, lockorder, models
from racedet.instrument import importer
from racedet.model import BlockedThread, Deadlock, Findings, LockOrderInversion, Race
from racedet.report import jsondoc
from racedet.report.text import Formatter


class Session:
    """One run of the detector.  ``settings`` is a :class:`racedet.config.Settings`."""

    def __init__(self, settings: Any, stream: Optional[IO[str]] = None) -> None:
        self.settings = settings
        self.stream = stream if stream is not None else (sys.__stderr__ or sys.stderr)
        self.findings = Findings()
        self.fmt = Formatter(settings.strip_path_prefix, source=settings.source)
        self.suppressions = _load_suppressions(settings.suppressions)
        self.baseline = _load_baseline(settings.baseline) if not settings.update_baseline else None
        self.known = 0           # findings matched by the baseline
        self.all_findings = Findings()  # before baseline filtering (for --update-baseline)
        self.on_deadlock_exit: Callable[[Deadlock], None] = self._deadlock_exit
        self.echo = True         # print reports on the stream as they are found
        self.listeners: List[Callable[[str, Any], None]] = []

    # -- lifecycle -------------------------------------------------------

    def start(self, instrument: bool = True) -> None:
        engine.history_size = self.settings.history_size
        engine.on_race = self._on_race
        lockorder.on_inversion = self._on_inversion
        blocking.on_deadlock = self._on_deadlock
        hooks.install()
        models.install()
        engine.TRACKING = True
        engine.enable()
        if instrument:
            importer.install(importer.Selector(self.settings.include, self.settings.exclude))

    def stop(self) -> None:
        engine.disable()
        engine.TRACKING = False
        blocking.on_deadlock = None
        importer.uninstall()

    # -- findings --------------------------------------------------------

    def _accept(self, finding: Any) -> bool:
        """Suppressions first, then the baseline; count what they hide."""
        if self.suppressions is not None and self.suppressions.suppresses(finding):
            self.findings.suppressed += 1
            return False
        _add(self.all_findings, finding)
        if self.baseline is not None and self.baseline.contains(finding):
            self.known += 1
            return False
        return True

    def _on_race(self, race: Race) -> None:
        if not self._accept(race):
            return
        self.findings.races.append(race)
        self._emit("race", race, self.fmt.race(race))
        if self.settings.halt_on_error:
            self.halt(self.settings.exitcode)

    def _on_inversion(self, inv: LockOrderInversion) -> None:
        if not self._accept(inv):
            return
        self.findings.lock_order_inversions.append(inv)
        self._emit("lock_order", inv, self.fmt.inversion(inv))
        if self.settings.halt_on_error:
            self.halt(self.settings.exitcode)

    def _on_deadlock(self, dl: Deadlock) -> None:
        if self.suppressions is not None and self.suppressions.suppresses(dl):
            # Suppressed: racedet does not step in, the program hangs as it would
            # under plain python.  Stop watching so it is counted once.
            self.findings.suppressed += 1
            blocking.on_deadlock = None
            return
        self.on_deadlock_exit(dl)

    def _deadlock_exit(self, dl: Deadlock) -> None:
        """Go: print every goroutine, write the reports, exit 2 at once."""
        self.findings.deadlock = dl
        self._flush_stdout()
        self.write(self.fmt.deadlock(dl))
        self._write_outputs_or_say_why()
        self.write(self.summary())
        self._exit_now(2)

    def _emit(self, kind: str, finding: Any, text: str) -> None:
        for cb in self.listeners:
            cb(kind, finding)
        if self.echo:
            self._flush_stdout()
            self.write(text)

    def add_leaks(self, leaks: List[BlockedThread]) -> None:
        for lk in leaks:
            if self._accept(lk):
                self.findings.leaks.append(lk)
                self._emit("leak", lk, self.fmt.leak(lk))

    def halt(self, status: int) -> None:
        self._write_outputs_or_say_why()
        self.write(self.summary())
        self._exit_now(status)

    def _write_outputs_or_say_why(self) -> None:
        """:meth:`write_outputs` on the way to an immediate exit: a bad path is one line, not a traceback."""
        from racedet.exceptions import ConfigError

        try:
            self.write_outputs()
        except ConfigError as exc:
            self.write(f"racedet: {exc}\n")

    # -- output ----------------------------------------------------------

    def write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # pragma: no cover - stderr closed by the program
            pass

    def _flush_stdout(self) -> None:
        for s in (sys.stdout, sys.__stdout__):
            try:
                if s is not None:
                    s.flush()
            except (OSError, ValueError):  # pragma: no cover
                pass

    def _exit_now(self, status: int) -> None:
        self._flush_stdout()
        os._exit(status)

    def summary(self) -> str:
        text = self.fmt.summary(self.findings)
        if self.known:
            text += f"racedet: {self.known} known finding(s) matched the baseline\n"
        if self.settings.update_baseline and self.settings.baseline:
            text += f"racedet: baseline written to {self.settings.baseline}\n"
        return text

    def write_outputs(self) -> None:
        """The JSON, SARIF, baseline and annotation outputs the settings ask for."""
        s = self.settings
        root = os.getcwd()
        if s.json:
            _write_json(s.json, self.findings)
        if s.sarif:
            from racedet import __version__
            from racedet.report import sarif

            sarif.write_sarif(s.sarif, self.findings, tool_version=__version__, root=root)
        if s.html:
            from racedet.report import html

            files.write_text(s.html, html.render(html.records_of(self.findings), subtitle=" ".join(sys.argv)),
                             "HTML report")
        if s.update_baseline and s.baseline:
            from racedet import baseline

            baseline.write_baseline(s.baseline, self.all_findings, root=os.path.dirname(os.path.abspath(s.baseline)))
        if s.annotations == "github":
            from racedet.report import annotations

            ws = os.environ.get("GITHUB_WORKSPACE") or root
            for line in annotations.github_annotations(self.findings, ws):
                self.write(line + "\n")

    def exit_status(self, program_status: int) -> int:
        if program_status:
            return program_status
        if self.settings.update_baseline and self.settings.baseline:
            return 0  # writing the baseline accepts what was found
        f = self.findings
        if f.races or f.leaks or f.lock_order_inversions:
            return self.settings.exitcode
        return 0

    # -- leaks -----------------------------------------------------------

    def census(self, exclude: Optional[set] = None, grace: float = 0.5) -> List[BlockedThread]:
        """Threads still alive now (besides the caller and ``exclude``), after a grace period.

        As goleak retries, finishing threads get up to ``grace`` seconds, with
        exponential back-off; threads all blocked for good are not waited for.
        """
        me = threading.get_ident()
        skip = set(exclude or ()) | {me}
        deadline = time.monotonic() + grace
        delay = 0.001
        while True:
            idents = _alive_idents(skip)
            if not idents:
                return []
            if _all_blocked_for_good(idents) or time.monotonic() >= deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        return blocking.describe_threads(idents)


def _alive_idents(skip: set) -> List[int]:
    return [i for i in sys._current_frames() if i not in skip and i not in blocking.internal_idents]


def _all_blocked_for_good(idents: List[int]) -> bool:
    states = {ts.ident: ts for ts in list(engine.threads_by_tid.values()) if not ts.finished}
    return blocking.all_blocked_for_good(states, idents)


def _add(f: Findings, finding: Any) -> None:
    if isinstance(finding, Race):
        f.races.append(finding)
    elif isinstance(finding, BlockedThread):
        f.leaks.append(finding)
    elif isinstance(finding, LockOrderInversion):
        f.lock_order_inversions.append(finding)


def _write_json(path: str, findings: Findings) -> None:
    files.write_text(path, json.dumps(jsondoc.document(findings), indent=2) + "\n", "JSON report")


def _load_suppressions(path: Optional[str]) -> Any:
    from racedet import suppressions

    if path:
        return suppressions.Suppressions.load(path)
    return suppressions.Suppressions.empty()


def _load_baseline(path: Optional[str]) -> Any:
    if not path:
        return None
    from racedet import baseline

    return baseline.Baseline.load(path)
