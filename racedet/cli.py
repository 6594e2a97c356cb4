"""``python -m racedet [options] script.py [args...]`` / ``-m module``: run a program under the detector."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, List, Optional, Tuple

from racedet.exceptions import ConfigError, RacedetError, UsageError

USAGE = "python -m racedet [options] script.py [args...] | -m module [args...]"

#: Options that take a value (``--opt VALUE`` or ``--opt=VALUE``).
_VALUED = {"--json", "--sarif", "--exitcode", "--suppressions", "--baseline", "--include",
           "--exclude", "--history-size", "--strip-path-prefix", "--annotations", "--html"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    from racedet import __version__
    from racedet.config import OPTION_HELP as H

    p = _Parser(prog="python -m racedet", usage=USAGE, add_help=True,
                description="Run a Python program under racedet, the data race detector (like go run -race).")
    p.add_argument("--version", action="version", version=f"racedet {__version__}")
    p.add_argument("--json", metavar="PATH", help=H.get("json"))
    p.add_argument("--sarif", metavar="PATH", help=H.get("sarif"))
    p.add_argument("--exitcode", metavar="N", help=H.get("exitcode"))
    p.add_argument("--halt-on-error", action="store_true", default=None, help=H.get("halt_on_error"))
    p.add_argument("--suppressions", metavar="FILE", help=H.get("suppressions"))
    p.add_argument("--no-leaks", action="store_true", default=None,
                   help="do not report goroutines/threads still blocked at exit (leaks are reported by default)")
    p.add_argument("--baseline", metavar="FILE", help=H.get("baseline"))
    p.add_argument("--update-baseline", action="store_true", default=None, help=H.get("update_baseline"))
    p.add_argument("--include", metavar="GLOB", action="append", help=H.get("include"))
    p.add_argument("--exclude", metavar="GLOB", action="append", help=H.get("exclude"))
    p.add_argument("--history-size", metavar="N", help=H.get("history_size"))
    p.add_argument("--strip-path-prefix", metavar="PREFIX", help=H.get("strip_path_prefix"))
    p.add_argument("--annotations", metavar="FORMAT", help=H.get("annotations"))
    p.add_argument("--html", metavar="PATH", help=H.get("html"))
    p.add_argument("--no-source", action="store_true", default=None, help=H.get("no_source"))
    return p


def split_argv(argv: List[str]) -> Tuple[List[str], Optional[str], Optional[str], List[str]]:
    """Split into (racedet options, script, module, program args)."""
    i = 0
    opts: List[str] = []
    while i < len(argv):
        a = argv[i]
        if a == "-m":
            if i + 1 >= len(argv):
                raise UsageError("-m needs a module name")
            return opts, None, argv[i + 1], argv[i + 2:]
        if a == "--":
            i += 1
            break
        if a.startswith("-") and a != "-":
            opts.append(a)
            if a in _VALUED:
                if i + 1 >= len(argv):
                    raise UsageError(f"option {a} needs a value")
                opts.append(argv[i + 1])
                i += 1
            i += 1
            continue
        break
    if i >= len(argv):
        return opts, None, None, []
    return opts, argv[i], None, argv[i + 1:]


def cli_values(ns: argparse.Namespace) -> Dict[str, Any]:
    """The options the user gave, as Settings field names (absent ones left out)."""
    out: Dict[str, Any] = {}
    for key in ("json", "sarif", "exitcode", "suppressions", "baseline", "history_size",
                "strip_path_prefix", "annotations", "include", "exclude", "html"):
        v = getattr(ns, key)
        if v is not None:
            out[key] = v
    if ns.halt_on_error:
        out["halt_on_error"] = True
    if ns.no_leaks:
        out["leaks"] = False
    if ns.no_source:
        out["source"] = False
    if ns.update_baseline:
        out["update_baseline"] = True
    return out


def main(argv: Optional[List[str]] = None) -> int:
    from racedet import config, models, runner
    from racedet.session import Session

    if argv is None and not runner.launched_by_runpy():
        # The ``racedet`` console script: run as ``python -m racedet`` does, so
        # runpy's frames are below a ``-m`` program as below python's, and the
        # cwd is first on sys.path for ``-m module``.
        import os
        import runpy

        if sys.path:
            sys.path[0] = os.getcwd()
        return runpy._run_module_as_main("racedet", False)  # type: ignore[attr-defined]
    argv = list(sys.argv[1:] if argv is None else argv)
    session = None
    try:
        opts, script, module, args = split_argv(argv)
        ns = _parser().parse_args(opts)
        if script is None and module is None:
            raise UsageError(f"no program given (usage: {USAGE})")
        settings = config.load(cli_values(ns))
        if script is not None:
            prepared = runner.prepare_script(script, args)
        session = Session(settings)
        session.start()
        if module is not None:
            prepared = runner.prepare_module(module, args)
    except (RacedetError, OSError) as exc:
        if session is not None:
            session.stop()
            models.uninstall()
        sys.stderr.write(f"racedet: {exc}\n")
        return 2

    ending = runner.execute(prepared)
    try:
        status = _finish_session(session, settings, ending)
    except KeyboardInterrupt:
        # Ctrl-C while racedet reports: stop, and end as an interrupted program does.
        runner.Ending(KeyboardInterrupt()).finish()
    if status is None:
        ending.finish()  # the program's own ending: python maps it as it would have
    return status


def _finish_session(session: Any, settings: Any, ending: Any) -> Optional[int]:
    """Wait for threads, report leaks and write the outputs; the status racedet imposes, if any."""
    from racedet import runner

    runner.wait_for_threads()
    if settings.leaks:
        session.add_leaks(session.census())
    from racedet import engine

    engine.disable()
    try:
        session.write_outputs()
    except (OSError, ConfigError) as exc:
        sys.stderr.write(f"racedet: {exc}\n")
        return None if ending.failed else 2
    session.write(session.summary())
    if ending.failed:
        return None  # the program's own status wins
    status = session.exit_status(0)
    return status or None
