"""Fresh databases for the real-world suite, the plain clients that run SQL on them, and the
schema dumps that are compared.

Per engine:

- PostgreSQL: ``psql -X -q -v ON_ERROR_STOP=1 [-1] -f FILE``; ``pg_dump --schema-only
  --no-owner --no-privileges`` without migrata's tables, its comment, ``SET``, ``set_config``
  and ``\\restrict``/``\\unrestrict`` lines, and runs of blank lines.
- MariaDB/MySQL: the ``mariadb`` client reading the file on stdin (it sends the statements one
  by one and stops at the first error); ``mysqldump --no-data --skip-comments
  --skip-dump-date`` (with routines, events and triggers) without migrata's tables and with
  ``AUTO_INCREMENT=N`` removed. Both speak utf8mb4, as the tools' drivers do.
- SQLite: ``sqlite3 -bail DB < FILE``, wrapped in ``BEGIN;``…``COMMIT;`` for a transactional
  migration; the sorted rows of ``sqlite_master`` without migrata's and SQLite's own objects.

Host, port, user and password come from the server URL. A password is handed to a client in
``PGPASSWORD``/``MYSQL_PWD`` only: it never appears on a command line or in the output.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

#: migrata's own tables (the default ``--table``), left out of every schema comparison.
MIGRATA_TABLES = ("migrata_history", "migrata_history_audit", "migrata_history_meta")

#: Seconds a client or dump may take before the harness gives up on it.
CLIENT_TIMEOUT = 600


class Unavailable(Exception):
    """An engine's server or one of its client programs cannot be used here."""


@dataclass(frozen=True, slots=True)
class ClientRun:
    """What a plain client did with one SQL file."""

    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _program(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise Unavailable(f"the {names[0]} client is not installed")


class Database(ABC):
    """One database created for one corpus: migrata's URL for it, a client that runs SQL on
    it and a normalised schema dump."""

    #: ``pg``, ``mysql`` or ``sqlite``, as in MANIFEST.tsv.
    dialect: str
    #: The URL migrata is given (it may hold a password: never print it).
    url: str

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._files = 0
        self._password: str | None = None

    def scrub(self, text: str) -> str:
        """``text`` without this database's password."""
        if self._password:
            text = text.replace(self._password, "***")
        return text

    def _sql_file(self, sql: str) -> Path:
        self._files += 1
        path = self._workdir / f"{self._files:04d}.sql"
        path.write_bytes(sql.encode("utf-8"))
        return path

    def _run(
        self, command: list[str], *, env: dict[str, str], stdin: Path | None = None
    ) -> ClientRun:
        if stdin is None:
            done = subprocess.run(
                command, env=env, capture_output=True, timeout=CLIENT_TIMEOUT, check=False
            )
        else:
            with stdin.open("rb") as handle:
                done = subprocess.run(
                    command,
                    env=env,
                    stdin=handle,
                    capture_output=True,
                    timeout=CLIENT_TIMEOUT,
                    check=False,
                )
        output = (done.stderr + done.stdout).decode("utf-8", "replace")
        return ClientRun(done.returncode, self.scrub(output.strip()))

    @abstractmethod
    def run_sql(self, sql: str, *, transactional: bool) -> ClientRun:
        """Run ``sql`` with the plain client, in one transaction when ``transactional`` and
        the engine offers one to a client."""

    @abstractmethod
    def dump_schema(self) -> str:
        """The schema as normalised text (migrata's tables left out)."""

    @abstractmethod
    def create(self) -> None:
        """Create the (empty) database."""

    @abstractmethod
    def drop(self) -> None:
        """Drop the database and everything in it."""

    def recreate(self) -> None:
        """Start again from an empty database."""
        self.drop()
        self.create()


# --- PostgreSQL -------------------------------------------------------------------------------


class PostgresDatabase(Database):
    dialect = "pg"

    def __init__(self, admin_url: str, name: str, workdir: Path) -> None:
        super().__init__(workdir)
        self._psql = _program("psql")
        self._pg_dump = _program("pg_dump")
        parts = urlsplit(admin_url)
        self._admin_url = admin_url
        self._password = unquote(parts.password) if parts.password else None
        self.name = name
        self.url = urlunsplit(parts._replace(path="/" + name))
        host = parts.netloc.rsplit("@", 1)[-1]
        user = f"{parts.username}@" if parts.username else ""
        # The connection URI for the clients, without the password (that goes in PGPASSWORD).
        self._uri = urlunsplit(parts._replace(netloc=user + host, path="/" + name))
        self._env = dict(os.environ, PGCLIENTENCODING="UTF8", PGAPPNAME="migrata-realworld")
        if self._password is not None:
            self._env["PGPASSWORD"] = self._password

    def _admin(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self._admin_url, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            raise Unavailable(
                f"cannot connect to {_redact(self._admin_url)}: {self.scrub(str(exc))}"
            ) from None

    def create(self) -> None:
        with self._admin() as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with self._admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def run_sql(self, sql: str, *, transactional: bool) -> ClientRun:
        command = [self._psql, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        if transactional:
            command.append("-1")
        command += ["-d", self._uri, "-f", str(self._sql_file(sql))]
        return self._run(command, env=self._env)

    def dump_schema(self) -> str:
        command = [self._pg_dump, "--schema-only", "--no-owner", "--no-privileges"]
        for table in MIGRATA_TABLES:
            command += ["--exclude-table", table]
        run = self._run([*command, "-d", self._uri], env=self._env)
        if not run.ok:
            raise AssertionError(f"pg_dump failed: {run.output}")
        return normalise_pg_dump(run.output)


def normalise_pg_dump(text: str) -> str:
    """``pg_dump`` output without what differs between two equal schemas: comment lines,
    ``SET``/``set_config`` lines, the ``\\restrict``/``\\unrestrict`` lines with their random
    keys, trailing spaces and runs of blank lines."""
    kept: list[str] = []
    for line in text.splitlines():
        if line.startswith(("--", "SET ", "SELECT pg_catalog.set_config(")):
            continue
        if line.startswith(("\\restrict", "\\unrestrict")):
            continue
        line = line.rstrip()
        if not line and (not kept or not kept[-1]):
            continue
        kept.append(line)
    return "\n".join(kept).strip() + "\n"


# --- MariaDB / MySQL --------------------------------------------------------------------------


class MySQLDatabase(Database):
    dialect = "mysql"

    def __init__(self, admin_url: str, name: str, workdir: Path) -> None:
        super().__init__(workdir)
        self._client = _program("mariadb", "mysql")
        self._dump = _program("mysqldump", "mariadb-dump")
        parts = urlsplit(admin_url)
        self._admin_url = admin_url
        self._password = unquote(parts.password) if parts.password else None
        self.name = name
        self.url = urlunsplit(parts._replace(path="/" + name))
        self._connection = [
            "--protocol=tcp",
            "-h",
            parts.hostname or "127.0.0.1",
            "-P",
            str(parts.port or 3306),
            "--default-character-set=utf8mb4",
        ]
        if parts.username:
            self._connection += ["-u", unquote(parts.username)]
        self._env = dict(os.environ)
        self._env.pop("MYSQL_PWD", None)
        if self._password is not None:
            self._env["MYSQL_PWD"] = self._password

    def _admin(self) -> Any:
        import pymysql

        from migrata.backends.mysql.connection import connect_arguments
        from migrata.urls import parse_url

        try:
            return pymysql.connect(
                **connect_arguments(parse_url(self._admin_url)), autocommit=True, connect_timeout=5
            )
        except pymysql.MySQLError as exc:
            raise Unavailable(
                f"cannot connect to {_redact(self._admin_url)}: {self.scrub(str(exc))}"
            ) from None

    def _execute(self, sql: str) -> None:
        admin = self._admin()
        try:
            with admin.cursor() as cur:
                cur.execute(sql)
        finally:
            admin.close()

    def create(self) -> None:
        self._execute(f"CREATE DATABASE `{self.name}`")

    def drop(self) -> None:
        self._execute(f"DROP DATABASE IF EXISTS `{self.name}`")

    def run_sql(self, sql: str, *, transactional: bool) -> ClientRun:
        # MariaDB commits DDL implicitly: the client runs the statements one by one, as the
        # tools' MySQL drivers do, whatever the migration's transaction flag.
        command = [self._client, "--no-defaults", *self._connection, self.name]
        return self._run(command, env=self._env, stdin=self._sql_file(sql))

    def dump_schema(self) -> str:
        command = [
            self._dump,
            "--no-defaults",
            *self._connection,
            "--no-data",
            "--skip-comments",
            "--skip-dump-date",
            "--routines",
            "--events",
            "--triggers",
        ]
        command += [f"--ignore-table={self.name}.{table}" for table in MIGRATA_TABLES]
        run = self._run([*command, self.name], env=self._env)
        if not run.ok:
            raise AssertionError(f"mysqldump failed: {run.output}")
        return normalise_mysql_dump(run.output)


def normalise_mysql_dump(text: str) -> str:
    """``mysqldump`` output without ``AUTO_INCREMENT=N`` (the counter, not the schema)."""
    return re.sub(r" AUTO_INCREMENT=\d+", "", text).strip() + "\n"


# --- SQLite -----------------------------------------------------------------------------------


class SQLiteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: Path, workdir: Path) -> None:
        super().__init__(workdir)
        self._sqlite3 = _program("sqlite3")
        self.path = path.resolve()
        self.url = f"sqlite:///{self.path}"

    def create(self) -> None:
        # sqlite3 and migrata both create the file on first use.
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def drop(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def run_sql(self, sql: str, *, transactional: bool) -> ClientRun:
        if transactional:
            # The extra ";" ends a last statement written without one, as a tool's single
            # Exec of the file would accept it.
            sql = f"BEGIN;\n{sql}\n;\nCOMMIT;\n"
        command = [self._sqlite3, "-init", os.devnull, "-bail", str(self.path)]
        return self._run(command, env=dict(os.environ), stdin=self._sql_file(sql))

    def dump_schema(self) -> str:
        if not self.path.exists():
            return ""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            marks = ", ".join("?" for _ in MIGRATA_TABLES)
            rows = conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master "
                f"WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND tbl_name NOT IN ({marks})",
                MIGRATA_TABLES,
            ).fetchall()
        finally:
            conn.close()
        lines = [
            f"{t} {n} ON {tb}:\n{sql or ''}\n"
            for t, n, tb, sql in sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3] or ""))
        ]
        return "".join(lines)


def new_database(
    dialect: str, *, label: str, workdir: Path, admin_urls: dict[str, str]
) -> Database:
    """A new, not yet created database of ``dialect`` with a name unique to this process and
    test; raises Unavailable when a client program is missing."""
    name = f"migrata_rw_{uuid.uuid4().hex[:12]}_{label}"
    files = workdir / f"{label}-sql"
    files.mkdir(parents=True, exist_ok=True)
    if dialect == "pg":
        return PostgresDatabase(admin_urls["pg"], name, files)
    if dialect == "mysql":
        return MySQLDatabase(admin_urls["mysql"], name, files)
    if dialect == "sqlite":
        return SQLiteDatabase(workdir / f"{name}.db", files)
    raise ValueError(f"unknown dialect {dialect!r}")
