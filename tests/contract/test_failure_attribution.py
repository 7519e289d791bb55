"""A failing statement is pinned to its file position however the database reports it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Database, write_migrations
from migrata import Migrator
from migrata.errors import MigrationFailed

GOOD = "CREATE TABLE base (id INTEGER PRIMARY KEY, ref INTEGER);\n"
#: ClickHouse enforces no primary key: there a CHECK constraint refuses the row with id 1 and
#: ref 3 instead (like the key, with no position in the message).
GOOD_CLICKHOUSE = "CREATE TABLE base (id INTEGER PRIMARY KEY, ref INTEGER, CONSTRAINT ref_below_3 CHECK ref < 3);\n"


def fail(db: Database, tmp_path: Path, text: str) -> MigrationFailed:
    good = GOOD_CLICKHOUSE if db.engine == "clickhouse" else GOOD
    folder = write_migrations(tmp_path / "m", {"0001_base.sql": good, "0002_bad.sql": text})
    with pytest.raises(MigrationFailed) as info:
        Migrator(db.url, directory=folder).up()
    # Without transactions the failed migration keeps a row: failed at the statement.
    recorded = [r[0] for r in db.history("version")]
    assert recorded == (["0001"] if db.transactional else ["0001", "0002"])
    return info.value


def rows_left(db: Database) -> list[tuple]:  # type: ignore[type-arg]
    return db.query("SELECT id, ref FROM base ORDER BY id")


def test_error_with_a_position_points_inside_the_statement(db: Database, tmp_path: Path) -> None:
    error = fail(
        db,
        tmp_path,
        "INSERT INTO base VALUES (1, 1);\n\nSELECT id,\n       nope_column FROM base;\n",
    )
    assert error.statement_index == 2
    if db.engine == "postgresql":  # PostgreSQL reports the exact position of the column
        assert (error.line, error.column) == (4, 8)
    else:
        assert (error.line, error.column) == (3, 1)
    assert "nope_column" in error.db_message
    # The INSERT of the failed migration is gone (without transactions: it stays).
    assert rows_left(db) == ([] if db.transactional else [(1, 1)])


def test_error_without_a_position_is_attributed_to_its_statement(
    db: Database, tmp_path: Path
) -> None:
    error = fail(
        db,
        tmp_path,
        "INSERT INTO base VALUES (1, 1);\nINSERT INTO base VALUES (2, 2);\n"
        "  INSERT INTO base VALUES (1, 3);\nINSERT INTO base VALUES (4, 4);\n",
    )
    assert (error.statement_index, error.statement_count) == (3, 4)
    assert (error.line, error.column) == (3, 3)
    assert "INSERT INTO base VALUES (1, 3)" in str(error)
    assert rows_left(db) == ([] if db.transactional else [(1, 1), (2, 2)])


def test_a_failing_commit_fails_the_migration(postgres_db: Database, tmp_path: Path) -> None:
    error = fail(
        postgres_db,
        tmp_path,
        "CREATE TABLE child (id int, parent int REFERENCES base (id) DEFERRABLE INITIALLY DEFERRED);\n"
        "INSERT INTO child VALUES (1, 99);\n",
    )
    assert error.db_message.startswith("at COMMIT: ")
    assert "foreign key" in error.db_message
    assert error.statement_index == 2
    assert not postgres_db.table_exists("child")


@pytest.mark.parametrize("fixture", ["postgres_db", "mysql_db"])
def test_history_parameters_survive_client_side_binding(
    request: pytest.FixtureRequest, fixture: str, tmp_path: Path
) -> None:
    # Names and checksums travel as literals in the one-message batch (PostgreSQL) or the
    # multi-statement packet (MySQL/MariaDB): quotes, percent signs and the statement's own %s
    # must arrive intact.
    db: Database = request.getfixturevalue(fixture)
    folder = write_migrations(tmp_path / "m", {"0001_it's_100%_ok.sql": "SELECT '%s', 'it''s';\n"})
    m = Migrator(db.url, directory=folder)
    m.up()
    assert db.query("SELECT name, checksum FROM migrata_history") == [
        ("it's_100%_ok", m.migrations[0].checksum)
    ]
    assert db.query("SELECT event FROM migrata_history_audit") == [("applied",)]
