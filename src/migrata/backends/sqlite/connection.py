"""SQLite through the standard library's sqlite3 (no extra needed).

Transactions are explicit (``isolation_level=None`` and our own BEGIN), so DDL and the history
row commit together. The migration lock is an OS file lock on ``<database>.migrata.lock``: like
PostgreSQL's session lock it disappears when the holding process dies, so a crash never leaves
a stale lock behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ...errors import ConfigError, ConnectionFailed, LockTimeout, setting
from ...models import Statement, Timeouts
from ...urls import DatabaseURL
from ..base import Backend, Query, QueryFailed, actor, milliseconds, poll_intervals
from .dialect import CAPABILITIES

#: Files SQLite keeps beside a database, and the migration lock's.
_SIDECARS = ("-wal", "-shm", "-journal", ".migrata.lock")


#: Statements that change the schema: run on the in-memory copy while checking.
_SCHEMA_CHANGE = re.compile(r"\s*(?:CREATE|ALTER|DROP)\b", re.IGNORECASE)


class SQLiteBackend(Backend):
    dialect = "sqlite"
    capabilities = CAPABILITIES
    placeholder = "?"
    timestamp_type = "TEXT"
    identity_column = "INTEGER PRIMARY KEY AUTOINCREMENT"
    now_sql = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

    def __init__(self, connection: sqlite3.Connection, *, owned: bool, path: str | None) -> None:
        self.connection = connection
        self._owned = owned
        self._restore_isolation: str | None = None
        if connection.isolation_level is not None:
            if connection.in_transaction:
                connection.commit()
            self._restore_isolation = connection.isolation_level
            connection.isolation_level = None
        if path is None:
            rows = connection.execute("PRAGMA database_list").fetchall()
            path = next((r[2] for r in rows if r[1] == "main"), "") or ":memory:"
        self.path = path
        self.display_name = f"sqlite:///{path}"
        self._batch_started = time.monotonic()
        # SQLite has no transaction start time: the elapsed time of the running batch is
        # computed in this process and offered to SQL as a function.
        connection.create_function("migrata_elapsed_ms", 0, self._elapsed_ms)
        #: The statement time limit (seconds), enforced here: SQLite has no server to do it.
        self._statement_limit: float | None = None
        self._deadline = 0.0
        self._busy_default = int(connection.execute("PRAGMA busy_timeout").fetchone()[0])
        self._busy_now = self._busy_default

    @classmethod
    def connect(cls, url: DatabaseURL, *, connect_timeout: float = 10) -> SQLiteBackend:
        """Open the file (``connect_timeout`` is there for the common signature: a file
        does not keep anyone waiting)."""
        assert url.path is not None
        path = url.path
        if path != ":memory:":
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                raise ConnectionFailed(
                    f"cannot open {url.raw}: folder {parent!r} does not exist; create it, or "
                    f"pass {setting('create_database')}",
                    missing_database=True,
                )
        try:
            connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise ConnectionFailed(f"cannot open {url.raw}: {exc}") from None
        return cls(connection, owned=True, path=path)

    def check_statements(
        self, scripts: Sequence[Sequence[Statement]]
    ) -> list[tuple[int, int, str]]:
        """Compile every statement against a copy of this database's schema in memory: the
        schema statements (CREATE, ALTER, DROP) run there, so later ones see their tables,
        and the others are compiled only (``EXPLAIN``). The database itself is only read."""
        copy = sqlite3.connect(":memory:", isolation_level=None)
        try:
            schema = self.connection.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
                "AND name NOT LIKE 'sqlite_%' "
                "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'view' THEN 1 ELSE 2 END, rowid"
            ).fetchall()
            for (sql,) in schema:
                with contextlib.suppress(sqlite3.Error):  # e.g. a virtual table's module
                    copy.execute(sql)
            found = []
            for index, statements in enumerate(scripts):
                for position, statement in enumerate(statements):
                    try:
                        if _SCHEMA_CHANGE.match(statement.sql):
                            copy.execute(statement.sql)
                        else:
                            copy.execute("EXPLAIN " + statement.sql)
                    except sqlite3.Error as exc:
                        found.append((index, position, str(exc)))
                        break  # what follows may depend on it
            return found
        finally:
            copy.close()

    def run(self, queries: Sequence[Query]) -> list[list[tuple[Any, ...]]]:
        results: list[list[tuple[Any, ...]]] = []
        self._batch_started = time.monotonic()
        limit = self._statement_limit
        for index, query in enumerate(queries):
            if limit:
                self._deadline = time.monotonic() + limit
                self.connection.set_progress_handler(self._over_time, 1000)
            try:
                if query.params is None:
                    cursor = self.connection.execute(query.sql)
                else:
                    cursor = self.connection.execute(query.sql, query.params)
                results.append(cursor.fetchall() if cursor.description else [])
            except sqlite3.Error as exc:
                message = str(exc)
                if limit and message == "interrupted" and time.monotonic() >= self._deadline:
                    message = f"interrupted: the statement ran longer than its {limit:g}s limit"
                raise QueryFailed(
                    index, message, getattr(exc, "sqlite_errorname", None), None
                ) from exc
            finally:
                if limit:
                    self.connection.set_progress_handler(None, 0)
        return results

    def _over_time(self) -> int:
        return 1 if time.monotonic() >= self._deadline else 0

    def timeout_queries(self, timeouts: Timeouts, *, local: bool) -> list[Query]:
        self._statement_limit = timeouts.statement or None
        # How long a write waits for another connection's lock (SQLITE_BUSY after that); in
        # rollback-journal mode a waiting writer keeps new readers out, so it must give way.
        if timeouts.lock is None:
            wait = self._busy_default
        else:
            wait = milliseconds(timeouts.lock) if timeouts.lock > 0 else 2**31 - 1
        if wait == self._busy_now:
            return []
        self._busy_now = wait
        return [Query(f"PRAGMA busy_timeout = {wait}")]

    def is_lock_timeout(self, failure: QueryFailed) -> bool:
        return (failure.sqlstate or "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))

    def cancel(self) -> None:
        self.connection.interrupt()

    def rollback(self) -> None:
        if self.connection.in_transaction:
            self.connection.execute("ROLLBACK")

    def is_missing_table(self, failure: QueryFailed) -> bool:
        return "no such table" in failure.message

    def read_schema(self, *, exclude: Collection[str] = ()) -> str:
        # Tables are rendered from what SQLite knows of them (PRAGMA table_xinfo, foreign
        # keys, unique constraints), not from the CREATE text it keeps: a table rebuilt by a
        # migration (create new, copy, drop, rename) keeps the text as the rebuild wrote it,
        # quotes and line breaks included, and would look changed when it is not. Indexes,
        # views and triggers are their CREATE text with whitespace collapsed. CHECK
        # constraints live only in that text and are left out.
        left_out = {name.lower() for name in exclude}
        rows = self.fetch(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
        tables, others = [], []
        for kind, name, table, sql in rows:
            if str(table).lower() in left_out:
                continue
            if kind == "table":
                tables.append(self._table_text(str(name)))
            elif sql is not None:
                text = " ".join(str(sql).split())
                order = {"index": 0, "view": 1}.get(str(kind), 2)
                others.append((order, str(name), text + ";"))
        blocks = tables + [text for _order, _name, text in sorted(others)]
        return "\n\n".join(blocks) + ("\n" if blocks else "")

    def schema_sql(self, *, exclude: Collection[str] = ()) -> str:
        # The CREATE statements as SQLite keeps them: runnable as they are, CHECKs included.
        left_out = {name.lower() for name in exclude}
        rows = self.fetch(
            "SELECT sql, tbl_name FROM sqlite_master "
            "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 "
            "ELSE 3 END, rowid"
        )
        blocks = [
            str(sql).strip().rstrip(";") + ";"
            for sql, table in rows
            if str(table).lower() not in left_out
        ]
        return "\n\n".join(blocks) + ("\n" if blocks else "")

    def _table_text(self, table: str) -> str:
        quote = self.quote_identifier
        columns = self.fetch(
            'SELECT name, type, "notnull", dflt_value, pk, hidden '
            "FROM pragma_table_xinfo(?) ORDER BY cid",
            (table,),
        )
        keys = [row for row in columns if row[4]]
        lines = []
        for name, kind, notnull, default, pk, hidden in columns:
            if hidden == 1:
                continue  # a virtual table's hidden column
            line = f"    {quote(name)} {str(kind).upper()}".rstrip()
            if pk and len(keys) == 1:
                line += " PRIMARY KEY"
            if notnull:
                line += " NOT NULL"
            if default is not None:
                line += f" DEFAULT {default}"
            lines.append(line)
        if len(keys) > 1:
            ordered = sorted(keys, key=lambda row: row[4])
            lines.append(f"    PRIMARY KEY ({', '.join(quote(row[0]) for row in ordered)})")
        for index, unique, origin in self.fetch(
            'SELECT name, "unique", origin FROM pragma_index_list(?) ORDER BY name', (table,)
        ):
            if origin == "u" and unique:
                names = self.fetch(
                    "SELECT name FROM pragma_index_info(?) ORDER BY seqno", (str(index),)
                )
                lines.append(f"    UNIQUE ({', '.join(quote(str(n[0])) for n in names)})")
        foreign: dict[int, list[tuple[Any, ...]]] = {}
        for row in self.fetch(
            'SELECT id, seq, "table", "from", "to", on_update, on_delete '
            "FROM pragma_foreign_key_list(?) ORDER BY id, seq",
            (table,),
        ):
            foreign.setdefault(int(row[0]), []).append(row)
        for parts in sorted(foreign.values(), key=lambda p: [str(r[3]) for r in p]):
            mine = ", ".join(quote(str(r[3])) for r in parts)
            theirs = ", ".join(quote(str(r[4])) for r in parts if r[4] is not None)
            line = f"    FOREIGN KEY ({mine}) REFERENCES {quote(str(parts[0][2]))}"
            line += f" ({theirs})" if theirs else ""
            for action, verb in ((parts[0][6], "DELETE"), (parts[0][5], "UPDATE")):
                if action and action != "NO ACTION":
                    line += f" ON {verb} {action}"
            lines.append(line)
        # Every line ends with a comma, the last one too (as the other engines' readers do): a
        # column added at the end then changes one line of a diff, not two.
        return f"CREATE TABLE {quote(table)} (\n" + "".join(f"{line},\n" for line in lines) + ");"

    def elapsed_ms_sql(self) -> str:
        return "migrata_elapsed_ms()"

    def table_columns(
        self, tables: Sequence[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], frozenset[str]]:
        if not tables:
            return {}
        values = ", ".join("(?, ?, ?)" for _ in tables)
        params: list[Any] = []
        for index, (schema, table) in enumerate(tables):
            params += [index, schema, table]
        # Each schema's sqlite_master lists only its own tables, so the attached databases are
        # walked with pragma_database_list, in the order an unqualified name is looked up
        # (temp, main, then attached ones); CROSS JOIN keeps that order of evaluation, so an
        # unknown schema yields no rows instead of an "unknown database" error.
        rows = self.fetch(
            "SELECT i, col FROM ("
            "SELECT w.column1 AS i, p.name AS col, dense_rank() OVER (PARTITION BY w.column1 "
            "ORDER BY CASE d.name WHEN 'temp' THEN 0 WHEN 'main' THEN 1 ELSE 2 + d.seq END"
            ") AS pick "
            f"FROM (VALUES {values}) AS w "
            "CROSS JOIN pragma_database_list AS d "
            "CROSS JOIN pragma_table_info(w.column3, d.name) AS p "
            "WHERE w.column2 IS NULL OR w.column2 = d.name"
            ") WHERE pick = 1",
            tuple(params),
        )
        columns: dict[tuple[str | None, str], set[str]] = {}
        for index, column in rows:
            columns.setdefault(tables[index], set()).add(column)
        return {key: frozenset(names) for key, names in columns.items()}

    def _elapsed_ms(self) -> int:
        return int((time.monotonic() - self._batch_started) * 1000)

    @contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[None]:
        if self.path == ":memory:" or self.path == "":
            yield  # a private in-memory database: no other process can see it
            return
        lock_path = f"{self.path}.migrata.lock"
        with open(lock_path, "a+", encoding="utf-8") as handle:
            if not _try_lock(handle):
                for pause in poll_intervals(timeout):
                    time.sleep(pause)
                    if _try_lock(handle):
                        break
                else:
                    handle.seek(0)
                    raise LockTimeout(timeout, handle.read().strip() or None)
            handle.seek(0)
            handle.truncate()
            handle.write(
                f"pid {os.getpid()}, {actor()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"
            )
            handle.flush()
            try:
                yield
            finally:
                with contextlib.suppress(sqlite3.Error):
                    self.rollback()
                handle.seek(0)
                handle.truncate()
                handle.flush()
                _unlock(handle)

    def close(self) -> None:
        if self._owned:
            self.connection.close()
            return
        with contextlib.suppress(sqlite3.Error):
            self.connection.execute(f"PRAGMA busy_timeout = {self._busy_default}")
        if self._restore_isolation is not None:
            self.connection.isolation_level = self._restore_isolation  # type: ignore[assignment]


def _try_lock(handle: Any) -> bool:
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _unlock(handle: Any) -> None:
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _file(url: DatabaseURL) -> str:
    assert url.path is not None
    if url.path in {":memory:", ""}:
        raise ConfigError(f"{url.raw} is an in-memory database: there is no file to create or drop")
    return url.path


def connect(url: DatabaseURL, *, connect_timeout: float = 10) -> SQLiteBackend:
    """Open the database file ``url`` names; raises ConnectionFailed or ConfigError."""
    return SQLiteBackend.connect(url, connect_timeout=connect_timeout)


def borrow(connection: Any) -> SQLiteBackend:
    """A backend over a sqlite3 connection the caller owns."""
    return SQLiteBackend(connection, owned=False, path=None)


def create_database(url: DatabaseURL, *, connect_timeout: float = 10) -> bool:
    """Create the database file (and its folder); False when the file exists (or the
    database lives in memory: each connection makes its own)."""
    if url.path in {":memory:", ""}:
        return False
    path = _file(url)
    if os.path.exists(path):
        return False
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
        sqlite3.connect(path).close()
    except (OSError, sqlite3.Error) as exc:
        raise ConnectionFailed(f"cannot create {url.raw}: {exc}") from None
    return True


def drop_database(url: DatabaseURL, *, force: bool = False, connect_timeout: float = 10) -> bool:
    """Delete the database file and the files SQLite keeps beside it; False when there is no
    such file."""
    path = _file(url)
    if not os.path.exists(path):
        return False
    try:
        os.remove(path)
        for suffix in _SIDECARS:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path + suffix)
    except OSError as exc:
        raise ConnectionFailed(f"cannot delete {url.raw}: {exc}") from None
    return True
