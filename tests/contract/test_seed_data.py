"""Seed data on every engine: applied with --env dev, never in production; and PostgreSQL
extensions created before the migrations."""

from __future__ import annotations

from pathlib import Path

import pytest

import migrata
from conftest import Database, write_migrations
from migrata import Migrator, State


def folders(tmp_path: Path, engine: str) -> tuple[Path, Path]:
    table = "CREATE TABLE notes (id INTEGER, title VARCHAR(100))"
    if engine == "clickhouse":
        table += " ENGINE = MergeTree ORDER BY id"
    main = write_migrations(
        tmp_path / "migrations",
        {
            "0001_notes.sql": f"{table};\n",
            "0002_qa_only.sql": "-- migrata: environments=qa\n"
            "INSERT INTO notes (id, title) VALUES (2, 'qa');\n",
        },
    )
    seeds = write_migrations(
        tmp_path / "seeds",
        {"0100_demo.sql": "INSERT INTO notes (id, title) VALUES (100, 'demo');\n"},
    )
    return main, seeds


def test_seeds_load_in_dev_and_never_in_production(db: Database, tmp_path: Path) -> None:
    main, seeds = folders(tmp_path, db.engine)
    production = Migrator(db.url, directory=main, seeds_dir=seeds)
    report = production.up()
    assert report.versions == ("0001",)
    assert db.query("SELECT id FROM notes ORDER BY id") == []
    states = {e.version.text: e.state for e in production.status()}
    assert states == {
        "0001": State.APPLIED,
        "0002": State.NOT_APPLICABLE,
        "0100": State.NOT_APPLICABLE,
    }
    assert production.is_up_to_date()
    assert Migrator(db.url, directory=main, environment="production").up().versions == ()

    dev = Migrator(db.url, directory=main, seeds_dir=seeds, environment="dev")
    assert not dev.is_up_to_date()
    assert dev.up().versions == ("0100",)
    assert db.query("SELECT id FROM notes ORDER BY id") == [(100,)]
    assert dev.is_up_to_date()

    qa = Migrator(db.url, directory=main, seeds_dir=seeds, environment="qa")
    assert qa.up().versions == ("0002",)
    assert db.query("SELECT id FROM notes ORDER BY id") == [(2,), (100,)]
    # Back in production, what dev and qa applied shows as applied: the history wins.
    states = {e.version.text: e.state for e in production.status()}
    assert set(states.values()) == {State.APPLIED}


def test_the_cli_and_migrate_read_the_environment(
    server_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    main, seeds = folders(tmp_path, server_db.engine)
    monkeypatch.setenv("MIGRATA_ENV", "test")
    report = migrata.migrate(server_db.url, directory=main, seeds_dir=seeds)
    assert report is not None and report.versions == ("0001", "0100")
    monkeypatch.delenv("MIGRATA_ENV")
    again = migrata.migrate(server_db.url, directory=main, seeds_dir=seeds)
    assert again is not None and again.versions == ()


def test_extensions_are_created_before_the_migrations(
    postgres_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {"0001_tokens.sql": "CREATE TABLE tokens (id uuid DEFAULT gen_random_uuid(), t citext);\n"},
    )
    Migrator(postgres_db.url, directory=folder, extensions=("pgcrypto", "citext")).up()
    names = {n for (n,) in postgres_db.query("SELECT extname FROM pg_extension")}
    assert {"pgcrypto", "citext"} <= names
    # Idempotent, also when nothing is left to apply.
    assert Migrator(postgres_db.url, directory=folder, extensions=("pgcrypto",)).up().versions == ()


def test_a_missing_extension_stops_the_run_before_any_migration(
    postgres_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", {"0001_t.sql": "CREATE TABLE t (id int);\n"})
    with pytest.raises(migrata.ExecutionError, match="creating extension 'no_such_ext' failed"):
        Migrator(postgres_db.url, directory=folder, extensions=("no_such_ext",)).up()
    assert not postgres_db.table_exists("t")


def test_extensions_are_refused_on_other_engines(sqlite_db: Database, tmp_path: Path) -> None:
    with pytest.raises(migrata.ConfigError, match="PostgreSQL's"):
        Migrator(sqlite_db.url, directory=tmp_path, extensions=("pgcrypto",))
