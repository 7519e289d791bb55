"""Migrations limited to environments (seed data): planning, status, validation, the seeds
folder, and the settings that choose the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrata import Migrator
from migrata.config import load_settings
from migrata.discovery import discover_migrations
from migrata.errors import ConfigError, DuplicateVersion
from migrata.models import Applied, Migration, Script, State, Timeouts, Version
from migrata.planner import compute_status, find_problems, plan_up, validate
from migrata.sqltext import checksum


def mig(version: str, environments: tuple[str, ...] | None = None) -> Migration:
    text = f"-- {version}"
    script = Script(path=f"m/{version}_x.sql", text=text, environments=environments)
    return Migration(Version.parse(version), f"m{version}", script, None, checksum(text))


def row(migration: Migration) -> Applied:
    return Applied(migration.version, migration.name, migration.checksum, None, 1, "me@here", True)


FOLDER = [mig("1"), mig("2", ("dev", "test")), mig("3"), mig("4", ("staging",))]


def states(environment: str | None, applied: list[Applied] | None = None) -> dict[str, str]:
    entries = compute_status(FOLDER, applied or [], environment=environment)
    return {e.version.text: e.state.value for e in entries}


def test_without_an_environment_limited_migrations_do_not_apply() -> None:
    assert states(None) == {
        "1": "pending",
        "2": "not-applicable",
        "3": "pending",
        "4": "not-applicable",
    }


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ("dev", {"1": "pending", "2": "pending", "3": "pending", "4": "not-applicable"}),
        ("test", {"1": "pending", "2": "pending", "3": "pending", "4": "not-applicable"}),
        ("staging", {"1": "pending", "2": "not-applicable", "3": "pending", "4": "pending"}),
        ("production", {"1": "pending", "2": "not-applicable", "3": "pending", "4": "n/a"}),
    ],
)
def test_the_environment_decides(environment: str, expected: dict[str, str]) -> None:
    expected = {k: "not-applicable" if v == "n/a" else v for k, v in expected.items()}
    assert states(environment) == expected


def test_environment_names_compare_exactly() -> None:
    assert states("Dev")["2"] == "not-applicable"


def test_plan_up_leaves_them_out_and_reports_no_problem() -> None:
    plan = plan_up(FOLDER, [row(FOLDER[0])], environment="production")
    assert [s.version.text for s in plan.steps] == ["3"]
    assert plan.problems == ()
    dev = plan_up(FOLDER, [row(FOLDER[0])], environment="dev")
    assert [s.version.text for s in dev.steps] == ["2", "3"]


def test_a_not_applicable_migration_is_never_out_of_order() -> None:
    # Production applied 1 and 3; seed 2 sits between them but does not belong here.
    applied = [row(FOLDER[0]), row(FOLDER[2])]
    entries = compute_status(FOLDER, applied, environment="production")
    assert find_problems(entries) == ()


def test_seeds_stay_out_of_the_order_checks() -> None:
    # In dev a seed added after newer schema migrations is data: it loads, nothing is late.
    applied = [row(FOLDER[0]), row(FOLDER[2])]
    dev = compute_status(FOLDER, applied, environment="dev")
    assert find_problems(dev) == ()
    assert [s.version.text for s in plan_up(FOLDER, applied, environment="dev").steps] == ["2"]
    # A seed applied with a high version does not make a new schema migration late, in the
    # environment that applied it or in another.
    folder = [mig("1"), mig("100", ("dev",)), mig("2")]
    seeded = [row(folder[0]), row(folder[1])]
    for environment in ("dev", "production", None):
        plan = plan_up(folder, seeded, environment=environment)
        assert plan.problems == ()
        assert [s.version.text for s in plan.steps] == ["2"]
    # A schema migration older than the newest applied schema migration is still late.
    late = plan_up([mig("1"), mig("2"), mig("3")], [row(mig("1")), row(mig("3"))])
    assert [p.code for p in late.problems] == ["out-of-order"]


def test_the_history_wins_over_the_environment() -> None:
    # A seed that was applied (the database was a dev one once) shows as applied, and an
    # edit to it is still drift.
    applied = [row(FOLDER[1])]
    assert states("production", applied)["2"] == "applied"
    edited = Applied(FOLDER[1].version, "m2", "sha256-lf:other", None, 1, None, True)
    entries = compute_status(FOLDER, [edited], environment="production")
    assert [e.state for e in entries if e.version.text == "2"] == [State.CHANGED]


def test_validate_lists_them_apart() -> None:
    result = validate(FOLDER, [row(FOLDER[0])], environment="production")
    assert result.not_applicable == ("2", "4")
    assert result.pending == ("3",)
    assert result.expected == ("1", "3")
    assert result.is_valid


@settings(max_examples=60, deadline=None)
@given(
    limits=st.lists(
        st.one_of(st.none(), st.sets(st.sampled_from(["dev", "test", "prod"]), min_size=1)),
        min_size=1,
        max_size=8,
    ),
    environment=st.one_of(st.none(), st.sampled_from(["dev", "test", "prod", "other"])),
)
def test_after_applying_the_plan_nothing_applicable_is_pending(
    limits: list[set[str] | None], environment: str | None
) -> None:
    folder = [
        mig(str(i + 1), tuple(sorted(envs)) if envs is not None else None)
        for i, envs in enumerate(limits)
    ]
    plan = plan_up(folder, [], environment=environment)
    for step in plan.steps:
        assert step.migration.applies_to(environment)
    applied = [row(step.migration) for step in plan.steps]
    again = plan_up(folder, applied, environment=environment)
    assert again.steps == () and again.problems == ()
    entries = compute_status(folder, applied, environment=environment)
    for entry in entries:
        assert entry.state in {State.APPLIED, State.NOT_APPLICABLE}
        assert (entry.state is State.NOT_APPLICABLE) == (
            entry.migration is not None and not entry.migration.applies_to(environment)
        )


# -- the seeds folder -------------------------------------------------------------------------


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_seeds_join_the_migrations_limited_to_the_seed_environments(tmp_path: Path) -> None:
    main = write(tmp_path / "migrations", {"0001_a.sql": "CREATE TABLE a (x int);\n"})
    seeds = write(
        tmp_path / "seeds",
        {
            "0100_demo.sql": "INSERT INTO a VALUES (1);\n",
            "0101_qa.sql": "-- migrata: environments=qa\nINSERT INTO a VALUES (2);\n",
        },
    )
    result = discover_migrations(main, seeds=(seeds, ("dev", "test")))
    by_version = {m.version.text: m for m in result.migrations}
    assert list(by_version) == ["0001", "0100", "0101"]
    assert by_version["0001"].environments is None
    assert by_version["0100"].environments == ("dev", "test")
    assert by_version["0100"].up.path.endswith("seeds/0100_demo.sql")
    assert by_version["0101"].environments == ("qa",)  # the file's own list wins


def test_a_seed_with_a_migration_s_version_is_refused_naming_both(tmp_path: Path) -> None:
    main = write(tmp_path / "migrations", {"0001_a.sql": "SELECT 1;\n"})
    seeds = write(tmp_path / "seeds", {"1_seed.sql": "SELECT 2;\n"})
    with pytest.raises(DuplicateVersion) as info:
        discover_migrations(main, seeds=(seeds, ("dev",)))
    assert "seeds/1_seed.sql" in str(info.value)
    assert "migrations/0001_a.sql" in str(info.value)


def test_a_missing_seeds_folder_is_a_config_error(tmp_path: Path) -> None:
    main = write(tmp_path / "migrations", {"0001_a.sql": "SELECT 1;\n"})
    with pytest.raises(ConfigError, match="seeds folder"):
        discover_migrations(main, seeds=(tmp_path / "nope", ("dev",)))


# -- settings ---------------------------------------------------------------------------------


def test_environment_and_seeds_from_flags_env_and_file(tmp_path: Path) -> None:
    (tmp_path / "migrata.toml").write_text(
        'env = "staging"\nseeds = "db/seeds"\nseeds_environments = ["dev", "qa"]\n'
        'statement_timeout = "10min"\nddl_lock_timeout = 2\nddl_lock_retries = 3\n'
        'extensions = ["pgcrypto"]\ncreate_database = true\nwait = "1min"\n'
    )
    from_file = load_settings({}, environ={}, cwd=tmp_path)
    assert from_file.get("environment") == "staging"
    assert from_file.get("seeds_dir") == "db/seeds"  # the file is in the current folder
    assert from_file.get("seeds_environments") == ("dev", "qa")
    assert (
        from_file.get("statement_timeout") == 600.0 and from_file.get("migration_timeout") is None
    )
    assert from_file.get("ddl_lock_timeout") == 2.0 and from_file.get("ddl_lock_retries") == 3
    assert from_file.get("extensions") == ("pgcrypto",)
    assert from_file.get("create_database") is True and from_file.get("wait") == 60.0
    environ = {
        "MIGRATA_ENV": "production",
        "MIGRATA_SEEDS_ENVIRONMENTS": "dev, test",
        "MIGRATA_MIGRATION_TIMEOUT": "30s",
        "MIGRATA_CREATE_DATABASE": "0",
    }
    from_env = load_settings({}, environ=environ, cwd=tmp_path)
    assert from_env.get("environment") == "production"
    assert from_env.get("seeds_environments") == ("dev", "test")
    assert from_env.get("migration_timeout") == 30.0
    assert from_env.get("create_database") is False
    flagged = load_settings({"environment": "dev"}, environ=environ, cwd=tmp_path)
    assert flagged.get("environment") == "dev"
    # Named with --config, the file anchors a relative seeds folder to its own folder.
    explicit = load_settings({}, environ={}, config_path=tmp_path / "migrata.toml")
    assert explicit.get("seeds_dir") == str(tmp_path / "db/seeds")


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({}, environ={}, cwd=tmp_path)
    assert settings.get("environment") is None and settings.get("seeds_dir") is None
    assert settings.get("seeds_environments") == ("dev", "test")
    assert (settings.get("statement_timeout"), settings.get("migration_timeout")) == (None, None)
    assert (settings.get("ddl_lock_timeout"), settings.get("ddl_lock_retries")) == (5.0, 5)
    assert settings.get("wait") == 0.0 and settings.get("create_database") is False


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("MIGRATA_ENV", "prod uction", "environment must be a name"),
        ("MIGRATA_STATEMENT_TIMEOUT", "soon", "statement_timeout: not a duration"),
        ("MIGRATA_DDL_LOCK_RETRIES", "-1", "whole number"),
        ("MIGRATA_DDL_LOCK_RETRIES", "two", "whole number"),
        ("MIGRATA_WAIT", "forever", "wait: not a duration"),
        ("MIGRATA_CREATE_DATABASE", "maybe", "true or false"),
        ("MIGRATA_SEEDS_ENVIRONMENTS", "dev,no-transaction", "not an environment"),
    ],
)
def test_bad_values_are_config_errors(
    tmp_path: Path, variable: str, value: str, fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings({}, environ={variable: value}, cwd=tmp_path)


def test_settings_carry_the_deploy_settings_to_the_migrator(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "database_url": "sqlite:///x.db",
            "environment": "dev",
            "seeds_dir": "seeds",
            "statement_timeout": "1s",
            "ddl_lock_timeout": "0",
            "wait": "5",
        },
        environ={},
        cwd=tmp_path,
    )
    migrator = Migrator(settings)
    assert migrator.settings is settings or migrator.settings == settings
    assert migrator.environment == "dev"
    assert (settings.source.seeds_dir, settings.source.seeds_environments) == (
        "seeds",
        ("dev", "test"),
    )
    assert settings.timeouts == Timeouts(statement=1.0, migration=None, lock=0.0)
    assert settings.run.ddl_lock_retries == 5 and settings.connect.wait == 5.0
