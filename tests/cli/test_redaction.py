"""A database password never reaches anything migrata writes: stdout, stderr, log records,
exception text — on success and on failure, in-process and in a real process, on PostgreSQL
and on MySQL/MariaDB (where each password belongs to a user the test creates)."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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

from conftest import Database, write_migrations
from migrata.backends.postgres.connection import lock_key

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


@pytest.fixture(params=["postgresql", "mysql"])
def server(request: pytest.FixtureRequest) -> Database:
    """A fresh database on each server engine in turn."""
    fixture = "mysql_db" if request.param == "mysql" else "postgres_db"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


@pytest.fixture
def secret_url(server: Database) -> Iterator[Callable[[str], str]]:
    """``secret_url(password)``: the URL of ``server``'s database with ``password`` in it, one
    that server accepts. PostgreSQL trusts local connections whatever the password; on
    MySQL/MariaDB a user with that password (and rights on this database only) is created,
    and dropped after the test."""
    users: list[str] = []

    def make(password: str) -> str:
        if server.engine != "mysql":
            return with_password(server.url, password)
        user = f"mt_{uuid.uuid4().hex[:10]}"
        server.query("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, password))
        users.append(user)
        server.query(f"GRANT ALL ON `{dbname(server.url)}`.* TO %s@'127.0.0.1'", (user,))
        parts = urlsplit(server.url)
        netloc = f"{user}:{quote(password, safe='')}@127.0.0.1:{parts.port or 3306}"
        return f"mysql://{netloc}/{dbname(server.url)}"

    try:
        yield make
    finally:
        for user in users:
            server.query("DROP USER IF EXISTS %s@'127.0.0.1'", (user,))


def with_raw_password(db: Database, password: str) -> str:
    """The URL of ``db`` with ``password`` in it exactly as given (not percent-encoded)."""
    parts = urlsplit(db.url)
    address = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{db.user}:{password}@{address}/{dbname(db.url)}"


def redacted(url: str) -> str:
    """``url`` as migrata shows it: the password replaced by ``***``."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"{parts.username}:***@{parts.hostname}:{parts.port}").geturl()


@contextmanager
def holding_the_lock(db: Database, table: str) -> Iterator[None]:
    """Another session holds the migration lock of ``table`` on ``db``'s database."""
    if db.engine == "mysql":
        from migrata.backends.mysql.connection import lock_name

        holder = db.connect()
        try:
            with holder.cursor() as cur:
                cur.execute(
                    "SELECT GET_LOCK(%s, 0)", (lock_name(f"migrata:.{table}", dbname(db.url)),)
                )
                assert cur.fetchone()[0] == 1
            yield
        finally:
            holder.close()
        return
    with psycopg.connect(db.url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT pg_try_advisory_lock(%s)", (lock_key(f"migrata:.{table}"),)
        ).fetchone()[0]
        yield


#: How a lock timeout names the holder.
HELD_BY = {"postgresql": "held by pid", "mysql": "held by connection id"}
#: What the server says about SELECT of a column that does not exist.
NO_COLUMN = {
    "postgresql": 'column "{}" does not exist',
    "mysql": "Unknown column '{}' in ",
}
#: Where the server's error points in ``SELECT nope`` (MySQL/MariaDB: at the statement).
NOPE_COLUMN = {"postgresql": 8, "mysql": 1}


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
    run_cli, migrata_caplog, raw_records, secret_url, folder, password, setup, command
) -> None:
    url = secret_url(password)
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
def test_status_shows_the_redacted_url(run_cli, server, secret_url, folder, password) -> None:
    url = secret_url(password)
    parts = urlsplit(url)
    address = parts.netloc.rsplit("@", 1)[1]
    expected = f"{parts.scheme}://{parts.username}:***@{address}/{dbname(server.url)}"
    text = run_cli("-u", url, "-d", folder, "status")
    assert text.code == 0, text.err
    assert text.out.splitlines()[0] == f"database: {expected}"
    as_json = run_cli("-u", url, "-d", folder, "status", "--json")
    assert json.loads(as_json.out)["database"] == expected
    assert_no_secret(password, text.out, as_json.out)


# -- failure ----------------------------------------------------------------------------------


@pytest.mark.parametrize("password", PASSWORDS)
def test_failing_migration_never_shows_the_password(
    run_cli, migrata_caplog, raw_records, server, secret_url, tmp_path, password
) -> None:
    url = secret_url(password)
    folder = write_migrations(
        tmp_path / "m",
        {"0001_bad.sql": "CREATE TABLE t (id int);\nSELECT no_such_column FROM t;\n"},
    )
    result = run_cli("-vv", "-u", url, "-d", folder, "up")
    assert result.code == 1, result.err
    assert NO_COLUMN[server.engine].format("no_such_column") in result.err
    assert any(r.levelno == logging.ERROR for r in migrata_caplog.records)
    assert_clean(password, result, migrata_caplog, raw_records)
    history = run_cli("-vv", "-u", url, "-d", folder, "history")
    assert "failed" in history.out
    assert_clean(password, history, migrata_caplog, raw_records)


@pytest.mark.parametrize("password", PASSWORDS)
def test_failure_outside_a_transaction_keeps_the_history_clean(
    run_cli, migrata_caplog, secret_url, tmp_path, password
) -> None:
    url = secret_url(password)
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


#: A migration whose third statement fails with an error that quotes the password (built from
#: pieces, so that the file itself does not hold it), and the stored error's first line.
ECHO = {
    "postgresql": (
        "DO $$ BEGIN RAISE EXCEPTION 'echo %', 'Sentinel' || '-Pw-' || '7391'; END $$;\n",
        "[P0001] echo ***",
    ),
    "mysql": (
        "INSERT INTO e (v) VALUES (CONCAT('Sentinel', '-Pw-', '7391'));\n" * 2,
        "[1062] Duplicate entry '***' for key 'PRIMARY'",
    ),
}


def test_database_error_echoing_the_password_is_scrubbed(
    run_cli, migrata_caplog, server, secret_url, tmp_path
) -> None:
    """The database's own message passes through the scrubber before it is shown or stored."""
    url = secret_url(SENTINEL)
    failing, stored_error = ECHO[server.engine]
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_echo.sql": (
                "-- migrata: no-transaction\nCREATE TABLE e (v VARCHAR(40) PRIMARY KEY);\n"
                + failing
            )
        },
    )
    line = 2 + failing.count("\n")
    result = run_cli("-vv", "-u", url, "-d", folder, "up")
    assert result.code == 1
    assert stored_error.split("] ", 1)[1] in result.err
    stored = run_cli("-u", url, "-d", folder, "status", "--json")
    # The stored error: the server's code and message, then where the statement is.
    error = json.loads(stored.out)["migrations"][0]["error"].splitlines()
    assert error[0] == stored_error
    assert error[1].startswith(f"statement: {folder / '0001_echo.sql'}:{line}:1: ")
    assert_no_secret(SENTINEL, result.out, result.err, migrata_caplog.text, stored.out)
    assert SENTINEL not in str(server.query("SELECT error FROM migrata_history"))
    assert SENTINEL not in str(server.query("SELECT detail FROM migrata_history_audit"))


@pytest.mark.parametrize(
    "unreachable", ["postgresql://postgres@127.0.0.1:1/x", "mysql://app@127.0.0.1:1/x"]
)
@pytest.mark.parametrize("password", PASSWORDS)
def test_unreachable_port_never_shows_the_password(
    run_cli, migrata_caplog, raw_records, folder, password, unreachable
) -> None:
    url = with_password(unreachable, password)
    result = run_cli("-vv", "-u", url, "-d", folder, "up")
    assert result.code == 2
    assert f"cannot connect to {redacted(url)}" in result.err
    assert_clean(password, result, migrata_caplog, raw_records)


#: What the server says when the URL names a database that is not there (MySQL/MariaDB: the
#: test's user may only use its own database).
MISSING_DATABASE = {
    "postgresql": 'database "{}" does not exist',
    "mysql": "to database '{}'",
}


@pytest.mark.parametrize("password", PASSWORDS)
def test_bad_database_name_never_shows_the_password(
    run_cli, migrata_caplog, raw_records, server, secret_url, folder, password
) -> None:
    missing = f"migrata_missing_{uuid.uuid4().hex[:8]}"
    url = urlsplit(secret_url(password))._replace(path=f"/{missing}").geturl()
    for command in (["status"], ["up"]):
        result = run_cli("-vv", "-u", url, "-d", folder, *command)
        assert result.code == 2
        assert redacted(url) in result.err
        assert MISSING_DATABASE[server.engine].format(missing) in result.err
        assert_clean(password, result, migrata_caplog, raw_records)


@pytest.mark.parametrize("password", PASSWORDS)
def test_lock_timeout_never_shows_the_password(
    run_cli, migrata_caplog, raw_records, server, secret_url, folder, password
) -> None:
    table = f"lock_{uuid.uuid4().hex[:10]}"
    url = secret_url(password)
    with holding_the_lock(server, table):
        result = run_cli(
            "-vv", "-u", url, "-d", folder, "--table", table, "--lock-timeout", "0.3", "up"
        )
    assert result.code == 4
    assert HELD_BY[server.engine] in result.err
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


def test_real_process_success_never_shows_the_password(server, secret_url, folder) -> None:
    for password in (SENTINEL, SPECIAL):
        url = secret_url(password)
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
        assert status.out.splitlines()[0] == f"database: {redacted(url)}"
        assert_no_secret(password, status.out, status.err)


def test_real_process_failures_never_show_the_password(
    server, secret_url, tmp_path, folder
) -> None:
    transactional = write_migrations(
        tmp_path / "bad1", {"0001_bad.sql": "SELECT 1;\nSELECT nope;\n"}
    )
    outside = write_migrations(
        tmp_path / "bad2", {"0001_bad.sql": "-- migrata: no-transaction\nSELECT 1;\nSELECT nope;\n"}
    )
    table = f"lock_{uuid.uuid4().hex[:10]}"
    column = NOPE_COLUMN[server.engine]
    for password in (SENTINEL, SPECIAL):
        url = secret_url(password)
        user = urlsplit(url).username
        for bad, line in ((transactional, 2), (outside, 3)):
            failed = run_process("-vv", "-u", url, "-d", bad, "up")
            assert failed.code == 1, failed.err
            assert f"{bad / '0001_bad.sql'}:{line}:{column}: migration 0001 failed" in failed.err
            assert NO_COLUMN[server.engine].format("nope") in failed.err
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
        assert f"{user}:***@127.0.0.1:1/" in unreachable.err
        assert_no_secret(password, unreachable.out, unreachable.err)

        port = urlsplit(url).port
        missing = run_process(
            "-vv", "-u", with_port(url, port, "migrata_missing_db"), "-d", folder, "status"
        )
        assert missing.code == 2
        assert "migrata_missing_db" in missing.err
        assert_no_secret(password, missing.out, missing.err)

        with holding_the_lock(server, table):
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
        assert locked.code == 4, locked.err
        assert HELD_BY[server.engine] in locked.err
        assert_no_secret(password, locked.out, locked.err)


# -- passwords with characters a URL should have encoded --------------------------------------


@pytest.mark.parametrize("raw_password", ["Sentinel#Pw7391", "Sentinel?Pw7391"])
def test_unencoded_hash_or_question_mark_in_the_password_is_redacted(
    run_cli, postgres_db, folder, raw_password
) -> None:
    url = with_raw_password(postgres_db, raw_password)
    result = run_cli("-u", url, "-d", folder, "status")
    assert result.code == 0, result.err  # libpq accepted the URL as it is
    assert "Pw7391" not in result.output and "Sentinel" not in result.output


def test_unencoded_at_sign_in_the_password_is_redacted(run_cli, postgres_db, folder) -> None:
    url = with_raw_password(postgres_db, "Sentinel@Pw7391")
    result = run_cli("-u", url, "-d", folder, "status")
    assert result.code == 2
    assert "Pw7391" not in result.output and "Sentinel" not in result.output
