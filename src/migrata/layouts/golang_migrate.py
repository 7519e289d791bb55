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

from ..errors import InvalidMigrationName
from ..models import Script, Version
from .base import DISTINCTIVE, FITS, NO, Entry, ReadResult, load_script, make_migration, sql_files
from .native import FILE_RE, Grouping, is_migration_folder, renamed_pairs

NAME = "golang-migrate"

EXPECTED_FORMS = "expected <version>_<title>.up.sql (+ <version>_<title>.down.sql)"
_UINT64_MAX = 2**64 - 1


def detect(entries: list[Entry]) -> int:
    """DISTINCTIVE when a version's ``.up.sql`` and ``.down.sql`` have different titles, FITS
    when every ``.sql`` file is a golang-migrate file and no folder is a migration, NO
    otherwise."""
    files = sql_files(entries)
    if not files or any(is_migration_folder(e) for e in entries):
        return NO
    parsed = [_parse(e.name) for e in files]
    if any(p is None for p in parsed):
        return NO
    pairs: dict[tuple[Version, str | None], set[str]] = {}
    for version, title, direction in (p for p in parsed if p is not None):
        pairs.setdefault((version, direction), set()).add(title)
    return DISTINCTIVE if renamed_pairs(pairs) else FITS


def read(entries: list[Entry]) -> ReadResult:
    """The golang-migrate migrations of a folder, sorted by version number.

    Raises InvalidMigrationName (a migration folder), DuplicateVersion, InvalidEncoding or
    UnknownDirective, each naming the file.
    """
    grouping = Grouping(lambda parts: f"{parts.version}_{parts.name}.up.sql", by_version=True)
    ignored: list[str] = []
    warnings: list[str] = []
    skipped: list[str] = []
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.is_dir:
            if is_migration_folder(entry):
                raise InvalidMigrationName(
                    "golang-migrate reads migration files only, never folders; move its up.sql "
                    f"to {entry.name}.up.sql (and down.sql to {entry.name}.down.sql)",
                    path=entry.path,
                )
            ignored.append(entry.path)
            continue
        if not entry.name.lower().endswith(".sql"):
            ignored.append(entry.path)
            continue
        parsed = _parse(entry.name)
        if parsed is None:
            ignored.append(entry.path)
            skipped.append(entry.path)
            warnings.append(f"{entry.path}: {_problem(entry.name)}")
            continue
        version, title, direction = parsed
        grouping.add_file(version, title, direction, entry)

    migrations = []
    for parts in grouping.parts(require_up=False):
        if parts.up is None:
            assert parts.down is not None
            folder = parts.down.path.rsplit("/", 1)[0]
            missing = f"{folder}/{parts.version}_{parts.name}.up.sql"
            warnings.append(
                f"{parts.down.path}: version {parts.version} has a down file and no up file: "
                "golang-migrate records it as applied without running anything, and so does "
                f"migrata; add {missing} if that is not what you want"
            )
            up = Script(path=missing, text="")
        else:
            up = load_script(parts.up)
        down = load_script(parts.down) if parts.down is not None else None
        migrations.append(make_migration(parts.version, parts.name, up, down))
    return ReadResult(
        layout=NAME,
        migrations=tuple(migrations),
        ignored=tuple(ignored),
        warnings=tuple(warnings),
        skipped=tuple(skipped),
    )


def _parse(file_name: str) -> tuple[Version, str, str] | None:
    match = FILE_RE.match(file_name)
    if match is None or match["direction"] is None or not match["version"].isdigit():
        return None
    if int(match["version"]) > _UINT64_MAX:
        return None
    return Version.parse(match["version"]), match["name"], match["direction"]


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
