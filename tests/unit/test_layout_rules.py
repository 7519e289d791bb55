"""The README's layout-rules table, one test per row: for each layout, how a version is read,
how versions are ordered, how up and down pair, what is refused and what is skipped with a
warning, and how the transaction is decided — each rule as its tool's own source has it.

A last test reads the table from README.md and checks that every row has its test here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from migrata.discovery import discover_migrations
from migrata.errors import DiscoveryError, DuplicateVersion, InvalidMigrationName
from migrata.models import Migration

README = Path(__file__).resolve().parents[2] / "README.md"


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def versions(migrations: tuple[Migration, ...]) -> list[str]:
    return [m.version.text for m in migrations]


def test_migrata(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "a",
        {
            "10_c.sql": "SELECT 10;",
            "9_b.up.sql": "SELECT 9;",
            "9_b.down.sql": "SELECT -9;",
            "0001_a/up.sql": "SELECT 1;",
            "README.md": "notes",
        },
    )
    result = discover_migrations(folder)
    assert result.layout == "migrata"
    assert versions(result.migrations) == ["0001", "9", "10"]  # by number
    assert result.migrations[1].down is not None  # paired by name
    assert result.migrations[0].transactional
    write(tmp_path / "a", {"1_again.sql": "SELECT 1;"})
    with pytest.raises(DuplicateVersion):  # 0001 and 1 are one version
        discover_migrations(folder)
    write(tmp_path / "b", {"9_b.up.sql": "SELECT 9;", "9_other.down.sql": "SELECT -9;"})
    # A renamed pair is sqlx's and golang-migrate's, never guessed as migrata's own.
    with pytest.raises(DuplicateVersion):
        discover_migrations(tmp_path / "b", layout="migrata")


def test_sqlx(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "2_b.up.sql": "-- no-transaction: CONCURRENTLY\nSELECT 2;",
            "2_undo_b.down.sql": "SELECT -2;",
            "10_c.sql": "SELECT 10;",
            "1_a.sql": "SELECT 1;",
            "notes.sql": "SELECT 0;",
            "3_gone.down.sql": "SELECT -3;",
        },
    )
    result = discover_migrations(folder, layout="sqlx")
    assert versions(result.migrations) == ["1", "2", "10"]
    two = result.migrations[1]
    assert two.name == "b" and two.down is not None  # paired by version
    assert not two.transactional  # `-- no-transaction` as the first bytes
    assert sorted(Path(p).name for p in result.skipped) == ["3_gone.down.sql", "notes.sql"]
    write(tmp_path, {"x_bad.sql": "SELECT 1;"})
    with pytest.raises(InvalidMigrationName):
        discover_migrations(folder, layout="sqlx")


def test_golang_migrate(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "30_add_x.up.sql": "SELECT 30;",
            "30_drop_x.down.sql": "SELECT -30;",
            "4_d.up.sql": "SELECT 4;",
            "5_e.down.sql": "SELECT -5;",
            "6_no_direction.sql": "SELECT 6;",
        },
    )
    result = discover_migrations(folder, layout="golang-migrate")
    assert versions(result.migrations) == ["4", "5", "30"]
    assert result.migrations[2].name == "add_x" and result.migrations[2].down is not None
    assert result.migrations[1].up.text == ""  # a down without its up: an empty migration
    assert [Path(p).name for p in result.skipped] == ["6_no_direction.sql"]
    write(tmp_path, {"004_again.up.sql": "SELECT 4;"})
    with pytest.raises(DuplicateVersion):
        discover_migrations(folder, layout="golang-migrate")


def test_diesel(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "2024-03-13_170000_x/up.sql": "SELECT 1;",
            "2024-03-06-170000_y/up.sql": "SELECT 2;",
            "2024-03-06-170000_y/down.sql": "SELECT -2;",
            "2025-11-19-091444-0000_z/up.sql": "SELECT 3;",
            "2025-11-19-091444-0000_z/metadata.toml": "# no run_in_transaction\n",
        },
    )
    result = discover_migrations(folder)
    assert result.layout == "diesel"
    assert [m.name for m in result.migrations] == ["y", "170000_x", "z"]  # by text
    assert [m.info("version") for m in result.migrations] == [
        "20240306170000",
        "20240313",
        "202511190914440000",
    ]
    assert result.migrations[0].down is not None
    assert not result.migrations[2].transactional  # metadata.toml without the key
    write(tmp_path, {"0001_loose.sql": "SELECT 0;"})
    # diesel skips it and migrata's own layout would run it: asked for, diesel skips it.
    result = discover_migrations(folder, layout="diesel")
    assert [Path(p).name for p in result.skipped] == ["0001_loose.sql"]
    write(tmp_path, {"docs/guide.md": "x"})
    with pytest.raises(InvalidMigrationName):  # a folder without up.sql
        discover_migrations(folder)


def test_dbmate(tmp_path: Path) -> None:
    body = "-- migrate:up{}\nSELECT 1;\n-- migrate:down\nSELECT 2;\n"
    folder = write(
        tmp_path,
        {
            "10_b.sql": body.format(""),
            "9_c.sql": body.format(" transaction:false"),
            "1_a.sql": body.format(""),
            "01_a.sql": body.format(" other:option"),
            "schema.sql": "CREATE TABLE x (id int);",
        },
    )
    result = discover_migrations(folder)
    assert result.layout == "dbmate"
    assert versions(result.migrations) == ["01", "10", "1", "9"]  # by file name, as written
    assert not result.migrations[3].transactional
    assert any("schema.sql" in w for w in result.warnings)
    assert any("other:option" in w for w in result.warnings)
    write(tmp_path, {"2_no_down.sql": "-- migrate:up\nSELECT 1;\n"})
    with pytest.raises(DiscoveryError, match="migrate:down"):
        discover_migrations(folder)


def test_goose(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "10_b.sql": "-- +goose Up\nSELECT 10;\n-- +goose Down\nSELECT -10\n",
            "2_a.sql": "-- +goose NO TRANSACTION\n-- +goose UP\nSELECT 2;\n-- +goose Down\n",
            "3_go.go": "package m\nfunc init() { goose.AddMigration(up, down) }\n",
        },
    )
    result = discover_migrations(folder)
    assert result.layout == "goose"
    assert versions(result.migrations) == ["2", "3", "10"]
    assert not result.migrations[0].transactional  # NO TRANSACTION before Up
    assert result.migrations[1].skip_reason is not None  # a Go migration
    assert result.migrations[2].down is None and result.migrations[2].down_refusal
    write(tmp_path, {"seed.sql": "-- +goose Up\nSELECT 1;\n"})
    with pytest.raises(DiscoveryError, match="version above 0"):
        discover_migrations(folder)


def test_flyway(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "V1_1__b.sql": "SELECT 11;",
            "V1__a.sql": "SELECT 1;",
            "V1.10__c.sql": "SELECT 110;",
            "U1.10__c.sql": "SELECT -110;",
            "V2__d.sql": "SELECT 2;",
            "V2__d.sql.conf": "executeInTransaction=false\n",
            "R__view.sql": "SELECT 0;",
            "V3_bad.sql": "SELECT 3;",
        },
    )
    result = discover_migrations(folder)
    assert result.layout == "flyway"
    assert versions(result.migrations) == ["1", "1.1", "1.10", "2", "R__view"]
    assert result.migrations[2].down is not None  # the U file
    assert not result.migrations[3].transactional
    assert [Path(p).name for p in result.skipped] == ["V3_bad.sql"]
    write(tmp_path, {"V1.0__again.sql": "SELECT 1;"})
    with pytest.raises(DuplicateVersion):  # 1.0 is 1
        discover_migrations(folder)


def test_drizzle(tmp_path: Path) -> None:
    entries = [
        {"idx": 0, "when": 2, "tag": "20250608175448_b"},
        {"idx": 1, "when": 1, "tag": "20250608100932_a"},
        {"idx": 2, "when": 3, "tag": "c"},
    ]
    folder = write(
        tmp_path,
        {
            "meta/_journal.json": json.dumps({"entries": entries}),
            "20250608175448_b.sql": "SELECT 1;",
            "20250608100932_a.sql": "SELECT 2;",
            "c.sql": "SELECT 3;",
            "9999_unlisted.sql": "SELECT 4;",
        },
    )
    result = discover_migrations(folder)
    assert result.layout == "drizzle"
    assert versions(result.migrations) == ["20250608175448", "20250608100932", "0002"]
    assert all(m.down is None for m in result.migrations)
    assert any("9999_unlisted.sql" in w for w in result.warnings)
    (tmp_path / "c.sql").unlink()
    with pytest.raises(DiscoveryError, match="c.sql is not in the folder"):
        discover_migrations(folder)


def test_dotted(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "V10.Later.up.sql": "SELECT 10;",
            "V2.Add.email.up.sql": "SELECT 2;",
            "V2.Add.email.down.sql": "SELECT -2;",
        },
    )
    result = discover_migrations(folder)
    assert result.layout == "dotted"
    assert versions(result.migrations) == ["2", "10"]
    assert result.migrations[0].name == "Add.email" and result.migrations[0].down is not None
    write(tmp_path, {"V3.Up.only.sql": "SELECT 3;"})
    with pytest.raises(InvalidMigrationName):
        discover_migrations(folder)


def test_suffix(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "010_c_up.sql": "SELECT 10;",
            "002_add_users_up.sql": "SELECT 2;",
            "002_add_users_down.sql": "SELECT -2;",
        },
    )
    result = discover_migrations(folder)
    assert result.layout == "suffix"
    assert versions(result.migrations) == ["002", "010"]
    assert result.migrations[0].name == "add_users" and result.migrations[0].down is not None
    write(tmp_path, {"003_d_down.sql": "SELECT -3;"})
    with pytest.raises(DiscoveryError):
        discover_migrations(folder)


def test_every_row_of_the_readme_table_has_its_test() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("| layout | version | order | up and down |")
    table = text[start : text.index("\n\n", start)]
    layouts = re.findall(r"^\| `([a-z-]+)` \|", table, re.MULTILINE)
    assert len(layouts) == 10
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    missing = [name for name in layouts if name.replace("-", "_") not in tested]
    assert not missing, f"README layout rows without a test in {__name__}: {missing}"
