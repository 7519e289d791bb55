"""`migrata drift`: a hotfix index added by hand, a column dropped by hand and an edited
applied file, each shown; the live database is only read."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import clean_cli_state, run_cli  # noqa: F401 - fixtures are found by name

from conftest import Database, write_migrations
from migrata.exitcodes import ExitCode

FILES = {
    "0001_users.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(80));\n",
    "0002_note.sql": "ALTER TABLE users ADD COLUMN note VARCHAR(20);\n",
}


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def live(request: pytest.FixtureRequest) -> Database:
    name = {"sqlite": "sqlite_db", "postgresql": "postgres_db", "mysql": "mysql_db"}
    return request.getfixturevalue(name[request.param])  # type: ignore[no-any-return]


def _dev(db: Database) -> list[str]:
    return [] if db.engine == "sqlite" else ["--dev-url", db.url]


def test_no_drift_right_after_up(run_cli, live: Database, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", FILES)
    assert run_cli("-u", live.url, "-d", folder, "up").code == 0
    result = run_cli("-u", live.url, *_dev(live), "-d", folder, "drift")
    assert result.code == 0, result.output
    assert result.out.rstrip().endswith("no drift")


def test_a_hotfix_index_a_dropped_column_and_an_edited_file(
    run_cli, live: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", FILES)
    assert run_cli("-u", live.url, "-d", folder, "up").code == 0
    live.query("CREATE INDEX hotfix_email ON users (email)")
    live.query("ALTER TABLE users DROP COLUMN note")
    (folder / "0001_users.sql").write_text(FILES["0001_users.sql"] + "-- edited\n")
    result = run_cli("-u", live.url, *_dev(live), "-d", folder, "drift", "--json")
    assert result.code == ExitCode.VALIDATION, result.output
    report = json.loads(result.out)
    assert report["version"] == "0002" and report["changed"] == ["0001_users"]
    assert any("hotfix_email" in line for line in report["extra"]), report
    assert any("note" in line for line in report["missing"]), report
    if live.engine != "mysql":  # MySQL shows indexes inside its table's CREATE
        assert "DROP INDEX hotfix_email;" in report["repair"]
    text = run_cli("-u", live.url, *_dev(live), "-d", folder, "drift").out
    assert "in the database, made by no migration:" in text
    assert "applied files edited since" in text and "0001_users" in text
