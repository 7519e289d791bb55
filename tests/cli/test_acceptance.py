"""The foundation's acceptance scenario, end to end through the real command on PostgreSQL,
and the same scenario on MySQL/MariaDB."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import Database, write_migrations

FILES = {
    "0001_accounts.up.sql": (
        "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL);\n"
        "INSERT INTO accounts VALUES (1, 'a@example.com');\n"
    ),
    "0001_accounts.down.sql": "DROP TABLE accounts;\n",
    "0002_touch_function.up.sql": (
        "CREATE FUNCTION touch(n int) RETURNS int LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  RETURN n + 1; -- a semicolon inside the body\n"
        "END;\n"
        "$$;\n"
    ),
    "0002_touch_function.down.sql": "DROP FUNCTION touch(int);\n",
    "0003_accounts_email.up.sql": (
        "-- migrata: no-transaction\n"
        "CREATE INDEX CONCURRENTLY accounts_email ON accounts (email);\n"
    ),
    "0003_accounts_email.down.sql": (
        "-- migrata: no-transaction\nDROP INDEX CONCURRENTLY accounts_email;\n"
    ),
}


def migrata(url: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrata", "-u", url, "-d", str(folder), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_three_migrations_up_status_down_up_drift_and_crlf(
    postgres_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", FILES)
    url = postgres_db.url

    result = migrata(url, folder, "up")
    assert result.returncode == 0, result.stderr
    assert postgres_db.query("SELECT touch(41)") == [(42,)]
    assert postgres_db.query(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'accounts_email'::regclass"
    ) == [(True,)]

    status = migrata(url, folder, "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert [(m["version"], m["state"]) for m in data["migrations"]] == [
        ("0001", "applied"),
        ("0002", "applied"),
        ("0003", "applied"),
    ]
    assert data["counts"]["applied"] == 3

    result = migrata(url, folder, "down", "--all")
    assert result.returncode == 0, result.stderr
    assert not postgres_db.table_exists("accounts")
    assert postgres_db.query("SELECT count(*) FROM pg_proc WHERE proname = 'touch'") == [(0,)]

    result = migrata(url, folder, "up")
    assert result.returncode == 0, result.stderr
    assert "applied 0003_accounts_email" in result.stdout

    # A CRLF (and BOM) copy of the folder is the same migrations: nothing to do, no drift.
    crlf = tmp_path / "crlf"
    crlf.mkdir()
    for path in folder.iterdir():
        text = path.read_bytes().replace(b"\n", b"\r\n")
        (crlf / path.name).write_bytes(b"\xef\xbb\xbf" + text)
    result = migrata(url, crlf, "up")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout

    # Editing an applied file makes `up` refuse and name it, changing nothing.
    edited = tmp_path / "edited"
    shutil.copytree(folder, edited)
    (edited / "0002_touch_function.up.sql").write_text(
        FILES["0002_touch_function.up.sql"].replace("n + 1", "n + 2"), encoding="utf-8"
    )
    (edited / "0004_more.sql").write_text("CREATE TABLE more (id int);\n", encoding="utf-8")
    result = migrata(url, edited, "up")
    assert result.returncode == 3
    assert "0002_touch_function" in result.stderr
    assert "0002_touch_function.up.sql" in result.stderr
    assert not postgres_db.table_exists("more")
    assert postgres_db.query("SELECT touch(41)") == [(42,)]


def test_plan_json_lists_the_statements_with_their_positions(
    postgres_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", FILES)
    result = migrata(postgres_db.url, folder, "plan", "--json")
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)
    assert [(s["version"], s["transactional"]) for s in steps] == [
        ("0001", True),
        ("0002", True),
        ("0003", False),
    ]
    assert [st["line"] for st in steps[0]["statements"]] == [1, 2]
    assert steps[1]["statements"][0]["sql"].startswith("CREATE FUNCTION touch")
    assert "RETURN n + 1;" in steps[1]["statements"][0]["sql"]
    assert not postgres_db.table_exists("migrata_history")  # plan creates nothing


# -- the same scenario on MySQL/MariaDB ---------------------------------------------------------
#
# DDL commits implicitly there, so every migration below runs statement by statement with its
# progress recorded; the function body keeps its semicolons without a DELIMITER line.

FILES_MYSQL = {
    "0001_accounts.up.sql": (
        "CREATE TABLE accounts (id BIGINT PRIMARY KEY, email VARCHAR(255) NOT NULL);\n"
        "INSERT INTO accounts VALUES (1, 'a@example.com');\n"
    ),
    "0001_accounts.down.sql": "DROP TABLE accounts;\n",
    "0002_touch_function.up.sql": (
        "CREATE FUNCTION touch(n INT) RETURNS INT DETERMINISTIC\n"
        "BEGIN\n"
        "  RETURN n + 1; -- a semicolon inside the body\n"
        "END;\n"
    ),
    "0002_touch_function.down.sql": "DROP FUNCTION touch;\n",
    "0003_accounts_email.up.sql": "CREATE INDEX accounts_email ON accounts (email);\n",
    "0003_accounts_email.down.sql": "DROP INDEX accounts_email ON accounts;\n",
}


def mysql_index_exists(db: Database, table: str, index: str) -> bool:
    rows = db.query(
        "SELECT COUNT(*) FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = %s",
        (table, index),
    )
    return bool(rows[0][0])


def mysql_function_exists(db: Database, name: str) -> bool:
    rows = db.query(
        "SELECT COUNT(*) FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = %s",
        (name,),
    )
    return bool(rows[0][0])


def test_mysql_three_migrations_up_status_down_up_drift_and_crlf(
    mysql_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", FILES_MYSQL)
    url = mysql_db.url

    result = migrata(url, folder, "up")
    assert result.returncode == 0, result.stderr
    assert mysql_db.query("SELECT touch(41)") == [(42,)]
    assert mysql_index_exists(mysql_db, "accounts", "accounts_email")

    status = migrata(url, folder, "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert [(m["version"], m["state"]) for m in data["migrations"]] == [
        ("0001", "applied"),
        ("0002", "applied"),
        ("0003", "applied"),
    ]
    assert data["counts"]["applied"] == 3
    assert [(m["statements_done"], m["statements_total"]) for m in data["migrations"]] == [
        (2, 2),
        (1, 1),
        (1, 1),
    ]

    result = migrata(url, folder, "down", "--all")
    assert result.returncode == 0, result.stderr
    assert not mysql_db.table_exists("accounts")
    assert not mysql_function_exists(mysql_db, "touch")

    result = migrata(url, folder, "up")
    assert result.returncode == 0, result.stderr
    assert "applied 0003_accounts_email" in result.stdout

    # A CRLF (and BOM) copy of the folder is the same migrations: nothing to do, no drift.
    crlf = tmp_path / "crlf"
    crlf.mkdir()
    for path in folder.iterdir():
        text = path.read_bytes().replace(b"\n", b"\r\n")
        (crlf / path.name).write_bytes(b"\xef\xbb\xbf" + text)
    result = migrata(url, crlf, "up")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout

    # Editing an applied file makes `up` refuse and name it, changing nothing.
    edited = tmp_path / "edited"
    shutil.copytree(folder, edited)
    (edited / "0002_touch_function.up.sql").write_text(
        FILES_MYSQL["0002_touch_function.up.sql"].replace("n + 1", "n + 2"), encoding="utf-8"
    )
    (edited / "0004_more.sql").write_text("CREATE TABLE more (id int);\n", encoding="utf-8")
    result = migrata(url, edited, "up")
    assert result.returncode == 3
    assert "0002_touch_function" in result.stderr
    assert "0002_touch_function.up.sql" in result.stderr
    assert not mysql_db.table_exists("more")
    assert mysql_db.query("SELECT touch(41)") == [(42,)]


def test_mysql_plan_json_lists_the_statements_with_their_positions(
    mysql_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", FILES_MYSQL)
    result = migrata(mysql_db.url, folder, "plan", "--json")
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)
    assert [(s["version"], s["transactional"]) for s in steps] == [
        ("0001", False),
        ("0002", False),
        ("0003", False),
    ]
    assert [s["transaction_note"].split(" (line 1)")[0] for s in steps] == [
        "CREATE TABLE",
        "CREATE FUNCTION",
        "CREATE INDEX",
    ]
    assert [st["line"] for st in steps[0]["statements"]] == [1, 2]
    assert len(steps[1]["statements"]) == 1  # the body's semicolon does not split it
    assert steps[1]["statements"][0]["sql"].startswith("CREATE FUNCTION touch")
    assert "RETURN n + 1;" in steps[1]["statements"][0]["sql"]
    assert not mysql_db.table_exists("migrata_history")  # plan creates nothing
