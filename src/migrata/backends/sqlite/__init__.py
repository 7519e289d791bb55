"""SQLite (the standard library's sqlite3): its descriptor. ``connection`` holds the backend,
``dialect`` its capabilities and transaction rules, ``split`` its splitter."""

from __future__ import annotations

from ...models import Script, Statement
from ...urls import DatabaseURL
from ..base import ConnectionModule, EngineBase
from .dialect import CAPABILITIES, manages_transaction, refused_in_transaction


class SQLiteEngine(EngineBase):
    name = "sqlite"
    title = "SQLite"
    schemes = ("sqlite", "sqlite3")
    file_based = True
    capabilities = CAPABILITIES
    driver_module = "sqlite3"
    borrowed_driver = "sqlite3"

    def split(self, script: Script) -> tuple[Statement, ...]:
        from .split import split_sqlite

        return split_sqlite(script)

    def refused_in_transaction(self, sql: str, server_version: int | None) -> str | None:
        return refused_in_transaction(sql)

    def manages_transaction(self, sql: str) -> bool:
        return manages_transaction(sql)

    def database_name(self, url: DatabaseURL) -> str:
        return url.path or ""

    def connection(self) -> ConnectionModule:
        from . import connection

        return connection


ENGINE = SQLiteEngine()
