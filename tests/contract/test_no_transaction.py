"""Migrations that run outside a transaction (``-- migrata: no-transaction``): progress is
recorded statement by statement, a failure leaves a "failed" row that stops ``up`` until a
human runs ``resolve``."""

from __future__ import annotations

from pathlib import Path

import pytest
from _contract_support import run_events

from conftest import write_migrations
from migrata import MigrationFailed, Migrator, State, StepEvent, ValidationFailed
from migrata.errors import PlanError, UnknownVersion

BROKEN = (
    "-- migrata: no-transaction\n"
    "CREATE TABLE IF NOT EXISTS nt_a (id INTEGER);\n"
    "CREATE TABLE IF NOT EXISTS nt_b (id INTEGER);\n"
    "INSERT INTO nt_missing (id) VALUES (1);\n"
    "CREATE TABLE nt_d (id INTEGER);\n"
)
FIXED = BROKEN.replace("nt_missing", "nt_a")

FILES = {
    "0001_base.sql": "CREATE TABLE base (id INTEGER);\n",
    "0002_outside.sql": BROKEN,
    "0003_after.sql": "CREATE TABLE after_t (id INTEGER);\n",
}


def setup_failed(db, tmp_path: Path) -> tuple[Path, MigrationFailed]:
    d = write_migrations(tmp_path / "migrations", FILES)
    m = Migrator(db.url, directory=d)
    assert not m.migrations[1].transactional
    with pytest.raises(MigrationFailed) as info:
        m.up()
    return d, info.value


def entry(m: Migrator, version: str):
    return next(e for e in m.status() if e.version.text == version)


def events(m: Migrator) -> list[tuple[str, str]]:
    return [(e.event, e.version) for e in m.audit_log()]


def test_failure_outside_a_transaction(db, tmp_path: Path) -> None:
    d, error = setup_failed(db, tmp_path)
    assert error.version == "0002"
    assert error.transactional is False
    assert error.statement_index == 3
    assert error.statement_count == 4
    assert error.applied == ("0001",)
    assert error.line == 4
    text = str(error)
    assert f"{d / '0002_outside.sql'}:4:" in text
    assert "INSERT INTO nt_missing (id) VALUES (1)" in text
    assert "statement 3 of 4" in text and "resolve 0002" in text

    # what ran outside the transaction stays; the rest did not run
    assert db.table_exists("nt_a") and db.table_exists("nt_b")
    assert not db.table_exists("nt_d")
    assert not db.table_exists("after_t")

    m = Migrator(db.url, directory=d)
    failed = entry(m, "0002")
    assert failed.state is State.FAILED
    assert failed.applied is not None
    assert failed.applied.success is False
    assert failed.applied.statements_done == 2
    assert failed.applied.statements_total == 4
    assert failed.applied.error and "nt_missing" in failed.applied.error
    assert entry(m, "0001").state is State.APPLIED
    assert entry(m, "0003").state is State.PENDING

    validation = m.validate()
    assert validation.failed == ("0002",)
    assert [p.code for p in validation.problems] == ["failed"]


def test_up_refuses_until_resolved(db, tmp_path: Path) -> None:
    d, _ = setup_failed(db, tmp_path)
    write_migrations(d, {"0002_outside.sql": FIXED})
    with pytest.raises(ValidationFailed) as info:
        Migrator(db.url, directory=d).up()
    assert "resolve" in str(info.value)
    assert "0002" in str(info.value)
    assert [(p.code, str(p.version)) for p in info.value.problems] == [("failed", "0002")]
    assert not db.table_exists("after_t")
    # down refuses too while a row is failed
    with pytest.raises(PlanError):
        Migrator(db.url, directory=d).down()


def test_resolve_rolled_back_then_up_reruns_the_fixed_file(db, tmp_path: Path) -> None:
    d, _ = setup_failed(db, tmp_path)
    write_migrations(d, {"0002_outside.sql": FIXED})
    m = Migrator(db.url, directory=d)
    m.resolve("0002", applied=False)
    assert entry(m, "0002").state is State.PENDING

    seen: list[StepEvent] = []
    report = Migrator(db.url, directory=d, on_step=seen.append).up()
    assert report.versions == ("0002", "0003")
    assert db.table_exists("nt_d") and db.table_exists("after_t")
    assert db.query("SELECT COUNT(*) FROM nt_a") == [(1,)]
    statement_events = [(e.kind, e.statements_done) for e in seen if e.version == "0002"]
    assert statement_events == [
        ("started", 0),
        ("statement", 1),
        ("statement", 2),
        ("statement", 3),
        ("statement", 4),
        ("done", 4),
    ]

    fresh = Migrator(db.url, directory=d)
    row = entry(fresh, "0002").applied
    assert row is not None and row.success
    assert row.checksum == fresh.migrations[1].checksum  # the fixed file's checksum
    assert row.statements_done == 4 and row.statements_total == 4
    assert row.execution_ms is not None
    assert [e.state for e in fresh.status()] == [State.APPLIED] * 3
    log = events(fresh)
    for event in ("started", "failed", "resolved"):
        assert (event, "0002") in log
    assert log.index(("started", "0002")) < log.index(("failed", "0002"))
    assert log.index(("failed", "0002")) < log.index(("resolved", "0002"))
    # 0003 is DDL: where that commits implicitly it runs statement by statement too.
    tail = [("started", "0002"), ("applied", "0002"), *run_events(db, "applied", "0003")]
    assert log[-len(tail) :] == tail
    resolved = next(e for e in fresh.audit_log() if e.event == "resolved")
    assert resolved.detail and "rolled back" in resolved.detail


def test_resolve_applied_marks_it_applied(db, tmp_path: Path) -> None:
    d, _ = setup_failed(db, tmp_path)
    m = Migrator(db.url, directory=d)
    m.resolve("0002", applied=True)
    assert entry(m, "0002").state is State.APPLIED
    assert not db.table_exists("nt_d"), "resolve must not run anything"

    assert Migrator(db.url, directory=d).up().versions == ("0003",)
    log = events(m)
    assert [e for e, v in log if v == "0002"] == ["started", "failed", "resolved"]
    resolved = next(e for e in m.audit_log() if e.event == "resolved")
    assert resolved.detail and "applied" in resolved.detail

    with pytest.raises(PlanError):
        m.resolve("0002", applied=True)  # not failed any more
    with pytest.raises(UnknownVersion):
        m.resolve("0042", applied=True)


def test_no_transaction_success_records_history(db, tmp_path: Path) -> None:
    d = write_migrations(
        tmp_path / "migrations",
        {"0001_outside.sql": FIXED},
    )
    m = Migrator(db.url, directory=d)
    report = m.up()
    assert report.versions == ("0001",)
    assert report.steps[0].transactional is False
    assert report.steps[0].statements == 4
    row = entry(m, "0001").applied
    assert row is not None and row.success and row.statements_done == 4
    assert [e for e, _ in events(m)] == ["started", "applied"]


def test_postgres_create_index_concurrently(postgres_db, tmp_path: Path) -> None:
    d = write_migrations(
        tmp_path / "migrations",
        {
            "0001_table.sql": (
                "CREATE TABLE cic_t (id INTEGER, v TEXT);\n"
                "INSERT INTO cic_t SELECT g, md5(g::text) FROM generate_series(1, 2000) g;\n"
            ),
            "0002_index.sql": (
                "-- migrata: no-transaction\n"
                "CREATE INDEX CONCURRENTLY cic_t_v ON cic_t (v);\n"
                "CREATE UNIQUE INDEX CONCURRENTLY cic_t_id ON cic_t (id);\n"
            ),
        },
    )
    m = Migrator(postgres_db.url, directory=d)
    assert m.up().versions == ("0001", "0002")
    rows = postgres_db.query(
        "SELECT c.relname, i.indisvalid, i.indisready FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'cic_t'::regclass ORDER BY c.relname"
    )
    assert rows == [("cic_t_id", True, True), ("cic_t_v", True, True)]
    assert [e.state for e in m.status()] == [State.APPLIED, State.APPLIED]


def test_postgres_create_index_concurrently_in_a_transaction_fails_cleanly(
    postgres_db, tmp_path: Path
) -> None:
    """Forced into a transaction by an explicit directive, the statement fails there: nothing
    remains."""
    d = write_migrations(
        tmp_path / "migrations",
        {
            "0001_table.sql": "CREATE TABLE cic_t (id INTEGER);\n",
            "0002_index.sql": "-- migrata: transaction\n"
            "CREATE INDEX CONCURRENTLY cic_t_id ON cic_t (id);\n",
        },
    )
    with pytest.raises(MigrationFailed) as info:
        Migrator(postgres_db.url, directory=d).up()
    assert info.value.version == "0002" and info.value.transactional
    assert "CONCURRENTLY" in str(info.value)
    assert postgres_db.query("SELECT to_regclass('cic_t_id') IS NULL") == [(True,)]
