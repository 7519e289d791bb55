"""Flights on a fake backend that can send several transactions at once: which migrations travel
together, what ends a flight, the lazy commits, and a failure in the middle."""

from __future__ import annotations

from dataclasses import replace

import pytest

from migrata.backends.base import Query
from migrata.engines import Capabilities
from migrata.errors import MigrationFailed
from migrata.history import History
from migrata.models import Direction, Migration, Plan, Script, Step, StepEvent, Timeouts, Version
from migrata.runner import Runner
from migrata.split import split_script
from migrata.sqltext import checksum
from migrata.testing import FakeBackend

LAZY = "SET LOCAL lazy_commit"


class FlyingBackend(FakeBackend):
    capabilities = Capabilities(transactional_ddl=True, pipelining=True, lock="none", flights=True)

    def lazy_commit_queries(self) -> list[Query]:
        return [Query(LAZY)]


def mig(version: str, text: str, **script: object) -> Migration:
    body = Script(path=f"m/{version}_x.sql", text=text)
    body = replace(body, **script)  # type: ignore[arg-type]
    return Migration(Version.parse(version), "x", body, None, checksum(text))


def run(backend: FakeBackend, *migrations: Migration, events: list[StepEvent] | None = None):  # type: ignore[no-untyped-def]
    plan = Plan(Direction.UP, tuple(Step(m, Direction.UP) for m in migrations))
    statements = {(m.version, Direction.UP): split_script(m.up, "sqlite") for m in migrations}
    runner = Runner(backend, History(backend), on_step=None if events is None else events.append)
    return runner.run(plan, statements)


def texts(batch: list[Query]) -> list[str]:
    return [q.sql for q in batch]


def test_consecutive_transactional_migrations_travel_in_one_batch() -> None:
    backend = FlyingBackend()
    events: list[StepEvent] = []
    report = run(backend, *(mig(str(n), f"CREATE TABLE t{n} (x);") for n in range(1, 6)), events=events)
    assert report.versions == ("1", "2", "3", "4", "5")
    assert len(backend.batches) == 1
    sent = texts(backend.batches[0])
    assert sent.count("BEGIN") == 5 and sent.count("COMMIT") == 5
    # Every COMMIT but the last returns before it is on disk; the last one makes all durable.
    assert sent.count(LAZY) == 4
    last_begin = len(sent) - 1 - sent[::-1].index("BEGIN")
    assert LAZY not in sent[last_begin:]
    assert [(e.kind, e.version, e.position) for e in events] == [
        (kind, str(n), n) for n in range(1, 6) for kind in ("started", "done")
    ]


def test_what_ends_a_flight() -> None:
    backend = FlyingBackend()
    run(
        backend,
        mig("1", "CREATE TABLE a (x);"),
        mig("2", "CREATE TABLE b (x);"),
        # Outside a transaction: statement by statement, alone.
        mig("3", "CREATE INDEX i ON a (x);", transactional=False),
        mig("4", "CREATE TABLE c (x);"),
        # A migration time limit: its watchdog watches one migration.
        mig("5", "CREATE TABLE d (x);", timeouts=Timeouts(migration=30)),
        mig("6", "CREATE TABLE e (x);"),
        # Other lock limits than its neighbours'.
        mig("7", "CREATE TABLE f (x);", timeouts=Timeouts(lock=2)),
        mig("8", "CREATE TABLE g (x);", timeouts=Timeouts(lock=2)),
    )
    flights = [b for b in backend.batches if "BEGIN" in texts(b) and texts(b).count("COMMIT") >= 1]
    created = [
        [q for q in texts(b) if q.startswith("CREATE TABLE")] for b in flights if "CREATE" in str(b)
    ]
    assert [c for c in created if c] == [
        ["CREATE TABLE a (x)", "CREATE TABLE b (x)"],
        ["CREATE TABLE c (x)"],
        ["CREATE TABLE d (x)"],
        ["CREATE TABLE e (x)"],
        ["CREATE TABLE f (x)", "CREATE TABLE g (x)"],
    ]


def test_a_failure_in_the_middle_keeps_what_committed_and_sends_nothing_more() -> None:
    backend = FlyingBackend(fail_on="boom")
    events: list[StepEvent] = []
    with pytest.raises(MigrationFailed) as info:
        run(
            backend,
            mig("1", "CREATE TABLE a (x);"),
            mig("2", "CREATE TABLE b (x);"),
            mig("3", "CREATE TABLE c (x);\nINSERT INTO boom VALUES (1);"),
            mig("4", "CREATE TABLE d (x);"),
            events=events,
        )
    assert (info.value.version, info.value.statement_index) == ("3", 2)
    assert info.value.applied == ("1", "2")
    assert [(e.kind, e.version) for e in events if e.kind != "started"] == [
        ("done", "1"),
        ("done", "2"),
        ("failed", "3"),
    ]
    # One flight (the server runs none of it after the failure: the contract tests show it on
    # every engine), then the failure's audit row in its own transaction; 4 is not sent again.
    assert len(backend.batches) == 2
    assert "migrata_history_audit" in texts(backend.batches[1])[1]
    assert not any("CREATE TABLE d" in q for q in texts(backend.batches[1]))
