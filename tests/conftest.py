"""Shared fixtures: a fresh database per test on every engine that is configured.

SQLite always runs. PostgreSQL runs against ``MIGRATA_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``), MariaDB/MySQL against
``MIGRATA_TEST_MYSQL_URL`` (default ``mysql://migrata:mt-pw-4417@127.0.0.1:3306/mysql``, a user
that may create databases; .ci/run creates it); each test gets its own database, created on
that server and dropped afterwards. ClickHouse runs in-process through chdb: one data folder
per test process (chdb holds one per process, and no other process may open it), one database
per test. With ``MIGRATA_REQUIRE_SERVERS=1`` (CI sets it) an unreachable server, or a missing
driver, fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

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

    engine: str  # "sqlite" | "postgresql" | "mysql" | "clickhouse"
    url: str

    @property
    def transactional_ddl(self) -> bool:
        """Whether DDL rolls back on this engine (MySQL/MariaDB commit it implicitly, so a
        migration with DDL runs statement by statement and writes a "started" event)."""
        return self.backend_class().capabilities.transactional_ddl

    def backend_class(self) -> type:
        if self.engine == "mysql":
            from migrata.backends.mysql import MySQLBackend

            return MySQLBackend
        if self.engine == "clickhouse":
            from migrata.backends.clickhouse import ClickHouseBackend

            return ClickHouseBackend
        if self.engine == "sqlite":
            from migrata.backends.sqlite import SQLiteBackend

            return SQLiteBackend
        from migrata.backends.postgres import PostgresBackend

        return PostgresBackend

    @property
    def placeholder(self) -> str:
        """The parameter marker of :meth:`query` on this engine."""
        return "?" if self.engine == "sqlite" else "%s"

    def connect(self):  # type: ignore[no-untyped-def]
        """A plain driver connection (autocommit) for checking results by hand."""
        if self.engine == "sqlite":
            import sqlite3

            return sqlite3.connect(self.url.split("sqlite:///", 1)[1], isolation_level=None)
        if self.engine == "mysql":
            return _mysql_connect(self.url)
        if self.engine == "clickhouse":
            return _chdb_client(self.url)
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:  # type: ignore[type-arg]
        if self.engine == "clickhouse":
            client = self.connect()
            if sql.lstrip().upper().startswith(("SELECT", "WITH", "SHOW", "DESCRIBE", "EXISTS")):
                return [tuple(r) for r in client.query(sql, parameters=params or None).result_rows]
            client.command(sql, parameters=params or None)
            return []
        conn = self.connect()
        try:
            if self.engine == "mysql":
                with conn.cursor() as cur:
                    cur.execute(sql, params or None)
                    return list(cur.fetchall()) if cur.description else []
            cur = conn.execute(sql, params) if params else conn.execute(sql)
            return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def table_exists(self, name: str) -> bool:
        if self.engine == "sqlite":
            rows = self.query(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
            )
        elif self.engine == "clickhouse":
            schema, _, table = name.rpartition(".")
            rows = self.query(
                "SELECT 1 FROM system.tables WHERE database = %s AND name = %s",
                (schema or self.url.rsplit("database=", 1)[1], table),
            )
        elif self.engine == "mysql":
            schema, _, table = name.rpartition(".")
            rows = self.query(
                "SELECT 1 FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = COALESCE(NULLIF(%s, ''), DATABASE()) AND TABLE_NAME = %s",
                (schema, table),
            )
        else:
            rows = self.query("SELECT to_regclass(%s) IS NOT NULL", (name,))
            return bool(rows[0][0])
        return bool(rows)


def _postgres_unavailable(reason: str) -> None:
    if REQUIRE_SERVERS:
        pytest.fail(f"PostgreSQL is required (MIGRATA_REQUIRE_SERVERS=1) but {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


def _mysql_unavailable(reason: str) -> None:
    if REQUIRE_SERVERS:
        pytest.fail(f"MariaDB/MySQL is required (MIGRATA_REQUIRE_SERVERS=1) but {reason}")
    pytest.skip(f"MariaDB/MySQL not available: {reason}")


def _mysql_connect(url: str):  # type: ignore[no-untyped-def]
    import pymysql

    from migrata.backends.mysql import connect_arguments
    from migrata.urls import parse_url

    return pymysql.connect(**connect_arguments(parse_url(url)), autocommit=True)


def _with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture
def postgres_db() -> Iterator[Database]:
    """A freshly created PostgreSQL database, dropped after the test."""
    try:
        import psycopg
    except ImportError:
        _postgres_unavailable("psycopg is not installed")
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        _postgres_unavailable(f"cannot connect to {POSTGRES_ADMIN_URL}: {exc}")
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
    try:
        import pymysql
    except ImportError:
        _mysql_unavailable("PyMySQL is not installed")
    try:
        admin = _mysql_connect(MYSQL_ADMIN_URL)
    except pymysql.MySQLError as exc:
        _mysql_unavailable(f"cannot connect to {MYSQL_ADMIN_URL}: {exc}")
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


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def db(request: pytest.FixtureRequest) -> Database:
    """Every engine in turn: the contract suite runs once per engine."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_db")  # type: ignore[no-any-return]
    if request.param == "mysql":
        return request.getfixturevalue("mysql_db")  # type: ignore[no-any-return]
    return request.getfixturevalue("postgres_db")  # type: ignore[no-any-return]


def write_migrations(folder: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``folder`` (bytes-exact, no newline translation)."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    return folder
