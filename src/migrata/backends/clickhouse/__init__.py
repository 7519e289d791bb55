"""ClickHouse (clickhouse-connect; chdb in-process): its descriptor. ``connection`` holds the
backend, ``dialect`` its capabilities, ``split`` its splitter, ``history`` the SQL of its
append-only tracking tables."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ...models import Script, Statement
from ...urls import DatabaseURL, url_database_name
from ..base import ConnectionModule, EngineBase
from .dialect import CAPABILITIES


class ClickHouseEngine(EngineBase):
    name = "clickhouse"
    title = "ClickHouse"
    schemes = ("clickhouse", "clickhouses", "chdb")
    capabilities = CAPABILITIES

    def split(self, script: Script) -> tuple[Statement, ...]:
        from .split import split_clickhouse

        return split_clickhouse(script)

    def database_name(self, url: DatabaseURL) -> str:
        if url.raw.lower().startswith("chdb:"):  # chdb:///folder?database=name
            options = {k.lower(): v[-1] for k, v in parse_qs(urlsplit(url.raw).query).items()}
            return options.get("database", "")
        return url_database_name(url)

    def connection(self) -> ConnectionModule:
        from . import connection

        return connection


ENGINE = ClickHouseEngine()
