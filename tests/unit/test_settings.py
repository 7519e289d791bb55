"""One settings object: each setting written once (migrata.settings), its flag, variable, config
key and library keyword following from its name, the same value wherever it is given."""

from __future__ import annotations

import warnings
from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrata import Migrator
from migrata.cli import cli
from migrata.config import ENV_VARS, load_settings
from migrata.errors import SETTINGS as ERROR_SETTINGS
from migrata.errors import ConfigError
from migrata.models import Timeouts
from migrata.settings import SPECS, Settings, Spec


def _options(command: click.Command) -> dict[str, click.Option]:
    return {p.name: p for p in command.params if isinstance(p, click.Option) and p.name}


def _command_of(spec: Spec) -> list[click.Command]:
    if spec.commands is None:
        return [cli]
    assert isinstance(cli, click.Group)
    return [cli.commands[name] for name in spec.commands]


@pytest.mark.parametrize("name", list(SPECS))
def test_each_setting_is_named_one_way(name: str) -> None:
    spec = SPECS[name]
    assert spec.name == name
    assert spec.keys[0] == name
    if spec.environ:
        assert spec.env[0] == "MIGRATA_" + name.upper()
        assert ENV_VARS[name] == spec.env
    for command in _command_of(spec):
        option = _options(command)[name]
        assert spec.flag in option.opts, (command.name, option.opts)
        for alias in spec.flag_aliases:
            assert alias in option.opts
        if spec.kind == "flag":
            assert option.secondary_opts == ["--no-" + spec.flag[2:]]
        if spec.environ:
            assert spec.env[0] in (option.help or "")


def test_no_setting_has_a_flag_elsewhere_and_no_flag_is_a_setting_twice() -> None:
    assert isinstance(cli, click.Group)
    commands = {"": cli, **cli.commands}
    for command_name, command in commands.items():
        for option_name in _options(command):
            if option_name in SPECS:
                expected = SPECS[option_name].commands
                where = None if command is cli else command_name
                assert (expected is None) == (where is None) and (
                    where is None or where in (expected or ())
                ), (option_name, command_name)
    taken: dict[str, str] = {}
    for spec in SPECS.values():
        for alias in (*spec.env, *spec.keys):
            assert taken.setdefault(alias, spec.name) == spec.name, alias


def test_error_messages_name_settings_by_their_flags() -> None:
    """errors.SETTINGS says how a message names a setting; for real settings the flag it
    names is one the command takes."""
    for name, (cli_text, _library) in ERROR_SETTINGS.items():
        if name not in SPECS:
            continue
        spec = SPECS[name]
        assert any(flag in cli_text for flag in (spec.flag, *spec.flag_aliases)), name


def test_settings_are_grouped_and_read_flat() -> None:
    s = Settings.of(url="sqlite:///x.db", dir="sql", ddl_lock_timeout="2s", table="h")
    assert (
        s.connect.database_url == "sqlite:///x.db"
        and s.get("database_url") == s.connect.database_url
    )
    assert s.source.directory == "sql" and s.history.table == "h"
    assert s.timeouts == Timeouts(statement=None, migration=None, lock=2.0)
    assert dict(s.items())["ddl_lock_timeout"] == 2.0
    assert Settings.of() == Settings()
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        Settings.of(colour="red")
    with pytest.raises(ConfigError, match="ddl_lock_retries must be a whole number"):
        Settings.of(ddl_lock_retries=-1)


def test_a_bad_flag_value_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"lock_timeout .*'soon' \(from --lock-timeout\)"):
        load_settings({"lock_timeout": "soon"}, environ={}, cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"\(from MIGRATA_WAIT\)"):
        load_settings({}, environ={"MIGRATA_WAIT": "later"}, cwd=tmp_path)


def test_older_spellings_still_work(tmp_path: Path) -> None:
    (tmp_path / "migrata.toml").write_text('url = "sqlite:///a.db"\ndir = "sql"\nenv = "dev"\n')
    from_file = load_settings({}, environ={}, cwd=tmp_path)
    assert (
        from_file.source.directory == str(tmp_path / "sql") or from_file.source.directory == "sql"
    )
    assert from_file.source.environment == "dev"
    variables = {"MIGRATA_DIR": "d", "MIGRATA_ENV": "qa", "MIGRATA_SESSION_SQL": "s.sql"}
    from_env = load_settings({}, environ=variables, cwd=tmp_path / "none")
    assert (from_env.source.directory, from_env.source.environment) == ("d", "qa")
    assert from_env.run.session_sql_file == "s.sql"
    new = {"MIGRATA_DIRECTORY": "new", "MIGRATA_DIR": "old"}
    assert load_settings({}, environ=new, cwd=tmp_path / "none").source.directory == "new"
    (tmp_path / "twice").mkdir()
    (tmp_path / "twice" / "migrata.toml").write_text('dir = "a"\ndirectory = "b"\n')
    with pytest.raises(ConfigError, match="directory is set twice"):
        load_settings({}, environ={}, cwd=tmp_path / "twice")


def test_library_keywords_of_earlier_releases_warn_and_still_work(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.warns(DeprecationWarning, match="timeouts=") as caught:
        m = Migrator(url, directory=tmp_path, timeouts=Timeouts(statement=3, lock=1))
    assert caught[0].filename == __file__  # the warning points at the caller
    assert m.settings.timeouts == Timeouts(statement=3.0, migration=None, lock=1.0)
    with pytest.warns(DeprecationWarning):
        unlimited = Migrator(url, timeouts=Timeouts(statement=3))
    assert unlimited.settings.run.ddl_lock_timeout == 0.0  # None: the server's, i.e. forever
    with pytest.warns(DeprecationWarning, match="ddl_lock_retries="):
        assert Migrator(url, lock_retries=2).settings.run.ddl_lock_retries == 2
    with pytest.warns(DeprecationWarning, match="seeds_dir="):
        seeded = Migrator(url, seeds=(tmp_path, ["qa"]))
    assert seeded.settings.source.seeds_dir == str(tmp_path)
    assert seeded.settings.source.seeds_environments == ("qa",)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        current = Migrator(url, directory=tmp_path, statement_timeout=3, ddl_lock_timeout=1)
    assert current.settings.timeouts == m.settings.timeouts
    with pytest.raises(ConfigError, match="either a migrations directory or a package"):
        Migrator(url, directory=tmp_path, package="app.migrations")


def test_a_settings_object_passes_through_unchanged(tmp_path: Path) -> None:
    chosen = Settings.of(database_url=f"sqlite:///{tmp_path / 'x.db'}", service="billing")
    assert Migrator(chosen).settings == chosen
    assert Migrator(chosen, table="other").settings.history.table == "other"
    assert chosen.history.table == "migrata_history"  # frozen: the original is unchanged


# -- one value, wherever it is written --------------------------------------------------------

_TEXT = st.text(
    st.characters(min_codepoint=48, max_codepoint=122, categories=["Ll", "Lu", "Nd"]),
    min_size=1,
    max_size=12,
)
_VALUES = {
    "text": _TEXT,
    "path": _TEXT,
    "flag": st.sampled_from(["true", "false", "1", "0", "yes", "no", "on", "off"]),
    "duration": st.one_of(
        st.integers(0, 10_000).map(str),
        st.builds(
            lambda n, u: f"{n}{u}", st.integers(0, 999), st.sampled_from(["ms", "s", "min", "h"])
        ),
    ),
    "seconds": st.integers(0, 1000).map(str),
    "count": st.integers(0, 50).map(str),
    "names": st.lists(_TEXT, min_size=1, max_size=3).map(",".join),
    "environments": st.lists(
        st.sampled_from(["dev", "test", "qa", "staging", "prod1"]), min_size=1, max_size=3
    ).map(",".join),
    "environment": st.sampled_from(["dev", "test", "qa", "staging", "prod1"]),
    "choice": st.sampled_from(["warn", "error", "off", "WARN", " Error "]),
}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_value_means_the_same_as_flag_variable_or_config_key(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Any setting, any value of its kind: given as a flag, as its variable (or any alias) or
    in the config file (by its key or any alias), the settings come out the same."""
    name = data.draw(st.sampled_from(list(SPECS)))
    spec = SPECS[name]
    value = data.draw(_VALUES[spec.kind])
    folder = tmp_path_factory.mktemp("cfg")
    empty = tmp_path_factory.mktemp("none")
    from_flag = load_settings({name: value}, environ={}, cwd=empty)
    expected = from_flag.get(name)
    assert expected == Settings.of(**{name: value}).get(name)
    for variable in spec.env:
        assert load_settings({}, environ={variable: value}, cwd=empty).get(name) == expected
    for key in spec.keys:
        (folder / "migrata.toml").write_text(f'{key} = "{value}"\n')
        read = load_settings({}, environ={}, cwd=folder).get(name)
        if spec.kind == "path":
            assert read == str(folder / value) or read == value
        else:
            assert read == expected


# -- the README's table is the settings' own ------------------------------------------------


def settings_table() -> str:
    """The README's table of settings, rendered from the specs."""
    rows = [
        "| setting (config key, library keyword) | flag | environment | default | also accepted |",
        "|---|---|---|---|---|",
    ]
    for s in SPECS.values():
        shorts = [a for a in s.flag_aliases if not a.startswith("--")]
        if s.commands == ():
            flag = "—"
        else:
            flag = "`" + "`, `".join([*shorts, s.flag]) + "`"
            if s.kind == "flag":
                flag += f" / `--no-{s.flag[2:]}`"
            if s.commands:
                flag += " (" + ", ".join(s.commands) + ")"
        env = f"`{s.env[0]}`" if s.env else "—"
        if s.default_text is not None:
            default = s.default_text
        elif s.default in (None, ()):
            default = "—"
        elif isinstance(s.default, tuple):
            default = ", ".join(s.default)
        elif isinstance(s.default, bool):
            default = str(s.default).lower()
        else:
            default = str(s.default)
        also = [
            *(f"`{a}`" for a in s.flag_aliases if a.startswith("--")),
            *(f"`{v}`" for v in s.env[1:]),
            *(f"`{k} =`" for k in s.key_aliases),
        ]
        rows.append(f"| `{s.name}` | {flag} | {env} | {default} | {', '.join(also) or '—'} |")
    return "\n".join(rows) + "\n"


def test_the_readme_lists_every_setting_as_the_specs_say() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = settings_table()
    assert table in readme, "README.md's settings table differs from the specs; it is:\n" + table


def test_any_setting_is_named_the_callers_way_in_errors() -> None:
    from migrata.errors import setting

    error = ConfigError(f"raise it with {setting('ddl_lock_timeout')} or {setting('directory')}")
    assert str(error) == "raise it with ddl_lock_timeout= or directory="
    assert error.cli_message == "raise it with --ddl-lock-timeout or --dir"
    with pytest.raises(KeyError):
        setting("colour")


def test_a_library_caller_picks_a_target_with_the_keyword(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "migrata.toml").write_text(
        "[targets.a]\nurl = 'sqlite:///a.db'\n[targets.b]\nurl = 'sqlite:///b.db'\n"
    )
    with pytest.raises(ConfigError, match=r"pick one with target=NAME \(declared: a, b\)"):
        Migrator.from_config()
    assert Migrator.from_config(target="b").settings.connect.database_url == "sqlite:///b.db"


def test_attributes_and_helpers_of_earlier_releases_warn_and_still_work(tmp_path: Path) -> None:
    from migrata.config import migrator_options

    url = f"sqlite:///{tmp_path / 'x.db'}"
    m = Migrator(url, directory=tmp_path, table="h", ddl_lock_retries=3)
    with pytest.warns(DeprecationWarning, match=r"settings\.history\.table"):
        assert m.table == "h"
    with pytest.warns(DeprecationWarning):
        assert m.directory == str(tmp_path)
    with pytest.warns(DeprecationWarning):
        assert m.lock_retries == 3
    with pytest.warns(DeprecationWarning):
        assert m.timeouts == m.settings.timeouts
    with pytest.raises(AttributeError):
        _ = m.colour
    with pytest.warns(DeprecationWarning, match="Migrator\\(settings\\)"):
        options = migrator_options(m.settings)
    assert Migrator(**options).settings == m.settings
