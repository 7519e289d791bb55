"""The SQL of the tracking tables, as data a unit test can render.

:class:`migrata.history.History` decides what to write (which row, which audit event, which
message); a :class:`TrackingSQL` says how, in the engine's SQL. This one keeps one row per
version, updated in place; an engine whose history is appended (``capabilities.history ==
"events"``) gives its backend a subclass as ``Backend.tracking`` (ClickHouse:
``backends/clickhouse/history.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from .base import Backend, Query, own_tables

#: The columns of the history table, in the order every write lists them.
COLUMNS = (
    "service",
    "version",
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
#: The columns a read returns, after the version.
READ_COLUMNS = COLUMNS[2:]


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """What a write says about one version (``applied_at`` is the database's clock)."""

    name: str
    checksum: str
    success: bool
    execution_ms: int | None = None
    statements_done: int | None = None
    statements_total: int | None = None
    error: str | None = None


class TrackingSQL:
    """The tracking tables of one history (``table``, ``table_audit``, ``table_meta``) on
    ``backend``, for one ``service``; rows updated in place.

    ``cluster`` and ``engine`` (ClickHouse's ON CLUSTER and history table engine) are refused
    here with ConfigError.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        table: str,
        service: str,
        actor: str,
        cluster: str | None = None,
        engine: str | None = None,
    ) -> None:
        if cluster or engine:
            raise ConfigError(
                f"cluster and history_engine apply to ClickHouse only, not to {backend.dialect}: "
                "remove them from this target's settings"
            )
        self.backend = backend
        self.table_name = table
        self.service = service
        self.actor = actor
        self.p = backend.placeholder
        #: The upsert clause of :meth:`put_row`, written once (it quotes every column).
        self._upsert = backend.upsert_sql(["service", "version"], READ_COLUMNS)
        self.qualify(None)

    def qualify(self, schema: str | None) -> None:
        """Name the tables in ``schema`` (None: wherever unqualified names resolve)."""
        b = self.backend
        table, audit, meta = own_tables(self.table_name)
        self.table = b.qualified(table, schema)
        self.audit_table = b.qualified(audit, schema)
        self.meta_table = b.qualified(meta, schema)

    def pinned_schema(self) -> str | None:
        """The schema the tables are in from the start, whatever a migration makes current
        later; None: found after the first read or creation (``table_schema_query``)."""
        return None

    # -- layout and reading -----------------------------------------------------------------

    def create_queries(self, schema: str | None, layout_version: int) -> list[Query]:
        """DDL of the tracking tables (idempotent), with their layout version."""
        b = self.backend
        key = b.quote_identifier("key")  # a reserved word in MySQL
        queries = []
        if schema and b.capabilities.schemas in {"namespace", "database"}:
            queries.append(Query(f"CREATE SCHEMA IF NOT EXISTS {b.quote_identifier(schema)}"))
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
                f"'{layout_version}') {b.upsert_sql(['key'], [])}"
            ),
        ]
        return queries

    def read_queries(self) -> list[Query]:
        """Two queries: the layout version (no row: unknown), and this service's rows as
        ``(version, *READ_COLUMNS)``."""
        return [
            Query(
                f"SELECT value FROM {self.meta_table} "
                f"WHERE {self.backend.quote_identifier('key')} = 'layout_version'"
            ),
            Query(
                f"SELECT version, {', '.join(READ_COLUMNS)} FROM {self.table} "
                f"WHERE service = {self.p}",
                (self.service,),
            ),
        ]

    # -- writes -----------------------------------------------------------------------------

    def audit(
        self, version: str, event: str, checksum: str | None, detail: str | None = None
    ) -> Query:
        """Append one event to the audit table."""
        p = self.p
        return Query(
            f"INSERT INTO {self.audit_table} (service, version, event, checksum, at, actor, detail) "
            f"VALUES ({p}, {p}, {p}, {p}, {self.backend.now_sql}, {p}, {p})",
            (self.service, version, event, checksum, self.actor, detail),
        )

    def put_row(
        self,
        version: str,
        row: HistoryRow,
        *,
        measure: bool = False,
        elapsed_sql: str | None = None,
    ) -> Query:
        """Insert or replace the row of ``version`` in one statement (the backend's upsert).
        ``measure``: the database measures ``execution_ms`` (the time since BEGIN, or
        ``elapsed_sql``)."""
        p = self.p
        elapsed = (elapsed_sql or self.backend.elapsed_ms_sql()) if measure else p
        values = f"{p}, {p}, {p}, {p}, {self.backend.now_sql}, {elapsed}, {p}, {p}, {p}, {p}, {p}"
        params: tuple[object, ...] = (self.service, version, row.name, row.checksum)
        params += () if measure else (row.execution_ms,)
        params += (self.actor, row.success, row.statements_done, row.statements_total, row.error)
        columns = ", ".join(COLUMNS)
        return Query(
            f"INSERT INTO {self.table} ({columns}) VALUES ({values}) {self._upsert}", params
        )

    def update_row(self, version: str, row: HistoryRow, changed: Sequence[str]) -> Query:
        """The row of ``version`` as ``row`` says, where only the ``changed`` columns differ
        from what is stored (so an UPDATE of those suffices)."""
        p = self.p
        values = {
            "name": row.name,
            "checksum": row.checksum,
            "execution_ms": row.execution_ms,
            "statements_done": row.statements_done,
            "statements_total": row.statements_total,
            "error": row.error,
        }
        # A constant flag is written as a literal; the parameters are what varies.
        sets = ", ".join(
            f"{c} = {'TRUE' if row.success else 'FALSE'}" if c == "success" else f"{c} = {p}"
            for c in changed
        )
        params = tuple(values[c] for c in changed if c != "success")
        return Query(
            f"UPDATE {self.table} SET {sets} WHERE service = {p} AND version = {p}",
            (*params, self.service, version),
        )

    def delete_row(self, version: str) -> Query:
        """Remove the row of ``version``."""
        p = self.p
        return Query(
            f"DELETE FROM {self.table} WHERE service = {p} AND version = {p}",
            (self.service, version),
        )
