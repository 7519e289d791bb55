"""Backends: one short module per engine, chosen from the URL or the connection's type."""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ConfigError
from ..urls import DatabaseURL
from .base import Backend, Capabilities, Query, QueryFailed

__all__ = [
    "Backend",
    "Capabilities",
    "Query",
    "QueryFailed",
    "connection_dialect",
    "create_database",
    "drop_database",
    "open_backend",
    "wrap_connection",
]


#: The module and backend class of each engine, imported when a URL of it is used.
_ENGINES = {
    "postgresql": ("postgres", "PostgresBackend"),
    "sqlite": ("sqlite", "SQLiteBackend"),
    "clickhouse": ("clickhouse", "ClickHouseBackend"),
    "mysql": ("mysql", "MySQLBackend"),
}


def _module(url: DatabaseURL) -> Any:
    """The backend module of ``url``'s engine; raises ConfigError for an unknown one."""
    if url.engine not in _ENGINES:
        raise ConfigError(f"no backend for engine {url.engine!r}")
    return importlib.import_module(f".{_ENGINES[url.engine][0]}", __name__)


def open_backend(url: DatabaseURL, *, connect_timeout: float = 10) -> Backend:
    """Connect to the database ``url`` names; raises ConnectionFailed or ConfigError."""
    backend_class = getattr(_module(url), _ENGINES[url.engine][1])
    backend: Backend = backend_class.connect(url, connect_timeout=connect_timeout)
    return backend


def create_database(url: DatabaseURL, *, connect_timeout: float = 10) -> bool:
    """Create the database ``url`` names, connecting to the server without it (PostgreSQL: its
    maintenance database); False when it exists already. SQLite creates the file and its
    folder. Raises ConnectionFailed, ConfigError or ExecutionError (refused by the server)."""
    created: bool = _module(url).create_database(url, connect_timeout=connect_timeout)
    return created


def drop_database(url: DatabaseURL, *, force: bool = False, connect_timeout: float = 10) -> bool:
    """Drop the database ``url`` names; False when it does not exist. ``force`` ends other
    sessions using it where the engine needs that (PostgreSQL). The server's own databases
    are refused (ConfigError)."""
    dropped: bool = _module(url).drop_database(url, force=force, connect_timeout=connect_timeout)
    return dropped


def connection_dialect(connection: Any) -> str | None:
    """``sqlite``, ``postgresql`` or ``mysql`` for a DB-API connection migrata can borrow,
    else None."""
    module = type(connection).__module__.split(".", 1)[0]
    return {"sqlite3": "sqlite", "psycopg": "postgresql", "pymysql": "mysql"}.get(module)


def wrap_connection(connection: Any) -> Backend:
    """A backend over a DB-API connection the caller owns (psycopg 3, PyMySQL or sqlite3).

    migrata switches it to autocommit for the run and restores it afterwards; it never closes
    it.
    """
    dialect = connection_dialect(connection)
    if dialect == "sqlite":
        from .sqlite import SQLiteBackend

        return SQLiteBackend(connection, owned=False, path=None)
    if dialect == "postgresql":
        from .postgres import PostgresBackend

        info = connection.info
        name = f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"
        return PostgresBackend(connection, owned=False, display_name=name)
    if dialect == "mysql":
        from .mysql import MySQLBackend

        where = connection.unix_socket or f"{connection.host}:{connection.port}"
        user, db = (_text(connection.user), _text(connection.db))
        name = f"mysql://{user}@{where}/{db}"
        return MySQLBackend(connection, owned=False, display_name=name)
    raise ConfigError(
        f"unsupported connection type {type(connection).__module__}.{type(connection).__name__}: "
        "pass a psycopg 3, PyMySQL or sqlite3 connection, or a URL"
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
