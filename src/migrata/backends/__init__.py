"""Backends: one package per engine, chosen from the URL or the connection's type.

Adding an engine is a package ``backends/<engine>/`` and its name in
:data:`migrata.engines.ENGINE_PACKAGES`:

- ``__init__.py``: ``ENGINE``, an :class:`~migrata.backends.base.EngineBase` subclass's
  instance (name, title, URL schemes, file-based or not, capabilities, the driver whose
  connections it borrows, and its transaction rules); it imports no driver.
- ``connection.py``: the :class:`Backend` subclass, and ``connect``, ``borrow``,
  ``create_database``, ``drop_database`` at module level
  (:class:`~migrata.backends.base.ConnectionModule`).
- ``dialect.py``: its capabilities and the SQL it classifies, as data.
- ``split.py``: its statement splitter.
- ``history.py``, where the tracking tables are not rows updated in place: a
  :class:`~migrata.backends.tracking.TrackingSQL` its backend returns from ``tracking()``.

Its tests: :class:`migrata.testing.contract.BackendContract` pointed at its backend.
"""

from __future__ import annotations

from typing import Any

from ..engines import Capabilities, Engine, engine_for_connection, engine_named, registered_engines
from ..errors import ConfigError
from ..urls import DatabaseURL
from .base import Backend, EngineBase, Query, QueryFailed

__all__ = [
    "Backend",
    "Capabilities",
    "EngineBase",
    "Query",
    "QueryFailed",
    "connection_dialect",
    "create_database",
    "drop_database",
    "open_backend",
    "wrap_connection",
]


def _engine(url: DatabaseURL) -> Engine:
    """The engine of ``url``; raises ConfigError for an unknown one."""
    try:
        return engine_named(url.engine)
    except LookupError:
        raise ConfigError(f"no backend for engine {url.engine!r}") from None


def open_backend(url: DatabaseURL, *, connect_timeout: float = 10) -> Backend:
    """Connect to the database ``url`` names; raises ConnectionFailed or ConfigError."""
    backend: Backend = _engine(url).connect(url, connect_timeout=connect_timeout)
    return backend


def create_database(url: DatabaseURL, *, connect_timeout: float = 10) -> bool:
    """Create the database ``url`` names, connecting to the server without it (PostgreSQL: its
    maintenance database); False when it exists already. SQLite creates the file and its
    folder. Raises ConnectionFailed, ConfigError or ExecutionError (refused by the server)."""
    return _engine(url).create_database(url, connect_timeout=connect_timeout)


def drop_database(url: DatabaseURL, *, force: bool = False, connect_timeout: float = 10) -> bool:
    """Drop the database ``url`` names; False when it does not exist. ``force`` ends other
    sessions using it where the engine needs that (PostgreSQL). The server's own databases
    are refused (ConfigError)."""
    return _engine(url).drop_database(url, force=force, connect_timeout=connect_timeout)


def connection_dialect(connection: Any) -> str | None:
    """The engine's name (``sqlite``, ``postgresql``, ``mysql``…) of a DB-API connection
    migrata can borrow, else None."""
    engine = engine_for_connection(connection)
    return engine.name if engine is not None else None


def wrap_connection(connection: Any) -> Backend:
    """A backend over a DB-API connection the caller owns (psycopg 3, PyMySQL or sqlite3).

    migrata switches it to autocommit for the run and restores it afterwards; it never closes
    it.
    """
    engine = engine_for_connection(connection)
    if engine is None:
        drivers = [e.borrowed_driver for e in registered_engines() if e.borrowed_driver]
        listed = ", ".join(drivers[:-1]) + f" or {drivers[-1]}" if len(drivers) > 1 else drivers[0]
        raise ConfigError(
            f"unsupported connection type {type(connection).__module__}."
            f"{type(connection).__name__}: pass a {listed} connection, or a URL"
        )
    backend: Backend = engine.wrap(connection)
    return backend
