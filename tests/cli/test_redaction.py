"""A database password never reaches anything migrata writes: stdout, stderr, log records,
exception text — on success and on failure, in-process and in a real process."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg
import pytest
from cli_support import (  # noqa: F401 - fixtures are found by name
    Result,
    clean_cli_state,
    exception_texts,
    migrata_caplog,
    run_cli,
    run_process,
    with_password,
    with_port,
)

from conftest import write_migrations
from migrata.backends.postgres import lock_key

SENTINEL = "Sentinel-Pw-7391"
SPECIAL = "p@ss:w/rd%"  # travels URL-encoded: p%40ss%3Aw%2Frd%25
PASSWORDS = [pytest.param(SENTINEL, id="sentinel"), pytest.param(SPECIAL, id="special-chars")]

MIGRATIONS = {
    "0001_users.up.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY);\n",
    "0001_users.down.sql": "DROP TABLE users;\n",
    "0002_posts.up.sql": "CREATE TABLE posts (id INTEGER PRIMARY KEY);\n",
    "0002_posts.down.sql": "DROP TABLE posts;\n",
}


def forms(password: str) -> set[str]:
    """Every spelling of the password that could leak: as is and URL-encoded."""
    return {f for f in (password, quote(password, safe=""), quote(password)) if f}


class RawRecords(logging.Filter):
    """Sees every record of the ``migrata`` logger before any handler (or its redacting
    filter) touches it: what a library user's own handler would receive."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.messages.append(record.getMessage())
        return True


@pytest.fixture
def raw_records() -> Iterator[RawRecords]:
    recorder = RawRecords()
    log = logging.getLogger("migrata")
    log.addFilter(recorder)
    try:
        yield recorder
    finally:
        log.removeFilter(recorder)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_migrations(tmp_path / "migrations", MIGRATIONS)


def assert_no_secret(password: str, *texts: str) -> None:
    for text in texts:
        for form in forms(password):
            assert form not in text, f"the password ({form!r}) leaked into:\n{text}"


def assert_clean(
    password: str, result: Result, caplog: pytest.LogCaptureFixture, raw: RawRecords | None = None
) -> None:
    """Nothing of ``result`` (or the log so far) carries the password."""
    records = [r.getMessage() for r in caplog.records]
    records += [r.exc_text or "" for r in caplog.records]
    assert_no_secret(
        password,
        result.out,
        result.err,
        exception_texts(result.exc),
        caplog.text,
        *records,
        *(raw.messages if raw is not None else []),
    )


def dbname(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


# -- success ----------------------------------------------------------------------------------

#: (setup commands, the command under test)
SUCCESS = [
    ([], ["up"]),
    ([], ["up", "--json"]),
    ([], ["up", "--dry-run"]),
    ([], ["plan"]),
    ([], ["mark-applied", "0001"]),
    (["up"], ["up"]),  # logs "nothing to apply: <database> is up to date" at -vv
    (["up"], ["status"]),
    (["up"], ["status", "--json"]),
    (["up"], ["status", "--exit-code"]),
    (["up"], ["history"]),
    (["up"], ["history", "--json"]),
    (["up"], ["validate"]),
    (["up"], ["validate", "--json"]),
    (["up"], ["down"]),
    (["up"], ["redo"]),
    (["up"], ["unmark", "0002"]),
]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("setup, command", SUCCESS, ids=[" ".join(c) for _, c in SUCCESS])
def test_successful_commands_never_show_the_password(
    run_cli, migrata_caplog, raw_records, postgres_db, folder, password, setup, command
) -> None:
    url = with_password(postgres_db.url, password)
    for args in (setup, command):
        if not args:
            continue
        result = run_cli("-vv", "-u", url, "-d", folder, *args)
        assert result.code == 0, result.err
        assert result.output.strip()  # something was written, and it is clean
        assert_clean(password, result, migrata_caplog, raw_records)
    if command[0] in {"up", "down", "redo"} and "--dry-run" not in command:
        assert any(r.name == "migrata" for r in migrata_caplog.records)  # the logs were seen
    if setup == command == ["up"]:
        assert any(
            "is up to date" in r.getMessage() and "***" in r.getMessage()
            for r in migrata_caplog.records
        )


@pytest.mark.parametrize("password", PASSWORDS)
def test_status_shows_the_redacted_url(run_cli, postgres_db, folder, password) -> None:
    url = with_password(postgres_db.url, password)
    expected = f"postgresql://postgres:***@127.0.0.1:5432/{dbname(postgres_db.url)}"
    text = run_cli("-u", url, "-d", folder, "status")
    assert text.code == 0, text.err
    assert text.out.splitlines()[0] == f"database: {expected}"
    as_json = run_cli("-u", url, "-d", folder, "status", "--json")
    assert json.loads(as_json.out)["database"] == expected
    assert_no_secret(password, text.out, as_json.out)


# -- failure ----------------------------------------------------------------------------------


@pytest.mark.parametrize("password", PASSWORDS)
def test_failing_migration_never_shows_the_password(
    run_cli, migrata_caplog, raw_records, postgres_db, tmp_path, password
) -> None:
    url = with_password(postgres_db.url, password)
    folder = write_migrations(
        tmp_path / "m",
        {"0001_bad.sql": "CREATE TABLE t (id int);\nSELECT no_such_column FROM t;\n"},
    )
    result = run_cli("-vv", "-u", url, "-d", folder, "up")
    assert result.code == 1, result.err
    assert 'column "no_such_column" does not exist' in result.err
    assert any(r.levelno == logging.ERROR for r in migrata_caplog.records)
    assert_clean(password, result, migrata_caplog, raw_records)
    history = run_cli("-vv", "-u", url, "-d", folder, "history")
    assert "failed" in history.out
    assert_clean(password, history, migrata_caplog, raw_records)


@pytest.mark.parametrize("password", PASSWORDS)
def test_failure_outside_a_transaction_keeps_the_history_clean(
    run_cli, migrata_caplog, postgres_db, tmp_path, password
) -> None:
    url = with_password(postgres_db.url, password)
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_half.sql": "-- migrata: no-transaction\nCREATE TABLE h (id int);\nSELECT nope FROM h;\n"
        },
    )
    result = run_cli("-vv", "-u", url, "-d", folder, "up")
    assert result.code == 1
    assert_clean(password, result, migrata_caplog)
    for command in (["status"], ["status", "--json"], ["history", "--json"], ["validate"]):
        after = run_cli("-u", url, "-d", folder, *command)
        assert "nope" in after.out  # the stored error is shown
        assert_clean(password, after, migrata_caplog)


def test_database_error_echoing_the_password_is_scrubbed(
    run_cli, migrata_caplog, postgres_db, tmp_path
) -> None:
    """The database's own message passes through the scrubber before it is shown or stored."""
    url = with_password(postgres_db.url, SENTINEL)
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_echo.sql": (
                "-- migrata: no-transaction\n"
                "CREATE TABLE e (id int);\n"
                "DO $$ BEGIN RAISE EXCEPTION 'echo %', 'Sentinel' || '-Pw-' || '7391'; END $$;\n"
            )
        },
    )
    result = run_cli("-vv", "-u", url, "-d", folder, "up")
    assert result.code == 1
    assert "echo ***" in result.err
    stored = run_cli("-u", url, "-d", folder, "status", "--json")
    assert json.loads(stored.out)["migrations"][0]["error"] == "echo ***"
    assert_no_secret(SENTINEL, result.out, result.err, migrata_caplog.text, stored.out)
    assert SENTINEL not in str(postgres_db.query("SELECT error FROM migrata_history"))


@pytest.mark.parametrize("password", PASSWORDS)
def test_unreachable_port_never_shows_the_password(
    run_cli, migrata_caplog, raw_records, folder, password
) -> None:
    url = with_password("postgresql://postgres@127.0.0.1:1/x", password)
    result = run_cli("-vv", "-u", url, "-d", folder, "up")
    assert result.code == 2
    assert "cannot connect to postgresql://postgres:***@127.0.0.1:1/x" in result.err
    assert_clean(password, result, migrata_caplog, raw_records)


@pytest.mark.parametrize("password", PASSWORDS)
def test_bad_database_name_never_shows_the_password(
    run_cli, migrata_caplog, raw_records, folder, password
) -> None:
    missing = f"migrata_missing_{uuid.uuid4().hex[:8]}"
    url = with_password(f"postgresql://postgres@127.0.0.1:5432/{missing}", password)
    for command in (["status"], ["up"]):
        result = run_cli("-vv", "-u", url, "-d", folder, *command)
        assert result.code == 2
        assert f"postgresql://postgres:***@127.0.0.1:5432/{missing}" in result.err
        assert f'database "{missing}" does not exist' in result.err
        assert_clean(password, result, migrata_caplog, raw_records)


@pytest.mark.parametrize("password", PASSWORDS)
def test_lock_timeout_never_shows_the_password(
    run_cli, migrata_caplog, raw_records, postgres_db, folder, password
) -> None:
    table = f"lock_{uuid.uuid4().hex[:10]}"
    holder = psycopg.connect(postgres_db.url, autocommit=True)
    try:
        assert holder.execute(
            "SELECT pg_try_advisory_lock(%s)", (lock_key(f"migrata:.{table}"),)
        ).fetchone()[0]
        url = with_password(postgres_db.url, password)
        result = run_cli(
            "-vv", "-u", url, "-d", folder, "--table", table, "--lock-timeout", "0.3", "up"
        )
    finally:
        holder.close()
    assert result.code == 4
    assert "held by pid" in result.err
    assert_clean(password, result, migrata_caplog, raw_records)


@pytest.mark.parametrize(
    "template, code, shown",
    [
        ("mysql://root:{pw}@127.0.0.1/app", 2, "mysql://root:***@127.0.0.1/app"),
        ("postgresql://postgres:{pw}@[::1/x", 2, "postgresql://postgres:***@[::1/x"),
        ("postgresql://postgres@127.0.0.1:1/x?password={pw}", 2, "x?password=***"),
        ("postgres://postgres:{pw}@127.0.0.1:1/x", 2, "postgres://postgres:***@127.0.0.1:1/x"),
    ],
)
@pytest.mark.parametrize("password", PASSWORDS)
def test_bad_urls_never_show_the_password(
    run_cli, migrata_caplog, folder, template, code, shown, password
) -> None:
    url = template.format(pw=quote(password, safe=""))
    result = run_cli("-vv", "-u", url, "-d", folder, "status")
    assert result.code == code
    assert shown in result.err
    assert_clean(password, result, migrata_caplog)


# -- the same in real processes: everything the process writes --------------------------------


def test_real_process_success_never_shows_the_password(postgres_db, folder) -> None:
    for password in (SENTINEL, SPECIAL):
        url = with_password(postgres_db.url, password)
        for i, command in enumerate(
            [
                ["up"],
                ["status"],
                ["status", "--json"],
                ["history"],
                ["validate"],
                ["plan"],
                ["down", "--all"],
            ]
        ):
            # Half the runs get the URL from the environment, half from the flag.
            if i % 2:
                result = run_process(
                    "-vv", "-d", folder, *command, env={"MIGRATA_DATABASE_URL": url}
                )
            else:
                result = run_process("-vv", "-u", url, "-d", folder, *command)
            assert result.code == 0, (command, result.err)
            assert_no_secret(password, result.out, result.err)
        status = run_process("-u", url, "-d", folder, "status", script=True)
        assert status.out.splitlines()[0].startswith(
            "database: postgresql://postgres:***@127.0.0.1:5432/"
        )
        assert_no_secret(password, status.out, status.err)


def test_real_process_failures_never_show_the_password(postgres_db, tmp_path, folder) -> None:
    transactional = write_migrations(
        tmp_path / "bad1", {"0001_bad.sql": "SELECT 1;\nSELECT nope;\n"}
    )
    outside = write_migrations(
        tmp_path / "bad2", {"0001_bad.sql": "-- migrata: no-transaction\nSELECT 1;\nSELECT nope;\n"}
    )
    table = f"lock_{uuid.uuid4().hex[:10]}"
    for password in (SENTINEL, SPECIAL):
        url = with_password(postgres_db.url, password)
        for bad, line in ((transactional, 2), (outside, 3)):
            failed = run_process("-vv", "-u", url, "-d", bad, "up")
            assert failed.code == 1, failed.err
            assert f"{bad / '0001_bad.sql'}:{line}:8: migration 0001 failed" in failed.err
            assert 'column "nope" does not exist' in failed.err
            assert_no_secret(password, failed.out, failed.err)
        # The failure outside a transaction left a failed row: shown, then cleared.
        for command in (["status"], ["history"], ["resolve", "0001", "--rolled-back"]):
            after = run_process("-vv", "-u", url, "-d", outside, *command)
            assert after.code == 0, (command, after.err)
            assert_no_secret(password, after.out, after.err)

        unreachable = run_process(
            "-vv", "-d", folder, "up", env={"DATABASE_URL": with_port(url, 1)}
        )
        assert unreachable.code == 2
        assert "postgres:***@127.0.0.1:1/" in unreachable.err
        assert_no_secret(password, unreachable.out, unreachable.err)

        missing = run_process(
            "-vv", "-u", with_port(url, 5432, "migrata_missing_db"), "-d", folder, "status"
        )
        assert missing.code == 2
        assert "migrata_missing_db" in missing.err
        assert_no_secret(password, missing.out, missing.err)

        holder = psycopg.connect(postgres_db.url, autocommit=True)
        try:
            holder.execute("SELECT pg_advisory_lock(%s)", (lock_key(f"migrata:.{table}"),))
            locked = run_process(
                "-vv",
                "-u",
                url,
                "-d",
                folder,
                "--table",
                table,
                "--lock-timeout",
                "0.3",
                "up",
                script=True,
            )
        finally:
            holder.close()
        assert locked.code == 4, locked.err
        assert "held by pid" in locked.err
        assert_no_secret(password, locked.out, locked.err)


# -- passwords with characters a URL should have encoded --------------------------------------


@pytest.mark.parametrize("raw_password", ["Sentinel#Pw7391", "Sentinel?Pw7391"])
def test_unencoded_hash_or_question_mark_in_the_password_is_redacted(
    run_cli, postgres_db, folder, raw_password
) -> None:
    url = f"postgresql://postgres:{raw_password}@127.0.0.1:5432/{dbname(postgres_db.url)}"
    result = run_cli("-u", url, "-d", folder, "status")
    assert result.code == 0, result.err  # libpq accepted the URL as it is
    assert "Pw7391" not in result.output and "Sentinel" not in result.output


def test_unencoded_at_sign_in_the_password_is_redacted(run_cli, postgres_db, folder) -> None:
    url = f"postgresql://postgres:Sentinel@Pw7391@127.0.0.1:5432/{dbname(postgres_db.url)}"
    result = run_cli("-u", url, "-d", folder, "status")
    assert result.code == 2
    assert "Pw7391" not in result.output and "Sentinel" not in result.output
