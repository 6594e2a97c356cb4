"""A self-contained HTML report: one page, no network, every finding with its source around it.

``--html PATH`` (and ``--race-html PATH`` under pytest) writes it.  The page
has no script and loads nothing: styles are inline, source lines are read
with ``linecache`` when the page is written.  Races are grouped by the
location they race on (``Counter.value``), each with its two accesses side
by side; leaks, deadlocks and lock-order inversions follow, each with its
stacks.  Under pytest every finding lists the tests it came from.
"""

from __future__ import annotations

import html
import linecache
from typing import Any, Dict, Iterable, List, Sequence, Tuple

from racedet.model import Access, BlockedThread, Findings, Frame, Race, TStack
from racedet.report.diagnose import diagnose

#: Lines of source shown before and after each frame's line.
CONTEXT = 2

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2330; background: #f4f5f8; }
header { background: #1d2330; color: #fff; padding: 18px 28px; }
header h1 { margin: 0; font-size: 20px; }
header p { margin: 4px 0 0; color: #c5cad6; }
main { padding: 18px 28px 40px; }
nav table, table.summary { border-collapse: collapse; background: #fff; margin: 8px 0 20px; min-width: 60%; }
th, td { text-align: left; padding: 6px 12px; border-bottom: 1px solid #e3e6ec; vertical-align: top; }
th { background: #eceff4; font-weight: 600; }
section.group { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; margin: 0 0 22px; padding: 6px 18px 14px; }
section.group > h2 { font-size: 17px; margin: 10px 0 6px; }
.kind { display: inline-block; font-size: 12px; font-weight: 700; padding: 1px 7px; border-radius: 3px; color: #fff; background: #c0392b; margin-right: 8px; }
.kind.leak { background: #b7791f; } .kind.deadlock { background: #6b46c1; } .kind.lock { background: #2b6cb0; }
.finding { border-top: 1px solid #e3e6ec; padding-top: 10px; margin-top: 10px; }
.sides { display: flex; gap: 16px; flex-wrap: wrap; }
.side { flex: 1 1 420px; min-width: 0; background: #fafbfc; border: 1px solid #e3e6ec; border-radius: 5px; padding: 8px 12px; }
.side h3 { font-size: 14px; margin: 2px 0 6px; }
.meta { color: #5a6376; font-size: 13px; margin: 2px 0 6px; }
.held { font-size: 13px; margin: 4px 0; } .held.none { color: #c0392b; }
.frame { margin: 6px 0 8px; }
.where { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; color: #2d3748; }
pre.src { margin: 3px 0 0; padding: 4px 0; background: #fff; border: 1px solid #e9ecf1; border-radius: 3px; overflow-x: auto; font-size: 12.5px; }
pre.src span { display: block; padding: 0 8px; white-space: pre; }
pre.src span.hit { background: #fde8e6; font-weight: 600; }
pre.src i { color: #98a1b3; font-style: normal; display: inline-block; width: 3.2em; }
.diagnosis { background: #fff8e6; border-left: 4px solid #d69e2e; padding: 6px 10px; margin: 10px 0 4px; }
.diagnosis ol { margin: 4px 0 0 18px; padding: 0; }
.tests { font-size: 13px; color: #2d3748; margin: 8px 0 0; }
.tests code { background: #eef1f6; padding: 1px 4px; border-radius: 3px; }
.empty { color: #2f855a; font-weight: 600; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _source(fr: Frame) -> str:
    lines = []
    for n in range(max(1, fr.line - CONTEXT), fr.line + CONTEXT + 1):
        text = linecache.getline(fr.file, n)
        if not text:
            if n > fr.line:
                break
            continue
        cls = ' class="hit"' if n == fr.line else ""
        lines.append(f"<span{cls}><i>{n}</i>{_e(text.rstrip())}</span>")
    return f'<pre class="src">{"".join(lines)}</pre>' if lines else ""


def _stack(stack: TStack, source: bool = True) -> str:
    if not stack:
        return '<div class="meta">[no Python frames]</div>'
    out = []
    for fr in stack:
        where = f'<div class="where">{_e(fr.file)}:{fr.line} in <b>{_e(fr.function)}</b></div>'
        out.append(f'<div class="frame">{where}{_source(fr) if source else ""}</div>')
    return "".join(out)


def _held(a: Access) -> str:
    if a.held_locks is None:
        return ""
    if not a.held_locks:
        return '<div class="held none">no lock held</div>'
    names = []
    for h in a.held_locks:
        where = f" (created at {_e(h.created_at.file.rsplit('/', 1)[-1])}:{h.created_at.line})" if h.created_at else ""
        names.append(_e(h.name) + where)
    return f'<div class="held">holding {", ".join(names)}</div>'


def _side(title: str, a: Access) -> str:
    created = ""
    if a.created_at:
        created = (f'<div class="meta">thread {_e(a.thread)} ({_e(a.thread_status)}) created at:</div>'
                   + _stack(a.created_at, source=False))
    restored = "" if a.stack_restored else '<div class="meta">[failed to restore the stack]</div>'
    return (f'<div class="side"><h3>{_e(title)}</h3>'
            f'<div class="meta">by thread <b>{_e(a.thread)}</b></div>{_held(a)}'
            f"{_stack(a.stack)}{restored}{created}</div>")


def _tests(tests: Sequence[str]) -> str:
    if not tests:
        return ""
    shown = ", ".join(f"<code>{_e(t)}</code>" for t in tests[:20])
    more = f" and {len(tests) - 20} more" if len(tests) > 20 else ""
    return f'<div class="tests">in {len(tests)} test{"s" if len(tests) != 1 else ""}: {shown}{more}</div>'


def _race(race: Race, tests: Sequence[str]) -> str:
    cur, prev = race.current, race.previous
    d = diagnose(race)
    diag = ""
    if d is not None:
        steps = "".join(f"<li>{_e(s.split('. ', 1)[-1])}</li>" for s in d.steps)
        diag = f'<div class="diagnosis"><b>Diagnosis:</b> {_e(d.text)}{f"<ol>{steps}</ol>" if steps else ""}</div>'
    return (f'<div class="finding"><div class="sides">'
            f'{_side(f"{cur.kind.capitalize()} of {race.location}", cur)}'
            f'{_side(f"Previous {prev.kind} of {race.location}", prev)}'
            f"</div>{diag}{_tests(tests)}</div>")


def _blocked(t: BlockedThread, what: str) -> str:
    created = ""
    if t.created_at:
        created = '<div class="meta">created at:</div>' + _stack(t.created_at, source=False)
    return (f'<div class="side"><h3>thread {_e(t.thread)} {_e(what)}</h3>{_stack(t.stack)}{created}</div>')


def _location_key(race: Race) -> str:
    return race.location.split(" of <")[0] if race.location_kind in ("item", "container") else race.location


TRecord = Tuple[str, Any, Sequence[str]]


def records_of(findings: Findings) -> List[TRecord]:
    """``(kind, finding, tests)`` for every finding of a plain run (no tests)."""
    out: List[TRecord] = [("race", r, ()) for r in findings.races]
    out += [("leak", lk, ()) for lk in findings.leaks]
    if findings.deadlock is not None:
        out.append(("deadlock", findings.deadlock, ()))
    out += [("lock_order", inv, ()) for inv in findings.lock_order_inversions]
    return out


def render(records: Iterable[TRecord], title: str = "racedet report", subtitle: str = "") -> str:
    """The whole page for ``records``: ``(kind, finding, tests)``, races once per pair of lines."""
    races: Dict[str, List[Tuple[Race, Sequence[str]]]] = {}
    others: List[TRecord] = []
    for kind, f, tests in records:
        if kind == "race":
            races.setdefault(_location_key(f), []).append((f, tests))
        else:
            others.append((kind, f, tests))
    body: List[str] = []
    rows = []
    for i, (loc, items) in enumerate(sorted(races.items(), key=lambda kv: -len(kv[1]))):
        ntests = len({t for _, ts in items for t in ts})
        rows.append(f'<tr><td><a href="#race-{i}">{_e(loc)}</a></td><td>data race</td><td>{len(items)}</td>'
                    f"<td>{ntests or ''}</td></tr>")
        parts = "".join(_race(r, ts) for r, ts in items)
        n = len(items)
        body.append(f'<section class="group" id="race-{i}"><h2><span class="kind">DATA RACE</span>{_e(loc)}'
                    f' <span class="meta">{n} pair{"s" if n != 1 else ""} of lines</span></h2>{parts}</section>')
    for j, (kind, f, tests) in enumerate(others):
        anchor = f"other-{j}"
        if kind == "leak":
            where = "running" if f.blocked_in == "running" else f"blocked in {f.blocked_in}"
            label, cls, name = "LEAK", "leak", f"thread {f.thread} ({where})"
            inner = f'<div class="sides">{_blocked(f, "still " + where)}</div>'
        elif kind == "deadlock":
            label, cls, name = "DEADLOCK", "deadlock", "all goroutines are asleep"
            inner = '<div class="sides">' + "".join(_blocked(t, f"[{t.blocked_in}]") for t in f.threads) + "</div>"
        else:
            label, cls, name = "LOCK-ORDER INVERSION", "lock", " => ".join(e.held for e in f.cycle)
            inner = '<div class="sides">' + "".join(
                f'<div class="side"><h3>{_e(e.acquired)} acquired while holding {_e(e.held)} '
                f'(thread {_e(e.thread)})</h3>{_stack(e.stack)}</div>' for e in f.cycle) + "</div>"
        rows.append(f'<tr><td><a href="#{anchor}">{_e(name)}</a></td><td>{_e(label.lower())}</td><td>1</td>'
                    f"<td>{len(tests) or ''}</td></tr>")
        body.append(f'<section class="group" id="{anchor}"><h2><span class="kind {cls}">{label}</span>{_e(name)}</h2>'
                    f'<div class="finding">{inner}{_tests(tests)}</div></section>')
    if rows:
        summary = ('<nav><table class="summary"><tr><th>finding</th><th>kind</th><th>count</th><th>tests</th></tr>'
                   + "".join(rows) + "</table></nav>")
    else:
        summary = '<p class="empty">No races, leaks, deadlocks or lock-order inversions.</p>'
    sub = f"<p>{_e(subtitle)}</p>" if subtitle else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{_e(title)}</h1>{sub}</header><main>{summary}{''.join(body)}</main></body></html>\n")
