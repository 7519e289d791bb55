"""`migrata check`: every down proven, in a scratch database, to restore the schema its up
found; the database of the settings is never touched."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import clean_cli_state, run_cli  # noqa: F401 - fixtures are found by name

from conftest import Database, write_migrations
from migrata.exitcodes import ExitCode

FILES = {
    "0001_a.up.sql": "CREATE TABLE a (id INTEGER PRIMARY KEY);\n",
    "0001_a.down.sql": "DROP TABLE a;\n",
    "0002_b.up.sql": "CREATE TABLE b (id INTEGER);\nCREATE INDEX b_id ON b (id);\n",
    "0002_b.down.sql": "DROP TABLE b;\n",
    "0003_n.up.sql": "ALTER TABLE a ADD COLUMN n INTEGER;\n",
    "0003_n.down.sql": "ALTER TABLE a DROP COLUMN n;\n",
}


def test_every_down_restores_its_schema(run_cli, sqlite_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", FILES)
    result = run_cli("-u", sqlite_db.url, "-d", folder, "check")
    assert result.code == 0, result.output
    for label in ("0003_n", "0002_b", "0001_a"):
        assert f"ok       down of {label} restores the schema" in result.out
    assert not Path(sqlite_db.url.removeprefix("sqlite:///")).exists()  # never touched


def test_a_down_that_leaves_something_is_named_with_the_difference(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", {**FILES, "0002_b.down.sql": "DROP INDEX b_id;\n"})
    result = run_cli("-u", sqlite_db.url, "-d", folder, "check", "--json")
    assert result.code == ExitCode.VALIDATION, result.output
    report = json.loads(result.out)
    outcomes = {s["version"]: s["outcome"] for s in report["steps"]}
    assert outcomes == {"0003": "restores", "0002": "differs", "0001": "restores"}
    (step,) = [s for s in report["steps"] if s["version"] == "0002"]
    assert step["difference"] == ['+CREATE TABLE "b" (', '+    "id" INTEGER,', "+);"]
    assert report["reapplied"] and "table b already exists" in report["reapplied"][0]
    text = run_cli("-u", sqlite_db.url, "-d", folder, "check").out
    assert "DIFFERS  down of 0002_b does not restore the schema:" in text
    assert 'leaves  CREATE TABLE "b" (' in text


def test_from_checks_only_the_newer_ones_and_a_missing_down_stops_the_walk(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    files = {k: v for k, v in FILES.items() if k != "0002_b.down.sql"}
    folder = write_migrations(tmp_path / "m", files)
    result = run_cli("-u", sqlite_db.url, "-d", folder, "check", "--json")
    assert result.code == 0, result.output
    steps = json.loads(result.out)["steps"]
    assert [(s["version"], s["outcome"]) for s in steps] == [
        ("0003", "restores"),
        ("0002", "no-down"),
    ]
    newer = json.loads(
        run_cli("-u", sqlite_db.url, "-d", folder, "check", "--from", "0003", "--json").out
    )
    assert newer["applied"] == ["0003"] and [s["version"] for s in newer["steps"]] == ["0003"]


def test_a_server_needs_a_dev_url(run_cli, postgres_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", FILES)
    result = run_cli("-u", postgres_db.url, "-d", folder, "check")
    assert result.code == ExitCode.USAGE and "--dev-url" in result.err


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_check_on_a_server_in_a_scratch_database(
    run_cli, request: pytest.FixtureRequest, engine: str, tmp_path: Path
) -> None:
    db: Database = request.getfixturevalue("postgres_db" if engine == "postgresql" else "mysql_db")
    index = "CREATE INDEX b_id ON b (id);\n"
    files = {
        "0001_b.up.sql": "CREATE TABLE b (id INTEGER, note VARCHAR(20));\n",
        "0001_b.down.sql": "DROP TABLE b;\n",
        "0002_i.up.sql": index,
        "0002_i.down.sql": "SELECT 1;\n",  # forgets the index
    }
    folder = write_migrations(tmp_path / "m", files)
    result = run_cli("-u", db.url, "--dev-url", db.url, "-d", folder, "check", "--json")
    assert result.code == ExitCode.VALIDATION, result.output
    report = json.loads(result.out)
    (step,) = [s for s in report["steps"] if s["version"] == "0002"]
    assert step["outcome"] == "differs"
    assert any("b_id" in line and line.startswith("+") for line in step["difference"])
    assert not db.table_exists("b")  # the database itself was never touched


def test_repeatable_migrations_must_be_idempotent(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    """Repeatables run again whenever they change: check runs each a second time."""
    folder = write_migrations(
        tmp_path / "flyway",
        {
            "V1__t.sql": "CREATE TABLE t (id INTEGER);\n",
            "R__view.sql": "DROP VIEW IF EXISTS v;\nCREATE VIEW v AS SELECT id FROM t;\n",
        },
    )
    good = run_cli("-u", sqlite_db.url, "-d", folder, "check", "--json")
    assert good.code == 0, good.output
    (repeated,) = json.loads(good.out)["repeated"]
    assert repeated["outcome"] == "restores" and repeated["name"] == "view"
    write_migrations(folder, {"R__column.sql": "ALTER TABLE t ADD COLUMN n INTEGER;\n"})
    bad = run_cli("-u", sqlite_db.url, "-d", folder, "check")
    assert bad.code == ExitCode.VALIDATION, bad.output
    assert "FAILED   running" in bad.out and "duplicate column name: n" in bad.out
