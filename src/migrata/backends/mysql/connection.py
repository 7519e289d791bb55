"""MySQL and MariaDB through PyMySQL.

- DDL commits implicitly, so ``transactional_ddl`` is false: the runner gives a migration with
  DDL a "started" row, records progress after each statement and "succeeded" at the end; a
  data-only migration still runs in one InnoDB transaction with its history row.
- A batch is one multi-statement packet (``CLIENT_MULTI_STATEMENTS``): the server runs the
  statements in order and stops at the first error, and counting the results that came back
  pins the failure to its query. A batch holding a ``CALL`` (whose procedure may return any
  number of result sets) is sent query by query instead, as is every batch on a borrowed
  connection opened without that flag.
- The lock is ``GET_LOCK``: a session lock the server drops when the connection dies, so a
  crash never leaves it behind. Lock names are server-wide, so the name includes the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ...errors import ConfigError, ConnectionFailed, ExecutionError, LockTimeout, MissingDriver
from ...models import Timeouts
from ...urls import DatabaseURL
from ..base import Backend, Query, QueryFailed, compose_message, milliseconds
from .dialect import CAPABILITIES
from .schema import read_schema as _read_schema

logger = logging.getLogger("migrata")

#: Where the mysql client looks for the server's socket when a URL names no host.
DEFAULT_SOCKET = "/run/mysqld/mysqld.sock"

_NO_SUCH_TABLE = {1146, 1049}  # ER_NO_SUCH_TABLE, ER_BAD_DB_ERROR
#: Connection errors worth trying again: can't connect (TCP, socket, unknown host), lost
#: during the handshake, too many connections, the server shutting down.
_TRANSIENT = {2002, 2003, 2005, 2006, 2013, 1040, 1053, 1203}
_BAD_DATABASE = 1049
_A_YEAR = 31536000
#: Databases ``drop-database`` refuses to drop.
_PROTECTED = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
_CALL = re.compile(r"^\s*CALL\b", re.IGNORECASE)
_NEAR_AT_LINE = re.compile(r"near '(.*)' at line (\d+)$", re.DOTALL)
_BATCH_START = "@migrata_batch_start"
_URL_OPTIONS = {
    "unix_socket": "unix_socket",
    "socket": "unix_socket",
    "charset": "charset",
    "ssl_ca": "ssl_ca",
    "ssl_cert": "ssl_cert",
    "ssl_key": "ssl_key",
}


def _pymysql() -> Any:
    try:
        import pymysql
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise MissingDriver("MySQL/MariaDB", "PyMySQL", "mysql") from exc
    return pymysql


def connect_arguments(url: DatabaseURL) -> dict[str, Any]:
    """PyMySQL's ``connect()`` arguments for ``url``; raises ConfigError for what it cannot
    honour (never showing the password)."""
    parts = urlsplit(url.raw)
    arguments: dict[str, Any] = {}
    if parts.username:
        arguments["user"] = unquote(parts.username)
    if url.password is not None:
        arguments["password"] = url.password
    database = unquote(parts.path.lstrip("/"))
    if "/" in database:
        raise ConfigError(f"{url.redacted}: the path must be one database name")
    if database:
        arguments["database"] = database
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "password":
            continue
        option = _URL_OPTIONS.get(key)
        if option is None:
            known = ", ".join(sorted(_URL_OPTIONS))
            raise ConfigError(f"{url.redacted}: unknown option {key!r}; known options: {known}")
        arguments[option] = value
    host = parts.hostname
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{url.redacted}: the port is not a number") from None
    if "unix_socket" not in arguments:
        if host:
            arguments["host"] = host
            arguments["port"] = port or 3306
        else:
            # Like the mysql client: no host means the local server's socket.
            arguments["unix_socket"] = DEFAULT_SOCKET
    arguments.setdefault("charset", "utf8mb4")
    return arguments


def lock_name(name: str, database: str) -> str:
    """A server-wide GET_LOCK name for ``name`` in ``database`` (at most 64 characters)."""
    full = f"{name}@{database}"
    if len(full) <= 64:
        return full
    return "migrata:" + hashlib.sha256(full.encode()).hexdigest()[:56]


def parse_server_version(text: str) -> int | None:
    """``10.11.19-MariaDB`` (or PyMySQL's ``5.5.5-10.11.19-MariaDB``) as 101119."""
    text = text.removeprefix("5.5.5-")
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    if match is None:
        return None
    major, minor, patch = (int(g) for g in match.groups())
    return major * 10000 + minor * 100 + patch


class MySQLBackend(Backend):
    dialect = "mysql"
    capabilities = CAPABILITIES
    placeholder = "%s"
    timestamp_type = "DATETIME(6)"
    identity_column = "BIGINT AUTO_INCREMENT PRIMARY KEY"
    now_sql = "UTC_TIMESTAMP(6)"
    key_type = "VARCHAR(255)"
    # utf8mb4_bin: versions and names compare byte for byte, as on the other engines.
    table_options = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

    def __init__(self, connection: Any, *, owned: bool, display_name: str) -> None:
        self._pymysql = _pymysql()
        from pymysql.constants import CLIENT

        self.connection = connection
        self._owned = owned
        self.display_name = display_name
        info = connection.get_server_info()
        self.server_version = parse_server_version(info)
        self.is_mariadb = "mariadb" in info.lower()
        self._multi = bool(connection.client_flag & CLIENT.MULTI_STATEMENTS)
        self._restore_autocommit: bool | None = None
        self._saved_settings: dict[str, str] | None = None
        #: Session variables set by this run (absent: the server's default).
        self._session_values: dict[str, str] = {}
        if not connection.get_autocommit():
            if self._in_transaction():
                connection.commit()
            self._restore_autocommit = False
            connection.autocommit(True)
        self._database: str | None = None

    @classmethod
    def connect(cls, url: DatabaseURL, *, connect_timeout: float = 10) -> MySQLBackend:
        _pymysql()  # a clear error when the driver is not installed
        from pymysql.constants import CLIENT

        arguments = connect_arguments(url)
        connection = _connect(
            url,
            arguments,
            connect_timeout,
            client_flag=CLIENT.MULTI_STATEMENTS,
            conv=_conversions(),
        )
        return cls(connection, owned=True, display_name=url.redacted)

    # -- running ----------------------------------------------------------------------------

    def run(self, queries: Sequence[Query]) -> list[list[tuple[Any, ...]]]:
        return self._send(queries)

    def execute_transactions(
        self, queries: Sequence[Query], *, done: Callable[[int], None] | None = None
    ) -> None:
        """One multi-statement packet for all the transactions (the server runs nothing after
        an error, and answers each statement as it completes: ``done`` hears of each). Each
        transaction's clock starts at its BEGIN, so each history row measures its own."""
        self._send(queries, done=done, clock_each=True)

    def _send(
        self,
        queries: Sequence[Query],
        *,
        done: Callable[[int], None] | None = None,
        clock_each: bool = False,
    ) -> list[list[tuple[Any, ...]]]:
        """The queries in one packet where the connection allows (results read one by one,
        ``done`` called after each), else one by one; the clock of ``elapsed_ms_sql`` starts
        before the first query (and at each BEGIN with ``clock_each``)."""
        if not queries:
            return []
        clock = Query(f"SET {_BATCH_START} = SYSDATE(6)")
        uses_clock = any(_BATCH_START in q.sql for q in queries)
        # Each sent query, and the caller's index of it (None: the clock's own).
        sent: list[tuple[Query, int | None]] = [(clock, None)] if uses_clock else []
        for index, query in enumerate(queries):
            sent.append((query, index))
            if uses_clock and clock_each and index > 0 and query.sql == "BEGIN":
                sent.append((clock, None))
        results: list[list[tuple[Any, ...]]] = []

        def completed(position: int, rows: list[tuple[Any, ...]]) -> None:
            index = sent[position][1]
            if index is None:
                return
            results.append(rows)
            if done is not None:
                done(index)

        if len(sent) == 1 or not self._multi or any(_CALL.match(q.sql) for q in queries):
            for position, (query, number) in enumerate(sent):
                completed(position, self._one(query, number or 0))
            return results
        script, _ = compose_message([self._render(query) for query, _ in sent])
        cursor = self._cursor()
        position = 0  # the result being read
        try:
            cursor.execute(script)
            completed(position, _rows(cursor))
            position += 1
            while cursor.nextset():
                completed(position, _rows(cursor))
                position += 1
        except KeyboardInterrupt:
            self._kill()
            raise
        except self._pymysql.MySQLError as exc:
            failing = next(
                (n for _, n in sent[position:] if n is not None), len(queries) - 1
            )
            raise self._failure(failing, exc, queries[failing].sql) from exc
        finally:
            cursor.close()
        return results

    def _one(self, query: Query, index: int) -> list[tuple[Any, ...]]:
        cursor = self._cursor()
        try:
            cursor.execute(query.sql, query.params)
            rows = _rows(cursor)
            while cursor.nextset():  # a CALL's further result sets
                pass
            return rows
        except KeyboardInterrupt:
            self._kill()
            raise
        except self._pymysql.MySQLError as exc:
            raise self._failure(index, exc, query.sql) from exc
        finally:
            cursor.close()

    def _kill(self) -> None:
        """End this connection's session from a second connection, after Ctrl-C.

        The server would otherwise run the interrupted statement to its end and keep the
        session — its open transaction and the migration lock — until then; killed, it rolls
        the transaction back and releases the lock at once, as PostgreSQL's cancel does.
        """
        self._kill_from_aside("CONNECTION")
        with contextlib.suppress(Exception):
            self.connection.close()

    def cancel(self) -> None:
        """Stop the running statement (``KILL QUERY`` from a second connection): it fails with
        [1317] and the session, its transaction and the migration lock stay."""
        self._kill_from_aside("QUERY")

    def _kill_from_aside(self, what: str) -> None:
        import ssl

        c = self.connection
        thread = c.thread_id()
        # PyMySQL keeps an SSL context even when the server refused TLS: reuse it only when
        # this connection really is encrypted.
        encrypted = isinstance(getattr(c, "_sock", None), ssl.SSLSocket)
        try:
            killer = self._pymysql.connect(
                host=c.host,
                port=c.port,
                user=c.user,
                password=c.password,
                unix_socket=c.unix_socket,
                ssl=c.ctx if encrypted else None,
                connect_timeout=5,
                autocommit=True,
            )
            try:
                with killer.cursor() as cursor:
                    cursor.execute(f"KILL {what} %s", (thread,))
            finally:
                killer.close()
        except (self._pymysql.MySQLError, OSError):
            # The interrupt matters more; the server ends the session when it next writes.
            logger.debug("could not kill %s of session %s", what, thread, exc_info=True)

    def _cursor(self) -> Any:
        # A plain cursor whatever the connection's default (a borrowed one may use DictCursor).
        return self.connection.cursor(self._pymysql.cursors.Cursor)

    def _render(self, query: Query) -> str:
        if query.params is None:
            return query.sql
        return str(self._cursor().mogrify(query.sql, query.params))

    def _failure(self, index: int, exc: Any, sql: str) -> QueryFailed:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        message = _message(exc)
        position = None
        near = _NEAR_AT_LINE.search(message)
        if near is not None:
            position = _position(sql, near.group(1), int(near.group(2)))
            # The server quotes the rest of the packet; the statement's own text is enough.
            shown = near.group(1)
            if len(shown) > 80 or "\n;\n" in shown:
                shown = shown.split("\n;\n", 1)[0][:80]
                message = f"{message[: near.start(1)]}{shown}…' at line {near.group(2)}"
        return QueryFailed(index, message, str(code) if code is not None else None, position)

    def timeout_queries(self, timeouts: Timeouts, *, local: bool) -> list[Query]:
        # MySQL has no transaction-local settings: these last for the session, so the values
        # set are remembered and only changes are sent (a borrowed connection gets its own
        # values back on close).
        wanted: dict[str, str | None] = {
            "lock_wait_timeout": None,  # metadata locks: DDL behind a long query
            "innodb_lock_wait_timeout": None,  # row locks
            self._statement_variable: None,
        }
        if timeouts.lock is not None:
            # Whole seconds; 0 means "as long as it takes" (the servers' default: a year).
            wait = str(max(1, math.ceil(timeouts.lock)) if timeouts.lock > 0 else _A_YEAR)
            wanted["lock_wait_timeout"] = wanted["innodb_lock_wait_timeout"] = wait
        if timeouts.statement is not None:
            wanted[self._statement_variable] = (
                f"{timeouts.statement:g}"  # MariaDB: seconds, every statement
                if self.is_mariadb
                else str(milliseconds(timeouts.statement))  # MySQL: ms, SELECT only
            )
        changes = {n: v for n, v in wanted.items() if self._session_values.get(n) != v}
        if changes and not self._owned and self._saved_settings is None:
            names = list(wanted)
            row = self.fetch("SELECT " + ", ".join(f"@@SESSION.{n}" for n in names))[0]
            self._saved_settings = {n: str(v) for n, v in zip(names, row, strict=True)}
        for name, value in changes.items():
            if value is None:
                self._session_values.pop(name, None)
            else:
                self._session_values[name] = value
        return [
            Query(f"SET SESSION {name} = {'DEFAULT' if value is None else value}")
            for name, value in changes.items()
        ]

    @property
    def _statement_variable(self) -> str:
        return "max_statement_time" if self.is_mariadb else "max_execution_time"

    def is_lock_timeout(self, failure: QueryFailed) -> bool:
        return failure.sqlstate == "1205"  # ER_LOCK_WAIT_TIMEOUT (row and metadata locks)

    def rollback(self) -> None:
        if self._in_transaction():
            self.connection.rollback()

    def _in_transaction(self) -> bool:
        from pymysql.constants import SERVER_STATUS

        return bool(self.connection.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)

    def is_missing_table(self, failure: QueryFailed) -> bool:
        return failure.sqlstate is not None and int(failure.sqlstate) in _NO_SUCH_TABLE

    def table_estimates(self) -> dict[str, tuple[int, int]]:
        rows = self.fetch(
            "SELECT table_schema, table_name, COALESCE(table_rows, 0), "
            "COALESCE(data_length, 0) + COALESCE(index_length, 0), table_schema = DATABASE() "
            "FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')"
        )
        found: dict[str, tuple[int, int]] = {}
        for schema, table, count, size, current in rows:
            value = (int(count), int(size))
            found[f"{schema}.{table}".lower()] = value
            if current:
                found[str(table).lower()] = value
        return found

    def elapsed_ms_sql(self) -> str:
        # The batch records its own start: MySQL has no transaction start time to read.
        return f"CAST(TIMESTAMPDIFF(MICROSECOND, {_BATCH_START}, SYSDATE(6)) DIV 1000 AS SIGNED)"

    def clock_sql(self) -> tuple[Query, str] | None:
        return (
            Query("SET @migrata_step_start = SYSDATE(6)"),
            "CAST(TIMESTAMPDIFF(MICROSECOND, @migrata_step_start, SYSDATE(6)) DIV 1000 AS SIGNED)",
        )

    def upsert_sql(self, key: Sequence[str], columns: Sequence[str]) -> str:
        if not columns:  # keep the existing row: a no-op update
            first = self.quote_identifier(key[0])
            return f"ON DUPLICATE KEY UPDATE {first} = {first}"
        return "ON DUPLICATE KEY UPDATE " + ", ".join(
            f"{self.quote_identifier(c)} = VALUES({self.quote_identifier(c)})" for c in columns
        )

    def table_columns(
        self, tables: Sequence[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], frozenset[str]]:
        if not tables:
            return {}
        wanted = " UNION ALL ".join("SELECT %s AS i, %s AS s, %s AS t" for _ in tables)
        params: list[Any] = []
        for index, (schema, table) in enumerate(tables):
            params += [index, schema, table]
        rows = self.fetch(
            "SELECT w.i, c.COLUMN_NAME "
            f"FROM ({wanted}) AS w JOIN information_schema.COLUMNS AS c "
            "ON c.TABLE_SCHEMA = COALESCE(w.s, DATABASE()) AND c.TABLE_NAME = w.t",
            tuple(params),
        )
        columns: dict[tuple[str | None, str], set[str]] = {}
        for index, column in rows:
            columns.setdefault(tables[int(index)], set()).add(str(column))
        return {key: frozenset(names) for key, names in columns.items()}

    def quote_identifier(self, name: str) -> str:
        return _quote(name)

    def read_schema(self, *, exclude: Collection[str] = ()) -> str:
        """The current database's schema as canonical text: one listing query, then the
        objects' SHOW CREATE statements in one batch. See :mod:`migrata.backends.mysql.schema`."""
        return _read_schema(
            self.fetch,
            exclude=exclude,
            fetch_all=lambda sqls: self.run([Query(sql) for sql in sqls]),
        )

    def schema_sql(self, *, exclude: Collection[str] = ()) -> str:
        # Tables may refer to tables created after them: foreign key checks are off while the
        # baseline runs, and on again at its end.
        body = _read_schema(
            self.fetch,
            exclude=exclude,
            fetch_all=lambda sqls: self.run([Query(sql) for sql in sqls]),
            runnable=True,
        )
        return f"SET FOREIGN_KEY_CHECKS = 0;\n\n{body.rstrip()}\n\nSET FOREIGN_KEY_CHECKS = 1;\n"

    # -- the lock ---------------------------------------------------------------------------

    @contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[None]:
        if self._database is None:
            self._database = str(self.fetch("SELECT DATABASE()")[0][0] or "")
        key = lock_name(name, self._database)
        # GET_LOCK waits on the server: the lock is handed over the moment it is released.
        acquired = self.fetch("SELECT GET_LOCK(%s, %s)", (key, timeout))[0][0]
        if acquired != 1:
            raise LockTimeout(timeout, self._holder(key))
        try:
            yield
        finally:
            try:
                if self.connection.open:
                    self.rollback()
                    self.fetch("SELECT RELEASE_LOCK(%s)", (key,))
            except self._pymysql.MySQLError:
                pass  # the lock dies with the session anyway

    def _holder(self, key: str) -> str | None:
        rows = self.fetch(
            "SELECT p.ID, p.USER, p.HOST, p.COMMAND, p.TIME, p.STATE, LEFT(p.INFO, 120) "
            "FROM information_schema.PROCESSLIST AS p WHERE p.ID = IS_USED_LOCK(%s)",
            (key,),
        )
        if not rows:
            holder = self.fetch("SELECT IS_USED_LOCK(%s)", (key,))[0][0]
            return f"connection id {holder}" if holder is not None else None
        ident, user, host, command, seconds, state, info = rows[0]
        doing = f"running {info!r}" if info else f"{command} {state or ''}".strip()
        return f"connection id {ident}, user {user}@{host}, for {seconds}s, {doing}"

    def close(self) -> None:
        if self._owned:
            try:
                self.connection.close()
            except self._pymysql.MySQLError:
                pass
            return
        if not self.connection.open:
            return
        if self._saved_settings:
            with contextlib.suppress(self._pymysql.MySQLError, QueryFailed):
                self.rollback()
                self.run([Query(f"SET SESSION {n} = {v}") for n, v in self._saved_settings.items()])
        if self._restore_autocommit is not None:
            self.connection.autocommit(self._restore_autocommit)


def _rows(cursor: Any) -> list[tuple[Any, ...]]:
    return list(cursor.fetchall()) if cursor.description else []


def _message(exc: Any) -> str:
    if len(exc.args) >= 2:
        return str(exc.args[1])
    return str(exc)


def _position(sql: str, near: str, line: int) -> int | None:
    """1-based position in ``sql`` of the text the server quoted after "near", on ``line``."""
    start = 0
    for _ in range(line - 1):
        found = sql.find("\n", start)
        if found == -1:
            return None
        start = found + 1
    head = near.split("\n;\n", 1)[0][:40]
    if not head:
        return None
    found = sql.find(head, start)
    return found + 1 if found != -1 else None


def _conversions() -> dict[Any, Any]:
    """PyMySQL's conversions, with DATETIME read as UTC (migrata stores UTC_TIMESTAMP)."""
    from pymysql.constants import FIELD_TYPE
    from pymysql.converters import conversions, convert_datetime

    def utc(value: Any) -> Any:
        parsed = convert_datetime(value)
        if isinstance(parsed, datetime):
            return parsed.replace(tzinfo=UTC)
        return parsed

    table = dict(conversions)
    table[FIELD_TYPE.DATETIME] = utc
    return table


# -- connecting, creating and dropping databases ------------------------------------------------


def _connect(
    url: DatabaseURL, arguments: dict[str, Any], connect_timeout: float, **extra: Any
) -> Any:
    """A PyMySQL connection (autocommit); raises ConnectionFailed saying whether trying again
    may help and whether the database is missing (never the password)."""
    pymysql = _pymysql()
    try:
        return pymysql.connect(
            **arguments,
            autocommit=True,
            connect_timeout=max(1, int(connect_timeout)),
            program_name="migrata",
            **extra,
        )
    except pymysql.MySQLError as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        reason = url.scrub(_message(exc)).strip()
    # Raised outside the handler so that the driver's exception is not kept as context.
    raise ConnectionFailed.cannot_connect(
        url.redacted, reason, transient=code in _TRANSIENT, missing_database=code == _BAD_DATABASE
    )


def _server(url: DatabaseURL, connect_timeout: float) -> tuple[Any, str]:
    """A connection to the server without a current database, and the URL's database name."""
    arguments = connect_arguments(url)
    name = arguments.pop("database", None)
    if not name:
        raise ConfigError(f"{url.redacted} names no database: add it as the URL's path (/app)")
    return _connect(url, arguments, connect_timeout), str(name)


def _exists(connection: Any, name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
        return cursor.fetchone() is not None


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def connect(url: DatabaseURL, *, connect_timeout: float = 10) -> MySQLBackend:
    """Connect to the database ``url`` names; raises ConnectionFailed or ConfigError."""
    return MySQLBackend.connect(url, connect_timeout=connect_timeout)


def borrow(connection: Any) -> MySQLBackend:
    """A backend over a PyMySQL connection the caller owns."""
    where = connection.unix_socket or f"{connection.host}:{connection.port}"
    user, db = (_text(connection.user), _text(connection.db))
    name = f"mysql://{user}@{where}/{db}"
    return MySQLBackend(connection, owned=False, display_name=name)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def create_database(url: DatabaseURL, *, connect_timeout: float = 10) -> bool:
    """Create the database the URL names (the server's default character set); False when it
    exists. Raises ConnectionFailed, or ExecutionError when the server refuses."""
    return _change_database(url, create=True, connect_timeout=connect_timeout)


def drop_database(url: DatabaseURL, *, force: bool = False, connect_timeout: float = 10) -> bool:
    """Drop the database the URL names; False when it does not exist. (``force`` changes
    nothing here: MySQL drops a database other sessions use, waiting for their locks.)"""
    return _change_database(url, create=False, connect_timeout=connect_timeout)


def _change_database(url: DatabaseURL, *, create: bool, connect_timeout: float) -> bool:
    pymysql = _pymysql()
    connection, name = _server(url, connect_timeout)
    try:
        if not create and name.lower() in _PROTECTED:
            raise ConfigError(f"refusing to drop {name!r}: it is one of the server's own databases")
        if _exists(connection, name) == create:
            return False
        # IF [NOT] EXISTS: another run may do the same between the check and here.
        verb = "CREATE DATABASE IF NOT EXISTS" if create else "DROP DATABASE IF EXISTS"
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"{verb} {_quote(name)}")
        except pymysql.MySQLError as exc:
            reason = url.scrub(_message(exc))
        else:
            return True
    finally:
        connection.close()
    what = "create" if create else "drop"
    hint = "; create it as a user that may, or grant CREATE to the URL's user" if create else ""
    raise ExecutionError(f"cannot {what} database {name!r} on {url.redacted}: {reason}{hint}")
