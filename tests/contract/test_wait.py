"""Waiting for the database: a server that starts listening late, one that is still starting
up, a host name that does not resolve, and a database created once its server answers.

The servers here are the real PostgreSQL and MariaDB, reached through stand-ins from
``netsupport`` that refuse or turn clients away for the first seconds.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

import migrata
from conftest import (
    MYSQL_ADMIN_URL,
    POSTGRES_ADMIN_URL,
    Database,
    require_server,
    shown_url,
    write_migrations,
)
from netsupport import LateProxy, StartingUpMySQL, StartingUpPostgres

CONSOLE_SCRIPT = str(Path(sys.executable).with_name("migrata"))

MIGRATIONS = {
    "0001_a.sql": "CREATE TABLE a (id INTEGER PRIMARY KEY);\n",
    "0002_b.sql": "INSERT INTO a (id) VALUES (1);\n",
}


def through(url: str, port: int, database: str | None = None) -> str:
    """``url`` with its port (and, if given, its database) replaced."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{port}", path=path))


def target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or (3306 if parts.scheme == "mysql" else 5432)


def cli_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without migrata's settings, plus ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATA_")}
    environ.pop("DATABASE_URL", None)
    environ.update(env or {})
    return environ


def migrata_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CONSOLE_SCRIPT, *args],
        check=False,
        capture_output=True,
        text=True,
        env=cli_environment(env),
        timeout=120,
    )


class RunningCli:
    """``migrata ARGS`` in a process of its own, its output read as it comes: a test lets the
    server in once it has seen migrata wait for it, however long migrata took to start."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [CONSOLE_SCRIPT, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_environment(),
        )
        self._stderr: queue.Queue[str | None] = queue.Queue()
        self._seen: list[str] = []
        self._stdout: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stderr, daemon=True),
            threading.Thread(target=self._read_stdout, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.put(line)
        self._stderr.put(None)

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        self._stdout.append(self.process.stdout.read())

    def wait_for_stderr(self, text: str, timeout: float = 60) -> None:
        """Until a line of stderr holds ``text``; fails when migrata ends first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._stderr.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.process.kill()
                raise AssertionError(f"no {text!r} within {timeout}s: {''.join(self._seen)}")
            if line is None:
                raise AssertionError(f"migrata ended before saying {text!r}: {''.join(self._seen)}")
            self._seen.append(line)
            if text in line:
                return

    def result(self, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The finished process, with all it wrote."""
        try:
            self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        for reader in self._readers:
            reader.join(timeout)
        while (line := self._stderr.get()) is not None:
            self._seen.append(line)
        return subprocess.CompletedProcess(
            self.process.args, self.process.returncode, "".join(self._stdout), "".join(self._seen)
        )


def test_up_waits_for_a_postgres_that_starts_listening_late(
    postgres_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", MIGRATIONS)
    with LateProxy(target=target(postgres_db.url), delay=600) as proxy:
        url = through(postgres_db.url, proxy.port)
        run = RunningCli("-u", url, "-d", str(folder), "up", "--wait", "60")
        # The port opens only once migrata has been refused and said it waits.
        run.wait_for_stderr("migrata: waiting for")
        proxy.open()
        result = run.result()
    assert result.returncode == 0, result.stderr
    assert "Connection refused" in result.stderr
    assert "accepts connections after" in result.stderr
    assert "applied 2 migration(s)" in result.stdout
    assert postgres_db.query("SELECT id FROM a") == [(1,)]


def test_without_wait_a_refused_connection_fails_at_once(
    postgres_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", MIGRATIONS)
    with LateProxy(target=target(postgres_db.url), delay=30.0) as proxy:
        url = through(postgres_db.url, proxy.port)
        started = time.monotonic()
        result = migrata_cli("-u", url, "-d", str(folder), "up")
        took = time.monotonic() - started
    assert result.returncode == 2
    assert took < 10
    assert "Connection refused" in result.stderr
    assert "waiting for" not in result.stderr
    assert not postgres_db.table_exists("a")


def test_a_wait_too_short_gives_up_naming_the_last_error(
    postgres_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", MIGRATIONS)
    # The wait outlasts migrata's first attempt (which loads the driver) even on a busy
    # machine, so that migrata says it waits before it gives up.
    with LateProxy(target=target(postgres_db.url), delay=600) as proxy:
        url = through(postgres_db.url, proxy.port)
        started = time.monotonic()
        result = migrata_cli(
            "--log-format", "json", "-u", url, "-d", str(folder), "up", "--wait", "10"
        )
        took = time.monotonic() - started
    assert result.returncode == 2
    assert 9.9 <= took < 90
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    waiting = [line for line in lines if line["event"] == "waiting"]
    assert waiting and waiting[0]["attempt"] == 1 and waiting[0]["timeout_s"] == 10
    assert "Connection refused" in waiting[0]["reason"]
    assert lines[-1]["event"] == "error" and lines[-1]["exit_code"] == 2
    assert "did not accept connections within 10s" in lines[-1]["message"]
    assert lines[-1]["error"] == "WaitTimeout"
    assert not postgres_db.table_exists("a")


def test_wait_rides_out_a_postgres_that_is_starting_up(postgres_db: Database) -> None:
    with StartingUpPostgres(target=target(postgres_db.url), duration=600) as server:
        url = through(postgres_db.url, server.port)
        run = RunningCli("-u", url, "wait", "--timeout", "60", "--json")
        # Ready only once migrata has been turned away twice.
        run.wait_for_stderr("the database system is starting up")
        run.wait_for_stderr("the database system is starting up")
        server.ready()
        result = run.result()
        refused = server.refused
    assert result.returncode == 0, result.stderr
    assert refused >= 2
    document = json.loads(result.stdout)
    assert document["attempts"] == refused + 1
    assert document["waited_s"] > 0
    assert document["database"] == url


def test_wait_rides_out_mariadb_turning_clients_away(mysql_db: Database) -> None:
    with StartingUpMySQL(target=target(mysql_db.url), duration=1.5) as server:
        url = through(mysql_db.url, server.port)
        waited = migrata.wait_for_database(url, timeout=30)
        refused = server.refused
    assert refused >= 1
    assert waited.attempts == refused + 1
    assert waited.waited_s >= 1.0
    password = urlsplit(mysql_db.url).password
    if password:
        assert password not in waited.database


def test_migrate_waits_for_mariadb_listening_late(mysql_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", MIGRATIONS)
    with LateProxy(target=target(mysql_db.url), delay=1.5) as proxy:
        report = migrata.migrate(through(mysql_db.url, proxy.port), directory=folder, wait=30)
    assert report is not None and report.versions == ("0001", "0002")
    assert mysql_db.query("SELECT id FROM a") == [(1,)]


def test_a_name_that_does_not_resolve_is_retried_until_the_time_is_up(tmp_path: Path) -> None:
    """(The wait outlasts the first attempt, which loads the driver, even on a busy machine.)"""
    folder = write_migrations(tmp_path / "m", MIGRATIONS)
    url = f"postgresql://postgres@db-{uuid.uuid4().hex[:8]}.invalid:5432/app"
    started = time.monotonic()
    result = migrata_cli("-u", url, "-d", str(folder), "up", "--wait", "10")
    took = time.monotonic() - started
    assert result.returncode == 2
    assert took >= 9.9
    assert "waiting for" in result.stderr
    assert "resolve" in result.stderr.lower()
    assert "did not accept connections within 10s" in result.stderr


def test_what_waiting_cannot_mend_fails_at_once(mysql_db: Database) -> None:
    host = urlsplit(mysql_db.url).netloc.rsplit("@", 1)[1]
    wrong = urlsplit(mysql_db.url)._replace(netloc=f"{mysql_db.user}:not-the-password@{host}")
    started = time.monotonic()
    with pytest.raises(migrata.ConnectionFailed) as info:
        migrata.wait_for_database(urlunsplit(wrong), timeout=30)
    assert time.monotonic() - started < 10
    assert not isinstance(info.value, migrata.WaitTimeout)
    assert info.value.transient is False
    assert "not-the-password" not in str(info.value)


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_create_database_waits_for_a_late_server_then_migrates(engine: str, tmp_path: Path) -> None:
    require_server(engine)
    admin = POSTGRES_ADMIN_URL if engine == "postgresql" else MYSQL_ADMIN_URL
    host, port = target(admin)
    name = f"migrata_w_{uuid.uuid4().hex[:10]}"
    folder = write_migrations(tmp_path / "m", MIGRATIONS)
    direct = through(admin, port, name)
    try:
        with LateProxy(target=(host, port), delay=600) as proxy:
            url = through(admin, proxy.port, name)
            run = RunningCli(
                "-u", url, "-d", str(folder), "up", "--wait", "60", "--create-database"
            )
            run.wait_for_stderr("migrata: waiting for")
            proxy.open()
            result = run.result()
        assert result.returncode == 0, result.stderr
        assert f"created database {shown_url(url)}" in result.stderr
        assert Database(engine, direct).query("SELECT id FROM a") == [(1,)]
    finally:
        migrata.drop_database(direct, force=True)
