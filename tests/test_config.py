"""Tests of racedet.config: layers, precedence, sources and every kind of bad input."""

from __future__ import annotations

import dataclasses
import os
import textwrap

import pytest

from racedet import config
from racedet.config import OPTION_HELP, Settings, load, parse_options
from racedet.exceptions import ConfigError, RacedetError


def write_pyproject(d, body: str) -> str:
    path = os.path.join(str(d), "pyproject.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(textwrap.dedent(body))
    return path


def load_in(d, cli=None, env=None) -> Settings:
    return load(cli or {}, environ=env or {}, start_dir=str(d))


# --- defaults -----------------------------------------------------------------------------


def test_defaults(tmp_path):
    s = load_in(tmp_path)
    assert s.json is None and s.sarif is None
    assert s.exitcode == 66
    assert s.halt_on_error is False
    assert s.suppressions is None
    assert s.leaks is True
    assert s.baseline is None and s.update_baseline is False
    assert s.history_size == 8
    assert s.strip_path_prefix == ""
    assert s.include == [] and s.exclude == []
    assert s.annotations is None
    assert s.html is None and s.source is True
    assert s.config_file is None
    assert set(s.sources) == set(OPTION_HELP) - {"no_leaks", "no_source"}
    assert set(s.sources.values()) == {"default"}
    assert s.summary() == "defaults"


def test_dataclass_defaults_match_load(tmp_path):
    plain = dataclasses.asdict(Settings())
    loaded = dataclasses.asdict(load_in(tmp_path))
    plain.pop("sources"), loaded.pop("sources")
    assert plain == loaded


def test_option_help_covers_every_option():
    fields = {f.name for f in dataclasses.fields(Settings)} - {"sources", "config_file"}
    assert set(OPTION_HELP) == fields | {"no_leaks", "no_source"}
    for name, text in OPTION_HELP.items():
        assert text and "\n" not in text, name


def test_load_defaults_to_os_environ_and_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_pyproject(tmp_path, """
        [tool.racedet]
        exitcode = 5
    """)
    monkeypatch.setenv("RACEDET_OPTIONS", "history_size=3")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    s = load({})
    assert (s.exitcode, s.history_size) == (5, 3)


# --- GITHUB_ACTIONS -----------------------------------------------------------------------


def test_github_actions_turns_annotations_on(tmp_path):
    s = load_in(tmp_path, env={"GITHUB_ACTIONS": "true"})
    assert s.annotations == "github"
    assert s.sources["annotations"] == "GITHUB_ACTIONS"


@pytest.mark.parametrize("value", ["false", "", "1"])
def test_github_actions_other_values(tmp_path, value):
    assert load_in(tmp_path, env={"GITHUB_ACTIONS": value}).annotations is None


def test_annotations_can_be_turned_off_under_github(tmp_path):
    s = load_in(tmp_path, env={"GITHUB_ACTIONS": "true", "RACEDET_OPTIONS": "annotations=none"})
    assert s.annotations is None
    assert s.sources["annotations"] == "RACEDET_OPTIONS"


# --- pyproject.toml -----------------------------------------------------------------------


def test_pyproject_values_and_relative_paths(tmp_path):
    path = write_pyproject(tmp_path, """
        [tool.racedet]
        json = "out/race.json"
        sarif = "/abs/racedet.sarif"
        exitcode = 3
        halt_on_error = true
        suppressions = "ci/suppressions.txt"
        leaks = false
        baseline = "racedet-baseline.json"
        update_baseline = false
        history_size = 16
        strip_path_prefix = "."
        include = ["src/*", "*/vendor/*"]
        exclude = "tests/*, build/*"
        annotations = "github"
    """)
    sub = tmp_path / "pkg" / "deep"
    sub.mkdir(parents=True)
    s = load_in(sub)
    root = str(tmp_path)
    assert s.config_file == path
    assert s.json == os.path.join(root, "out", "race.json")
    assert s.sarif == "/abs/racedet.sarif"
    assert s.exitcode == 3
    assert s.halt_on_error is True
    assert s.suppressions == os.path.join(root, "ci", "suppressions.txt")
    assert s.leaks is False
    assert s.baseline == os.path.join(root, "racedet-baseline.json")
    assert s.history_size == 16
    assert s.strip_path_prefix == root + os.sep
    assert s.include == [os.path.join(root, "src/*"), "*/vendor/*"]
    assert s.exclude == [os.path.join(root, "tests/*"), os.path.join(root, "build/*")]
    assert s.annotations == "github"
    assert s.sources["exitcode"] == "pyproject.toml [tool.racedet]"
    assert s.sources["update_baseline"] == "pyproject.toml [tool.racedet]"
    assert "exitcode=3 (pyproject.toml [tool.racedet])" in s.summary()


def test_pyproject_hyphenated_keys(tmp_path):
    write_pyproject(tmp_path, """
        [tool.racedet]
        halt-on-error = true
        history-size = 2
        no-leaks = true
    """)
    s = load_in(tmp_path)
    assert (s.halt_on_error, s.history_size, s.leaks) == (True, 2, False)


def test_nearest_pyproject_with_racedet_table_wins(tmp_path):
    write_pyproject(tmp_path, """
        [tool.racedet]
        exitcode = 1
    """)
    mid = tmp_path / "mid"
    mid.mkdir()
    write_pyproject(mid, """
        [tool.racedet]
        exitcode = 2
    """)
    leaf = mid / "leaf"
    leaf.mkdir()
    write_pyproject(leaf, """
        [project]
        name = "leaf"
    """)  # no [tool.racedet]: does not hide mid's
    s = load_in(leaf)
    assert s.exitcode == 2
    assert s.config_file == str(mid / "pyproject.toml")


def test_pyproject_without_racedet_table_is_ignored(tmp_path):
    write_pyproject(tmp_path, """
        [tool.other]
        exitcode = "x"
    """)
    s = load_in(tmp_path)
    assert s.exitcode == 66 and s.config_file is None


def test_invalid_toml_names_the_file(tmp_path):
    path = write_pyproject(tmp_path, "[tool.racedet\nexitcode = 3\n")
    with pytest.raises(ConfigError, match=r"^invalid TOML in .*pyproject\.toml: ") as exc:
        load_in(tmp_path)
    assert path in str(exc.value)


def test_racedet_not_a_table(tmp_path):
    write_pyproject(tmp_path, """
        [tool]
        racedet = 3
    """)
    with pytest.raises(ConfigError, match=r"^\[tool\.racedet\] in .*pyproject\.toml is not a table$"):
        load_in(tmp_path)


def test_unreadable_pyproject(tmp_path, monkeypatch):
    path = write_pyproject(tmp_path, "[tool.racedet]\n")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(config, "open", denied, raising=False)
    with pytest.raises(ConfigError) as exc:
        load_in(tmp_path)
    assert str(exc.value) == f"cannot read {path}: Permission denied"


# --- RACEDET_OPTIONS ----------------------------------------------------------------------


def test_environment_options():
    env = {"RACEDET_OPTIONS": "json=out.json exitcode=3 halt_on_error=1 leaks=0 suppressions=f.txt "
                              "history_size=0 strip_path_prefix=/src/ include=a/*,b/* "
                              "exclude=c/* update_baseline=yes baseline=b.json sarif=s.sarif "
                              "annotations=github html=r.html no_source=1"}
    s = load({}, environ=env, start_dir=os.sep)
    assert s.json == "out.json"          # relative to the cwd, as the user typed it
    assert s.exitcode == 3
    assert s.halt_on_error is True
    assert s.leaks is False
    assert s.suppressions == "f.txt"
    assert s.history_size == 0
    assert s.strip_path_prefix == "/src/"
    assert s.include == ["a/*", "b/*"]
    assert s.exclude == ["c/*"]
    assert s.update_baseline is True
    assert s.baseline == "b.json"
    assert s.sarif == "s.sarif"
    assert s.annotations == "github"
    assert s.html == "r.html" and s.source is False
    assert set(s.sources.values()) == {"RACEDET_OPTIONS"}


@pytest.mark.parametrize("text, expected", [
    ("halt_on_error=1", True),
    ("halt-on-error=1", True),
    ("halt_on_error=true", True),
    ("halt_on_error=ON", True),
    ("halt_on_error=0", False),
    ("halt_on_error=no", False),
])
def test_bool_spellings(tmp_path, text, expected):
    assert load_in(tmp_path, env={"RACEDET_OPTIONS": text}).halt_on_error is expected


@pytest.mark.parametrize("text, leaks", [("no_leaks=1", False), ("no-leaks=1", False),
                                         ("no_leaks=0", True), ("leaks=0", False)])
def test_no_leaks(tmp_path, text, leaks):
    s = load_in(tmp_path, env={"RACEDET_OPTIONS": text})
    assert s.leaks is leaks
    assert s.sources["leaks"] == "RACEDET_OPTIONS"


def test_quoted_values_and_backslashes():
    opts = parse_options("json='my out.json' suppressions=\"C:\\ci\\sup.txt\"  exitcode=3 ")
    assert opts == {"json": "my out.json", "suppressions": "C:\\ci\\sup.txt", "exitcode": "3"}


def test_later_keys_win():
    assert parse_options("exitcode=1 exitcode=2") == {"exitcode": "2"}


def test_empty_path_unsets_a_pyproject_output(tmp_path):
    write_pyproject(tmp_path, """
        [tool.racedet]
        sarif = "racedet.sarif"
    """)
    s = load_in(tmp_path, env={"RACEDET_OPTIONS": "sarif="})
    assert s.sarif is None
    assert s.sources["sarif"] == "RACEDET_OPTIONS"


def test_blank_environment_is_ignored(tmp_path):
    assert load_in(tmp_path, env={"RACEDET_OPTIONS": "   "}).sources["exitcode"] == "default"


def test_malformed_environment_token(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_in(tmp_path, env={"RACEDET_OPTIONS": "exitcode=3 halt"})
    assert str(exc.value) == "invalid option 'halt' in RACEDET_OPTIONS (expected key=value)"


def test_environment_token_without_key(tmp_path):
    with pytest.raises(ConfigError, match=r"^invalid option '=3' in RACEDET_OPTIONS"):
        load_in(tmp_path, env={"RACEDET_OPTIONS": "=3"})


def test_unbalanced_quote(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_in(tmp_path, env={"RACEDET_OPTIONS": "json='a b"})
    assert str(exc.value) == "cannot parse RACEDET_OPTIONS: no closing quotation"


# --- command line -------------------------------------------------------------------------


def test_command_line_values(tmp_path):
    s = load_in(tmp_path, cli={"json": "r.json", "exitcode": 7, "halt_on_error": True,
                               "leaks": False, "include": ["x/*"], "history_size": 4})
    assert (s.json, s.exitcode, s.halt_on_error, s.leaks, s.include, s.history_size) == \
        ("r.json", 7, True, False, ["x/*"], 4)
    assert s.sources["json"] == "the command line"
    assert s.sources["sarif"] == "default"


def test_command_line_none_means_not_given(tmp_path):
    s = load_in(tmp_path, cli={"exitcode": None, "json": None},
                env={"RACEDET_OPTIONS": "exitcode=9 json=e.json"})
    assert (s.exitcode, s.json) == (9, "e.json")
    assert s.sources["exitcode"] == "RACEDET_OPTIONS"


def test_command_line_strings_are_parsed(tmp_path):
    s = load_in(tmp_path, cli={"exitcode": "4", "update_baseline": "1"})
    assert (s.exitcode, s.update_baseline) == (4, True)


# --- precedence ---------------------------------------------------------------------------


def test_precedence_default_pyproject_environment_command_line(tmp_path):
    write_pyproject(tmp_path, """
        [tool.racedet]
        exitcode = 1
        history_size = 1
        json = "p.json"
        halt_on_error = true
    """)
    env = {"RACEDET_OPTIONS": "exitcode=2 history_size=2"}
    s = load_in(tmp_path, cli={"exitcode": 3}, env=env)
    assert s.exitcode == 3 and s.sources["exitcode"] == "the command line"
    assert s.history_size == 2 and s.sources["history_size"] == "RACEDET_OPTIONS"
    assert s.json == str(tmp_path / "p.json")
    assert s.sources["json"] == "pyproject.toml [tool.racedet]"
    assert s.halt_on_error is True
    assert s.leaks is True and s.sources["leaks"] == "default"


def test_environment_overrides_github_default_and_pyproject(tmp_path):
    write_pyproject(tmp_path, """
        [tool.racedet]
        annotations = "none"
    """)
    s = load_in(tmp_path, env={"GITHUB_ACTIONS": "true"})
    assert s.annotations is None and s.sources["annotations"] == "pyproject.toml [tool.racedet]"
    s = load_in(tmp_path, env={"GITHUB_ACTIONS": "true"}, cli={"annotations": "github"})
    assert s.annotations == "github" and s.sources["annotations"] == "the command line"


def test_lists_are_replaced_not_merged(tmp_path):
    write_pyproject(tmp_path, """
        [tool.racedet]
        include = ["a/*"]
    """)
    s = load_in(tmp_path, env={"RACEDET_OPTIONS": "include=*/b/*"})
    assert s.include == ["*/b/*"]


# --- bad values, named by source ----------------------------------------------------------


def test_bad_value_from_environment_exact_message(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_in(tmp_path, env={"RACEDET_OPTIONS": "exitcode=x"})
    assert str(exc.value) == "invalid exitcode 'x' from RACEDET_OPTIONS"
    assert isinstance(exc.value, RacedetError) and exc.value.slug == "config"


def test_bad_value_from_pyproject_exact_message(tmp_path):
    write_pyproject(tmp_path, """
        [tool.racedet]
        exitcode = "x"
    """)
    with pytest.raises(ConfigError) as exc:
        load_in(tmp_path)
    assert str(exc.value) == "invalid exitcode 'x' from pyproject.toml [tool.racedet]"


def test_bad_value_from_command_line_exact_message(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_in(tmp_path, cli={"exitcode": "x"})
    assert str(exc.value) == "invalid exitcode 'x' from the command line"


@pytest.mark.parametrize("text, message", [
    ("exitcode=256", "invalid exitcode '256' from RACEDET_OPTIONS"),
    ("exitcode=-1", "invalid exitcode '-1' from RACEDET_OPTIONS"),
    ("exitcode=", "invalid exitcode '' from RACEDET_OPTIONS"),
    ("exitcode=3.5", "invalid exitcode '3.5' from RACEDET_OPTIONS"),
    ("history_size=65", "invalid history_size '65' from RACEDET_OPTIONS"),
    ("history_size=-1", "invalid history_size '-1' from RACEDET_OPTIONS"),
    ("history-size=many", "invalid history-size 'many' from RACEDET_OPTIONS"),
    ("halt_on_error=maybe", "invalid halt_on_error 'maybe' from RACEDET_OPTIONS"),
    ("halt-on-error=2", "invalid halt-on-error '2' from RACEDET_OPTIONS"),
    ("no_leaks=please", "invalid no_leaks 'please' from RACEDET_OPTIONS"),
    ("leaks=", "invalid leaks '' from RACEDET_OPTIONS"),
    ("annotations=gitlab", "invalid annotations 'gitlab' from RACEDET_OPTIONS"),
    ("update_baseline=2", "invalid update_baseline '2' from RACEDET_OPTIONS"),
])
def test_bad_environment_values(tmp_path, text, message):
    with pytest.raises(ConfigError) as exc:
        load_in(tmp_path, env={"RACEDET_OPTIONS": text})
    assert str(exc.value) == message


@pytest.mark.parametrize("line, message", [
    ("exitcode = true", "invalid exitcode True from pyproject.toml [tool.racedet]"),
    ("exitcode = 300", "invalid exitcode 300 from pyproject.toml [tool.racedet]"),
    ("history_size = 3.0", "invalid history_size 3.0 from pyproject.toml [tool.racedet]"),
    ("leaks = 2", "invalid leaks 2 from pyproject.toml [tool.racedet]"),
    ("json = 3", "invalid json 3 from pyproject.toml [tool.racedet]"),
    ("include = 3", "invalid include 3 from pyproject.toml [tool.racedet]"),
    ("include = [1, 2]", "invalid include [1, 2] from pyproject.toml [tool.racedet]"),
    ("strip_path_prefix = false", "invalid strip_path_prefix False from pyproject.toml [tool.racedet]"),
    ("annotations = 1", "invalid annotations 1 from pyproject.toml [tool.racedet]"),
])
def test_bad_pyproject_values(tmp_path, line, message):
    write_pyproject(tmp_path, f"[tool.racedet]\n{line}\n")
    with pytest.raises(ConfigError) as exc:
        load_in(tmp_path)
    assert str(exc.value) == message


@pytest.mark.parametrize("cli, message", [
    ({"exitcode": True}, "invalid exitcode True from the command line"),
    ({"history_size": 100}, "invalid history_size 100 from the command line"),
    ({"include": 5}, "invalid include 5 from the command line"),
    ({"halt_on_error": "sometimes"}, "invalid halt_on_error 'sometimes' from the command line"),
])
def test_bad_command_line_values(tmp_path, cli, message):
    with pytest.raises(ConfigError) as exc:
        load_in(tmp_path, cli=cli)
    assert str(exc.value) == message


def test_bad_value_is_reported_even_if_a_later_layer_overrides_it(tmp_path):
    # A broken pyproject must be fixed, not masked by today's command line.
    write_pyproject(tmp_path, '[tool.racedet]\nexitcode = "x"\n')
    with pytest.raises(ConfigError, match="from pyproject.toml"):
        load_in(tmp_path, cli={"exitcode": 3})


# --- unknown keys -------------------------------------------------------------------------


def test_unknown_key_in_environment(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_in(tmp_path, env={"RACEDET_OPTIONS": "foo=1"})
    assert str(exc.value) == "unknown option 'foo' in RACEDET_OPTIONS"


def test_unknown_key_in_pyproject(tmp_path):
    write_pyproject(tmp_path, """
        [tool.racedet]
        exticode = 3
    """)
    with pytest.raises(ConfigError) as exc:
        load_in(tmp_path)
    assert str(exc.value) == "unknown option 'exticode' in pyproject.toml [tool.racedet]"


@pytest.mark.parametrize("key", ["foo", "sources", "config_file"])
def test_unknown_key_on_command_line(tmp_path, key):
    with pytest.raises(ConfigError) as exc:
        load_in(tmp_path, cli={key: "x"})
    assert str(exc.value) == f"unknown option {key!r} on the command line"
