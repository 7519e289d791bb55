"""The dotted reader: `V0001.Name.up.sql` / `V0001.Name.down.sql`."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrata.discovery import discover_migrations
from migrata.errors import AmbiguousLayout, DiscoveryError, DuplicateVersion, InvalidMigrationName
from migrata.layouts import dotted
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
    write(root, "V0001.CreateUsers.up.sql", "CREATE TABLE users (id int);\n")
    write(root, "V0001.CreateUsers.down.sql", "DROP TABLE users;\n")
    write(root, "V0002.Add.email.up.sql", "ALTER TABLE users ADD email text;\n")
    write(
        root,
        "V0010.Index.up.sql",
        "-- migrata: no-transaction\nCREATE INDEX CONCURRENTLY i ON users (email);\n",
    )
    write(root, "V0010.Index.down.sql", "DROP INDEX i;\n")


def test_reads_versions_names_and_downs(tmp_path: Path) -> None:
    typical(tmp_path)
    result = dotted.read(entries(tmp_path))
    assert result.layout == "dotted"
    assert [(m.version.text, m.name) for m in result.migrations] == [
        ("0001", "CreateUsers"),
        ("0002", "Add.email"),
        ("0010", "Index"),
    ]
    users, email, index = result.migrations
    assert users.down is not None and users.down.text == "DROP TABLE users;\n"
    assert users.down.path == f"{tmp_path}/V0001.CreateUsers.down.sql"
    assert email.down is None
    assert users.checksum == checksum("CREATE TABLE users (id int);\n")
    assert [m.transactional for m in result.migrations] == [True, True, False]
    assert not users.up.explicit_transaction and index.up.explicit_transaction


def test_versions_order_as_numbers(tmp_path: Path) -> None:
    write(tmp_path, "V10.C.up.sql")
    write(tmp_path, "V9.B.up.sql")
    write(tmp_path, "V0001.A.up.sql")
    result = dotted.read(entries(tmp_path))
    assert [m.version.key for m in result.migrations] == [(1,), (9,), (10,)]


def test_discovery_picks_dotted(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "README.md")
    assert dotted.detect(entries(tmp_path)) == DISTINCTIVE
    result = discover_migrations(tmp_path)
    assert result.layout == "dotted"
    assert len(result.migrations) == 3
    assert result.ignored == (f"{tmp_path}/README.md",)


def test_an_up_only_file_is_refused_with_the_name_to_give_it(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "V0003.Seed.sql")
    with pytest.raises(InvalidMigrationName) as info:
        discover_migrations(tmp_path)
    assert info.value.path == f"{tmp_path}/V0003.Seed.sql"
    assert "V0003.Seed.up.sql" in str(info.value)


def test_down_without_up_is_an_error(tmp_path: Path) -> None:
    typical(tmp_path)
    down = write(tmp_path, "V0003.Seed.down.sql")
    with pytest.raises(DiscoveryError) as info:
        dotted.read(entries(tmp_path))
    assert info.value.path == str(down)
    assert "V0003.Seed.up.sql" in str(info.value)


@pytest.mark.parametrize(
    ("files", "reported", "other"),
    [
        (["V0001.A.up.sql", "V1.B.up.sql"], "V1.B.up.sql", "V0001.A.up.sql"),
        (["V0001.A.up.sql", "V0001.B.down.sql"], "V0001.B.down.sql", "V0001.A.up.sql"),
    ],
)
def test_duplicate_version_names_both_files(
    tmp_path: Path, files: list[str], reported: str, other: str
) -> None:
    for name in files:
        write(tmp_path, name)
    with pytest.raises(DuplicateVersion) as info:
        dotted.read(entries(tmp_path))
    assert info.value.path == f"{tmp_path}/{reported}"
    assert f"{tmp_path}/{other}" in str(info.value)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("0002_native.sql", "this folder holds dotted migrations (V0001.CreateUsers.down.sql)"),
        ("v0003.Lower.up.sql", "case-sensitive"),
        ("V0003.Shout.UP.SQL", "case-sensitive"),
        ("V0003..up.sql", "name between the version and the direction is empty"),
        ("V0003.up.sql", "name between the version and the direction is empty"),
    ],
)
def test_another_sql_name_is_an_error(tmp_path: Path, name: str, words: str) -> None:
    typical(tmp_path)
    write(tmp_path, name)
    with pytest.raises(InvalidMigrationName) as info:
        discover_migrations(tmp_path)
    assert info.value.path == f"{tmp_path}/{name}"
    assert words in str(info.value)


def test_a_migration_folder_is_an_error_and_other_folders_are_ignored(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "docs/x.md")
    assert dotted.read(entries(tmp_path)).ignored == (f"{tmp_path}/docs",)
    write(tmp_path, "0004_folder/up.sql")
    with pytest.raises(InvalidMigrationName) as info:
        dotted.read(entries(tmp_path))
    assert info.value.path == f"{tmp_path}/0004_folder"


def test_a_folder_mixing_dotted_and_flyway_names_is_an_error(tmp_path: Path) -> None:
    # both layouts claim the folder; each refuses the other's files
    typical(tmp_path)
    write(tmp_path, "V3__flyway.sql")
    with pytest.raises(AmbiguousLayout) as info:
        discover_migrations(tmp_path)
    message = str(info.value)
    assert "flyway" in message and "dotted" in message
    # each candidate's reason names the file it could not read
    assert "V0001.CreateUsers" in message and "V3__flyway.sql" in message
    assert "layout=" in message and "--layout NAME" in info.value.cli_message


@pytest.mark.parametrize(
    "names", [[], ["0001_a.sql"], ["V1__flyway.sql"], ["V0001.A.sql"], ["v0001.a.up.sql"]]
)
def test_detect_is_no_without_a_dotted_name(tmp_path: Path, names: list[str]) -> None:
    for name in names:
        write(tmp_path, name)
    assert dotted.detect(entries(tmp_path)) == NO


def test_crlf_copies_keep_their_checksums(tmp_path: Path) -> None:
    typical(tmp_path / "lf")
    for source in sorted((tmp_path / "lf").iterdir()):
        write(tmp_path / "crlf", source.name, source.read_bytes().replace(b"\n", b"\r\n"))
    lf = dotted.read(entries(tmp_path / "lf")).migrations
    crlf = dotted.read(entries(tmp_path / "crlf")).migrations
    assert [m.checksum for m in crlf] == [m.checksum for m in lf]
    assert [m.transactional for m in crlf] == [True, True, False]
