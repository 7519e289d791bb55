"""The runner's time limits on a fake backend: where the limits travel, how a lock timeout is
retried (with what pauses, how many times), and the watchdog of the migration timeout."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from migrata.backends.base import Query, QueryFailed
from migrata.errors import MigrationFailed
from migrata.history import History
from migrata.models import Direction, Migration, Plan, Script, Step, Timeouts, Version
from migrata.runner import Runner
from migrata.split import split_script
from migrata.sqltext import checksum
from migrata.testing import FakeBackend


class LockingBackend(FakeBackend):
    """Fails a statement containing ``contended`` with a lock timeout its first ``busy``
    times; each batch's queries are kept. Time limits become ``SET`` markers."""

    def __init__(self, busy: int, contended: str = "ALTER") -> None:
        super().__init__()
        self.busy = busy
        self.contended = contended
        self.session: dict[str, float | None] = {}

    def run(self, queries: Sequence[Query]) -> list[list[tuple[Any, ...]]]:
        for index, query in enumerate(queries):
            if self.contended in query.sql and self.busy > 0:
                self.busy -= 1
                self.batches.append(list(queries))
                raise QueryFailed(index, "canceling statement due to lock timeout", "LOCK", None)
        return super().run(queries)

    def is_lock_timeout(self, failure: QueryFailed) -> bool:
        return failure.sqlstate == "LOCK"

    def timeout_queries(self, timeouts: Timeouts, *, local: bool) -> list[Query]:
        scope = "LOCAL" if local else "SESSION"
        return [Query(f"SET {scope} lock={timeouts.lock} statement={timeouts.statement}")]

    def lock_timeout_applies(self, sql: str) -> bool:
        return "CONCURRENTLY" not in sql


def mig(version: str, text: str, *, transactional: bool = True, **limits: float) -> Migration:
    script = Script(
        path=f"m/{version}_x.sql",
        text=text,
        transactional=transactional,
        timeouts=Timeouts(**limits),
    )
    return Migration(Version.parse(version), "x", script, None, checksum(text))


def run(runner: Runner, *migrations: Migration, single: bool = False):  # type: ignore[no-untyped-def]
    plan = Plan(Direction.UP, tuple(Step(m, Direction.UP) for m in migrations))
    statements = {(m.version, Direction.UP): split_script(m.up, "sqlite") for m in migrations}
    return runner.run(plan, statements, single_transaction=single)


def make(backend: FakeBackend, pauses: list[float], **options: Any) -> Runner:
    return Runner(backend, History(backend), sleep=pauses.append, **options)


def test_limits_ride_in_the_migration_batch_and_a_file_wins() -> None:
    backend = LockingBackend(busy=0)
    runner = make(backend, [], timeouts=Timeouts(statement=30.0, lock=5.0))
    run(runner, mig("1", "CREATE TABLE a (x);"), mig("2", "SELECT 1;", lock=0.5))
    first, second = backend.batches
    assert [q.sql for q in first[:2]] == ["BEGIN", "SET LOCAL lock=5.0 statement=30.0"]
    assert second[1].sql == "SET LOCAL lock=0.5 statement=30.0"
    assert len(backend.batches) == 2  # no round trip of their own


def test_a_lock_timeout_is_retried_with_growing_pauses(caplog: pytest.LogCaptureFixture) -> None:
    backend = LockingBackend(busy=3)
    pauses: list[float] = []
    runner = make(backend, pauses, timeouts=Timeouts(lock=1.0), lock_retries=5)
    with caplog.at_level(logging.INFO, logger="migrata"):
        report = run(runner, mig("1", "ALTER TABLE t ADD COLUMN c;"))
    assert report.versions == ("1",)
    # The whole transaction, from BEGIN, went 4 times: 3 that gave way, 1 that committed.
    assert [b[0].sql for b in backend.batches] == ["BEGIN"] * 4
    assert len(pauses) == 3
    for attempt, pause in enumerate(pauses):
        assert 0.5 * 2**attempt <= pause <= 2**attempt  # 1s doubling, with jitter
    retries = [r for r in caplog.records if getattr(r, "migrata_event", "") == "lock_timeout_retry"]
    assert [r.migrata_fields["retry"] for r in retries] == [1, 2, 3]  # type: ignore[attr-defined]
    assert all(r.levelno == logging.WARNING for r in retries)
    applied = [r for r in caplog.records if getattr(r, "migrata_event", "") == "migration_applied"]
    assert applied[0].migrata_fields["attempts"] == 4  # type: ignore[attr-defined]


def test_when_the_retries_are_spent_the_migration_fails_and_says_why() -> None:
    backend = LockingBackend(busy=10)
    pauses: list[float] = []
    runner = make(backend, pauses, timeouts=Timeouts(lock=0.5), lock_retries=2)
    with pytest.raises(MigrationFailed) as info:
        run(runner, mig("1", "ALTER TABLE t ADD COLUMN c;"))
    assert len(pauses) == 2
    assert info.value.gave_way
    assert "gave up waiting for a lock 3 time(s)" in str(info.value)
    assert "once the lock is free" in str(info.value)


def test_pauses_are_capped() -> None:
    backend = LockingBackend(busy=8)
    pauses: list[float] = []
    run(make(backend, pauses, timeouts=Timeouts(lock=1.0), lock_retries=8), mig("1", "ALTER t;"))
    assert max(pauses) <= 30.0
    assert pauses[-1] >= 15.0  # 2**7 = 128 s, capped at 30 s, jitter at most halves it


def test_outside_a_transaction_only_the_statement_that_gave_way_runs_again() -> None:
    backend = LockingBackend(busy=1)
    pauses: list[float] = []
    runner = make(backend, pauses, timeouts=Timeouts(lock=1.0), lock_retries=3)
    run(
        runner,
        mig("1", "INSERT INTO log VALUES (1);\nALTER TABLE t ADD c;\n", transactional=False),
    )
    sent = backend.statements
    assert sent.count("INSERT INTO log VALUES (1)") == 1
    assert sent.count("ALTER TABLE t ADD c") == 2
    assert len(pauses) == 1


def test_statements_that_wait_by_design_get_no_lock_limit() -> None:
    backend = LockingBackend(busy=0)
    runner = make(backend, [], timeouts=Timeouts(lock=2.0))
    run(
        runner,
        mig(
            "1",
            "CREATE INDEX CONCURRENTLY i ON t (x);\nALTER TABLE t ADD c;\n",
            transactional=False,
        ),
    )
    sets = [s for s in backend.statements if s.startswith("SET SESSION")]
    # The session limit, lifted for the CONCURRENTLY statement, put back for the ALTER.
    assert sets == [
        "SET SESSION lock=2.0 statement=None",
        "SET SESSION lock=0.0 statement=None",
        "SET SESSION lock=2.0 statement=None",
    ]


def test_no_retry_for_other_failures() -> None:
    backend = FakeBackend(fail_on="boom")
    pauses: list[float] = []
    with pytest.raises(MigrationFailed) as info:
        run(make(backend, pauses, timeouts=Timeouts(lock=1.0), lock_retries=5), mig("1", "boom;"))
    assert pauses == [] and not info.value.gave_way


class HangingBackend(FakeBackend):
    """A statement containing SLEEP runs until ``cancel()`` is called."""

    capabilities = FakeBackend.capabilities

    def __init__(self) -> None:
        super().__init__()
        self.cancelled = threading.Event()

    def run(self, queries: Sequence[Query]) -> list[list[tuple[Any, ...]]]:
        for index, query in enumerate(queries):
            if "SLEEP" in query.sql:
                if not self.cancelled.wait(10):
                    raise AssertionError("the watchdog never cancelled")
                self.batches.append(list(queries))
                raise QueryFailed(index, "canceling statement due to user request", "57014", None)
        return super().run(queries)

    def cancel(self) -> None:
        self.cancelled.set()


def test_the_watchdog_cancels_a_migration_that_runs_too_long() -> None:
    backend = HangingBackend()
    runner = make(backend, [])
    with pytest.raises(MigrationFailed) as info:
        run(runner, mig("1", "SELECT 1;\nSELECT SLEEP;\n", migration=0.2))
    assert backend.cancelled.is_set()
    assert info.value.statement_index == 2
    assert "ran longer than its time limit (0.2s, --migration-timeout)" in str(info.value)


def test_the_watchdog_is_quiet_when_the_migration_ends_in_time() -> None:
    backend = HangingBackend()
    run(make(backend, []), mig("1", "SELECT 1;", migration=0.2))
    assert not backend.cancelled.wait(0.4)
