"""What every backend provides: a few attributes (its differences, as data) and a handful of
methods. History logic, planning and retries are written once, outside the backends."""

from __future__ import annotations

import abc
import getpass
import os
import socket
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..engines import Capabilities
from ..models import Script, Statement, Timeouts
from ..settings import SPECS
from ..urls import DatabaseURL, url_database_name

if TYPE_CHECKING:
    from .tracking import TrackingSQL


@dataclass(frozen=True, slots=True)
class Query:
    """One statement to send; ``params=None`` sends the text as is (no placeholder parsing)."""

    sql: str
    params: tuple[Any, ...] | None = None


#: What separates the statements of one multi-statement message. The newline comes first: a
#: statement may end in a line comment (``-- note``, MySQL's ``# note``), which would swallow a
#: ``;`` written on the same line and merge the next statement into it.
STATEMENT_SEPARATOR = "\n;\n"


def compose_message(texts: Sequence[str]) -> tuple[str, tuple[int, ...]]:
    """One multi-statement message of ``texts`` and the offset at which each starts in it.

    ``texts`` are whole statements without their terminator (what a splitter returns, and
    migrata's own queries); whatever they end with (a line comment, no semicolon), the
    message splits back into exactly these statements, in order.
    """
    starts = []
    offset = 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + len(STATEMENT_SEPARATOR)
    return STATEMENT_SEPARATOR.join(texts), tuple(starts)


class QueryFailed(Exception):
    """Raised by :meth:`Backend.run` for the query at ``index`` of the batch.

    Internal: the runner turns it into :class:`migrata.errors.MigrationFailed`.
    """

    def __init__(
        self, index: int, message: str, sqlstate: str | None, position: int | None
    ) -> None:
        super().__init__(message)
        self.index = index
        self.message = message
        self.sqlstate = sqlstate
        #: 1-based character position inside the failing query, when the database gives one.
        self.position = position


def own_tables(table: str) -> tuple[str, str, str]:
    """migrata's tables for the history table ``table``: it, its audit and its meta table."""
    return (table, f"{table}_audit", f"{table}_meta")


#: migrata's tables under the default history table name (left out of schema readings even
#: when the caller names no table).
DEFAULT_OWN_TABLES: frozenset[str] = frozenset(own_tables(SPECS["table"].default))


class Backend(abc.ABC):
    """A connection to one database, owned by one run."""

    dialect: str
    capabilities: Capabilities
    #: Placeholder for parameters in the queries migrata builds itself.
    placeholder: str
    #: Column types of the tracking tables.
    timestamp_type: str
    identity_column: str
    #: Column type of the text keys (service, version): MySQL cannot index plain TEXT.
    key_type: str = "TEXT"
    #: Appended to CREATE TABLE of a plain table (MySQL: engine and collation of the tracking
    #: tables; ClickHouse: the table engine a table cannot be created without).
    table_options: str = ""
    #: SQL expression of the current time, stored in ``applied_at``.
    now_sql: str
    #: Where this database lives, for messages (never with a password).
    display_name: str
    #: The server's numeric version where it matters for planning (PostgreSQL: 150004).
    server_version: int | None = None

    def tracking(
        self,
        *,
        table: str,
        service: str,
        actor: str,
        cluster: str | None = None,
        engine: str | None = None,
    ) -> TrackingSQL:
        """The SQL of the tracking tables called ``table`` (and ``table_audit``,
        ``table_meta``) for ``service``: rows updated in place, unless the engine keeps them
        otherwise (see ``capabilities.history``). ``cluster`` and ``engine`` are ClickHouse's
        (ConfigError elsewhere)."""
        from .tracking import TrackingSQL

        return TrackingSQL(
            self, table=table, service=service, actor=actor, cluster=cluster, engine=engine
        )

    @abc.abstractmethod
    def run(self, queries: Sequence[Query]) -> list[list[tuple[Any, ...]]]:
        """Execute ``queries`` in order, in one round trip where the engine allows.

        Returns the rows of each query (empty for those that return none). On the first
        failure raises QueryFailed with that query's index; the queries after it do not run,
        and an explicit transaction opened by the batch is left for :meth:`rollback`.
        """

    def execute_transaction(self, queries: Sequence[Query]) -> None:
        """Run a batch that starts with BEGIN, ends with COMMIT and returns no rows.

        The fastest way the engine has (PostgreSQL: one simple-protocol message); on failure
        raises QueryFailed with the index of the failing query, like :meth:`run`, and leaves
        the transaction for :meth:`rollback`.
        """
        self.execute_transactions(queries)

    def execute_transactions(
        self, queries: Sequence[Query], *, done: Callable[[int], None] | None = None
    ) -> None:
        """Run one or more transactions back to back (each BEGIN … COMMIT), returning no rows.

        Nothing runs after the first failure: QueryFailed names the failing query's index, the
        transactions before it are committed, its own is left for :meth:`rollback`. ``done(i)``
        is called for each query ``i`` that completed, in order, as soon as the backend knows
        (where the engine streams results, while the rest still runs). Default: :meth:`run`,
        then ``done`` for every query that ran.
        """
        try:
            self.run(queries)
        except QueryFailed as failure:
            if done is not None:
                for index in range(max(failure.index, 0)):
                    done(index)
            raise
        if done is not None:
            for index in range(len(queries)):
                done(index)

    def lazy_commit_queries(self) -> list[Query]:
        """Queries that let the open transaction's COMMIT return before it is on disk. A later
        commit that waits for the disk makes the earlier ones durable with it (the log is
        written in order), so after a crash in between only a suffix of them is missing, each
        one whole with its history row. Default: none (every COMMIT waits)."""
        return []

    def fetch(self, sql: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        """Rows of one query."""
        return self.run([Query(sql, params)])[0]

    @abc.abstractmethod
    def rollback(self) -> None:
        """End a transaction left open by a failed batch; a no-op when none is open."""

    @abc.abstractmethod
    def lock(self, name: str, timeout: float) -> AbstractContextManager[None]:
        """Hold the migration lock called ``name`` for the ``with`` block.

        Waits up to ``timeout`` seconds, then raises LockTimeout naming the holder.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection if this backend opened it."""

    @abc.abstractmethod
    def is_missing_table(self, failure: QueryFailed) -> bool:
        """True when ``failure`` says a table does not exist."""

    def timeout_queries(self, timeouts: Timeouts, *, local: bool) -> list[Query]:
        """Queries that make ``timeouts.statement`` and ``timeouts.lock`` the limits of what
        follows on this connection (seconds; 0 is no limit; None is the session's default, as
        if migrata had set nothing): for the open transaction only with ``local`` where the
        engine can scope them so, else for the session. Each call states the whole wish, so
        a backend that keeps session values remembers them and sends only the differences; a
        backend whose limits live in the client sets them here and returns no query. Default:
        no limits at all."""
        return []

    def lock_timeout_applies(self, sql: str) -> bool:
        """Whether the lock timeout should govern ``sql`` when it runs outside a transaction.
        PostgreSQL says no for the statements that must run outside one (CREATE INDEX
        CONCURRENTLY, VACUUM…): their locks block no reader or writer, and they wait for older
        transactions by design."""
        return True

    def is_lock_timeout(self, failure: QueryFailed) -> bool:
        """True when ``failure`` is a statement that gave up waiting for a lock (and changed
        nothing), so the migration may be tried again."""
        return False

    def cancel(self) -> None:
        """Stop the statement running on this connection; called from another thread (the
        migration timeout's watchdog). The statement then fails as cancelled. Default: does
        nothing (see ``capabilities.cancel``)."""

    def check_statements(
        self, scripts: Sequence[Sequence[Statement]]
    ) -> list[tuple[int, int, str]]:
        """Check the statements of ``scripts`` (pending migrations, in order) without running
        them here: ``(script, statement, message)`` of the first statement of each script that
        would fail to compile. Default: no check beyond splitting."""
        return []

    def table_estimates(self) -> dict[str, tuple[int, int]]:
        """The tables of the database with their estimated rows and bytes (for the linter's
        messages: "~12 M rows, 4.1 GB"), keyed by lower-case ``schema.table`` and, for the
        tables a bare name finds, by ``table``. One query; default: nothing known."""
        return {}

    def read_schema(self, *, exclude: Collection[str] = ()) -> str:
        """The database's schema as canonical text: every object in a stable order, one
        statement-like block each, so two equal schemas give identical text and a diff of two
        texts reads as the change. ``exclude``: table names left out (migrata's own tables),
        matched case-insensitively by bare name. Raises NotImplementedError where the engine
        has no reader."""
        raise NotImplementedError(f"{self.dialect} has no schema reader")

    def schema_sql(self, *, exclude: Collection[str] = ()) -> str:
        """The database's schema as SQL that builds it again (for ``squash``), ``exclude``'s
        tables left out. Raises NotImplementedError where the engine cannot say it."""
        raise NotImplementedError(f"{self.dialect} cannot write its schema as runnable SQL")

    def elapsed_ms_sql(self) -> str:
        """SQL for the milliseconds since the current transaction began."""
        raise NotImplementedError

    def upsert_sql(self, key: Sequence[str], columns: Sequence[str]) -> str:
        """The clause after ``INSERT … VALUES (…)`` that, when a row with the same ``key``
        exists, overwrites its ``columns`` (none: keeps the existing row)."""
        conflict = ", ".join(self.quote_identifier(k) for k in key)
        if not columns:
            return f"ON CONFLICT ({conflict}) DO NOTHING"
        sets = ", ".join(
            f"{self.quote_identifier(c)} = excluded.{self.quote_identifier(c)}" for c in columns
        )
        return f"ON CONFLICT ({conflict}) DO UPDATE SET {sets}"

    def clock_sql(self) -> tuple[Query, str] | None:
        """A query that starts a clock on the connection, and the SQL expression of the
        milliseconds since, for timing a migration that spans several batches; None when
        the engine has no such clock."""
        return None

    def table_schema_query(self, table: str) -> Query | None:
        """A query whose one row names the schema an unqualified ``table`` resolves to now
        (no row when there is none), or None when the engine's name resolution cannot change
        during a session (a migration cannot move the history table away)."""
        return None

    def table_columns(
        self, tables: Sequence[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], frozenset[str]]:
        """The column names of those ``(schema, table)`` candidates that exist, in one query.

        ``schema=None`` looks where an unqualified name would resolve (PostgreSQL: the first
        schema of ``current_schemas(false)`` that has the table) and is reported under the key
        ``(None, table)``. Candidates that do not exist are absent from the result; an empty
        ``tables`` sends no query.
        """
        raise NotImplementedError

    def quote_identifier(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def qualified(self, name: str, schema: str | None) -> str:
        if schema:
            return f"{self.quote_identifier(schema)}.{self.quote_identifier(name)}"
        return self.quote_identifier(name)


def one_line(text: str) -> str:
    """A driver's multi-line message on one line: its lines joined by spaces, each ending in
    a full stop where it ended in nothing (libpq's "Connection refused" and "Is the server
    running…?" become two sentences)."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    return " ".join(
        line if i == len(lines) - 1 or line[-1] in ".:;,!?" else line + "."
        for i, line in enumerate(lines)
    )


def actor() -> str:
    """``user@host`` of this process, recorded as applied_by and in the audit."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def milliseconds(seconds: float) -> int:
    """``seconds`` as whole milliseconds, at least 1 for a positive duration."""
    return max(1, round(seconds * 1000)) if seconds > 0 else 0


def poll_intervals(timeout: float) -> Iterator[float]:
    """Sleeps between lock attempts: 50 ms doubling to 1 s, until ``timeout`` is spent."""
    delay, spent = 0.05, 0.0
    while spent < timeout:
        step = min(delay, timeout - spent)
        yield step
        spent += step
        delay = min(delay * 2, 1.0)


class EngineBase(abc.ABC):
    """An engine's descriptor (see :class:`migrata.engines.Engine`): class attributes for its
    data, and the methods that reach its code, each importing it only when called (the
    descriptor is imported whenever a URL is parsed: it must not import a driver)."""

    name: ClassVar[str]
    title: ClassVar[str]
    schemes: ClassVar[tuple[str, ...]]
    file_based: ClassVar[bool] = False
    capabilities: ClassVar[Capabilities]
    #: The top-level module of the DB-API driver whose connections migrata can borrow.
    driver_module: ClassVar[str | None] = None
    borrowed_driver: ClassVar[str | None] = None

    @abc.abstractmethod
    def split(self, script: Script) -> tuple[Statement, ...]:
        """The statements of ``script``; raises SQLSyntaxError with ``file:line:col``."""

    @abc.abstractmethod
    def connection(self) -> ConnectionModule:
        """The engine's connection module (imported on the first call)."""

    def implicit_commit(self, sql: str) -> str | None:
        return None

    def refused_in_transaction(self, sql: str, server_version: int | None) -> str | None:
        return None

    def manages_transaction(self, sql: str) -> bool:
        return False

    def database_name(self, url: DatabaseURL) -> str:
        return url_database_name(url)

    def borrows(self, connection: object) -> bool:
        module = type(connection).__module__.split(".", 1)[0]
        return self.driver_module is not None and module == self.driver_module

    def wrap(self, connection: Any) -> Backend:
        return self.connection().borrow(connection)

    def connect(self, url: DatabaseURL, *, connect_timeout: float) -> Backend:
        return self.connection().connect(url, connect_timeout=connect_timeout)

    def create_database(self, url: DatabaseURL, *, connect_timeout: float) -> bool:
        return self.connection().create_database(url, connect_timeout=connect_timeout)

    def drop_database(self, url: DatabaseURL, *, force: bool, connect_timeout: float) -> bool:
        return self.connection().drop_database(url, force=force, connect_timeout=connect_timeout)


class ConnectionModule(Protocol):
    """What an engine's ``connection`` module provides at its top level."""

    def connect(self, url: DatabaseURL, *, connect_timeout: float = 10) -> Backend:
        """Connect to the database ``url`` names; raises ConnectionFailed or ConfigError."""
        ...

    def borrow(self, connection: Any) -> Backend:
        """A backend over a DB-API connection the caller owns (never closed by migrata)."""
        ...

    def create_database(self, url: DatabaseURL, *, connect_timeout: float = 10) -> bool: ...

    def drop_database(
        self, url: DatabaseURL, *, force: bool = False, connect_timeout: float = 10
    ) -> bool: ...
