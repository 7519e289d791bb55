"""`migrata squash --to V`: the migrations up to V replaced by one baseline of the schema they
build; a database that applied them sees it as applied, a new one runs it, and both end with
the same schema."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import clean_cli_state, run_cli  # noqa: F401 - fixtures are found by name

from conftest import Database, write_migrations
from migrata import Migrator
from migrata.exitcodes import ExitCode

FILES = {
    "0001_a.up.sql": "CREATE TABLE a (id INTEGER PRIMARY KEY, v VARCHAR(20) CHECK (v <> ''));\n",
    "0001_a.down.sql": "DROP TABLE a;\n",
    "0002_i.sql": "CREATE INDEX a_v ON a (v);\n",
    "0003_c.sql": "CREATE TABLE c (id INTEGER REFERENCES a (id));\n",
}


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mysql"])
def test_squash_keeps_old_databases_applied_and_builds_new_ones_the_same(
    run_cli, request: pytest.FixtureRequest, engine: str, tmp_path: Path
) -> None:
    fixture = {"sqlite": "sqlite_db", "postgresql": "postgres_db", "mysql": "mysql_db"}[engine]
    old: Database = request.getfixturevalue(fixture)
    dev = [] if engine == "sqlite" else ["--dev-url", old.url]
    folder = write_migrations(tmp_path / "m", FILES)
    assert run_cli("-u", old.url, "-d", folder, "up").code == 0
    before = Migrator(old.url, directory=folder).dump().split("\n", 1)[1]

    dry = run_cli("-u", old.url, *dev, "-d", folder, "squash", "--to", "0002", "--dry-run")
    assert dry.code == 0, dry.output
    assert "-- migrata: squashes=0001..0002" in dry.out
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)  # nothing changed

    done = run_cli("-u", old.url, *dev, "-d", folder, "squash", "--to", "0002")
    assert done.code == 0, done.output
    assert sorted(p.name for p in folder.iterdir()) == ["0002_squashed.sql", "0003_c.sql"]
    baseline = (folder / "0002_squashed.sql").read_text()
    assert baseline.startswith("-- migrata: squashes=0001..0002\n")
    assert "CHECK" in baseline and "a_v" in baseline  # the whole schema, constraints included

    # The database that applied 0001 and 0002 sees the baseline as applied.
    assert run_cli("-u", old.url, "-d", folder, "validate").code == 0
    status = Migrator(old.url, directory=folder).status()
    assert [(e.version.text, e.state.value) for e in status] == [
        ("0002", "applied"),
        ("0003", "applied"),
    ]
    assert Migrator(old.url, directory=folder).up().steps == ()

    # A new database runs it, and ends with the same schema (built in a scratch database).
    from migrata.scratch import scratch_database

    with scratch_database(old.url) as other:
        new = Migrator(other, directory=folder)
        assert [s.version for s in new.up().steps] == ["0002", "0003"]
        assert new.dump().split("\n", 1)[1] == before


def test_squash_refuses_what_it_cannot_rewrite(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", FILES)
    unknown = run_cli("-u", sqlite_db.url, "-d", folder, "squash", "--to", "0042")
    assert unknown.code == ExitCode.VALIDATION and "0042" in unknown.err
    other = write_migrations(
        tmp_path / "goose",
        {"00001_a.sql": "-- +goose Up\nCREATE TABLE a (id int);\n-- +goose Down\nDROP TABLE a;\n"},
    )
    refused = run_cli("-u", sqlite_db.url, "-d", other, "squash", "--to", "1")
    assert refused.code == ExitCode.USAGE and "migrata's own layout" in refused.err
    assert (other / "00001_a.sql").exists()
