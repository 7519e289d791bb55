"""ClickHouse through clickhouse-connect: a server over HTTP(S), or chdb in-process.

- No transactions and no multi-statement queries: every statement is its own request, so every
  migration runs statement by statement with its progress recorded (failed at k of n, resolve,
  ``up --resume``), and the history is append-only (see ``history``).
- The lock. ClickHouse has no advisory lock and no constraint that could make one (an INSERT
  never fails because a row exists). What is guaranteed:

  * chdb: the engine holds its data folder for one process at a time (a second process cannot
    open it), and inside that process runs are serialised by a mutex per folder and history
    table. That is a real lock.
  * a server: none. ``capabilities.lock`` is ``"none"``: migrata warns that two concurrent runs
    could both apply a migration, and ``--require-lock`` turns the warning into an error.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ...errors import ConfigError, ConnectionFailed, ExecutionError, LockTimeout, MissingDriver
from ...models import Timeouts
from ...urls import DatabaseURL
from ..base import Backend, Query, QueryFailed, actor
from ..tracking import TrackingSQL
from .dialect import CAPABILITIES, CHDB_CAPABILITIES

_ROWS = re.compile(r"^\s*(?:SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b", re.IGNORECASE)
_MISSING = {60, 81}  # UNKNOWN_TABLE, UNKNOWN_DATABASE
_PREFIX = re.compile(r"^(?:Code: (\d+)\. )?(?:DB::Exception: )?", re.DOTALL)
_TRAILER = re.compile(r"\s*\(version [^)]*\)\s*$")
_URL_OPTIONS = {"secure", "verify", "ca_cert", "client_cert", "client_cert_key", "compress"}

#: Connection errors worth trying again (the server is not there yet, or not ready).
_TRANSIENT = re.compile(
    r"connection refused|failed to resolve|name or service not known|temporary failure in name "
    r"resolution|timed out|max retries exceeded|connection reset|remote end closed|"
    r"network is unreachable|no route to host|too many simultaneous|server is shutting down",
    re.IGNORECASE,
)
_UNKNOWN_DATABASE = 81
#: Databases ``drop-database`` refuses to drop.
_PROTECTED = frozenset({"system", "default", "information_schema"})

_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _clickhouse_connect() -> Any:
    try:
        import clickhouse_connect
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise MissingDriver("ClickHouse", "clickhouse-connect", "clickhouse") from exc
    return clickhouse_connect


def connect_arguments(url: DatabaseURL) -> dict[str, Any]:
    """clickhouse-connect's ``get_client()`` arguments for ``url`` (never showing the password
    in an error)."""
    parts = urlsplit(url.raw)
    scheme = parts.scheme.lower()
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    options.pop("password", None)
    database = options.pop("database", None)
    if scheme == "chdb":
        unknown = sorted(options)
        if unknown:
            raise ConfigError(
                f"{url.redacted}: unknown option {unknown[0]!r}; chdb:// URLs take only database"
            )
        if parts.netloc:
            raise ConfigError(
                f"{url.redacted}: a chdb URL names an absolute folder, with three slashes: "
                "chdb:///var/lib/app/chdb (or chdb:// alone for a private in-memory engine)"
            )
        path = unquote(parts.path)
        arguments: dict[str, Any] = {"dsn": f"chdb://{path}" if path else "chdb://"}
        if database:
            arguments["database"] = database
        return arguments
    for key in options:
        if key not in _URL_OPTIONS:
            known = ", ".join(sorted(_URL_OPTIONS | {"database"}))
            raise ConfigError(f"{url.redacted}: unknown option {key!r}; known options: {known}")
    secure = scheme == "clickhouses" or options.pop("secure", "").lower() in {"1", "true"}
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{url.redacted}: the port is not a number") from None
    arguments = {
        "host": parts.hostname or "localhost",
        "port": port or (8443 if secure else 8123),
        "secure": secure,
        "username": unquote(parts.username) if parts.username else "default",
        "password": url.password or "",
    }
    path_database = unquote(parts.path.lstrip("/"))
    if path_database:
        arguments["database"] = path_database
    elif database:
        arguments["database"] = database
    if "verify" in options:
        arguments["verify"] = options.pop("verify").lower() not in {"0", "false", "no"}
    for key in ("ca_cert", "client_cert", "client_cert_key", "compress"):
        if key in options:
            arguments[key] = options.pop(key)
    return arguments


class ClickHouseBackend(Backend):
    dialect = "clickhouse"
    capabilities = CAPABILITIES
    placeholder = "%s"
    timestamp_type = "DateTime64(6, 'UTC')"
    identity_column = "UInt64"
    now_sql = "now64(6, 'UTC')"
    key_type = "String"
    # The tracking tables have DDL of their own (``history``); this is for a plain table.
    table_options = " ENGINE = MergeTree ORDER BY tuple()"

    def __init__(self, client: Any, *, owned: bool, display_name: str, path: str | None) -> None:
        self._driver = _clickhouse_connect()
        self.client = client
        self._owned = owned
        self.display_name = display_name
        #: The chdb data folder (None: a server), which only this process can hold.
        self.path = path
        if path is not None:
            self.capabilities = CHDB_CAPABILITIES
        #: Per-query settings carrying the time limits (ClickHouse enforces them itself).
        self._settings: dict[str, Any] = {}
        version = str(client.query("SELECT version()").result_rows[0][0])
        numbers = [int(n) for n in re.findall(r"\d+", version)[:3]] + [0, 0, 0]
        self.server_version = numbers[0] * 10000 + numbers[1] * 100 + numbers[2]
        self.database = str(client.query("SELECT currentDatabase()").result_rows[0][0])

    @classmethod
    def connect(cls, url: DatabaseURL, *, connect_timeout: float = 10) -> ClickHouseBackend:
        arguments = connect_arguments(url)
        chdb = "dsn" in arguments
        database = arguments.get("database")
        if chdb and database:
            # chdb creates what it is pointed at, like SQLite: the database too.
            _client(url, {"dsn": arguments["dsn"]}, connect_timeout).command(
                f"CREATE DATABASE IF NOT EXISTS {_quote(database)}"
            )
        client = _client(url, arguments, connect_timeout)
        path = (urlsplit(url.raw).path or ":memory:") if chdb else None
        return cls(client, owned=True, display_name=url.redacted, path=path)

    def run(self, queries: Sequence[Query]) -> list[list[tuple[Any, ...]]]:
        results: list[list[tuple[Any, ...]]] = []
        for index, query in enumerate(queries):
            # A newline after the statement: the server's VALUES reader fails on a block
            # comment that ends the query text ("INSERT … VALUES (1) /* x */" is
            # "Unterminated block comment"), and nothing a client adds can join a comment.
            sql = query.sql if query.sql.endswith("\n") else query.sql + "\n"
            try:
                settings = self._settings or None
                if _ROWS.match(sql):
                    result = self.client.query(sql, parameters=query.params, settings=settings)
                    results.append([tuple(row) for row in result.result_rows])
                else:
                    self.client.command(sql, parameters=query.params, settings=settings)
                    results.append([])
            except self._driver.driver.exceptions.Error as exc:
                code = getattr(exc, "code", None)
                message = _text(exc)
                match = _PREFIX.match(message)
                if match and match.group(1) and code is None:
                    code = int(match.group(1))
                message = _TRAILER.sub("", message[match.end() if match else 0 :])
                raise QueryFailed(
                    index, message, str(code) if code is not None else None, None
                ) from exc
        return results

    def execute_transaction(self, queries: Sequence[Query]) -> None:
        """No transactions: the queries between BEGIN and COMMIT run one by one."""
        inner = list(queries[1:-1])
        try:
            self.run(inner)
        except QueryFailed as failure:
            # The BEGIN that was not sent still counts as query 0 of the caller's list.
            raise QueryFailed(
                failure.index + 1, failure.message, failure.sqlstate, failure.position
            ) from failure.__cause__

    def read_schema(self, *, exclude: Collection[str] = ()) -> str:
        # Tables, views, materialized views and dictionaries of the connection's database, as
        # ClickHouse itself prints their CREATE; one query, by name.
        left_out = {name.lower() for name in exclude}
        rows = self.fetch(
            "SELECT name, create_table_query FROM system.tables "
            "WHERE database = currentDatabase() AND NOT is_temporary ORDER BY name"
        )
        blocks = [
            str(sql).strip().rstrip(";") + ";"
            for name, sql in rows
            if str(name).lower() not in left_out and str(sql).strip()
        ]
        return "\n\n".join(blocks) + ("\n" if blocks else "")

    def tracking(self, **options: Any) -> TrackingSQL:
        """The history as appended events (see ``history``), in the connection's database."""
        from .history import EventTrackingSQL

        return EventTrackingSQL(self, database=self.database, **options)

    def rollback(self) -> None:
        """Nothing to roll back: ClickHouse has no transactions."""

    def timeout_queries(self, timeouts: Timeouts, *, local: bool) -> list[Query]:
        # The statement limit is sent with every query as a setting (0: none), and ClickHouse
        # enforces it. The lock limit is left alone: ClickHouse's table locks do not queue
        # readers behind DDL the way PostgreSQL's and MySQL's do, and a lock that timed out
        # there is not known to have changed nothing, so it could not be retried.
        self._settings = {}
        if timeouts.statement is not None:
            self._settings["max_execution_time"] = timeouts.statement
        return []

    def is_missing_table(self, failure: QueryFailed) -> bool:
        return failure.sqlstate is not None and int(failure.sqlstate) in _MISSING

    def quote_identifier(self, name: str) -> str:
        return _quote(name)

    def table_columns(
        self, tables: Sequence[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], frozenset[str]]:
        if not tables:
            return {}
        columns: dict[tuple[str | None, str], set[str]] = {}
        rows = self.fetch(
            "SELECT database, table, name FROM system.columns WHERE "
            + " OR ".join("(database = %s AND table = %s)" for _ in tables),
            tuple(v for schema, table in tables for v in (schema or self.database, table)),
        )
        for database, table, name in rows:
            for key in tables:
                if key[1] == table and (key[0] or self.database) == database:
                    columns.setdefault(key, set()).add(str(name))
        return {key: frozenset(names) for key, names in columns.items()}

    @contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[None]:
        if self.path is None:
            # A server offers nothing to lock with: the caller has warned (or refused).
            yield
            return
        with _LOCKS_GUARD:
            mutex = _LOCKS.setdefault((self.path, f"{self.database}.{name}"), threading.Lock())
        started = time.monotonic()
        if not mutex.acquire(timeout=max(timeout, 0)):
            waited = time.monotonic() - started
            raise LockTimeout(timeout, f"another run in this process, for {waited:.1f}s")
        try:
            yield
        finally:
            mutex.release()

    def close(self) -> None:
        if self._owned and self.path is None:
            try:
                self.client.close()
            except Exception:  # noqa: BLE001 - closing an HTTP pool cannot matter here
                return


def _client(url: DatabaseURL, arguments: dict[str, Any], connect_timeout: float) -> Any:
    """A clickhouse-connect client; raises ConnectionFailed saying whether trying again may
    help and whether the database is missing (never the password)."""
    driver = _clickhouse_connect()
    try:
        if "dsn" in arguments:
            return driver.get_client(**arguments)
        return driver.get_client(
            **arguments,
            connect_timeout=max(1, int(connect_timeout)),
            client_name=f"migrata {actor()}",
            autogenerate_session_id=True,
        )
    except Exception as exc:  # noqa: BLE001 - the driver raises several unrelated types
        code = getattr(exc, "code", None)
        reason = url.scrub(_text(exc))
    # Raised outside the handler so that the driver's exception is not kept as context.
    raise ConnectionFailed.cannot_connect(
        url.redacted,
        reason,
        transient=bool(_TRANSIENT.search(reason)),
        missing_database=code == _UNKNOWN_DATABASE or "UNKNOWN_DATABASE" in reason,
    )


def _server(url: DatabaseURL, connect_timeout: float) -> tuple[Any, str]:
    """A client without a current database, and the URL's database name."""
    arguments = connect_arguments(url)
    name = arguments.pop("database", None)
    if not name:
        raise ConfigError(
            f"{url.redacted} names no database: add it as the path (/app), or "
            "?database=app for chdb"
        )
    return _client(url, arguments, connect_timeout), str(name)


def _database_exists(client: Any, name: str) -> bool:
    rows = client.query("SELECT 1 FROM system.databases WHERE name = %s", parameters=(name,))
    return bool(rows.result_rows)


def connect(url: DatabaseURL, *, connect_timeout: float = 10) -> ClickHouseBackend:
    """Connect to the server or chdb folder ``url`` names; raises ConnectionFailed or
    ConfigError."""
    return ClickHouseBackend.connect(url, connect_timeout=connect_timeout)


def borrow(connection: Any) -> ClickHouseBackend:
    """ClickHouse has no DB-API connection migrata borrows: always ConfigError."""
    raise ConfigError("migrata borrows no ClickHouse connection: pass a URL")


def create_database(url: DatabaseURL, *, connect_timeout: float = 10) -> bool:
    """Create the database the URL names; False when it exists."""
    return _change_database(url, create=True, connect_timeout=connect_timeout)


def drop_database(url: DatabaseURL, *, force: bool = False, connect_timeout: float = 10) -> bool:
    """Drop the database the URL names (``SYNC``: its data is gone when this returns); False
    when it does not exist."""
    return _change_database(url, create=False, connect_timeout=connect_timeout)


def _change_database(url: DatabaseURL, *, create: bool, connect_timeout: float) -> bool:
    client, name = _server(url, connect_timeout)
    if not create and name.lower() in _PROTECTED:
        raise ConfigError(f"refusing to drop {name!r}: it is one of the server's own databases")
    sql = (
        f"CREATE DATABASE IF NOT EXISTS {_quote(name)}"
        if create
        else f"DROP DATABASE IF EXISTS {_quote(name)} SYNC"
    )
    try:
        if _database_exists(client, name) == create:
            return False
        client.command(sql)
    except Exception as exc:  # noqa: BLE001 - the driver raises several unrelated types
        reason = url.scrub(_text(exc))
    else:
        return True
    what = "create" if create else "drop"
    raise ExecutionError(f"cannot {what} database {name!r} on {url.redacted}: {reason}")


def _quote(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _text(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
