"""Execute a Plan whose scripts are already split: the only step that writes.

A transactional migration is one batch — BEGIN, its statements, its history row, COMMIT — sent
in one round trip where the backend pipelines. A migration that must run outside a transaction
writes a "started" row, runs statement by statement recording progress, then records success;
when it fails the row says "failed at statement k of n" until ``migrata resolve``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .backends.base import Backend, Query, QueryFailed
from .errors import ExecutionError, MigrationFailed
from .history import History
from .models import Direction, Plan, RunReport, Statement, Step, StepEvent, StepResult, Version
from .sqltext import LineIndex

logger = logging.getLogger("migrata")

OnStep = Callable[[StepEvent], None]


@dataclass(frozen=True, slots=True)
class _Located:
    """Which step and statement a query of a batch belongs to (None: a history query)."""

    step: int
    statement: int | None


def write_history(
    backend: Backend, queries: list[Query], *, scrub: Callable[[str], str] = lambda t: t
) -> None:
    """Run history writes together in one transaction; raises ExecutionError."""
    try:
        backend.execute_transaction([Query("BEGIN"), *queries, Query("COMMIT")])
    except QueryFailed as failure:
        backend.rollback()
        raise ExecutionError(f"writing the history failed: {scrub(failure.message)}") from None


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
    ) -> None:
        self.backend = backend
        self.history = history
        self.on_step = on_step
        self._scrub = secrets
        #: Statements run on the connection before each migration (``--session-sql``).
        self.session = tuple(session)
        self.session_path = session_path

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
        for position, step in enumerate(plan.steps, start=1):
            stmts = statements[(step.version, step.direction)]
            self._emit("started", step, position, len(plan.steps), total=len(stmts))
            started = time.perf_counter()
            try:
                if step.script.transactional:
                    self._run_transactional(step, stmts, results)
                else:
                    self._run_statement_by_statement(
                        step, stmts, position, len(plan.steps), results
                    )
            except MigrationFailed as failure:
                self._emit(
                    "failed",
                    step,
                    position,
                    len(plan.steps),
                    total=len(stmts),
                    done=failure.statement_index - 1,
                    error=failure.db_message,
                )
                raise
            duration = (time.perf_counter() - started) * 1000
            results.append(
                StepResult(
                    step.version.text,
                    step.migration.name,
                    step.direction,
                    duration,
                    len(stmts),
                    step.script.transactional,
                )
            )
            logger.info(
                "%s %s_%s (%d statements, %.1f ms)",
                "applied" if step.direction is Direction.UP else "reverted",
                step.version,
                step.migration.name,
                len(stmts),
                duration,
            )
            self._emit(
                "done",
                step,
                position,
                len(plan.steps),
                total=len(stmts),
                done=len(stmts),
                duration_ms=duration,
            )
        return RunReport(plan.direction, tuple(results))

    # -- one transaction per migration ------------------------------------------------------

    def _run_transactional(
        self, step: Step, stmts: Sequence[Statement], results: list[StepResult]
    ) -> None:
        queries = [Query("BEGIN"), *self._session_queries()]
        queries += [Query(s.sql) for s in stmts]
        queries += self._record(step, len(stmts))
        queries.append(Query("COMMIT"))
        try:
            self.backend.execute_transaction(queries)
        except QueryFailed as failure:
            self._rollback()
            if 1 <= failure.index <= len(self.session):
                raise self._session_failed(failure, failure.index - 1) from None
            index = failure.index - 1 - len(self.session)
            if failure.index == len(queries) - 1 and stmts:
                # The COMMIT itself failed (a deferred constraint, a serialization failure):
                # the migration failed as a whole; point at its last statement.
                failure.message = f"at COMMIT: {failure.message}"
                failure.position = None
                index = len(stmts) - 1
            if 0 <= index < len(stmts):
                error = self._failed(step, stmts, index, failure, results)
                self._audit_failure(step, error)
                raise error from None
            raise ExecutionError(
                f"recording migration {step.version} in the history failed: "
                f"{self._scrub(failure.message)}; it was rolled back"
            ) from None
        except BaseException:
            self._rollback()
            raise

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
        clock = self.backend.clock_sql()
        if (
            self.backend.capabilities.autocommit_batches
            and clock
            and len(stmts) > step.resume_after
        ):
            self._run_batched(step, stmts, position, count, clock, results)
            return
        migration = step.migration
        started = time.perf_counter()
        if self.session:
            try:
                self.backend.run(self._session_queries())
            except QueryFailed as failure:
                self._rollback()
                raise self._session_failed(failure, failure.index) from None
        skip = step.resume_after
        if skip:
            self._atomic(self.history.resumed_queries(migration, done=skip, total=len(stmts)))
        else:
            self._atomic(
                self.history.started_queries(
                    migration, total=len(stmts), direction=str(step.direction)
                )
            )
        for index in range(skip, len(stmts)):
            statement = stmts[index]
            try:
                self.backend.run([Query(statement.sql)])
            except QueryFailed as failure:
                self._rollback()
                self._record_failure(step, stmts, index, failure, results)
            try:
                self.backend.run(
                    [self.history.progress_query(migration, done=index + 1, total=len(stmts))]
                )
            except QueryFailed as failure:
                self._rollback()
                raise self._unrecorded(step, index, len(stmts), failure) from None
            self._emit("statement", step, position, count, total=len(stmts), done=index + 1)
        elapsed = int((time.perf_counter() - started) * 1000)
        self._atomic(self._record(step, len(stmts), execution_ms=elapsed))

    def _run_batched(
        self,
        step: Step,
        stmts: Sequence[Statement],
        position: int,
        count: int,
        clock: tuple[Query, str],
        results: Sequence[StepResult],
    ) -> None:
        """Statement by statement where each query of a batch commits on its own: every
        statement travels with the history write that follows it, so a migration of n
        statements costs n round trips (the session SQL, the clock and the "started" row go
        with the first one, the "applied" row with the last)."""
        migration = step.migration
        start_clock, elapsed_sql = clock
        skip = step.resume_after
        if skip:
            opening = self.history.resumed_queries(migration, done=skip, total=len(stmts))
        else:
            opening = self.history.started_queries(
                migration, total=len(stmts), direction=str(step.direction)
            )
        prefix = [
            *self._session_queries(),
            start_clock,
            Query("BEGIN"),
            *opening,
            Query("COMMIT"),
        ]
        for index in range(skip, len(stmts)):
            statement = stmts[index]
            batch = [*prefix, Query(statement.sql)]
            at = len(batch) - 1
            if index == len(stmts) - 1:
                record = self._record(step, len(stmts), elapsed_sql=elapsed_sql)
                batch += [Query("BEGIN"), *record, Query("COMMIT")]
            else:
                batch.append(
                    self.history.progress_query(migration, done=index + 1, total=len(stmts))
                )
            try:
                self.backend.run(batch)
            except QueryFailed as failure:
                self._rollback()
                if prefix and failure.index < len(self.session):
                    raise self._session_failed(failure, failure.index) from None
                if failure.index < at:
                    raise ExecutionError(
                        f"writing the history failed: {self._scrub(failure.message)}; "
                        f"nothing of migration {migration.version} ran"
                    ) from None
                if failure.index == at:
                    self._record_failure(step, stmts, index, failure, results)
                raise self._unrecorded(step, index, len(stmts), failure) from None
            prefix = []
            self._emit("statement", step, position, count, total=len(stmts), done=index + 1)

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

    def _record_failure(
        self,
        step: Step,
        stmts: Sequence[Statement],
        index: int,
        failure: QueryFailed,
        results: Sequence[StepResult],
    ) -> None:
        """Write the failed row of a statement that failed outside a transaction; raises the
        MigrationFailed that reports it."""
        statement = stmts[index]
        failed = self._failed(step, stmts, index, failure, results)
        code = f"[{failed.sqlstate}] " if failed.sqlstate else ""
        first = statement.sql.strip().splitlines()[0] if statement.sql.strip() else ""
        # The status of a failed migration shows what the database said and where.
        error = (
            f"{code}{failed.db_message.strip()}\n"
            f"statement: {failed.path}:{failed.line}:{failed.column}: {first}"
        )
        self._atomic(
            self.history.failed_queries(
                step.migration,
                done=index,
                total=len(stmts),
                error=error,
                direction=str(step.direction),
            )
        )
        raise failed from None

    def _atomic(self, queries: list[Query]) -> None:
        write_history(self.backend, queries, scrub=self._scrub)

    # -- the whole plan in one transaction --------------------------------------------------

    def _run_single_transaction(
        self,
        plan: Plan,
        statements: Mapping[tuple[Version, Direction], Sequence[Statement]],
    ) -> list[StepResult]:
        queries = [Query("BEGIN"), *self._session_queries()]
        located: list[_Located | None] = [None] * len(queries)
        for number, step in enumerate(plan.steps):
            stmts = statements[(step.version, step.direction)]
            for i, s in enumerate(stmts):
                queries.append(Query(s.sql))
                located.append(_Located(number, i))
            for q in self._record(step, len(stmts)):
                queries.append(q)
                located.append(_Located(number, None))
        queries.append(Query("COMMIT"))
        located.append(None)
        started = time.perf_counter()
        try:
            self.backend.execute_transaction(queries)
        except QueryFailed as failure:
            self._rollback()
            if 1 <= failure.index <= len(self.session):
                raise self._session_failed(failure, failure.index - 1) from None
            where = located[failure.index]
            if where is not None and where.statement is not None:
                step = plan.steps[where.step]
                stmts = statements[(step.version, step.direction)]
                error = self._failed(step, stmts, where.statement, failure, [])
                self._audit_failure(step, error)
                raise error from None
            raise ExecutionError(
                f"the single transaction failed: {self._scrub(failure.message)}; it was rolled back"
            ) from None
        except BaseException:
            self._rollback()
            raise
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
        logger.info("applied %d migrations in one transaction (%.1f ms)", len(plan.steps), duration)
        return results

    # -- helpers ----------------------------------------------------------------------------

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
        )
        # Marked as raised: the CLI, which prints the exception, does not print it twice.
        logger.error("%s", error.message, extra={"migrata_raised": True})
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
            )
        )
