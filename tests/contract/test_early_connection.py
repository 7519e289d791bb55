"""The connection ``status`` and ``up`` open in a thread while the folder is read: what opening
it raises is what opening it in the caller's thread raises (same class, same message, no
password), a folder that cannot be read closes it, and it is the connection the call uses."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from conftest import POSTGRES_ADMIN_URL, Database
from migrata import Migrator
from migrata.errors import ConfigError, MigrataError
from migrata.session import Connector

_PASSWORD = "early-pw-8812"


def _with(url: str, *, port: int | None = None, dbname: str | None = None) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{parts.username or 'postgres'}:{_PASSWORD}@{host}:{port or parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc, path="/" + (dbname or parts.path[1:])))


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_t.sql").write_text("CREATE TABLE t (id int PRIMARY KEY);\n")
    return folder


def _error_in_the_callers_thread(url: str) -> MigrataError:
    connector = Connector(Migrator(url, directory="unused").settings)
    with pytest.raises(MigrataError) as raised, connector.open():
        pass
    return raised.value


def _connect_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "migrata-connect"]


def _wait_for_connect_threads() -> None:
    deadline = time.monotonic() + 30
    while _connect_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _connect_threads() == []


@pytest.mark.parametrize("case", ["no database", "no server"])
@pytest.mark.parametrize("command", ["status", "up"])
def test_an_error_of_the_early_connection_is_the_error_of_a_connection(
    postgres_db: Database, tmp_path: Path, case: str, command: str
) -> None:
    url = (
        _with(postgres_db.url, dbname="migrata_no_such_database")
        if case == "no database"
        else _with(postgres_db.url, port=1)  # nothing listens on port 1
    )
    expected = _error_in_the_callers_thread(url)
    migrator = Migrator(url, directory=str(_folder(tmp_path)))
    with pytest.raises(MigrataError) as raised:
        getattr(migrator, command)()
    assert type(raised.value) is type(expected)
    assert str(raised.value) == str(expected)
    assert _PASSWORD not in str(raised.value)
    assert "cannot connect" in str(raised.value)
    _wait_for_connect_threads()


def _connections_to(dbname: str) -> int:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("command", ["status", "up"])
def test_an_unknown_folder_closes_the_early_connection(
    postgres_db: Database, tmp_path: Path, command: str
) -> None:
    dbname = urlsplit(postgres_db.url).path[1:]
    migrator = Migrator(postgres_db.url, directory=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="does not exist"):
        getattr(migrator, command)()
    _wait_for_connect_threads()
    deadline = time.monotonic() + 10  # (the server notices a closed connection at once)
    while _connections_to(dbname) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _connections_to(dbname) == 0


def test_the_early_connection_is_the_one_used(postgres_db: Database, tmp_path: Path) -> None:
    """``up`` then ``status``: each opens one connection (the early one), and closes it."""
    dbname = urlsplit(postgres_db.url).path[1:]
    folder = _folder(tmp_path)
    migrator = Migrator(postgres_db.url, directory=str(folder))
    opened: list[object] = []
    connector = migrator._connector
    real_start = connector.start_connecting

    def start(*, writing: bool = False) -> None:
        real_start(writing=writing)
        opened.append(connector._early)

    connector.start_connecting = start  # type: ignore[method-assign]
    report = migrator.up()
    assert [str(s.version) for s in report.steps] == ["0001"]
    assert len(opened) == 1 and opened[0] is not None
    assert connector._early is None  # taken by the run
    (entry,) = Migrator(postgres_db.url, directory=str(folder)).status()
    assert entry.state.value == "applied"
    _wait_for_connect_threads()
    assert _connections_to(dbname) == 0


def test_a_file_based_engine_connects_in_the_callers_thread(tmp_path: Path) -> None:
    """SQLite's connections stay in the thread that opened them: no early connection."""
    migrator = Migrator(f"sqlite:///{tmp_path / 'app.db'}", directory=str(_folder(tmp_path)))
    migrator.start_connecting()
    assert migrator._connector._early is None
    migrator.up()
    (entry,) = migrator.status()
    assert entry.state.value == "applied"
