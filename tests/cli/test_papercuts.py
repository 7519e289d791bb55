"""What a new user met in the first hour, one test each: validate finds what plan finds,
empty downs are refused, redaction keeps the user name, ``status -v``, ``repair``, plan and
``down --dry-run`` show what is sent, library errors name library arguments, ``--resume``
counts what it ran, and the text output says the current version, names and full sentences."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import clean_cli_state, run_cli  # noqa: F401 - fixtures are found by name

import migrata
from conftest import Database, write_migrations
from migrata.errors import ConfigError, ConnectionFailed

# -- validate finds everything plan finds, without running anything ---------------------------


def test_validate_reports_a_pending_postgresql_syntax_error_that_plan_reports(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {"0001_a.sql": "CREATE TABLE a (id int);\n", "0002_b.sql": "SELECT 1;\nSELEC 2;\n"},
    )
    plan = run_cli("-u", postgres_db.url, "-d", folder, "plan")
    assert plan.code == 3 and "0002_b.sql:2:1" in plan.err
    result = run_cli("-u", postgres_db.url, "-d", folder, "validate")
    assert result.code == 3, result.output
    assert "0002_b.sql:2:1" in result.out and "SELEC" in result.out
    assert not postgres_db.table_exists("migrata_history")  # nothing was written


def test_validate_compiles_sqlite_statements_against_the_schema(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_a.sql": "CREATE TABLE a (id INTEGER);\nINSERT INTO a VALUES (1);\n",
            "0002_b.sql": "CREATE TABLE b (id INTEGER);\nINSERT INTO b SELECT id FROM a;\n",
            "0003_c.sql": "INSERT INTO nope VALUES (1);\n",
        },
    )
    result = run_cli("-u", sqlite_db.url, "-d", folder, "validate", "--json")
    assert result.code == 3
    assert "0003_c.sql:1:1: no such table: nope" in result.out
    assert "0001_a" not in result.out.split('"problems"')[1]  # the others compile
    assert not sqlite_db.table_exists("a")  # nothing ran


def test_validate_reports_what_the_mysql_splitter_knows(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", {"0001_a.sql": "SELECT 'unterminated;\n"})
    result = run_cli("-u", mysql_db.url, "-d", folder, "validate")
    assert result.code == 3
    assert "0001_a.sql:1:8" in result.out and "unterminated string" in result.out


# -- a down without statements --------------------------------------------------------------


def test_a_comment_only_down_is_refused_unless_allowed(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_a.up.sql": "CREATE TABLE a (id INTEGER);\n",
            "0001_a.down.sql": "-- TODO: undo\n",
        },
    )
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 0
    refused = run_cli("-u", sqlite_db.url, "-d", folder, "down")
    assert refused.code == 3
    assert "0001_a.down.sql) has no statements" in refused.err
    assert "--allow-empty-down" in refused.err
    assert sqlite_db.history() == [("0001",)]
    allowed = run_cli("-u", sqlite_db.url, "-d", folder, "down", "--allow-empty-down")
    assert allowed.code == 0 and sqlite_db.history() == []


@pytest.mark.parametrize(
    "text",
    [
        "-- migrate:up\nCREATE TABLE a (id INTEGER);\n-- migrate:down\n",
        "-- +goose Up\nCREATE TABLE a (id INTEGER);\n-- +goose Down\n-- nothing\n",
    ],
)
def test_empty_dbmate_and_goose_down_sections_are_refused_unless_allowed(
    run_cli, sqlite_db: Database, tmp_path: Path, text: str
) -> None:
    folder = write_migrations(tmp_path / "m", {"20240101000000_a.sql": text})
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 0
    assert run_cli("-u", sqlite_db.url, "-d", folder, "down").code == 3
    assert run_cli("-u", sqlite_db.url, "-d", folder, "down", "--allow-empty-down").code == 0


def test_the_down_stub_new_writes_is_refused_until_edited(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    assert run_cli("-d", folder, "new", "add_a", "--down").code == 0
    (up,) = folder.glob("*.up.sql")
    (down,) = folder.glob("*.down.sql")
    up.write_text("CREATE TABLE a (id INTEGER);\n")
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 0
    result = run_cli("-u", sqlite_db.url, "-d", folder, "down")
    assert result.code == 3 and "has no statements" in result.err
    down.write_text("DROP TABLE a;\n")
    assert run_cli("-u", sqlite_db.url, "-d", folder, "down").code == 0
    assert not sqlite_db.table_exists("a")


# -- redaction and printing once ------------------------------------------------------------


def test_a_user_named_like_the_password_stays_visible(run_cli, tmp_path: Path) -> None:
    url = "postgresql://sameword:sameword@127.0.0.1:1/x"
    result = run_cli("-u", url, "-d", tmp_path, "status")
    assert result.code == 2
    assert "postgresql://sameword:***@127.0.0.1:1/x" in result.err
    assert result.err.count("sameword") == 1


def test_create_and_drop_database_print_their_result_once(run_cli, postgres_db: Database) -> None:
    url = postgres_db.url + "_new"
    try:
        created = run_cli("-u", url, "create-database")
        assert created.code == 0
        assert created.out.count("created database") == 1 and created.err == ""
    finally:
        dropped = run_cli("-u", url, "drop-database", "--yes")
    assert dropped.code == 0
    assert dropped.out.count("dropped database") == 1 and dropped.err == ""


# -- status -v ------------------------------------------------------------------------------


def test_verbose_after_the_command_is_the_same_as_before_it(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", {"0001_a.sql": "SELECT 1;\n", "notes.md": "x"})
    before = run_cli("-u", sqlite_db.url, "-d", folder, "-v", "status")
    after = run_cli("-u", sqlite_db.url, "-d", folder, "status", "-v")
    plain = run_cli("-u", sqlite_db.url, "-d", folder, "status")
    assert before.code == after.code == 0
    assert after.out == before.out != plain.out
    assert "notes.md" in after.out


# -- repair ---------------------------------------------------------------------------------


def test_repair_records_an_intended_edit_with_both_checksums(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a (id INTEGER);\n"})
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 0
    (old,) = sqlite_db.query("SELECT checksum FROM migrata_history")[0]
    (folder / "0001_a.sql").write_text("-- a table\nCREATE TABLE a (id INTEGER);\n")
    status = run_cli("-u", sqlite_db.url, "-d", folder, "status")
    assert status.code == 0 and "changed" in status.out and "migrata repair 0001" in status.out
    dry = run_cli("-u", sqlite_db.url, "-d", folder, "repair", "--dry-run")
    assert dry.code == 0 and "would record" in dry.out
    assert sqlite_db.query("SELECT checksum FROM migrata_history")[0][0] == old
    done = run_cli("-u", sqlite_db.url, "-d", folder, "repair", "0001")
    assert done.code == 0
    (new,) = sqlite_db.query("SELECT checksum FROM migrata_history")[0]
    assert new != old and new in done.out
    audit = sqlite_db.query("SELECT event, checksum, detail FROM migrata_history_audit")
    assert ("repaired", new, f"checksum {old} -> {new}") in audit
    assert "applied" in run_cli("-u", sqlite_db.url, "-d", folder, "status").out
    again = run_cli("-u", sqlite_db.url, "-d", folder, "repair", "0001")
    assert again.code == 3 and "nothing to repair" in again.err


# -- plan and down --dry-run show what is sent ------------------------------------------------


def test_plan_shows_the_time_limits_and_framing_up_sends(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    result = run_cli("-u", postgres_db.url, "-d", folder, "--statement-timeout", "30s", "plan")
    assert result.code == 0
    lines = result.out.splitlines()
    begin = lines.index("BEGIN;")
    assert lines[begin + 1 : begin + 4] == [
        "SET LOCAL statement_timeout = 30000;",
        "SET LOCAL lock_timeout = 5000;",
        "CREATE TABLE a (id int);",
    ]
    assert lines[begin + 4].startswith('INSERT INTO "migrata_history"')
    assert lines[-1] == "COMMIT;"


def test_down_dry_run_prints_the_down_sql(run_cli, sqlite_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_a.up.sql": "CREATE TABLE a (id INTEGER);\n",
            "0001_a.down.sql": "DROP TABLE a;\n",
        },
    )
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 0
    result = run_cli("-u", sqlite_db.url, "-d", folder, "down", "--dry-run")
    assert result.code == 0
    assert "-- revert 0001_a" in result.out and "DROP TABLE a;" in result.out
    assert sqlite_db.table_exists("a")


# -- library errors name library arguments ---------------------------------------------------


def test_library_errors_name_arguments_and_the_command_names_flags(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as missing:
        migrata.Migrator("sqlite:///x.db", directory=tmp_path / "nope").status()
    assert "directory=" in str(missing.value) and "--dir" not in str(missing.value)
    said = run_cli("-u", "sqlite:///x.db", "-d", tmp_path / "nope", "status")
    assert "--dir" in said.err and "directory=" not in said.err

    absent = postgres_db.url + "_absent"
    folder = write_migrations(tmp_path / "m", {"0001_a.sql": "SELECT 1;\n"})
    with pytest.raises(ConnectionFailed) as failed:
        migrata.Migrator(absent, directory=folder).status()
    assert "create_database=True" in str(failed.value)
    assert "--create-database" not in str(failed.value)
    said = run_cli("-u", absent, "-d", folder, "status")
    assert "--create-database" in said.err and "create_database=" not in said.err


# -- --resume counts what it ran ---------------------------------------------------------------


def test_a_resumed_migration_reports_the_statements_it_ran(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_a.sql": "-- migrata: no-transaction\nCREATE TABLE a (id INTEGER);\n"
            "INSERT INTO later VALUES (1);\nINSERT INTO a VALUES (2);\n"
        },
    )
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 1
    sqlite_db.query("CREATE TABLE later (id INTEGER)")
    result = run_cli("-u", sqlite_db.url, "-d", folder, "up", "--resume", "0001")
    assert result.code == 0
    assert "applied 0001_a (2 statement(s), resumed after 1 of 3," in result.out
    report = run_cli("-u", sqlite_db.url, "-d", folder, "history", "--json")
    assert '"name": "a"' in report.out


# -- text output -----------------------------------------------------------------------------


def test_status_says_the_current_version_and_history_the_names(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_a.sql": "CREATE TABLE a (id INTEGER);\n",
            "0002_b.sql": "-- migrata: no-transaction\nINSERT INTO nope VALUES (1);\n",
        },
    )
    empty = run_cli("-u", sqlite_db.url, "-d", folder, "status")
    assert "current version: none (nothing applied)" in empty.out
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 1
    status = run_cli("-u", sqlite_db.url, "-d", folder, "status")
    assert "current version: 0001 (a)" in status.out
    history = run_cli("-u", sqlite_db.url, "-d", folder, "history").out.splitlines()
    assert any(" 0001_a " in line and "applied" in line for line in history)
    failed = next(i for i, line in enumerate(history) if "failed" in line and "0002_b" in line)
    # The failure's detail goes on below it, indented.
    assert history[failed + 1].startswith(" " * 10) and "statement:" in history[failed + 1]


def test_a_refused_connection_reads_as_sentences(run_cli, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", {"0001_a.sql": "SELECT 1;\n"})
    result = run_cli("-u", "postgresql://postgres@127.0.0.1:1/x", "-d", folder, "status")
    assert result.code == 2
    assert "Connection refused. Is the server running" in result.err


def test_a_diesel_version_without_digits_is_read_back_from_the_history(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    """diesel's version is the folder name up to the first `_`, digits or not (`init`)."""
    folder = write_migrations(
        tmp_path / "m",
        {
            "init/up.sql": "CREATE TABLE i (id INTEGER);\n",
            "init/down.sql": "DROP TABLE i;\n",
            "2024-01-01-000000_b/up.sql": "CREATE TABLE b (id INTEGER);\n",
        },
    )
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 0
    status = run_cli("-u", sqlite_db.url, "-d", folder, "status")
    assert status.code == 0 and "2 applied" in status.out
    assert run_cli("-u", sqlite_db.url, "-d", folder, "down").code == 0
    assert not sqlite_db.table_exists("i") and sqlite_db.table_exists("b")
