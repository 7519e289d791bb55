"""``migrata baseline`` (a database with the schema but no history) and ``migrata adopt`` (a
database another tool migrated): what they record, what they refuse, and what ``up`` does next."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from cli_support import (  # noqa: F401 - fixtures are found by name
    Result,
    clean_cli_state,
    exception_texts,
    migrata_caplog,
    run_cli,
    with_password,
)

from conftest import Database, write_migrations

THREE = {
    "0001_users.up.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n",
    "0001_users.down.sql": "DROP TABLE users;\n",
    "0002_posts.up.sql": "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER);\n",
    "0002_posts.down.sql": "DROP TABLE posts;\n",
    "0003_tags.up.sql": "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT);\n",
    "0003_tags.down.sql": "DROP TABLE tags;\n",
}


def states(run_cli, db: Database, folder: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    result = run_cli("-u", db.url, "-d", folder, "status", "--json")
    assert result.code == 0, result.output
    return {m["version"]: m["state"] for m in json.loads(result.out)["migrations"]}


def audit(run_cli, db: Database, folder: Path) -> list[dict]:  # type: ignore[no-untyped-def]
    result = run_cli("-u", db.url, "-d", folder, "history", "--json")
    assert result.code == 0, result.output
    return json.loads(result.out)


def history_exists(db: Database) -> bool:
    return db.table_exists("migrata_history")


def history_rows(db: Database) -> list[str]:
    if not history_exists(db):
        return []
    return [r[0] for r in db.history("version")]


# ------------------------------------------------------------------ baseline


@pytest.fixture
def existing(db: Database, tmp_path: Path) -> tuple[Database, Path]:
    """A database that already has the schema of 0001 and 0002, but no history."""
    folder = write_migrations(tmp_path / "migrations", THREE)
    db.query("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    db.query("CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER)")
    return db, folder


def test_baseline_records_every_migration_up_to_the_version(run_cli, existing) -> None:
    db, folder = existing
    result = run_cli("-u", db.url, "-d", folder, "baseline", "--version", "0002")
    assert result.code == 0, result.output
    assert result.out.splitlines() == [
        "baseline: recorded 2 migration(s) as applied, without running them",
        "  0001_users",
        "  0002_posts",
    ]
    assert history_rows(db) == ["0001", "0002"]
    assert states(run_cli, db, folder) == {"0001": "applied", "0002": "applied", "0003": "pending"}
    events = audit(run_cli, db, folder)
    assert [(e["version"], e["event"]) for e in events] == [
        ("0001", "baseline"),
        ("0002", "baseline"),
    ]
    assert all("0002" in (e["detail"] or "") for e in events)
    # up runs only what comes after the baseline (0001 again would fail: users exists).
    up = run_cli("-u", db.url, "-d", folder, "up", "--json")
    assert up.code == 0, up.output
    assert [s["version"] for s in json.loads(up.out)["steps"]] == ["0003"]
    assert db.table_exists("tags")
    assert set(states(run_cli, db, folder).values()) == {"applied"}


def test_baseline_version_matches_by_number(run_cli, existing) -> None:
    db, folder = existing
    result = run_cli("-u", db.url, "-d", folder, "baseline", "--version", "1")
    assert result.code == 0, result.output
    assert history_rows(db) == ["0001"]
    assert states(run_cli, db, folder) == {"0001": "applied", "0002": "pending", "0003": "pending"}


def test_baseline_checksums_are_the_files_so_nothing_drifts(run_cli, existing) -> None:
    db, folder = existing
    assert run_cli("-u", db.url, "-d", folder, "baseline", "--version", "0003").code == 0
    validate = run_cli("-u", db.url, "-d", folder, "validate", "--json")
    assert validate.code == 0, validate.output
    assert json.loads(validate.out)["is_valid"] is True
    up = run_cli("-u", db.url, "-d", folder, "up")
    assert up.code == 0
    assert "up to date" in up.out
    assert not db.table_exists("tags")  # recorded, never run


def test_baseline_dry_run_records_nothing(run_cli, existing) -> None:
    db, folder = existing
    result = run_cli("-u", db.url, "-d", folder, "baseline", "--version", "0002", "--dry-run")
    assert result.code == 0, result.output
    assert result.out.splitlines()[0] == (
        "baseline: would record 2 migration(s) as applied, without running them"
    )
    assert "0001_users" in result.out and "0002_posts" in result.out
    assert not history_exists(db)
    assert states(run_cli, db, folder) == {"0001": "pending", "0002": "pending", "0003": "pending"}


def test_baseline_is_refused_when_the_history_has_rows(run_cli, db: Database, tmp_path) -> None:
    folder = write_migrations(tmp_path / "migrations", THREE)
    assert run_cli("-u", db.url, "-d", folder, "up", "--to", "0001").code == 0
    for extra in ((), ("--dry-run",)):
        result = run_cli("-u", db.url, "-d", folder, "baseline", "--version", "0002", *extra)
        assert result.code == 3, result.output
        assert "already has 1 migration(s)" in result.err
        assert "mark-applied" in result.err
    assert history_rows(db) == ["0001"]
    # Where DDL commits implicitly (MySQL/MariaDB; ClickHouse has no transactions at all)
    # 0001 ran statement by statement: "started" first. Nothing after it: the refused
    # baselines recorded nothing.
    started = [] if db.transactional_ddl else ["started"]
    assert [e["event"] for e in audit(run_cli, db, folder)] == [*started, "applied"]


def test_baseline_twice_is_refused(run_cli, existing) -> None:
    db, folder = existing
    assert run_cli("-u", db.url, "-d", folder, "baseline", "--version", "0001").code == 0
    again = run_cli("-u", db.url, "-d", folder, "baseline", "--version", "0002")
    assert again.code == 3, again.output
    assert history_rows(db) == ["0001"]


@pytest.mark.parametrize("version", ["0042", "7", "not-a-version"])
def test_baseline_to_an_unknown_version_exits_3_and_records_nothing(
    run_cli, existing, version: str
) -> None:
    db, folder = existing
    result = run_cli("-u", db.url, "-d", folder, "baseline", "--version", version)
    assert result.code == 3, result.output
    assert version in result.err
    assert not history_exists(db)


def test_baseline_needs_a_version(run_cli, existing) -> None:
    db, folder = existing
    result = run_cli("-u", db.url, "-d", folder, "baseline")
    assert result.code == 2
    assert "--version" in result.err
    assert not history_exists(db)


FLYWAY = {
    "V1__users.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n",
    "V2__posts.sql": "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER);\n",
    "V3__tags.sql": "CREATE TABLE tags (id INTEGER PRIMARY KEY);\n",
    "R__user_names.sql": "DROP VIEW IF EXISTS user_names;\nCREATE VIEW user_names AS "
    "SELECT name FROM users;\n",
}


def test_baseline_leaves_repeatables_to_up(run_cli, db: Database, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "migrations", FLYWAY)
    db.query("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    db.query("CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER)")
    result = run_cli("-u", db.url, "-d", folder, "baseline", "--version", "2")
    assert result.code == 0, result.output
    assert history_rows(db) == ["1", "2"]
    refused = run_cli("-u", db.url, "-d", folder, "baseline", "--version", "R__user_names")
    assert refused.code == 3
    up = run_cli("-u", db.url, "-d", folder, "up", "--json")
    assert up.code == 0, up.output
    assert [s["version"] for s in json.loads(up.out)["steps"]] == ["3", "R__user_names"]


# ------------------------------------------------------------------ adopt (dbmate on SQLite)


def dbmate_file(create: str, drop: str) -> str:
    return f"-- migrate:up\n{create}\n\n-- migrate:down\n{drop}\n"


DBMATE = {
    "20240101000000_users.sql": dbmate_file(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);", "DROP TABLE users;"
    ),
    "20240102000000_posts.sql": dbmate_file(
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER);", "DROP TABLE posts;"
    ),
    "20240103000000_tags.sql": dbmate_file(
        "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT);", "DROP TABLE tags;"
    ),
}
DBMATE_APPLIED = ["20240101000000", "20240102000000"]
DBMATE_DDL = "CREATE TABLE schema_migrations (version varchar(128) primary key)"


def dbmate_database(db: Database, versions: list[str]) -> None:
    """What dbmate leaves after applying ``versions`` of DBMATE (its table, built by hand)."""
    db.query(DBMATE_DDL)
    for version in versions:
        db.query(f"INSERT INTO schema_migrations (version) VALUES ({db.placeholder})", (version,))
    if "20240101000000" in versions:
        db.query("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    if "20240102000000" in versions:
        db.query("CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER)")


def foreign_snapshot(db: Database) -> tuple[list[tuple], list[tuple]]:
    rows = db.query("SELECT version FROM schema_migrations ORDER BY version")
    ddl = db.query("SELECT sql FROM sqlite_master WHERE name = 'schema_migrations'")
    return rows, ddl


@pytest.fixture
def dbmate_sqlite(sqlite_db: Database, tmp_path: Path) -> tuple[Database, Path]:
    folder = write_migrations(tmp_path / "db" / "migrations", DBMATE)
    dbmate_database(sqlite_db, DBMATE_APPLIED)
    return sqlite_db, folder


def test_adopt_dry_run_lists_what_it_would_record_and_records_nothing(
    run_cli, dbmate_sqlite
) -> None:
    db, folder = dbmate_sqlite
    before = foreign_snapshot(db)
    result = run_cli("-u", db.url, "-d", folder, "adopt", "--dry-run")
    assert result.code == 0, result.output
    lines = result.out.splitlines()
    assert lines[0] == (
        "dbmate history in schema_migrations: would record 2 migration(s) as applied, "
        "without running them"
    )
    assert "  20240101000000_users" in lines
    assert "  20240102000000_posts" in lines
    assert any(
        line.startswith("not applied by dbmate") and "20240103000000" in line for line in lines
    )
    assert lines[-1] == "dry run: nothing was recorded"
    assert not history_exists(db)
    assert foreign_snapshot(db) == before
    assert set(states(run_cli, db, folder).values()) == {"pending"}


def test_adopt_records_what_dbmate_applied_and_up_runs_the_rest(run_cli, dbmate_sqlite) -> None:
    db, folder = dbmate_sqlite
    before = foreign_snapshot(db)
    result = run_cli("-u", db.url, "-d", folder, "adopt")
    assert result.code == 0, result.output
    assert result.out.splitlines()[0] == (
        "dbmate history in schema_migrations: recorded 2 migration(s) as applied, "
        "without running them"
    )
    assert "dry run" not in result.out
    assert history_rows(db) == DBMATE_APPLIED
    assert states(run_cli, db, folder) == {
        "20240101000000": "applied",
        "20240102000000": "applied",
        "20240103000000": "pending",
    }
    events = audit(run_cli, db, folder)
    assert [(e["version"], e["event"]) for e in events] == [
        ("20240101000000", "adopted"),
        ("20240102000000", "adopted"),
    ]
    assert all("dbmate" in (e["detail"] or "") for e in events)
    up = run_cli("-u", db.url, "-d", folder, "up", "--json")
    assert up.code == 0, up.output
    assert [s["version"] for s in json.loads(up.out)["steps"]] == ["20240103000000"]
    assert db.table_exists("tags")
    assert set(states(run_cli, db, folder).values()) == {"applied"}
    # dbmate's own table is read, never written.
    assert foreign_snapshot(db) == before


def test_adopt_json_keys(run_cli, dbmate_sqlite) -> None:
    db, folder = dbmate_sqlite
    for dry_run in (True, False):
        extra = ("--dry-run",) if dry_run else ()
        result = run_cli("-u", db.url, "-d", folder, "adopt", "--json", *extra)
        assert result.code == 0, result.output
        document = json.loads(result.out)
        assert set(document) == {"tool", "table", "dry_run", "record", "already", "pending"}
        assert document["tool"] == "dbmate"
        assert document["table"] == "schema_migrations"
        assert document["dry_run"] is dry_run
        assert [r["version"] for r in document["record"]] == DBMATE_APPLIED
        assert [r["name"] for r in document["record"]] == ["users", "posts"]
        assert all(set(r) == {"version", "name", "checksum"} for r in document["record"])
        assert all(r["checksum"].startswith("sha256-lf:") for r in document["record"])
        assert document["already"] == []
        assert document["pending"] == ["20240103000000"]
    status = json.loads(run_cli("-u", db.url, "-d", folder, "status", "--json").out)
    checksums = {m["version"]: m["applied_checksum"] for m in status["migrations"]}
    assert [checksums[r["version"]] for r in document["record"]] == [
        r["checksum"] for r in document["record"]
    ]


def test_adopt_twice_records_nothing_the_second_time(run_cli, dbmate_sqlite) -> None:
    db, folder = dbmate_sqlite
    assert run_cli("-u", db.url, "-d", folder, "adopt").code == 0
    again = run_cli("-u", db.url, "-d", folder, "adopt", "--json")
    assert again.code == 0, again.output
    document = json.loads(again.out)
    assert document["record"] == []
    assert document["already"] == DBMATE_APPLIED
    text = run_cli("-u", db.url, "-d", folder, "adopt")
    assert text.code == 0
    assert "recorded 0 migration(s)" in text.out
    assert "already in migrata's history: 20240101000000, 20240102000000" in text.out
    assert history_rows(db) == DBMATE_APPLIED
    assert [e["event"] for e in audit(run_cli, db, folder)] == ["adopted", "adopted"]


def test_adopt_without_a_foreign_history_exits_3_and_points_at_baseline(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", DBMATE)
    for extra in ((), ("--dry-run",)):
        result = run_cli("-u", sqlite_db.url, "-d", folder, "adopt", *extra)
        assert result.code == 3, result.output
        assert "no other tool's history found" in result.err
        assert "migrata baseline --version" in result.err
    assert not history_exists(sqlite_db)


def test_adopt_refuses_a_dbmate_version_missing_from_the_folder(run_cli, dbmate_sqlite) -> None:
    db, folder = dbmate_sqlite
    db.query("INSERT INTO schema_migrations (version) VALUES ('20231231000000')")
    before = foreign_snapshot(db)
    for extra in ((), ("--dry-run",), ("--json",)):
        result = run_cli("-u", db.url, "-d", folder, "adopt", *extra)
        assert result.code == 3, result.output
        assert "20231231000000" in result.err
        assert "not in the folder" in result.err
    assert history_rows(db) == []
    assert foreign_snapshot(db) == before
    assert set(states(run_cli, db, folder).values()) == {"pending"}


def test_adopt_from_names_the_tool(run_cli, dbmate_sqlite) -> None:
    db, folder = dbmate_sqlite
    result = run_cli("-u", db.url, "-d", folder, "adopt", "--from", "dbmate", "--dry-run")
    assert result.code == 0, result.output
    wrong = run_cli("-u", db.url, "-d", folder, "adopt", "--from", "sqlx", "--dry-run")
    assert wrong.code == 3, wrong.output
    unknown = run_cli("-u", db.url, "-d", folder, "adopt", "--from", "liquibase")
    assert unknown.code == 2, unknown.output
    assert "liquibase" in unknown.err
    assert not history_exists(db)


def test_adopt_then_baseline_is_refused(run_cli, dbmate_sqlite) -> None:
    db, folder = dbmate_sqlite
    assert run_cli("-u", db.url, "-d", folder, "adopt").code == 0
    result = run_cli("-u", db.url, "-d", folder, "baseline", "--version", "20240103000000")
    assert result.code == 3, result.output
    assert history_rows(db) == DBMATE_APPLIED


# ------------------------------------------------------------------ the password never shows

SENTINEL = "S3NTINEL_pw"


def assert_clean(result: Result, caplog: pytest.LogCaptureFixture) -> None:
    assert SENTINEL not in result.out
    assert SENTINEL not in result.err
    assert SENTINEL not in exception_texts(result.exc)
    for record in caplog.records:
        assert SENTINEL not in record.getMessage()
        assert SENTINEL not in str(record.args)


@pytest.fixture
def secret_url(postgres_db: Database) -> str:
    url = with_password(postgres_db.url, SENTINEL)
    assert SENTINEL in url
    return url


def test_adopt_errors_never_show_the_password(
    run_cli, postgres_db: Database, secret_url: str, tmp_path: Path, migrata_caplog
) -> None:
    folder = write_migrations(tmp_path / "migrations", DBMATE)
    migrata_caplog.set_level(logging.DEBUG, logger="migrata")

    # No foreign history: the message names the database.
    none = run_cli("-u", secret_url, "-d", folder, "-vv", "adopt")
    assert none.code == 3, none.output
    assert "127.0.0.1" in none.err
    assert_clean(none, migrata_caplog)

    # A --table that does not exist: the message names the database too.
    missing = run_cli("-u", secret_url, "-d", folder, "adopt", "--table", "nope.schema_migrations")
    assert missing.code == 2, missing.output
    assert "does not exist" in missing.err
    assert_clean(missing, migrata_caplog)

    # A refused adoption.
    dbmate_database(postgres_db, [*DBMATE_APPLIED, "20231231000000"])
    refused = run_cli("-u", secret_url, "-d", folder, "-vv", "adopt")
    assert refused.code == 3, refused.output
    assert "20231231000000" in refused.err
    assert_clean(refused, migrata_caplog)

    # And success, text and JSON.
    postgres_db.query("DELETE FROM schema_migrations WHERE version = '20231231000000'")
    dry = run_cli("-u", secret_url, "-d", folder, "-vv", "adopt", "--dry-run", "--json")
    assert dry.code == 0, dry.output
    assert json.loads(dry.out)["record"]
    assert_clean(dry, migrata_caplog)
    done = run_cli("-u", secret_url, "-d", folder, "-vv", "adopt")
    assert done.code == 0, done.output
    assert "recorded 2 migration(s)" in done.out
    assert_clean(done, migrata_caplog)
    assert history_rows(postgres_db) == DBMATE_APPLIED
    assert migrata_caplog.records  # -vv did log something, and none of it had the password


def test_adopt_connection_failure_never_shows_the_password(
    run_cli, postgres_db: Database, tmp_path: Path, migrata_caplog
) -> None:
    folder = write_migrations(tmp_path / "migrations", DBMATE)
    url = with_password(postgres_db.url.rsplit("/", 1)[0] + "/no_such_database_here", SENTINEL)
    result = run_cli("-u", url, "-d", folder, "adopt")
    assert result.code == 2, result.output
    assert "no_such_database_here" in result.err
    assert_clean(result, migrata_caplog)
