"""Replicas starting at once: N processes run ``up`` on one database, exactly one applies each
migration (on every engine other processes can open); the lock is polled (never a blocking wait that deadlocks CREATE
INDEX CONCURRENTLY), times out with the holder named (PostgreSQL, MySQL/MariaDB, SQLite), and
reading commands never wait for it."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import queue
import time
from pathlib import Path
from typing import Any

import pytest
from _contract_support import extra_postgres_database, mysql_connect
from _contract_workers import run_up

from conftest import write_migrations
from migrata import LockTimeout, Migrator, State

SPAWN = multiprocessing.get_context("spawn")

CONCURRENT_FILES = {
    "0001_log.sql": (
        "CREATE TABLE applied_log (version TEXT NOT NULL);\n"
        "INSERT INTO applied_log (version) VALUES ('0001');\n"
    ),
    **{
        f"000{n}_t{n}.sql": (
            f"CREATE TABLE t{n} (id INTEGER PRIMARY KEY);\n"
            f"CREATE INDEX t{n}_id ON t{n} (id);\n"
            f"INSERT INTO applied_log (version) VALUES ('000{n}');\n"
        )
        for n in range(2, 6)
    },
    "0006_outside.sql": (
        "-- migrata: no-transaction\n"
        "CREATE TABLE t6 (id INTEGER);\n"
        "INSERT INTO applied_log (version) VALUES ('0006');\n"
    ),
}
ALL_VERSIONS = [f"000{n}" for n in range(1, 7)]


class Group:
    """Processes started together, with the synchronisation objects they share (kept alive
    here: a Barrier collected in the parent before a child unpickles it is gone)."""

    def __init__(self, processes: list[Any], results: Any, barrier: Any) -> None:
        self.processes = processes
        self.results = results
        self.barrier = barrier


def start_processes(count: int, url: str, directory: Path, **kwargs: Any) -> Group:
    barrier = SPAWN.Barrier(count)
    results = SPAWN.Queue()
    processes = [
        SPAWN.Process(
            target=run_up,
            args=(url, str(directory), barrier, results),
            kwargs=kwargs,
            name=f"migrata-up-{i}",
        )
        for i in range(count)
    ]
    for p in processes:
        p.start()
    return Group(processes, results, barrier)


def finish(group: Group, *, timeout: float = 120) -> list[tuple[str, Any]]:
    """Collect one result per process and join them all, killing stragglers on timeout."""
    processes, results = group.processes, group.results
    deadline = time.monotonic() + timeout
    collected: list[tuple[str, Any]] = []
    try:
        while len(collected) < len(processes):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                collected.append(results.get(timeout=min(remaining, 1.0)))
            except queue.Empty:
                if all(not p.is_alive() for p in processes) and results.empty():
                    break
        for p in processes:
            p.join(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        stuck = [p for p in processes if p.is_alive()]
        for p in stuck:
            p.kill()
            p.join(5)
    assert not stuck, f"{len(stuck)} process(es) still running after {timeout}s (deadlock?)"
    return collected


@pytest.mark.slow
def test_ten_processes_apply_each_migration_exactly_once(server_db, tmp_path: Path) -> None:
    """Ten processes, so every engine another process can open (not chdb, whose folder one
    process holds; ClickHouse's runs in one process are serialised by a mutex, tested with
    threads in test_clickhouse.py)."""
    db = server_db
    d = write_migrations(tmp_path / "migrations", CONCURRENT_FILES)
    group = start_processes(10, db.url, d)
    collected = finish(group)
    processes = group.processes

    assert [p.exitcode for p in processes] == [0] * 10, collected
    assert sorted(kind for kind, _ in collected) == ["ok"] * 10, collected
    applied_by_process = [v for _, versions in collected for v in versions]
    assert sorted(applied_by_process) == ALL_VERSIONS, "each version applied by exactly one run"

    counts = db.query("SELECT version, COUNT(*) FROM applied_log GROUP BY version ORDER BY version")
    assert counts == [(v, 1) for v in ALL_VERSIONS]
    m = Migrator(db.url, directory=d)
    applied_events = sorted(e.version for e in m.audit_log() if e.event == "applied")
    assert applied_events == ALL_VERSIONS
    assert [e.state for e in m.status()] == [State.APPLIED] * len(ALL_VERSIONS)
    assert db.query("SELECT COUNT(*) FROM migrata_history") == [(len(ALL_VERSIONS),)]


#: The advisory lock the index build below waits for, half-way: the test holds it until it has
#: seen the other runs waiting, however long they took to start.
BUILD_GATE = 7_305_001

CIC_FILES = {
    "0001_big.sql": (
        "CREATE TABLE applied_log (version TEXT NOT NULL);\n"
        "CREATE TABLE big (id INTEGER, v INTEGER);\n"
        "INSERT INTO big SELECT g, g FROM generate_series(1, 200000) g;\n"
        # immutable as far as the index is concerned; the build takes a while, and it goes on
        # past the middle only once the test lets it
        "CREATE FUNCTION slow_key(x INTEGER) RETURNS INTEGER LANGUAGE plpgsql IMMUTABLE AS $$\n"
        "BEGIN\n"
        "  IF x % 40000 = 0 THEN PERFORM pg_sleep(0.3); END IF;\n"
        f"  IF x = 100000 THEN PERFORM pg_advisory_lock_shared({BUILD_GATE});\n"
        f"    PERFORM pg_advisory_unlock_shared({BUILD_GATE}); END IF;\n"
        "  RETURN x;\n"
        "END\n"
        "$$;\n"
        "INSERT INTO applied_log (version) VALUES ('0001');\n"
    ),
    "0002_index.sql": (
        "-- migrata: no-transaction\n"
        "CREATE INDEX CONCURRENTLY big_slow_key ON big (slow_key(v));\n"
        "INSERT INTO applied_log (version) VALUES ('0002');\n"
    ),
    "0003_after.sql": (
        "CREATE TABLE after_index (id INTEGER);\n"
        "INSERT INTO applied_log (version) VALUES ('0003');\n"
    ),
}


@pytest.mark.slow
def test_postgres_create_index_concurrently_while_others_poll(postgres_db, tmp_path: Path) -> None:
    import psycopg

    db = postgres_db
    dbname = db.url.rsplit("/", 1)[1]
    d = write_migrations(tmp_path / "migrations", CIC_FILES)
    gate = psycopg.connect(db.url, autocommit=True)  # advisory locks are per database
    gate.execute("SELECT pg_advisory_lock(%s)", (BUILD_GATE,))
    group = start_processes(6, db.url, d)
    processes = group.processes

    # Watch the server while they run: the index build and the waiting runs at the same time.
    # The build goes on past its middle once all six runs were seen connected during it.
    most_sessions_during_build = 0
    saw_build = False
    try:
        with psycopg.connect(db.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as watcher:
            deadline = time.monotonic() + 120
            while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
                rows = watcher.execute(
                    "SELECT state, query FROM pg_stat_activity "
                    "WHERE datname = %s AND application_name LIKE 'migrata%%'",
                    (dbname,),
                ).fetchall()
                building = any(
                    state == "active" and "CREATE INDEX CONCURRENTLY" in (query or "")
                    for state, query in rows
                )
                if building:
                    saw_build = True
                    most_sessions_during_build = max(most_sessions_during_build, len(rows))
                if most_sessions_during_build == 6 and not gate.closed:
                    gate.close()  # the build may go on
                time.sleep(0.05)
    finally:
        gate.close()
    collected = finish(group, timeout=max(30.0, deadline - time.monotonic()))

    assert [p.exitcode for p in processes] == [0] * 6, collected
    assert saw_build, "the index build was never seen running"
    assert most_sessions_during_build == 6, (
        "the other five runs should have been connected, polling for the lock, during the build"
    )
    assert sorted(v for _, versions in collected for v in versions) == ["0001", "0002", "0003"]
    assert db.query(
        "SELECT version, COUNT(*) FROM applied_log GROUP BY version ORDER BY version"
    ) == [("0001", 1), ("0002", 1), ("0003", 1)]
    assert db.query(
        "SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = 'big_slow_key'::regclass"
    ) == [(True, True)]
    m = Migrator(db.url, directory=d)
    assert sorted(e.version for e in m.audit_log() if e.event == "applied") == [
        "0001",
        "0002",
        "0003",
    ]


# ------------------------------------------------------------------------------ lock timeout

SMALL = {
    "0001_a.sql": "CREATE TABLE a (id INTEGER);\n",
    "0002_b.sql": "CREATE TABLE b (id INTEGER);\n",
}


def assert_reading_does_not_wait(m: Migrator) -> None:
    for read in (m.status, m.plan, m.validate, m.audit_log):
        started = time.monotonic()
        read()
        assert time.monotonic() - started < 2, f"{read.__name__} waited for the lock"
    assert [e.state for e in m.status()][-1] is State.PENDING
    assert [s.version.text for s in m.plan().steps] == ["0002"]


def test_postgres_lock_timeout_names_the_holder(postgres_db, tmp_path: Path) -> None:
    import psycopg

    from migrata.backends.postgres.connection import lock_key

    db = postgres_db
    d = write_migrations(tmp_path / "migrations", SMALL)
    Migrator(db.url, directory=d).up(to="0001")
    with psycopg.connect(db.url, autocommit=True) as holder:
        key = lock_key("migrata:.migrata_history")
        assert holder.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() == (True,)
        m = Migrator(db.url, directory=d, lock_timeout=0.5)

        started = time.monotonic()
        with pytest.raises(LockTimeout) as info:
            m.up()
        elapsed = time.monotonic() - started
        assert 0.45 <= elapsed < 5
        assert info.value.timeout == 0.5
        assert info.value.holder is not None
        assert info.value.holder.startswith(f"pid {holder.info.backend_pid}, user ")
        assert f"(held by {info.value.holder})" in str(info.value)
        assert "lock_timeout" in str(info.value) and "--lock-timeout" in info.value.cli_message

        for write in (m.down, lambda: m.mark_applied("0002"), lambda: m.unmark("0001")):
            with pytest.raises(LockTimeout):
                write()
        assert_reading_does_not_wait(m)
        # the lock belongs to the history table: another table is not blocked
        other = write_migrations(
            tmp_path / "other", {"0001_other.sql": "CREATE TABLE other_t (id INTEGER);\n"}
        )
        assert Migrator(
            db.url, directory=other, table="other_history", lock_timeout=0.5
        ).up().versions == ("0001",)
    assert not db.table_exists("b")
    assert Migrator(db.url, directory=d, lock_timeout=0.5).up().versions == ("0002",)


def test_postgres_lock_timeout_names_the_holder_of_this_database(
    postgres_db, tmp_path: Path
) -> None:
    import psycopg

    from migrata.backends.postgres.connection import lock_key

    key = lock_key("migrata:.migrata_history")
    d = write_migrations(tmp_path / "migrations", SMALL)
    with (
        extra_postgres_database(postgres_db.url) as other_url,
        psycopg.connect(other_url, autocommit=True) as elsewhere,
    ):
        # another database of the same server migrates at the same time
        took = elsewhere.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        assert took == (True,)
        with psycopg.connect(postgres_db.url, autocommit=True) as holder:
            took = holder.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            assert took == (True,)
            with pytest.raises(LockTimeout) as info:
                Migrator(postgres_db.url, directory=d, lock_timeout=0.2).up()
            assert info.value.holder is not None
            assert f"pid {elsewhere.info.backend_pid}," not in info.value.holder
            assert info.value.holder.startswith(f"pid {holder.info.backend_pid},")


def test_postgres_lock_is_released_after_each_run(postgres_db, tmp_path: Path) -> None:
    import psycopg

    from migrata.backends.postgres.connection import lock_key

    db = postgres_db
    d = write_migrations(
        tmp_path / "migrations", {**SMALL, "0003_bad.sql": "INSERT INTO nope VALUES (1);\n"}
    )
    m = Migrator(db.url, directory=d, lock_timeout=0.5)
    with pytest.raises(Exception):  # noqa: B017 - any failure; the lock must still be released
        m.up()
    with psycopg.connect(db.url, autocommit=True) as probe:
        key = lock_key("migrata:.migrata_history")
        assert probe.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() == (True,)
        probe.execute("SELECT pg_advisory_unlock(%s)", (key,))
    assert db.query(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    ) == [(0,)]


def mysql_lock_name(db, table: str = "migrata_history") -> str:
    from migrata.backends.mysql.connection import lock_name

    return lock_name(f"migrata:.{table}", db.url.rsplit("/", 1)[1])


def test_mysql_lock_timeout_names_the_holder(mysql_db, tmp_path: Path) -> None:
    db = mysql_db
    d = write_migrations(tmp_path / "migrations", SMALL)
    Migrator(db.url, directory=d).up(to="0001")
    holder = mysql_connect(db.url)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, 0), CONNECTION_ID()", (mysql_lock_name(db),))
            acquired, connection_id = cur.fetchone()
        assert acquired == 1
        m = Migrator(db.url, directory=d, lock_timeout=0.5)

        started = time.monotonic()
        with pytest.raises(LockTimeout) as info:
            m.up()
        elapsed = time.monotonic() - started
        assert 0.45 <= elapsed < 5
        assert info.value.timeout == 0.5
        assert info.value.holder is not None
        assert info.value.holder.startswith(f"connection id {connection_id}, user {db.user}@")
        assert f"(held by {info.value.holder})" in str(info.value)
        assert "lock_timeout" in str(info.value) and "--lock-timeout" in info.value.cli_message

        for write in (m.down, lambda: m.mark_applied("0002"), lambda: m.unmark("0001")):
            with pytest.raises(LockTimeout):
                write()
        assert_reading_does_not_wait(m)
        # the lock belongs to the history table: another table is not blocked
        other = write_migrations(
            tmp_path / "other", {"0001_other.sql": "CREATE TABLE other_t (id INTEGER);\n"}
        )
        assert Migrator(
            db.url, directory=other, table="other_history", lock_timeout=0.5
        ).up().versions == ("0001",)
    finally:
        holder.close()
    assert not db.table_exists("b")
    assert Migrator(db.url, directory=d, lock_timeout=0.5).up().versions == ("0002",)


def test_mysql_lock_is_released_after_each_run(mysql_db, tmp_path: Path) -> None:
    db = mysql_db
    d = write_migrations(
        tmp_path / "migrations", {**SMALL, "0003_bad.sql": "INSERT INTO nope VALUES (1);\n"}
    )
    m = Migrator(db.url, directory=d, lock_timeout=0.5)
    with pytest.raises(Exception):  # noqa: B017 - any failure; the lock must still be released
        m.up()
    assert db.query("SELECT IS_FREE_LOCK(%s)", (mysql_lock_name(db),)) == [(1,)]
    assert db.query("SELECT GET_LOCK(%s, 0)", (mysql_lock_name(db),)) == [(1,)]


def test_sqlite_lock_timeout(sqlite_db, tmp_path: Path) -> None:
    db = sqlite_db
    d = write_migrations(tmp_path / "migrations", SMALL)
    Migrator(db.url, directory=d).up(to="0001")
    database_file = db.url.split("sqlite:///", 1)[1]
    with open(f"{database_file}.migrata.lock", "a+", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, contract-test holder")
        handle.flush()

        m = Migrator(db.url, directory=d, lock_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(LockTimeout) as info:
            m.up()
        elapsed = time.monotonic() - started
        assert 0.45 <= elapsed < 5
        assert info.value.timeout == 0.5
        assert "contract-test holder" in str(info.value)
        assert not db.table_exists("b")
        assert_reading_does_not_wait(m)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    assert Migrator(db.url, directory=d, lock_timeout=0.5).up().versions == ("0002",)
