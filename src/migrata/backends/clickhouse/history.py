"""ClickHouse's tracking tables: the history as events.

Every write appends a whole row, and the newest row per (service, version) is the state
(``argMax`` by ``seq``; a deletion appends a ``deleted`` row), since UPDATE and DELETE are
heavy asynchronous mutations there and ReplacingMergeTree keeps the newest row per key on its
own. ``cluster`` makes migrata's own DDL run ``ON CLUSTER`` with replicated engines; ``engine``
replaces the ENGINE clause of the history table.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..base import Backend, Query
from ..tracking import COLUMNS, READ_COLUMNS, HistoryRow, TrackingSQL


class EventTrackingSQL(TrackingSQL):
    def __init__(
        self,
        backend: Backend,
        *,
        table: str,
        service: str,
        actor: str,
        cluster: str | None = None,
        engine: str | None = None,
        database: str | None = None,
    ) -> None:
        super().__init__(backend, table=table, service=service, actor=actor)
        self.cluster = cluster
        self.engine = engine
        self.database = database
        self._last_seq = 0

    def pinned_schema(self) -> str | None:
        # The connection's database, whatever a migration later makes the current one.
        return self.database

    def create_queries(self, schema: str | None, layout_version: int) -> list[Query]:
        b = self.backend
        on = f" ON CLUSTER {b.quote_identifier(self.cluster)}" if self.cluster else ""
        queries = []
        if schema:
            queries.append(Query(f"CREATE DATABASE IF NOT EXISTS {b.quote_identifier(schema)}{on}"))
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
                f"SELECT 'layout_version', '{layout_version}', {self._seq_sql()} "
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

    def read_queries(self) -> list[Query]:
        columns = ", ".join(f"argMax({c}, seq)" for c in READ_COLUMNS)
        return [
            Query(
                f"SELECT argMax(value, seq) FROM {self.meta_table} "
                "WHERE key = 'layout_version' HAVING count() > 0"
            ),
            Query(
                f"SELECT version, {columns} FROM {self.table} WHERE service = {self.p} "
                "GROUP BY version HAVING argMax(deleted, seq) = 0 ORDER BY version",
                (self.service,),
            ),
        ]

    def audit(
        self, version: str, event: str, checksum: str | None, detail: str | None = None
    ) -> Query:
        p = self.p
        return Query(
            f"INSERT INTO {self.audit_table} "
            "(id, service, version, event, checksum, at, actor, detail) "
            f"SELECT {self._seq_sql()}, {p}, {p}, {p}, {p}, {self.backend.now_sql}, {p}, {p}",
            (self._next_seq(), self.service, version, event, checksum, self.actor, detail),
        )

    def put_row(
        self,
        version: str,
        row: HistoryRow,
        *,
        measure: bool = False,
        elapsed_sql: str | None = None,
    ) -> Query:
        """Append the row; the execution time is always the client's measure here."""
        return self._append(version, row, deleted=False)

    def update_row(self, version: str, row: HistoryRow, changed: Sequence[str]) -> Query:
        """Append the whole row: the newest one is the state."""
        return self._append(version, row, deleted=False)

    def delete_row(self, version: str) -> Query:
        return self._append(version, HistoryRow(name="", checksum="", success=False), deleted=True)

    def _append(self, version: str, row: HistoryRow, *, deleted: bool) -> Query:
        p = self.p
        return Query(
            f"INSERT INTO {self.table} ({', '.join(COLUMNS)}, deleted, seq) "
            f"SELECT {p}, {p}, {p}, {p}, {self.backend.now_sql}, {p}, {p}, {p}, {p}, {p}, {p}, "
            f"{p}, {self._seq_sql()}",
            (
                self.service,
                version,
                row.name,
                row.checksum,
                row.execution_ms,
                self.actor,
                row.success,
                row.statements_done,
                row.statements_total,
                row.error,
                1 if deleted else 0,
                self._next_seq(),
            ),
        )

    def _seq_sql(self) -> str:
        # The server's clock in nanoseconds, and never below this process's last value, so
        # two writes in the same instant still keep their order.
        return f"greatest(toUnixTimestamp64Nano(now64(9)), {self.p})"

    def _next_seq(self) -> int:
        self._last_seq = max(time.time_ns(), self._last_seq + 1)
        return self._last_seq
