"""The tracking tables, over any Backend.

``<table>``        one row per (service, version): the current state of each migration.
``<table>_audit``  append-only: every applied, reverted, failed, started, marked, unmarked and
                   resolved event, with time and actor.
``<table>_meta``   the layout version of these tables, so a later release upgrades them in
                   place.

Writes are returned as :class:`Query` lists so the runner can send them in the same round trip
(and the same transaction) as the migration they describe. What to write is decided here, once;
how is the engine's (``Backend.tracking``: rows updated in place, or ClickHouse's appended
events).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .backends.base import Backend, Query, QueryFailed, actor
from .backends.tracking import HistoryRow
from .errors import ConfigError
from .models import REVERTING, Applied, AuditEvent, Migration, Version

#: Layout of the tracking tables written by this release.
LAYOUT_VERSION = 1


@dataclass(frozen=True, slots=True)
class HistoryState:
    """What one read of the tracking tables found."""

    exists: bool
    layout_version: int | None
    applied: tuple[Applied, ...]


class History:
    """The tracking tables of one service on ``backend``.

    ``cluster`` and ``engine`` (ClickHouse's ON CLUSTER and history table engine) are refused
    on other engines with ConfigError.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        table: str = "migrata_history",
        schema: str | None = None,
        service: str = "default",
        cluster: str | None = None,
        engine: str | None = None,
    ) -> None:
        if not table:
            raise ConfigError("the history table name is empty")
        self.backend = backend
        self.service = service
        self.table_name = table
        self.schema = schema
        self.sql = backend.tracking(
            table=table, service=service, actor=actor(), cluster=cluster, engine=engine
        )
        pinned = self.sql.pinned_schema()
        self.sql.qualify(schema or pinned)
        self._pinned = bool(schema or pinned)

    @property
    def table(self) -> str:
        return self.sql.table

    @property
    def audit_table(self) -> str:
        return self.sql.audit_table

    @property
    def meta_table(self) -> str:
        return self.sql.meta_table

    def _schema_query(self) -> Query | None:
        """The query that finds where the unqualified tables live, while that is not pinned."""
        if self.schema is not None or self._pinned:
            return None
        return self.backend.table_schema_query(self.table_name)

    def _pin(self, rows: list[tuple[object, ...]]) -> None:
        """Qualify every later query with the schema the tables were found in, so a migration
        that changes search_path cannot make the history writes miss them."""
        if rows:
            self.sql.qualify(str(rows[0][0]))
            self._pinned = True

    # -- layout -----------------------------------------------------------------------------

    def create_queries(self) -> list[Query]:
        """DDL of the tracking tables (idempotent), as plain SQL a unit test can render."""
        return self.sql.create_queries(self.schema, LAYOUT_VERSION)

    def ensure(self, state: HistoryState) -> None:
        """Create the tables when ``state`` says they are missing; upgrade an older layout.

        Call with the migration lock held. Raises ConfigError for a layout written by a newer
        migrata.
        """
        if not state.exists:
            locate = self._schema_query()
            results = self.backend.run(self.create_queries() + ([locate] if locate else []))
            if locate:
                self._pin(results[-1])
            return
        self.check_layout(state)

    def check_layout(self, state: HistoryState) -> None:
        version = state.layout_version
        if version is not None and version > LAYOUT_VERSION:
            raise ConfigError(
                f"{self.table_name} was written by a newer migrata (layout {version}, this one "
                f"knows {LAYOUT_VERSION}): upgrade migrata"
            )
        # Layout 1 is the first; upgrades from older layouts will be added here, in order.

    # -- reading ----------------------------------------------------------------------------

    def read(self) -> HistoryState:
        """One round trip: the layout version and this service's rows (empty when the tables
        do not exist yet)."""
        locate = self._schema_query()
        try:
            meta, rows, *located = self.backend.run(
                self.sql.read_queries() + ([locate] if locate else [])
            )
        except QueryFailed as failure:
            self.backend.rollback()
            if self.backend.is_missing_table(failure):
                return HistoryState(exists=False, layout_version=None, applied=())
            raise
        applied = _applied_rows(rows)
        if located:
            self._pin(located[0])
        layout = int(meta[0][0]) if meta else None
        return HistoryState(exists=True, layout_version=layout, applied=applied)

    def read_audit(self) -> tuple[AuditEvent, ...]:
        try:
            rows = self.backend.fetch(
                f"SELECT id, version, event, checksum, at, actor, detail FROM {self.audit_table} "
                f"WHERE service = {self.backend.placeholder} ORDER BY id",
                (self.service,),
            )
        except QueryFailed as failure:
            self.backend.rollback()
            if self.backend.is_missing_table(failure):
                return ()
            raise
        return tuple(AuditEvent(*r) for r in rows)

    # -- writes (returned, not run) ---------------------------------------------------------

    def audit(
        self, version: str, event: str, checksum: str | None, detail: str | None = None
    ) -> Query:
        return self.sql.audit(version, event, checksum, detail)

    def applied_queries(
        self,
        migration: Migration,
        *,
        execution_ms: int | None = None,
        statements: int,
        elapsed_sql: str | None = None,
    ) -> list[Query]:
        """Record ``migration`` as applied (replacing a started/failed row), plus its audit.

        Without ``execution_ms`` the database measures it: the time since BEGIN, or the
        value of ``elapsed_sql`` (see :meth:`Backend.clock_sql`).
        """
        row = _row(
            migration,
            success=True,
            execution_ms=execution_ms,
            done=statements,
            total=statements,
        )
        return [
            self.sql.put_row(
                migration.version.text,
                row,
                measure=execution_ms is None,
                elapsed_sql=elapsed_sql,
            ),
            self.audit(migration.version.text, "applied", migration.checksum),
        ]

    def started_queries(self, migration: Migration, *, total: int, direction: str) -> list[Query]:
        """A row with success = false before a migration that runs outside a transaction."""
        if direction == "down":
            unfinished = self._unfinished(migration, 0, total, f"{REVERTING}interrupted")
        else:
            unfinished = self.sql.put_row(
                migration.version.text,
                _row(
                    migration,
                    success=False,
                    done=0,
                    total=total,
                    error="started: interrupted before it finished",
                ),
            )
        return [
            unfinished,
            self.audit(migration.version.text, "started", migration.checksum, direction),
        ]

    def resumed_queries(self, migration: Migration, *, done: int, total: int) -> list[Query]:
        """The row of a failed migration that ``up --resume`` continues after ``done``
        statements: still unfinished until it succeeds, now with the file's checksum."""
        return [
            self.sql.put_row(
                migration.version.text,
                _row(
                    migration,
                    success=False,
                    done=done,
                    total=total,
                    error=f"resumed at statement {done + 1}: interrupted before it finished",
                ),
            ),
            self.audit(
                migration.version.text,
                "resumed",
                migration.checksum,
                f"up from statement {done + 1} of {total}",
            ),
        ]

    def progress_query(self, migration: Migration, *, done: int, total: int | None = None) -> Query:
        row = _row(
            migration,
            success=False,
            done=done,
            total=total,
            error="started: interrupted before it finished",
        )
        return self.sql.update_row(migration.version.text, row, ("statements_done",))

    def failed_queries(
        self, migration: Migration, *, done: int, total: int, error: str, direction: str
    ) -> list[Query]:
        detail = f"{direction} failed at statement {done + 1} of {total}: {error}"
        if direction == "down":
            error = REVERTING + error
        return [
            self._unfinished(migration, done, total, error),
            self.audit(migration.version.text, "failed", migration.checksum, detail),
        ]

    def _unfinished(self, migration: Migration, done: int, total: int, error: str) -> Query:
        """The row of ``migration`` as not (or no longer) applied: ``done`` of ``total``."""
        row = _row(
            migration,
            success=False,
            done=done,
            total=total,
            error=error,
        )
        changed = ("success", "statements_done", "statements_total", "error")
        return self.sql.update_row(migration.version.text, row, changed)

    def reverted_queries(self, migration: Migration) -> list[Query]:
        return [
            self.sql.delete_row(migration.version.text),
            self.audit(migration.version.text, "reverted", migration.checksum),
        ]

    def mark_queries(
        self, *, version: str, name: str, checksum: str, event: str, detail: str | None = None
    ) -> list[Query]:
        """Record a version as applied without running it (mark-applied, resolve --applied)."""
        return [
            self.sql.put_row(version, HistoryRow(name, checksum, success=True)),
            self.audit(version, event, checksum, detail),
        ]

    def repair_queries(self, row: Applied, migration: Migration) -> list[Query]:
        """Record ``migration``'s checksum (and name) as the one its applied ``row`` has, as
        the row spells its version; audited as ``repaired`` with the old and new checksum."""
        repaired = _row(
            migration,
            success=True,
            execution_ms=row.execution_ms,
            done=row.statements_done,
            total=row.statements_total,
        )
        return [
            self.sql.update_row(row.version.text, repaired, ("checksum", "name")),
            self.audit(
                row.version.text,
                "repaired",
                migration.checksum,
                f"checksum {row.checksum} -> {migration.checksum}",
            ),
        ]

    def forget_queries(
        self, *, version: Version, checksum: str | None, event: str, detail: str | None = None
    ) -> list[Query]:
        """Remove a version's row (unmark, resolve --rolled-back), with its audit event."""
        return [
            self.sql.delete_row(version.text),
            self.audit(version.text, event, checksum, detail),
        ]


def _row(
    migration: Migration,
    *,
    success: bool,
    execution_ms: int | None = None,
    done: int | None = None,
    total: int | None = None,
    error: str | None = None,
) -> HistoryRow:
    """What a write records about ``migration`` (its name and checksum, and these)."""
    return HistoryRow(
        migration.name,
        migration.checksum,
        success=success,
        execution_ms=execution_ms,
        statements_done=done,
        statements_total=total,
        error=error,
    )


def _version(text: str) -> Version:
    """A stored version: as numbers, or as text when it holds none (a diesel folder named
    ``init``); the planner matches it with the folder's reading."""
    try:
        return Version.parse(text)
    except ValueError:
        return Version.parse_text(text)


def _applied_rows(rows: list[tuple[Any, ...]]) -> tuple[Applied, ...]:
    """Applied values from rows of (version, name, checksum, applied_at, execution_ms,
    applied_by, success, statements_done, statements_total, error)."""
    return tuple(
        Applied(
            version=_version(r[0]),
            name=r[1],
            checksum=r[2],
            applied_at=r[3],
            execution_ms=r[4],
            applied_by=r[5],
            success=bool(r[6]),
            statements_done=r[7],
            statements_total=r[8],
            error=r[9],
        )
        for r in rows
    )


#: The history kept the way ``backend`` keeps it (rows updated in place, or events): History
#: asks the backend (``Backend.tracking``), so the former factory is the class itself.
open_history = History
