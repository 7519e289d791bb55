"""The tracking tables, over any Backend.

``<table>``        one row per (service, version): the current state of each migration.
``<table>_audit``  append-only: every applied, reverted, failed, started, marked, unmarked and
                   resolved event, with time and actor.
``<table>_meta``   the layout version of these tables, so a later release upgrades them in
                   place.

Writes are returned as :class:`Query` lists so the runner can send them in the same round trip
(and the same transaction) as the migration they describe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .backends.base import Backend, Query, QueryFailed, actor
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


_COLUMNS = (
    "service, version, name, checksum, applied_at, execution_ms, applied_by, success, "
    "statements_done, statements_total, error"
)


class History:
    def __init__(
        self,
        backend: Backend,
        *,
        table: str = "migrata_history",
        schema: str | None = None,
        service: str = "default",
    ) -> None:
        if not table:
            raise ConfigError("the history table name is empty")
        self.backend = backend
        self.service = service
        self.table_name = table
        self.schema = schema
        self._qualify(schema)
        self._actor = actor()
        self._p = backend.placeholder

    def _qualify(self, schema: str | None) -> None:
        b, table = self.backend, self.table_name
        self.table = b.qualified(table, schema)
        self.audit_table = b.qualified(f"{table}_audit", schema)
        self.meta_table = b.qualified(f"{table}_meta", schema)

    def _schema_query(self) -> Query | None:
        """The query that finds where the unqualified tables live, while that is not pinned."""
        if self.schema is not None or self._pinned:
            return None
        return self.backend.table_schema_query(self.table_name)

    def _pin(self, rows: list[tuple[object, ...]]) -> None:
        """Qualify every later query with the schema the tables were found in, so a migration
        that changes search_path cannot make the history writes miss them."""
        if rows:
            self._qualify(str(rows[0][0]))
            self._pinned = True

    _pinned = False

    # -- layout -----------------------------------------------------------------------------

    def create_queries(self) -> list[Query]:
        """DDL of the tracking tables (idempotent), as plain SQL a unit test can render."""
        b = self.backend
        key = b.quote_identifier("key")  # a reserved word in MySQL
        queries = []
        if self.schema and b.capabilities.schemas in {"namespace", "database"}:
            queries.append(Query(f"CREATE SCHEMA IF NOT EXISTS {b.quote_identifier(self.schema)}"))
        queries += [
            Query(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                f"service {b.key_type} NOT NULL, "
                f"version {b.key_type} NOT NULL, "
                "name TEXT NOT NULL, "
                "checksum TEXT NOT NULL, "
                f"applied_at {b.timestamp_type} NOT NULL, "
                "execution_ms BIGINT, "
                "applied_by TEXT, "
                "success BOOLEAN NOT NULL, "
                "statements_done INTEGER, "
                "statements_total INTEGER, "
                "error TEXT, "
                f"PRIMARY KEY (service, version)){b.table_options}"
            ),
            Query(
                f"CREATE TABLE IF NOT EXISTS {self.audit_table} ("
                f"id {b.identity_column}, "
                f"service {b.key_type} NOT NULL, "
                f"version {b.key_type} NOT NULL, "
                "event TEXT NOT NULL, "
                "checksum TEXT, "
                f"at {b.timestamp_type} NOT NULL, "
                "actor TEXT, "
                f"detail TEXT){b.table_options}"
            ),
            Query(
                f"CREATE TABLE IF NOT EXISTS {self.meta_table} ("
                f"{key} {b.key_type} PRIMARY KEY, value TEXT NOT NULL){b.table_options}"
            ),
            Query(
                f"INSERT INTO {self.meta_table} ({key}, value) VALUES ('layout_version', "
                f"'{LAYOUT_VERSION}') {b.upsert_sql(['key'], [])}"
            ),
        ]
        return queries

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
                [
                    Query(
                        f"SELECT value FROM {self.meta_table} "
                        f"WHERE {self.backend.quote_identifier('key')} = 'layout_version'"
                    ),
                    Query(
                        "SELECT version, name, checksum, applied_at, execution_ms, applied_by, "
                        "success, statements_done, statements_total, error "
                        f"FROM {self.table} WHERE service = {self._p}",
                        (self.service,),
                    ),
                ]
                + ([locate] if locate else [])
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
                f"WHERE service = {self._p} ORDER BY id",
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
        p = self._p
        return Query(
            f"INSERT INTO {self.audit_table} (service, version, event, checksum, at, actor, detail) "
            f"VALUES ({p}, {p}, {p}, {p}, {self.backend.now_sql}, {p}, {p})",
            (self.service, version, event, checksum, self._actor, detail),
        )

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
        return [
            self._put_row(
                migration.version.text,
                migration.name,
                migration.checksum,
                success=True,
                execution_ms=execution_ms,
                measure=execution_ms is None,
                elapsed_sql=elapsed_sql,
                done=statements,
                total=statements,
            ),
            self.audit(migration.version.text, "applied", migration.checksum),
        ]

    def started_queries(self, migration: Migration, *, total: int, direction: str) -> list[Query]:
        """A row with success = false before a migration that runs outside a transaction."""
        p = self._p
        if direction == "down":
            return [
                Query(
                    f"UPDATE {self.table} SET success = FALSE, statements_done = 0, "
                    f"statements_total = {p}, error = {p} WHERE service = {p} AND version = {p}",
                    (total, f"{REVERTING}interrupted", self.service, migration.version.text),
                ),
                self.audit(migration.version.text, "started", migration.checksum, "down"),
            ]
        return [
            self._put_row(
                migration.version.text,
                migration.name,
                migration.checksum,
                success=False,
                done=0,
                total=total,
                error="started: interrupted before it finished",
            ),
            self.audit(migration.version.text, "started", migration.checksum, "up"),
        ]

    def resumed_queries(self, migration: Migration, *, done: int, total: int) -> list[Query]:
        """The row of a failed migration that ``up --resume`` continues after ``done``
        statements: still unfinished until it succeeds, now with the file's checksum."""
        return [
            self._put_row(
                migration.version.text,
                migration.name,
                migration.checksum,
                success=False,
                done=done,
                total=total,
                error=f"resumed at statement {done + 1}: interrupted before it finished",
            ),
            self.audit(
                migration.version.text,
                "resumed",
                migration.checksum,
                f"up from statement {done + 1} of {total}",
            ),
        ]

    def progress_query(self, migration: Migration, *, done: int, total: int | None = None) -> Query:
        p = self._p
        return Query(
            f"UPDATE {self.table} SET statements_done = {p} WHERE service = {p} AND version = {p}",
            (done, self.service, migration.version.text),
        )

    def failed_queries(
        self, migration: Migration, *, done: int, total: int, error: str, direction: str
    ) -> list[Query]:
        p = self._p
        detail = f"{direction} failed at statement {done + 1} of {total}: {error}"
        if direction == "down":
            error = REVERTING + error
        return [
            Query(
                f"UPDATE {self.table} SET success = FALSE, statements_done = {p}, "
                f"statements_total = {p}, error = {p} WHERE service = {p} AND version = {p}",
                (done, total, error, self.service, migration.version.text),
            ),
            self.audit(migration.version.text, "failed", migration.checksum, detail),
        ]

    def reverted_queries(self, migration: Migration) -> list[Query]:
        return [
            self._delete(migration.version),
            self.audit(migration.version.text, "reverted", migration.checksum),
        ]

    def mark_queries(
        self, *, version: str, name: str, checksum: str, event: str, detail: str | None = None
    ) -> list[Query]:
        """Record a version as applied without running it (mark-applied, resolve --applied)."""
        return [
            self._put_row(version, name, checksum, success=True),
            self.audit(version, event, checksum, detail),
        ]

    def repair_queries(self, row: Applied, migration: Migration) -> list[Query]:
        """Record ``migration``'s checksum (and name) as the one its applied ``row`` has, as
        the row spells its version; audited as ``repaired`` with the old and new checksum."""
        p = self._p
        return [
            Query(
                f"UPDATE {self.table} SET checksum = {p}, name = {p} "
                f"WHERE service = {p} AND version = {p}",
                (migration.checksum, migration.name, self.service, row.version.text),
            ),
            self._repaired(row, migration),
        ]

    def _repaired(self, row: Applied, migration: Migration) -> Query:
        return self.audit(
            row.version.text,
            "repaired",
            migration.checksum,
            f"checksum {row.checksum} -> {migration.checksum}",
        )

    def forget_queries(
        self, *, version: Version, checksum: str | None, event: str, detail: str | None = None
    ) -> list[Query]:
        """Remove a version's row (unmark, resolve --rolled-back), with its audit event."""
        return [self._delete(version), self.audit(version.text, event, checksum, detail)]

    def _put_row(
        self,
        version: str,
        name: str,
        checksum: str,
        *,
        success: bool,
        execution_ms: int | None = None,
        measure: bool = False,
        elapsed_sql: str | None = None,
        done: int | None = None,
        total: int | None = None,
        error: str | None = None,
    ) -> Query:
        """Insert or replace the row of ``version`` in one statement (the backend's upsert),
        so a started or failed row is replaced."""
        p = self._p
        elapsed = (elapsed_sql or self.backend.elapsed_ms_sql()) if measure else p
        values = f"{p}, {p}, {p}, {p}, {self.backend.now_sql}, {elapsed}, {p}, {p}, {p}, {p}, {p}"
        params: tuple[object, ...] = (self.service, version, name, checksum)
        params += () if measure else (execution_ms,)
        params += (self._actor, success, done, total, error)
        upsert = self.backend.upsert_sql(["service", "version"], _COLUMNS.split(", ")[2:])
        return Query(f"INSERT INTO {self.table} ({_COLUMNS}) VALUES ({values}) {upsert}", params)

    def _delete(self, version: Version) -> Query:
        p = self._p
        return Query(
            f"DELETE FROM {self.table} WHERE service = {p} AND version = {p}",
            (self.service, version.text),
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


class EventHistory(History):
    """The history as events: every write appends a whole row, and the newest row per
    (service, version) is the state (``argMax`` by ``seq``; a revert appends a ``deleted``
    row). For ClickHouse, where UPDATE and DELETE are heavy asynchronous mutations and
    ReplacingMergeTree keeps the newest row per key on its own.

    ``cluster`` makes migrata's own DDL run ``ON CLUSTER`` with replicated engines;
    ``engine`` replaces the ENGINE clause of the history table.
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
        super().__init__(backend, table=table, schema=schema, service=service)
        self.cluster = cluster
        self.engine = engine
        self._last_seq = 0
        # The tables live in the connection's database unless a schema is given, whatever a
        # migration later makes the current one.
        database = schema or getattr(backend, "database", None)
        if database:
            self._qualify(database)
            self._pinned = True

    def create_queries(self) -> list[Query]:
        b = self.backend
        on = f" ON CLUSTER {b.quote_identifier(self.cluster)}" if self.cluster else ""
        queries = []
        if self.schema:
            queries.append(
                Query(f"CREATE DATABASE IF NOT EXISTS {b.quote_identifier(self.schema)}{on}")
            )
        queries += [
            Query(
                f"CREATE TABLE IF NOT EXISTS {self.table}{on} ("
                "service String, version String, name String, checksum String, "
                f"applied_at {b.timestamp_type}, execution_ms Nullable(Int64), "
                "applied_by Nullable(String), success Bool, statements_done Nullable(Int32), "
                "statements_total Nullable(Int32), error Nullable(String), "
                "deleted UInt8 DEFAULT 0, seq UInt64"
                f") ENGINE = {self.engine or self._engine('ReplacingMergeTree', 'seq')} "
                "ORDER BY (service, version)"
            ),
            Query(
                f"CREATE TABLE IF NOT EXISTS {self.audit_table}{on} ("
                "id UInt64, service String, version String, event String, "
                f"checksum Nullable(String), at {b.timestamp_type}, actor Nullable(String), "
                "detail Nullable(String)"
                f") ENGINE = {self._engine('MergeTree', None, suffix='_audit')} "
                "ORDER BY (service, id)"
            ),
            Query(
                f"CREATE TABLE IF NOT EXISTS {self.meta_table}{on} ("
                "key String, value String, seq UInt64"
                f") ENGINE = {self._engine('ReplacingMergeTree', 'seq', suffix='_meta')} "
                "ORDER BY key"
            ),
            Query(
                f"INSERT INTO {self.meta_table} (key, value, seq) "
                f"SELECT 'layout_version', '{LAYOUT_VERSION}', {self._seq_sql()} "
                f"WHERE NOT EXISTS (SELECT 1 FROM {self.meta_table} "
                "WHERE key = 'layout_version')",
                (self._next_seq(),),
            ),
        ]
        return queries

    def _engine(self, family: str, version: str | None, *, suffix: str = "") -> str:
        args = [version] if version else []
        if not self.cluster:
            return f"{family}({', '.join(args)})"
        path = f"'/clickhouse/tables/{{shard}}/{{database}}/{self.table_name}{suffix}'"
        replicated = ", ".join([path, "'{replica}'", *args])
        return f"Replicated{family}({replicated})"

    def read(self) -> HistoryState:
        p = self._p
        columns = ", ".join(
            f"argMax({c}, seq)"
            for c in (
                "name",
                "checksum",
                "applied_at",
                "execution_ms",
                "applied_by",
                "success",
                "statements_done",
                "statements_total",
                "error",
            )
        )
        try:
            meta, rows = self.backend.run(
                [
                    Query(
                        f"SELECT argMax(value, seq) FROM {self.meta_table} "
                        "WHERE key = 'layout_version' HAVING count() > 0"
                    ),
                    Query(
                        f"SELECT version, {columns} FROM {self.table} WHERE service = {p} "
                        "GROUP BY version HAVING argMax(deleted, seq) = 0 ORDER BY version",
                        (self.service,),
                    ),
                ]
            )
        except QueryFailed as failure:
            if self.backend.is_missing_table(failure):
                return HistoryState(exists=False, layout_version=None, applied=())
            raise
        applied = _applied_rows(rows)
        layout = int(meta[0][0]) if meta else None
        return HistoryState(exists=True, layout_version=layout, applied=applied)

    def audit(
        self, version: str, event: str, checksum: str | None, detail: str | None = None
    ) -> Query:
        p = self._p
        return Query(
            f"INSERT INTO {self.audit_table} "
            "(id, service, version, event, checksum, at, actor, detail) "
            f"SELECT {self._seq_sql()}, {p}, {p}, {p}, {p}, {self.backend.now_sql}, {p}, {p}",
            (self._next_seq(), self.service, version, event, checksum, self._actor, detail),
        )

    def started_queries(self, migration: Migration, *, total: int, direction: str) -> list[Query]:
        if direction != "down":
            return super().started_queries(migration, total=total, direction=direction)
        return [
            self._event_row(migration, done=0, total=total, error=f"{REVERTING}interrupted"),
            self.audit(migration.version.text, "started", migration.checksum, "down"),
        ]

    def progress_query(self, migration: Migration, *, done: int, total: int | None = None) -> Query:
        return self._event_row(
            migration, done=done, total=total, error="started: interrupted before it finished"
        )

    def failed_queries(
        self, migration: Migration, *, done: int, total: int, error: str, direction: str
    ) -> list[Query]:
        detail = f"{direction} failed at statement {done + 1} of {total}: {error}"
        if direction == "down":
            error = REVERTING + error
        return [
            self._event_row(migration, done=done, total=total, error=error),
            self.audit(migration.version.text, "failed", migration.checksum, detail),
        ]

    def repair_queries(self, row: Applied, migration: Migration) -> list[Query]:
        """The row again, with the file's checksum (appended, as every write here)."""
        return [
            self._put_row(
                row.version.text,
                migration.name,
                migration.checksum,
                success=True,
                execution_ms=row.execution_ms,
                done=row.statements_done,
                total=row.statements_total,
            ),
            self._repaired(row, migration),
        ]

    def _event_row(
        self, migration: Migration, *, done: int, total: int | None, error: str
    ) -> Query:
        return self._put_row(
            migration.version.text,
            migration.name,
            migration.checksum,
            success=False,
            done=done,
            total=total,
            error=error,
        )

    def _put_row(
        self,
        version: str,
        name: str,
        checksum: str,
        *,
        success: bool,
        execution_ms: int | None = None,
        measure: bool = False,
        elapsed_sql: str | None = None,
        done: int | None = None,
        total: int | None = None,
        error: str | None = None,
        deleted: bool = False,
    ) -> Query:
        p = self._p
        return Query(
            f"INSERT INTO {self.table} ({_COLUMNS}, deleted, seq) "
            f"SELECT {p}, {p}, {p}, {p}, {self.backend.now_sql}, {p}, {p}, {p}, {p}, {p}, {p}, "
            f"{p}, {self._seq_sql()}",
            (
                self.service,
                version,
                name,
                checksum,
                execution_ms,
                self._actor,
                success,
                done,
                total,
                error,
                1 if deleted else 0,
                self._next_seq(),
            ),
        )

    def _delete(self, version: Version) -> Query:
        return self._put_row(version.text, "", "", success=False, deleted=True)

    def _seq_sql(self) -> str:
        # The server's clock in nanoseconds, and never below this process's last value, so
        # two writes in the same instant still keep their order.
        return f"greatest(toUnixTimestamp64Nano(now64(9)), {self._p})"

    def _next_seq(self) -> int:
        self._last_seq = max(time.time_ns(), self._last_seq + 1)
        return self._last_seq


def open_history(
    backend: Backend,
    *,
    table: str = "migrata_history",
    schema: str | None = None,
    service: str = "default",
    cluster: str | None = None,
    engine: str | None = None,
) -> History:
    """The history kept the way ``backend`` keeps it (rows updated in place, or events)."""
    if backend.capabilities.history == "events":
        return EventHistory(
            backend, table=table, schema=schema, service=service, cluster=cluster, engine=engine
        )
    if cluster or engine:
        raise ConfigError(
            f"cluster and history_engine apply to ClickHouse only, not to {backend.dialect}: "
            "remove them from this target's settings"
        )
    return History(backend, table=table, schema=schema, service=service)
