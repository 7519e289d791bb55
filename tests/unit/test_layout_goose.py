"""The goose reader on tmp trees: annotations, Go migrations, errors with their positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrata.discovery import discover_migrations
from migrata.errors import DiscoveryError, DuplicateVersion
from migrata.layouts import goose
from migrata.layouts.base import DISTINCTIVE, NO, Entry
from migrata.sqltext import checksum

PRODUCTS = "-- +goose Up\nCREATE TABLE products (id int);\n\n-- +goose Down\nDROP TABLE products;\n"
FUNCTION = (
    "-- +goose Up\n"
    "-- +goose StatementBegin\n"
    "CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END; $$ LANGUAGE plpgsql;\n"
    "-- +goose StatementEnd\n"
    "-- +goose Down\n"
    "-- +goose StatementBegin\n"
    "DROP FUNCTION f();\n"
    "-- +goose StatementEnd\n"
)
GO_SOURCE = (
    "package migrations\n\n"
    'import "github.com/pressly/goose/v3"\n\n'
    "func init() { goose.AddMigrationContext(up, down) }\n"
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
        goose.read(entries(root))
    return caught.value


def test_sections_versions_names_and_positions(tmp_path: Path) -> None:
    write(tmp_path, "00001_create_products.sql", PRODUCTS)
    write(tmp_path, "00002_function.sql", FUNCTION)

    result = goose.read(entries(tmp_path))

    assert result.layout == "goose"
    products, function = result.migrations
    assert [(m.version.text, m.name) for m in result.migrations] == [
        ("00001", "create_products"),
        ("00002", "function"),
    ]
    assert products.up.path == f"{tmp_path}/00001_create_products.sql"
    assert products.up.text == "CREATE TABLE products (id int);\n\n"
    assert products.up.first_line == 2
    assert products.down is not None
    assert products.down.text == "DROP TABLE products;\n"
    assert products.down.first_line == 5
    assert products.checksum == checksum("CREATE TABLE products (id int);\n\n")
    # StatementBegin/End stay in the text as comments; the splitter reads the SQL itself.
    assert function.up.text.startswith("-- +goose StatementBegin\nCREATE FUNCTION")
    assert function.up.text.endswith("-- +goose StatementEnd\n")
    assert function.down is not None and function.down.first_line == 6
    assert all(s.transactional and not s.explicit_transaction for s in (products.up, function.up))


def test_sequential_and_timestamp_versions_order_numerically(tmp_path: Path) -> None:
    write(tmp_path, "20230101120000_late.sql", "-- +goose Up\nSELECT 3;\n")
    write(tmp_path, "00002_two.sql", "-- +goose Up\nSELECT 2;\n")
    write(tmp_path, "10_ten.sql", "-- +goose Up\nSELECT 10;\n")
    versions = [m.version.text for m in goose.read(entries(tmp_path)).migrations]
    assert versions == ["00002", "10", "20230101120000"]


@pytest.mark.parametrize(
    "annotation",
    ["-- +goose NO TRANSACTION", "-- +goose no transaction", "--+goose No Transaction"],
)
def test_no_transaction_marks_both_sections_explicitly(tmp_path: Path, annotation: str) -> None:
    write(
        tmp_path,
        "00001_index.sql",
        f"{annotation}\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (c);\n"
        "-- +goose Down\nDROP INDEX CONCURRENTLY i;\n",
    )
    (migration,) = goose.read(entries(tmp_path)).migrations
    assert migration.down is not None
    for script in (migration.up, migration.down):
        assert script.transactional is False and script.explicit_transaction
        assert script.transaction_note == "marked NO TRANSACTION at line 1"
    assert migration.up.first_line == 3


def test_annotations_in_any_letter_case(tmp_path: Path) -> None:
    write(tmp_path, "00001_a.sql", "-- +goose up\nSELECT 1;\n-- +GOOSE x\n-- +goose DOWN\nB;\n")
    (migration,) = goose.read(entries(tmp_path)).migrations
    # goose looks for `+goose` as written: `-- +GOOSE x` is a plain comment of the up section.
    assert migration.up.text == "SELECT 1;\n-- +GOOSE x\n"
    assert migration.down is not None and migration.down.text == "B;\n"


@pytest.mark.parametrize("down", ["", "\n", "-- nothing to undo\n"])
def test_an_empty_down_section_is_a_down_without_sql(tmp_path: Path, down: str) -> None:
    """goose runs it as a no-op; `migrata down` refuses it unless --allow-empty-down."""
    write(
        tmp_path,
        "00001_seed.sql",
        "-- +goose Up\nINSERT INTO t VALUES (1);\n-- +goose Down\n" + down,
    )
    write(tmp_path, "00002_up_only.sql", "-- +goose Up\nSELECT 1;\n")
    seed, up_only = goose.read(entries(tmp_path)).migrations
    assert seed.down is not None and seed.down.text == down
    assert up_only.down is None


def test_envsub_off_alone_changes_nothing(tmp_path: Path) -> None:
    write(tmp_path, "00001_a.sql", "-- +goose ENVSUB OFF\n-- +goose Up\nSELECT '$HOME';\n")
    (migration,) = goose.read(entries(tmp_path)).migrations
    assert migration.up.text == "SELECT '$HOME';\n"


def test_crlf_file_reads_like_the_lf_file(tmp_path: Path) -> None:
    lf, crlf = tmp_path / "lf", tmp_path / "crlf"
    write(lf, "00001_f.sql", FUNCTION)
    write(crlf, "00001_f.sql", "\ufeff" + FUNCTION.replace("\n", "\r\n"))

    (from_lf,) = goose.read(entries(lf)).migrations
    (from_crlf,) = goose.read(entries(crlf)).migrations

    assert from_crlf.checksum == from_lf.checksum
    assert from_crlf.up.text.endswith("-- +goose StatementEnd\r\n")
    assert from_crlf.down is not None and from_crlf.down.first_line == 6


def test_go_migration_is_skipped_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "00001_create.sql", PRODUCTS)
    go_file = write(tmp_path, "00002_backfill_slugs.go", GO_SOURCE)
    write(tmp_path, "00003_index.sql", "-- +goose Up\nSELECT 3;\n")

    result = goose.read(entries(tmp_path))

    _, backfill, _ = result.migrations
    assert (backfill.version.text, backfill.name) == ("00002", "backfill_slugs")
    assert backfill.skip_reason == "a goose Go migration: migrata cannot run Go code"
    assert backfill.up.path == str(go_file)
    assert backfill.checksum == checksum(GO_SOURCE)
    assert backfill.down is None
    (warning,) = result.warnings
    assert warning.startswith(f"{go_file}: ")
    assert "skips it" in warning and "applied another way" in warning


def test_other_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "00001_a.sql", PRODUCTS)
    write(tmp_path, "00001_a_test.go", "package migrations\n")
    write(tmp_path, "helpers.go", "package migrations\n")
    write(tmp_path, "notes.txt", "Go migrations need a goose binary.\n")

    result = goose.read(entries(tmp_path))

    assert [m.version.text for m in result.migrations] == ["00001"]
    assert result.ignored == (
        f"{tmp_path}/00001_a_test.go",
        f"{tmp_path}/helpers.go",
        f"{tmp_path}/notes.txt",
    )
    assert result.warnings == ()


@pytest.mark.parametrize("name", ["seed.sql", "00000_zero.sql", "1.sql"])
def test_a_sql_file_without_a_version_is_refused_as_goose_refuses_it(
    tmp_path: Path, name: str
) -> None:
    """goose collects every ``*.sql`` file; NumericComponent fails on one without
    ``<version>_`` or with version 0, and goose refuses the folder."""
    write(tmp_path, "00001_a.sql", PRODUCTS)
    bad = write(tmp_path, name, "-- +goose Up\nSELECT 0;\n")
    with pytest.raises(DiscoveryError) as info:
        goose.read(entries(tmp_path))
    assert info.value.path == str(bad)
    assert "version above 0" in str(info.value)


def test_an_unfinished_statement_in_the_up_section_is_refused(tmp_path: Path) -> None:
    bad = write(tmp_path, "1_a.sql", "-- +goose Up\nSELECT 1;\nSELECT 2\n-- +goose Down\n")
    with pytest.raises(DiscoveryError) as info:
        goose.read(entries(tmp_path))
    assert (info.value.path, info.value.line) == (str(bad), 3)
    assert "no `;`" in str(info.value)


def test_an_unfinished_statement_in_the_down_section_refuses_only_reverting(
    tmp_path: Path,
) -> None:
    """goose parses a direction when it runs it: up works, down is refused."""
    write(
        tmp_path,
        "1_a.sql",
        "-- +goose Up\nCREATE TABLE a (id int); -- note\n\n-- +goose Down\n"
        "-- comment\nDROP TABLE a\nDROP TABLE b\n",
    )
    (migration,) = goose.read(entries(tmp_path)).migrations
    assert migration.up.text.startswith("CREATE TABLE a")
    assert migration.down is None
    assert migration.down_refusal is not None and "1_a.sql:6" in migration.down_refusal


def test_statement_blocks_and_trailing_comments_end_statements_as_goose_ends_them(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        "1_a.sql",
        "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$\n"
        "BEGIN RETURN 1; END\n$$ LANGUAGE plpgsql\n-- +goose StatementEnd\n"
        "SELECT 1; -- a note; with words\n-- +goose Down\nSELECT 2;\n",
    )
    (migration,) = goose.read(entries(tmp_path)).migrations
    assert migration.down is not None and migration.down_refusal is None


def test_missing_up_annotation_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "00001_a.sql", "CREATE TABLE a (id int);\n")
    error = read_error(tmp_path)
    assert error.path == str(path) and error.line is None
    assert str(error).startswith(f"{path}: ")
    assert "add `-- +goose Up`" in str(error)


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        ("-- note\nCREATE TABLE a (id int);\n-- +goose Up\nSELECT 1;\n", 2, "SQL before"),
        ("-- +goose Up\nA;\n-- +goose Up\nB;\n", 3, "a second `-- +goose Up` (the first is at"),
        ("-- +goose Up\nA;\n-- +goose Down\nB;\n-- +goose Down\nC;\n", 5, "a second `-- +goose"),
        ("-- +goose Down\nDROP TABLE a;\n-- +goose Up\nA;\n", 1, "comes before"),
        ("-- +goose Up\n-- +goose StatementBegin\nA;\n-- +goose Down\nB;\n", 4, "line 2 is still"),
        ("-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f();\n", 2, "never closed"),
        ("-- +goose Up\nA;\n-- +goose StatementEnd\n", 3, "without a `-- +goose StatementBegin"),
        ("-- +goose StatementBegin\nA;\n-- +goose StatementEnd\n-- +goose Up\n", 1, "must follow"),
        (
            "-- +goose Up\n-- +goose StatementBegin\n-- +goose StatementBegin\n",
            3,
            "close its previous block",
        ),
        ("-- +goose Up\n-- +goose ENVSUB ON\nSELECT '${X}';\n", 2, "ENVSUB ON` is not supported"),
        ("-- +goose Up\n-- +goose envsub on\nSELECT 1;\n", 2, "environment variables"),
        ("-- +goose Up\n-- +goose Sideways\nSELECT 1;\n", 2, "unknown goose annotation"),
        ("-- +goose Up\nA;\n-- see the +goose docs\n", 3, "unknown goose annotation"),
        ("-- +goose Up\nA;\n  -- +goose Down\nB;\n", 3, "remove the indent"),
        ("-- +goose Up -- +goose Down\nA;\n", 1, "two `+goose` annotations"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, content: str, line: int, words: str) -> None:
    path = write(tmp_path, "00001_a.sql", content)
    error = read_error(tmp_path)
    assert (error.path, error.line) == (str(path), line)
    assert str(error).startswith(f"{path}:{line}: ")
    assert words in str(error)


def test_duplicate_version_across_sql_and_go(tmp_path: Path) -> None:
    write(tmp_path, "00001_a.go", GO_SOURCE)
    write(tmp_path, "1_b.sql", PRODUCTS)
    with pytest.raises(DuplicateVersion) as caught:
        goose.read(entries(tmp_path))
    assert caught.value.path == f"{tmp_path}/1_b.sql"
    assert f"{tmp_path}/00001_a.go" in str(caught.value)


def test_detect(tmp_path: Path) -> None:
    write(tmp_path, "00001_plain.sql", "CREATE TABLE a (id int);\n")
    write(tmp_path, "00002_tool.go", "package main\n\nfunc main() {}\n")
    assert goose.detect(entries(tmp_path)) == NO
    write(tmp_path, "00003_b.go", GO_SOURCE)
    assert goose.detect(entries(tmp_path)) == DISTINCTIVE
    (tmp_path / "00003_b.go").unlink()
    write(tmp_path, "00003_b.sql", "-- +goose up\nSELECT 1;\n")
    assert goose.detect(entries(tmp_path)) == DISTINCTIVE


def test_discovery_picks_goose(tmp_path: Path) -> None:
    write(tmp_path, "00001_create.sql", PRODUCTS)
    write(tmp_path, "00002_backfill.go", GO_SOURCE)

    result = discover_migrations(tmp_path)

    assert result.layout == "goose"
    assert [(m.name, m.skip_reason is None) for m in result.migrations] == [
        ("create", True),
        ("backfill", False),
    ]
    assert len(result.warnings) == 1
