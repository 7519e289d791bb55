"""The baseline's reading rules on small folders: each layout's order, transaction flags and
downs as its tool has them (baseline.py), and the clients' command lines (engines.py), which
must never carry a password."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from . import engines
from .baseline import LayoutError, has_sql, read_layout


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    return folder


def test_has_sql_ignores_comments_semicolons_and_space() -> None:
    assert not has_sql("")
    assert not has_sql("-- only a comment\n\n/* and\n a block */ ;\n")
    assert has_sql("-- comment\nDROP TABLE t;")
    assert has_sql("DROP TABLE t")


def test_diesel_orders_by_version_text_without_dashes(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "9_late/up.sql": "CREATE TABLE c (x int);",
            "2018-04-22-093322_first/up.sql": "CREATE TABLE a (x int);",
            "2018-04-22-093322_first/down.sql": "-- nothing to undo\n",
            "20180422093323_second/up.sql": "CREATE TABLE b (x int);",
            "20180422093323_second/down.sql": "DROP TABLE b;",
            "20180422093323_second/metadata.toml": "run_in_transaction = false\n",
        },
    )
    migrations = read_layout("diesel", tmp_path)
    # String order: "9" sorts after "2018…" although 9 < 20180422093322 as numbers.
    assert [m.version for m in migrations] == ["20180422093322", "20180422093323", "9"]
    first, second, late = migrations
    assert (first.down_sql, first.has_down) == (None, True)
    assert (late.down_sql, late.has_down) == (None, False)
    assert second.down_sql == "DROP TABLE b;"
    assert [m.transactional for m in migrations] == [True, False, True]


def test_sqlx_orders_numerically_and_reads_no_transaction(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "10_c.up.sql": "CREATE TABLE c (x int);",
            "10_c.down.sql": "DROP TABLE c;",
            "2_b.sql": "CREATE TABLE b (x int);",
            "1_a.sql": "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);",
            "README.md": "not a migration",
        },
    )
    migrations = read_layout("sqlx", tmp_path)
    assert [m.version for m in migrations] == ["1", "2", "10"]
    assert [m.transactional for m in migrations] == [False, True, True]
    assert [m.has_down for m in migrations] == [False, False, True]


def test_golang_migrate_pairs_up_and_down_by_version(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "2_create.up.sql": "CREATE TABLE b (x int);",
            "2_create_renamed.down.sql": "DROP TABLE b;",
            "10_more.up.sql": "CREATE TABLE c (x int);",
            "atlas.sum": "h1:whatever",
        },
    )
    migrations = read_layout("golang-migrate", tmp_path)
    assert [m.version for m in migrations] == ["2", "10"]
    assert migrations[0].down_sql == "DROP TABLE b;"
    assert not migrations[1].has_down


def test_goose_sections_and_no_transaction_before_up(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "20_b.sql": (
                "-- needed for CONCURRENTLY\n-- +goose NO TRANSACTION \n"
                "-- +goose Up \nCREATE INDEX CONCURRENTLY i ON t (x);\n"
                "-- +goose Down\n-- SQL section 'Down' is executed on rollback\n"
            ),
            "3_a.sql": "\n-- +goose Up\nCREATE TABLE t (x int);\n-- +goose Down\nDROP TABLE t;\n",
            "100_c.sql": "-- +goose Up\nCREATE TABLE c (x int);\n",
        },
    )
    migrations = read_layout("goose", tmp_path)
    assert [m.version for m in migrations] == ["3", "20", "100"]
    first, second, third = migrations
    assert "DROP TABLE" not in first.up_sql and first.down_sql == "DROP TABLE t;\n"
    assert not second.transactional and "CONCURRENTLY" in second.up_sql
    assert (second.down_sql, second.has_down) == (None, True)
    assert (third.down_sql, third.has_down) == (None, False)


def test_flyway_compares_version_parts_as_integers(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "V2__two.sql": "SELECT 2;",
            "V1_10__ten.sql": "SELECT 10;",
            "V1.2__two_parts.sql": "SELECT 12;",
            "V1_2_1__three_parts.sql": "SELECT 121;",
        },
    )
    assert [m.version for m in read_layout("flyway", tmp_path)] == ["1.2", "1.2.1", "1.10", "2"]
    _write(tmp_path, {"V1_2_0__same_as_1_2.sql": "SELECT 0;"})
    with pytest.raises(LayoutError):
        read_layout("flyway", tmp_path)


def test_drizzle_follows_the_journal_not_the_file_names(tmp_path: Path) -> None:
    journal = {"entries": [{"idx": 0, "tag": "0002_b"}, {"idx": 1, "tag": "0001_a"}]}
    _write(
        tmp_path,
        {
            "meta/_journal.json": json.dumps(journal),
            "0001_a.sql": "CREATE TABLE a (x int);",
            "0002_b.sql": "CREATE TABLE b (x int);\n--> statement-breakpoint\n",
        },
    )
    migrations = read_layout("drizzle", tmp_path)
    assert [m.up_path.name for m in migrations] == ["0002_b.sql", "0001_a.sql"]
    assert all(m.transactional and not m.has_down for m in migrations)


def test_dbmate_orders_by_file_name_and_reads_transaction_options(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "3_late.sql": "-- migrate:up\nCREATE TABLE c (x int);\n-- migrate:down\n",
            "20200101_first.sql": (
                "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (x);\n"
                "-- migrate:down\nDROP INDEX i;\n"
            ),
            ".sqlfluff": "[sqlfluff]\n",
        },
    )
    migrations = read_layout("dbmate", tmp_path)
    # File-name order: "20200101_first.sql" < "3_late.sql" as strings.
    assert [m.version for m in migrations] == ["20200101", "3"]
    first, late = migrations
    assert not first.transactional and first.down_transactional
    assert "DROP INDEX i;" in (first.down_sql or "")
    assert (late.down_sql, late.has_down) == (None, True)


class _Recorder:
    """Stands in for subprocess.run and keeps each command with its environment."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        self.calls.append((command, kwargs["env"]))
        return subprocess.CompletedProcess(command, 0, b"", b"")


@pytest.mark.parametrize(
    ("dialect", "url", "variable"),
    [
        ("pg", "postgresql://alice:s3cr%40t-pw@db.example:6543/admin", "PGPASSWORD"),
        ("mysql", "mysql://alice:s3cr%40t-pw@db.example:3307/mysql", "MYSQL_PWD"),
    ],
)
def test_clients_get_the_password_from_the_environment_only(
    dialect: str, url: str, variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        db = engines.new_database(dialect, label="x", workdir=tmp_path, admin_urls={dialect: url})
    except engines.Unavailable as exc:
        pytest.skip(str(exc))
    recorder = _Recorder()
    monkeypatch.setattr(subprocess, "run", recorder)
    db.run_sql("SELECT 1;", transactional=True)
    db.dump_schema()
    assert len(recorder.calls) == 2
    for command, env in recorder.calls:
        joined = " ".join(command)
        assert "s3cr" not in joined, joined
        assert "db.example" in joined and "alice" in joined
        assert env[variable] == "s3cr@t-pw"
    assert db.scrub("password s3cr@t-pw here") == "password *** here"
