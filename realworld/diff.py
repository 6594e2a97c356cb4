"""Compare two proving-ground tables: what a racedet change did to real code.

    python realworld/diff.py OLD.json NEW.json [--fail-on-new]

Prints, per package, ``+`` for a finding, a race-only failure or a hang that
is new in NEW, and ``-`` for one that is gone (mypy_primer's shape).  Prints
nothing and exits 0 when the tables agree.  With --fail-on-new, exits 1 when
anything is new.  A file that is not a results table: one line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

import results


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="realworld/diff.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--fail-on-new", action="store_true", help="exit 1 when a finding, failure or hang is new")
    args = ap.parse_args(argv)
    try:
        old, new = results.load_results(args.old), results.load_results(args.new)
    except ValueError as e:
        print(f"realworld: {e}", file=sys.stderr)
        return 2
    lines = results.diff(old, new)
    for line in lines:
        print(line)
    if args.fail_on_new and any(line.startswith("+") for line in lines):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
