"""The diesel reader: migration folders, metadata.toml, version forms, detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrata.discovery import _shape, discover_migrations
from migrata.errors import AmbiguousLayout, DuplicateVersion, InvalidEncoding, InvalidMigrationName
from migrata.layouts import diesel, native
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
    write(root, "2017-03-05-095748_create_users/up.sql", "CREATE TABLE users (id int);\n")
    write(root, "2017-03-05-095748_create_users/down.sql", "DROP TABLE users;\n")
    write(root, "2017-03-06-000000_create_posts/up.sql", "CREATE TABLE posts (id int);\n")
    write(root, "2017-03-06-000000_create_posts/down.sql", "DROP TABLE posts;\n")
    write(root, "20170307000000_seed/up.sql", "INSERT INTO users VALUES (1);\n")
    write(root, ".keep", "")
    write(root, "README.md", "# migrations\n")


def test_reads_migration_folders(tmp_path: Path) -> None:
    typical(tmp_path)
    result = diesel.read(entries(tmp_path))
    assert result.layout == "diesel"
    assert [(m.version.text, m.name) for m in result.migrations] == [
        ("2017-03-05-095748", "create_users"),
        ("2017-03-06-000000", "create_posts"),
        ("20170307000000", "seed"),
    ]
    users, _, seed = result.migrations
    assert users.up.path == f"{tmp_path}/2017-03-05-095748_create_users/up.sql"
    assert users.down is not None and users.down.text == "DROP TABLE users;\n"
    assert seed.down is None  # down.sql is optional
    assert users.checksum == checksum("CREATE TABLE users (id int);\n")
    # README is listed; .keep is hidden and never content
    assert result.ignored == (f"{tmp_path}/README.md",)


def test_keeps_the_version_as_diesel_stores_it(tmp_path: Path) -> None:
    typical(tmp_path)
    result = diesel.read(entries(tmp_path))
    assert [m.info("version") for m in result.migrations] == [
        "20170305095748",
        "20170306000000",
        "20170307000000",
    ]


def test_versions_are_text_and_run_in_text_order(tmp_path: Path) -> None:
    """diesel compares versions as strings (MigrationVersion derives Ord on its text)."""
    write(tmp_path, "2017-03-05-095748_b/up.sql")
    write(tmp_path, "20170306000000_c/up.sql")
    write(tmp_path, "00000000000000_diesel_initial_setup/up.sql")
    write(tmp_path, "1_a/up.sql")
    write(tmp_path, "9_z/up.sql")
    result = diesel.read(entries(tmp_path))
    assert [m.version.text for m in result.migrations] == [
        "00000000000000",
        "1",
        "2017-03-05-095748",
        "20170306000000",
        "9",
    ]
    assert all(m.version.textual for m in result.migrations)
    assert result.migrations[0].name == "diesel_initial_setup"


def test_a_short_date_version_runs_after_a_longer_one_as_diesel_runs_it(tmp_path: Path) -> None:
    # "2024-03-13_170000_x" has version 20240313; diesel runs it after 20240306170000.
    write(tmp_path, "2024-03-13_170000_x/up.sql")
    write(tmp_path, "2024-03-06-170000_y/up.sql")
    assert diesel.detect(entries(tmp_path)) == DISTINCTIVE
    result = discover_migrations(tmp_path)
    assert result.layout == "diesel"
    assert [(m.version.text, m.name) for m in result.migrations] == [
        ("2024-03-06-170000", "y"),
        ("2024-03-13", "170000_x"),
    ]
    assert [m.info("version") for m in result.migrations] == ["20240306170000", "20240313"]


def test_current_cli_names_with_a_counter_are_read(tmp_path: Path) -> None:
    """diesel CLI 2.3 appends a four-hex-digit counter: 2025-11-19-091444-0000_add_x."""
    write(tmp_path, "2017-03-05-095748_old/up.sql")
    write(tmp_path, "2025-11-19-091444-0000_add_x/up.sql")
    write(tmp_path, "2025-11-19-091444-0001_add_y/up.sql")
    write(tmp_path, "2025-11-19-091444-000a_add_z/up.sql")
    assert diesel.detect(entries(tmp_path)) == DISTINCTIVE
    result = discover_migrations(tmp_path)
    assert result.layout == "diesel"
    assert [m.name for m in result.migrations] == ["old", "add_x", "add_y", "add_z"]
    assert [m.info("version") for m in result.migrations][1:] == [
        "202511190914440000",
        "202511190914440001",
        "20251119091444000a",
    ]


def test_dashed_and_plain_timestamps_are_one_version(tmp_path: Path) -> None:
    # diesel would keep one of them and never run the other: migrata refuses the folder.
    write(tmp_path, "2017-03-05-095748_a/up.sql")
    write(tmp_path, "20170305095748_b/up.sql")
    with pytest.raises(DuplicateVersion) as info:
        diesel.read(entries(tmp_path))
    assert info.value.path == f"{tmp_path}/20170305095748_b"
    assert f"{tmp_path}/2017-03-05-095748_a" in str(info.value)


def test_a_typical_folder_fits_and_reads_exactly_as_migratas_own(tmp_path: Path) -> None:
    typical(tmp_path)
    assert diesel.detect(entries(tmp_path)) == FITS
    mine = diesel.read(entries(tmp_path))
    theirs = native.read(entries(tmp_path))
    assert _shape(mine) == _shape(theirs)
    assert len(_shape(mine)) == 3
    assert mine.ignored == theirs.ignored
    result = discover_migrations(tmp_path)
    assert result.layout == "migrata"
    assert "diesel" in result.also


def test_run_in_transaction_false_turns_both_scripts_off_explicitly(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "2017-03-06-000000_create_posts/metadata.toml", "run_in_transaction = false\n")
    assert diesel.detect(entries(tmp_path)) == DISTINCTIVE
    result = discover_migrations(tmp_path)
    assert result.layout == "diesel"
    users, posts, _ = result.migrations
    assert not posts.transactional
    assert posts.up.explicit_transaction
    assert posts.up.transaction_note is not None
    assert posts.down is not None
    assert not posts.down.transactional and posts.down.explicit_transaction
    assert users.transactional and not users.up.explicit_transaction
    # metadata.toml is read, not ignored
    assert f"{tmp_path}/2017-03-06-000000_create_posts/metadata.toml" not in result.ignored


def test_metadata_that_keeps_the_transaction_is_no_marker(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "2017-03-06-000000_create_posts/metadata.toml", "run_in_transaction = true\n")
    posts = discover_migrations(tmp_path).migrations[1]
    assert posts.transactional
    assert not posts.up.explicit_transaction


@pytest.mark.parametrize("text", ["# nothing\n", "", "other = 1\n"])
def test_metadata_without_run_in_transaction_runs_outside_one(tmp_path: Path, text: str) -> None:
    """diesel's TomlMetadata has ``#[serde(default)] run_in_transaction: bool``: a file that
    does not set it reads as false."""
    typical(tmp_path)
    write(tmp_path, "2017-03-06-000000_create_posts/metadata.toml", text)
    posts = discover_migrations(tmp_path).migrations[1]
    assert not posts.transactional
    assert posts.up.explicit_transaction
    assert "does not set run_in_transaction" in (posts.up.transaction_note or "")


def test_a_migrata_directive_still_wins_over_metadata(tmp_path: Path) -> None:
    write(tmp_path, "1_a/up.sql", "-- migrata: transaction\nSELECT 1;\n")
    write(tmp_path, "1_a/metadata.toml", "run_in_transaction = false\n")
    (migration,) = diesel.read(entries(tmp_path)).migrations
    assert migration.transactional and migration.up.explicit_transaction


def test_initial_setup_folder_is_diesels_evidence(tmp_path: Path) -> None:
    write(tmp_path, "00000000000000_diesel_initial_setup/up.sql", "CREATE FUNCTION f() ...;\n")
    write(tmp_path, "00000000000000_diesel_initial_setup/down.sql", "DROP FUNCTION f;\n")
    write(tmp_path, "2017-03-05-095748_a/up.sql")
    assert diesel.detect(entries(tmp_path)) == DISTINCTIVE
    result = discover_migrations(tmp_path)
    assert result.layout == "diesel"
    assert [m.info("version") for m in result.migrations] == ["00000000000000", "20170305095748"]


def test_bad_toml_is_a_warning_naming_the_file_and_line(tmp_path: Path) -> None:
    """diesel ignores a metadata.toml it cannot read (``unwrap_or_default``) and runs the
    migration in a transaction; migrata says so, and decides from the statements."""
    typical(tmp_path)
    bad = write(
        tmp_path, "2017-03-06-000000_create_posts/metadata.toml", "# x\nrun_in_transaction = fals\n"
    )
    result = discover_migrations(tmp_path)
    posts = result.migrations[1]
    assert posts.transactional and not posts.up.explicit_transaction
    assert any(w.startswith(f"{bad}:2: not valid TOML") for w in result.warnings)


def test_a_non_boolean_run_in_transaction_is_a_warning(tmp_path: Path) -> None:
    bad = write(tmp_path, "1_a/metadata.toml", 'a = 1\nrun_in_transaction = "no"\n')
    write(tmp_path, "1_a/up.sql")
    result = diesel.read(entries(tmp_path))
    (migration,) = result.migrations
    assert migration.transactional and not migration.up.explicit_transaction
    (warning,) = result.warnings
    assert warning.startswith(f"{bad}:2:")
    assert "true or false" in warning


def test_metadata_that_is_not_utf8_is_an_encoding_error(tmp_path: Path) -> None:
    write(tmp_path, "1_a/up.sql")
    bad = write(tmp_path, "1_a/metadata.toml", "# caf\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidEncoding) as info:
        diesel.read(entries(tmp_path))
    assert info.value.path == str(bad)


def test_other_files_in_a_migration_folder_are_ignored(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "20170307000000_seed/notes.md")
    result = diesel.read(entries(tmp_path))
    assert sorted(result.ignored) == sorted(
        [f"{tmp_path}/README.md", f"{tmp_path}/20170307000000_seed/notes.md"]
    )


def test_a_folder_without_up_sql_is_refused_as_diesel_refuses_it(tmp_path: Path) -> None:
    """diesel's FileBasedMigrations fails with UnknownMigrationFormat on any folder (hidden
    ones aside) without up.sql."""
    typical(tmp_path)
    write(tmp_path, "docs/guide.md")
    write(tmp_path, ".hidden/notes.md")
    with pytest.raises(InvalidMigrationName) as info:
        diesel.read(entries(tmp_path))
    assert info.value.path == f"{tmp_path}/docs"
    assert "up.sql" in str(info.value)


def test_a_top_level_sql_file_means_the_folder_is_not_diesels(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "0001_loose.sql")
    assert diesel.detect(entries(tmp_path)) == NO
    assert "diesel" not in discover_migrations(tmp_path).also


def test_a_top_level_sql_file_beside_diesel_evidence_is_ignored_with_a_warning(
    tmp_path: Path,
) -> None:
    typical(tmp_path)
    write(tmp_path, "1_a/up.sql")
    write(tmp_path, "1_a/metadata.toml", "run_in_transaction = false\n")
    loose = write(tmp_path, "0001_loose.sql")
    assert diesel.detect(entries(tmp_path)) == DISTINCTIVE
    # migrata's own layout would run that file: which tool wrote the folder is not guessed.
    with pytest.raises(AmbiguousLayout) as info:
        discover_migrations(tmp_path)
    assert "diesel would run" in str(info.value) and "skip 0001_loose.sql" in str(info.value)
    result = discover_migrations(tmp_path, layout="diesel")
    assert str(loose) in result.ignored and result.skipped == (str(loose),)
    assert any(w.startswith(f"{loose}:") and "never" in w for w in result.warnings)
    assert len(result.migrations) == 4


def test_a_migration_folder_without_up_sql_is_an_error(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "20170308000000_empty/down.sql")
    with pytest.raises(InvalidMigrationName) as info:
        diesel.read(entries(tmp_path))
    assert info.value.path == f"{tmp_path}/20170308000000_empty"
    assert "up.sql" in str(info.value)


def test_a_folder_name_without_an_underscore_is_its_own_version(tmp_path: Path) -> None:
    """diesel's version is the name up to the first ``_``: all of ``init``."""
    typical(tmp_path)
    write(tmp_path, "init/up.sql")
    assert diesel.detect(entries(tmp_path)) == DISTINCTIVE
    result = discover_migrations(tmp_path)
    assert result.layout == "diesel"
    assert [m.version.text for m in result.migrations][-1] == "init"


def test_a_folder_name_with_no_version_is_an_error(tmp_path: Path) -> None:
    typical(tmp_path)
    write(tmp_path, "_x/up.sql")
    with pytest.raises(InvalidMigrationName) as info:
        diesel.read(entries(tmp_path))
    assert info.value.path == f"{tmp_path}/_x"


def test_detect_is_no_without_migration_folders(tmp_path: Path) -> None:
    assert diesel.detect(entries(tmp_path)) == NO
    write(tmp_path, "README.md")
    write(tmp_path, "docs/x.md")
    assert diesel.detect(entries(tmp_path)) == NO


def test_crlf_copies_keep_their_checksums(tmp_path: Path) -> None:
    typical(tmp_path / "lf")
    for source in sorted((tmp_path / "lf").rglob("*.sql")):
        relative = source.relative_to(tmp_path / "lf")
        write(tmp_path / "crlf", str(relative), source.read_bytes().replace(b"\n", b"\r\n"))
    lf = diesel.read(entries(tmp_path / "lf")).migrations
    crlf = diesel.read(entries(tmp_path / "crlf")).migrations
    assert [m.checksum for m in crlf] == [m.checksum for m in lf]
    assert len(crlf) == 3
