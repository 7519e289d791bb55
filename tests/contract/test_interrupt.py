"""Ctrl-C in the middle of a migration: rolled back, lock released, exit 130 (PostgreSQL, and
MySQL/MariaDB with a data-only migration, which runs in one transaction there)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from conftest import Database, write_migrations
from migrata import Migrator


def interrupt_up(url: str, folder: Path, busy: Callable[[], bool]) -> tuple[int, str, float]:
    """Start ``migrata up``, send SIGINT once ``busy()`` says the slow statement runs; the
    exit code, stderr and how long the process took to stop."""
    process = subprocess.Popen(
        [sys.executable, "-m", "migrata", "-u", url, "-d", str(folder), "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if busy():
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the slow migration never started")
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        return process.returncode, err, time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()


def test_ctrl_c_rolls_back_and_releases_the_lock(postgres_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_fast.sql": "CREATE TABLE fast (id int);\n",
            "0002_slow.sql": "CREATE TABLE slow (id int);\nSELECT pg_sleep(60);\n",
        },
    )

    def busy() -> bool:
        rows = postgres_db.query(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            # Several migrations travel in one message, whose text may be cut off before it.
            "AND (query LIKE '%pg_sleep(60)%' OR wait_event = 'PgSleep')"
        )
        return bool(rows[0][0])

    code, err, took = interrupt_up(postgres_db.url, folder, busy)
    assert code == 130, err
    assert took < 10  # the statement was cancelled, not waited for
    assert "Traceback" not in err
    assert postgres_db.table_exists("fast")
    assert not postgres_db.table_exists("slow")
    assert postgres_db.query("SELECT version FROM migrata_history") == [("0001",)]
    # The lock went with the run: the next one takes it at once.
    (folder / "0002_slow.sql").write_text("CREATE TABLE slow (id int);\n", encoding="utf-8")
    assert Migrator(postgres_db.url, directory=folder, lock_timeout=0).up().versions == ("0002",)


def test_mysql_ctrl_c_rolls_back_and_releases_the_lock(mysql_db: Database, tmp_path: Path) -> None:
    # Data only, so the slow migration runs in one transaction (DDL would commit on its own).
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_fast.sql": "CREATE TABLE fast (id int);\n",
            "0002_slow.sql": "INSERT INTO fast (id) VALUES (1);\nSELECT SLEEP(60);\n",
        },
    )

    def busy() -> bool:
        rows = mysql_db.query(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
            "WHERE INFO LIKE %s AND ID <> CONNECTION_ID()",
            ("%SLEEP(60)%",),
        )
        return bool(rows[0][0])

    try:
        code, err, took = interrupt_up(mysql_db.url, folder, busy)
        assert code == 130, err
        assert took < 10
        assert "Traceback" not in err
        assert mysql_db.query("SELECT COUNT(*) FROM fast") == [(0,)]  # the INSERT: not committed
        assert mysql_db.query("SELECT version FROM migrata_history") == [("0001",)]
        # The lock went with the run: the next one takes it at once.
        (folder / "0002_slow.sql").write_text(
            "INSERT INTO fast (id) VALUES (2);\n", encoding="utf-8"
        )
        assert Migrator(mysql_db.url, directory=folder, lock_timeout=0).up().versions == ("0002",)
        assert mysql_db.query("SELECT id FROM fast") == [(2,)]
        assert not busy(), "the interrupted statement still runs on the server"
    finally:
        # Whatever happened, no session of this test sleeps on (or blocks DROP DATABASE).
        for (ident,) in mysql_db.query(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
            "AND INFO LIKE %s AND ID <> CONNECTION_ID()",
            ("%SLEEP(60)%",),
        ):
            mysql_db.query(f"KILL {int(ident)}")
