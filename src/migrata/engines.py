"""The engines migrata knows: one descriptor per engine, each in its package under ``backends/``.

Adding an engine is its package ``migrata/backends/<package>/`` (whose ``ENGINE`` is an
:class:`Engine`) and its name in :data:`ENGINE_PACKAGES`; nothing else names an engine.

This module sits at the lowest layer because the modules there need an engine's data: ``urls``
(which URL schemes exist, which engines name a file), ``split`` (which splitter, which
statements cannot run in a transaction). They may not import the backends, so they ask here,
and the descriptors are imported the first time one is asked for. A descriptor is cheap to
import: its driver (psycopg, PyMySQL, clickhouse-connect, chdb), its parser (pglast) and its
connection code are imported only when it connects, splits or wraps a connection.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .models import Script, Statement

__all__ = [
    "ENGINE_PACKAGES",
    "Capabilities",
    "Engine",
    "HistoryKind",
    "LockKind",
    "SchemaKind",
    "engine_for_connection",
    "engine_for_scheme",
    "engine_named",
    "known_schemes",
    "registered_engines",
]

#: The package of each engine under ``migrata.backends``: the one line an engine is added to.
#: In this order in messages that list the URL schemes.
ENGINE_PACKAGES = ("postgres", "mysql", "clickhouse", "sqlite")

#: How the migration lock is held: ``advisory``, a server's session lock (PostgreSQL
#: ``pg_try_advisory_lock``, MySQL ``GET_LOCK``); ``file``, an OS lock on a file beside the
#: database (SQLite); ``process``, a mutex of this process over a store no other process can
#: open (chdb); ``none``, no lock at all: the run warns, or fails under ``--require-lock``.
LockKind = Literal["advisory", "file", "process", "none"]
#: How the history is kept: ``rows`` updated in place, or ``events`` appended, the newest per
#: version winning (ClickHouse, where UPDATE and DELETE are heavy mutations).
HistoryKind = Literal["rows", "events"]
#: What a schema (``--schema``, ``schema.table``) is: ``namespace``, a namespace inside the
#: database (PostgreSQL), and ``database``, another database of the server (MySQL, where
#: CREATE SCHEMA is CREATE DATABASE; ClickHouse): both made with ``CREATE SCHEMA IF NOT
#: EXISTS`` for the tracking tables (ClickHouse's history makes its database itself);
#: ``attached``, a database file attached to the connection (SQLite), never created.
SchemaKind = Literal["namespace", "database", "attached"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an engine can do, as data: the code outside ``backends/`` reads these, never an
    engine's name."""

    #: DDL can be rolled back (PostgreSQL, SQLite); MySQL commits it implicitly.
    transactional_ddl: bool
    #: Several queries travel in one round trip (pipeline mode); SQLite has no network at all.
    pipelining: bool
    lock: LockKind
    #: Outside a transaction, each query of a batch commits on its own (MySQL's
    #: multi-statement packets; a PostgreSQL pipeline would be one implicit transaction), so
    #: a statement and the history write after it can travel in one round trip.
    autocommit_batches: bool = False
    history: HistoryKind = "rows"
    #: :meth:`Backend.cancel` can stop the running statement from another thread (the
    #: migration timeout's watchdog); without it the runner caps each statement's own time
    #: limit by what is left of the migration's.
    cancel: bool = True
    #: There are transactions at all. Without them (ClickHouse) every migration runs statement
    #: by statement with its progress recorded, and ``--single-transaction`` is refused.
    transactions: bool = True
    schemas: SchemaKind = "attached"
    #: Extensions can be created before migrating (PostgreSQL's CREATE EXTENSION).
    extensions: bool = False
    #: Several transactions travel in one message and the server runs nothing after the first
    #: failure (PostgreSQL's simple-query protocol, MySQL's multi-statement packets), so the
    #: runner sends consecutive transactional migrations together: one round trip for all.
    flights: bool = False


class Engine(Protocol):
    """What an engine's package registers. ``migrata.backends.base.EngineBase`` implements
    the defaults; its methods return a ``migrata.backends.Backend``, which this layer
    cannot name (hence ``Any`` here)."""

    #: The dialect's name, as ``DatabaseURL.engine`` and ``Backend.dialect`` spell it.
    name: str
    #: The engine's name in messages ("MySQL/MariaDB").
    title: str
    #: The URL schemes of the engine (``scheme://`` or ``scheme+driver://``), lower case.
    schemes: tuple[str, ...]
    #: Its URLs name a file (``scheme:///path``) rather than a server.
    file_based: bool
    capabilities: Capabilities
    #: The DB-API driver whose connections migrata can borrow, as messages name it
    #: ("psycopg 3"); None when it borrows none.
    borrowed_driver: str | None

    def split(self, script: Script) -> tuple[Statement, ...]:
        """The statements of ``script``; raises SQLSyntaxError with ``file:line:col``."""
        ...

    def implicit_commit(self, sql: str) -> str | None:
        """What ``sql`` is (``ALTER TABLE``) when the engine commits implicitly after it, so a
        transaction around it would only pretend to be atomic, else None."""
        ...

    def refused_in_transaction(self, sql: str, server_version: int | None) -> str | None:
        """What ``sql`` is (``CREATE INDEX CONCURRENTLY``) when the engine refuses it inside a
        transaction block, else None."""
        ...

    def manages_transaction(self, sql: str) -> bool:
        """Whether ``sql`` opens or closes a transaction (the script manages its own)."""
        ...

    def database_name(self, url: Any) -> str:
        """The database a ``DatabaseURL`` names, as a person would type it."""
        ...

    def borrows(self, connection: object) -> bool:
        """Whether ``connection`` is a DB-API connection of this engine's driver."""
        ...

    def wrap(self, connection: Any) -> Any:
        """A Backend over a borrowed ``connection`` (see :meth:`borrows`)."""
        ...

    def connect(self, url: Any, *, connect_timeout: float) -> Any:
        """A Backend connected to ``url``; raises ConnectionFailed or ConfigError."""
        ...

    def create_database(self, url: Any, *, connect_timeout: float) -> bool:
        """Create the database ``url`` names; False when it exists already."""
        ...

    def drop_database(self, url: Any, *, force: bool, connect_timeout: float) -> bool:
        """Drop the database ``url`` names; False when it does not exist."""
        ...


@functools.cache
def registered_engines() -> tuple[Engine, ...]:
    """Every registered engine's descriptor, in :data:`ENGINE_PACKAGES` order."""
    found: list[Engine] = []
    for package in ENGINE_PACKAGES:
        module = importlib.import_module(f"migrata.backends.{package}")
        found.append(module.ENGINE)
    return tuple(found)


def engine_named(name: str) -> Engine:
    """The engine whose dialect is ``name``; raises LookupError for an unknown one."""
    for engine in registered_engines():
        if engine.name == name:
            return engine
    raise LookupError(f"no engine named {name!r}")


def engine_for_scheme(scheme: str) -> Engine | None:
    """The engine of a URL scheme (``postgres``, ``mariadb``…; lower case), or None."""
    for engine in registered_engines():
        if scheme in engine.schemes:
            return engine
    return None


def engine_for_connection(connection: object) -> Engine | None:
    """The engine whose driver made ``connection``, or None."""
    for engine in registered_engines():
        if engine.borrows(connection):
            return engine
    return None


def known_schemes() -> Sequence[str]:
    """Every scheme as a URL starts with it (``sqlite:///`` for a file-based engine)."""
    return [
        f"{scheme}:///" if engine.file_based else f"{scheme}://"
        for engine in registered_engines()
        for scheme in engine.schemes
    ]
