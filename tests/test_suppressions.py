"""Tests of racedet.suppressions: the file format, frame matching, inline comments, filtering."""

from __future__ import annotations

import linecache
import textwrap

import pytest

from racedet.exceptions import ConfigError
from racedet.model import (Access, BlockedThread, Deadlock, Findings, Frame, LockAcquisition,
                           LockOrderInversion, Race)
from racedet.suppressions import Rule, Suppressions, filter_findings, module_name, parse_line


def F(file: str, line: int, qualname: str) -> Frame:
    return Frame(file, line, qualname.rsplit(".", 1)[-1], qualname)


def race(cur=(F("/repo/app.py", 10, "Counter.incr"), F("/repo/app.py", 20, "main")),
         prev=(F("/repo/app.py", 9, "Counter.incr"), F("/repo/app.py", 30, "worker")),
         location="Counter.value") -> Race:
    return Race(location, 0x7F00, Access("write", "goroutine-3", tuple(cur)),
                Access("read", "goroutine-2", tuple(prev)))


def leak(stack=(F("/repo/app.py", 7, "worker"),), created_at=(F("/repo/app.py", 30, "main"),),
         blocked_in="Chan.recv") -> BlockedThread:
    return BlockedThread("goroutine-5", blocked_in, tuple(stack), tuple(created_at))


def deadlock(*stacks) -> Deadlock:
    return Deadlock(tuple(BlockedThread(f"t{i}", "Lock.acquire", tuple(s)) for i, s in enumerate(stacks)))


def inversion(a=F("/repo/db.py", 5, "Store.put"), b=F("/repo/db.py", 15, "Store.get"),
              ha=F("/repo/db.py", 4, "Store.put"), hb=F("/repo/db.py", 14, "Store.get")):
    return LockOrderInversion((
        LockAcquisition("Lock A", "Lock B", "t1", (a,), (ha,)),
        LockAcquisition("Lock B", "Lock A", "t2", (b,), (hb,)),
    ))


def sup(text: str, **kw) -> Suppressions:
    return Suppressions.parse(textwrap.dedent(text), "suppressions.txt", **kw)


def source(tmp_path, name: str, body: str) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    linecache.checkcache(str(path))
    return str(path)


# --- the file format ----------------------------------------------------------------------


def test_parse_comments_blanks_and_kinds():
    s = sup("""
        # accepted races, see issue 12

        race:mypkg.cache.*
          race_top:LRUCache.put   # trailing comment
        leak:*/vendor/*
        deadlock:Pool.shutdown
        lock_order:app.py:42
    """)
    assert [(r.kind, r.pattern, r.line) for r in s.rules] == [
        ("race", "mypkg.cache.*", 4), ("race_top", "LRUCache.put", 5), ("leak", "*/vendor/*", 6),
        ("deadlock", "Pool.shutdown", 7), ("lock_order", "app.py:42", 8)]
    assert s.source == "suppressions.txt"


def test_empty_file():
    s = sup("# nothing yet\n\n")
    assert s.rules == [] and not s.suppresses(race())


@pytest.mark.parametrize("line, message", [
    ("rcae:foo", "suppressions.txt:3: unknown kind 'rcae'"),
    ("Race:foo", "suppressions.txt:3: unknown kind 'Race'"),
    ("thread:foo", "suppressions.txt:3: unknown kind 'thread'"),
    ("foo", "suppressions.txt:3: expected 'kind:pattern', got 'foo'"),
    ("race:", "suppressions.txt:3: empty pattern after 'race:'"),
    ("race:   # nothing", "suppressions.txt:3: empty pattern after 'race:'"),
    ("race:app.py:abc", "suppressions.txt:3: bad 'file.py:LINE' pattern 'app.py:abc'"),
    ("race:app.py:", "suppressions.txt:3: bad 'file.py:LINE' pattern 'app.py:'"),
    ("race::10", "suppressions.txt:3: bad 'file.py:LINE' pattern ':10'"),
    ("race:app.py:0", "suppressions.txt:3: bad 'file.py:LINE' pattern 'app.py:0'"),
])
def test_malformed_line_names_file_and_line(line, message):
    with pytest.raises(ConfigError) as exc:
        Suppressions.parse(f"# header\nrace:ok\n{line}\nrace:fine\n", "suppressions.txt")
    assert str(exc.value) == message


def test_load_reads_a_file(tmp_path):
    path = tmp_path / "sup.txt"
    path.write_text("race:Counter.*\n", encoding="utf-8")
    s = Suppressions.load(str(path))
    assert s.source == str(path) and s.suppresses(race())


def test_load_malformed_file_names_its_path(tmp_path):
    path = tmp_path / "suppressions.txt"
    path.write_text("race:a\n\nrcae:b\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        Suppressions.load(str(path))
    assert str(exc.value) == f"{path}:3: unknown kind 'rcae'"


def test_load_missing_file(tmp_path):
    path = tmp_path / "missing.txt"
    with pytest.raises(ConfigError) as exc:
        Suppressions.load(str(path))
    assert str(exc.value) == f"cannot read suppressions file {path}: No such file or directory"


def test_load_directory(tmp_path):
    with pytest.raises(ConfigError, match=r"^cannot read suppressions file "):
        Suppressions.load(str(tmp_path))


def test_load_binary_file(tmp_path):
    path = tmp_path / "sup.txt"
    path.write_bytes(b"race:\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"^cannot read suppressions file .*sup\.txt: invalid start byte"):
        Suppressions.load(str(path))


def test_parse_line_returns_none_for_comments():
    assert parse_line("   # x") is None and parse_line("") is None
    assert isinstance(parse_line("race:x"), Rule)


# --- matching frames ----------------------------------------------------------------------


@pytest.mark.parametrize("pattern, hit", [
    ("Counter.incr", True),           # qualname
    ("Counter.*", True),              # qualname glob
    ("incr", True),                   # plain function name
    ("*.incr", True),
    ("Counter", False),               # not a prefix match: globs are whole-name
    ("counter.incr", False),          # case-sensitive
    ("app.Counter.incr", True),       # module-qualified (a script: its stem)
    ("app.py:10", True),              # basename:line
    ("repo/app.py:10", True),         # path suffix:line
    ("/repo/app.py:10", True),        # full path:line
    ("pp.py:10", False),              # a suffix must start at a separator
    ("app.py:11", False),
    ("app.py", True),                 # a path glob without line
    ("*/repo/*", True),
    ("*/vendor/*", False),
    ("other.py", False),
])
def test_frame_patterns(pattern, hit):
    r = Rule("race", pattern)
    assert r.matches_frame(F("/repo/app.py", 10, "Counter.incr")) is hit


def test_module_qualified_name_from_packages(tmp_path):
    pkg = tmp_path / "src" / "mypkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cache.py").write_text("")
    file = str(pkg / "cache.py")
    assert module_name(file) == "mypkg.cache"
    assert module_name(str(pkg / "__init__.py")) == "mypkg"
    assert module_name(str(tmp_path / "script.py")) == "script"
    s = sup("race:mypkg.cache.*\n")
    r = race(cur=(F(file, 3, "LRUCache.put"),), prev=(F("/elsewhere/x.py", 1, "f"),))
    assert s.suppresses(r)
    assert not sup("race:otherpkg.*\n").suppresses(r)


def test_qualname_falls_back_to_function():
    r = Rule("race", "incr")
    assert r.matches_frame(Frame("/repo/app.py", 10, "incr"))


def test_windows_drive_pattern_is_a_path_glob():
    r = Rule("race", "C:/work/vendor/*")
    assert r.matches_frame(F("C:\\work\\vendor\\lib.py", 3, "f"))


def test_race_matches_any_frame_of_either_access():
    r = race()
    assert sup("race:main\n").suppresses(r)          # a caller of the current access
    assert sup("race:worker\n").suppresses(r)        # a caller of the previous access
    assert sup("race:app.py:9\n").suppresses(r)      # the previous access itself
    assert not sup("race:nothing\n").suppresses(r)


def test_race_top_matches_only_the_access_frames():
    r = race()
    assert sup("race_top:Counter.incr\n").suppresses(r)
    assert sup("race_top:app.py:9\n").suppresses(r)
    assert not sup("race_top:main\n").suppresses(r)
    assert not sup("race_top:worker\n").suppresses(r)


def test_kinds_do_not_cross():
    s = sup("leak:*\ndeadlock:*\nlock_order:*\n")
    assert not s.suppresses(race())
    s = sup("race:*\nrace_top:*\n")
    assert not s.suppresses(leak())
    assert not s.suppresses(deadlock((F("/repo/app.py", 1, "f"),)))
    assert not s.suppresses(inversion())


def test_leak_matches_blocked_stack_and_creation_stack():
    lk = leak(stack=(F("/repo/app.py", 7, "worker"), F("/repo/app.py", 3, "loop")),
              created_at=(F("/repo/tests/test_app.py", 30, "test_start"),))
    assert sup("leak:worker\n").suppresses(lk)
    assert sup("leak:loop\n").suppresses(lk)
    assert sup("leak:test_start\n").suppresses(lk)
    assert sup("leak:*/tests/*\n").suppresses(lk)
    assert not sup("leak:main\n").suppresses(lk)


def test_deadlock_matches_any_thread():
    dl = deadlock((F("/repo/a.py", 1, "f"),), (F("/repo/pool.py", 9, "Pool.shutdown"),))
    assert sup("deadlock:Pool.shutdown\n").suppresses(dl)
    assert not sup("deadlock:Pool.start\n").suppresses(dl)


def test_lock_order_matches_acquisitions_and_held_stacks():
    inv = inversion(hb=F("/repo/db.py", 14, "Store.flush"))
    assert sup("lock_order:Store.get\n").suppresses(inv)
    assert sup("lock_order:Store.flush\n").suppresses(inv)
    assert sup("lock_order:db.py:15\n").suppresses(inv)
    assert not sup("lock_order:Store.scan\n").suppresses(inv)


def test_not_a_finding():
    with pytest.raises(TypeError):
        Suppressions.empty().suppresses("race")  # type: ignore[arg-type]


def test_hits_and_unused_rules():
    s = sup("race:Counter.*\nrace:Unused.*\n")
    assert s.suppresses(race()) and s.suppresses(race())
    assert s.rules[0].hits == 2
    assert s.unused() == [s.rules[1]]
    assert "2 hits" in repr(s.rules[0])


# --- inline comments ----------------------------------------------------------------------


@pytest.fixture
def app(tmp_path):
    return source(tmp_path, "app.py", """\
        class Counter:
            def incr(self):
                v = self.value  # racedet: ignore
                self.value = v + 1
                self.hits += 1  # racedet: ignore[leak]
                self.n += 1  # noqa: E501  # racedet: ignore[race, leak]
                self.m += 1  # RACEDET: Ignore[RACE]
                self.k += 1  # racedet: ignore[rcae]
                self.j += 1
                q.get()  # racedet: ignore[leak]
                lock.acquire()  # racedet: ignore[deadlock]
                other.acquire()  # racedet:ignore[lock_order]
                s = "# racedet: ignore"
        """)


def arace(app, cur_line, prev_line=9):
    return race(cur=(F(app, cur_line, "Counter.incr"),), prev=(F(app, prev_line, "Counter.incr"),))


@pytest.mark.parametrize("line, suppressed", [
    (3, True),      # bare ignore
    (4, False),     # no comment
    (5, False),     # restricted to leaks
    (6, True),      # comma list, after another comment
    (7, True),      # case-insensitive
    (8, False),     # unknown kind silences nothing
    (13, True),     # inside a string literal: accepted, as flake8's noqa is
])
def test_inline_race(app, line, suppressed):
    assert Suppressions.empty().suppresses(arace(app, line)) is suppressed


def test_inline_on_the_previous_access_line(app):
    assert Suppressions.empty().suppresses(arace(app, 9, prev_line=3))


def test_inline_only_on_the_access_line_not_callers(app):
    r = race(cur=(F(app, 9, "Counter.incr"), F(app, 3, "main")), prev=(F(app, 4, "x"),))
    assert not Suppressions.empty().suppresses(r)


def test_inline_leak(app):
    assert Suppressions.empty().suppresses(leak(stack=(F(app, 10, "worker"),)))
    assert Suppressions.empty().suppresses(leak(stack=(F(app, 3, "worker"),)))
    assert not Suppressions.empty().suppresses(leak(stack=(F(app, 11, "worker"),)))
    # The creation site is not the blocking point.
    assert not Suppressions.empty().suppresses(leak(stack=(F(app, 9, "w"),), created_at=(F(app, 10, "m"),)))


def test_inline_deadlock(app):
    assert Suppressions.empty().suppresses(deadlock((F(app, 9, "a"),), (F(app, 11, "b"),)))
    assert not Suppressions.empty().suppresses(deadlock((F(app, 10, "a"),)))


def test_inline_lock_order(app):
    assert Suppressions.empty().suppresses(inversion(a=F(app, 12, "f")))
    assert not Suppressions.empty().suppresses(inversion(a=F(app, 11, "f")))


def test_inline_disabled(app):
    assert not Suppressions.empty(inline=False).suppresses(arace(app, 3))
    assert not sup("race:nothing\n", inline=False).suppresses(arace(app, 3))


def test_inline_with_missing_source_file(tmp_path):
    r = race(cur=(F(str(tmp_path / "gone.py"), 3, "f"),), prev=(F("<string>", 1, "g"),))
    assert not Suppressions.empty().suppresses(r)


def test_empty_stacks_never_crash():
    r = Race("x", 1, Access("write", "t1", ()), Access("read", "t2", ()))
    assert not sup("race:*\n").suppresses(r)
    assert not Suppressions.empty().suppresses(BlockedThread("t", "running", ()))


# --- filter_findings ----------------------------------------------------------------------


def test_filter_findings_moves_and_counts(app):
    keep_race, drop_race = arace(app, 4), arace(app, 3)
    keep_leak = leak(stack=(F(app, 11, "w"),))
    drop_leak = leak(stack=(F("/repo/vendor/lib.py", 1, "w"),))
    inv_keep, inv_drop = inversion(a=F(app, 11, "f")), inversion(a=F(app, 12, "f"))
    dl = deadlock((F(app, 9, "a"),))
    findings = Findings(races=[keep_race, drop_race], leaks=[drop_leak, keep_leak], deadlock=dl,
                        lock_order_inversions=[inv_drop, inv_keep], suppressed=2)
    s = sup("leak:*/vendor/*\n")
    out = filter_findings(findings, s)
    assert out.races == [keep_race]
    assert out.leaks == [keep_leak]
    assert out.deadlock is dl
    assert out.lock_order_inversions == [inv_keep]
    assert out.suppressed == 2 + 3
    assert s.inline_hits == 2 and s.rules[0].hits == 1
    # The input is left alone.
    assert len(findings.races) == 2 and findings.suppressed == 2


def test_filter_findings_suppresses_deadlock(app):
    out = filter_findings(Findings(deadlock=deadlock((F(app, 9, "a"),))), sup("deadlock:a\n"))
    assert out.deadlock is None and out.suppressed == 1 and not out


def test_filter_nothing():
    f = Findings(races=[race()])
    out = filter_findings(f, Suppressions.empty())
    assert out.races == f.races and out.suppressed == 0


def test_repr():
    assert repr(Suppressions.empty()) == "<Suppressions inline only: 0 rules>"
    assert "suppressions.txt: 1 rules" in repr(sup("race:x\n"))
