"""sqlx's layout (``sqlx migrate``, ``sqlx::migrate!``), read by sqlx's own rules
(sqlx-core ``migrate/source.rs``, ``migration_type.rs``, ``migrator.rs``).

- ``<version>_<description>.sql`` — a simple migration, up only;
- ``<version>_<description>.up.sql`` + ``<version>_<description>.down.sql`` — reversible. Up
  and down are paired **by version alone** (sqlx never compares the descriptions); the
  migration is named after its up file. A down file without an up file is never run by sqlx:
  migrata skips it too, with a warning.
- A file whose text starts with ``-- no-transaction`` (its very first bytes) runs outside a
  transaction.
- The version is the name up to its first ``_``, an integer that fits an ``i64``; a ``.sql``
  file whose name has no ``_`` is skipped by sqlx, and by migrata with a warning; one whose
  prefix is not an integer makes sqlx refuse the folder, and migrata too. Folders are never
  migrations to sqlx; one that looks like a migration is an error naming it.

sqlx keeps the description with underscores turned into spaces; it is kept in ``source_info``
under ``"description"`` for adopting an existing ``_sqlx_migrations`` table.

These names are also migrata's own, and mean the same thing: ``detect`` answers FITS when
every ``.sql`` file fits sqlx and there is no migration folder, and migrata's own reader then
reads the folder; DISTINCTIVE when a version's up and down files have different descriptions,
which migrata's own layout would refuse. Other files are ignored and listed.
"""

from __future__ import annotations

from ..errors import InvalidMigrationName
from ..models import Version
from .base import (
    DISTINCTIVE,
    FITS,
    NO,
    Entry,
    ReadResult,
    load_script,
    make_migration,
    sql_files,
)
from .native import FILE_RE, Grouping, is_migration_folder, renamed_pairs

NAME = "sqlx"

EXPECTED_FORMS = (
    "expected <version>_<description>.sql or <version>_<description>.up.sql / .down.sql, "
    "with an integer version"
)
_I64_MAX = 2**63 - 1


def detect(entries: list[Entry]) -> int:
    """DISTINCTIVE when a version's up and down files have different descriptions, FITS when
    every ``.sql`` file is a sqlx migration and no folder is a migration."""
    files = sql_files(entries)
    if not files or any(is_migration_folder(e) for e in entries):
        return NO
    parsed = [_parse(e.name) for e in files]
    if any(p is None for p in parsed):
        return NO
    pairs: dict[tuple[Version, str | None], set[str]] = {}
    for version, name, direction, _ in (p for p in parsed if p is not None):
        pairs.setdefault((version, direction), set()).add(name)
    return DISTINCTIVE if renamed_pairs(pairs) else FITS


def read(entries: list[Entry]) -> ReadResult:
    """The sqlx migrations of a folder, sorted by version.

    Raises InvalidMigrationName (a ``.sql`` file that is not a sqlx migration, a migration
    folder), DuplicateVersion, DiscoveryError (a down file without its up file),
    InvalidEncoding or UnknownDirective, each naming the file.
    """
    grouping = Grouping(lambda parts: f"{parts.version}_{parts.name}.up.sql", by_version=True)
    ignored: list[str] = []
    warnings: list[str] = []
    skipped: list[str] = []
    descriptions: dict[Version, str] = {}
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.is_dir:
            if is_migration_folder(entry):
                raise InvalidMigrationName(
                    "sqlx reads migration files only, never folders; move its up.sql to "
                    f"{entry.name}.up.sql (and down.sql to {entry.name}.down.sql)",
                    path=entry.path,
                )
            ignored.append(entry.path)
            continue
        if not entry.name.lower().endswith(".sql"):
            ignored.append(entry.path)
            continue
        parsed = _parse(entry.name)
        if parsed is None and "_" not in entry.name:
            # sqlx splits the name at its first "_" and skips a name without one.
            ignored.append(entry.path)
            skipped.append(entry.path)
            warnings.append(
                f"{entry.path}: the name has no `_`: sqlx skips it, and so does migrata; "
                "rename it to <version>_<description>.sql if it is a migration"
            )
            continue
        if parsed is None:
            raise InvalidMigrationName(
                f"not a sqlx migration name; {EXPECTED_FORMS} (at most {_I64_MAX}); rename it "
                "or move it out of the folder",
                path=entry.path,
            )
        version, name, direction, description = parsed
        grouping.add_file(version, name, direction, entry)
        descriptions.setdefault(version, description)

    migrations = []
    for parts in grouping.parts(require_up=False):
        if parts.up is None:
            assert parts.down is not None
            ignored.append(parts.down.path)
            skipped.append(parts.down.path)
            warnings.append(
                f"{parts.down.path}: a down file without an up file for version "
                f"{parts.version}: sqlx never runs it, and neither does migrata; add "
                f"{parts.version}_{parts.name}.up.sql or remove it"
            )
            continue
        up = load_script(parts.up, transactional=_no_transaction(parts.up))
        down = (
            load_script(parts.down, transactional=_no_transaction(parts.down))
            if parts.down
            else None
        )
        migrations.append(
            make_migration(
                parts.version,
                parts.name,
                up,
                down,
                source_info=(("description", descriptions[parts.version]),),
            )
        )
    return ReadResult(
        layout=NAME,
        migrations=tuple(migrations),
        ignored=tuple(ignored),
        warnings=tuple(warnings),
        skipped=tuple(skipped),
    )


def _no_transaction(entry: Entry) -> bool | None:
    """False when the file starts with ``-- no-transaction`` (sqlx:
    ``sql.starts_with("-- no-transaction")``), else None: migrata's own directives and
    analysis decide, as for its own layout."""
    return False if entry.read_bytes().startswith(b"-- no-transaction") else None


def _parse(file_name: str) -> tuple[Version, str, str | None, str] | None:
    """(version, name, direction, sqlx description) of a sqlx file name, or None."""
    match = FILE_RE.match(file_name)
    if match is None or not match["version"].isdigit() or int(match["version"]) > _I64_MAX:
        return None
    # sqlx splits at the first "_" and strips the suffix as often as it repeats
    # (`trim_end_matches`); a name it would read differently is not a sqlx name.
    direction = match["direction"]
    suffix = f".{direction}.sql" if direction else ".sql"
    rest = file_name.split("_", 1)[1]
    while rest.endswith(suffix):
        rest = rest[: -len(suffix)]
    if rest != match["name"]:
        return None
    return Version.parse(match["version"]), match["name"], direction, rest.replace("_", " ")
