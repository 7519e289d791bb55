"""Exit codes of the ``migrata`` command, one outcome at a time (see migrata/exitcodes.py)."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import fcntl
import json
import re
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from cli_support import (  # noqa: F401 - fixtures are found by name
    clean_cli_state,
    run_cli,
    run_process,
    with_port,
)

import migrata.exitcodes
from conftest import POSTGRES_ADMIN_URL, _with_dbname, write_migrations
from migrata.backends.postgres.connection import lock_key
from migrata.cli import main
from migrata.exitcodes import ExitCode

#: Every exit code these tests assert, with a word the documentation must use for it.
ASSERTED = {
    0: "success",
    1: "failed",
    2: "usage",
    3: "validation",
    4: "lock",
    5: "pending",
    6: "lint",
}

GOOD = {
    "0001_users.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY);\n",
    "0002_posts.sql": "CREATE TABLE posts (id INTEGER PRIMARY KEY);\n",
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_migrations(tmp_path / "migrations", GOOD)


def documented_codes() -> dict[int, str]:
    """The rows of the table in migrata.exitcodes' docstring: {code: meaning}."""
    doc = migrata.exitcodes.__doc__ or ""
    rows: dict[int, str] = {}
    current: int | None = None
    for line in doc.splitlines():
        match = re.match(r"^(\d+)\s{2,}(\S.*)$", line)
        if match:
            current = int(match[1])
            rows[current] = match[2]
        elif current is not None and line.startswith(" ") and line.strip():
            rows[current] += " " + line.strip()  # continuation lines of a meaning
    return rows


# -- the table --------------------------------------------------------------------------------


def test_the_docstring_table_lists_every_code_asserted_here() -> None:
    rows = documented_codes()
    for code, word in ASSERTED.items():
        assert code in rows, f"exit code {code} is not in the table of migrata/exitcodes.py"
        assert word in rows[code].lower(), (code, rows[code])
    assert set(rows) == {int(c) for c in ExitCode}, "the table and the ExitCode enum disagree"


def test_the_enum_matches_the_numbers_asserted_here() -> None:
    assert ExitCode.OK == 0
    assert ExitCode.MIGRATION_FAILED == 1
    assert ExitCode.USAGE == 2
    assert ExitCode.VALIDATION == 3
    assert ExitCode.LOCK_TIMEOUT == 4
    assert ExitCode.PENDING == 5
    assert ExitCode.LINT == 6


# -- 0 ----------------------------------------------------------------------------------------


def test_success_exits_0(run_cli, db, folder) -> None:
    for args in (["up"], ["status"], ["validate"], ["history"], ["plan"], ["up", "--dry-run"]):
        result = run_cli("-u", db.url, "-d", folder, *args)
        assert result.code == 0, (args, result.err)
        assert result.err == ""


# -- 1: a migration failed --------------------------------------------------------------------

FAILING = (
    "CREATE TABLE created_first (id INTEGER);\n\nSELECT no_such_column\n  FROM created_first;\n"
)
DB_MESSAGE = {
    "sqlite": "no such column: no_such_column",
    "postgresql": 'column "no_such_column" does not exist',
    "mysql": "Unknown column 'no_such_column' in ",  # MySQL: 'field list', MariaDB: 'SELECT'
    "clickhouse": "Unknown expression identifier `no_such_column`",
}


def test_failed_migration_exits_1_with_location_statement_and_database_message(
    run_cli, db, tmp_path
) -> None:
    folder = write_migrations(
        tmp_path / "m", {"0001_ok.sql": "CREATE TABLE ok (id INTEGER);\n", "0002_bad.sql": FAILING}
    )
    path = folder / "0002_bad.sql"
    result = run_cli("-u", db.url, "-d", folder, "up")
    assert result.code == 1, result.err
    message = result.err.split("migrata: error: ", 1)[1]
    match = re.match(rf"{re.escape(str(path))}:(\d+):(\d+): migration 0002 failed", message)
    assert match, message
    assert int(match[1]) == 3  # the line of the failing statement, not of the file's start
    assert int(match[2]) in {1, len("SELECT ") + 1}  # statement start, or the DB's position
    assert DB_MESSAGE[db.engine] in message
    assert "statement: SELECT no_such_column\n" in message
    shown = message
    if db.engine == "clickhouse":  # ClickHouse's own message quotes the query, on one line
        assert "In scope SELECT no_such_column FROM created_first." in shown
        shown = shown.replace("In scope SELECT no_such_column FROM created_first.", "")
    assert "FROM created_first" not in shown  # only the statement's first line
    assert "Traceback" not in result.err
    assert db.table_exists("ok")  # the migration before it stays applied
    data = json.loads(run_cli("-u", db.url, "-d", folder, "status", "--json").out)
    if db.transactional_ddl:
        # It was rolled back.
        assert "it was rolled back" in message
        assert not db.table_exists("created_first")
        assert [m["state"] for m in data["migrations"]] == ["applied", "pending"]
        return
    # Where DDL commits implicitly the CREATE TABLE ran on its own and stays: the migration is
    # failed at its second statement, and up exits 3 until it is resolved.
    assert "stopped at statement 2 of 2" in message
    assert "migrata up --resume 0002" in message
    assert db.table_exists("created_first")
    assert [m["state"] for m in data["migrations"]] == ["applied", "failed"]
    failed = data["migrations"][1]
    assert (failed["statements_done"], failed["statements_total"]) == (1, 2)
    blocked = run_cli("-u", db.url, "-d", folder, "up")
    assert blocked.code == 3, blocked.err
    assert "migrata resolve 0002" in blocked.err
    resolved = run_cli("-u", db.url, "-d", folder, "resolve", "0002", "--applied")
    assert resolved.code == 0, resolved.err
    assert run_cli("-u", db.url, "-d", folder, "up").code == 0


def test_failure_outside_a_transaction_exits_1_and_says_how_far_it_got(
    run_cli, db, tmp_path
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_half.sql": "-- migrata: no-transaction\nCREATE TABLE half (id INTEGER);\n"
            + FAILING
        },
    )
    result = run_cli("-u", db.url, "-d", folder, "up")
    assert result.code == 1
    assert re.search(
        rf"{re.escape(str(folder / '0001_half.sql'))}:5:\d+: migration 0001 failed", result.err
    )
    assert "statement 3 of 3" in result.err
    assert "migrata resolve 0001" in result.err
    assert db.table_exists("half")  # statement 1 ran and stays


# -- 2: usage and configuration ---------------------------------------------------------------


def test_no_database_url_exits_2(run_cli, folder) -> None:
    result = run_cli("-d", folder, "status")
    assert result.code == 2
    assert "no database URL" in result.err
    assert "MIGRATA_DATABASE_URL" in result.err


@pytest.mark.parametrize(
    "url, words",
    [
        ("oracle://scott:pw@localhost/app", "unsupported database URL scheme 'oracle'"),
        ("nonsense", "not a database URL"),
        ("sqlite://relative.db", "three slashes"),
    ],
)
def test_bad_database_url_exits_2(run_cli, folder, url: str, words: str) -> None:
    result = run_cli("-u", url, "-d", folder, "status")
    assert result.code == 2
    assert words in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    "args, words",
    [
        (["--bogus", "status"], "No such option"),
        (["status", "--bogus"], "No such option"),
        (["frobnicate"], "No such command"),
        (["--lock-timeout", "soon", "up"], "--lock-timeout"),
        (["mark-applied"], "Missing argument"),
    ],
)
def test_unknown_or_bad_option_exits_2(run_cli, sqlite_db, folder, args, words) -> None:
    result = run_cli("-u", sqlite_db.url, "-d", folder, *args)
    assert result.code == 2
    assert words in result.err
    assert not sqlite_db.table_exists("users")


def test_missing_folder_exits_2_naming_it(run_cli, sqlite_db, tmp_path) -> None:
    missing = tmp_path / "no-such-folder"
    result = run_cli("-u", sqlite_db.url, "-d", missing, "up")
    assert result.code == 2
    assert str(missing) in result.err


def test_unreachable_database_exits_2(run_cli, folder) -> None:
    url = "postgresql://postgres@127.0.0.1:1/x"
    started = time.monotonic()
    result = run_cli("-u", url, "-d", folder, "up")
    assert result.code == 2
    assert "cannot connect to postgresql://postgres@127.0.0.1:1/x" in result.err
    assert "Traceback" not in result.err
    assert time.monotonic() - started < 30


def test_missing_postgres_database_exits_2(run_cli, postgres_db, folder) -> None:
    url = with_port(postgres_db.url, 5432, dbname="migrata_no_such_database")
    result = run_cli("-u", url, "-d", folder, "status")
    assert result.code == 2
    assert "migrata_no_such_database" in result.err


def test_missing_mysql_database_exits_2(run_cli, mysql_db, folder) -> None:
    url = with_port(mysql_db.url, 3306, dbname="migrata_no_such_database")
    result = run_cli("-u", url, "-d", folder, "status")
    assert result.code == 2
    assert "Unknown database 'migrata_no_such_database'" in result.err
    assert "Traceback" not in result.err


def test_sqlite_database_in_a_missing_folder_exits_2(run_cli, tmp_path, folder) -> None:
    url = f"sqlite:///{tmp_path / 'absent' / 'app.db'}"
    result = run_cli("-u", url, "-d", folder, "up")
    assert result.code == 2
    assert "does not exist" in result.err


def test_bad_lock_timeout_from_the_environment_exits_2(
    run_cli, monkeypatch, sqlite_db, folder
) -> None:
    monkeypatch.setenv("MIGRATA_LOCK_TIMEOUT", "forever")
    result = run_cli("-u", sqlite_db.url, "-d", folder, "up")
    assert result.code == 2
    assert "lock_timeout" in result.err and "'forever'" in result.err


# -- 3: validation ----------------------------------------------------------------------------


def test_edited_applied_file_stops_up_with_3_naming_the_file(run_cli, db, tmp_path) -> None:
    folder = write_migrations(tmp_path / "m", {"0001_users.sql": GOOD["0001_users.sql"]})
    assert run_cli("-u", db.url, "-d", folder, "up").code == 0
    edited = folder / "0001_users.sql"
    edited.write_text("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\n")
    write_migrations(folder, {"0002_posts.sql": GOOD["0002_posts.sql"]})
    result = run_cli("-u", db.url, "-d", folder, "up")
    assert result.code == 3
    assert str(edited) in result.err
    assert "edited after it was applied" in result.err
    assert not db.table_exists("posts")  # nothing ran

    validate = run_cli("-u", db.url, "-d", folder, "validate")
    assert validate.code == 3
    assert str(edited) in validate.out


def test_applied_file_that_is_gone_exits_3(run_cli, sqlite_db, folder) -> None:
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up", "--to", "0001").code == 0
    (folder / "0001_users.sql").unlink()
    for command in ("up", "validate", "plan"):
        result = run_cli("-u", sqlite_db.url, "-d", folder, command)
        assert result.code == 3, command
        assert "0001" in result.output and "not in the folder" in result.output
    assert not sqlite_db.table_exists("posts")


@pytest.mark.parametrize("bad_name", ["oops.sql", "V1__flyway_style.sql", "0003-dash.sql"])
def test_bad_file_name_exits_3_naming_the_file(run_cli, sqlite_db, folder, bad_name) -> None:
    (folder / bad_name).write_text("SELECT 1;\n")
    for command in ("up", "status", "validate"):
        result = run_cli("-u", sqlite_db.url, "-d", folder, command)
        assert result.code == 3, (command, result.err)
        # A Flyway-named file makes the folder a mixed one: the message names both kinds.
        assert bad_name in result.err and str(folder) in result.err
    assert not sqlite_db.table_exists("users")  # discovery fails before anything runs


def test_duplicate_version_exits_3(run_cli, sqlite_db, folder) -> None:
    (folder / "0001_other.sql").write_text("SELECT 1;\n")
    result = run_cli("-u", sqlite_db.url, "-d", folder, "up")
    assert result.code == 3
    assert "version 0001" in result.err
    assert (
        str(folder / "0001_other.sql") in result.err or str(folder / "0001_users.sql") in result.err
    )
    assert not sqlite_db.table_exists("users")


def test_unknown_directive_exits_3_naming_file_and_line(run_cli, sqlite_db, folder) -> None:
    (folder / "0003_odd.sql").write_text(
        "-- a header\n-- migrata: sometimes-transaction\nSELECT 1;\n"
    )
    result = run_cli("-u", sqlite_db.url, "-d", folder, "up")
    assert result.code == 3
    assert f"{folder / '0003_odd.sql'}:2" in result.err
    assert not sqlite_db.table_exists("users")


def test_syntax_error_in_a_later_file_exits_3_before_anything_runs(
    run_cli, postgres_db, folder
) -> None:
    (folder / "0003_broken.sql").write_text("CREATE TABLE ok3 (id int);\nCREATE TABLE (;\n")
    result = run_cli("-u", postgres_db.url, "-d", folder, "up")
    assert result.code == 3
    assert re.search(rf"{re.escape(str(folder / '0003_broken.sql'))}:2:\d+", result.err)
    assert not postgres_db.table_exists("users")  # 0001 and 0002 did not run either


def test_failed_row_stops_up_with_3(run_cli, sqlite_db, tmp_path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_half.sql": "-- migrata: no-transaction\nCREATE TABLE half (id INTEGER);\nSELECT nope FROM half;\n"
        },
    )
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 1
    result = run_cli("-u", sqlite_db.url, "-d", folder, "up")
    assert result.code == 3
    assert "migrata resolve 0001" in result.err


def test_out_of_order_pending_file_exits_3_unless_allowed(run_cli, sqlite_db, folder) -> None:
    (folder / "0001_users.sql").rename(folder / "0005_users.sql")
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 0
    write_migrations(folder, {"0003_late.sql": "CREATE TABLE late (id INTEGER);\n"})
    result = run_cli("-u", sqlite_db.url, "-d", folder, "up")
    assert result.code == 3
    assert "0003" in result.err and "--allow-out-of-order" in result.err
    assert not sqlite_db.table_exists("late")
    allowed = run_cli("-u", sqlite_db.url, "-d", folder, "up", "--allow-out-of-order")
    assert allowed.code == 0, allowed.err
    assert sqlite_db.table_exists("late")


# -- 4: lock timeout --------------------------------------------------------------------------


@pytest.fixture
def lock_table() -> str:
    """A history table name (so a lock key) of this test alone: other runs on the same
    server cannot get in the way."""
    return f"lock_{uuid.uuid4().hex[:10]}"


def hold_lock(url: str, table: str = "migrata_history"):  # type: ignore[no-untyped-def]
    """A separate session holding the migration lock of ``table``: (connection, key, pid)."""
    conn = psycopg.connect(url, autocommit=True)
    key = lock_key(f"migrata:.{table}")
    assert conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0] is True
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    return conn, key, pid


@pytest.fixture
def postgres_lock_holder(postgres_db, lock_table):  # type: ignore[no-untyped-def]
    conn, key, pid = hold_lock(postgres_db.url, lock_table)
    try:
        yield conn, key, pid
    finally:
        conn.close()


def test_postgres_lock_timeout_on_the_default_table_exits_4(run_cli, postgres_db, folder) -> None:
    conn, _, pid = hold_lock(postgres_db.url)  # lock_key('migrata:.migrata_history')
    try:
        result = run_cli("-u", postgres_db.url, "-d", folder, "--lock-timeout", "0.5", "up")
    finally:
        conn.close()
    assert result.code == 4, result.err
    assert f"could not take the migration lock within 0.5s (held by pid {pid}," in result.err
    assert not postgres_db.table_exists("users")


def test_postgres_lock_timeout_exits_4_naming_the_holder(
    run_cli, postgres_db, postgres_lock_holder, lock_table, folder
) -> None:
    conn, key, pid = postgres_lock_holder
    args = [
        "-u",
        postgres_db.url,
        "-d",
        folder,
        "--table",
        lock_table,
        "--lock-timeout",
        "0.5",
        "up",
    ]
    started = time.monotonic()
    result = run_cli(*args)
    waited = time.monotonic() - started
    assert result.code == 4, result.err
    assert f"held by pid {pid}," in result.err
    assert "0.5s" in result.err
    assert 0.5 <= waited < 15
    assert not postgres_db.table_exists("users")

    # Once the holder lets go, the same command works.
    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    assert run_cli(*args).code == 0
    assert postgres_db.table_exists("users")


@pytest.mark.parametrize(
    "command", [["down"], ["redo"], ["mark-applied", "0001"], ["unmark", "0001"]]
)
def test_every_writing_command_waits_for_the_lock(
    run_cli, postgres_db, postgres_lock_holder, lock_table, folder, command
) -> None:
    _, _, pid = postgres_lock_holder
    result = run_cli(
        "-u",
        postgres_db.url,
        "-d",
        folder,
        "--table",
        lock_table,
        "--lock-timeout",
        "0.2",
        *command,
    )
    assert result.code == 4, result.err
    assert f"held by pid {pid}," in result.err


def test_reading_commands_take_no_lock(
    run_cli, postgres_db, postgres_lock_holder, lock_table, folder
) -> None:
    for command in (["status"], ["validate"], ["plan"], ["history"], ["up", "--dry-run"]):
        result = run_cli(
            "-u",
            postgres_db.url,
            "-d",
            folder,
            "--table",
            lock_table,
            "--lock-timeout",
            "0",
            *command,
        )
        assert result.code == 0, (command, result.err)


def test_lock_timeout_from_the_environment(
    run_cli, monkeypatch, postgres_db, postgres_lock_holder, lock_table, folder
) -> None:
    monkeypatch.setenv("MIGRATA_LOCK_TIMEOUT", "0.3")
    monkeypatch.setenv("MIGRATA_TABLE", lock_table)
    result = run_cli("-u", postgres_db.url, "-d", folder, "up")
    assert result.code == 4
    assert "0.3s" in result.err


def test_lock_holder_is_looked_up_in_the_right_database(run_cli, postgres_db, folder) -> None:
    """Advisory locks are per database: a session holding the same key in another database
    of the server is not the holder (regression: the pg_locks lookup once ignored
    l.database and named whichever session came first; fixed in 2be7cc0)."""
    admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True)
    other = f"migrata_t_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{other}"')
    sessions = []
    try:
        # The bystander connects first: in pg_locks it tends to come first.
        bystander = psycopg.connect(_with_dbname(POSTGRES_ADMIN_URL, other), autocommit=True)
        blocker = psycopg.connect(postgres_db.url, autocommit=True)
        sessions += [bystander, blocker]
        bystander_pid = bystander.execute("SELECT pg_backend_pid()").fetchone()[0]
        blocker_pid = blocker.execute("SELECT pg_backend_pid()").fetchone()[0]
        named = []
        for i in range(5):
            table = f"lock_{uuid.uuid4().hex[:8]}_{i}"
            key = lock_key(f"migrata:.{table}")
            for session in (bystander, blocker):
                assert session.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
            result = run_cli(
                "-u", postgres_db.url, "-d", folder, "--table", table, "--lock-timeout", "0", "up"
            )
            assert result.code == 4
            named.append(re.search(r"held by pid (\d+)", result.err)[1])  # type: ignore[index]
        assert str(bystander_pid) not in named
        assert named == [str(blocker_pid)] * 5
    finally:
        for session in sessions:
            session.close()
        admin.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
        admin.close()


def test_mysql_lock_timeout_exits_4_naming_the_holder(
    run_cli, mysql_db, lock_table, folder
) -> None:
    from migrata.backends.mysql.connection import lock_name

    key = lock_name(f"migrata:.{lock_table}", mysql_db.url.rsplit("/", 1)[1])
    args = ["-u", mysql_db.url, "-d", folder, "--table", lock_table, "--lock-timeout", "0.5"]
    holder = mysql_db.connect()
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, 0), CONNECTION_ID()", (key,))
            acquired, connection_id = cur.fetchone()
        assert acquired == 1
        started = time.monotonic()
        result = run_cli(*args, "up")
        waited = time.monotonic() - started
        assert result.code == 4, result.err
        assert f"held by connection id {connection_id}, user {mysql_db.user}@" in result.err
        assert "0.5s" in result.err
        assert 0.5 <= waited < 15
        assert not mysql_db.table_exists("users")
        for command in (["down"], ["mark-applied", "0001"]):
            assert run_cli(*args, *command).code == 4, command
        for command in (["status"], ["plan"], ["up", "--dry-run"]):  # reading takes no lock
            assert run_cli(*args, *command).code == 0, command
        # Once the holder lets go, the same command works.
        with holder.cursor() as cur:
            cur.execute("SELECT RELEASE_LOCK(%s)", (key,))
        assert run_cli(*args, "up").code == 0
    finally:
        holder.close()
    assert mysql_db.table_exists("users")


def test_sqlite_lock_timeout_exits_4_naming_the_holder(run_cli, sqlite_db, folder) -> None:
    path = sqlite_db.url.split("sqlite:///", 1)[1]
    with open(f"{path}.migrata.lock", "a+", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write("pid 424242, tester@example, since now")
        handle.flush()
        result = run_cli("-u", sqlite_db.url, "-d", folder, "--lock-timeout", "0.3", "up")
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    assert result.code == 4
    assert "pid 424242" in result.err
    assert not sqlite_db.table_exists("users")
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 0


def test_lock_timeout_exits_4_in_a_real_process(
    postgres_db, postgres_lock_holder, lock_table, folder
) -> None:
    _, _, pid = postgres_lock_holder
    result = run_process(
        "-u", postgres_db.url, "-d", folder, "--table", lock_table, "--lock-timeout", "0.5", "up"
    )
    assert result.code == 4, result.err
    assert f"held by pid {pid}," in result.err
    assert "Traceback" not in result.err


# -- 5: status --exit-code --------------------------------------------------------------------


def test_status_exit_code(run_cli, db, folder) -> None:
    pending = run_cli("-u", db.url, "-d", folder, "status", "--exit-code")
    assert pending.code == 5
    assert "2 pending" in pending.out  # still prints the status
    assert run_cli("-u", db.url, "-d", folder, "status").code == 0  # only with --exit-code
    assert run_cli("-q", "-u", db.url, "-d", folder, "status", "--exit-code").code == 5
    assert run_cli("-u", db.url, "-d", folder, "status", "--exit-code", "--json").code == 5

    run_cli("-u", db.url, "-d", folder, "up", "--to", "0001")
    assert run_cli("-u", db.url, "-d", folder, "status", "--exit-code").code == 5
    run_cli("-u", db.url, "-d", folder, "up")
    assert run_cli("-u", db.url, "-d", folder, "status", "--exit-code").code == 0

    (folder / "0001_users.sql").write_text("CREATE TABLE users (id BIGINT);\n")
    drift = run_cli("-u", db.url, "-d", folder, "status", "--exit-code")
    assert drift.code == 3
    assert "changed" in drift.out
    # Drift outranks pending.
    write_migrations(folder, {"0003_tags.sql": "CREATE TABLE tags (id INTEGER);\n"})
    assert run_cli("-u", db.url, "-d", folder, "status", "--exit-code").code == 3


def test_status_exit_code_in_a_real_process(tmp_path, folder) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert run_process("-u", url, "-d", folder, "status", "--exit-code").code == 5
    assert run_process("-u", url, "-d", folder, "up").code == 0
    assert run_process("-u", url, "-d", folder, "status", "--exit-code").code == 0
    assert run_process("-u", url, "-d", folder, "--bogus").code == 2
    assert run_process("-u", url, "-d", tmp_path / "nope", "status").code == 2


# -- PostgreSQL pipelines: a failing query that is not the last of a batch -------------------
#
# Regression tests: PostgresBackend.run used to catch the first error inside the
# `with conn.pipeline()` block only, so when psycopg raised it from a later execute(), the
# pipeline's exit raised PipelineAborted, which escaped main() as a raw traceback (exit 1) at
# random: ~5% of `status` runs on a database without the tracking tables (history.read sends
# two SELECTs in one batch), 2-70% of failing transactional migrations. Fixed in 454dbf3; each
# test repeats the run because the failure was a race.


def test_postgres_first_read_of_a_fresh_database_never_crashes(postgres_db, folder, capsys) -> None:
    crashes: list[str] = []
    for _ in range(100):
        try:
            main(["-q", "-u", postgres_db.url, "-d", str(folder), "status"])
        except SystemExit as stop:
            assert stop.code in (0, None)
        except Exception as exc:  # noqa: BLE001 - the bug is an exception escaping main()
            crashes.append(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")
            break
    capsys.readouterr()
    assert not postgres_db.table_exists("migrata_history")  # status created nothing
    assert crashes == []


def test_postgres_failing_migration_never_crashes(postgres_db, tmp_path, capsys) -> None:
    folder = write_migrations(tmp_path / "m", {"0001_bad.sql": FAILING})
    crashes: list[str] = []
    for _ in range(100):
        try:
            main(["-q", "-u", postgres_db.url, "-d", str(folder), "up"])
        except SystemExit as stop:
            assert stop.code == 1
        except Exception as exc:  # noqa: BLE001 - the bug is an exception escaping main()
            crashes.append(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")
            break
    capsys.readouterr()
    assert not postgres_db.table_exists("created_first")
    assert crashes == []


def test_postgres_failing_migration_exits_1_in_fresh_processes(postgres_db, tmp_path) -> None:
    folder = write_migrations(tmp_path / "m", {"0001_bad.sql": "SELECT 1;\nSELECT nope;\n"})
    for _ in range(6):
        result = run_process("-u", postgres_db.url, "-d", folder, "up")
        assert result.code == 1, result.err
        assert "Traceback" not in result.err
        assert f"{folder / '0001_bad.sql'}:2:8: migration 0001 failed [42703]" in result.err


def test_a_failing_down_names_down_as_the_command_to_run_again(
    run_cli, sqlite_db, tmp_path
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_users.up.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY);\n",
            "0001_users.down.sql": "DROP TABLE no_such_table;\n",
        },
    )
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 0
    result = run_cli("-u", sqlite_db.url, "-d", folder, "down")
    assert result.code == 1
    assert "fix the file and run `migrata down` again" in result.err
    assert sqlite_db.table_exists("users")
