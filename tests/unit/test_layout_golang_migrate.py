"""The golang-migrate reader: `.up.sql`/`.down.sql` pairs, numeric order, detection as FITS."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrata.discovery import _shape, discover_migrations
from migrata.errors import DuplicateVersion, InvalidMigrationName
from migrata.layouts import golang_migrate, native
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
    write(root, "1_create_users.up.sql", "CREATE TABLE users (id int);\n")
    write(root, "1_create_users.down.sql", "DROP TABLE users;\n")
    write(root, "2_add_posts.up.sql", "CREATE TABLE posts (id int);\n")
    write(root, "2_add_posts.down.sql", "DROP TABLE posts;\n")
    write(
        root,
        "10_index_posts.up.sql",
        "-- migrata: no-transaction\nCREATE INDEX CONCURRENTLY i ON posts (id);\n",
    )


def test_reads_pairs_in_numeric_order_never_by_name(tmp_path: Path) -> None:
    typical(tmp_path)
    result = golang_migrate.read(entries(tmp_path))
    assert result.layout == "golang-migrate"
    # by name, 10_ would sort before 2_
    assert [(m.version.text, m.name) for m in result.migrations] == [
        ("1", "create_users"),
        ("2", "add_posts"),
        ("10", "index_posts"),
    ]
    users, posts, index = result.migrations
    assert users.down is not None and users.down.text == "DROP TABLE users;\n"
    assert posts.down is not None and posts.down.path == f"{tmp_path}/2_add_posts.down.sql"
    assert index.down is None  # the down file is optional
    assert users.checksum == checksum("CREATE TABLE users (id int);\n")


def test_zero_padded_versions_are_numbers_too(tmp_path: Path) -> None:
    write(tmp_path, "000010_c.up.sql")
    write(tmp_path, "000002_b.up.sql")
    write(tmp_path, "3_x.up.sql")
    result = golang_migrate.read(entries(tmp_path))
    assert [m.version.text for m in result.migrations] == ["000002", "3", "000010"]
    assert [m.version.key for m in result.migrations] == [(2,), (3,), (10,)]


def test_transactions_follow_only_migrata_directives(tmp_path: Path) -> None:
    typical(tmp_path)
    users, _, index = golang_migrate.read(entries(tmp_path)).migrations
    # golang-migrate has no marker of its own: nothing is passed, nothing is explicit
    assert users.transactional and not users.up.explicit_transaction
    assert not index.transactional and index.up.explicit_transaction


def test_reading_is_identical_to_migratas_own(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "README.md", "docs\n")
    mine = golang_migrate.read(entries(tmp_path))
    theirs = native.read(entries(tmp_path))
    assert _shape(mine) == _shape(theirs)
    assert len(_shape(mine)) == 3
    assert mine.ignored == theirs.ignored == (f"{tmp_path}/README.md",)


def test_discovery_reads_with_migratas_own_layout_and_lists_golang_migrate(
    tmp_path: Path,
) -> None:
    typical(tmp_path)
    assert golang_migrate.detect(entries(tmp_path)) == FITS
    result = discover_migrations(tmp_path)
    assert result.layout == "migrata"
    assert "golang-migrate" in result.also
    assert [m.version.text for m in result.migrations] == ["1", "2", "10"]


def test_an_up_only_file_makes_the_folder_migratas_own(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "11_seed.sql", "INSERT INTO users VALUES (1);\n")
    assert golang_migrate.detect(entries(tmp_path)) == NO
    result = discover_migrations(tmp_path)
    assert result.layout == "migrata"
    assert "golang-migrate" not in result.also
    # migrata runs the up-only file that golang-migrate would have skipped
    assert result.migrations[-1].version.text == "11"
    assert result.migrations[-1].name == "seed"


def test_an_up_only_file_is_skipped_with_a_warning_when_golang_migrate_is_asked_for(
    tmp_path: Path,
) -> None:
    """golang-migrate's PartialDriver skips names DefaultParse refuses."""
    typical(tmp_path)
    write(tmp_path, "11_seed.sql")
    result = discover_migrations(tmp_path, layout="golang-migrate")
    assert "11" not in [m.version.text for m in result.migrations]
    assert f"{tmp_path}/11_seed.sql" in result.ignored
    (warning,) = result.warnings
    assert warning.startswith(f"{tmp_path}/11_seed.sql: ") and "11_seed.up.sql" in warning


@pytest.mark.parametrize(
    "extra",
    ["2025-01-08-120000_x.up.sql", "99999999999999999999999_x.up.sql", "notes.sql", "5_x/up.sql"],
)
def test_detect_is_no_when_a_name_does_not_fit(tmp_path: Path, extra: str) -> None:
    typical(tmp_path)
    write(tmp_path, extra)
    assert golang_migrate.detect(entries(tmp_path)) == NO


@pytest.mark.parametrize(
    "name", ["2025-01-08-120000_x.up.sql", "99999999999999999999999_x.up.sql", "notes.sql"]
)
def test_a_sql_file_that_is_not_a_golang_migrate_file_is_skipped_with_a_warning(
    tmp_path: Path, name: str
) -> None:
    typical(tmp_path)
    write(tmp_path, name)
    result = golang_migrate.read(entries(tmp_path))
    assert len(result.migrations) == 3
    (warning,) = result.warnings
    assert warning.startswith(f"{tmp_path}/{name}: ")
    assert "<version>_<title>.up.sql" in warning and "skips it" in warning


def test_a_migration_folder_is_an_error(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "20_x/up.sql")
    with pytest.raises(InvalidMigrationName) as info:
        golang_migrate.read(entries(tmp_path))
    assert info.value.path == f"{tmp_path}/20_x"


def test_files_of_other_extensions_are_ignored(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "3_mongo.up.json", "{}")
    result = golang_migrate.read(entries(tmp_path))
    assert result.ignored == (f"{tmp_path}/3_mongo.up.json",)
    assert len(result.migrations) == 3


@pytest.mark.parametrize(
    ("names", "reported", "other"),
    [
        (["1_a.up.sql", "01_b.up.sql"], "1_a.up.sql", "01_b.up.sql"),
        (["1_a.up.sql", "01_a.up.sql"], "1_a.up.sql", "01_a.up.sql"),
        (["1_a.up.sql", "1_a.down.sql", "01_a.down.sql"], "1_a.down.sql", "01_a.down.sql"),
        (["1_a.up.sql", "1_b.up.sql"], "1_b.up.sql", "1_a.up.sql"),
    ],
)
def test_duplicate_version_names_both_files(
    tmp_path: Path, names: list[str], reported: str, other: str
) -> None:
    for name in names:
        write(tmp_path, name)
    with pytest.raises(DuplicateVersion) as info:
        golang_migrate.read(entries(tmp_path))
    assert info.value.path == f"{tmp_path}/{reported}"
    assert f"{tmp_path}/{other}" in str(info.value)


def test_up_and_down_pair_by_version_whatever_their_titles(tmp_path: Path) -> None:
    """golang-migrate keys migrations by version and direction (``source/migration.go``)."""
    write(tmp_path, "30_add_x.up.sql", "ALTER TABLE t ADD x int;\n")
    write(tmp_path, "30_drop_x.down.sql", "ALTER TABLE t DROP x;\n")
    write(tmp_path, "31_z.down.sql", "SELECT 2;\n")
    write(tmp_path, "31_a.up.sql", "SELECT 1;\n")
    assert golang_migrate.detect(entries(tmp_path)) == DISTINCTIVE
    result = discover_migrations(tmp_path)
    # sqlx pairs by version too, and reads the folder the same way
    assert {result.layout, *result.also} == {"golang-migrate", "sqlx"}
    thirty, thirty_one = result.migrations
    assert thirty.name == "add_x" and thirty.down is not None
    assert thirty.down.text == "ALTER TABLE t DROP x;\n"
    assert thirty_one.name == "a" and thirty_one.down is not None


def test_down_without_up_is_an_empty_migration_with_a_warning(tmp_path: Path) -> None:
    """golang-migrate's newMigration builds an empty migration when the up file is missing:
    the version is recorded, nothing runs."""
    typical(tmp_path)
    down = write(tmp_path, "3_c.down.sql")
    result = golang_migrate.read(entries(tmp_path))
    last = next(m for m in result.migrations if m.version.text == "3")
    assert (last.name, last.up.text) == ("c", "")
    assert last.down is not None
    (warning,) = result.warnings
    assert warning.startswith(f"{down}: ") and "3_c.up.sql" in warning


def test_crlf_copies_keep_their_checksums(tmp_path: Path) -> None:
    typical(tmp_path / "lf")
    for source in sorted((tmp_path / "lf").iterdir()):
        write(tmp_path / "crlf", source.name, source.read_bytes().replace(b"\n", b"\r\n"))
    lf = golang_migrate.read(entries(tmp_path / "lf")).migrations
    crlf = golang_migrate.read(entries(tmp_path / "crlf")).migrations
    assert [m.checksum for m in crlf] == [m.checksum for m in lf]
    assert "\r\n" in crlf[0].up.text
