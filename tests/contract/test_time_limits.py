"""Time limits against the real engines: the statement timeout, the migration timeout and
the DDL lock timeout with its retries.

The lock timeout is the reason for the rest: DDL queued behind a long transaction must not
keep every reader of the table waiting behind it. So the PostgreSQL tests measure what readers
on a third connection see while a migration's ALTER waits for a lock, with a control run
without a lock timeout that shows the same measurement failing.

Timing bounds here are the feature itself (a reader is blocked no longer than the lock
timeout), with generous margins; every limit is sub-second or a second or two. What a busy
machine changes is how long a test takes, not its outcome: a statement to be cancelled runs far
longer than its limit, a migration that must run out of time is several times longer than it
(and where it stops is checked within what the clock allows, not to the statement), and a lock
is freed once the test has seen migrata wait for it, never after a fixed time.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import pytest
from _contract_support import extra_database, mysql_connect, with_port
from test_round_trips import CountingProxy, measure

from conftest import Database, write_migrations
from migrata import MigrationFailed, Migrator, State, ValidationFailed

# -------------------------------------------------------------------- slow statements

#: Rows per second of SQLite's recursive counter in this process (measured once).
_SQLITE_RATE: list[float] = []


def _sqlite_counter(rows: int) -> str:
    return (
        f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT {rows}) "
        "SELECT count(*) FROM c"
    )


def _sqlite_rate() -> float:
    if not _SQLITE_RATE:
        import sqlite3

        conn = sqlite3.connect(":memory:")
        best = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            conn.execute(_sqlite_counter(1_000_000)).fetchall()
            best = min(best, time.perf_counter() - started)
        conn.close()
        _SQLITE_RATE.append(1_000_000 / best)
    return _SQLITE_RATE[0]


def busy(engine: str, seconds: float) -> str:
    """A statement that takes about ``seconds`` on ``engine`` (SQLite has no sleep: a count
    of a recursive CTE, sized by this machine's speed)."""
    if engine == "postgresql":
        return f"SELECT pg_sleep({seconds:g})"
    if engine == "mysql":
        return f"SELECT SLEEP({seconds:g})"
    if engine == "clickhouse":
        return f"SELECT sleep({seconds:g})"
    return _sqlite_counter(int(seconds * _sqlite_rate()))


#: A statement far longer than any limit of these tests.
FOREVER = {
    "postgresql": "SELECT pg_sleep(30)",
    "mysql": "SELECT SLEEP(30)",
    "sqlite": _sqlite_counter(300_000_000),
    # sleep() is at most 3 s, and ClickHouse checks max_execution_time when it returns.
    "clickhouse": "SELECT sleep(2)",
}


def enforced_by_the_server(db: Database) -> bool:
    """Whether the server itself stops a statement when the migration's time is up: nothing
    can cancel a statement there (``capabilities.cancel``), so the runner caps each one's limit
    at the time left, whatever the load of the machine. Elsewhere a watchdog cancels the
    running statement from a second connection, which a busy machine may open only after that
    statement ended: the next one is cancelled instead."""
    return not db.capabilities.cancel


#: The statement limit each engine is given in the tests of the statement timeout.
STATEMENT_LIMIT = {"postgresql": 0.5, "mysql": 0.5, "sqlite": 0.5, "clickhouse": 1.0}


def said_timeout(db: Database, error: MigrationFailed, limit: float) -> bool:
    """Whether the database's message says the statement timeout stopped the statement."""
    message = error.db_message
    if db.engine == "postgresql":
        return error.sqlstate == "57014" and "statement timeout" in message
    if db.engine == "mysql":
        return error.sqlstate == "1969" and "max_statement_time" in message
    if db.engine == "sqlite":
        return f"ran longer than its {limit:g}s limit" in message
    return "TIMEOUT_EXCEEDED" in message or error.sqlstate == "159"


def entry(m: Migrator, version: str):  # type: ignore[no-untyped-def]
    return next(e for e in m.status() if e.version.text == version)


def audit(m: Migrator, version: str) -> list[str]:
    return [e.event for e in m.audit_log() if e.version == version]


def count(db: Database, table: str) -> int:
    return int(db.query(f"SELECT count(*) FROM {table}")[0][0])


# ------------------------------------------------------------------ statement timeout


def test_statement_timeout_fails_the_migration(db: Database, tmp_path: Path) -> None:
    limit = STATEMENT_LIMIT[db.engine]
    slow = FOREVER[db.engine]
    d = write_migrations(
        tmp_path / "m",
        {
            "0001_base.sql": "CREATE TABLE st_log (id INTEGER);\n",
            "0002_slow.sql": f"INSERT INTO st_log (id) VALUES (1);\n{slow};\n",
        },
    )
    m = Migrator(db.url, directory=d, statement_timeout=limit)
    with pytest.raises(MigrationFailed) as info:
        m.up()
    error = info.value
    assert error.version == "0002"
    assert error.applied == ("0001",)
    assert (error.statement_index, error.statement_count) == (2, 2)
    assert error.path == str(d / "0002_slow.sql")
    assert error.line == 2
    assert said_timeout(db, error, limit), error.db_message
    text = str(error)
    assert f"{d / '0002_slow.sql'}:2:" in text
    assert f"statement: {slow}" in text

    fresh = Migrator(db.url, directory=d)
    assert entry(fresh, "0001").state is State.APPLIED
    assert db.table_exists("st_log")
    assert error.transactional is db.transactional
    if db.transactional:
        # rolled back: no history row, the INSERT before the slow statement undone
        assert db.history() == [("0001",)]
        assert entry(fresh, "0002").state is State.PENDING
        assert count(db, "st_log") == 0
        assert audit(fresh, "0002") == ["failed"]
    else:
        failed = entry(fresh, "0002")
        assert failed.state is State.FAILED
        assert failed.applied is not None
        assert (failed.applied.statements_done, failed.applied.statements_total) == (1, 2)
        assert count(db, "st_log") == 1


@pytest.mark.parametrize("limited_by", ["run", "file"])
def test_a_files_statement_timeout_wins_over_the_runs(
    db: Database, tmp_path: Path, limited_by: str
) -> None:
    """``-- migrata: statement-timeout=0`` lets a statement longer than the run's limit pass
    (limited_by="run"), and ``statement-timeout=300ms`` stops one that the run leaves alone
    (limited_by="file"). SQLite's statement, sized by this machine's speed, is longer: it must
    outlast the limit even when the machine turns out faster than measured."""
    limit = 0.5 if db.engine == "clickhouse" else 0.3
    seconds = {"clickhouse": 1.0, "sqlite": 2.5}.get(db.engine, 1.2)
    sleep = busy(db.engine, seconds)
    if limited_by == "run":
        run = limit
        first = f"-- migrata: statement-timeout=0\n{sleep};\n"
        second = f"-- just the run's limit\n{sleep};\n"
    else:
        run = 0.0
        first = f"-- just the run's limit: none\n{sleep};\n"
        second = f"-- migrata: statement-timeout={int(limit * 1000)}ms\n{sleep};\n"
    d = write_migrations(tmp_path / "m", {"0001_first.sql": first, "0002_second.sql": second})
    with pytest.raises(MigrationFailed) as info:
        Migrator(db.url, directory=d, statement_timeout=run).up()
    error = info.value
    assert error.version == "0002"
    assert error.applied == ("0001",), "the first migration ran its long statement"
    assert said_timeout(db, error, limit), error.db_message
    assert entry(Migrator(db.url, directory=d), "0001").state is State.APPLIED


# ------------------------------------------------------------------ migration timeout


def test_migration_timeout_cancels_what_runs(db: Database, tmp_path: Path) -> None:
    """Six statements of 0.4 s, each well within the 1 s migration limit alone; together
    they are not. (SQLite's are sized by this machine's speed, which other test processes
    change from one moment to the next: thirty of about 0.3 s, far more than the limit even
    when the machine turns out several times faster than measured.)"""
    many, each = (30, 0.3) if db.engine == "sqlite" else (6, 0.4)
    statements = [busy(db.engine, each) for _ in range(many)]
    d = write_migrations(
        tmp_path / "m",
        {
            "0001_base.sql": "CREATE TABLE mt_log (id INTEGER);\n",
            "0002_long.sql": "INSERT INTO mt_log (id) VALUES (1);\n"
            + "".join(f"{s};\n" for s in statements),
        },
    )
    with pytest.raises(MigrationFailed) as info:
        Migrator(db.url, directory=d, migration_timeout=1).up()
    error = info.value
    text = str(error)
    assert error.version == "0002"
    assert error.applied == ("0001",)
    assert "ran longer than its time limit" in text, text
    assert "--migration-timeout" in text
    # A slow statement runs when the time is up: without load the fourth (statements 2 and 3
    # end at 0.8 s), on a busy machine an earlier one, or, when the cancellation comes late, a
    # later one (not where the server enforces the limit).
    last = 4 if enforced_by_the_server(db) else many + 1
    assert 2 <= error.statement_index <= last, text
    assert error.statement_count == many + 1

    m = Migrator(db.url, directory=d)
    assert entry(m, "0001").state is State.APPLIED
    if db.transactional:
        assert db.history() == [("0001",)]
        assert count(db, "mt_log") == 0
        return
    # ClickHouse: what ran stays; the rest runs once the limit is raised.
    failed = entry(m, "0002")
    assert failed.state is State.FAILED and failed.applied is not None
    assert failed.applied.statements_done == error.statement_index - 1
    assert failed.applied.statements_total == many + 1
    report = Migrator(db.url, directory=d, migration_timeout=0).up(resume="0002")
    assert report.versions == ("0002",)
    assert entry(Migrator(db.url, directory=d), "0002").state is State.APPLIED
    assert count(db, "mt_log") == 1


@pytest.fixture(params=["postgresql", "mysql", "clickhouse"])
def outside_db(request: pytest.FixtureRequest) -> Database:
    """Engines where the migration below runs outside a transaction: PostgreSQL and
    MariaDB/MySQL with ``-- migrata: no-transaction`` (there as a migration with DDL would),
    and ClickHouse, which has no transactions."""
    fixture = {"postgresql": "postgres_db", "mysql": "mysql_db"}.get(request.param, "clickhouse_db")
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


def test_migration_timeout_outside_a_transaction_then_resume(
    outside_db: Database, tmp_path: Path
) -> None:
    """A quick INSERT, then six that take 0.4 s each: the 1 s limit stops the migration in one
    of the slow ones (where the server enforces it, at the latest the third, statement 4, which
    cannot end before 1.2 s), keeping what ran before it; ``up --resume`` runs the rest, and
    only the rest."""
    db = outside_db
    if db.engine == "postgresql":
        head = "-- migrata: no-transaction\n"
        slow = [f"INSERT INTO mt_log (k) SELECT {k} FROM pg_sleep(0.4);\n" for k in range(2, 8)]
    elif db.engine == "mysql":
        # An INSERT that sleeps: killed, it fails (MySQL's SLEEP() alone would return 1).
        head = "-- migrata: no-transaction\n"
        slow = [
            f"INSERT INTO mt_log (k) SELECT {k} FROM (SELECT SLEEP(0.4)) s;\n" for k in range(2, 8)
        ]
    else:
        head = ""
        slow = [f"INSERT INTO mt_log (k) SELECT {k} + sleep(0.4);\n" for k in range(2, 8)]
    d = write_migrations(
        tmp_path / "m",
        {
            "0001_base.sql": "CREATE TABLE mt_log (k INTEGER);\n",
            "0002_outside.sql": head + "INSERT INTO mt_log (k) VALUES (1);\n" + "".join(slow),
        },
    )
    with pytest.raises(MigrationFailed) as info:
        Migrator(db.url, directory=d, migration_timeout=1).up()
    error = info.value
    text = str(error)
    assert "ran longer than its time limit" in text and "--migration-timeout" in text, text
    assert error.transactional is False
    stopped = error.statement_index
    last = 4 if enforced_by_the_server(db) else 7
    assert 2 <= stopped <= last and error.statement_count == 7, text
    assert f"statement {stopped} of 7" in text and "--resume 0002" in text

    m = Migrator(db.url, directory=d)
    failed = entry(m, "0002")
    assert failed.state is State.FAILED and failed.applied is not None
    assert (failed.applied.statements_done, failed.applied.statements_total) == (stopped - 1, 7)
    # ClickHouse checks the time limit as the statement ends: the one that ran out of time may
    # have written its row all the same (it runs again on resume). Elsewhere it wrote nothing.
    rows = sorted(r[0] for r in db.query("SELECT k FROM mt_log"))
    written = rows[stopped - 1 :]
    assert rows[: stopped - 1] == list(range(1, stopped)), rows
    assert written == [] or (not db.transactional and written == [stopped]), rows
    with pytest.raises(ValidationFailed):
        Migrator(db.url, directory=d).up()

    raised = Migrator(db.url, directory=d, migration_timeout=60)
    assert raised.up(resume="0002").versions == ("0002",)
    done = entry(Migrator(db.url, directory=d), "0002")
    assert done.state is State.APPLIED and done.applied is not None
    assert done.applied.statements_done == 7
    # those before the stop did not run again; the rest ran once (and the one that ran out of
    # time twice where it wrote its row the first time)
    rows = sorted(r[0] for r in db.query("SELECT k FROM mt_log"))
    assert rows == sorted([*range(1, 8), *written]), rows


# ----------------------------------------------------------- PostgreSQL lock timeout


def retry_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "migrata_event", None) == "lock_timeout_retry"]


def event_records(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "migrata_event", None) == event]


@contextmanager
def pg_holder(url: str, sql: str = "SELECT * FROM t") -> Iterator[Any]:
    """A connection whose open transaction ran ``sql`` (so it holds that statement's locks
    until commit or rollback)."""
    import psycopg

    conn = psycopg.connect(url)
    try:
        conn.execute(sql)
        yield conn
    finally:
        conn.rollback()
        conn.close()


class Readers:
    """Runs ``sql`` in a loop on its own autocommit connection (each query its own short
    transaction), keeping each query's latency."""

    def __init__(self, db: Database, sql: str = "SELECT count(*) FROM t") -> None:
        self.db = db
        self.sql = sql
        self.latencies: list[float] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        try:
            conn = self.db.connect()
            try:
                while not self._stop.is_set():
                    started = time.monotonic()
                    if self.db.engine == "mysql":
                        with conn.cursor() as cur:
                            cur.execute(self.sql)
                            cur.fetchall()
                    else:
                        conn.execute(self.sql).fetchall()
                    self.latencies.append(time.monotonic() - started)
                    self._stop.wait(0.01)
            finally:
                conn.close()
        except BaseException as exc:  # noqa: BLE001 - reported by __exit__
            self.errors.append(exc)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "a reader is still blocked"
        assert not self.errors, self.errors

    @property
    def worst(self) -> float:
        return max(self.latencies)


class Background:
    """Runs ``action`` in a thread; ``result()`` returns its value or raises its exception."""

    def __init__(self, action: Callable[[], Any]) -> None:
        self._action = action
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._action()
        except BaseException as exc:  # noqa: BLE001 - raised by result()
            self._error = exc

    @property
    def running(self) -> bool:
        """Whether ``action`` has not returned (or raised) yet."""
        return self._thread.is_alive()

    def result(self, timeout: float = 60) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the background action did not end"
        if self._error is not None:
            raise self._error
        return self._value


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Until ``condition()`` holds; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.02)


def wait_until_pg_waits_for_a_lock(db: Database, like: str, timeout: float = 15) -> None:
    """Until a session of ``db`` running a query LIKE ``like`` waits for a lock."""
    conn = db.connect()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE %s",
                (like,),
            ).fetchall()
            if rows:
                return
            time.sleep(0.02)
    finally:
        conn.close()
    raise AssertionError(f"no session ran {like!r} waiting for a lock within {timeout}s")


def pg_columns(db: Database, table: str) -> list[str]:
    rows = db.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
        (table,),
    )
    return [r[0] for r in rows]


ADD_COLUMN = {"0002_add_c.sql": "ALTER TABLE t ADD COLUMN c int;\n"}
PG_LOCK = 0.5
#: How long, at least, the long transaction keeps its lock once the migration started.
HOLD = 2.5


def pg_table(db: Database, tmp_path: Path) -> Path:
    """A folder whose 0001 (applied) created table t with 100 rows; 0002 adds column c."""
    d = write_migrations(
        tmp_path / "m",
        {"0001_t.sql": "CREATE TABLE t (id int);\nINSERT INTO t SELECT generate_series(1, 100);\n"},
    )
    assert Migrator(db.url, directory=d).up().versions == ("0001",)
    return write_migrations(d, ADD_COLUMN)


def test_postgres_ddl_gives_way_to_a_long_transaction_and_readers_go_on(
    postgres_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = postgres_db
    d = pg_table(db, tmp_path)
    caplog.set_level(logging.INFO, logger="migrata")
    migrator = Migrator(db.url, directory=d, ddl_lock_timeout=PG_LOCK, ddl_lock_retries=5)
    with pg_holder(db.url) as holder, Readers(db) as readers:
        started = time.monotonic()
        run = Background(migrator.up)
        # The long transaction ends once the ALTER gave way twice and the readers have been
        # measured meanwhile, and not before HOLD: without a lock timeout they would have
        # queued behind the ALTER that long.
        wait_until(
            lambda: (
                len(retry_records(caplog)) >= 2
                and len(readers.latencies) > 20
                and time.monotonic() - started >= HOLD
            ),
            "the ALTER giving way twice, with readers measured",
        )
        assert run.running, "the ALTER cannot have run before the long transaction ended"
        holder.commit()
        report = run.result()

    assert report.versions == ("0002",)
    assert "c" in pg_columns(db, "t")
    assert db.history() == [("0001",), ("0002",)]
    assert audit(Migrator(db.url, directory=d), "0002") == ["applied"]

    retries = retry_records(caplog)
    assert retries, "the ALTER never gave way"
    assert [r.migrata_fields["retry"] for r in retries] == list(range(1, len(retries) + 1))
    for record in retries:
        assert record.levelno == logging.WARNING
        assert record.migrata_fields["version"] == "0002"
        assert record.migrata_fields["lock_timeout_s"] == PG_LOCK
        assert record.migrata_fields["retries"] == 5
        assert "lock timeout" in record.migrata_fields["error"]
        assert "gave up waiting for a lock after 0.5s" in record.getMessage()
    assert "(retry 1 of 5)" in retries[0].getMessage()
    (applied,) = event_records(caplog, "migration_applied")
    assert applied.migrata_fields["attempts"] == len(retries) + 1

    # The readers went on: each waited at most one lock timeout behind the queued ALTER...
    assert readers.worst < PG_LOCK + 1.5, sorted(readers.latencies)[-5:]
    # ...and they did queue behind it (the measurement sees the ALTER's waits).
    assert readers.worst > PG_LOCK / 2, sorted(readers.latencies)[-5:]


def test_postgres_without_a_lock_timeout_readers_queue_behind_the_ddl(
    postgres_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The control of the test above: with no lock timeout (``lock=0``: wait as long as it
    takes) a reader that starts while the ALTER waits is blocked as long as the long
    transaction lasts: here HOLD from when the test sees it blocked."""
    db = postgres_db
    d = pg_table(db, tmp_path)
    caplog.set_level(logging.INFO, logger="migrata")
    migrator = Migrator(db.url, directory=d, ddl_lock_timeout=0, ddl_lock_retries=5)
    with pg_holder(db.url) as holder:
        run = Background(migrator.up)
        wait_until_pg_waits_for_a_lock(db, "%ALTER TABLE t ADD COLUMN c%")
        with Readers(db) as readers:
            wait_until_pg_waits_for_a_lock(db, readers.sql)
            time.sleep(HOLD)
            assert run.running, "the ALTER cannot have run before the long transaction ended"
            holder.commit()
            report = run.result()
    assert report.versions == ("0002",)
    assert "c" in pg_columns(db, "t")
    assert retry_records(caplog) == []
    assert readers.worst > HOLD, sorted(readers.latencies)[-5:]


def migrata_cli(*args: object, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m migrata ARGS`` in a process of its own, with no MIGRATA_* variables."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    return subprocess.run(
        [sys.executable, "-m", "migrata", *(str(a) for a in args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_postgres_ddl_behind_a_transaction_that_never_ends_fails_cleanly(
    postgres_db: Database, tmp_path: Path
) -> None:
    db = postgres_db
    d = pg_table(db, tmp_path)
    options = ("-u", db.url, "-d", d, "--ddl-lock-timeout", "500ms", "--ddl-lock-retries", "1")
    with pg_holder(db.url) as holder:
        with Readers(db) as readers:
            result = migrata_cli(*options, "up")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "gave up waiting for a lock 2 time(s)" in result.stderr, result.stderr
        assert "run `migrata up` again once the lock is free" in result.stderr
        assert "migrata: warning: 0002_add_c:" in result.stderr
        assert "(retry 1 of 1)" in result.stderr
        assert "c" not in pg_columns(db, "t")
        assert db.history() == [("0001",)]
        # nothing is left waiting: the table is usable while the holder still runs
        with db.connect() as conn:
            conn.execute("SET lock_timeout = '2s'")
            conn.execute("INSERT INTO t VALUES (101)")
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (101,)
        assert readers.worst < PG_LOCK + 1.5
        holder.rollback()
    again = migrata_cli(*options, "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "c" in pg_columns(db, "t")
    assert db.history() == [("0001",), ("0002",)]


def test_postgres_lock_freed_during_the_last_attempt_is_not_blamed_on_commit(
    postgres_db: Database, tmp_path: Path
) -> None:
    """The last attempt (here the only one: no retries) gives up after the 1 s lock timeout;
    the lock is freed half a second later. Whatever migrata does then, it must not report a
    failure of the COMMIT: the ALTER gave way, and the database is as it was, or the column
    was added and recorded."""
    db = postgres_db
    d = pg_table(db, tmp_path)
    migrator = Migrator(db.url, directory=d, ddl_lock_timeout=1, ddl_lock_retries=0)
    with pg_holder(db.url) as holder:
        ends = threading.Timer(1.5, holder.commit)
        ends.start()
        try:
            try:
                migrator.up()
            except MigrationFailed as failure:
                error: MigrationFailed | None = failure
            else:
                error = None
        finally:
            ends.join()
    if error is None:
        assert "c" in pg_columns(db, "t")
        assert db.history() == [("0001",), ("0002",)]
        return
    assert error.gave_way and error.sqlstate == "55P03"
    assert "COMMIT" not in error.db_message, str(error)
    assert "c" not in pg_columns(db, "t")
    assert db.history() == [("0001",)]


# ----------------------------------------------------------------- MariaDB lock timeout


def mysql_columns(db: Database, table: str) -> list[str]:
    rows = db.query(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (table,),
    )
    return [r[0] for r in rows]


@contextmanager
def mysql_holder(url: str) -> Iterator[Any]:
    """A connection in a transaction that read t: it keeps a metadata lock on t."""
    conn = mysql_connect(url, autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("START TRANSACTION")
            cur.execute("SELECT * FROM t")
            cur.fetchall()
        yield conn
    finally:
        conn.rollback()
        conn.close()


def mysql_table(db: Database, tmp_path: Path) -> Path:
    d = write_migrations(
        tmp_path / "m",
        {"0001_t.sql": "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1), (2), (3);\n"},
    )
    assert Migrator(db.url, directory=d).up().versions == ("0001",)
    return write_migrations(d, {"0002_add_c.sql": "ALTER TABLE t ADD COLUMN c INT;\n"})


def test_mysql_ddl_gives_way_to_a_metadata_lock_then_succeeds(
    mysql_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = mysql_db
    d = mysql_table(db, tmp_path)
    caplog.set_level(logging.INFO, logger="migrata")
    migrator = Migrator(db.url, directory=d, ddl_lock_timeout=1, ddl_lock_retries=4)
    with mysql_holder(db.url) as holder:
        run = Background(migrator.up)
        # The transaction ends once the ALTER gave way (however long it took to get there).
        wait_until(lambda: bool(retry_records(caplog)), "the ALTER giving way")
        assert run.running, "the ALTER cannot have run before the transaction ended"
        holder.commit()
        report = run.result()
    assert report.versions == ("0002",)
    assert mysql_columns(db, "t") == ["id", "c"]
    assert db.history() == [("0001",), ("0002",)]
    retries = retry_records(caplog)
    assert retries, "the ALTER never gave way"
    assert [r.migrata_fields["retry"] for r in retries] == list(range(1, len(retries) + 1))
    for record in retries:
        assert record.migrata_fields["lock_timeout_s"] == 1
        assert record.migrata_fields["statement_index"] == 1
        assert "Lock wait timeout exceeded" in record.migrata_fields["error"]
    (applied,) = event_records(caplog, "migration_applied")
    assert applied.migrata_fields["attempts"] == len(retries) + 1
    assert entry(Migrator(db.url, directory=d), "0002").state is State.APPLIED


def test_mysql_ddl_behind_a_lock_that_stays_fails_resumably(
    mysql_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = mysql_db
    d = mysql_table(db, tmp_path)
    caplog.set_level(logging.INFO, logger="migrata")
    with mysql_holder(db.url) as holder:
        with pytest.raises(MigrationFailed) as info:
            Migrator(db.url, directory=d, ddl_lock_timeout=1, ddl_lock_retries=1).up()
        error = info.value
        text = str(error)
        assert error.gave_way and error.transactional is False
        assert error.sqlstate == "1205"
        assert (error.statement_index, error.statement_count) == (1, 1)
        assert "gave up waiting for a lock 2 time(s)" in text, text
        assert "--resume 0002" in text
        assert len(retry_records(caplog)) == 1
        assert mysql_columns(db, "t") == ["id"]
        failed = entry(Migrator(db.url, directory=d), "0002")
        assert failed.state is State.FAILED and failed.applied is not None
        assert (failed.applied.statements_done, failed.applied.statements_total) == (0, 1)
        # the table is usable meanwhile
        assert count(db, "t") == 3
        holder.commit()
    with pytest.raises(ValidationFailed):
        Migrator(db.url, directory=d).up()
    report = Migrator(db.url, directory=d, ddl_lock_timeout=1).up(resume="0002")
    assert report.versions == ("0002",)
    assert mysql_columns(db, "t") == ["id", "c"]
    assert entry(Migrator(db.url, directory=d), "0002").state is State.APPLIED


# ------------------------------------------------- CREATE INDEX CONCURRENTLY waits by design


def test_postgres_create_index_concurrently_has_no_lock_timeout(
    postgres_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import psycopg

    db = postgres_db
    d = write_migrations(
        tmp_path / "m",
        {
            "0001_t.sql": "CREATE TABLE t (id int, v text);\nINSERT INTO t SELECT g, g::text "
            "FROM generate_series(1, 1000) g;\n"
        },
    )
    Migrator(db.url, directory=d).up()
    write_migrations(
        d,
        {"0002_index.sql": "-- migrata: no-transaction\nCREATE INDEX CONCURRENTLY t_v ON t (v);\n"},
    )
    caplog.set_level(logging.INFO, logger="migrata")
    # A writer's open transaction: CREATE INDEX CONCURRENTLY waits for it to end.
    with pg_holder(db.url, "INSERT INTO t VALUES (0, 'x')") as holder:
        # The control: PostgreSQL's lock_timeout does stop that wait.
        with db.connect() as conn:
            conn.execute("SET lock_timeout = '500ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                conn.execute("CREATE INDEX CONCURRENTLY t_v_probe ON t (v)")
        migrator = Migrator(db.url, directory=d, ddl_lock_timeout=PG_LOCK, ddl_lock_retries=0)
        run = Background(migrator.up)
        wait_until_pg_waits_for_a_lock(db, "%CREATE INDEX CONCURRENTLY t_v ON t%")
        time.sleep(4 * PG_LOCK)
        assert run.running, "it waits for the writer's transaction, longer than the lock timeout"
        holder.commit()
        report = run.result()
    assert report.versions == ("0002",)
    assert retry_records(caplog) == []
    assert db.query(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = 't_v'"
    ) == [(True,)]
    assert entry(Migrator(db.url, directory=d), "0002").state is State.APPLIED


# ---------------------------------------------------------------------- round trips


def test_postgres_lock_timeout_rides_in_the_migrations_round_trip(
    postgres_db: Database, tmp_path: Path
) -> None:
    """Ten transactional migrations cost as many round trips with a lock timeout as without:
    the SET LOCAL travels in each migration's batch. Each migration checks the lock_timeout
    it runs with, so the measured run is known to have set it."""
    n = 10

    def folder(name: str, expected: str) -> Path:
        check = (
            f"DO $$ BEGIN IF current_setting('lock_timeout') <> '{expected}' THEN "
            "RAISE EXCEPTION 'lock_timeout is %', current_setting('lock_timeout'); "
            "END IF; END $$;\n"
        )
        return write_migrations(
            tmp_path / name,
            {
                f"{k:04d}_t{k}.sql": f"CREATE TABLE rt_{k} (id int);\n{check}"
                f"INSERT INTO rt_{k} VALUES ({k});\n"
                for k in range(1, n + 1)
            },
        )

    db_url = postgres_db.url
    proxy = CountingProxy(("127.0.0.1", urlsplit(db_url).port or 5432))
    try:
        with extra_database("postgresql", db_url) as other:
            plain = measure(
                proxy,
                lambda: Migrator(
                    with_port(db_url, proxy.port),
                    directory=folder("plain", "0"),
                    ddl_lock_timeout=0,
                ).up(),
            )
            limited = measure(
                proxy,
                lambda: Migrator(
                    with_port(other, proxy.port),
                    directory=folder("limited", "5s"),
                    ddl_lock_timeout=5,
                ).up(),
            )
            applied = Migrator(other, directory=tmp_path / "limited").status()
    finally:
        proxy.close()
    print(f"\nround trips of {n} migrations: without a lock timeout {plain}, with {limited}")
    assert [e.state for e in applied] == [State.APPLIED] * n
    assert plain[0] == limited[0] == 1
    # the same; one for a stray direction switch of the instrument (one per migration would
    # be ten)
    assert abs(limited[1] - plain[1]) <= 1, (plain, limited)


# ------------------------------------------------------------ borrowed connections


def test_postgres_borrowed_connection_gets_its_limits_back(
    postgres_db: Database, tmp_path: Path
) -> None:
    import psycopg

    def check(statement: str, lock: str) -> str:
        return (
            f"DO $$ BEGIN IF current_setting('statement_timeout') <> '{statement}' OR "
            f"current_setting('lock_timeout') <> '{lock}' THEN "
            "RAISE EXCEPTION 'limits are % and %', "
            "current_setting('statement_timeout'), current_setting('lock_timeout'); "
            "END IF; END $$;\n"
        )

    d = write_migrations(
        tmp_path / "m",
        {
            "0001_t.sql": f"CREATE TABLE b (id int);\n{check('20s', '1s')}",
            "0002_index.sql": (
                "-- migrata: no-transaction\n"
                f"{check('20s', '1s')}"
                "CREATE INDEX CONCURRENTLY b_id ON b (id);\n"
            ),
            "0003_more.sql": f"ALTER TABLE b ADD COLUMN c int;\n{check('20s', '1s')}",
        },
    )
    conn = psycopg.connect(postgres_db.url, autocommit=True)
    try:
        conn.execute("SET statement_timeout = '7s'")
        conn.execute("SET lock_timeout = '3s'")
        report = Migrator(
            connection=conn, directory=d, statement_timeout=20, ddl_lock_timeout=1
        ).up()
        assert report.versions == ("0001", "0002", "0003")
        assert report.steps[1].transactional is False
        assert not conn.closed and conn.autocommit
        assert conn.execute("SHOW statement_timeout").fetchone() == ("7s",)
        assert conn.execute("SHOW lock_timeout").fetchone() == ("3s",)
    finally:
        conn.close()


def test_mysql_borrowed_connection_gets_its_limits_back(mysql_db: Database, tmp_path: Path) -> None:
    d = write_migrations(
        tmp_path / "m",
        {
            "0001_t.sql": "CREATE TABLE seen (lock_wait INT, innodb INT, statement_time DOUBLE);\n",
            "0002_seen.sql": (
                "ALTER TABLE seen ADD COLUMN c INT;\n"
                "INSERT INTO seen (lock_wait, innodb, statement_time) VALUES "
                "(@@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout, "
                "@@SESSION.max_statement_time);\n"
            ),
        },
    )
    conn = mysql_connect(mysql_db.url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION lock_wait_timeout = 77")
            cur.execute("SET SESSION innodb_lock_wait_timeout = 33")
            cur.execute("SET SESSION max_statement_time = 55")
        report = Migrator(
            connection=conn, directory=d, statement_timeout=20, ddl_lock_timeout=1
        ).up()
        assert report.versions == ("0001", "0002")
        # migrata's limits were in force while the migrations ran
        assert mysql_db.query("SELECT lock_wait, innodb, statement_time FROM seen") == [
            (1, 1, 20.0)
        ]
        with conn.cursor() as cur:
            cur.execute(
                "SELECT @@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout, "
                "@@SESSION.max_statement_time"
            )
            assert cur.fetchone() == (77, 33, 55.0)
    finally:
        conn.close()
