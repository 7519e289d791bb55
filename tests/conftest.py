"""Shared fixtures: a fresh database per test on every engine that is configured.

SQLite always runs. PostgreSQL runs against ``MIGRATA_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``), MariaDB/MySQL against
``MIGRATA_TEST_MYSQL_URL`` (default ``mysql://migrata:mt-pw-4417@127.0.0.1:3306/mysql``, a user
with all privileges and the grant option, since some tests create users of their own;
scripts/test creates it); each test gets its own database, created on that server and dropped
afterwards. Tests take the user, host and port from these URLs, never a name of their own.
ClickHouse runs in-process through chdb: one data folder per test process (chdb holds one per
process, and no other process may open it), one database per test.

With ``MIGRATA_REQUIRE_SERVERS=1`` (CI sets it) an unreachable server, or a missing driver,
fails the test instead of skipping it. A test that needs a server without taking one of the
database fixtures calls :func:`require_postgres` or :func:`require_mysql` first.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

from migrata.engines import Capabilities, engine_named

POSTGRES_ADMIN_URL = os.environ.get(
    "MIGRATA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MYSQL_ADMIN_URL = os.environ.get(
    "MIGRATA_TEST_MYSQL_URL", "mysql://migrata:mt-pw-4417@127.0.0.1:3306/mysql"
)
REQUIRE_SERVERS = os.environ.get("MIGRATA_REQUIRE_SERVERS", "") not in {"", "0", "false"}


@dataclass(frozen=True)
class Database:
    """A fresh, empty database for one test."""

    engine: str  # an engine's name: "sqlite", "postgresql", "mysql", "clickhouse"…
    url: str

    def __repr__(self) -> str:
        # Shown in pytest's tracebacks: without the password.
        return f"Database(engine={self.engine!r}, url={shown_url(self.url)!r})"

    @property
    def user(self) -> str:
        """The user name this database is reached as (from its URL; "" when it has none)."""
        return unquote(urlsplit(self.url).username or "")

    @property
    def capabilities(self) -> Capabilities:
        """What the engine can do, as its registered descriptor declares it: the tests'
        expectations read these, not the engine's name."""
        return engine_named(self.engine).capabilities

    @property
    def transactional_ddl(self) -> bool:
        """Whether DDL rolls back on this engine (MySQL/MariaDB commit it implicitly, so a
        migration with DDL runs statement by statement and writes a "started" event)."""
        return self.capabilities.transactional_ddl

    @property
    def transactional(self) -> bool:
        """Whether this engine has transactions at all. Without them (ClickHouse) every
        migration, data-only ones too, runs statement by statement ("started" row and event,
        progress after each statement), and a failure keeps what ran before it (failed at k
        of n; ``up`` refuses until ``resolve`` or ``up --resume``)."""
        return self.capabilities.transactions

    @property
    def event_history(self) -> bool:
        """Whether migrata keeps the history as appended events here (ClickHouse): the table
        holds several rows per version, the newest (by ``seq``) being the state."""
        return self.capabilities.history == "events"

    def history(self, columns: str = "version", table: str = "migrata_history") -> list[tuple]:  # type: ignore[type-arg]
        """The history's current rows, ``columns`` (a comma-separated list) of each, ordered
        by service and version: read as migrata reads it (on ClickHouse the newest row per
        version, and none for a version whose newest row is a deletion)."""
        names = [c.strip() for c in columns.split(",")]
        if not self.event_history:
            return self.query(f"SELECT {columns} FROM {table} ORDER BY service, version")
        keys = {"service", "version"}
        select = ", ".join(c if c in keys else f"argMax({c}, seq)" for c in names)
        return self.query(
            f"SELECT {select} FROM {table} GROUP BY service, version "
            "HAVING argMax(deleted, seq) = 0 ORDER BY service, version"
        )

    def user_tables(self) -> set[str]:
        """``schema.table`` (an engine whose schemas are attached files, SQLite: ``table``)
        of every table in this test's database."""
        schemas = self.capabilities.schemas
        if schemas == "attached":
            rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {r[0] for r in rows}
        if schemas == "database":
            # A schema is a database there: only this test's.
            where = "table_schema = DATABASE()"
        else:
            where = (
                "table_schema NOT IN ('pg_catalog', 'information_schema') "
                "AND table_schema NOT LIKE 'pg_temp%'"
            )
        rows = self.query(
            f"SELECT table_schema, table_name FROM information_schema.tables WHERE {where}"
        )
        return {f"{schema}.{name}" for schema, name in rows}

    @property
    def _driver(self) -> Driver:
        return DRIVERS[self.engine]

    @property
    def placeholder(self) -> str:
        """The parameter marker of :meth:`query` on this engine."""
        return self._driver.placeholder

    def connect(self):  # type: ignore[no-untyped-def]
        """A plain driver connection (autocommit) for checking results by hand, without
        migrata's code."""
        return self._driver.connect(self.url)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:  # type: ignore[type-arg]
        """Rows of ``sql`` (none for a statement that returns none), through the driver."""
        return self._driver.query(self.url, sql, params)

    def table_exists(self, name: str) -> bool:
        """Whether the table ``name`` (``schema.table`` or unqualified, as an unqualified name
        resolves) exists, by the engine's own catalog."""
        return self._driver.table_exists(self, name)


# -- each engine's database, reached without migrata: the tests' independent view ------------


@dataclass(frozen=True)
class Driver:
    """How the tests reach an engine's database through its driver, without migrata."""

    placeholder: str
    connect: Callable[[str], Any]
    query: Callable[[str, str, tuple], list[tuple]]  # type: ignore[type-arg]
    table_exists: Callable[[Database, str], bool]


def _sqlite_connect(url: str) -> Any:
    import sqlite3

    return sqlite3.connect(url.split("sqlite:///", 1)[1], isolation_level=None)


def _postgres_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def _dbapi_query(connect: Callable[[str], Any]) -> Callable[[str, str, tuple], list[tuple]]:  # type: ignore[type-arg]
    def query(url: str, sql: str, params: tuple) -> list[tuple]:  # type: ignore[type-arg]
        conn = connect(url)
        try:
            cur = conn.execute(sql, params) if params else conn.execute(sql)
            return cur.fetchall() if cur.description else []  # type: ignore[no-any-return]
        finally:
            conn.close()

    return query


def _mysql_query(url: str, sql: str, params: tuple) -> list[tuple]:  # type: ignore[type-arg]
    conn = _mysql_connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def _clickhouse_query(url: str, sql: str, params: tuple) -> list[tuple]:  # type: ignore[type-arg]
    client = _chdb_client(url)
    if sql.lstrip().upper().startswith(("SELECT", "WITH", "SHOW", "DESCRIBE", "EXISTS")):
        return [tuple(r) for r in client.query(sql, parameters=params or None).result_rows]
    client.command(sql, parameters=params or None)
    return []


def _sqlite_table_exists(db: Database, name: str) -> bool:
    rows = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return bool(rows)


def _postgres_table_exists(db: Database, name: str) -> bool:
    return bool(db.query("SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0])


def _mysql_table_exists(db: Database, name: str) -> bool:
    schema, _, table = name.rpartition(".")
    rows = db.query(
        "SELECT 1 FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = COALESCE(NULLIF(%s, ''), DATABASE()) AND TABLE_NAME = %s",
        (schema, table),
    )
    return bool(rows)


def _clickhouse_table_exists(db: Database, name: str) -> bool:
    schema, _, table = name.rpartition(".")
    rows = db.query(
        "SELECT 1 FROM system.tables WHERE database = %s AND name = %s",
        (schema or db.url.rsplit("database=", 1)[1], table),
    )
    return bool(rows)


#: Each engine's driver access, by engine name (a new engine adds its entry and a fixture).
DRIVERS = {
    "sqlite": Driver("?", _sqlite_connect, _dbapi_query(_sqlite_connect), _sqlite_table_exists),
    "postgresql": Driver(
        "%s", _postgres_connect, _dbapi_query(_postgres_connect), _postgres_table_exists
    ),
    "mysql": Driver("%s", lambda url: _mysql_connect(url), _mysql_query, _mysql_table_exists),
    "clickhouse": Driver(
        "%s", lambda url: _chdb_client(url), _clickhouse_query, _clickhouse_table_exists
    ),
}


def shown_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages of the test suite."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _cannot_connect(url: str, exc: BaseException) -> str:
    """One line saying why ``url`` could not be reached (drivers' messages span lines)."""
    return f"cannot connect to {shown_url(url)}: {' '.join(str(exc).split())}"


def _postgres_unavailable(reason: str) -> NoReturn:
    if REQUIRE_SERVERS:
        pytest.fail(f"PostgreSQL is required (MIGRATA_REQUIRE_SERVERS=1) but {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


def _mysql_unavailable(reason: str) -> NoReturn:
    if REQUIRE_SERVERS:
        pytest.fail(f"MariaDB/MySQL is required (MIGRATA_REQUIRE_SERVERS=1) but {reason}")
    pytest.skip(f"MariaDB/MySQL not available: {reason}")


# Probed once per test process: every test of an unreachable server then skips with the same
# reason, at once, instead of each waiting for its own connection attempt.
@functools.cache
def _postgres_problem() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=5).close()
    except psycopg.Error as exc:
        return _cannot_connect(POSTGRES_ADMIN_URL, exc)
    return None


@functools.cache
def _mysql_problem() -> str | None:
    try:
        import pymysql
    except ImportError:
        return "PyMySQL is not installed"
    try:
        _mysql_connect(MYSQL_ADMIN_URL).close()
    except pymysql.MySQLError as exc:
        return _cannot_connect(MYSQL_ADMIN_URL, exc)
    return None


def require_postgres() -> None:
    """Skip the calling test unless the PostgreSQL server of ``MIGRATA_TEST_POSTGRES_URL``
    accepts connections (fail it instead under ``MIGRATA_REQUIRE_SERVERS=1``)."""
    problem = _postgres_problem()
    if problem is not None:
        _postgres_unavailable(problem)


def require_mysql() -> None:
    """Skip the calling test unless the MariaDB/MySQL server of ``MIGRATA_TEST_MYSQL_URL``
    accepts connections (fail it instead under ``MIGRATA_REQUIRE_SERVERS=1``)."""
    problem = _mysql_problem()
    if problem is not None:
        _mysql_unavailable(problem)


def require_server(engine: str) -> None:
    """:func:`require_postgres` or :func:`require_mysql` for ``engine`` ("postgresql" or
    "mysql")."""
    if engine == "mysql":
        require_mysql()
    else:
        require_postgres()


def _mysql_connect(url: str):  # type: ignore[no-untyped-def]
    import pymysql

    from migrata.backends.mysql.connection import connect_arguments
    from migrata.urls import parse_url

    return pymysql.connect(**connect_arguments(parse_url(url)), autocommit=True)


def _with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture
def postgres_db() -> Iterator[Database]:
    """A freshly created PostgreSQL database, dropped after the test."""
    require_postgres()
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        _postgres_unavailable(_cannot_connect(POSTGRES_ADMIN_URL, exc))
    name = f"migrata_t_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Database("postgresql", _with_dbname(POSTGRES_ADMIN_URL, name))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def mysql_db() -> Iterator[Database]:
    """A freshly created MariaDB/MySQL database, dropped after the test."""
    require_mysql()
    import pymysql

    try:
        admin = _mysql_connect(MYSQL_ADMIN_URL)
    except pymysql.MySQLError as exc:
        _mysql_unavailable(_cannot_connect(MYSQL_ADMIN_URL, exc))
    name = f"migrata_t_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    try:
        yield Database("mysql", _with_dbname(MYSQL_ADMIN_URL, name))
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def _chdb_client(url: str):  # type: ignore[no-untyped-def]
    import clickhouse_connect

    path, _, database = url.removeprefix("chdb://").partition("?database=")
    return clickhouse_connect.get_client(dsn=f"chdb://{path}", database=database or None)


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """This test process's chdb data folder (chdb opens one folder per process)."""
    return str(tmp_path_factory.mktemp("chdb") / "data")


@pytest.fixture
def clickhouse_db(chdb_path: str) -> Iterator[Database]:
    """A fresh ClickHouse database in this process's chdb engine, dropped after the test."""
    try:
        import chdb  # noqa: F401
        import clickhouse_connect
    except ImportError:
        if REQUIRE_SERVERS:
            pytest.fail("chdb is required (MIGRATA_REQUIRE_SERVERS=1) but is not installed")
        pytest.skip("chdb is not installed")
    admin = clickhouse_connect.get_client(dsn=f"chdb://{chdb_path}")
    name = f"migrata_t_{uuid.uuid4().hex[:12]}"
    admin.command(f"CREATE DATABASE `{name}`")
    try:
        yield Database("clickhouse", f"chdb://{chdb_path}?database={name}")
    finally:
        admin.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    return Database("sqlite", f"sqlite:///{tmp_path / 'test.db'}")


_FIXTURES = {
    "sqlite": "sqlite_db",
    "postgresql": "postgres_db",
    "mysql": "mysql_db",
    "clickhouse": "clickhouse_db",
}


@pytest.fixture(params=list(_FIXTURES))
def db(request: pytest.FixtureRequest) -> Database:
    """Every engine in turn: the contract suite runs once per engine."""
    return request.getfixturevalue(_FIXTURES[request.param])  # type: ignore[no-any-return]


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def server_db(request: pytest.FixtureRequest) -> Database:
    """Every engine another process can open while this one holds it: for tests that run
    migrata in subprocesses (chdb's data folder belongs to one process)."""
    return request.getfixturevalue(_FIXTURES[request.param])  # type: ignore[no-any-return]


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def adoptable_db(request: pytest.FixtureRequest) -> Database:
    """Every engine where migrata can adopt other tools' history tables (``migrata adopt``,
    migrata.foreign): adopting on ClickHouse is not implemented."""
    return request.getfixturevalue(_FIXTURES[request.param])  # type: ignore[no-any-return]


def create_index(engine: str, name: str, table: str, columns: str) -> str:
    """``CREATE INDEX name ON table (columns)`` in ``engine``'s dialect: ClickHouse's are
    data-skipping indexes, which need a TYPE."""
    sql = f"CREATE INDEX {name} ON {table} ({columns})"
    return f"{sql} TYPE minmax" if engine == "clickhouse" else sql


def drop_index(engine: str, name: str, table: str) -> str:
    """``DROP INDEX name`` in ``engine``'s dialect: MySQL/MariaDB and ClickHouse name the
    table too."""
    return (
        f"DROP INDEX {name} ON {table}"
        if engine in {"mysql", "clickhouse"}
        else (f"DROP INDEX {name}")
    )


def write_migrations(folder: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``folder`` (bytes-exact, no newline translation)."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    return folder


# --- the real-world corpora's results table ------------------------------------------------
# Here, in the root conftest, because the controlling process of a pytest-xdist run loads only
# this one: each tests/realworld test attaches its row to its report, and the rows are printed
# at the end of the session (``pytest -q`` shows the terminal summary too).

_REALWORLD_ROWS: dict[str, dict[str, object]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    from realworld.report import ROW_PROPERTY

    for name, value in report.user_properties:
        if name == ROW_PROPERTY and isinstance(value, dict):
            _REALWORLD_ROWS[report.nodeid] = value


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _REALWORLD_ROWS:
        return
    from realworld.report import render_table

    terminalreporter.write_sep("=", "real-world corpora")
    for line in render_table(_REALWORLD_ROWS.values()):
        terminalreporter.write_line(line)
