"""Execute a Plan whose scripts are already split: the only step that writes.

A transactional migration is one batch — BEGIN, its statements, its history row, COMMIT — and
consecutive ones travel together in one message where the engine allows (a *flight*:
``capabilities.flights``), each still its own transaction, the server running nothing after a
failure; every COMMIT of a flight but the last returns before it is on disk, the last one
makes them all durable. A migration that must run outside a transaction
writes a "started" row, runs statement by statement recording progress, then records success;
when it fails the row says "failed at statement k of n" until ``migrata resolve``.

Time limits (:class:`~migrata.models.Timeouts`: the run's, or a file's directives) ride in the
same round trip as the migration. A statement that gave up waiting for a lock (the lock
timeout, so that DDL queued behind a long query gives way instead of blocking every reader
behind it) changed nothing, so it is tried again after a growing pause, ``lock_retries`` times:
a transactional migration from its BEGIN, a statement outside a transaction on its own. The
migration timeout is a watchdog that cancels what runs when the time is up.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from .backends.base import Backend, Query, QueryFailed
from .errors import ExecutionError, MigrationFailed
from .events import log_event
from .history import History
from .models import (
    Direction,
    Plan,
    RunReport,
    Statement,
    Step,
    StepEvent,
    StepResult,
    Timeouts,
    Version,
)
from .sqltext import LineIndex

logger = logging.getLogger("migrata")

OnStep = Callable[[StepEvent], None]


class Role(enum.Enum):
    """What a query of a batch is there for: a failure that the backend reports by the
    query's index is attributed by reading its role."""

    #: Opens the migration's (or the plan's) transaction.
    BEGIN = "begin"
    #: Sets a time limit.
    LIMIT = "limit"
    #: A statement of the session SQL (``--session-sql``).
    SESSION = "session"
    #: A statement of a migration's script.
    STATEMENT = "statement"
    #: The clock and the "started" row, with their BEGIN and COMMIT: written before any
    #: statement of the migration runs.
    STARTED = "started"
    #: A history write after statements ran: applied, reverted, progress, with their framing.
    HISTORY = "history"
    #: Ends the transaction of the batch.
    COMMIT = "commit"


@dataclass(frozen=True, slots=True)
class Tagged:
    """One query of a batch and its role."""

    role: Role
    query: Query
    #: The migration the query belongs to (None: the batch's own framing, the session SQL).
    step: Step | None = None
    #: The statements of ``step``, which a STATEMENT query is one of, and which a COMMIT that
    #: ends ``step``'s own transaction completes.
    statements: Sequence[Statement] = ()
    #: Which statement of ``statements`` (STATEMENT) or of the session SQL (SESSION), 0-based.
    number: int = 0


@dataclass(slots=True)
class Batch:
    """The queries sent together, each tagged with its role, in the order they run."""

    entries: list[Tagged] = field(default_factory=list)

    def add(
        self,
        role: Role,
        queries: Iterable[Query],
        *,
        step: Step | None = None,
        statements: Sequence[Statement] = (),
        first: int = 0,
    ) -> Batch:
        """Append ``queries`` with ``role``, numbered from ``first``; returns the batch."""
        for number, query in enumerate(queries, start=first):
            self.entries.append(Tagged(role, query, step, statements, number))
        return self

    def add_statements(self, step: Step, statements: Sequence[Statement]) -> Batch:
        """Append the statements of ``step``; returns the batch."""
        queries = (Query(s.sql) for s in statements)
        return self.add(Role.STATEMENT, queries, step=step, statements=statements)

    def extended(self, other: Batch) -> Batch:
        """A new batch: this one's queries, then ``other``'s."""
        return Batch([*self.entries, *other.entries])

    @property
    def queries(self) -> list[Query]:
        return [entry.query for entry in self.entries]

    def at(self, index: int) -> Tagged | None:
        """The query a failure's index names; None when the backend could not tell (-1)."""
        return self.entries[index] if 0 <= index < len(self.entries) else None

    def count(self, role: Role) -> int:
        return sum(1 for entry in self.entries if entry.role is role)


#: The most SQL (characters of statements) sent in one message of several migrations: the
#: server's packet limit (MySQL's max_allowed_packet, 16 MiB by default) stays far away.
FLIGHT_CHARACTERS = 4_000_000

#: The pause before the first retry of a migration that gave up waiting for a lock; it doubles
#: for each retry, up to the longest (seconds), with jitter so that replicas spread out.
RETRY_PAUSE = 1.0
LONGEST_RETRY_PAUSE = 30.0


class _Watchdog:
    """Cancels the running statement when ``seconds`` have passed (the migration timeout);
    ``fired`` says whether it did. A no-op without a limit or where the backend cannot
    cancel (the runner caps each statement's own limit instead)."""

    def __init__(self, backend: Backend, seconds: float | None) -> None:
        self.backend = backend
        self.seconds = seconds if seconds and backend.capabilities.cancel else None
        self.fired = False
        self._guard = threading.Lock()
        self._active = False
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Self:
        if self.seconds:
            self._active = True
            self._timer = threading.Timer(self.seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _fire(self) -> None:
        with self._guard:
            if self._active:
                self.fired = True
                self.backend.cancel()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with self._guard:
            self._active = False
        if self._timer is not None:
            self._timer.cancel()


def write_history(
    backend: Backend, queries: list[Query], *, scrub: Callable[[str], str] = lambda t: t
) -> None:
    """Run history writes together in one transaction; raises ExecutionError."""
    try:
        backend.execute_transaction([Query("BEGIN"), *queries, Query("COMMIT")])
    except QueryFailed as failure:
        backend.rollback()
        raise ExecutionError(f"writing the history failed: {scrub(failure.message)}") from None


@dataclass(slots=True)
class _Landing:
    """Which migrations of a flight are committed, as the backend hears of their COMMITs:
    each is recorded and told of then, and the next one told of as started."""

    runner: Runner
    pending: Sequence[Step]
    #: The index of each COMMIT in the flight's batch → which of ``pending`` it ends.
    commits: Mapping[int, int]
    #: How many migrations of the plan come before ``pending``.
    before: int
    count: int
    statements: Mapping[tuple[Version, Direction], Sequence[Statement]]
    results: list[StepResult] = field(default_factory=list)
    #: How many of ``pending`` are committed.
    landed: int = 0
    clock: float = field(default_factory=time.perf_counter)

    def start(self, number: int) -> None:
        step = self.pending[number]
        stmts = self.statements[(step.version, step.direction)]
        self.runner._starting(step, self.before + number + 1, self.count, stmts)

    def heard(self, index: int) -> None:
        number = self.commits.get(index)
        if number is None:
            return
        now = time.perf_counter()
        step = self.pending[number]
        stmts = self.statements[(step.version, step.direction)]
        duration = (now - self.clock) * 1000
        self.runner._finished(
            step, self.before + number + 1, self.count, stmts, duration, self.results
        )
        self.clock = now
        self.landed = number + 1
        self.runner._attempts = 1
        if self.landed < len(self.pending):
            self.start(self.landed)


class Runner:
    def __init__(
        self,
        backend: Backend,
        history: History,
        *,
        on_step: OnStep | None = None,
        secrets: Callable[[str], str] = lambda text: text,
        session: Sequence[Statement] = (),
        session_path: str = "session SQL",
        timeouts: Timeouts | None = None,
        lock_retries: int = 0,
        retry_pause: float = RETRY_PAUSE,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.backend = backend
        self.history = history
        self.on_step = on_step
        self._scrub = secrets
        #: Statements run on the connection before each migration (``--session-sql``).
        self.session = tuple(session)
        self.session_path = session_path
        #: The run's time limits; a file's directives win over them.
        self.timeouts = timeouts if timeouts is not None else Timeouts()
        #: How many times a migration that gave up waiting for a lock is tried again.
        self.lock_retries = lock_retries
        self.retry_pause = retry_pause
        self._sleep = sleep
        #: Attempts of the step being run (1 unless it gave way to a lock).
        self._attempts = 1

    def run(
        self,
        plan: Plan,
        statements: Mapping[tuple[Version, Direction], Sequence[Statement]],
        *,
        single_transaction: bool = False,
    ) -> RunReport:
        """Run every step of ``plan``; raises MigrationFailed at the first failure.

        ``statements`` holds the split script of every step, prepared before this call.
        """
        results: list[StepResult] = []
        if single_transaction and plan.steps:
            results = self._run_single_transaction(plan, statements)
            return RunReport(plan.direction, tuple(results))
        steps = plan.steps
        position = 0  # 0-based here; events count from 1
        while position < len(steps):
            flight = self._flight(steps, position, statements)
            if len(flight) > 1:
                self._run_flight(flight, position, len(steps), statements, results)
                position += len(flight)
                continue
            step = steps[position]
            position += 1
            stmts = statements[(step.version, step.direction)]
            self._starting(step, position, len(steps), stmts)
            self._attempts = 1
            started = time.perf_counter()
            try:
                if step.script.transactional:
                    self._run_transactional(step, stmts, results)
                else:
                    self._run_statement_by_statement(
                        step, stmts, position, len(steps), results
                    )
            except MigrationFailed as failure:
                self._emit(
                    "failed",
                    step,
                    position,
                    len(steps),
                    total=len(stmts),
                    done=failure.statement_index - 1,
                    error=failure.db_message,
                )
                raise
            duration = (time.perf_counter() - started) * 1000
            self._finished(step, position, len(steps), stmts, duration, results)
        return RunReport(plan.direction, tuple(results))

    def _starting(self, step: Step, position: int, count: int, stmts: Sequence[Statement]) -> None:
        """Tell that ``step`` (``position`` of ``count``, from 1) starts."""
        self._emit("started", step, position, count, total=len(stmts))
        log_event(
            "migration_started",
            "%s %s_%s",
            "applying" if step.direction is Direction.UP else "reverting",
            step.version,
            step.migration.name,
            **self._fields(step),
            position=position,
            count=count,
            statements=len(stmts),
            transactional=step.script.transactional,
        )

    def _finished(
        self,
        step: Step,
        position: int,
        count: int,
        stmts: Sequence[Statement],
        duration: float,
        results: list[StepResult],
    ) -> None:
        """Record and tell that ``step`` is done, after ``duration`` ms."""
        # A resumed migration ran the statements after those recorded as done.
        ran = len(stmts) - step.resume_after
        results.append(
            StepResult(
                step.version.text,
                step.migration.name,
                step.direction,
                duration,
                ran,
                step.script.transactional,
            )
        )
        verb = "applied" if step.direction is Direction.UP else "reverted"
        log_event(
            f"migration_{verb}",
            "%s %s_%s (%d statement(s)%s, %.1f ms)",
            verb,
            step.version,
            step.migration.name,
            ran,
            f", resumed after {step.resume_after} of {len(stmts)}" if step.resume_after else "",
            duration,
            **self._fields(step),
            duration_ms=round(duration, 3),
            statements=ran,
            transactional=step.script.transactional,
            attempts=self._attempts,
        )
        self._emit(
            "done",
            step,
            position,
            count,
            total=len(stmts),
            done=len(stmts),
            duration_ms=duration,
        )

    # -- several migrations in one message --------------------------------------------------

    def _flight(
        self,
        steps: Sequence[Step],
        first: int,
        statements: Mapping[tuple[Version, Direction], Sequence[Statement]],
    ) -> Sequence[Step]:
        """The steps from ``first`` on that can travel together: consecutive transactional
        migrations with the same time limits and no migration time limit (its watchdog
        watches one migration), up to FLIGHT_CHARACTERS of SQL. A single step where the
        engine cannot send several transactions at once."""
        if not self.backend.capabilities.flights:
            return steps[first : first + 1]
        limits = self._limits(steps[first])
        if limits.migration:
            return steps[first : first + 1]
        size = 0
        end = first
        while end < len(steps):
            step = steps[end]
            if not step.script.transactional or step.resume_after:
                break
            if self._limits(step) != limits:
                break
            size += sum(len(s.sql) for s in statements[(step.version, step.direction)])
            if end > first and size > FLIGHT_CHARACTERS:
                break
            end += 1
        return steps[first : max(end, first + 1)]

    def _run_flight(
        self,
        steps: Sequence[Step],
        offset: int,
        count: int,
        statements: Mapping[tuple[Version, Direction], Sequence[Statement]],
        results: list[StepResult],
    ) -> None:
        """Send ``steps`` (positions ``offset + 1`` … of ``count``) as one message: each its
        own transaction with its history row, the server running nothing after a failure.

        Every COMMIT but the last returns before it is on disk (where the engine can: see
        :meth:`Backend.lazy_commit_queries`); the last one waits for the disk and so makes
        them all durable before the run reports them. A statement that gives way to a lock
        is tried again from its own migration on, the ones before it staying committed; any
        other failure raises MigrationFailed with the committed ones as applied.
        """
        pending = list(steps)
        self._attempts = 1
        while pending:
            batch = Batch()
            commits: dict[int, int] = {}
            for number, step in enumerate(pending):
                stmts = statements[(step.version, step.direction)]
                last = number == len(pending) - 1
                part = self._transaction_batch(step, stmts, self._limits(step), lazy=not last)
                batch.entries.extend(part.entries)
                commits[len(batch.entries) - 1] = number
            landing = _Landing(
                self, pending, commits, offset + len(steps) - len(pending), count, statements
            )
            landing.start(0)
            try:
                self.backend.execute_transactions(batch.queries, done=landing.heard)
                results.extend(landing.results)
                return
            except QueryFailed as failure:
                self._rollback()
                # Migrations committed before the failure that the backend did not tell of.
                for index in sorted(commits):
                    if commits[index] >= landing.landed and 0 <= index < failure.index:
                        landing.heard(index)
                results.extend(landing.results)
                failing = pending[landing.landed]
                try:
                    self._after_failure(
                        batch,
                        failure,
                        self._limits(failing),
                        _Watchdog(self.backend, None),
                        first=failing,
                        history=f"recording migration {failing.version} in the history",
                        applied=results,
                    )
                except MigrationFailed as error:
                    self._emit(
                        "failed",
                        failing,
                        landing.before + landing.landed + 1,
                        count,
                        total=error.statement_count,
                        done=error.statement_index - 1,
                        error=error.db_message,
                    )
                    raise
                pending = pending[landing.landed :]  # it gave way to a lock: again from it
            except BaseException:
                self._rollback()
                results.extend(landing.results)
                raise

    def preview(self, step: Step, stmts: Sequence[Statement]) -> tuple[list[Query], list[Query]]:
        """What the run sends before the statements of ``step`` and after them, for
        ``migrata plan``: the transaction framing, the time limits, the session SQL and the
        history writes (the backend's session state may change: use a throwaway one)."""
        limits = self._limits(step)
        if step.script.transactional:
            batch = self._transaction_batch(step, stmts, limits).entries
            first = {Role.BEGIN, Role.LIMIT, Role.SESSION}
            before = [entry.query for entry in batch if entry.role in first]
            after = [
                entry.query
                for entry in batch
                if entry.role not in first and entry.role is not Role.STATEMENT
            ]
            return before, after
        migration = step.migration
        opening = self._opening(step, len(stmts))
        before = [
            *self.backend.timeout_queries(self._statement_limits(limits, None, None), local=False),
            *self._session_queries(),
            Query("BEGIN"),
            *opening,
            Query("COMMIT"),
        ]
        progress = self.history.progress_query(migration, done=len(stmts), total=len(stmts))
        after = [
            Query(f"-- after each statement: {progress.sql}", progress.params),
            Query("BEGIN"),
            *self._record(step, len(stmts)),
            Query("COMMIT"),
        ]
        return before, after

    # -- one transaction per migration ------------------------------------------------------

    def _run_transactional(
        self, step: Step, stmts: Sequence[Statement], results: list[StepResult]
    ) -> None:
        limits = self._limits(step)
        self._send_batch(
            lambda: self._transaction_batch(step, stmts, limits),
            limits,
            first=step,
            history=f"recording migration {step.version} in the history",
            applied=results,
        )

    def _transaction_batch(
        self, step: Step, stmts: Sequence[Statement], limits: Timeouts, *, lazy: bool = False
    ) -> Batch:
        """BEGIN, the time limits, the session SQL, the statements of ``step``, its history
        row and COMMIT; ``lazy``: a COMMIT that need not wait for the disk (a later one
        will)."""
        return (
            Batch()
            .add(Role.BEGIN, [Query("BEGIN")])
            .add(Role.LIMIT, self.backend.timeout_queries(limits, local=True))
            .add(Role.LIMIT, self.backend.lazy_commit_queries() if lazy else [])
            .add(Role.SESSION, self._session_queries())
            .add_statements(step, stmts)
            .add(Role.HISTORY, self._record(step, len(stmts)), step=step)
            .add(Role.COMMIT, [Query("COMMIT")], step=step, statements=stmts)
        )

    def _send_batch(
        self,
        build: Callable[[], Batch],
        limits: Timeouts,
        *,
        first: Step,
        history: str,
        applied: Sequence[StepResult],
    ) -> None:
        """Send the batch that ``build`` makes (BEGIN … COMMIT) as one transaction, and build
        and send it again, from its BEGIN, while a statement gives way to a lock (see
        :meth:`_after_failure`); the transaction is rolled back on every failure."""
        while True:
            batch = build()
            watchdog = _Watchdog(self.backend, limits.migration)
            try:
                with watchdog:
                    self.backend.execute_transaction(batch.queries)
                return
            except QueryFailed as failure:
                self._rollback()
                self._after_failure(
                    batch, failure, limits, watchdog, first=first, history=history, applied=applied
                )
            except BaseException:
                self._rollback()
                raise

    def _after_failure(
        self,
        batch: Batch,
        failure: QueryFailed,
        limits: Timeouts,
        watchdog: _Watchdog,
        *,
        first: Step,
        history: str,
        applied: Sequence[StepResult],
    ) -> None:
        """Return (after a pause) when the batch should be sent again: a statement gave way
        to a lock (one whose query the backend could not tell counts against ``first``).

        Else raises MigrationFailed (audited) for a statement or its migration's COMMIT,
        ExecutionError for the time limits, the session SQL, or the rest (``history``, what
        failed then).
        """
        tagged = batch.at(failure.index)
        if tagged is None and self._gives_way(
            first, failure, limits, None, batch.count(Role.STATEMENT)
        ):
            return
        setup = self._setup_failed(tagged, failure)
        if setup is not None:
            raise setup from None
        if tagged is not None and tagged.role is Role.COMMIT and tagged.statements:
            # The COMMIT of a migration's own transaction failed (a deferred constraint, a
            # serialization failure): the migration failed as a whole; point at its last
            # statement.
            failure = QueryFailed(
                failure.index, f"at COMMIT: {failure.message}", failure.sqlstate, None
            )
            last = len(tagged.statements) - 1
            tagged = Tagged(Role.STATEMENT, tagged.query, tagged.step, tagged.statements, last)
        if tagged is not None and tagged.role is Role.STATEMENT and tagged.step is not None:
            step, stmts, index = tagged.step, tagged.statements, tagged.number
            if self._gives_way(step, failure, limits, index, len(stmts)):
                return  # rolled back: tried again from its BEGIN
            failure = self._explained(failure, watchdog, limits)
            error = self._failed(step, stmts, index, failure, applied)
            self._audit_failure(step, error)
            raise error from None
        raise ExecutionError(
            f"{history} failed: {self._scrub(failure.message)}; it was rolled back"
        ) from None

    def _record(
        self,
        step: Step,
        count: int,
        execution_ms: int | None = None,
        elapsed_sql: str | None = None,
    ) -> list[Query]:
        if step.direction is Direction.UP:
            return self.history.applied_queries(
                step.migration, statements=count, execution_ms=execution_ms, elapsed_sql=elapsed_sql
            )
        return self.history.reverted_queries(step.migration)

    # -- outside a transaction --------------------------------------------------------------

    def _run_statement_by_statement(
        self,
        step: Step,
        stmts: Sequence[Statement],
        position: int,
        count: int,
        results: list[StepResult],
    ) -> None:
        limits = self._limits(step)
        clock = self.backend.clock_sql()
        if (
            self.backend.capabilities.autocommit_batches
            and clock
            and len(stmts) > step.resume_after
        ):
            self._run_batched(step, stmts, position, count, clock, limits, results)
            return
        migration = step.migration
        started = time.perf_counter()
        deadline = time.monotonic() + limits.migration if limits.migration else None
        # The session's limits ride with the session SQL, or with the "started" row.
        setup = self.backend.timeout_queries(
            self._statement_limits(limits, None, deadline), local=False
        )
        if self.session:
            batch = Batch().add(Role.LIMIT, setup).add(Role.SESSION, self._session_queries())
            try:
                self.backend.run(batch.queries)
            except QueryFailed as failure:
                self._rollback()
                tagged = batch.at(failure.index)
                if tagged is not None and tagged.role is Role.SESSION:
                    raise self._session_failed(failure, tagged.number) from None
                raise self._limits_failed(failure) from None
            setup = []
        skip = step.resume_after
        self._atomic([*setup, *self._opening(step, len(stmts))])
        with _Watchdog(self.backend, limits.migration) as watchdog:
            for index in range(skip, len(stmts)):
                statement = stmts[index]
                while True:
                    try:
                        if deadline is not None and time.monotonic() >= deadline:
                            raise QueryFailed(
                                0,
                                "not started: the migration's time is up",
                                None,
                                None,
                            )
                        wish = self._statement_limits(limits, statement, deadline)
                        changes = self.backend.timeout_queries(wish, local=False)
                        if changes:
                            self.backend.run(changes)
                        self.backend.run([Query(statement.sql)])
                        break
                    except QueryFailed as failure:
                        self._rollback()
                        if self._gives_way(step, failure, limits, index, len(stmts)):
                            continue  # it changed nothing: the same statement again
                        if deadline is not None and time.monotonic() >= deadline:
                            watchdog.fired = True
                        failure = self._explained(failure, watchdog, limits)
                        error = self._failed(step, stmts, index, failure, results)
                        raise self._record_failure(step, error) from None
                try:
                    self.backend.run(
                        [self.history.progress_query(migration, done=index + 1, total=len(stmts))]
                    )
                except QueryFailed as failure:
                    self._rollback()
                    raise self._unrecorded(step, index, len(stmts), failure) from None
                self._emit_statement(step, position, count, index, len(stmts))
        elapsed = int((time.perf_counter() - started) * 1000)
        self._atomic(self._record(step, len(stmts), execution_ms=elapsed))

    def _run_batched(
        self,
        step: Step,
        stmts: Sequence[Statement],
        position: int,
        count: int,
        clock: tuple[Query, str],
        limits: Timeouts,
        results: Sequence[StepResult],
    ) -> None:
        """Statement by statement where each query of a batch commits on its own: every
        statement travels with the history write that follows it, so a migration of n
        statements costs n round trips (the time limits, the session SQL, the clock and the
        "started" row go with the first one, the "applied" row with the last)."""
        migration = step.migration
        start_clock, elapsed_sql = clock
        prefix = (
            Batch()
            .add(Role.LIMIT, self.backend.timeout_queries(limits, local=False))
            .add(Role.SESSION, self._session_queries())
            .add(
                Role.STARTED,
                [start_clock, Query("BEGIN"), *self._opening(step, len(stmts)), Query("COMMIT")],
            )
        )
        with _Watchdog(self.backend, limits.migration) as watchdog:
            index = step.resume_after
            while index < len(stmts):
                statement = Batch().add(
                    Role.STATEMENT,
                    [Query(stmts[index].sql)],
                    step=step,
                    statements=stmts,
                    first=index,
                )
                if index == len(stmts) - 1:
                    record = self._record(step, len(stmts), elapsed_sql=elapsed_sql)
                    statement.add(Role.HISTORY, [Query("BEGIN"), *record, Query("COMMIT")])
                else:
                    progress = self.history.progress_query(
                        migration, done=index + 1, total=len(stmts)
                    )
                    statement.add(Role.HISTORY, [progress])
                batch = prefix.extended(statement)
                try:
                    self.backend.run(batch.queries)
                except QueryFailed as failure:
                    self._rollback()
                    tagged = batch.at(failure.index)
                    setup = self._setup_failed(tagged, failure)
                    if setup is not None:
                        raise setup from None
                    role = tagged.role if tagged is not None else Role.STARTED
                    if role is Role.STARTED:
                        raise ExecutionError(
                            f"writing the history failed: {self._scrub(failure.message)}; "
                            f"nothing of migration {migration.version} ran"
                        ) from None
                    if role is Role.STATEMENT:
                        if self._gives_way(step, failure, limits, index, len(stmts)):
                            prefix = Batch()  # it ran: the statement alone goes again
                            continue
                        failure = self._explained(failure, watchdog, limits)
                        error = self._failed(step, stmts, index, failure, results)
                        raise self._record_failure(step, error) from None
                    raise self._unrecorded(step, index, len(stmts), failure) from None
                prefix = Batch()
                self._emit_statement(step, position, count, index, len(stmts))
                index += 1

    def _unrecorded(
        self, step: Step, index: int, total: int, failure: QueryFailed
    ) -> ExecutionError:
        """The error of a statement that ran outside a transaction but whose history write
        failed."""
        return ExecutionError(
            f"{step.script.path}: statement {index + 1} of {total} ran, but recording that in "
            f"the history failed: {self._scrub(failure.message)}; check the database, then "
            f"`migrata resolve {step.version} --applied` or `--rolled-back`"
        )

    def _record_failure(self, step: Step, error: MigrationFailed) -> MigrationFailed:
        """Write the failed row of a statement that failed outside a transaction; returns
        ``error``, which reports it."""
        sql = error.statement.strip()
        first = sql.splitlines()[0] if sql else ""
        code = f"[{error.sqlstate}] " if error.sqlstate else ""
        # The status of a failed migration shows what the database said and where.
        text = (
            f"{code}{error.db_message.strip()}\n"
            f"statement: {error.path}:{error.line}:{error.column}: {first}"
        )
        self._atomic(
            self.history.failed_queries(
                step.migration,
                done=error.statement_index - 1,
                total=error.statement_count,
                error=text,
                direction=str(step.direction),
            )
        )
        return error

    def _atomic(self, queries: list[Query]) -> None:
        write_history(self.backend, queries, scrub=self._scrub)

    # -- the whole plan in one transaction --------------------------------------------------

    def _run_single_transaction(
        self,
        plan: Plan,
        statements: Mapping[tuple[Version, Direction], Sequence[Statement]],
    ) -> list[StepResult]:
        # One transaction: the statement and lock limits of the run (each file's own cannot be
        # scoped to its part), and the sum of the migrations' time limits.
        limits = self.timeouts
        spans = [self._limits(step).migration for step in plan.steps]
        whole = Timeouts(
            statement=limits.statement,
            lock=limits.lock,
            migration=sum(s for s in spans if s) if all(spans) else None,
        )
        batch = (
            Batch()
            .add(Role.BEGIN, [Query("BEGIN")])
            .add(Role.LIMIT, self.backend.timeout_queries(whole, local=True))
            .add(Role.SESSION, self._session_queries())
        )
        for step in plan.steps:
            stmts = statements[(step.version, step.direction)]
            batch.add_statements(step, stmts)
            batch.add(Role.HISTORY, self._record(step, len(stmts)), step=step)
        # The COMMIT ends every migration's transaction at once: its failure is no one's.
        batch.add(Role.COMMIT, [Query("COMMIT")])
        started = time.perf_counter()
        self._send_batch(
            lambda: batch, whole, first=plan.steps[0], history="the single transaction", applied=()
        )
        duration = (time.perf_counter() - started) * 1000
        results = []
        for step in plan.steps:
            stmts = statements[(step.version, step.direction)]
            results.append(
                StepResult(
                    step.version.text,
                    step.migration.name,
                    step.direction,
                    duration / len(plan.steps),
                    len(stmts),
                    True,
                )
            )
        for step, result in zip(plan.steps, results, strict=True):
            verb = "applied" if step.direction is Direction.UP else "reverted"
            log_event(
                f"migration_{verb}",
                "%s %s_%s (%d statement(s), in one transaction with the others)",
                verb,
                step.version,
                step.migration.name,
                result.statements,
                **self._fields(step),
                duration_ms=round(result.duration_ms, 3),
                statements=result.statements,
                transactional=True,
                attempts=self._attempts,
            )
        logger.info("applied %d migrations in one transaction (%.1f ms)", len(plan.steps), duration)
        return results

    # -- time limits and retries ------------------------------------------------------------

    def _limits(self, step: Step) -> Timeouts:
        """The step's time limits: its file's directives over the run's settings."""
        return step.script.timeouts.over(self.timeouts)

    def _statement_limits(
        self, limits: Timeouts, statement: Statement | None, deadline: float | None
    ) -> Timeouts:
        """The limits to set before ``statement`` runs outside a transaction: no lock limit for
        a statement that waits by design (CREATE INDEX CONCURRENTLY…), and, where nothing can
        cancel a statement, no more time than the migration has left."""
        lock = limits.lock
        if lock and statement is not None and not self.backend.lock_timeout_applies(statement.sql):
            lock = 0.0
        statement_limit = limits.statement
        if deadline is not None and not self.backend.capabilities.cancel:
            left = max(0.001, deadline - time.monotonic())
            statement_limit = min(statement_limit, left) if statement_limit else left
        return Timeouts(statement=statement_limit, lock=lock)

    def _may_retry(self) -> bool:
        return self._attempts <= self.lock_retries

    def _gives_way(
        self, step: Step, failure: QueryFailed, limits: Timeouts, index: int | None, total: int
    ) -> bool:
        """After a statement (``index``; None: not known) gave up waiting for a lock: pause
        and say to try again (True), unless the retries are spent."""
        if not self.backend.is_lock_timeout(failure) or not self._may_retry():
            return False
        pause = min(self.retry_pause * 2 ** (self._attempts - 1), LONGEST_RETRY_PAUSE)
        pause *= random.uniform(0.5, 1.0)  # replicas retrying together spread out
        which = f"statement {index + 1} of {total}" if index is not None else "a statement"
        log_event(
            "lock_timeout_retry",
            "%s_%s: %s gave up waiting for a lock after %gs (%s); trying again in %.1fs "
            "(retry %d of %d)",
            step.version,
            step.migration.name,
            which,
            limits.lock or 0,
            self._scrub(failure.message),
            pause,
            self._attempts,
            self.lock_retries,
            level=logging.WARNING,
            **self._fields(step),
            statement_index=index + 1 if index is not None else None,
            statement_count=total,
            lock_timeout_s=limits.lock,
            retry=self._attempts,
            retries=self.lock_retries,
            pause_s=round(pause, 3),
            error=self._scrub(failure.message),
        )
        self._sleep(pause)
        self._attempts += 1
        return True

    def _explained(
        self, failure: QueryFailed, watchdog: _Watchdog, limits: Timeouts
    ) -> QueryFailed:
        """``failure``, its message saying which limit stopped the statement, if one did."""
        if watchdog.fired:
            message = (
                f"the migration ran longer than its time limit ({limits.migration:g}s, "
                f"--migration-timeout) and was cancelled: {failure.message}"
            )
        elif self.backend.is_lock_timeout(failure) and self._attempts > 1:
            message = (
                f"gave up waiting for a lock {self._attempts} time(s) (--ddl-lock-timeout "
                f"{limits.lock or 0:g}s, --ddl-lock-retries {self.lock_retries}): "
                f"{failure.message}; whatever holds the lock is still running: try again "
                "later, or raise the limits"
            )
        else:
            return failure
        return QueryFailed(failure.index, message, failure.sqlstate, failure.position)

    def _setup_failed(self, tagged: Tagged | None, failure: QueryFailed) -> ExecutionError | None:
        """The error of a batch whose time limits or session SQL failed; None for another
        query."""
        if tagged is not None and tagged.role is Role.LIMIT:
            return self._limits_failed(failure)
        if tagged is not None and tagged.role is Role.SESSION:
            return self._session_failed(failure, tagged.number)
        return None

    def _opening(self, step: Step, total: int) -> list[Query]:
        """The history write before a migration runs outside a transaction: its "started"
        row, or, resuming, the row saying where it goes on from."""
        if step.resume_after:
            return self.history.resumed_queries(step.migration, done=step.resume_after, total=total)
        return self.history.started_queries(
            step.migration, total=total, direction=str(step.direction)
        )

    def _limits_failed(self, failure: QueryFailed) -> ExecutionError:
        return ExecutionError(
            f"setting the time limits failed: {self._scrub(failure.message)}; check "
            "--statement-timeout and --ddl-lock-timeout (the migration was not run)"
        )

    # -- helpers ----------------------------------------------------------------------------

    def _fields(self, step: Step) -> dict[str, Any]:
        return {
            "version": step.version.text,
            "name": step.migration.name,
            "direction": step.direction.value,
            "path": step.script.path,
        }

    def _emit_statement(
        self, step: Step, position: int, count: int, index: int, total: int
    ) -> None:
        log_event(
            "statement_done",
            "%s_%s: statement %d of %d done",
            step.version,
            step.migration.name,
            index + 1,
            total,
            level=logging.DEBUG,
            **self._fields(step),
            statement_index=index + 1,
            statement_count=total,
        )
        self._emit("statement", step, position, count, total=total, done=index + 1)

    def _session_queries(self) -> list[Query]:
        return [Query(s.sql) for s in self.session]

    def _session_failed(self, failure: QueryFailed, index: int) -> ExecutionError:
        statement = self.session[index]
        error = ExecutionError(
            f"{self.session_path}:{statement.line}:{statement.column}: the session SQL failed: "
            f"{self._scrub(failure.message)}; fix it (the migration was not run)"
        )
        # Marked as raised: the CLI, which prints the exception, does not print it twice.
        logger.error("%s", error.message, extra={"migrata_raised": True})
        return error

    def _failed(
        self,
        step: Step,
        stmts: Sequence[Statement],
        index: int,
        failure: QueryFailed,
        results: Sequence[StepResult],
    ) -> MigrationFailed:
        statement = stmts[index]
        line, column = statement.line, statement.column
        if failure.position:
            offset = statement.offset + failure.position - 1
            line, column = LineIndex(step.script.text, step.script.first_line).position(offset)
        error = MigrationFailed(
            version=step.version.text,
            path=step.script.path,
            line=line,
            column=column,
            statement=statement.sql,
            db_message=self._scrub(failure.message),
            sqlstate=failure.sqlstate,
            transactional=step.script.transactional,
            statement_index=index + 1,
            statement_count=len(stmts),
            applied=[r.version for r in results],
            resumable=step.direction is Direction.UP,
            gave_way=self.backend.is_lock_timeout(failure),
            command="up" if step.direction is Direction.UP else "down",
        )
        # Marked as raised: the CLI, which prints the exception, does not print it twice.
        log_event(
            "migration_failed",
            "%s",
            error.message,
            level=logging.ERROR,
            raised=True,
            **self._fields(step),
            line=line,
            column=column,
            sqlstate=failure.sqlstate,
            error=error.db_message,
            statement_index=index + 1,
            statement_count=len(stmts),
            transactional=step.script.transactional,
            attempts=self._attempts,
        )
        return error

    def _audit_failure(self, step: Step, error: MigrationFailed) -> None:
        """Keep a rolled-back failure in the audit log; the failure itself matters more."""
        detail = (
            f"{step.direction} rolled back: {error.path}:{error.line}:{error.column}: "
            f"{error.db_message}"
        )
        try:
            self._atomic(
                [self.history.audit(step.version.text, "failed", step.migration.checksum, detail)]
            )
        except ExecutionError:
            logger.warning("could not write the failure of %s to the audit log", step.version)

    def _rollback(self) -> None:
        try:
            self.backend.rollback()
        except Exception:  # the original failure matters more
            logger.debug("rollback after a failure failed too", exc_info=True)

    def _emit(
        self,
        kind: str,
        step: Step,
        position: int,
        count: int,
        *,
        total: int,
        done: int = 0,
        duration_ms: float | None = None,
        error: str | None = None,
    ) -> None:
        if self.on_step is None:
            return
        self.on_step(
            StepEvent(
                kind=kind,
                version=step.version.text,
                name=step.migration.name,
                direction=step.direction,
                position=position,
                count=count,
                statements_done=done,
                statements_total=total,
                duration_ms=duration_ms,
                error=error,
                resumed_after=step.resume_after,
            )
        )
