"""The proving ground's tables: outcomes, findings, markdown, and the diff.

Everything here is pure (no network, no subprocess), so that tests can check
it on recorded data.  Shapes:

* an *outcomes log* is what plugin/rw_outcomes.py wrote: JSON lines of test
  starts and phase reports; ``summarise`` turns it into counts, the outcome
  of each test and, if the run was killed, the test in flight;
* a *finding* is one racedet report reduced to what identifies it across
  runs (kind, location, the two source lines relative to the package's
  tree), ``findings`` reads them from a ``--race-json`` file;
* a *row* is one package's result; ``results.json`` is ``{"meta": ...,
  "rows": [...]}`` and ``markdown`` renders it;
* ``diff`` compares two results files the way mypy_primer compares two
  checker revisions: findings and race-only failures that are new or gone.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


# ---------------------------------------------------------------- outcomes


def read_jsonl(path: str) -> List[Dict[str, Any]]:
    """The records of a JSON-lines file; a torn last line (a killed run) is dropped."""
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        pass
    return records


def test_outcome(phases: Dict[str, Dict[str, Any]]) -> str:
    """One test's outcome from its phase reports, as pytest's summary counts it."""
    setup, call, teardown = (phases.get(w) for w in ("setup", "call", "teardown"))
    if setup is not None and setup["outcome"] == "failed":
        return "error"
    if setup is not None and setup["outcome"] == "skipped":
        return "xfailed" if setup.get("xfail") else "skipped"
    if call is not None:
        if call["outcome"] == "skipped":
            return "xfailed" if call.get("xfail") else "skipped"
        if call["outcome"] == "failed":
            return "failed"
        if call.get("xfail"):
            return "xpassed"
    if teardown is not None and teardown["outcome"] == "failed":
        return "error"
    if call is None:
        return "error"  # started, never ran its call: killed in setup
    return "passed"


def summarise(records: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """Counts, each test's outcome and failure message, and the test in flight."""
    phases: Dict[str, Dict[str, Dict[str, Any]]] = {}
    order: List[str] = []
    collect_errors: List[str] = []
    finished = set()
    instrumented: Optional[List[str]] = None
    for r in records:
        ev = r.get("event")
        if ev == "start":
            if r["nodeid"] not in phases:
                phases[r["nodeid"]] = {}
                order.append(r["nodeid"])
        elif ev == "report":
            nid = r["nodeid"]
            if nid not in phases:
                phases[nid] = {}
                order.append(nid)
            prev = phases[nid].get(r["when"])
            # unittest subTest / pytest subtests: several call reports for one
            # test; the test failed if any of them failed.
            if prev is None or prev["outcome"] != "failed":
                phases[nid][r["when"]] = r
            if r["when"] == "teardown":
                finished.add(nid)
        elif ev == "collect-error":
            collect_errors.append(r["nodeid"])
        elif ev == "instrumented":
            instrumented = list(r.get("modules") or [])
    in_flight = [n for n in order if n not in finished]
    outcomes = {n: test_outcome(phases[n]) for n in order if n in finished}
    messages = {}
    for n in order:
        for w in ("setup", "call", "teardown"):
            p = phases[n].get(w)
            if p is not None and p["outcome"] == "failed" and p.get("message"):
                messages[n] = p["message"]
                break
    counts = {k: 0 for k in OUTCOMES}
    for o in outcomes.values():
        counts[o] += 1
    return {
        "tests": len(order),
        "counts": counts,
        "collect_errors": collect_errors,
        "outcomes": outcomes,
        "messages": messages,
        "in_flight": in_flight[-1] if in_flight else None,
        "instrumented": instrumented,
    }


def only_under_race(plain: Dict[str, str], race: Dict[str, str]) -> List[str]:
    """Tests that passed (or xfailed as expected) plainly and fail or error under --race."""
    ok = {"passed", "xfailed", "skipped"}
    return sorted(n for n, o in race.items() if o in ("failed", "error") and plain.get(n) in ok)


def timed_out(messages: Dict[str, str]) -> List[str]:
    """Tests pytest-timeout ended ("Failed: Timeout >60.0s")."""
    return sorted(n for n, m in messages.items() if "Timeout" in m and ">" in m)


# ---------------------------------------------------------------- findings


def _site(frame: Optional[Dict[str, Any]], roots: Sequence[Tuple[str, str]]) -> str:
    """``file:line`` with the package's tree and library prefixes made relative."""
    if not frame:
        return "?"
    path = frame.get("file", "?")
    for prefix, label in roots:
        if prefix and path.startswith(prefix):
            path = label + path[len(prefix):]
            break
    return f"{path}:{frame.get('line', '?')}"


def _top(stack: Optional[List[Dict[str, Any]]]) -> Optional[Dict[str, Any]]:
    return stack[0] if stack else None


def findings(report: Dict[str, Any], roots: Sequence[Tuple[str, str]] = ()) -> List[Dict[str, Any]]:
    """racedet's findings in a ``--race-json`` report, one dict each, sorted.

    *roots* are (prefix, label) pairs that shorten paths (the package's
    unpacked tree becomes ``""``) so that a finding keeps its identity across
    machines and runs.  Each finding has ``kind`` (race, leak,
    lock-order-inversion, deadlock), ``location``, ``sites`` (the lines that
    identify it), ``detail`` (the access kinds) and ``tests``; ``id`` is the
    string the diff compares.
    """
    out = []
    for r in report.get("races") or []:
        cur, prev = r.get("current") or {}, r.get("previous") or {}
        pair = sorted(
            [(_site(_top(cur.get("stack")), roots), cur.get("kind", "?")),
             (_site(_top(prev.get("stack")), roots), prev.get("kind", "?"))]
        )
        out.append(
            {
                "kind": "race",
                "location": stable(r.get("location", "?")),
                "sites": [s for s, _ in pair],
                "detail": " / ".join(f"{k} {s}" for s, k in pair),
                "tests": sorted(set(r.get("tests") or ([r["test"]] if r.get("test") else []))),
            }
        )
    for lk in report.get("leaks") or []:
        created = _site(_top(lk.get("created_at")), roots)
        blocked = _site(_top(lk.get("stack")), roots)
        out.append(
            {
                "kind": "leak",
                "location": lk.get("blocked_in") or "?",
                "sites": [created],
                "detail": f"created {created}, blocked at {blocked}",
                "tests": [lk["test"]] if lk.get("test") else [],
            }
        )
    for inv in report.get("lock_order_inversions") or []:
        edges = inv.get("cycle") or []
        sites = sorted(_site(_top(e.get("stack")), roots) for e in edges)
        out.append(
            {
                "kind": "lock-order-inversion",
                "location": f"{len(edges)} locks",
                "sites": sites,
                "detail": " / ".join(
                    f"holds {_site(_top(e.get('held_stack')), roots)} takes {_site(_top(e.get('stack')), roots)}"
                    for e in edges
                ),
                "tests": [inv["test"]] if inv.get("test") else [],
            }
        )
    deadlocks = report.get("deadlocks")
    if deadlocks is None:
        deadlocks = [report["deadlock"]] if report.get("deadlock") else []
    for dl in deadlocks:
        threads = dl.get("threads") or []
        sites = sorted(_site(_top(t.get("stack")), roots) for t in threads)
        out.append(
            {
                "kind": "deadlock",
                "location": ", ".join(sorted(t.get("blocked_in") or "?" for t in threads)),
                "sites": sites,
                "detail": f"{len(threads)} threads blocked",
                "tests": [dl["test"]] if dl.get("test") else [],
            }
        )
    merged: Dict[str, Dict[str, Any]] = {}
    for f in out:
        f["id"] = finding_id(f)
        if f["id"] in merged:  # the same pair of lines from another test
            merged[f["id"]]["tests"] = sorted(set(merged[f["id"]]["tests"]) | set(f["tests"]))
        else:
            merged[f["id"]] = f
    return sorted(merged.values(), key=lambda f: f["id"])


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def stable(location: str) -> str:
    """A location without object addresses: ``contents of <list at 0x7f..>`` -> ``contents of <list>``."""
    return _ADDRESS.sub("", location)


_ITEM_KEY = re.compile(r"item '.*' of <")


def finding_id(f: Dict[str, Any]) -> str:
    """What makes two findings the same across runs: kind, location, lines.

    A dict key in the location (``dict item 'some_key_98983' of <dict>``) is
    left out: suites make keys at random, and the two lines already say
    which item it is.
    """
    location = _ITEM_KEY.sub("item of <", f["location"])
    return f"{f['kind']} {location} @ {' | '.join(f['sites'])}"


def load_report(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- table


def ratio(plain: Optional[float], race: Optional[float]) -> Optional[float]:
    if not plain or race is None:
        return None
    return round(race / plain, 2)


def _counts(side: Dict[str, Any]) -> str:
    if not side or side.get("status") == "not-run":
        return "-"
    c = side.get("counts", {})
    text = f"{c.get('passed', 0)}/{c.get('failed', 0)}/{c.get('error', 0)}"
    if side.get("status") == "hang":
        text += " HANG"
    return text


def _secs(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.1f}"


def markdown(doc: Dict[str, Any]) -> str:
    """RESULTS.md: the summary table, then each package's findings and race-only failures."""
    meta = doc.get("meta", {})
    rows = doc.get("rows", [])
    lines = [
        "# Proving ground: results",
        "",
        f"- date: {meta.get('date', '?')}",
        f"- racedet revision: {meta.get('revision', '?')}",
        f"- python: {meta.get('python', '?')}",
        f"- command: `{meta.get('command', 'python realworld/run.py')}`",
        "",
        "Counts are passed/failed/error (skips and xfails are in results.json).",
        "`race-only` = tests that pass plainly and fail or error under `--race`;",
        "`findings` = distinct racedet reports (races, leaks, lock-order",
        "inversions, deadlocks), each listed below with its two lines.",
        "",
        "| package | version | tests | plain p/f/e | race p/f/e | plain s | race s | ratio | race-only | findings | instrumented |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        plain, race = r.get("plain") or {}, r.get("race") or {}
        status = r.get("status", "ok")
        name = r["package"] if status == "ok" else f"{r['package']} ({status})"
        lines.append(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                name,
                r.get("version", "?"),
                max(plain.get("tests", 0), race.get("tests", 0)),
                _counts(plain),
                _counts(race),
                _secs(plain.get("wall")),
                _secs(race.get("wall")),
                "-" if r.get("ratio") is None or "hang" in (plain.get("status"), race.get("status"))
                else f"{r['ratio']:.1f}x",
                len(r.get("race_only") or []),
                len(r.get("findings") or []),
                "-" if race.get("instrumented") is None else race["instrumented"],
            )
        )
    for r in rows:
        items = r.get("findings") or []
        only = r.get("race_only") or []
        plain, race = r.get("plain") or {}, r.get("race") or {}
        notes = []
        for side_name, side in (("plain", plain), ("race", race)):
            if side.get("status") == "hang":
                where = (f"in flight: `{side['in_flight']}`" if side.get("in_flight")
                         else "after the last test: the interpreter did not exit")
                notes.append(f"- {side_name} run HUNG (killed after {side.get('wall', 0):.0f} s), {where}")
            if side.get("collect_errors"):
                notes.append(f"- {side_name}: collection errors in {', '.join(side['collect_errors'])}")
            for t in side.get("timed_out") or []:
                notes.append(f"- {side_name}: `{t}` hit the per-test timeout")
        if r.get("error"):
            notes.append(f"- setup failed: {r['error']}")
        if not (items or only or notes):
            continue
        lines += ["", f"## {r['package']} {r.get('version', '')}", ""]
        lines += notes
        for n in only:
            msg = (race.get("messages") or {}).get(n, "")
            lines.append(f"- race-only failure `{n}`" + (f": {msg}" if msg else ""))
        for f in items:
            tests = f.get("tests") or []
            shown = ", ".join(f"`{t}`" for t in tests[:3]) + (f" (+{len(tests) - 3})" if len(tests) > 3 else "")
            lines.append(f"- {f['kind']} `{f['location']}`: {f['detail']}" + (f" in {shown}" if shown else ""))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- diff


def _index(doc: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {r["package"]: r for r in doc.get("rows", [])}


def diff(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    """mypy_primer's shape: per package, ``+`` lines for what is new, ``-`` for what is gone.

    Compared: findings (by id), race-only failures, hangs and the package's
    status.  Packages present on one side only are said so once.  An empty
    list means the two tables agree.
    """
    a, b = _index(old), _index(new)
    out: List[str] = []
    for pkg in sorted(set(a) | set(b)):
        ra, rb = a.get(pkg), b.get(pkg)
        if ra is None or rb is None:
            out.append(f"{pkg}: only in {'new' if ra is None else 'old'} table")
            continue
        lines: List[str] = []
        if ra.get("version") != rb.get("version"):
            lines.append(f"  version {ra.get('version')} -> {rb.get('version')}")
        if ra.get("status") != rb.get("status"):
            lines.append(f"  status {ra.get('status')} -> {rb.get('status')}")
        for side in ("plain", "race"):
            ha = (ra.get(side) or {}).get("status") == "hang"
            hb = (rb.get(side) or {}).get("status") == "hang"
            if hb and not ha:
                lines.append(f"+ {side} run hangs (in flight: {(rb.get(side) or {}).get('in_flight')})")
            elif ha and not hb:
                lines.append(f"- {side} run hangs")
        fa = {f["id"]: f for f in ra.get("findings") or []}
        fb = {f["id"]: f for f in rb.get("findings") or []}
        for fid in sorted(set(fb) - set(fa)):
            lines.append(f"+ {fid}")
        for fid in sorted(set(fa) - set(fb)):
            lines.append(f"- {fid}")
        oa, ob = set(ra.get("race_only") or []), set(rb.get("race_only") or [])
        for t in sorted(ob - oa):
            lines.append(f"+ fails only under --race: {t}")
        for t in sorted(oa - ob):
            lines.append(f"- fails only under --race: {t}")
        if lines:
            out.append(f"{pkg}:")
            out.extend(lines)
    return out


def load_results(path: str) -> Dict[str, Any]:
    """A results.json document; ValueError with a one-line reason otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise ValueError(f"{path} is not JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise ValueError(f"{path} is not a results table (no 'rows' list)")
    return doc


def merge_rows(old: List[Dict[str, Any]], new: List[Dict[str, Any]], order: Sequence[str]) -> List[Dict[str, Any]]:
    """Rows of *new* replace same-named rows of *old* (``--only`` reruns), in list order."""
    by = {r["package"]: r for r in old}
    by.update({r["package"]: r for r in new})
    rank = {n: i for i, n in enumerate(order)}
    return sorted(by.values(), key=lambda r: (rank.get(r["package"], len(rank)), r["package"]))


def write_json(path: str, doc: Dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
