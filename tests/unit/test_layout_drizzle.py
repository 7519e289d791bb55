"""The drizzle reader on tmp trees: the journal decides membership, order and versions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from migrata.discovery import discover_migrations
from migrata.errors import DiscoveryError, DuplicateVersion
from migrata.layouts import drizzle
from migrata.layouts.base import DISTINCTIVE, NO, Entry
from migrata.sqltext import checksum

MEMBERS = (
    'CREATE TABLE "members" ("id" serial PRIMARY KEY);\n'
    "--> statement-breakpoint\n"
    'CREATE INDEX "members_id_idx" ON "members" ("id");--> statement-breakpoint\n'
    'ALTER TABLE "members" ADD COLUMN "bio" text;\n'
)


def write(root: Path, relative: str, content: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def entry(idx: int, tag: str, when: int) -> dict[str, Any]:
    return {"idx": idx, "version": "7", "when": when, "tag": tag, "breakpoints": True}


def write_journal(root: Path, items: list[Any], **extra: Any) -> Path:
    journal = {"version": "7", "dialect": "postgresql", "entries": items, **extra}
    return write(root, "meta/_journal.json", json.dumps(journal, indent=2))


def entries(root: Path) -> list[Entry]:
    return list(Entry(root, str(root)).children())


def read_error(root: Path) -> DiscoveryError:
    with pytest.raises(DiscoveryError) as caught:
        drizzle.read(entries(root))
    return caught.value


def test_journal_entries_become_migrations(tmp_path: Path) -> None:
    write_journal(
        tmp_path,
        [entry(0, "0000_init_sad_name", 1700000000000), entry(1, "0001_add_bio", 1700000360000)],
    )
    write(tmp_path, "0000_init_sad_name.sql", MEMBERS)
    write(tmp_path, "0001_add_bio.sql", 'ALTER TABLE "members" ADD COLUMN "x" int;\n')
    write(tmp_path, "meta/0000_snapshot.json", "{}")
    write(tmp_path, "meta/0001_snapshot.json", "{}")

    result = drizzle.read(entries(tmp_path))

    assert result.layout == "drizzle"
    init, bio = result.migrations
    assert [(m.version.text, m.name) for m in result.migrations] == [
        ("0000", "init_sad_name"),
        ("0001", "add_bio"),
    ]
    assert init.up.path == f"{tmp_path}/0000_init_sad_name.sql"
    assert init.up.text == MEMBERS  # breakpoints stay: they are SQL comments
    assert init.up.first_line == 1
    assert init.up.transactional and not init.up.explicit_transaction
    assert init.down is None and bio.down is None
    assert init.checksum == checksum(MEMBERS)
    assert init.info("when") == "1700000000000"
    assert init.info("tag") == "0000_init_sad_name"
    assert init.info("hash") == hashlib.sha256(MEMBERS.encode()).hexdigest()
    assert bio.info("when") == "1700000360000"
    assert result.warnings == ()
    assert result.ignored == (
        f"{tmp_path}/meta/0000_snapshot.json",
        f"{tmp_path}/meta/0001_snapshot.json",
    )


def test_the_journal_decides_the_order(tmp_path: Path) -> None:
    # Timestamp prefixes are digits too; the file names alone would sort the same way here,
    # but only the journal's membership counts.
    write_journal(
        tmp_path,
        [
            entry(0, "20240101120000_first", 1704110400000),
            entry(1, "20240202120000_second", 1706875200000),
        ],
    )
    write(tmp_path, "20240202120000_second.sql", "SELECT 2;\n")
    write(tmp_path, "20240101120000_first.sql", "SELECT 1;\n")
    versions = [m.version.text for m in drizzle.read(entries(tmp_path)).migrations]
    assert versions == ["20240101120000", "20240202120000"]


def test_tags_without_digits_take_the_padded_idx(tmp_path: Path) -> None:
    write_journal(tmp_path, [entry(0, "init", 1), entry(1, "add_users", 2)])
    write(tmp_path, "init.sql", "SELECT 1;\n")
    write(tmp_path, "add_users.sql", "SELECT 2;\n")
    result = drizzle.read(entries(tmp_path))
    assert [(m.version.text, m.name) for m in result.migrations] == [
        ("0000", "init"),
        ("0001", "add_users"),
    ]


def test_a_file_missing_from_the_journal_is_a_warning(tmp_path: Path) -> None:
    write_journal(tmp_path, [entry(0, "0000_init", 1)])
    write(tmp_path, "0000_init.sql", "SELECT 1;\n")
    stray = write(tmp_path, "0001_manual_fix.sql", "SELECT 2;\n")
    write(tmp_path, "README.md", "notes\n")

    result = drizzle.read(entries(tmp_path))

    assert [m.name for m in result.migrations] == ["init"]
    (warning,) = result.warnings
    assert warning == (
        f"{stray}: the file is not in meta/_journal.json: drizzle would not run it, and "
        "neither does migrata; add it to the journal or remove it"
    )
    assert result.ignored == (f"{tmp_path}/README.md",)


def test_crlf_file_keeps_the_lf_checksum_and_drizzles_hash(tmp_path: Path) -> None:
    lf, crlf = tmp_path / "lf", tmp_path / "crlf"
    for root, text in ((lf, MEMBERS), (crlf, MEMBERS.replace("\n", "\r\n"))):
        write_journal(root, [entry(0, "0000_init", 1)])
        write(root, "0000_init.sql", text)

    (from_lf,) = drizzle.read(entries(lf)).migrations
    (from_crlf,) = drizzle.read(entries(crlf)).migrations

    assert from_crlf.checksum == from_lf.checksum
    assert from_crlf.up.text == MEMBERS.replace("\n", "\r\n")
    # drizzle makes CRLF into LF before hashing, so its history matches either file.
    assert from_crlf.info("hash") == from_lf.info("hash")


def test_a_bom_counts_for_drizzles_hash_but_not_for_the_checksum(tmp_path: Path) -> None:
    write_journal(tmp_path, [entry(0, "0000_init", 1)])
    write(tmp_path, "0000_init.sql", "\ufeffSELECT 1;\n")
    (migration,) = drizzle.read(entries(tmp_path)).migrations
    assert migration.up.text == "SELECT 1;\n"
    assert migration.checksum == checksum("SELECT 1;\n")
    assert migration.info("hash") == hashlib.sha256("\ufeffSELECT 1;\n".encode()).hexdigest()


def test_a_journal_entry_without_its_file(tmp_path: Path) -> None:
    journal = write_journal(tmp_path, [entry(0, "0000_init", 1), entry(1, "0001_gone", 2)])
    write(tmp_path, "0000_init.sql", "SELECT 1;\n")
    error = read_error(tmp_path)
    assert error.path == str(journal)
    assert str(error).startswith(f"{journal}: journal entry 1 names tag '0001_gone'")
    assert "0001_gone.sql is not in the folder" in str(error)


def test_migrations_run_in_journal_order_whatever_their_numbers(tmp_path: Path) -> None:
    """drizzle's readMigrationFiles walks ``journal.entries`` in array order: a timestamp tag
    that goes back (branches merged) still runs where the journal puts it."""
    items = [
        entry(0, "20250608175448_b", 1749405288761),
        entry(1, "20250608100932_a", 1749377372062),
        entry(2, "c", 1749585889984),
    ]
    write_journal(tmp_path, items)
    for item in items:
        write(tmp_path, f"{item['tag']}.sql", "SELECT 1;\n")
    result = discover_migrations(tmp_path)
    assert [m.version.text for m in result.migrations] == [
        "20250608175448",
        "20250608100932",
        "0002",
    ]
    first, second, third = (m.version for m in result.migrations)
    assert first < second < third


def test_two_tags_with_one_version_are_refused(tmp_path: Path) -> None:
    items = [entry(0, "0001_a", 1), entry(1, "0001_b", 2)]
    journal = write_journal(tmp_path, items)
    for item in items:
        write(tmp_path, f"{item['tag']}.sql", "SELECT 1;\n")
    error = read_error(tmp_path)
    assert type(error) is DuplicateVersion
    assert error.path == str(journal)
    assert "like tag '0001_a'" in str(error)


def test_invalid_json_names_the_journal_and_line(tmp_path: Path) -> None:
    journal = write(tmp_path, "meta/_journal.json", '{\n  "entries": [\n    {"idx": 0,,}\n  ]\n}\n')
    error = read_error(tmp_path)
    assert (error.path, error.line) == (str(journal), 3)
    assert "not valid JSON" in str(error)


@pytest.mark.parametrize(
    ("journal", "words"),
    [
        ("[]", 'an "entries" list'),
        ('{"entries": {}}', 'an "entries" list'),
        ('{"entries": [1]}', "entry 0 is not an object"),
        ('{"entries": [{"idx": 0, "when": 1}]}', 'entry 0 has no "tag"'),
        ('{"entries": [{"idx": 0, "when": 1, "tag": "../x"}]}', 'entry 0 has no "tag"'),
        ('{"entries": [{"idx": 0, "tag": "0000_a"}]}', 'entry 0 has no "when"'),
        ('{"entries": [{"idx": 0, "when": "1", "tag": "0000_a"}]}', 'entry 0 has no "when"'),
        ('{"entries": [{"idx": "0", "when": 1, "tag": "0000_a"}]}', 'entry 0 has an "idx"'),
    ],
)
def test_wrong_shape_names_the_journal(tmp_path: Path, journal: str, words: str) -> None:
    path = write(tmp_path, "meta/_journal.json", journal)
    write(tmp_path, "0000_a.sql", "SELECT 1;\n")
    error = read_error(tmp_path)
    assert error.path == str(path)
    assert words in str(error)


def test_detect(tmp_path: Path) -> None:
    write(tmp_path, "0000_init.sql", "SELECT 1;\n")
    write(tmp_path, "meta/0000_snapshot.json", "{}")
    assert drizzle.detect(entries(tmp_path)) == NO
    write_journal(tmp_path, [entry(0, "0000_init", 1)])
    assert drizzle.detect(entries(tmp_path)) == DISTINCTIVE


def test_discovery_picks_drizzle(tmp_path: Path) -> None:
    write_journal(tmp_path, [entry(0, "0000_init", 1700000000000)])
    write(tmp_path, "0000_init.sql", MEMBERS)
    write(tmp_path, "0001_not_listed.sql", "SELECT 2;\n")

    result = discover_migrations(tmp_path)

    assert result.layout == "drizzle"
    assert [m.version.text for m in result.migrations] == ["0000"]
    assert len(result.warnings) == 1


def test_read_without_a_journal_says_so(tmp_path: Path) -> None:
    write(tmp_path, "0000_init.sql", "SELECT 1;\n")
    with pytest.raises(DiscoveryError, match="no meta/_journal.json"):
        discover_migrations(tmp_path, layout="drizzle")
