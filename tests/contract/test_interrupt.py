"""Ctrl-C in the middle of a migration: rolled back, lock released, exit 130 (PostgreSQL)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import Database, write_migrations
from migrata import Migrator


def test_ctrl_c_rolls_back_and_releases_the_lock(postgres_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_fast.sql": "CREATE TABLE fast (id int);\n",
            "0002_slow.sql": "CREATE TABLE slow (id int);\nSELECT pg_sleep(60);\n",
        },
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "migrata", "-u", postgres_db.url, "-d", str(folder), "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            busy = postgres_db.query(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE '%pg_sleep(60)%' "
                "AND pid <> pg_backend_pid()"
            )
            if busy[0][0]:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the slow migration never started")
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert time.monotonic() - started < 10  # the statement was cancelled, not waited for
    assert "Traceback" not in err
    assert postgres_db.table_exists("fast")
    assert not postgres_db.table_exists("slow")
    assert postgres_db.query("SELECT version FROM migrata_history") == [("0001",)]
    # The lock went with the run: the next one takes it at once.
    (folder / "0002_slow.sql").write_text("CREATE TABLE slow (id int);\n", encoding="utf-8")
    assert Migrator(postgres_db.url, directory=folder, lock_timeout=0).up().versions == ("0002",)
