"""The suffix reader: `001_create_users_up.sql` / `001_create_users_down.sql`."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrata.discovery import discover_migrations
from migrata.errors import DiscoveryError, DuplicateVersion, InvalidMigrationName
from migrata.layouts import suffix
from migrata.layouts.base import DISTINCTIVE, NO, Entry
from migrata.sqltext import checksum


def write(root: Path, relative: str, content: str | bytes = "SELECT 1;\n") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def entries(root: Path) -> list[Entry]:
    return list(Entry(root, str(root)).children())


def typical(root: Path) -> None:
    write(root, "001_create_users_up.sql", "CREATE TABLE users (id int);\n")
    write(root, "001_create_users_down.sql", "DROP TABLE users;\n")
    write(root, "002_add_email_to_users_up.sql", "ALTER TABLE users ADD email text;\n")
    write(
        root,
        "010_index_up.sql",
        "-- migrata: no-transaction\nCREATE INDEX CONCURRENTLY i ON users (email);\n",
    )
    write(root, "010_index_down.sql", "DROP INDEX i;\n")


def test_reads_versions_names_with_underscores_and_downs(tmp_path: Path) -> None:
    typical(tmp_path)
    result = suffix.read(entries(tmp_path))
    assert result.layout == "suffix"
    assert [(m.version.text, m.name) for m in result.migrations] == [
        ("001", "create_users"),
        ("002", "add_email_to_users"),
        ("010", "index"),
    ]
    users, email, _ = result.migrations
    assert users.down is not None and users.down.text == "DROP TABLE users;\n"
    assert users.down.path == f"{tmp_path}/001_create_users_down.sql"
    assert email.down is None
    assert users.checksum == checksum("CREATE TABLE users (id int);\n")
    assert [m.transactional for m in result.migrations] == [True, True, False]
    assert not users.up.explicit_transaction


def test_versions_order_as_numbers(tmp_path: Path) -> None:
    write(tmp_path, "10_c_up.sql")
    write(tmp_path, "9_b_up.sql")
    write(tmp_path, "2025-01-08-120000_d_up.sql")
    result = suffix.read(entries(tmp_path))
    assert [m.version.text for m in result.migrations] == ["9", "10", "2025-01-08-120000"]


def test_the_last_direction_word_is_the_direction(tmp_path: Path) -> None:
    write(tmp_path, "001_speed_up_down.sql")
    write(tmp_path, "001_speed_up_up.sql")
    (migration,) = suffix.read(entries(tmp_path)).migrations
    assert migration.name == "speed_up"
    assert migration.down is not None


def test_discovery_picks_suffix_when_every_file_fits(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "README.md")
    assert suffix.detect(entries(tmp_path)) == DISTINCTIVE
    result = discover_migrations(tmp_path)
    assert result.layout == "suffix"
    assert [m.name for m in result.migrations] == ["create_users", "add_email_to_users", "index"]
    assert result.ignored == (f"{tmp_path}/README.md",)


def test_a_folder_mixing_other_names_is_migratas_own(tmp_path: Path) -> None:
    write(tmp_path, "001_a_up.sql")
    write(tmp_path, "002_b.sql")
    assert suffix.detect(entries(tmp_path)) == NO
    result = discover_migrations(tmp_path)
    assert result.layout == "migrata"
    # migrata's own reading: `_up` is part of the name
    assert [m.name for m in result.migrations] == ["a_up", "b"]


def test_a_mixed_folder_with_a_down_file_is_refused_by_migratas_own(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "011_plain.sql")
    with pytest.raises(DuplicateVersion) as info:
        discover_migrations(tmp_path)
    assert info.value.path is not None and "001_create_users_" in info.value.path


def test_down_without_up_is_an_error(tmp_path: Path) -> None:
    typical(tmp_path)
    down = write(tmp_path, "003_seed_down.sql")
    with pytest.raises(DiscoveryError) as info:
        discover_migrations(tmp_path)
    assert info.value.path == str(down)
    assert "003_seed_up.sql" in str(info.value)


@pytest.mark.parametrize(
    ("files", "reported", "other"),
    [
        (["001_a_up.sql", "1_b_up.sql"], "1_b_up.sql", "001_a_up.sql"),
        (["001_a_up.sql", "1_a_up.sql"], "1_a_up.sql", "001_a_up.sql"),
        (["001_a_down.sql", "001_a_up.sql", "1_a_down.sql"], "1_a_down.sql", "001_a_down.sql"),
    ],
)
def test_duplicate_version_names_both_files(
    tmp_path: Path, files: list[str], reported: str, other: str
) -> None:
    for name in files:
        write(tmp_path, name)
    with pytest.raises(DuplicateVersion) as info:
        suffix.read(entries(tmp_path))
    assert info.value.path == f"{tmp_path}/{reported}"
    assert f"{tmp_path}/{other}" in str(info.value)


def test_explicit_layout_refuses_another_name(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "011_plain.sql")
    with pytest.raises(InvalidMigrationName) as info:
        discover_migrations(tmp_path, layout="suffix")
    assert info.value.path == f"{tmp_path}/011_plain.sql"
    assert "<version>_<name>_up.sql" in str(info.value)


def test_a_migration_folder_is_no_and_an_error_when_asked_for(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "020_folder/up.sql")
    assert suffix.detect(entries(tmp_path)) == NO
    with pytest.raises(InvalidMigrationName) as info:
        suffix.read(entries(tmp_path))
    assert info.value.path == f"{tmp_path}/020_folder"


def test_other_folders_and_files_are_ignored(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "docs/x.md")
    write(tmp_path, "notes.txt")
    assert suffix.detect(entries(tmp_path)) == DISTINCTIVE
    result = suffix.read(entries(tmp_path))
    assert result.ignored == (f"{tmp_path}/docs", f"{tmp_path}/notes.txt")


@pytest.mark.parametrize("names", [[], ["README.md"], ["001_up.sql"], ["001_a_UP.sql"]])
def test_detect_is_no_without_suffix_names(tmp_path: Path, names: list[str]) -> None:
    for name in names:
        write(tmp_path, name)
    assert suffix.detect(entries(tmp_path)) == NO


def test_crlf_copies_keep_their_checksums(tmp_path: Path) -> None:
    typical(tmp_path / "lf")
    for source in sorted((tmp_path / "lf").iterdir()):
        write(tmp_path / "crlf", source.name, source.read_bytes().replace(b"\n", b"\r\n"))
    lf = suffix.read(entries(tmp_path / "lf")).migrations
    crlf = suffix.read(entries(tmp_path / "crlf")).migrations
    assert [m.checksum for m in crlf] == [m.checksum for m in lf]
    assert [m.transactional for m in crlf] == [True, True, False]
