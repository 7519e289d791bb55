"""Flights: every pending migration that runs in a transaction travels in one message, each in
its own transaction with its history row (PostgreSQL, MySQL/MariaDB). What must not change:
a failure in migration k leaves the ones before it applied, k rolled back and nothing after it
run — on every engine (SQLite sends no flights: it has no network to save; the same run must
give the same outcome there)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from conftest import Database, write_migrations
from migrata import Migrator
from migrata.errors import MigrationFailed
from migrata.models import StepEvent


def audit(m: Migrator, version: str) -> list[str]:
    return [e.event for e in m.audit_log() if e.version == version]


def folder_failing_at_five(root: Path) -> Path:
    """A table, then six data-only migrations; the fifth fails at its second statement."""
    files = {"0001_table.sql": "CREATE TABLE fl (id INTEGER PRIMARY KEY);\n"}
    for n in range(2, 8):
        files[f"{n:04d}_rows_{n}.sql"] = f"INSERT INTO fl (id) VALUES ({n});\n"
    files["0005_rows_5.sql"] = (
        "INSERT INTO fl (id) VALUES (5);\nINSERT INTO fl_missing (id) VALUES (5);\n"
    )
    return write_migrations(root, files)


def test_a_failure_keeps_the_migrations_before_it_and_runs_none_after(
    server_db: Database, tmp_path: Path
) -> None:
    db = server_db
    folder = folder_failing_at_five(tmp_path / "m")
    events: list[StepEvent] = []
    migrator = Migrator(db.url, directory=folder, on_step=events.append)
    with pytest.raises(MigrationFailed) as info:
        migrator.up()
    error = info.value
    assert error.version == "0005"
    assert (error.statement_index, error.statement_count) == (2, 2)
    assert (error.path.endswith("0005_rows_5.sql"), error.line) == (True, 2)
    assert list(error.applied) == ["0001", "0002", "0003", "0004"]
    assert "rolled back" in error.message
    assert db.history() == [("0001",), ("0002",), ("0003",), ("0004",)]
    assert sorted(r[0] for r in db.query("SELECT id FROM fl")) == [2, 3, 4]  # not 5, 6, 7
    assert audit(migrator, "0005") == ["failed"]
    assert audit(migrator, "0006") == []
    # Every migration that committed was told of, in order; the failing one as failed.
    told = [(e.kind, e.version) for e in events if e.kind in {"done", "failed"}]
    assert told == [("done", f"000{n}") for n in range(1, 5)] + [("failed", "0005")]
    # Fixed, the next run applies the rest.
    (folder / "0005_rows_5.sql").write_text("INSERT INTO fl (id) VALUES (5);\n")
    migrator = Migrator(db.url, directory=folder)
    assert migrator.up().versions == ("0005", "0006", "0007")
    assert sorted(r[0] for r in db.query("SELECT id FROM fl")) == [2, 3, 4, 5, 6, 7]
    assert [a for v in ("0005", "0006") for a in audit(migrator, v)] == [
        "failed",
        "applied",
        "applied",
    ]


@pytest.mark.parametrize(
    "failing",
    [
        # No position in the server's error: the result count pins it.
        pytest.param("INSERT INTO fl (id) VALUES (2);\n", id="unique-violation"),
        # A runtime error inside a function body.
        pytest.param(
            "DO $$ BEGIN PERFORM 1 / (SELECT count(*) - count(*) FROM fl); END $$;\n",
            id="division-by-zero-in-plpgsql",
        ),
    ],
)
def test_postgres_failures_without_a_position_are_pinned_to_their_statement(
    postgres_db: Database, tmp_path: Path, failing: str
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_table.sql": "CREATE TABLE fl (id INTEGER PRIMARY KEY);\n",
            "0002_rows.sql": "INSERT INTO fl (id) VALUES (2);\n",
            "0003_more.sql": "CREATE TABLE fl3 (id int);\n-- a comment\n" + failing,
            "0004_after.sql": "CREATE TABLE fl4 (id int);\n",
        },
    )
    with pytest.raises(MigrationFailed) as info:
        Migrator(postgres_db.url, directory=folder).up()
    assert (info.value.version, info.value.statement_index, info.value.line) == ("0003", 2, 3)
    assert list(info.value.applied) == ["0001", "0002"]
    assert postgres_db.history() == [("0001",), ("0002",)]
    assert not postgres_db.table_exists("fl3")
    assert not postgres_db.table_exists("fl4")


def test_postgres_a_failing_commit_fails_its_own_migration(
    postgres_db: Database, tmp_path: Path
) -> None:
    """A deferred constraint fails at COMMIT: the migration it ends failed, the ones before
    it stay, none after it ran."""
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_table.sql": (
                "CREATE TABLE parent (id int PRIMARY KEY);\n"
                "CREATE TABLE child (id int, parent int REFERENCES parent "
                "DEFERRABLE INITIALLY DEFERRED);\n"
            ),
            "0002_ok.sql": "INSERT INTO parent VALUES (1);\nINSERT INTO child VALUES (1, 1);\n",
            "0003_orphan.sql": "INSERT INTO child VALUES (2, 99);\nSELECT 1;\n",
            "0004_after.sql": "INSERT INTO parent VALUES (4);\n",
        },
    )
    with pytest.raises(MigrationFailed) as info:
        Migrator(postgres_db.url, directory=folder).up()
    assert info.value.version == "0003"
    assert "at COMMIT" in info.value.db_message
    assert postgres_db.history() == [("0001",), ("0002",)]
    assert postgres_db.query("SELECT id FROM child ORDER BY id") == [(1,)]
    assert postgres_db.query("SELECT id FROM parent ORDER BY id") == [(1,)]


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_each_migration_of_a_flight_is_told_of_as_it_commits(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Progress is real: the first migrations are reported done while a later one of the same
    message still runs."""
    db: Database = request.getfixturevalue("postgres_db" if engine == "postgresql" else "mysql_db")
    sleep = "SELECT pg_sleep(1.5)" if engine == "postgresql" else "SELECT SLEEP(1.5)"
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_table.sql": "CREATE TABLE fl (id INTEGER PRIMARY KEY);\n",
            "0002_a.sql": "INSERT INTO fl (id) VALUES (2);\n",
            "0003_b.sql": "INSERT INTO fl (id) VALUES (3);\n",
            "0004_slow.sql": f"INSERT INTO fl (id) VALUES (4);\n{sleep};\n",
            "0005_c.sql": "INSERT INTO fl (id) VALUES (5);\n",
        },
    )
    seen: list[tuple[float, str, str]] = []
    Migrator(
        db.url,
        directory=folder,
        on_step=lambda e: seen.append((time.monotonic(), e.kind, e.version)),
    ).up()
    seen = [(when, kind, version) for when, kind, version in seen if kind != "statement"]
    at = {(kind, version): when for when, kind, version in seen}
    assert [(k, v) for _, k, v in seen] == [
        (kind, f"000{n}") for n in range(1, 6) for kind in ("started", "done")
    ]
    assert at[("done", "0004")] - at[("done", "0003")] > 1.0  # told before the sleep ended
    assert at[("started", "0004")] <= at[("done", "0003")] + 0.1


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_a_migration_that_gives_way_to_a_lock_is_tried_again_from_there(
    engine: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Migration 3 of 5 waits for a row another session holds, gives way (lock timeout), and
    is sent again with the ones after it; 1 and 2 stay committed, nothing runs twice."""
    db: Database = request.getfixturevalue("postgres_db" if engine == "postgresql" else "mysql_db")
    write_migrations(
        tmp_path / "setup", {"0001_table.sql": "CREATE TABLE fl (id INTEGER PRIMARY KEY, n INT);\n"}
    )
    Migrator(db.url, directory=tmp_path / "setup").up()
    db.query("INSERT INTO fl (id, n) VALUES (1, 0)")
    folder = write_migrations(
        tmp_path / "setup",
        {
            "0002_a.sql": "INSERT INTO fl (id, n) VALUES (2, 0);\n",
            "0003_b.sql": "INSERT INTO fl (id, n) VALUES (3, 0);\n",
            "0004_locked.sql": "UPDATE fl SET n = n + 1 WHERE id = 1;\n",
            "0005_c.sql": "INSERT INTO fl (id, n) VALUES (5, 0);\n",
        },
    )
    holder = db.connect()
    cursor = holder.cursor()
    cursor.execute("BEGIN")
    cursor.execute("SELECT n FROM fl WHERE id = 1 FOR UPDATE")
    caplog.set_level(logging.INFO, logger="migrata")
    result: list[object] = []
    migrator = Migrator(db.url, directory=folder, ddl_lock_timeout=1, ddl_lock_retries=5)
    thread = threading.Thread(target=lambda: result.append(migrator.up()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not any("gave up waiting for a lock" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the UPDATE never gave way"
        time.sleep(0.05)
    # 0002 and 0003 are committed while 0004 waits to be tried again.
    assert db.history()[-2:] == [("0002",), ("0003",)]
    cursor.execute("ROLLBACK")
    holder.close()
    thread.join(60)
    assert result, "up() did not finish"
    assert db.history() == [(f"000{n}",) for n in range(1, 6)]
    assert db.query("SELECT id, n FROM fl ORDER BY id") == [(1, 1), (2, 0), (3, 0), (5, 0)]
    for version in ("0002", "0003", "0004", "0005"):
        assert audit(migrator, version) == ["applied"]


def test_postgres_a_database_without_plpgsql_is_migrated_all_the_same(
    postgres_db: Database, tmp_path: Path
) -> None:
    """The notice that makes the server answer each COMMIT at once is raised by PL/pgSQL; a
    database without it gets its flight all the same, told of at the end."""
    postgres_db.query("DROP EXTENSION plpgsql")
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_table.sql": "CREATE TABLE fl (id INTEGER PRIMARY KEY);\n",
            "0002_a.sql": "INSERT INTO fl (id) VALUES (2);\n",
            "0003_b.sql": "INSERT INTO fl (id) VALUES (3);\n",
            "0004_bad.sql": "INSERT INTO fl (id) VALUES (4);\nINSERT INTO fl (id) VALUES (2);\n",
        },
    )
    events: list[StepEvent] = []
    with pytest.raises(MigrationFailed) as info:
        Migrator(postgres_db.url, directory=folder, on_step=events.append).up()
    assert (info.value.version, info.value.statement_index) == ("0004", 2)
    assert list(info.value.applied) == ["0001", "0002", "0003"]
    assert postgres_db.history() == [("0001",), ("0002",), ("0003",)]
    assert [e.version for e in events if e.kind == "done"] == ["0001", "0002", "0003"]
    (folder / "0004_bad.sql").write_text("INSERT INTO fl (id) VALUES (4);\n")
    assert Migrator(postgres_db.url, directory=folder).up().versions == ("0004",)
