"""Which layout reads a folder: evidence beats fitting names, ties must agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrata.discovery import create_migration, discover_migrations
from migrata.errors import AmbiguousLayout, ConfigError


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def test_an_empty_folder_is_migrata_layout(tmp_path: Path) -> None:
    result = discover_migrations(tmp_path)
    assert result.layout == "migrata" and result.migrations == ()


def test_shared_names_are_read_by_migrata_and_the_others_listed(tmp_path: Path) -> None:
    write(tmp_path, {"1_a.up.sql": "SELECT 1;\n", "1_a.down.sql": "SELECT 2;\n"})
    result = discover_migrations(tmp_path)
    assert result.layout == "migrata"
    assert set(result.also) == {"sqlx", "golang-migrate"}


def test_distinctive_evidence_wins_over_fitting_names(tmp_path: Path) -> None:
    # dbmate's file names are migrata's too; the marker line decides.
    write(
        tmp_path,
        {"20240101000000_a.sql": "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\n"},
    )
    result = discover_migrations(tmp_path)
    assert result.layout == "dbmate"
    assert result.migrations[0].up.text.strip() == "CREATE TABLE a (id int);"


def test_a_file_two_layouts_read_differently_is_ambiguous(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "20240101000000_a.sql": "-- migrate:up\n-- +goose Up\nCREATE TABLE a (id int);\n"
            "-- +goose Down\n-- migrate:down\nDROP TABLE a;\n"
        },
    )
    with pytest.raises(AmbiguousLayout) as info:
        discover_migrations(tmp_path)
    assert set(info.value.candidates) == {"dbmate", "goose"}
    # The library names its argument, the command line its flag.
    assert str(tmp_path) in str(info.value) and "layout=" in str(info.value)
    assert "--layout" in info.value.cli_message and "layout=" not in info.value.cli_message
    # Forcing a layout reads it that way.
    forced = discover_migrations(tmp_path, layout="goose")
    assert forced.layout == "goose"
    assert forced.migrations[0].up.text.strip() == "CREATE TABLE a (id int);"


def test_a_folder_mixing_two_layouts_names_both_and_why(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "20240101000000_a.sql": "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\n",
            "20240102000000_b.sql": "-- +goose Up\nCREATE TABLE b (id int);\n",
        },
    )
    with pytest.raises(AmbiguousLayout) as info:
        discover_migrations(tmp_path)
    message = str(info.value)
    assert "dbmate:" in message and "goose:" in message
    assert "20240102000000_b.sql" in message  # what dbmate could not read


def test_unknown_forced_layout_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        discover_migrations(tmp_path, layout="liquibase")
    assert "flyway" in str(info.value) and "dbmate" in str(info.value)


@pytest.mark.parametrize(
    ("marker", "layout"),
    [
        ("-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\n", "dbmate"),
        ("-- +goose Up\nSELECT 1;\n", "goose"),
    ],
)
def test_new_writes_the_sections_of_single_file_layouts(
    tmp_path: Path, marker: str, layout: str
) -> None:
    write(tmp_path, {"20240101000000_a.sql": marker})
    created = create_migration(tmp_path, "add b")
    result = discover_migrations(tmp_path)
    assert result.layout == layout
    assert [m.name for m in result.migrations] == ["a", "add_b"]
    new = result.migrations[1]
    assert new.up.path == created.paths[0]
    # The down section is there, empty: `down` refuses it until it is written.
    assert new.down is not None and not new.down.text.strip(" \n")


def test_new_refuses_layouts_it_cannot_name(tmp_path: Path) -> None:
    write(tmp_path, {"V1__init.sql": "SELECT 1;\n"})
    with pytest.raises(ConfigError) as info:
        create_migration(tmp_path, "next")
    assert "flyway" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["V1__init.sql"]
