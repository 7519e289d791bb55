"""PostgreSQL (psycopg 3): its descriptor. ``connection`` holds the backend, ``dialect`` its
capabilities and transaction rules, ``split`` its splitter (pglast, PostgreSQL's own parser)."""

from __future__ import annotations

from ...models import Script, Statement
from ..base import ConnectionModule, EngineBase
from .dialect import CAPABILITIES


class PostgresEngine(EngineBase):
    name = "postgresql"
    title = "PostgreSQL"
    schemes = ("postgresql", "postgres")
    capabilities = CAPABILITIES
    driver_module = "psycopg"
    borrowed_driver = "psycopg 3"

    def split(self, script: Script) -> tuple[Statement, ...]:
        from .split import split_postgres

        return split_postgres(script)

    def refused_in_transaction(self, sql: str, server_version: int | None) -> str | None:
        from .dialect import refused_in_transaction

        return refused_in_transaction(sql, server_version)

    def manages_transaction(self, sql: str) -> bool:
        from .dialect import manages_transaction

        return manages_transaction(sql)

    def connection(self) -> ConnectionModule:
        from . import connection

        return connection


ENGINE = PostgresEngine()
