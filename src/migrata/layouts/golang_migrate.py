"""golang-migrate's layout (``migrate create -ext sql``), read by golang-migrate's own rules
(``source/parse.go``, ``source/migration.go``, ``source/iofs``).

- ``<version>_<title>.up.sql`` + ``<version>_<title>.down.sql`` (the down file is optional).
- The version is an unsigned integer (``^([0-9]+)_(.*)\\.(down|up)\\.(.*)$``), written plain
  (``1``, ``10``) or zero-padded (``000001``, from ``-seq``); migrations run in numeric order.
- Up and down files are paired **by version alone**: ``30_add_x.up.sql`` and
  ``30_drop_x.down.sql`` are one migration (golang-migrate never compares the titles); the
  migration is named after its up file.
- Two files with one version and one direction are an error in golang-migrate (``Append``
  rejects duplicates, ``1_a.up.sql`` and ``001_b.up.sql`` too), here DuplicateVersion naming
  both.
- A version with a down file and no up file: golang-migrate records it without running
  anything, and so does migrata (its up is empty), with a warning.
- Files whose names golang-migrate cannot parse are skipped by it; migrata skips them too and
  warns about each ``.sql`` one (``1_x.sql`` has no direction: golang-migrate never runs it).

These names are also migrata's own and mean the same thing when every pair shares its title:
``detect`` answers FITS when every ``.sql`` file is a golang-migrate file and there is no
migration folder, and migrata's own reader then reads the folder; it answers DISTINCTIVE when a
version's up and down files have different titles, which only golang-migrate (and sqlx) pair.
An up-only ``<version>_<title>.sql`` has no direction: golang-migrate skips it, migrata's own
layout runs it, so ``detect`` answers NO and migrata's own reader reads such a folder.
"""

from __future__ import annotations

from ..models import Script, Version
from .base import Entry, FileName, Findings, Grouping, Parts, ReadResult
from .native import FILE_RE, detect_pairs, refusing_folders

NAME = "golang-migrate"

EXPECTED_FORMS = "expected <version>_<title>.up.sql (+ <version>_<title>.down.sql)"
_UINT64_MAX = 2**64 - 1


def detect(entries: list[Entry]) -> int:
    """DISTINCTIVE when a version's ``.up.sql`` and ``.down.sql`` have different titles, FITS
    when every ``.sql`` file is a golang-migrate file and no folder is a migration, NO
    otherwise."""
    return detect_pairs(entries, _parse)


def read(entries: list[Entry]) -> ReadResult:
    """The golang-migrate migrations of a folder, sorted by version number.

    Raises InvalidMigrationName (a migration folder), DuplicateVersion, InvalidEncoding or
    UnknownDirective, each naming the file.
    """
    grouping = Grouping(lambda parts: f"{parts.version}_{parts.name}.up.sql", by_version=True)
    found = Findings()
    grouping.add_entries(
        entries,
        found,
        name_file=_name_file,
        add_folder=refusing_folders(
            "golang-migrate reads migration files only, never folders; move its up.sql to "
            "{folder}.up.sql (and down.sql to {folder}.down.sql)"
        ),
    )

    def without_up(parts: Parts) -> Script:
        assert parts.down is not None
        folder = parts.down.path.rsplit("/", 1)[0]
        missing = f"{folder}/{parts.version}_{parts.name}.up.sql"
        found.warn(
            f"{parts.down.path}: version {parts.version} has a down file and no up file: "
            "golang-migrate records it as applied without running anything, and so does "
            f"migrata; add {missing} if that is not what you want"
        )
        return Script(path=missing, text="")

    return found.result(NAME, grouping.migrations(without_up=without_up))


def _name_file(entry: Entry, found: Findings) -> FileName | None:
    file = _parse(entry.name)
    if file is None:
        found.skip(entry.path, _problem(entry.name))
    return file


def _parse(file_name: str) -> FileName | None:
    match = FILE_RE.match(file_name)
    if match is None or match["direction"] is None or not match["version"].isdigit():
        return None
    if int(match["version"]) > _UINT64_MAX:
        return None
    return FileName(Version.parse(match["version"]), match["name"], match["direction"])


def _problem(file_name: str) -> str:
    match = FILE_RE.match(file_name)
    if match is not None and match["direction"] is None and match["version"].isdigit():
        stem = file_name[: -len(".sql")]
        return (
            "the name has no .up/.down: golang-migrate skips it, and so does migrata; rename "
            f"it to {stem}.up.sql if it is a migration, or read the folder with the migrata "
            "layout"
        )
    return (
        f"not a golang-migrate migration name ({EXPECTED_FORMS}, with an unsigned integer "
        "version): golang-migrate skips it, and so does migrata; rename it if it is a migration"
    )
