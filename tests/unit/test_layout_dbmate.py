"""The dbmate reader on tmp trees: sections, options, errors with their positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrata.discovery import discover_migrations
from migrata.errors import DiscoveryError, DuplicateVersion
from migrata.layouts import dbmate
from migrata.layouts.base import DISTINCTIVE, NO, Entry
from migrata.sqltext import checksum

CUSTOMERS = (
    "-- migrate:up\nCREATE TABLE customers (id int);\n\n-- migrate:down\nDROP TABLE customers;\n"
)


def write(root: Path, relative: str, content: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def entries(root: Path) -> list[Entry]:
    return list(Entry(root, str(root)).children())


def read_error(root: Path) -> DiscoveryError:
    with pytest.raises(DiscoveryError) as caught:
        dbmate.read(entries(root))
    return caught.value


def test_sections_versions_names_and_positions(tmp_path: Path) -> None:
    write(tmp_path, "20151129054053_create_customers.sql", CUSTOMERS)
    write(
        tmp_path,
        "20151129060000_seed.sql",
        "-- seeds the table\n\n-- migrate:up\nINSERT INTO customers VALUES (1);\n-- migrate:down\n",
    )

    result = dbmate.read(entries(tmp_path))

    assert result.layout == "dbmate"
    first, second = result.migrations
    assert (first.version.text, first.name) == ("20151129054053", "create_customers")
    assert (second.version.text, second.name) == ("20151129060000", "seed")
    assert first.up.path == f"{tmp_path}/20151129054053_create_customers.sql"
    assert first.up.text == "CREATE TABLE customers (id int);\n\n"
    assert first.up.first_line == 2
    assert first.down is not None
    assert first.down.text == "DROP TABLE customers;\n"
    assert first.down.first_line == 5
    assert first.checksum == checksum("CREATE TABLE customers (id int);\n\n")
    # Leading comments are dropped; an empty down section is a down without statements.
    assert second.up.text == "INSERT INTO customers VALUES (1);\n"
    assert second.up.first_line == 4
    assert second.down is not None and second.down.text == ""


def test_migrations_run_in_file_name_order_as_dbmate_runs_them(tmp_path: Path) -> None:
    """dbmate sorts the files by name (``FindMigrations``), not their versions by number."""
    for name in ("10_later.sql", "9_earlier.sql", "1_x.sql"):
        write(tmp_path, name, "-- migrate:up\nSELECT 1;\n-- migrate:down\n")
    result = dbmate.read(entries(tmp_path))
    assert [m.version.text for m in result.migrations] == ["10", "1", "9"]
    assert result.migrations[0].version < result.migrations[1].version


def test_versions_are_text_so_01_and_1_differ(tmp_path: Path) -> None:
    """dbmate stores the digits as written (``schema_migrations.version`` is text)."""
    write(tmp_path, "01_a.sql", CUSTOMERS)
    write(tmp_path, "1_b.sql", CUSTOMERS)
    result = dbmate.read(entries(tmp_path))
    assert [m.version.text for m in result.migrations] == ["01", "1"]
    assert result.migrations[0].version != result.migrations[1].version


def test_transaction_options_are_explicit_per_section(tmp_path: Path) -> None:
    write(
        tmp_path,
        "1_index.sql",
        "-- migrate:up transaction:false\n"
        "CREATE INDEX CONCURRENTLY i ON t (c);\n"
        "-- migrate:down transaction:true\n"
        "DROP INDEX i;\n",
    )
    write(tmp_path, "2_plain.sql", CUSTOMERS)

    index, plain = dbmate.read(entries(tmp_path)).migrations

    assert index.up.transactional is False and index.up.explicit_transaction
    assert index.up.transaction_note == "marked transaction:false at line 1"
    assert index.down is not None
    assert index.down.transactional is True and index.down.explicit_transaction
    assert index.down.transaction_note is None
    assert plain.up.transactional is True and not plain.up.explicit_transaction
    assert plain.down is not None and not plain.down.explicit_transaction


def test_marker_spellings_dbmate_accepts(tmp_path: Path) -> None:
    write(tmp_path, "1_a.sql", "--migrate:up\nSELECT 1;\n--migrate:down   \nSELECT 2;\n")
    write(
        tmp_path, "2_b.sql", "-- migrate:up  note transaction:false  \nSELECT 3;\n-- migrate:down\n"
    )

    a, b = dbmate.read(entries(tmp_path)).migrations

    assert a.up.text == "SELECT 1;\n"
    assert a.down is not None and a.down.text == "SELECT 2;\n"
    # Words without a colon are prose to dbmate; the option still counts.
    assert b.up.transactional is False


@pytest.mark.parametrize(
    "down",
    [
        "",
        "\n\n",
        "-- nothing to undo\n",
        "/* nothing /* nested */ to undo */\n",
    ],
)
def test_an_empty_or_comment_only_down_is_a_down_without_sql(tmp_path: Path, down: str) -> None:
    """dbmate runs it as a no-op; `migrata down` refuses it unless --allow-empty-down."""
    write(
        tmp_path, "1_seed.sql", "-- migrate:up\nINSERT INTO t VALUES (1);\n-- migrate:down\n" + down
    )
    (migration,) = dbmate.read(entries(tmp_path)).migrations
    assert migration.down is not None and migration.down.text == down


def test_crlf_file_reads_like_the_lf_file(tmp_path: Path) -> None:
    lf, crlf = tmp_path / "lf", tmp_path / "crlf"
    write(lf, "1_a.sql", CUSTOMERS)
    write(crlf, "1_a.sql", "\ufeff" + CUSTOMERS.replace("\n", "\r\n"))

    (from_lf,) = dbmate.read(entries(lf)).migrations
    (from_crlf,) = dbmate.read(entries(crlf)).migrations

    assert from_crlf.checksum == from_lf.checksum
    assert from_crlf.up.text == "CREATE TABLE customers (id int);\r\n\r\n"
    assert from_crlf.down is not None and from_lf.down is not None
    assert from_crlf.down.first_line == from_lf.down.first_line == 5


def test_other_files_are_ignored_and_unversioned_sql_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "1_a.sql", CUSTOMERS)
    write(tmp_path, "README.md", "notes\n")
    write(tmp_path, "schema.sql", "CREATE TABLE x (id int);\n")
    (tmp_path / "archive").mkdir()

    result = dbmate.read(entries(tmp_path))

    assert [m.version.text for m in result.migrations] == ["1"]
    assert result.ignored == (f"{tmp_path}/README.md", f"{tmp_path}/archive")
    (warning,) = result.warnings
    assert warning.startswith(f"{tmp_path}/schema.sql: ")
    assert "dbmate skips it" in warning


def test_missing_up_marker_names_the_file_and_what_to_add(tmp_path: Path) -> None:
    path = write(tmp_path, "1_a.sql", "CREATE TABLE a (id int);\n")
    error = read_error(tmp_path)
    assert error.path == str(path) and error.line is None
    assert "add `-- migrate:up`" in str(error)
    assert str(error).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        ("-- note\nCREATE TABLE a (id int);\n-- migrate:up\nSELECT 1;\n", 2, "SQL before"),
        ("/* header */\n-- migrate:up\nSELECT 1;\n", 1, "SQL before"),
        ("-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;\n", 3, "a second `-- migrate:up`"),
        ("-- migrate:up\n-- migrate:down\nA;\n-- migrate:down\nB;\n", 4, "second `-- migrate:down"),
        ("-- migrate:down\nDROP TABLE a;\n-- migrate:up\nSELECT 1;\n", 1, "comes before"),
        ("-- migrate:up\nSELECT 1;\n-- Migrate:Down\nSELECT 2;\n", 3, "looks like a section"),
        ("-- migrate:up\nSELECT 1;\n  -- migrate:down\nSELECT 2;\n", 3, "looks like a section"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, content: str, line: int, words: str) -> None:
    path = write(tmp_path, "1_a.sql", content)
    error = read_error(tmp_path)
    assert (error.path, error.line) == (str(path), line)
    assert str(error).startswith(f"{path}:{line}: ")
    assert words in str(error)


def test_duplicate_version_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, "1_a.sql", CUSTOMERS)
    write(tmp_path, "1_b.sql", CUSTOMERS)
    with pytest.raises(DuplicateVersion) as caught:
        dbmate.read(entries(tmp_path))
    assert caught.value.path == f"{tmp_path}/1_b.sql"
    assert f"{tmp_path}/1_a.sql" in str(caught.value)


def test_a_file_without_a_down_marker_is_refused_as_dbmate_refuses_it(tmp_path: Path) -> None:
    """dbmate's parser: ErrParseMissingDown ("dbmate requires each migration to define a down
    block with '-- migrate:down'")."""
    path = write(tmp_path, "1_a.sql", "-- migrate:up\nSELECT 1;\n")
    error = read_error(tmp_path)
    assert error.path == str(path)
    assert "-- migrate:down" in str(error)


@pytest.mark.parametrize(
    ("marker", "transactional"),
    [("-- migrate:up transactions:false", None), ("-- migrate:up transaction:FALSE", True)],
)
def test_options_dbmate_ignores_are_warned_about(
    tmp_path: Path, marker: str, transactional: bool | None
) -> None:
    path = write(tmp_path, "1_a.sql", f"{marker}\nSELECT 1;\n-- migrate:down\n")
    result = dbmate.read(entries(tmp_path))
    (migration,) = result.migrations
    assert migration.up.transactional is True
    assert migration.up.explicit_transaction is (transactional is not None)
    (warning,) = result.warnings
    assert warning.startswith(f"{path}:1: dbmate option")


def test_detect(tmp_path: Path) -> None:
    write(tmp_path, "0001_plain.sql", "CREATE TABLE a (id int);\n")
    assert dbmate.detect(entries(tmp_path)) == NO
    write(tmp_path, "0002_b.sql", "-- migrate:up transaction:false\nSELECT 1;\n")
    assert dbmate.detect(entries(tmp_path)) == DISTINCTIVE


def test_discovery_picks_dbmate(tmp_path: Path) -> None:
    write(tmp_path, "20240101000000_a.sql", CUSTOMERS)
    write(tmp_path, "20240102000000_b.sql", "-- migrate:up\nSELECT 1;\n-- migrate:down\n")

    result = discover_migrations(tmp_path)

    assert result.layout == "dbmate"
    assert [(m.name, m.reversible) for m in result.migrations] == [("a", True), ("b", True)]
    assert result.migrations[1].down is not None and result.migrations[1].down.text == ""
    assert result.migrations[0].up.text == "CREATE TABLE customers (id int);\n\n"
