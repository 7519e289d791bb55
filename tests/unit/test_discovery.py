"""Discovery on tmp trees, from package resources, and `create_migration`."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from migrata.discovery import create_migration, discover_migrations
from migrata.errors import (
    ConfigError,
    DiscoveryError,
    DuplicateVersion,
    InvalidEncoding,
    InvalidMigrationName,
    UnknownDirective,
)
from migrata.sqltext import checksum


def write(root: Path, relative: str, content: str | bytes = "SELECT 1;\n") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))
    return path


def versions(root: Path) -> list[str]:
    return [m.version.text for m in discover_migrations(root).migrations]


# --------------------------------------------------------------------------- native forms


def test_three_native_forms(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id int);\n")
    write(tmp_path, "0002_b.up.sql", "CREATE TABLE b (id int);\n")
    write(tmp_path, "0002_b.down.sql", "DROP TABLE b;\n")
    write(tmp_path, "0003_c/up.sql", "CREATE TABLE c (id int);\n")
    write(tmp_path, "0003_c/down.sql", "DROP TABLE c;\n")

    result = discover_migrations(tmp_path)

    assert result.layout == "migrata"
    assert result.ignored == ()
    a, b, c = result.migrations
    assert [(m.version.text, m.name) for m in (a, b, c)] == [
        ("0001", "a"),
        ("0002", "b"),
        ("0003", "c"),
    ]
    assert a.up.path == f"{tmp_path}/0001_a.sql"
    assert a.up.text == "CREATE TABLE a (id int);\n"
    assert a.down is None and not a.reversible
    assert b.up.path == f"{tmp_path}/0002_b.up.sql"
    assert b.down is not None and b.down.path == f"{tmp_path}/0002_b.down.sql"
    assert b.down.text == "DROP TABLE b;\n"
    assert c.up.path == f"{tmp_path}/0003_c/up.sql"
    assert c.down is not None and c.down.path == f"{tmp_path}/0003_c/down.sql"
    assert c.down.text == "DROP TABLE c;\n"
    assert [m.checksum for m in (a, b, c)] == [
        checksum("CREATE TABLE a (id int);\n"),
        checksum("CREATE TABLE b (id int);\n"),
        checksum("CREATE TABLE c (id int);\n"),
    ]
    assert all(m.transactional for m in (a, b, c))


def test_folder_migration_without_down(tmp_path: Path) -> None:
    write(tmp_path, "0001_a/up.sql")
    (migration,) = discover_migrations(tmp_path).migrations
    assert migration.down is None


def test_order_is_numeric_not_by_name(tmp_path: Path) -> None:
    write(tmp_path, "10_y.sql")
    write(tmp_path, "9_x.sql")
    write(tmp_path, "100_z/up.sql")
    write(tmp_path, "011_w.up.sql")
    assert versions(tmp_path) == ["9", "10", "011", "100"]


def test_timestamp_and_dashed_timestamp_versions_shown_as_written(tmp_path: Path) -> None:
    write(tmp_path, "20250108110000_first.sql")
    write(tmp_path, "2025-01-08-120000_second.sql")
    write(tmp_path, "2025-01-09-000000_third/up.sql")
    result = discover_migrations(tmp_path)
    assert [(m.version.text, m.name) for m in result.migrations] == [
        ("20250108110000", "first"),
        ("2025-01-08-120000", "second"),
        ("2025-01-09-000000", "third"),
    ]
    assert str(result.migrations[1].version) == "2025-01-08-120000"
    assert result.migrations[1].version.key == (20250108120000,)


def test_names_may_hold_dots_and_dashes(tmp_path: Path) -> None:
    write(tmp_path, "0001_add-users.v2.sql")
    write(tmp_path, "0002_x.y.up.sql")
    write(tmp_path, "0002_x.y.down.sql")
    result = discover_migrations(tmp_path)
    assert [m.name for m in result.migrations] == ["add-users.v2", "x.y"]
    assert result.migrations[1].down is not None


def test_directives_are_read_per_file(tmp_path: Path) -> None:
    write(
        tmp_path, "0001_a.sql", "-- migrata: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);"
    )
    write(tmp_path, "0002_b/up.sql", "-- no-transaction\nSELECT 1;")
    write(tmp_path, "0003_c.sql", "SELECT 1;")
    result = discover_migrations(tmp_path)
    assert [m.transactional for m in result.migrations] == [False, False, True]


def test_unknown_directive_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "0001_a.sql", "-- migrata: frobnicate\nSELECT 1;")
    with pytest.raises(UnknownDirective) as info:
        discover_migrations(tmp_path)
    assert info.value.path == str(path)
    assert info.value.line == 1


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("files", "reported", "other"),
    [
        (["0001_a.sql", "1_b.sql"], "1_b.sql", "0001_a.sql"),
        (["0002_b.sql", "0002_b.up.sql", "0002_b.down.sql"], "0002_b.sql", "0002_b.down.sql"),
        (["0003_c.sql", "0003_c/up.sql"], "0003_c.sql", "0003_c/up.sql"),
        (
            ["20250108120000_a.sql", "2025-01-08-120000_b.sql"],
            "20250108120000_a.sql",
            "2025-01-08-120000_b.sql",
        ),
        (["0004_a.up.sql", "0004_b.up.sql"], "0004_b.up.sql", "0004_a.up.sql"),
        (["0005_a/up.sql", "5_b/up.sql"], "5_b", "0005_a/up.sql"),
    ],
)
def test_duplicate_version_raises_naming_both_files(
    tmp_path: Path, files: list[str], reported: str, other: str
) -> None:
    for name in files:
        write(tmp_path, name)
    with pytest.raises(DuplicateVersion) as info:
        discover_migrations(tmp_path)
    err = info.value
    assert isinstance(err, DiscoveryError)
    assert err.path == f"{tmp_path}/{reported}"
    assert str(err).startswith(f"{tmp_path}/{reported}: ")
    assert f"{tmp_path}/{other}" in str(err)


def test_duplicate_of_sql_and_up_sql_names_both(tmp_path: Path) -> None:
    write(tmp_path, "0002_b.sql")
    write(tmp_path, "0002_b.up.sql")
    with pytest.raises(DuplicateVersion) as info:
        discover_migrations(tmp_path)
    message = str(info.value)
    assert f"{tmp_path}/0002_b.sql" in message
    assert f"{tmp_path}/0002_b.up.sql" in message


@pytest.mark.parametrize(
    "name", ["notes.sql", "0001.sql", "0001-a.sql", "v1_a.sql", "_a.sql", "0001_a.SQL"]
)
def test_unparseable_sql_name_raises_naming_the_file(tmp_path: Path, name: str) -> None:
    write(tmp_path, "0002_ok.sql")
    write(tmp_path, name)
    with pytest.raises(InvalidMigrationName) as info:
        discover_migrations(tmp_path)
    assert info.value.path == f"{tmp_path}/{name}"
    assert name in str(info.value)


def test_non_utf8_content_raises_invalid_encoding(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql")
    bad = write(tmp_path, "0002_b/up.sql", "SELECT 'café';\n".encode("latin-1"))
    with pytest.raises(InvalidEncoding) as info:
        discover_migrations(tmp_path)
    assert info.value.path == str(bad)
    assert str(bad) in str(info.value)


def test_non_utf8_down_file_raises_invalid_encoding(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.up.sql")
    bad = write(tmp_path, "0001_a.down.sql", b"DROP TABLE \xff;")
    with pytest.raises(InvalidEncoding) as info:
        discover_migrations(tmp_path)
    assert info.value.path == str(bad)


def test_non_sql_files_are_ignored_and_listed(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "# migrations\n")
    write(tmp_path, "0001_a.sql")
    write(tmp_path, "notes.txt", b"\xff not utf-8 either")
    write(tmp_path, "0002_b/up.sql")
    write(tmp_path, "0002_b/README.md")
    write(tmp_path, "docs/intro.md")
    write(tmp_path, ".hidden.sql", "not a migration")
    result = discover_migrations(tmp_path)
    assert versions(tmp_path) == ["0001", "0002"]
    assert sorted(result.ignored) == sorted(
        [
            f"{tmp_path}/README.md",
            f"{tmp_path}/notes.txt",
            f"{tmp_path}/0002_b/README.md",
            f"{tmp_path}/docs",
        ]
    )


def test_down_without_up_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql")
    down = write(tmp_path, "0002_b.down.sql", "DROP TABLE b;")
    with pytest.raises(DiscoveryError) as info:
        discover_migrations(tmp_path)
    assert info.value.path == str(down)
    assert "0002_b.up.sql" in str(info.value)


def test_two_down_files_for_one_version_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.up.sql")
    write(tmp_path, "0001_a.down.sql")
    write(tmp_path, "1_a.down.sql")
    with pytest.raises(DuplicateVersion):
        discover_migrations(tmp_path)


def test_folder_without_up_sql_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql")
    write(tmp_path, "0002_b/down.sql", "DROP TABLE b;")
    with pytest.raises(InvalidMigrationName) as info:
        discover_migrations(tmp_path)
    assert info.value.path == f"{tmp_path}/0002_b"
    assert "up.sql" in str(info.value)


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        discover_migrations(tmp_path / "nope")


def test_unknown_layout_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="frobnicate"):
        discover_migrations(tmp_path, layout="frobnicate")


def test_empty_folder_has_no_migrations(tmp_path: Path) -> None:
    result = discover_migrations(tmp_path)
    assert result.migrations == ()
    assert result.layout == "migrata"


# --------------------------------------------------------------------------- checksums


def _tree(root: Path, transform: Callable[[str], bytes]) -> None:
    files = {
        "0001_a.sql": "-- a\nCREATE TABLE a (\n  id int\n);\n",
        "0002_b.up.sql": "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n",
        "0002_b.down.sql": "DROP TABLE b;\n",
        "0003_c/up.sql": "-- migrata: no-transaction\nCREATE INDEX CONCURRENTLY i ON a (id);\n",
        "0003_c/down.sql": "DROP INDEX i;\n",
    }
    for name, text in files.items():
        write(root, name, transform(text))


@pytest.mark.parametrize(
    "transform",
    [
        lambda t: t.replace("\n", "\r\n").encode(),
        lambda t: t.replace("\n", "\r").encode(),
        lambda t: b"\xef\xbb\xbf" + t.encode(),
        lambda t: b"\xef\xbb\xbf" + t.replace("\n", "\r\n").encode(),
    ],
    ids=["crlf", "cr", "bom", "bom-crlf"],
)
def test_crlf_and_bom_copies_have_identical_checksums(
    tmp_path: Path, transform: Callable[[str], bytes]
) -> None:
    _tree(tmp_path / "lf", lambda t: t.encode())
    _tree(tmp_path / "copy", transform)
    original = discover_migrations(tmp_path / "lf").migrations
    copy = discover_migrations(tmp_path / "copy").migrations
    assert len(original) == len(copy) == 3
    assert [m.checksum for m in copy] == [m.checksum for m in original]
    assert [m.transactional for m in copy] == [True, True, False]
    # the BOM never reaches the SQL text
    assert not any(m.up.text.startswith("\ufeff") for m in copy)
    assert not any(m.down.text.startswith("\ufeff") for m in copy if m.down is not None)


def test_content_change_changes_checksum(tmp_path: Path) -> None:
    write(tmp_path / "one", "0001_a.sql", "CREATE TABLE a (id int);\n")
    write(tmp_path / "two", "0001_a.sql", "CREATE TABLE a (id bigint);\n")
    (one,) = discover_migrations(tmp_path / "one").migrations
    (two,) = discover_migrations(tmp_path / "two").migrations
    assert one.checksum != two.checksum


# --------------------------------------------------------------------------- package resources


def test_discovery_from_package_resources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = f"migrata_test_pkg_{uuid.uuid4().hex[:8]}"
    write(tmp_path, f"{package}/__init__.py", "")
    write(tmp_path, f"{package}/migrations/__init__.py", "")
    write(tmp_path, f"{package}/migrations/0001_a.sql", "CREATE TABLE a (id int);\r\n")
    write(tmp_path, f"{package}/migrations/0002_b.up.sql", "CREATE TABLE b (id int);\n")
    write(tmp_path, f"{package}/migrations/0002_b.down.sql", "DROP TABLE b;\n")
    write(tmp_path, f"{package}/migrations/10_c/up.sql", "SELECT 1;\n")
    write(tmp_path, f"{package}/migrations/README.md", "docs\n")
    write(tmp_path, f"{package}/migrations/__pycache__/x.cpython-311.pyc", b"\x00")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in (package, f"{package}.migrations"):
        monkeypatch.delitem(sys.modules, name, raising=False)

    result = discover_migrations(package=f"{package}.migrations")

    assert [(m.version.text, m.name) for m in result.migrations] == [
        ("0001", "a"),
        ("0002", "b"),
        ("10", "c"),
    ]
    assert result.migrations[0].up.path == f"{package}/migrations/0001_a.sql"
    assert result.migrations[0].checksum == checksum("CREATE TABLE a (id int);\n")
    assert result.migrations[1].down is not None
    assert result.migrations[1].down.text == "DROP TABLE b;\n"
    assert result.migrations[2].up.path == f"{package}/migrations/10_c/up.sql"
    assert result.ignored == (f"{package}/migrations/README.md",)


def test_package_discovery_matches_folder_discovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = f"migrata_test_pkg_{uuid.uuid4().hex[:8]}"
    root = tmp_path / package
    write(root, "__init__.py", "")
    write(root, "0001_a.sql", "CREATE TABLE a (id int);\n")
    write(root, "0002_b/up.sql", "SELECT 2;\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from_package = discover_migrations(package=package).migrations
    from_folder = discover_migrations(root).migrations
    assert [(m.version, m.name, m.checksum) for m in from_package] == [
        (m.version, m.name, m.checksum) for m in from_folder
    ]


def test_unknown_package_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot be imported"):
        discover_migrations(package=f"no_such_pkg_{uuid.uuid4().hex[:8]}.migrations")


# --------------------------------------------------------------------------- create_migration

NOW = datetime(2025, 1, 8, 12, 0, 0, 123456)


def names(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_create_is_timestamped_by_default(tmp_path: Path) -> None:
    created = create_migration(tmp_path / "m", "Add Users!", now=NOW)
    assert created.version == "20250108120000"
    assert created.paths == (f"{tmp_path}/m/20250108120000_add_users.sql",)
    assert names(tmp_path / "m") == ["20250108120000_add_users.sql"]
    text = (tmp_path / "m/20250108120000_add_users.sql").read_text()
    assert text.startswith("-- 20250108120000_add_users")
    # what was written is discoverable
    (migration,) = discover_migrations(tmp_path / "m").migrations
    assert migration.version.text == "20250108120000"
    assert migration.name == "add_users"


def test_create_without_now_uses_a_timestamp(tmp_path: Path) -> None:
    created = create_migration(tmp_path, "x")
    assert len(created.version) == 14 and created.version.isdigit()
    assert created.version.startswith("20")


def test_create_in_the_same_second_takes_the_next_second(tmp_path: Path) -> None:
    first = create_migration(tmp_path, "one", now=NOW)
    Path(first.paths[0]).write_text("CREATE TABLE one (id int);\n")
    second = create_migration(tmp_path, "two", now=NOW)
    third = create_migration(tmp_path, "one", now=NOW)
    assert [first.version, second.version, third.version] == [
        "20250108120000",
        "20250108120001",
        "20250108120002",
    ]
    # the first file was not overwritten
    assert Path(first.paths[0]).read_text() == "CREATE TABLE one (id int);\n"
    assert versions(tmp_path) == ["20250108120000", "20250108120001", "20250108120002"]


def test_create_never_overwrites_an_existing_path(tmp_path: Path) -> None:
    write(tmp_path, "20250108120000_a.sql", "SELECT 'keep me';\n")
    # something that is not a migration already sits where the next file would go
    blocker = tmp_path / "20250108120001_b.sql"
    blocker.mkdir()
    (blocker / "keep.txt").write_text("keep\n")
    with pytest.raises(DiscoveryError) as info:
        create_migration(tmp_path, "b", now=NOW)
    assert info.value.path == str(blocker)
    assert "never overwrites" in str(info.value)
    assert (blocker / "keep.txt").read_text() == "keep\n"
    assert (tmp_path / "20250108120000_a.sql").read_text() == "SELECT 'keep me';\n"


def test_create_follows_dashed_timestamps(tmp_path: Path) -> None:
    write(tmp_path, "2025-01-08-120000_init.sql")
    created = create_migration(tmp_path, "next", now=NOW)
    assert created.version == "2025-01-08-120001"
    assert created.paths == (f"{tmp_path}/2025-01-08-120001_next.sql",)


def test_create_sequential_continues_numbering_with_zero_padding(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql")
    write(tmp_path, "0009_b.sql")
    created = create_migration(tmp_path, "c", sequential=True)
    assert created.version == "0010"
    assert created.paths == (f"{tmp_path}/0010_c.sql",)


def test_create_sequential_in_empty_folder_starts_at_0001(tmp_path: Path) -> None:
    assert create_migration(tmp_path, "a", sequential=True).version == "0001"
    assert create_migration(tmp_path, "b").version == "0002"  # follows the folder


def test_create_sequential_keeps_wider_padding(tmp_path: Path) -> None:
    write(tmp_path, "000041_a.sql")
    assert create_migration(tmp_path, "b").version == "000042"


def test_create_sequential_keeps_narrower_padding(tmp_path: Path) -> None:
    write(tmp_path, "001_a.sql")
    write(tmp_path, "002_b.sql")
    created = create_migration(tmp_path, "c", sequential=True)
    assert created.version == "003"


def test_create_with_down_writes_a_pair(tmp_path: Path) -> None:
    created = create_migration(tmp_path, "pair", down=True, now=NOW)
    assert created.paths == (
        f"{tmp_path}/20250108120000_pair.up.sql",
        f"{tmp_path}/20250108120000_pair.down.sql",
    )
    (migration,) = discover_migrations(tmp_path).migrations
    assert migration.down is not None


def test_create_follows_the_pair_style(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.up.sql")
    write(tmp_path, "0001_a.down.sql")
    created = create_migration(tmp_path, "b")
    assert created.paths == (f"{tmp_path}/0002_b.up.sql", f"{tmp_path}/0002_b.down.sql")


def test_create_follows_the_folder_style(tmp_path: Path) -> None:
    write(tmp_path, "0001_a/up.sql")
    created = create_migration(tmp_path, "b")
    assert created.paths == (f"{tmp_path}/0002_b/up.sql",)
    created = create_migration(tmp_path, "c", down=True)
    assert created.paths == (f"{tmp_path}/0003_c/up.sql", f"{tmp_path}/0003_c/down.sql")
    # the latest folder has a down.sql now, so the next one gets one too
    created = create_migration(tmp_path, "d")
    assert created.paths == (f"{tmp_path}/0004_d/up.sql", f"{tmp_path}/0004_d/down.sql")
    assert versions(tmp_path) == ["0001", "0002", "0003", "0004"]


def test_create_follows_the_single_file_style(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql")
    created = create_migration(tmp_path, "b")
    assert created.paths == (f"{tmp_path}/0002_b.sql",)


def test_create_rejects_a_name_without_letters(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        create_migration(tmp_path, " -- ", now=NOW)
    assert names(tmp_path) == []


def test_create_refuses_when_the_folder_does_not_parse(tmp_path: Path) -> None:
    write(tmp_path, "notes.sql")
    with pytest.raises(InvalidMigrationName):
        create_migration(tmp_path, "a", now=NOW)
    assert names(tmp_path) == ["notes.sql"]


def test_sequential_in_a_timestamp_folder_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "20250108120000_a.sql")
    with pytest.raises(ConfigError, match="timestamps"):
        create_migration(tmp_path, "b", sequential=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20250108120000_a.sql"]


def test_python_files_in_a_folder_are_listed_as_ignored(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql")
    (tmp_path / "helper.py").write_text("x = 1\n")
    result = discover_migrations(tmp_path)
    assert result.ignored == (f"{tmp_path}/helper.py",)
