"""Shared plumbing for the workloads: size selection and the result line.

Every workload is an ordinary script, so it runs the same under ``python``
and ``python -m racedet``.  The runner reads only the *last* stdout line, a
JSON object with ``seconds`` (the measured section, timed in-process so that
start-up and steady state can be told apart) and optionally ``ops`` (the
number of operations in that section, for a cost per operation).  A workload
that cannot run here prints ``{"skipped": reason}`` and exits 0.

This module is imported by the workloads, so under racedet it is rewritten
like any user code; nothing in it runs inside a measured section.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Dict, Optional, Sequence

#: Named sizes every workload understands: ``full`` for the suite, ``quick``
#: for the smoke run, ``tiny`` for the test suite (seconds, not minutes).
NAMED_SIZES = ("full", "quick", "tiny")
SIZE_ENV = "BENCH_SIZE"


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the common ``--size`` option already added."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--size",
        default=None,
        help=f"an integer, or one of {', '.join(NAMED_SIZES)} (default: ${SIZE_ENV} or full)",
    )
    return p


def resolve_size(value: Optional[str], sizes: Dict[str, int]) -> int:
    """Turn ``--size`` (or ``$BENCH_SIZE``) into an integer using the workload's named sizes."""
    raw = value if value is not None else os.environ.get(SIZE_ENV, "full")
    raw = raw.strip().lower()
    if raw in sizes:
        return sizes[raw]
    try:
        n = int(float(raw))  # accepts 1e6
    except ValueError:
        raise SystemExit(f"invalid size {raw!r}: expected an integer or one of {', '.join(sizes)}")
    if n <= 0:
        raise SystemExit(f"invalid size {raw!r}: must be positive")
    return n


def parse(description: str, sizes: Dict[str, int], argv: Optional[Sequence[str]] = None,
          extra: Optional[Callable[[argparse.ArgumentParser], None]] = None) -> argparse.Namespace:
    """Parse the command line; ``extra(parser)`` may add workload-specific options.

    The returned namespace has ``size`` already resolved to an integer.
    """
    p = parser(description)
    if extra is not None:
        extra(p)
    args = p.parse_args(argv)
    args.size = resolve_size(args.size, sizes)
    return args


def report(seconds: float, ops: Optional[int] = None, **extra: Any) -> None:
    """Print the result line the runner parses (always the last stdout line)."""
    result: Dict[str, Any] = {"seconds": round(seconds, 6)}
    if ops is not None:
        result["ops"] = ops
    result.update(extra)
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=True), flush=True)


def skip(reason: str) -> None:
    """Say the workload cannot run here, in the runner's format, and exit 0."""
    print(json.dumps({"skipped": reason}), flush=True)
    raise SystemExit(0)


def check(condition: bool, message: str) -> None:
    """Fail loudly when the workload computed a wrong answer (a lost update is a bug)."""
    if not condition:
        print(f"workload self-check failed: {message}", file=sys.stderr, flush=True)
        raise SystemExit(3)


#: What the channel workloads need from ``import racedet`` (API.md section 1).
GO_PRIMITIVES = ("go", "Chan", "WaitGroup")


def go_primitives() -> Any:
    """Return the ``racedet`` module if it has the Go primitives, else skip the workload.

    Run straight from a checkout (``python bench/workloads/x.py``), the repo
    root is not on ``sys.path``; add it, as the runner does with PYTHONPATH.
    """
    try:
        import racedet
    except ImportError:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        sys.path.append(root)
        try:
            import racedet
        except ImportError as exc:
            skip(f"cannot import racedet: {exc}")
    missing = [name for name in GO_PRIMITIVES if not hasattr(racedet, name)]
    if missing:
        skip(f"racedet lacks {', '.join(missing)} (the Go primitives of API.md section 1 "
             "are not merged yet)")
    return racedet
