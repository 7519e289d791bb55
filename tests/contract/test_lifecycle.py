"""The life of a migrations folder against every engine: up, status, down, redo, validate,
drift, failures, marks, services, library use.

Every test runs once per engine (the ``db`` fixture) and uses SQL that SQLite, PostgreSQL,
MySQL/MariaDB and ClickHouse all accept (CREATE INDEX through ``create_index``: ClickHouse's
need a TYPE). Where an engine whose DDL commits implicitly (``db.transactional_ddl`` is false)
behaves differently by design, the test asserts that engine's behaviour: a migration with DDL
runs statement by statement there, with a "started" audit event and a "statement" step event
per statement. On an engine without transactions (``db.transactional`` is false: ClickHouse)
every migration, data-only ones too, runs that way, and a failure keeps the statements before
it.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import uuid
from pathlib import Path

import pytest
from _contract_support import applied_events, mysql_connect, run_events

from conftest import _FIXTURES, Database, create_index, write_migrations
from migrata import (
    Direction,
    MigrationFailed,
    Migrator,
    RunReport,
    State,
    StepEvent,
    ValidationFailed,
    migrate,
)
from migrata.errors import ConfigError, MissingDownMigration, PlanError, UnknownVersion

# ------------------------------------------------------------------------------ helpers


def basic(engine: str) -> dict[str, str]:
    """Three migrations with down SQL, in ``engine``'s dialect."""
    return {
        "0001_users.up.sql": (
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);\n"
            f"{create_index(engine, 'users_name', 'users', 'name')};\n"
        ),
        "0001_users.down.sql": "DROP TABLE users;\n",
        "0002_posts.up.sql": (
            "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL);\n"
        ),
        "0002_posts.down.sql": "DROP TABLE posts;\n",
        "0003_tags.up.sql": (
            "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT);\n"
            "INSERT INTO users (id, name) VALUES (1, 'ada');\n"
        ),
        # ClickHouse's DELETE needs a WHERE clause.
        "0003_tags.down.sql": "DROP TABLE tags;\nDELETE FROM users WHERE 1 = 1;\n",
    }


def folder(tmp_path: Path, files: dict[str, str], name: str = "migrations") -> Path:
    return write_migrations(tmp_path / name, files)


def history(db, table: str = "migrata_history") -> list[tuple]:
    """(service, version, name, checksum, success, execution_ms, applied_by) rows."""
    return db.history("service, version, name, checksum, success, execution_ms, applied_by", table)


def versions_in_history(db, table: str = "migrata_history") -> list[str]:
    return [r[1] for r in history(db, table)]


def states(migrator: Migrator) -> dict[str, State]:
    return {e.version.text: e.state for e in migrator.status()}


def events(migrator: Migrator) -> list[tuple[str, str]]:
    return [(e.event, e.version) for e in migrator.audit_log()]


def step_events(db, version: str, statements: int) -> list[tuple[str, str]]:
    """The on_step events, as ``(kind, version)``, of one successful step of DDL migration
    ``version`` with ``statements`` statements: where DDL commits implicitly the step runs
    statement by statement and reports each one as it completes."""
    per_statement = [] if db.transactional_ddl else [("statement", version)] * statements
    return [("started", version), *per_statement, ("done", version)]


# ------------------------------------------------------------------------------ up & status


def test_up_applies_all_and_records_history(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    report = Migrator(db.url, directory=d).up()

    assert isinstance(report, RunReport)
    assert report.direction is Direction.UP
    assert report.versions == ("0001", "0002", "0003")
    assert [s.statements for s in report.steps] == [2, 1, 2]
    for table in ("users", "posts", "tags"):
        assert db.table_exists(table)
    assert db.query("SELECT name FROM users") == [("ada",)]

    rows = history(db)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("default", "0001", "users"),
        ("default", "0002", "posts"),
        ("default", "0003", "tags"),
    ]
    for _service, _version, _name, checksum, success, execution_ms, applied_by in rows:
        assert checksum.startswith("sha256-lf:")
        assert bool(success) is True
        assert execution_ms is not None
        assert applied_by is not None and "@" in applied_by
    # the checksums are those of the files
    migrations = Migrator(db.url, directory=d).migrations
    assert [r[3] for r in rows] == [m.checksum for m in migrations]
    assert events(Migrator(db.url, directory=d)) == applied_events(db, "0001", "0002", "0003")


def test_up_twice_is_a_no_op(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    Migrator(db.url, directory=d).up()
    again = Migrator(db.url, directory=d).up()
    assert again.steps == ()
    assert versions_in_history(db) == ["0001", "0002", "0003"]


def test_status_pending_then_applied(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    m = Migrator(db.url, directory=d)
    before = m.status()
    assert [(e.version.text, e.name, e.state) for e in before] == [
        ("0001", "users", State.PENDING),
        ("0002", "posts", State.PENDING),
        ("0003", "tags", State.PENDING),
    ]
    assert all(e.applied is None for e in before)
    # status is read-only: it creates nothing
    assert not db.table_exists("migrata_history")

    m.up()
    after = m.status()
    assert [e.state for e in after] == [State.APPLIED] * 3
    assert all(e.applied is not None and e.applied.success for e in after)
    assert m.is_up_to_date()


def test_up_to_target(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    m = Migrator(db.url, directory=d)
    report = m.up(to="0002")
    assert report.versions == ("0001", "0002")
    assert states(m) == {"0001": State.APPLIED, "0002": State.APPLIED, "0003": State.PENDING}
    assert not db.table_exists("tags")
    assert not m.is_up_to_date()
    assert m.up().versions == ("0003",)


def test_up_to_unknown_target_is_refused(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    with pytest.raises(ValidationFailed) as info:
        Migrator(db.url, directory=d).up(to="0042")
    assert [p.code for p in info.value.problems] == ["unknown-target"]
    assert not db.table_exists("users")


# ------------------------------------------------------------------------------ down & redo


def test_down_default_reverts_one(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    m = Migrator(db.url, directory=d)
    m.up()
    report = m.down()
    assert report.direction is Direction.DOWN
    assert report.versions == ("0003",)
    assert not db.table_exists("tags")
    assert db.query("SELECT COUNT(*) FROM users") == [(0,)]
    assert versions_in_history(db) == ["0001", "0002"]
    assert states(m)["0003"] is State.PENDING
    assert events(m)[-1] == ("reverted", "0003")


def test_down_steps(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    m = Migrator(db.url, directory=d)
    m.up()
    assert m.down(steps=2).versions == ("0003", "0002")
    assert db.table_exists("users")
    assert not db.table_exists("posts")
    assert versions_in_history(db) == ["0001"]


def test_down_to_keeps_the_target(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    m = Migrator(db.url, directory=d)
    m.up()
    assert m.down(to="0001").versions == ("0003", "0002")
    assert db.table_exists("users")
    assert not db.table_exists("posts") and not db.table_exists("tags")
    assert versions_in_history(db) == ["0001"]


def test_down_all(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    m = Migrator(db.url, directory=d)
    m.up()
    assert m.down(all=True).versions == ("0003", "0002", "0001")
    for table in ("users", "posts", "tags"):
        assert not db.table_exists(table)
    assert versions_in_history(db) == []
    assert [e for e, _ in events(m)].count("reverted") == 3
    # and everything can be applied again
    assert m.up().versions == ("0001", "0002", "0003")


def test_down_with_nothing_applied_does_nothing(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    assert Migrator(db.url, directory=d).down().steps == ()


def test_redo(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    m = Migrator(db.url, directory=d)
    m.up()
    db.query("INSERT INTO tags (id, label) VALUES (7, 'x')")
    down_report, up_report = m.redo()
    assert down_report.versions == ("0003",) and down_report.direction is Direction.DOWN
    assert up_report.versions == ("0003",) and up_report.direction is Direction.UP
    # the table was dropped and created again: the row is gone
    assert db.query("SELECT COUNT(*) FROM tags") == [(0,)]
    assert db.query("SELECT name FROM users") == [("ada",)]
    assert versions_in_history(db) == ["0001", "0002", "0003"]
    redone = run_events(db, "reverted", "0003") + run_events(db, "applied", "0003")
    assert events(m)[-len(redone) :] == redone


def test_redo_with_nothing_applied(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    with pytest.raises(PlanError):
        Migrator(db.url, directory=d).redo()


def test_down_missing_down_sql_refused_before_anything_runs(db, tmp_path: Path) -> None:
    files = {
        "0001_a.up.sql": "CREATE TABLE a (id INTEGER);\n",
        "0001_a.down.sql": "DROP TABLE a;\n",
        "0002_b.sql": "CREATE TABLE b (id INTEGER);\n",  # no down SQL
        "0003_c.up.sql": "CREATE TABLE c (id INTEGER);\n",
        "0003_c.down.sql": "DROP TABLE c;\n",
    }
    d = folder(tmp_path, files)
    m = Migrator(db.url, directory=d)
    m.up()
    with pytest.raises(MissingDownMigration) as info:
        m.down(steps=2)
    assert info.value.versions == ("0002",)
    assert "0002" in str(info.value)
    # the newer, reversible 0003 was not reverted either
    assert db.table_exists("c")
    assert versions_in_history(db) == ["0001", "0002", "0003"]
    assert "reverted" not in [e for e, _ in events(m)]
    # one step is fine
    assert m.down().versions == ("0003",)


# ------------------------------------------------------------------------------ validate & dry run


def test_validate_fields(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    m = Migrator(db.url, directory=d)
    fresh = m.validate()
    assert fresh.applied == ()
    assert fresh.expected == ("0001", "0002", "0003")
    assert fresh.pending == ("0001", "0002", "0003")
    assert fresh.failed == ()
    assert fresh.problems == ()
    assert fresh.is_valid
    assert not db.table_exists("migrata_history")

    m.up(to="0001")
    partial = m.validate()
    assert partial.applied == ("0001",)
    assert partial.pending == ("0002", "0003")
    assert partial.is_valid

    (d / "0001_users.up.sql").write_bytes(b"CREATE TABLE users (id INTEGER);\n")
    drifted = Migrator(db.url, directory=d).validate()
    assert not drifted.is_valid
    assert [(p.code, str(p.version)) for p in drifted.problems] == [("changed", "0001")]


def test_dry_run_changes_nothing(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    m = Migrator(db.url, directory=d)
    report = m.up(dry_run=True)
    assert report.dry_run
    assert report.versions == ("0001", "0002", "0003")
    for table in ("users", "posts", "tags", "migrata_history", "migrata_history_audit"):
        assert not db.table_exists(table), table
    assert [e.state for e in m.status()] == [State.PENDING] * 3

    m.up()
    down = m.down(all=True, dry_run=True)
    assert down.dry_run and down.versions == ("0003", "0002", "0001")
    assert db.table_exists("users") and db.table_exists("tags")
    assert versions_in_history(db) == ["0001", "0002", "0003"]


# ------------------------------------------------------------------------------ drift


def test_edited_applied_file_stops_up(db, tmp_path: Path) -> None:
    files = basic(db.engine)
    d = folder(tmp_path, {k: v for k, v in files.items() if not k.startswith("0003")})
    Migrator(db.url, directory=d).up()
    edited = d / "0001_users.up.sql"
    edited.write_bytes(b"CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\n")
    write_migrations(d, {"0003_tags.up.sql": files["0003_tags.up.sql"]})

    m = Migrator(db.url, directory=d)
    assert states(m)["0001"] is State.CHANGED
    with pytest.raises(ValidationFailed) as info:
        m.up()
    message = str(info.value)
    assert "0001" in message
    assert str(edited) in message
    assert [(p.code, str(p.version)) for p in info.value.problems] == [("changed", "0001")]
    # nothing ran: the pending migration is still pending
    assert not db.table_exists("tags")
    assert versions_in_history(db) == ["0001", "0002"]
    assert states(m)["0003"] is State.PENDING


def test_crlf_and_bom_copy_has_no_drift(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    Migrator(db.url, directory=d).up()
    windows = {
        name: "\ufeff" + text.replace("\n", "\r\n") for name, text in basic(db.engine).items()
    }
    copy = folder(tmp_path, windows, name="windows-copy")
    assert (copy / "0001_users.up.sql").read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in (copy / "0001_users.up.sql").read_bytes()

    m = Migrator(db.url, directory=copy)
    assert [e.state for e in m.status()] == [State.APPLIED] * 3
    result = m.validate()
    assert result.is_valid and result.problems == ()
    assert m.up().steps == ()


def test_deleted_applied_file_is_missing(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    Migrator(db.url, directory=d).up()
    (d / "0002_posts.up.sql").unlink()
    (d / "0002_posts.down.sql").unlink()

    m = Migrator(db.url, directory=d)
    assert states(m)["0002"] is State.MISSING
    problems = m.validate().problems
    assert [(p.code, str(p.version)) for p in problems] == [("missing", "0002")]
    with pytest.raises(ValidationFailed) as info:
        m.up()
    assert [p.code for p in info.value.problems] == ["missing"]
    assert "unmark" in str(info.value)


def test_out_of_order_pending_refused_then_allowed(db, tmp_path: Path) -> None:
    d = folder(
        tmp_path,
        {
            "0001_a.sql": "CREATE TABLE a (id INTEGER);\n",
            "0003_c.sql": "CREATE TABLE c (id INTEGER);\n",
        },
    )
    Migrator(db.url, directory=d).up()
    write_migrations(d, {"0002_b.sql": "CREATE TABLE b (id INTEGER);\n"})

    m = Migrator(db.url, directory=d)
    entry = next(e for e in m.status() if e.version.text == "0002")
    assert entry.state is State.PENDING and entry.out_of_order
    with pytest.raises(ValidationFailed) as info:
        m.up()
    assert [(p.code, str(p.version)) for p in info.value.problems] == [("out-of-order", "0002")]
    assert not db.table_exists("b")

    report = Migrator(db.url, directory=d, allow_out_of_order=True).up()
    assert report.versions == ("0002",)
    assert db.table_exists("b")
    assert versions_in_history(db) == ["0001", "0002", "0003"]


def test_all_problems_reported_at_once(db, tmp_path: Path) -> None:
    d = folder(
        tmp_path,
        {
            "0001_a.sql": "CREATE TABLE a (id INTEGER);\n",
            "0002_b.sql": "CREATE TABLE b (id INTEGER);\n",
            "0004_d.sql": "CREATE TABLE d (id INTEGER);\n",
        },
    )
    Migrator(db.url, directory=d).up()
    (d / "0001_a.sql").write_bytes(b"CREATE TABLE a (id INTEGER, x TEXT);\n")  # changed
    (d / "0002_b.sql").unlink()  # missing
    write_migrations(d, {"0003_c.sql": "CREATE TABLE c (id INTEGER);\n"})  # out of order
    write_migrations(d, {"0005_e.sql": "CREATE TABLE e (id INTEGER);\n"})  # fine, pending

    with pytest.raises(ValidationFailed) as info:
        Migrator(db.url, directory=d).up(to="0099")
    found = {(p.code, str(p.version) if p.version else None) for p in info.value.problems}
    assert {("changed", "0001"), ("missing", "0002"), ("out-of-order", "0003")} <= found
    assert any(code == "unknown-target" for code, _ in found)
    assert len(info.value.problems) == 4
    message = str(info.value)
    assert message.startswith("4 problem(s)")
    for version in ("0001", "0002", "0003", "0099"):
        assert version in message
    assert not db.table_exists("c") and not db.table_exists("e")
    assert versions_in_history(db) == ["0001", "0002", "0004"]


# ------------------------------------------------------------------------------ failures

FAILING_PLAN = {
    "0001_one.sql": "CREATE TABLE one (id INTEGER);\n",
    "0002_two.sql": "CREATE TABLE two (id INTEGER);\n",
    "0003_three.sql": (
        "-- fills two, then fails (data only: one transaction on every engine that has them)\n"
        "INSERT INTO two (id) VALUES (3);\n"
        "INSERT INTO missing_table (id) VALUES (1);\n"
    ),
    "0004_four.sql": "CREATE TABLE four (id INTEGER);\n",
}
#: The same plan with DDL before the failure in 0003.
FAILING_AFTER_DDL = {
    **FAILING_PLAN,
    "0003_three.sql": (
        "-- creates three, then fails\n"
        "CREATE TABLE three (id INTEGER);\n"
        "INSERT INTO missing_table (id) VALUES (1);\n"
    ),
}
#: Where the database says the failing statement of 0003 went wrong.
MISSING_TABLE_COLUMN = {
    "sqlite": 1,
    "postgresql": 13,  # PostgreSQL reports the position of the name
    "mysql": 1,
    "clickhouse": 1,  # ClickHouse gives no position: the start of the statement
}


def test_failure_mid_plan(db, tmp_path: Path) -> None:
    """A data-only migration is one transaction, rolled back with its failure. Without
    transactions (ClickHouse) the INSERT before the failure stays, the row says "failed at
    statement 2 of 2", and ``up`` refuses until the failure is resolved."""
    d = folder(tmp_path, FAILING_PLAN)
    m = Migrator(db.url, directory=d)
    with pytest.raises(MigrationFailed) as info:
        m.up()
    error = info.value
    assert error.version == "0003"
    assert error.transactional is db.transactional
    assert error.statement_index == 2 and error.statement_count == 2
    assert error.applied == ("0001", "0002")

    assert db.table_exists("one") and db.table_exists("two")
    assert not db.table_exists("four")
    audit = m.audit_log()
    assert "missing_table" in (audit[-1].detail or "")
    if db.transactional:
        assert db.query("SELECT COUNT(*) FROM two") == [(0,)], (
            "the first statement of 0003 was not rolled back"
        )
        assert versions_in_history(db) == ["0001", "0002"]
        assert states(m) == {
            "0001": State.APPLIED,
            "0002": State.APPLIED,
            "0003": State.PENDING,
            "0004": State.PENDING,
        }
        assert [(e.event, e.version) for e in audit] == [
            *applied_events(db, "0001", "0002"),
            ("failed", "0003"),
        ]
    else:
        # Nothing rolls back: the INSERT ran and stays; the row says how far 0003 got.
        assert db.query("SELECT id FROM two") == [(3,)]
        assert versions_in_history(db) == ["0001", "0002", "0003"]
        assert "statement 2 of 2" in str(error) and "resolve 0003" in str(error)
        assert states(m) == {
            "0001": State.APPLIED,
            "0002": State.APPLIED,
            "0003": State.FAILED,
            "0004": State.PENDING,
        }
        row = next(e for e in m.status() if e.version.text == "0003").applied
        assert row is not None and not row.success
        assert (row.statements_done, row.statements_total) == (1, 2)
        assert [(e.event, e.version) for e in audit] == [
            *applied_events(db, "0001", "0002"),
            ("started", "0003"),
            ("failed", "0003"),
        ]
        with pytest.raises(ValidationFailed) as refused:
            Migrator(db.url, directory=d).up()
        assert [(p.code, str(p.version)) for p in refused.value.problems] == [("failed", "0003")]
        assert not db.table_exists("four")

    # path:line:col of the failing statement, its first line, the database's message
    path = str(d / "0003_three.sql")
    column = MISSING_TABLE_COLUMN[db.engine]
    assert error.path == path and error.line == 3 and error.column == column
    text = str(error)
    assert f"{path}:3:{column}" in text
    assert "INSERT INTO missing_table (id) VALUES (1)" in text
    assert "missing_table" in error.db_message
    assert error.db_message.strip() in text

    # fixed, the rest applies (without transactions: once the failure is resolved)
    if not db.transactional:
        Migrator(db.url, directory=d).resolve("0003", applied=False)
    (d / "0003_three.sql").write_bytes(b"CREATE TABLE three (id INTEGER);\n")
    assert Migrator(db.url, directory=d).up().versions == ("0003", "0004")


def test_failure_after_ddl_mid_plan(db, tmp_path: Path) -> None:
    """Transactional DDL is rolled back with the failure. Where DDL commits implicitly
    (MySQL/MariaDB) the CREATE TABLE stays, the row says "failed at statement 2 of 2", and
    ``up`` refuses until the failure is resolved or resumed."""
    d = folder(tmp_path, FAILING_AFTER_DDL)
    m = Migrator(db.url, directory=d)
    with pytest.raises(MigrationFailed) as info:
        m.up()
    error = info.value
    assert error.version == "0003"
    assert error.transactional is db.transactional_ddl
    assert error.statement_index == 2 and error.statement_count == 2
    assert error.applied == ("0001", "0002")
    assert error.line == 3 and error.column == MISSING_TABLE_COLUMN[db.engine]
    assert not db.table_exists("four")

    if db.transactional_ddl:
        assert not db.table_exists("three"), "the first statement of 0003 was not rolled back"
        assert versions_in_history(db) == ["0001", "0002"]
        assert states(m)["0003"] is State.PENDING
        assert events(m) == [*applied_events(db, "0001", "0002"), ("failed", "0003")]
        (d / "0003_three.sql").write_bytes(b"CREATE TABLE three (id INTEGER);\n")
        assert Migrator(db.url, directory=d).up().versions == ("0003", "0004")
        return

    # The CREATE TABLE committed on its own and stays; the row says how far 0003 got.
    assert db.table_exists("three")
    assert versions_in_history(db) == ["0001", "0002", "0003"]
    assert "statement 2 of 2" in str(error) and "resolve 0003" in str(error)
    assert states(m)["0003"] is State.FAILED
    row = next(e for e in m.status() if e.version.text == "0003").applied
    assert row is not None and not row.success
    assert (row.statements_done, row.statements_total) == (1, 2)
    assert row.error and "missing_table" in row.error
    assert events(m) == [
        *applied_events(db, "0001", "0002"),
        ("started", "0003"),
        ("failed", "0003"),
    ]
    with pytest.raises(ValidationFailed) as refused:
        Migrator(db.url, directory=d).up()
    assert [(p.code, str(p.version)) for p in refused.value.problems] == [("failed", "0003")]
    assert "resolve" in str(refused.value)
    assert not db.table_exists("four")
    # Fixed, --resume continues at the failed statement (CREATE TABLE three again would fail).
    (d / "0003_three.sql").write_bytes(
        b"-- creates three, then fills it\n"
        b"CREATE TABLE three (id INTEGER);\n"
        b"INSERT INTO three (id) VALUES (1);\n"
    )
    assert Migrator(db.url, directory=d).up(resume="0003").versions == ("0003", "0004")
    assert db.query("SELECT id FROM three") == [(1,)]
    assert [e.state for e in Migrator(db.url, directory=d).status()] == [State.APPLIED] * 4


def test_single_transaction_all_or_nothing(db, tmp_path: Path) -> None:
    """Data only, so the plan can be one transaction on every engine that has transactions.
    Without them (ClickHouse) it is refused before anything runs."""
    for table in ("one", "two", "three", "four"):
        db.query(f"CREATE TABLE {table} (id INTEGER)")
    files = {
        "0001_one.sql": "INSERT INTO one (id) VALUES (1);\n",
        "0002_two.sql": "INSERT INTO two (id) VALUES (2);\n",
        "0003_three.sql": (
            "INSERT INTO three (id) VALUES (3);\nINSERT INTO missing_table (id) VALUES (1);\n"
        ),
        "0004_four.sql": "INSERT INTO four (id) VALUES (4);\n",
    }
    d = folder(tmp_path, files)
    if not db.transactional:
        with pytest.raises(ValidationFailed) as refused:
            Migrator(db.url, directory=d, single_transaction=True).up()
        assert [(p.code, str(p.version)) for p in refused.value.problems] == [
            ("no-transaction", v) for v in ("0001", "0002", "0003", "0004")
        ]
        assert "the plan cannot run as one transaction" in str(refused.value)
        for table in ("one", "two", "three", "four"):
            assert db.query(f"SELECT COUNT(*) FROM {table}") == [(0,)], table
        assert not db.table_exists("migrata_history")
        return
    with pytest.raises(MigrationFailed) as info:
        Migrator(db.url, directory=d, single_transaction=True).up()
    assert info.value.version == "0003"
    assert info.value.applied == ()
    for table in ("one", "two", "three", "four"):
        assert db.query(f"SELECT COUNT(*) FROM {table}") == [(0,)], table
    if db.table_exists("migrata_history"):
        assert versions_in_history(db) == []

    (d / "0003_three.sql").write_bytes(b"INSERT INTO three (id) VALUES (3);\n")
    m = Migrator(db.url, directory=d, single_transaction=True)
    assert m.up().versions == ("0001", "0002", "0003", "0004")
    for n, table in enumerate(("one", "two", "three", "four"), start=1):
        assert db.query(f"SELECT id FROM {table}") == [(n,)], table
    assert versions_in_history(db) == ["0001", "0002", "0003", "0004"]
    assert [s for s in states(m).values()] == [State.APPLIED] * 4


def test_single_transaction_with_ddl_all_or_nothing(db, tmp_path: Path) -> None:
    """With transactional DDL the whole plan, CREATE TABLEs included, is one transaction.
    Where DDL commits implicitly (MySQL/MariaDB) such a plan is refused before anything
    runs."""
    d = folder(tmp_path, FAILING_AFTER_DDL)
    if not db.transactional_ddl:
        with pytest.raises(ValidationFailed) as refused:
            Migrator(db.url, directory=d, single_transaction=True).up()
        assert [(p.code, str(p.version)) for p in refused.value.problems] == [
            ("no-transaction", v) for v in ("0001", "0002", "0003", "0004")
        ]
        assert "the plan cannot run as one transaction" in str(refused.value)
        for table in ("one", "two", "three", "four", "migrata_history"):
            assert not db.table_exists(table), table
        return
    with pytest.raises(MigrationFailed) as info:
        Migrator(db.url, directory=d, single_transaction=True).up()
    assert info.value.version == "0003"
    for table in ("one", "two", "three", "four"):
        assert not db.table_exists(table), table
    if db.table_exists("migrata_history"):
        assert versions_in_history(db) == []

    (d / "0003_three.sql").write_bytes(b"CREATE TABLE three (id INTEGER);\n")
    m = Migrator(db.url, directory=d, single_transaction=True)
    assert m.up().versions == ("0001", "0002", "0003", "0004")
    for table in ("one", "two", "three", "four"):
        assert db.table_exists(table), table
    assert versions_in_history(db) == ["0001", "0002", "0003", "0004"]
    assert [s for s in states(m).values()] == [State.APPLIED] * 4


def _slow_pipeline_execute(monkeypatch) -> None:
    """Give the server time to answer between two queries of a pipeline (a slow client or a
    busy machine). Regression: PostgresBackend.run once leaked psycopg's PipelineAborted
    (raised when the pipeline closes) instead of QueryFailed in exactly that case."""
    import time

    import psycopg

    original = psycopg.Cursor.execute

    def execute(self, *args, **kwargs):
        if self.connection._pipeline is not None:
            time.sleep(0.02)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)


def test_postgres_fresh_database_read_with_a_slow_client(
    postgres_db, tmp_path: Path, monkeypatch
) -> None:
    _slow_pipeline_execute(monkeypatch)
    d = folder(tmp_path, basic(postgres_db.engine))
    m = Migrator(postgres_db.url, directory=d)
    assert [e.state for e in m.status()] == [State.PENDING] * 3
    assert m.up().versions == ("0001", "0002", "0003")


def test_postgres_failed_migration_with_a_slow_client_is_migration_failed(
    postgres_db, tmp_path: Path, monkeypatch
) -> None:
    db = postgres_db
    inserts = "".join(f"INSERT INTO long_t (id) VALUES ({i});\n" for i in range(5))
    d = folder(
        tmp_path,
        {
            "0001_long.sql": (
                "CREATE TABLE long_t (id INTEGER);\nINSERT INTO nope (id) VALUES (1);\n" + inserts
            )
        },
    )
    m = Migrator(db.url, directory=d)
    m.mark_applied("0001")  # creates the tables, so that only the migration's batch can fail
    m.unmark("0001")
    _slow_pipeline_execute(monkeypatch)
    with pytest.raises(MigrationFailed) as info:
        m.up()
    assert info.value.statement_index == 2
    assert not db.table_exists("long_t")
    assert events(m)[-1] == ("failed", "0001")


# ------------------------------------------------------------------------------ marks


def test_mark_applied_and_unmark(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    m = Migrator(db.url, directory=d)
    m.mark_applied("0001")
    assert not db.table_exists("users"), "mark_applied must not run the migration"
    assert states(m) == {"0001": State.APPLIED, "0002": State.PENDING, "0003": State.PENDING}
    row = next(r for r in history(db) if r[1] == "0001")
    assert row[3] == m.migrations[0].checksum and bool(row[4]) is True

    with pytest.raises(PlanError):
        m.mark_applied("0001")
    with pytest.raises(UnknownVersion):
        m.mark_applied("0042")

    m.unmark("0001")
    assert states(m)["0001"] is State.PENDING
    assert versions_in_history(db) == []
    with pytest.raises(UnknownVersion):
        m.unmark("0001")

    log = m.audit_log()
    assert [(e.event, e.version) for e in log] == [("marked", "0001"), ("unmarked", "0001")]
    assert all(e.actor and "@" in e.actor for e in log)
    assert all(e.at is not None for e in log)


def test_unmark_then_up_runs_it_again(db, tmp_path: Path) -> None:
    d = folder(tmp_path, {"0001_a.sql": "CREATE TABLE IF NOT EXISTS a (id INTEGER);\n"})
    m = Migrator(db.url, directory=d)
    m.up()
    m.unmark("0001")
    assert m.up().versions == ("0001",)
    assert events(m) == [
        *applied_events(db, "0001"),
        ("unmarked", "0001"),
        *applied_events(db, "0001"),
    ]


# ------------------------------------------------------------------------------ options


def test_services_are_isolated(db, tmp_path: Path) -> None:
    a = folder(tmp_path, {"0001_a.sql": "CREATE TABLE svc_a (id INTEGER);\n"}, name="a")
    b = folder(
        tmp_path,
        {
            "0001_b.sql": "CREATE TABLE svc_b (id INTEGER);\n",
            "0002_b2.sql": "CREATE TABLE svc_b2 (id INTEGER);\n",
        },
        name="b",
    )
    ma = Migrator(db.url, directory=a, service="alpha")
    mb = Migrator(db.url, directory=b, service="beta")
    assert ma.up().versions == ("0001",)
    assert mb.up().versions == ("0001", "0002")
    assert ma.up().steps == () and mb.up().steps == ()

    assert states(ma) == {"0001": State.APPLIED}
    assert states(mb) == {"0001": State.APPLIED, "0002": State.APPLIED}
    assert ma.validate().is_valid and mb.validate().is_valid
    assert [(r[0], r[1], r[2]) for r in history(db)] == [
        ("alpha", "0001", "a"),
        ("beta", "0001", "b"),
        ("beta", "0002", "b2"),
    ]
    assert events(ma) == applied_events(db, "0001")
    assert events(mb) == applied_events(db, "0001", "0002")
    # the default service sees nothing applied
    assert [e.state for e in Migrator(db.url, directory=a).status()] == [State.PENDING]


def test_custom_table_name(db, tmp_path: Path) -> None:
    d = folder(tmp_path, basic(db.engine))
    m = Migrator(db.url, directory=d, table="schema_log")
    m.up()
    assert db.table_exists("schema_log")
    assert db.table_exists("schema_log_audit")
    assert not db.table_exists("migrata_history")
    assert versions_in_history(db, "schema_log") == ["0001", "0002", "0003"]
    assert [e.state for e in m.status()] == [State.APPLIED] * 3
    assert events(m) == applied_events(db, "0001", "0002", "0003")
    assert m.down().versions == ("0003",)
    assert versions_in_history(db, "schema_log") == ["0001", "0002"]


def test_on_step_events_in_order(db, tmp_path: Path) -> None:
    files = basic(db.engine)
    d = folder(tmp_path, {k: v for k, v in files.items() if not k.startswith("0003")})
    seen: list[StepEvent] = []
    Migrator(db.url, directory=d, on_step=seen.append).up()
    expected = step_events(db, "0001", 2) + step_events(db, "0002", 1)
    assert [(e.kind, e.version) for e in seen] == expected
    assert [e.position for e in seen] == [1 if v == "0001" else 2 for _, v in expected]
    assert {e.count for e in seen} == {2}
    # Run statement by statement, each statement is reported as it completes.
    assert [(e.version, e.statements_done) for e in seen if e.kind == "statement"] == (
        [] if db.transactional_ddl else [("0001", 1), ("0001", 2), ("0002", 1)]
    )
    assert all(e.direction is Direction.UP for e in seen)
    done = [e for e in seen if e.kind == "done"]
    assert [e.statements_done for e in done] == [2, 1]
    assert [e.statements_total for e in done] == [2, 1]
    assert all(e.duration_ms is not None for e in done)

    seen.clear()
    Migrator(db.url, directory=d, on_step=seen.append).down()
    assert [(e.kind, e.version) for e in seen] == step_events(db, "0002", 1)
    assert all(e.direction is Direction.DOWN for e in seen)


def test_on_step_failed_event(db, tmp_path: Path) -> None:
    d = folder(tmp_path, FAILING_PLAN)
    seen: list[StepEvent] = []
    with pytest.raises(MigrationFailed):
        Migrator(db.url, directory=d, on_step=seen.append).up()
    assert [(e.kind, e.version) for e in seen] == [
        *step_events(db, "0001", 1),
        *step_events(db, "0002", 1),
        ("started", "0003"),
        # Data only: one transaction, no statement events, wherever there are transactions.
        *([] if db.transactional else [("statement", "0003")]),
        ("failed", "0003"),
    ]
    assert seen[-1].error and "missing_table" in seen[-1].error
    assert seen[-1].statements_done == 1 and seen[-1].statements_total == 2


# ------------------------------------------------------------------------------ library use


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def borrowable_db(request: pytest.FixtureRequest) -> Database:
    """Every engine whose driver connection migrata can borrow (``Migrator(connection=)``:
    psycopg 3, PyMySQL, sqlite3; a clickhouse-connect client is refused, see below)."""
    return request.getfixturevalue(_FIXTURES[request.param])  # type: ignore[no-any-return]


def test_existing_connection_is_borrowed(borrowable_db: Database, tmp_path: Path) -> None:
    db = borrowable_db
    d = folder(tmp_path, basic(db.engine))
    if db.engine == "sqlite":
        conn = sqlite3.connect(db.url.split("sqlite:///", 1)[1])  # default isolation level
        isolation = conn.isolation_level
    elif db.engine == "mysql":
        conn = mysql_connect(db.url, autocommit=False)  # no multi-statement packets either
        assert conn.get_autocommit() is False
    else:
        import psycopg

        conn = psycopg.connect(db.url)  # not autocommit
        assert conn.autocommit is False
    try:
        m = Migrator(connection=conn, directory=d)
        assert [e.state for e in m.status()] == [State.PENDING] * 3
        assert m.up().versions == ("0001", "0002", "0003")
        assert [e.state for e in m.status()] == [State.APPLIED] * 3
        assert m.down().versions == ("0003",)

        # the connection is still open, configured as before, and usable
        if db.engine == "sqlite":
            assert conn.isolation_level == isolation
            conn.execute("INSERT INTO users (id, name) VALUES (2, 'grace')")
            conn.commit()
            assert conn.execute("SELECT COUNT(*) FROM users").fetchone() == (1,)
        elif db.engine == "mysql":
            assert conn.open
            assert conn.get_autocommit() is False
            with conn.cursor() as cur:
                cur.execute("INSERT INTO users (id, name) VALUES (2, 'grace')")
            conn.commit()
            with conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM users")
                assert cur.fetchone() == (1,)
        else:
            assert not conn.closed
            assert conn.autocommit is False
            conn.execute("INSERT INTO users (id, name) VALUES (2, 'grace')")
            conn.commit()
            assert conn.execute("SELECT COUNT(*) FROM users").fetchone() == (1,)
    finally:
        conn.close()
    # seen by anyone else too
    assert versions_in_history(db) == ["0001", "0002"]
    assert [e.state for e in Migrator(db.url, directory=d).status()][:2] == [State.APPLIED] * 2


def test_a_clickhouse_client_is_not_borrowed(clickhouse_db: Database, tmp_path: Path) -> None:
    """``connection=`` takes the DB-API connections the README lists; a clickhouse-connect
    client is refused with that list, before anything runs, and stays usable."""
    d = folder(tmp_path, basic(clickhouse_db.engine))
    client = clickhouse_db.connect()
    with pytest.raises(ConfigError) as info:
        Migrator(connection=client, directory=d).up()
    assert "unsupported connection type" in str(info.value)
    assert "psycopg 3, PyMySQL or sqlite3 connection, or a URL" in str(info.value)
    assert client.query("SELECT 1").result_rows == [(1,)]
    assert not clickhouse_db.table_exists("migrata_history")
    assert not clickhouse_db.table_exists("users")


def test_migrate_applies_and_reads_url_from_env(db, tmp_path: Path, monkeypatch) -> None:
    for name in ("MIGRATA_DISABLE", "DISABLE_EMBEDDED_MIGRATIONS", "MIGRATA_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", db.url)
    d = folder(tmp_path, basic(db.engine))
    report = migrate(directory=d)
    assert isinstance(report, RunReport)
    assert report.versions == ("0001", "0002", "0003")
    assert migrate(db.url, directory=d).steps == ()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MIGRATA_DISABLE", "1"), ("DISABLE_EMBEDDED_MIGRATIONS", "true")],
)
def test_migrate_disabled_by_env(
    db, tmp_path: Path, monkeypatch, variable: str, value: str
) -> None:
    monkeypatch.delenv("MIGRATA_DISABLE", raising=False)
    monkeypatch.delenv("DISABLE_EMBEDDED_MIGRATIONS", raising=False)
    monkeypatch.setenv(variable, value)
    d = folder(tmp_path, basic(db.engine))
    assert migrate(db.url, directory=d) is None
    for table in ("users", "migrata_history", "migrata_history_audit", "migrata_history_meta"):
        assert not db.table_exists(table), table


def test_migrations_from_a_package(db, tmp_path: Path, monkeypatch) -> None:
    package = f"contract_app_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "site"
    write_migrations(
        root,
        {
            f"{package}/__init__.py": "",
            f"{package}/migrations/__init__.py": "",
            **{f"{package}/migrations/{name}": text for name, text in basic(db.engine).items()},
        },
    )
    monkeypatch.syspath_prepend(str(root))
    try:
        m = Migrator(db.url, package=f"{package}.migrations")
        assert [x.version.text for x in m.migrations] == ["0001", "0002", "0003"]
        assert m.migrations[0].up.path == f"{package}/migrations/0001_users.up.sql"
        assert m.up().versions == ("0001", "0002", "0003")
        assert db.table_exists("tags")
        assert [e.state for e in m.status()] == [State.APPLIED] * 3
        assert m.down().versions == ("0003",)
        # the same migrations from the folder on disk have the same checksums
        on_disk = Migrator(db.url, directory=os.path.join(root, package, "migrations"))
        assert [e.state for e in on_disk.status()] == [State.APPLIED, State.APPLIED, State.PENDING]
    finally:
        for name in [n for n in sys.modules if n.startswith(package)]:
            del sys.modules[name]
