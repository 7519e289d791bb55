"""Targets in the config file (several databases in one run): parsing, order, inheritance,
lazy ``env:`` values, relative paths, every error message, and the run loop's outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from migrata import Migrator
from migrata.config import Settings, load_settings
from migrata.errors import ConfigError, LockTimeout, MigrataError, ValidationFailed
from migrata.exitcodes import ExitCode
from migrata.models import Direction, RunReport, StepResult
from migrata.targets import (
    Target,
    TargetsFailed,
    load_targets,
    run_targets,
    target_names,
    worst_exit_code,
)

SECRET = "s3cret-Pw-5521"
PG = f"postgresql://app:{SECRET}@db.internal/app"
CH = "clickhouse://events:ch-pw-9@ch:8123/events"

PYPROJECT = """\
[project]
name = "app"

[tool.migrata]
lock_timeout = 7
table = "schema_history"

[tool.migrata.targets.main]
url = "env:DATABASE_URL"
dir = "migrations/postgres"

[tool.migrata.targets.events]
url = "env:CLICKHOUSE_URL"
dir = "migrations/clickhouse"
lock_timeout = 0
"""

ENV = {"DATABASE_URL": PG, "CLICKHOUSE_URL": CH}


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def by_name(targets: tuple[Target, ...]) -> dict[str, Settings]:
    return {t.name: t.settings for t in targets}


# -- parsing, order, inheritance --------------------------------------------------------------


def test_pyproject_targets_in_declared_order_with_inherited_defaults(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", PYPROJECT)
    targets = load_targets(environ=ENV, cwd=tmp_path)
    assert [t.name for t in targets] == ["main", "events"]
    main, events = (t.settings for t in targets)
    assert main.get("database_url") == PG and events.get("database_url") == CH
    assert main.get("directory") == str(tmp_path / "migrations/postgres")
    assert events.get("directory") == str(tmp_path / "migrations/clickhouse")
    # Top-level settings are defaults; a target's own keys win.
    assert main.get("lock_timeout") == 7.0 and events.get("lock_timeout") == 0.0
    assert main.get("table") == events.get("table") == "schema_history"
    assert main.get("service") == "default"
    assert main.config_file == str(tmp_path / "pyproject.toml")
    assert target_names(cwd=tmp_path) == ("main", "events")


def test_migrata_toml_targets_sit_at_the_top_level(tmp_path: Path) -> None:
    write(
        tmp_path,
        "migrata.toml",
        '[targets.zeta]\nurl = "sqlite:///z.db"\ndirectory = "z"\n'
        '[targets.alpha]\ndatabase-url = "sqlite:///a.db"\nsession-sql = "SET x = 1"\n'
        "allow_out_of_order = true\nrequire_lock = true\ncluster = 'c1'\n"
        "history_engine = 'ReplicatedMergeTree'\nschema = 's'\nlayout = 'sqlx'\n",
    )
    targets = load_targets(environ={}, cwd=tmp_path)
    # Declaration order, not alphabetical.
    assert [t.name for t in targets] == ["zeta", "alpha"]
    alpha = by_name(targets)["alpha"]
    assert alpha.get("database_url") == "sqlite:///a.db"
    assert alpha.get("session_sql") == "SET x = 1"
    assert alpha.get("allow_out_of_order") is True and alpha.get("require_lock") is True
    assert (alpha.get("cluster"), alpha.get("history_engine")) == ("c1", "ReplicatedMergeTree")
    assert (alpha.get("schema"), alpha.get("layout")) == ("s", "sqlx")
    assert alpha.get("directory") == "migrations"  # the default, relative to the current folder
    assert by_name(targets)["zeta"].get("directory") == str(tmp_path / "z")


def test_names_select_targets_still_in_declared_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        "migrata.toml",
        "".join(f'[targets.{n}]\nurl = "sqlite:///{n}.db"\n' for n in ("a", "b", "c")),
    )
    picked = load_targets(names=["c", "a", "c"], environ={}, cwd=tmp_path)
    assert [t.name for t in picked] == ["a", "c"]


def test_top_level_url_and_service_are_inherited_for_services_sharing_a_database(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        "migrata.toml",
        'url = "sqlite:///shared.db"\n'
        '[targets.billing]\nservice = "billing"\ndir = "billing"\n'
        '[targets.auth]\nservice = "auth"\ndir = "auth"\n',
    )
    billing, auth = load_targets(environ={}, cwd=tmp_path)
    assert (
        billing.settings.get("database_url")
        == auth.settings.get("database_url")
        == "sqlite:///shared.db"
    )
    assert (billing.settings.get("service"), auth.settings.get("service")) == ("billing", "auth")


def test_no_targets_declared_keeps_the_single_database_settings(tmp_path: Path) -> None:
    write(tmp_path, "migrata.toml", "url = 'sqlite:///one.db'\ndir = 'sql'\n")
    assert load_targets(environ={}, cwd=tmp_path) == ()
    assert target_names(cwd=tmp_path) == ()
    assert target_names(cwd=tmp_path / "nowhere") == ()
    settings = load_settings({}, environ={}, cwd=tmp_path)
    assert (settings.get("database_url"), settings.get("directory")) == ("sqlite:///one.db", "sql")


def test_single_database_settings_ignore_a_targets_table(tmp_path: Path) -> None:
    write(tmp_path, "migrata.toml", "dir = 'sql'\n[targets.main]\nurl = 'env:UNSET_FOR_TEST'\n")
    assert load_settings({}, environ={}, cwd=tmp_path).get("directory") == "sql"


# -- environment and flags --------------------------------------------------------------------


def test_env_value_is_read_only_when_its_target_is_used(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", PYPROJECT)
    only_main = {"DATABASE_URL": PG}
    (main,) = load_targets(names=["main"], environ=only_main, cwd=tmp_path)
    assert main.settings.get("database_url") == PG
    with pytest.raises(ConfigError) as info:
        load_targets(environ=only_main, cwd=tmp_path)
    message = str(info.value)
    assert "pyproject.toml" in message
    assert "target 'events'" in message
    assert "CLICKHOUSE_URL" in message and "is not set" in message
    assert "--target" in message  # the next step


def test_inherited_env_value_says_it_comes_from_the_top_level(tmp_path: Path) -> None:
    write(tmp_path, "migrata.toml", 'url = "env:SHARED_URL"\n[targets.a]\nservice = "a"\n')
    with pytest.raises(ConfigError, match=r"target 'a'.*SHARED_URL.*inherited from the top level"):
        load_targets(environ={}, cwd=tmp_path)
    (a,) = load_targets(environ={"SHARED_URL": "sqlite:///s.db"}, cwd=tmp_path)
    assert a.settings.get("database_url") == "sqlite:///s.db"


def test_migrata_env_vars_apply_to_every_target_but_not_per_database_ones(
    tmp_path: Path,
) -> None:
    write(tmp_path, "pyproject.toml", PYPROJECT)
    env = {
        **ENV,
        "MIGRATA_LOCK_TIMEOUT": "3",
        "MIGRATA_REQUIRE_LOCK": "yes",
        # These name one database: a target names its own.
        "MIGRATA_DATABASE_URL": "sqlite:///wrong.db",
        "MIGRATA_DIR": "wrong",
        "MIGRATA_SERVICE": "wrong",
    }
    main, events = load_targets(environ=env, cwd=tmp_path)
    for target in (main, events):
        assert target.settings.get("lock_timeout") == 3.0
        assert target.settings.get("require_lock") is True
        assert target.settings.get("service") == "default"
    assert main.settings.get("database_url") == PG
    assert main.settings.get("directory").endswith("migrations/postgres")


def test_flags_win_and_an_overridden_env_value_need_not_be_set(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", PYPROJECT)
    flags = {"database_url": "sqlite:///flag.db", "dir": "flagdir", "lock_timeout": 1.5}
    (events,) = load_targets(flags, names=["events"], environ={}, cwd=tmp_path)
    assert events.settings.get("database_url") == "sqlite:///flag.db"
    assert events.settings.get("directory") == "flagdir"  # a flag is relative to the current folder
    assert events.settings.get("lock_timeout") == 1.5


def test_a_per_database_flag_needs_exactly_one_target(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", PYPROJECT)
    with pytest.raises(ConfigError) as info:
        load_targets({"database_url": "sqlite:///x.db"}, environ=ENV, cwd=tmp_path)
    message = str(info.value)
    assert "pick one with --target NAME (declared: main, events)" in message
    # A flag that is not per database applies to all.
    both = load_targets({"table": "t", "database_url": None}, environ=ENV, cwd=tmp_path)
    assert [t.settings.get("table") for t in both] == ["t", "t"]


# -- relative paths ---------------------------------------------------------------------------


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    absolute = tmp_path / "abs"
    write(
        project,
        "deploy.toml",
        'dir = "shared"\n'
        '[targets.a]\nurl = "sqlite:///a.db"\nsession_sql_file = "sql/session.sql"\n'
        f'[targets.b]\nurl = "sqlite:///b.db"\ndir = "{absolute}"\n'
        '[targets.c]\nurl = "sqlite:///c.db"\ndir = "env:C_DIR"\n',
    )
    a, b, c = load_targets(config_path=project / "deploy.toml", environ={"C_DIR": "from-env"})
    assert a.settings.get("directory") == str(
        project / "shared"
    )  # inherited, still from the file's folder
    assert a.settings.get("session_sql_file") == str(project / "sql/session.sql")
    assert b.settings.get("directory") == str(absolute)
    assert c.settings.get("directory") == str(project / "from-env")


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "text", "section"),
    [
        (
            "pyproject.toml",
            '[tool.migrata.targets.main]\nurl = "sqlite:///a.db"\ncolour = "red"\n',
            "[tool.migrata.targets.main]",
        ),
        ("migrata.toml", '[targets.main]\nurl = "sqlite:///a.db"\ncolour = "red"\n', None),
    ],
)
def test_unknown_key_names_file_target_key_and_the_known_keys(
    tmp_path: Path, file: str, text: str, section: str | None
) -> None:
    write(tmp_path, file, text)
    with pytest.raises(ConfigError) as info:
        target_names(cwd=tmp_path)
    message = str(info.value)
    assert str(tmp_path / file) in message
    assert "target 'main'" in message and "'colour'" in message
    assert (
        "known keys: allow_out_of_order, cluster, connect_timeout, create_database, database_url"
        in message
    )
    assert "url" in message.split("known keys:")[1]
    assert (section or "[targets.main]") in message


def test_unknown_key_in_an_unused_target_is_still_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        "migrata.toml",
        '[targets.a]\nurl = "sqlite:///a.db"\n[targets.b]\nurl = "sqlite:///b.db"\nurll = "x"\n',
    )
    with pytest.raises(ConfigError, match="target 'b'.*'urll'"):
        load_targets(names=["a"], environ={}, cwd=tmp_path)


def test_unknown_top_level_key_with_targets_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, "migrata.toml", 'colour = "red"\n[targets.a]\nurl = "sqlite:///a.db"\n')
    with pytest.raises(ConfigError, match=r"migrata.toml: unknown setting 'colour'"):
        load_targets(environ={}, cwd=tmp_path)


@pytest.mark.parametrize(
    ("file", "text", "section"),
    [
        ("pyproject.toml", '[tool.migrata.targets.events]\ndir = "e"\n', "tool.migrata."),
        ("migrata.toml", '[targets.events]\ndir = "e"\n', ""),
    ],
)
def test_target_without_url_says_which_and_how_to_set_it(
    tmp_path: Path, file: str, text: str, section: str
) -> None:
    write(tmp_path, file, text)
    with pytest.raises(ConfigError) as info:
        load_targets(environ={}, cwd=tmp_path)
    message = str(info.value)
    assert file in message and "target 'events' has no url" in message
    assert f'set url = "env:NAME" in [{section}targets.events]' in message


def test_unknown_target_name_lists_the_declared_ones(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", PYPROJECT)
    with pytest.raises(ConfigError) as info:
        load_targets(names=["main", "nope"], environ=ENV, cwd=tmp_path)
    assert "no target named 'nope'; declared: main, events" in str(info.value)
    assert "pyproject.toml" in str(info.value)


def test_names_without_declared_targets_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "migrata.toml", "dir = 'x'\n")
    with pytest.raises(ConfigError, match="no targets are declared.*--target main"):
        load_targets(names=["main"], environ={}, cwd=tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("targets = 1\n", "`targets` must hold one table per target"),
        ("[targets]\nmain = 'sqlite:///a.db'\n", "`targets` must hold one table per target"),
        ('[targets."a b"]\nurl = "sqlite:///a.db"\n', "target name 'a b' is not usable"),
        ('[targets."a,b"]\nurl = "sqlite:///a.db"\n', "target name 'a,b' is not usable"),
        (
            '[targets.a]\nurl = "sqlite:///a.db"\ndatabase_url = "sqlite:///b.db"\n',
            "target 'a' ([targets.a]) sets database_url twice (url and database_url)",
        ),
        (
            '[targets.a]\nurl = "sqlite:///a.db"\nlock_timeout = "soon"\n',
            "lock_timeout must be a number of seconds, got 'soon'",
        ),
        (
            '[targets.a]\nurl = "sqlite:///a.db"\nrequire_lock = "maybe"\n',
            "require_lock must be true or false, got 'maybe'",
        ),
        ('[targets.a]\nurl = "sqlite:///a.db"\ndir = 5\n', "directory must be a string, got 5"),
        (
            '[targets.a]\nurl = "sqlite:///a.db"\ndir = ["x"]\n',
            "target 'a' ([targets.a]): dir must be a string, number or boolean, not a list",
        ),
    ],
)
def test_malformed_targets_name_the_file_and_target(
    tmp_path: Path, text: str, expected: str
) -> None:
    write(tmp_path, "migrata.toml", text)
    with pytest.raises(ConfigError) as info:
        load_targets(environ={}, cwd=tmp_path)
    message = str(info.value)
    assert expected in message
    assert "migrata.toml" in message


def test_wrong_type_names_the_target(tmp_path: Path) -> None:
    write(tmp_path, "migrata.toml", '[targets.a]\nurl = "sqlite:///a.db"\nlock_timeout = -1\n')
    with pytest.raises(ConfigError, match=r"\(from .*migrata.toml, target 'a'\)"):
        load_targets(environ={}, cwd=tmp_path)


def test_env_value_of_wrong_type_is_checked_when_used(tmp_path: Path) -> None:
    write(
        tmp_path,
        "migrata.toml",
        '[targets.a]\nurl = "sqlite:///a.db"\nlock_timeout = "env:A_TIMEOUT"\n'
        '[targets.b]\nurl = "sqlite:///b.db"\n',
    )
    assert load_targets(names=["b"], environ={"A_TIMEOUT": "x"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="lock_timeout must be a number.*target 'a'"):
        load_targets(environ={"A_TIMEOUT": "x"}, cwd=tmp_path)


def test_no_error_message_carries_a_password(tmp_path: Path) -> None:
    cases = [
        f'[targets.a]\nurl = "{PG}"\ncolour = 1\n',
        f'[targets.a]\nurl = "{PG}"\ndatabase_url = "{PG}"\n',
        f'[targets.a]\nurl = "{PG}"\nlock_timeout = "soon"\n[targets.b]\ndir = "b"\n',
        f'[targets.a]\nurl = "{PG}"\nlock_timeout = "soon"\n',
        f'url = "{PG}"\n[targets.a]\ndir = ["x"]\n',
        f'[targets.a]\nurl = "{PG}"\nsession_sql_file = "env:NOPE"\n',
    ]
    for text in cases:
        write(tmp_path, "migrata.toml", text)
        with pytest.raises(ConfigError) as info:
            load_targets(environ={}, cwd=tmp_path)
        assert SECRET not in str(info.value), text
    write(tmp_path, "migrata.toml", f'[targets.a]\nurl = "{PG}"\n[targets.b]\nurl = "{PG}"\n')
    with pytest.raises(ConfigError) as info:
        load_targets({"database_url": PG}, environ={}, cwd=tmp_path)
    assert SECRET not in str(info.value)
    target = load_targets(names=["a"], environ={}, cwd=tmp_path)[0]
    assert target.database == "postgresql://app:***@db.internal/app"
    assert SECRET not in repr(target.database)


# -- settings of one database: the new fields --------------------------------------------------


def test_new_settings_from_flags_env_and_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "migrata.toml",
        "url = 'sqlite:///x.db'\nrequire_lock = true\ncluster = 'file'\nhistory_engine = 'Log'\n",
    )
    from_file = load_settings({}, environ={}, cwd=tmp_path)
    assert (
        from_file.get("require_lock"),
        from_file.get("cluster"),
        from_file.get("history_engine"),
    ) == (
        True,
        "file",
        "Log",
    )
    env = {
        "MIGRATA_REQUIRE_LOCK": "0",
        "MIGRATA_CLUSTER": "env",
        "MIGRATA_HISTORY_ENGINE": "MergeTree",
    }
    from_env = load_settings({}, environ=env, cwd=tmp_path)
    assert (
        from_env.get("require_lock"),
        from_env.get("cluster"),
        from_env.get("history_engine"),
    ) == (
        False,
        "env",
        "MergeTree",
    )
    flags = {"require_lock": True, "cluster": "flag", "history_engine": None}
    from_flags = load_settings(flags, environ=env, cwd=tmp_path)
    assert (from_flags.get("require_lock"), from_flags.get("cluster")) == (True, "flag")
    assert from_flags.history.history_engine == "MergeTree"
    assert from_flags.connect.database_url == "sqlite:///x.db"
    assert from_flags.source.directory == "migrations"
    assert Settings().run.require_lock is False


def test_a_migrator_without_url_is_the_usual_error() -> None:
    with pytest.raises(ConfigError, match="no database URL"):
        Migrator(Settings()).applied()


# -- the run loop -----------------------------------------------------------------------------


def _targets(*names: str) -> tuple[Target, ...]:
    return tuple(
        Target(n, Settings.of(database_url=f"postgresql://u:{SECRET}@h/{n}")) for n in names
    )


def _report(count: int) -> RunReport:
    steps = tuple(
        StepResult(f"000{i}", "x", Direction.UP, 1.0, 1, True) for i in range(1, count + 1)
    )
    return RunReport(Direction.UP, steps)


def test_run_targets_stops_at_the_first_failure() -> None:
    calls: list[str] = []

    def run(target: Target) -> RunReport:
        calls.append(target.name)
        if target.name == "b":
            raise LockTimeout(1, None)
        return _report(2)

    outcomes = run_targets(_targets("a", "b", "c"), run)
    assert calls == ["a", "b"]
    assert [o.state for o in outcomes] == ["ok", "failed", "not_run"]
    assert [o.exit_code for o in outcomes] == [0, ExitCode.LOCK_TIMEOUT, 0]
    assert outcomes[0].database == "postgresql://u:***@h/a"
    error = outcomes[1].error
    assert isinstance(error, LockTimeout)
    assert outcomes[1].name == "b"
    assert not getattr(error, "__notes__", None)  # the error is recorded as it was raised
    failure = TargetsFailed(outcomes)
    assert failure.exit_code == ExitCode.LOCK_TIMEOUT
    assert failure.failed == ("b",)
    text = str(failure)
    assert text.startswith("target b failed: could not take the migration lock")
    assert text.endswith("targets: a applied 2 migration(s), b failed, c not run")
    assert SECRET not in text


def test_run_targets_keep_going_runs_every_target() -> None:
    def run(target: Target) -> RunReport:
        if target.name in {"b", "d"}:
            raise ValidationFailed([]) if target.name == "b" else LockTimeout(1, None)
        return _report(0)

    outcomes = run_targets(_targets("a", "b", "c", "d"), run, keep_going=True)
    assert [o.state for o in outcomes] == ["ok", "failed", "ok", "failed"]
    failure = TargetsFailed(outcomes)
    assert failure.exit_code == ExitCode.VALIDATION
    text = str(failure)
    assert text.startswith("2 of 4 targets failed:\n- target b: 0 problem(s)")
    assert "\n- target d: could not take the migration lock" in text
    assert text.endswith("targets: a up to date, b failed, c up to date, d failed")


def test_run_targets_lets_bugs_through() -> None:
    def run(target: Target) -> None:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        run_targets(_targets("a"), run)


def test_worst_exit_code_order() -> None:
    assert worst_exit_code([]) == 0
    assert worst_exit_code([0, 5]) == 5
    assert worst_exit_code([5, 3]) == 3
    assert worst_exit_code([4, 2]) == 2
    assert worst_exit_code([3, 2, 4, 1, 5]) == 1


def test_targets_failed_is_a_migrata_error() -> None:
    outcomes: Any = run_targets(
        _targets("a"), lambda t: (_ for _ in ()).throw(MigrataError("boom"))
    )
    failure = TargetsFailed(outcomes)
    assert isinstance(failure, MigrataError)
    assert failure.outcomes == outcomes
    assert failure.exit_code == ExitCode.MIGRATION_FAILED
