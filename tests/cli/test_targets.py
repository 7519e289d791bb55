"""Several databases in one run: ``migrata up``/``status``/``validate``/``plan`` over the
targets of the config file, on PostgreSQL and SQLite, and ``migrata.migrate(config=...)``."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import (  # noqa: F401 - fixtures are found by name
    clean_cli_state,
    run_cli,
    with_password,
)

import migrata
from conftest import Database, write_migrations
from migrata.errors import ConfigError, MigrationFailed
from migrata.targets import TargetsFailed

PG_FILES = {
    "0001_users.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY);\n",
    "0002_posts.sql": "CREATE TABLE posts (id INTEGER PRIMARY KEY);\n",
}
LITE_FILES = {"0001_events.sql": "CREATE TABLE events (id INTEGER PRIMARY KEY);\n"}
BAD_FILES = {
    "0001_ok.sql": "CREATE TABLE ok (id INTEGER);\n",
    "0002_broken.sql": "-- the second statement fails\nSELECT * FROM no_such_table;\n",
}
THIRD_FILES = {"0001_third.sql": "CREATE TABLE third (id INTEGER);\n"}

SENTINEL = "Targets-Pw-6620"


@pytest.fixture(autouse=True)
def no_target_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("MIGRATA_TARGET", "PG_URL_FOR_TEST"):
        monkeypatch.delenv(variable, raising=False)


def write_pyproject(targets: dict[str, dict[str, str]], *, top: str = "") -> Path:
    """``pyproject.toml`` in the current folder with ``[tool.migrata.targets.NAME]`` tables."""
    lines = ["[project]", 'name = "app"', "", "[tool.migrata]", top]
    for name, keys in targets.items():
        lines.append(f"[tool.migrata.targets.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    path = Path("pyproject.toml")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sqlite_url(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}"


@pytest.fixture
def two(
    tmp_path: Path, postgres_db: Database, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> tuple[Database, Database]:
    """Targets ``main`` (PostgreSQL, its URL from an env: variable) and ``lite`` (SQLite)."""
    write_migrations(Path("migrations/pg"), PG_FILES)
    write_migrations(Path("migrations/lite"), LITE_FILES)
    monkeypatch.setenv("PG_URL_FOR_TEST", postgres_db.url)
    write_pyproject(
        {
            "main": {"url": "env:PG_URL_FOR_TEST", "dir": "migrations/pg"},
            "lite": {"url": sqlite_db.url, "dir": "migrations/lite"},
        }
    )
    return postgres_db, sqlite_db


@pytest.fixture
def three(
    tmp_path: Path, postgres_db: Database, monkeypatch: pytest.MonkeyPatch
) -> tuple[Database, Database, Database]:
    """``main`` (PostgreSQL, fine), ``bad`` (SQLite, its 0002 fails), ``third`` (SQLite)."""
    write_migrations(Path("migrations/pg"), PG_FILES)
    write_migrations(Path("migrations/bad"), BAD_FILES)
    write_migrations(Path("migrations/third"), THIRD_FILES)
    monkeypatch.setenv("PG_URL_FOR_TEST", postgres_db.url)
    bad = Database("sqlite", sqlite_url(tmp_path, "bad.db"))
    third = Database("sqlite", sqlite_url(tmp_path, "third.db"))
    write_pyproject(
        {
            "main": {"url": "env:PG_URL_FOR_TEST", "dir": "migrations/pg"},
            "bad": {"url": bad.url, "dir": "migrations/bad"},
            "third": {"url": third.url, "dir": "migrations/third"},
        }
    )
    return postgres_db, bad, third


# -- up ---------------------------------------------------------------------------------------


def test_one_up_migrates_every_target_in_order(run_cli, two) -> None:
    pg, lite = two
    result = run_cli("up")
    assert result.code == 0, result.output
    main_at = result.out.index(f"== target main ({pg.url})")
    lite_at = result.out.index(f"== target lite ({lite.url})")
    assert main_at < lite_at
    assert "applied 0001_users" in result.out[main_at:lite_at]
    assert "applied 0001_events" in result.out[lite_at:]
    assert pg.table_exists("users") and pg.table_exists("posts")
    assert lite.table_exists("events") and not lite.table_exists("users")
    again = run_cli("up")
    assert again.code == 0
    assert again.out.count("nothing to apply") == 2


def test_failure_in_the_second_target_leaves_the_first_applied(run_cli, three) -> None:
    pg, bad, third = three
    result = run_cli("up")
    assert result.code == 1, result.output
    assert "== target third" not in result.out
    err = result.err
    assert "target bad failed: " in err
    assert "migrations/bad/0002_broken.sql:2:" in err
    assert "no_such_table" in err
    assert (
        "targets: main applied 2 migration(s), bad failed (after applying 0001), third not run"
        in err
    )
    assert pg.table_exists("users") and pg.table_exists("posts")
    assert bad.table_exists("ok")  # 0001 of the failing target stays applied
    # Never opened (checking a table would create the file).
    assert not Path(third.url.split("sqlite:///", 1)[1]).exists()


def test_keep_going_runs_the_third_target_after_the_second_fails(run_cli, three) -> None:
    pg, _bad, third = three
    result = run_cli("up", "--keep-going")
    assert result.code == 1, result.output
    assert "== target third" in result.out
    assert "failed: " in result.out  # the failing target's section says so at once
    assert third.table_exists("third") and pg.table_exists("users")
    assert result.err.rstrip().endswith(
        "targets: main applied 2 migration(s), bad failed (after applying 0001), "
        "third applied 1 migration(s)"
    )


def test_keep_going_exit_code_is_the_worst(run_cli, three) -> None:
    # Edit an applied file of main: validation (3) there, a failed migration (1) in bad.
    run_cli("--target", "main", "up")
    Path("migrations/pg/0001_users.sql").write_text("CREATE TABLE users (id BIGINT);\n")
    result = run_cli("up", "--keep-going")
    assert result.code == 1, result.output
    assert "2 of 3 targets failed:" in result.err
    assert "- target main: 1 problem(s)" in result.err


def test_up_json_over_targets(run_cli, three) -> None:
    result = run_cli("up", "--json")
    assert result.code == 1
    targets = json.loads(result.out)["targets"]
    assert [(t["name"], t["state"]) for t in targets] == [
        ("main", "ok"),
        ("bad", "failed"),
        ("third", "not_run"),
    ]
    assert [s["version"] for s in targets[0]["report"]["steps"]] == ["0001", "0002"]
    assert targets[1]["report"] is None and "0002_broken.sql:2:" in targets[1]["error"]
    assert targets[0]["error"] is None


# -- selecting targets ------------------------------------------------------------------------


def test_target_picks_one_even_when_another_targets_variable_is_unset(
    run_cli, two, monkeypatch
) -> None:
    pg, lite = two
    monkeypatch.delenv("PG_URL_FOR_TEST")
    everything = run_cli("up")
    assert everything.code == 2
    assert "target 'main'" in everything.err and "PG_URL_FOR_TEST" in everything.err
    assert not lite.table_exists("events")  # a config error stops the run before any target
    result = run_cli("--target", "lite", "up")
    assert result.code == 0, result.output
    assert "== target lite" in result.out and "== target main" not in result.out
    assert lite.table_exists("events") and not pg.table_exists("users")


def test_target_from_the_environment_and_comma_separated(run_cli, two, monkeypatch) -> None:
    pg, lite = two
    monkeypatch.setenv("MIGRATA_TARGET", "lite")
    result = run_cli("up")
    assert result.code == 0 and "== target main" not in result.out
    assert lite.table_exists("events") and not pg.table_exists("users")
    both = run_cli("--target", "lite,main", "status")
    assert both.code == 0
    assert both.out.index("== target main") < both.out.index("== target lite")


def test_unknown_target_is_a_usage_error_listing_the_declared_ones(run_cli, two) -> None:
    result = run_cli("--target", "nope", "status")
    assert result.code == 2
    assert "no target named 'nope'; declared: main, lite" in result.err


def test_target_without_declared_targets_is_a_usage_error(run_cli, sqlite_db) -> None:
    result = run_cli("-u", sqlite_db.url, "--target", "main", "status")
    assert result.code == 2 and "no targets are declared" in result.err


def test_database_url_flag_needs_exactly_one_target(run_cli, two, tmp_path) -> None:
    pg, lite = two
    other = Database("sqlite", sqlite_url(tmp_path, "other.db"))
    refused = run_cli("-u", other.url, "up")
    assert refused.code == 2
    assert "-u/--database-url" in refused.err
    assert "pick one with --target NAME (declared: main, lite)" in refused.err
    assert not pg.table_exists("users")
    result = run_cli("--target", "lite", "-u", other.url, "up")
    assert result.code == 0, result.output
    assert f"== target lite ({other.url})" in result.out
    assert other.table_exists("events") and not lite.table_exists("events")


SINGLE = [
    ["down"],
    ["redo"],
    ["resolve", "0001", "--applied"],
    ["mark-applied", "0001"],
    ["unmark", "0001"],
    ["new", "more"],
    ["adopt"],
    ["baseline", "--version", "0001"],
    ["history"],
    ["up", "--to", "0001"],
]


@pytest.mark.parametrize("command", SINGLE, ids=lambda c: " ".join(c))
def test_commands_on_one_version_need_one_target(run_cli, tmp_path, command) -> None:
    write_migrations(Path("a"), LITE_FILES)
    write_migrations(Path("b"), THIRD_FILES)
    write_pyproject(
        {
            "main": {"url": sqlite_url(tmp_path, "a.db"), "dir": "a"},
            "events": {"url": sqlite_url(tmp_path, "b.db"), "dir": "b"},
        }
    )
    result = run_cli(*command)
    assert result.code == 2, result.output
    assert "pick one with --target NAME (declared: main, events)" in result.err
    assert not (tmp_path / "a.db").exists() and not (tmp_path / "b.db").exists()


def test_commands_on_one_version_run_on_the_picked_target(run_cli, tmp_path) -> None:
    write_migrations(Path("a"), {"0001_a.up.sql": "CREATE TABLE a (id INTEGER);\n"})
    write_migrations(Path("a"), {"0001_a.down.sql": "DROP TABLE a;\n"})
    write_migrations(Path("b"), THIRD_FILES)
    a = Database("sqlite", sqlite_url(tmp_path, "a.db"))
    write_pyproject(
        {
            "main": {"url": a.url, "dir": "a"},
            "events": {"url": sqlite_url(tmp_path, "b.db"), "dir": "b"},
        }
    )
    assert run_cli("up").code == 0
    down = run_cli("--target", "main", "down")
    assert down.code == 0, down.output
    assert not a.table_exists("a")
    created = run_cli("--target", "events", "new", "more")
    assert created.code == 0 and "b/0002_more.sql" in created.out
    history = run_cli("--target", "main", "history", "--json")
    assert [e["event"] for e in json.loads(history.out)] == ["applied", "reverted"]


def test_a_single_declared_target_needs_no_target_flag(run_cli, tmp_path) -> None:
    write_migrations(Path("a"), LITE_FILES)
    write_pyproject({"only": {"url": sqlite_url(tmp_path, "a.db"), "dir": "a"}})
    assert run_cli("up").code == 0
    result = run_cli("mark-applied", "0001")
    assert result.code == 3  # it is applied already: the command ran on the only target
    assert "already applied" in result.err


# -- status, validate, plan -------------------------------------------------------------------


def test_status_text_and_json_over_targets(run_cli, two) -> None:
    pg, lite = two
    assert run_cli("--target", "main", "up").code == 0
    text = run_cli("status")
    assert text.code == 0, text.output
    assert f"== target main ({pg.url}): current 0002, 0 pending" in text.out
    assert f"== target lite ({lite.url}): current none, 1 pending" in text.out
    assert f"database: {lite.url}" in text.out
    assert "0001  pending  events" in text.out
    pending = run_cli("status", "--exit-code")
    assert pending.code == 5
    document = json.loads(run_cli("status", "--json").out)
    main, second = document["targets"]
    assert (main["name"], main["database"], main["service"]) == ("main", pg.url, "default")
    assert main["current_version"] == "0002" and main["counts"]["applied"] == 2
    assert second["name"] == "lite" and second["current_version"] is None
    assert [m["state"] for m in second["migrations"]] == ["pending"]
    assert main["state"] == "ok" and main["error"] is None
    assert run_cli("up").code == 0
    assert run_cli("status", "--exit-code").code == 0


def test_status_exit_code_is_the_worst_over_targets(run_cli, two) -> None:
    assert run_cli("up").code == 0
    Path("migrations/pg/0001_users.sql").write_text("CREATE TABLE users (id BIGINT);\n")
    Path("migrations/lite/0002_more.sql").write_text("CREATE TABLE more (id INTEGER);\n")
    result = run_cli("status", "--exit-code")
    assert result.code == 3
    assert "== target main" in result.out and "1 problem(s)" in result.out


def test_status_goes_on_after_a_target_that_cannot_be_read(run_cli, two, tmp_path) -> None:
    _pg, lite = two
    write_pyproject(
        {
            "gone": {"url": "postgresql://nobody@127.0.0.1:1/none", "dir": "migrations/pg"},
            "lite": {"url": lite.url, "dir": "migrations/lite"},
        }
    )
    result = run_cli("status")
    assert result.code == 2
    assert "== target gone (postgresql://nobody@127.0.0.1:1/none): failed" in result.out
    assert "== target lite" in result.out and "1 pending" in result.out
    assert "target gone failed: " in result.err and "lite ok" in result.err


def test_validate_and_plan_over_targets(run_cli, two) -> None:
    assert run_cli("--target", "main", "up").code == 0
    valid = run_cli("validate")
    assert valid.code == 0, valid.output
    assert valid.out.count("== target") == 2 and valid.out.count("\nvalid\n") == 2
    document = json.loads(run_cli("validate", "--json").out)
    assert [(t["name"], t["pending"]) for t in document["targets"]] == [
        ("main", []),
        ("lite", ["0001"]),
    ]
    plan = run_cli("plan")
    assert plan.code == 0, plan.output
    assert "-- == target main" in plan.out and "-- nothing to apply" in plan.out
    assert "-- == target lite" in plan.out and "CREATE TABLE events" in plan.out
    steps = json.loads(run_cli("plan", "--json").out)["targets"]
    assert [len(t["steps"]) for t in steps] == [0, 1]
    Path("migrations/pg/0001_users.sql").write_text("CREATE TABLE users (id BIGINT);\n")
    assert run_cli("validate").code == 3
    drifted = run_cli("plan")
    assert drifted.code == 3 and "CREATE TABLE events" in drifted.out
    assert "target main failed" in drifted.err


# -- services sharing one database ------------------------------------------------------------


def test_two_services_share_one_sqlite_database(run_cli, sqlite_db) -> None:
    write_migrations(
        Path("billing"),
        {f"000{i}_billing{i}.sql": f"CREATE TABLE billing{i} (id INTEGER);\n" for i in (1, 2, 3)},
    )
    write_migrations(
        Path("auth"),
        {f"000{i}_auth{i}.sql": f"CREATE TABLE auth{i} (id INTEGER);\n" for i in (1, 2)},
    )
    write_pyproject(
        {
            "billing": {"service": "billing", "dir": "billing"},
            "auth": {"service": "auth", "dir": "auth"},
        },
        top=f'url = "{sqlite_db.url}"\n',
    )
    result = run_cli("up")
    assert result.code == 0, result.output
    assert f"== target billing ({sqlite_db.url}, service billing)" in result.out
    for table in ("billing1", "billing3", "auth1", "auth2"):
        assert sqlite_db.table_exists(table)
    write_migrations(
        Path("billing"),
        {"0004_more.sql": "CREATE TABLE b4 (id INTEGER);\n", "0005_x.sql": "SELECT 1;\n"},
    )
    status = run_cli("status")
    assert status.code == 0, status.output
    assert "== target billing (service billing): current 0003, 2 pending" in status.out
    assert "== target auth (service auth): current 0002, 0 pending" in status.out
    document = json.loads(run_cli("status", "--json").out)
    versions = {
        t["service"]: [(m["version"], m["name"], m["state"]) for m in t["migrations"]]
        for t in document["targets"]
    }
    assert versions["auth"] == [("0001", "auth1", "applied"), ("0002", "auth2", "applied")]
    assert [v[2] for v in versions["billing"]] == ["applied"] * 3 + ["pending"] * 2
    # The services keep their own versions: reverting one leaves the other alone.
    Path("auth/0002_auth2.down.sql").write_text("DROP TABLE auth2;\n")
    Path("auth/0002_auth2.sql").rename("auth/0002_auth2.up.sql")
    assert run_cli("--target", "auth", "down").code == 0
    assert not sqlite_db.table_exists("auth2") and sqlite_db.table_exists("billing3")
    assert "== target billing (service billing): current 0003" in run_cli("status").out


# -- redaction --------------------------------------------------------------------------------


def test_headers_and_errors_never_show_the_password(run_cli, postgres_db, tmp_path) -> None:
    url = with_password(postgres_db.url, SENTINEL)
    write_migrations(Path("pg"), {"0001_bad.sql": "SELECT * FROM no_such_table;\n"})
    write_pyproject({"main": {"url": url, "dir": "pg"}})
    for args in (["up"], ["status"], ["status", "--json"], ["up", "--json"], ["validate"]):
        result = run_cli(*args)
        assert SENTINEL not in result.output, args
    assert "== target main (postgresql://postgres:***@" in run_cli("up").out


# -- the library ------------------------------------------------------------------------------


def test_migrate_with_config_runs_every_target(two, tmp_path) -> None:
    pg, lite = two
    reports = migrata.migrate(config="pyproject.toml")
    assert isinstance(reports, dict)
    assert list(reports) == ["main", "lite"]
    assert reports["main"].versions == ("0001", "0002")
    assert reports["lite"].versions == ("0001",)
    assert pg.table_exists("users") and lite.table_exists("events")
    again = migrata.migrate(config=Path("pyproject.toml").resolve(), targets=["lite"])
    assert isinstance(again, dict) and again["lite"].steps == ()


def test_migrate_with_config_raises_the_first_failure(three) -> None:
    _pg, _bad, third = three
    with pytest.raises(MigrationFailed) as info:
        migrata.migrate(config="pyproject.toml")
    assert "0002_broken.sql:2:" in str(info.value)
    assert "target: bad" in info.value.__notes__
    assert not third.table_exists("third")


def test_migrate_with_config_keep_going_raises_targets_failed(three) -> None:
    pg, _bad, third = three
    with pytest.raises(TargetsFailed) as info:
        migrata.migrate(config="pyproject.toml", keep_going=True)
    failure = info.value
    assert failure.failed == ("bad",) and failure.exit_code == 1
    assert [(o.name, o.state) for o in failure.outcomes] == [
        ("main", "ok"),
        ("bad", "failed"),
        ("third", "ok"),
    ]
    assert isinstance(failure.outcomes[1].error, MigrationFailed)
    assert third.table_exists("third") and pg.table_exists("posts")


def test_migrate_with_a_config_without_targets_and_bad_arguments(tmp_path, sqlite_db) -> None:
    write_migrations(Path("sql"), LITE_FILES)
    Path("migrata.toml").write_text(f"url = '{sqlite_db.url}'\ndir = 'sql'\n")
    reports = migrata.migrate(config="migrata.toml")
    assert isinstance(reports, dict) and reports["default"].versions == ("0001",)
    with pytest.raises(ConfigError, match="not both"):
        migrata.migrate(sqlite_db.url, config="migrata.toml")
    with pytest.raises(ConfigError, match="no targets are declared"):
        migrata.migrate(config="migrata.toml", targets=["main"])


def test_migrate_with_config_is_disabled_like_the_rest(two, monkeypatch) -> None:
    pg, _lite = two
    monkeypatch.setenv("MIGRATA_DISABLE", "1")
    assert migrata.migrate(config="pyproject.toml") is None
    assert not pg.table_exists("migrata_history")
