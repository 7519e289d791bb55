"""The runner on a fake backend: how queries are batched, and what happens on failure."""

from __future__ import annotations

import pytest

from migrata.errors import MigrationFailed
from migrata.history import History
from migrata.models import Direction, Migration, Plan, Script, Step, Version
from migrata.runner import Runner
from migrata.split import split_script
from migrata.sqltext import checksum
from migrata.testing import FakeBackend


def mig(version: str, text: str, *, transactional: bool = True) -> Migration:
    script = Script(path=f"m/{version}_x.sql", text=text, transactional=transactional)
    return Migration(Version.parse(version), "x", script, None, checksum(text))


def run(backend: FakeBackend, *migrations: Migration, single: bool = False, events=None):  # type: ignore[no-untyped-def]
    plan = Plan(Direction.UP, tuple(Step(m, Direction.UP) for m in migrations))
    statements = {(m.version, Direction.UP): split_script(m.up, "sqlite") for m in migrations}
    runner = Runner(
        backend, History(backend), on_step=events.append if events is not None else None
    )
    return runner.run(plan, statements, single_transaction=single)


def test_each_transactional_migration_is_one_batch_with_its_history_row() -> None:
    backend = FakeBackend()
    report = run(
        backend,
        mig("1", "CREATE TABLE a (x);\nINSERT INTO a VALUES (1);"),
        mig("2", "CREATE TABLE b (y);"),
    )
    assert report.versions == ("1", "2")
    assert len(backend.batches) == 2
    first = [q.sql for q in backend.batches[0]]
    assert first[0] == "BEGIN" and first[-1] == "COMMIT"
    assert first[1:3] == ["CREATE TABLE a (x)", "INSERT INTO a VALUES (1)"]
    assert any(q.startswith('INSERT INTO "migrata_history" ') for q in first)
    assert any(q.startswith('INSERT INTO "migrata_history_audit"') for q in first)


def test_single_transaction_sends_the_whole_plan_in_one_batch() -> None:
    backend = FakeBackend()
    run(backend, mig("1", "DELETE FROM t;"), mig("2", "CREATE TABLE b (y);"), single=True)
    assert len(backend.batches) == 1
    texts = [q.sql for q in backend.batches[0]]
    assert texts.count("BEGIN") == 1 and texts.count("COMMIT") == 1
    assert sum(q.startswith('INSERT INTO "migrata_history" ') for q in texts) == 2


def test_failure_rolls_back_and_names_the_statement() -> None:
    backend = FakeBackend(fail_on="boom")
    with pytest.raises(MigrationFailed) as info:
        run(
            backend,
            mig("1", "CREATE TABLE a (x);"),
            mig("2", "CREATE TABLE b (y);\n\n  INSERT INTO boom VALUES (1);"),
        )
    error = info.value
    assert (error.version, error.line, error.column, error.statement_index) == ("2", 3, 3, 2)
    assert error.applied == ("1",)
    assert "m/2_x.sql:3:3" in str(error) and "INSERT INTO boom" in str(error)
    assert backend.rollbacks >= 1
    # The failure itself is kept in the audit log, in its own transaction.
    last = [q.sql for q in backend.batches[-1]]
    assert last[0] == "BEGIN" and "migrata_history_audit" in last[1]
    assert backend.batches[-1][1].params is not None and "failed" in backend.batches[-1][1].params


def test_no_transaction_migration_records_started_progress_and_success() -> None:
    backend = FakeBackend()
    events: list = []
    run(backend, mig("1", "CREATE INDEX i ON t (x);\nVACUUM;", transactional=False), events=events)
    sent = backend.statements
    assert "CREATE INDEX i ON t (x)" in sent and "VACUUM" in sent
    # The statements travel alone, never inside BEGIN … COMMIT.
    for batch in backend.batches:
        texts = [q.sql for q in batch]
        if "VACUUM" in texts or "CREATE INDEX i ON t (x)" in texts:
            assert texts == [texts[0]]
    progress = [
        q
        for b in backend.batches
        for q in b
        if q.sql.startswith('UPDATE "migrata_history" SET statements_done')
    ]
    assert [q.params[0] for q in progress if q.params] == [1, 2]
    assert [e.kind for e in events] == ["started", "statement", "statement", "done"]


def test_no_transaction_failure_is_recorded_at_statement_k_of_n() -> None:
    backend = FakeBackend(fail_on="boom")
    with pytest.raises(MigrationFailed) as info:
        run(backend, mig("1", "SELECT 1;\nSELECT boom;\nSELECT 3;", transactional=False))
    assert (info.value.statement_index, info.value.statement_count) == (2, 3)
    assert info.value.transactional is False
    assert "resolve 1" in str(info.value)
    failed = [
        q
        for b in backend.batches
        for q in b
        if q.sql.startswith('UPDATE "migrata_history" SET success = FALSE')
    ]
    assert failed and failed[-1].params is not None and failed[-1].params[:2] == (1, 3)
    assert "SELECT 3" not in backend.statements
