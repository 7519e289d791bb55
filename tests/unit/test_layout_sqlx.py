"""The sqlx reader: flat and reversible files, `-- no-transaction`, and detection as FITS."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrata.discovery import _shape, discover_migrations
from migrata.errors import DuplicateVersion, InvalidMigrationName
from migrata.layouts import native, sqlx
from migrata.layouts.base import DISTINCTIVE, FITS, NO, Entry
from migrata.sqltext import checksum


def write(root: Path, relative: str, content: str | bytes = "SELECT 1;\n") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def entries(root: Path) -> list[Entry]:
    return list(Entry(root, str(root)).children())


def typical(root: Path) -> None:
    write(root, "20250101000000_create_users.sql", "CREATE TABLE users (id int);\n")
    write(root, "20250102000000_add_posts.up.sql", "CREATE TABLE posts (id int);\n")
    write(root, "20250102000000_add_posts.down.sql", "DROP TABLE posts;\n")
    write(
        root,
        "20250103000000_index_posts.up.sql",
        "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON posts (id);\n",
    )
    write(root, "20250103000000_index_posts.down.sql", "-- no-transaction\nDROP INDEX i;\n")
    write(root, "README.md", "# migrations\n")


def test_reads_flat_and_reversible_files(tmp_path: Path) -> None:
    typical(tmp_path)
    result = sqlx.read(entries(tmp_path))
    assert result.layout == "sqlx"
    users, posts, _ = result.migrations
    assert [(m.version.text, m.name) for m in result.migrations] == [
        ("20250101000000", "create_users"),
        ("20250102000000", "add_posts"),
        ("20250103000000", "index_posts"),
    ]
    assert users.down is None and not users.reversible
    assert posts.down is not None and posts.down.text == "DROP TABLE posts;\n"
    assert posts.down.path == f"{tmp_path}/20250102000000_add_posts.down.sql"
    assert posts.checksum == checksum("CREATE TABLE posts (id int);\n")
    assert result.ignored == (f"{tmp_path}/README.md",)


def test_description_is_kept_as_sqlx_stores_it(tmp_path: Path) -> None:
    typical(tmp_path)
    result = sqlx.read(entries(tmp_path))
    assert [m.info("description") for m in result.migrations] == [
        "create users",
        "add posts",
        "index posts",
    ]
    assert result.migrations[0].name == "create_users"


def test_no_transaction_first_line_is_an_explicit_marker(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "20250104000000_later.sql", "SELECT 1;\n-- no-transaction\n")
    users, _, index, later = sqlx.read(entries(tmp_path)).migrations
    assert not index.transactional
    assert index.up.explicit_transaction
    assert index.up.transaction_note is not None
    assert index.down is not None and not index.down.transactional
    assert users.transactional and not users.up.explicit_transaction
    # only the first line counts, as in sqlx (`sql.starts_with("-- no-transaction")`)
    assert later.transactional and not later.up.explicit_transaction


def test_versions_order_as_numbers(tmp_path: Path) -> None:
    for name in ("10_c.sql", "2_b.sql", "1_a.sql"):
        write(tmp_path, name)
    assert [m.version.text for m in sqlx.read(entries(tmp_path)).migrations] == ["1", "2", "10"]


def test_reading_is_identical_to_migratas_own(tmp_path: Path) -> None:
    typical(tmp_path)
    mine = sqlx.read(entries(tmp_path))
    theirs = native.read(entries(tmp_path))
    assert _shape(mine) == _shape(theirs)
    assert len(_shape(mine)) == 3
    assert [m.up.explicit_transaction for m in mine.migrations] == [
        m.up.explicit_transaction for m in theirs.migrations
    ]
    assert mine.ignored == theirs.ignored


def test_discovery_reads_with_migratas_own_layout_and_lists_sqlx(tmp_path: Path) -> None:
    typical(tmp_path)
    assert sqlx.detect(entries(tmp_path)) == FITS
    result = discover_migrations(tmp_path)
    assert result.layout == "migrata"
    assert "sqlx" in result.also
    assert len(result.migrations) == 3


def test_explicit_layout_reads_with_sqlx(tmp_path: Path) -> None:
    typical(tmp_path)
    result = discover_migrations(tmp_path, layout="sqlx")
    assert result.layout == "sqlx"
    assert result.migrations[1].info("description") == "add posts"


@pytest.mark.parametrize(
    "extra",
    [
        "notes.sql",  # sqlx skips it silently; migrata's own layout refuses it
        "2025-01-08-120000_dashed.sql",  # not an i64 to sqlx
        "99999999999999999999_huge.sql",  # beyond i64
        "0009_shout.SQL",  # sqlx wants `.sql`
        "0009_x/up.sql",  # sqlx never reads folders
    ],
)
def test_detect_is_no_when_something_does_not_fit(tmp_path: Path, extra: str) -> None:
    write(tmp_path, "0001_a.sql")
    write(tmp_path, extra)
    assert sqlx.detect(entries(tmp_path)) == NO


def test_a_folder_sqlx_cannot_read_is_read_by_migratas_own_layout_alone(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql")
    write(tmp_path, "2025-01-08-120000_dashed.sql")
    write(tmp_path, "2025-01-09-000000_folder/up.sql")
    result = discover_migrations(tmp_path)
    assert result.layout == "migrata"
    assert "sqlx" not in result.also
    assert [m.name for m in result.migrations] == ["a", "dashed", "folder"]


def test_detect_is_no_for_an_empty_folder_or_non_sql_files(tmp_path: Path) -> None:
    assert sqlx.detect(entries(tmp_path)) == NO
    write(tmp_path, "README.md")
    assert sqlx.detect(entries(tmp_path)) == NO


@pytest.mark.parametrize(
    "name",
    [
        "notes_x.sql",
        "2025-01-08-120000_dashed.sql",
        "99999999999999999999_huge.sql",
        "0009_shout.SQL",
        "0009_a.sql.sql",
    ],
)
def test_a_sql_file_that_is_not_a_sqlx_migration_is_an_error(tmp_path: Path, name: str) -> None:
    write(tmp_path, "0001_a.sql")
    write(tmp_path, name)
    with pytest.raises(InvalidMigrationName) as info:
        sqlx.read(entries(tmp_path))
    assert info.value.path == f"{tmp_path}/{name}"
    assert str(info.value).startswith(f"{tmp_path}/{name}: ")
    assert "rename it" in str(info.value)


def test_a_migration_folder_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql")
    write(tmp_path, "0002_b/up.sql")
    with pytest.raises(InvalidMigrationName) as info:
        sqlx.read(entries(tmp_path))
    assert info.value.path == f"{tmp_path}/0002_b"
    assert "0002_b.up.sql" in str(info.value)


def test_other_folders_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql")
    write(tmp_path, "docs/intro.md")
    result = sqlx.read(entries(tmp_path))
    assert result.ignored == (f"{tmp_path}/docs",)


def test_a_sql_file_without_an_underscore_is_skipped_as_sqlx_skips_it(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql")
    write(tmp_path, "notes.sql")
    result = sqlx.read(entries(tmp_path))
    assert [m.version.text for m in result.migrations] == ["0001"]
    (warning,) = result.warnings
    assert warning.startswith(f"{tmp_path}/notes.sql: ") and "sqlx skips it" in warning


def test_down_without_up_is_skipped_as_sqlx_never_runs_it(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql")
    down = write(tmp_path, "0002_b.down.sql", "DROP TABLE b;\n")
    result = sqlx.read(entries(tmp_path))
    assert [m.version.text for m in result.migrations] == ["0001"]
    assert str(down) in result.ignored
    (warning,) = result.warnings
    assert warning.startswith(f"{down}: ") and "0002_b.up.sql" in warning


def test_up_and_down_pair_by_version_whatever_their_descriptions(tmp_path: Path) -> None:
    write(tmp_path, "1_add_x.up.sql", "SELECT 1;\n")
    write(tmp_path, "1_drop_x.down.sql", "SELECT 2;\n")
    assert sqlx.detect(entries(tmp_path)) == DISTINCTIVE
    (migration,) = sqlx.read(entries(tmp_path)).migrations
    assert migration.name == "add_x"
    assert migration.down is not None and migration.down.text == "SELECT 2;\n"


@pytest.mark.parametrize(
    ("text", "transactional"),
    [
        ("-- no-transaction\nSELECT 1;\n", False),
        ("-- no-transaction: CONCURRENTLY below\nSELECT 1;\n", False),
        ("SELECT 1;\n", True),
    ],
)
def test_no_transaction_is_the_files_first_bytes(
    tmp_path: Path, text: str, transactional: bool
) -> None:
    """sqlx: ``sql.starts_with("-- no-transaction")``."""
    write(tmp_path, "1_a.sql", text)
    (migration,) = sqlx.read(entries(tmp_path)).migrations
    assert migration.transactional is transactional
    assert migration.up.explicit_transaction is (not transactional)


@pytest.mark.parametrize(
    "names",
    [["0001_a.sql", "1_b.sql"], ["0001_a.sql", "0001_a.up.sql"], ["1_a.up.sql", "01_a.up.sql"]],
)
def test_duplicate_version_names_both_files(tmp_path: Path, names: list[str]) -> None:
    for name in names:
        write(tmp_path, name)
    with pytest.raises(DuplicateVersion) as info:
        sqlx.read(entries(tmp_path))
    message = str(info.value)
    assert all(f"{tmp_path}/{name}" in message for name in names)


def test_crlf_and_bom_copies_keep_their_checksums(tmp_path: Path) -> None:
    typical(tmp_path / "lf")
    for source in sorted((tmp_path / "lf").iterdir()):
        data = source.read_bytes().replace(b"\n", b"\r\n")
        write(tmp_path / "crlf", source.name, b"\xef\xbb\xbf" + data)
    lf = sqlx.read(entries(tmp_path / "lf")).migrations
    crlf = sqlx.read(entries(tmp_path / "crlf")).migrations
    assert [m.checksum for m in crlf] == [m.checksum for m in lf]
    assert [m.transactional for m in crlf] == [True, True, False]
