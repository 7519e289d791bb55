"""A database migrated by the real dbmate binary, then taken over with ``migrata adopt``.

dbmate comes from its npm package (``scripts/test`` installs it under ``.ci/node``). The binary
is found through ``MIGRATA_TEST_DBMATE``, then ``.ci/node/node_modules/.bin/dbmate``, then PATH;
without it the tests skip, or fail when ``MIGRATA_REQUIRE_SERVERS`` is set.

Every engine runs: SQLite, PostgreSQL, and MariaDB/MySQL through dbmate's ``mysql://`` driver
(go-sql-driver/mysql, which speaks to MariaDB as to MySQL). The MySQL migrations are written
here rather than kept under ``tests/fixtures/layouts``: the same four steps in MySQL's SQL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from conftest import REQUIRE_SERVERS, Database, write_migrations
from migrata import Migrator

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "layouts"
VERSIONS = ["20240201100000", "20240201110000", "20240201120000", "20240201130000"]
FIXTURE = {"sqlite": "sqlite_db", "postgres": "postgres_db", "mysql": "mysql_db"}

# The fixtures' four migrations in MySQL's SQL: a table, data only, an index outside a
# transaction, and a trigger whose body holds a semicolon (no DELIMITER: dbmate sends the file
# as one multi-statement packet, and the server parses BEGIN ... END itself).
MYSQL_DBMATE = {
    "20240201100000_create_customers.sql": (
        "-- migrate:up\n"
        "CREATE TABLE customers (\n"
        "    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,\n"
        "    email VARCHAR(255) NOT NULL,\n"
        "    name TEXT NOT NULL,\n"
        "    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\n"
        ");\n\n"
        "-- migrate:down\n"
        "DROP TABLE customers;\n"
    ),
    "20240201110000_seed_customers.sql": (
        "-- migrate:up\n"
        "-- Data only: nothing to undo, so the down section is left empty on purpose.\n"
        "INSERT INTO customers (email, name) VALUES\n"
        "    ('ada@example.com', 'Ada'),\n"
        "    ('grace@example.com', 'Grace');\n\n"
        "-- migrate:down\n"
    ),
    "20240201120000_index_customers_email.sql": (
        "-- migrate:up transaction:false\n"
        "CREATE UNIQUE INDEX customers_email_key ON customers (email);\n\n"
        "-- migrate:down transaction:false\n"
        "DROP INDEX customers_email_key ON customers;\n"
    ),
    "20240201130000_customer_audit.sql": (
        "-- migrate:up\n"
        "CREATE TABLE customer_audit (\n"
        "    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,\n"
        "    customer_id BIGINT UNSIGNED NOT NULL,\n"
        "    changed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\n"
        ");\n\n"
        "CREATE TRIGGER customers_audit AFTER UPDATE ON customers\n"
        "    FOR EACH ROW\n"
        "BEGIN\n"
        "    -- a semicolon; inside the body\n"
        "    INSERT INTO customer_audit (customer_id) VALUES (NEW.id);\n"
        "END;\n\n"
        "-- migrate:down\n"
        "DROP TRIGGER customers_audit;\n"
        "DROP TABLE customer_audit;\n"
    ),
}


def find_dbmate() -> str | None:
    configured = os.environ.get("MIGRATA_TEST_DBMATE")
    if configured:
        return configured
    local = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "dbmate"
    if local.exists():
        return str(local)
    return shutil.which("dbmate")


@pytest.fixture(scope="session")
def dbmate() -> str:
    binary = find_dbmate()
    if binary is None or not Path(binary).exists():
        message = (
            "dbmate not found: set MIGRATA_TEST_DBMATE, or run "
            "`npm install --no-save --prefix .ci/node dbmate@2.36.0`"
        )
        if REQUIRE_SERVERS:
            pytest.fail(f"dbmate is required (MIGRATA_REQUIRE_SERVERS=1): {message}")
        pytest.skip(message)
    probe = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    assert probe.returncode == 0, f"{binary} --version failed: {probe.stderr}"
    return binary


def clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MIGRATA_", "DBMATE_")) and k != "DATABASE_URL"
    }


def dbmate_url(db: Database) -> str:
    """The URL of ``db`` in the form dbmate reads."""
    if db.engine == "sqlite":
        return "sqlite:" + db.url.split("sqlite:///", 1)[1]
    if db.engine == "mysql":
        return db.url  # mysql://user:password@host:port/database, as dbmate reads it
    parts = urlsplit(db.url)
    return urlunsplit(parts._replace(scheme="postgres", query="sslmode=disable"))


def run_dbmate(binary: str, db: Database, folder: Path, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [
            binary,
            "--url",
            dbmate_url(db),
            "--migrations-dir",
            str(folder),
            "--no-dump-schema",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(),
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"dbmate {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def migrata(db: Database, folder: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "migrata", "-u", db.url, "-d", str(folder), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(),
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"migrata {' '.join(args)} exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def dbmate_rows(db: Database) -> list[tuple]:  # type: ignore[type-arg]
    return sorted(db.query("SELECT * FROM schema_migrations"))


def recorded(db: Database) -> list[tuple]:  # type: ignore[type-arg]
    if not db.table_exists("migrata_history"):
        return []
    return sorted(db.query("SELECT version, success FROM migrata_history"))


def user_schema(db: Database) -> list[tuple]:  # type: ignore[type-arg]
    """Every object outside migrata's tables, dbmate's schema_migrations included."""
    if db.engine == "mysql":
        return _mysql_schema(db)
    if db.engine == "sqlite":
        return sorted(
            db.query(
                "SELECT type, name, tbl_name, sql FROM sqlite_master "
                "WHERE tbl_name NOT LIKE 'migrata\\_%' ESCAPE '\\' AND name <> 'sqlite_sequence'"
            ),
            key=repr,
        )
    dump = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "-T", "migrata_history*", "-d", db.url],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    ).stdout
    # \restrict / \unrestrict carry a random key per dump (PostgreSQL 15.14 and later).
    return [
        (line,) for line in dump.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))
    ]


def _mysql_schema(db: Database) -> list[tuple]:  # type: ignore[type-arg]
    """SHOW CREATE of every table, view, trigger and routine of the database (indexes are in
    their table's), migrata's history tables left out."""
    objects: list[tuple] = []  # type: ignore[type-arg]
    tables = db.query(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME NOT LIKE 'migrata\\_history%' ORDER BY TABLE_NAME"
    )
    for (name,) in tables:
        objects += db.query(f"SHOW CREATE TABLE `{name}`")
    for (name,) in db.query(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME"
    ):
        # Without the Created column, which SHOW CREATE TRIGGER has at position 6.
        objects += [row[:6] for row in db.query(f"SHOW CREATE TRIGGER `{name}`")]
    for name, kind in db.query(
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY ROUTINE_NAME"
    ):
        objects += db.query(f"SHOW CREATE {kind} `{name}`")
    return objects


def applied_by_dbmate(binary: str, db: Database, tmp_path: Path) -> Path:
    if db.engine == "mysql":
        folder = write_migrations(tmp_path / "dbmate", MYSQL_DBMATE)
    else:
        source = FIXTURES / _engine_dir(db) / "dbmate"
        folder = Path(shutil.copytree(source, tmp_path / "dbmate"))
    run_dbmate(binary, db, folder, "up", cwd=tmp_path)
    assert [row[0] for row in dbmate_rows(db)] == VERSIONS
    assert db.table_exists("customer_audit")
    assert not db.table_exists("migrata_history")
    return folder


def _engine_dir(db: Database) -> str:
    return "sqlite" if db.engine == "sqlite" else "postgres"


def status(db: Database, folder: Path, cwd: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(migrata(db, folder, "status", "--json", cwd=cwd).stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("engine", ["postgres", "sqlite", "mysql"])
def test_adopt_a_database_dbmate_migrated(
    engine: str, dbmate: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db: Database = request.getfixturevalue(FIXTURE[engine])
    folder = applied_by_dbmate(dbmate, db, tmp_path)
    tool_rows = dbmate_rows(db)
    schema = user_schema(db)

    # Named on SQLite, detected on PostgreSQL and MySQL.
    adopt_args = ("adopt", "--from", "dbmate") if engine == "sqlite" else ("adopt",)
    migrata(db, folder, *adopt_args, cwd=tmp_path)

    assert recorded(db) == [(v, True) for v in VERSIONS]
    up = json.loads(migrata(db, folder, "up", "--json", cwd=tmp_path).stdout)
    assert up["steps"] == []

    result = status(db, folder, tmp_path)
    assert result["layout"] == "dbmate"
    assert [(row["version"], row["state"]) for row in result["migrations"]] == [
        (v, "applied") for v in VERSIONS
    ]
    assert result["problems"] == []

    assert dbmate_rows(db) == tool_rows
    assert user_schema(db) == schema
    # dbmate still sees its own history as it left it.
    listing = run_dbmate(dbmate, db, folder, "status", cwd=tmp_path)
    assert listing.count("[X]") == len(VERSIONS) and "[ ]" not in listing


@pytest.mark.parametrize("engine", ["postgres", "sqlite", "mysql"])
def test_adopt_dry_run_records_nothing(
    engine: str, dbmate: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db: Database = request.getfixturevalue(FIXTURE[engine])
    folder = applied_by_dbmate(dbmate, db, tmp_path)
    tool_rows = dbmate_rows(db)
    schema = user_schema(db)

    migrata(db, folder, "adopt", "--dry-run", cwd=tmp_path)
    assert recorded(db) == []

    adoption = Migrator(db.url, directory=folder).adopt(dry_run=True)
    assert adoption.tool == "dbmate"
    assert adoption.table == "schema_migrations"
    assert [m.version.text for m, _ in adoption.record] == VERSIONS
    assert tuple(adoption.already) == ()
    assert tuple(adoption.pending) == ()
    assert tuple(adoption.problems) == ()
    assert recorded(db) == []

    result = status(db, folder, tmp_path)
    assert {row["state"] for row in result["migrations"]} == {"pending"}
    assert dbmate_rows(db) == tool_rows
    assert user_schema(db) == schema
