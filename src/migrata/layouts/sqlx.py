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
from .base import Entry, FileName, Findings, Grouping, Parts, ReadResult, load_script
from .native import FILE_RE, detect_pairs, refusing_folders

NAME = "sqlx"

EXPECTED_FORMS = (
    "expected <version>_<description>.sql or <version>_<description>.up.sql / .down.sql, "
    "with an integer version"
)
_I64_MAX = 2**63 - 1


def detect(entries: list[Entry]) -> int:
    """DISTINCTIVE when a version's up and down files have different descriptions, FITS when
    every ``.sql`` file is a sqlx migration and no folder is a migration."""
    return detect_pairs(entries, _parse)


def read(entries: list[Entry]) -> ReadResult:
    """The sqlx migrations of a folder, sorted by version.

    Raises InvalidMigrationName (a ``.sql`` file that is not a sqlx migration, a migration
    folder), DuplicateVersion, DiscoveryError (a down file without its up file),
    InvalidEncoding or UnknownDirective, each naming the file.
    """
    grouping = Grouping(lambda parts: f"{parts.version}_{parts.name}.up.sql", by_version=True)
    found = Findings()
    descriptions: dict[Version, str] = {}

    def name_file(entry: Entry, found: Findings) -> FileName | None:
        file = _parse(entry.name)
        if file is None and "_" not in entry.name:
            # sqlx splits the name at its first "_" and skips a name without one.
            found.skip(
                entry.path,
                "the name has no `_`: sqlx skips it, and so does migrata; rename it to "
                "<version>_<description>.sql if it is a migration",
            )
            return None
        if file is None:
            raise InvalidMigrationName(
                f"not a sqlx migration name; {EXPECTED_FORMS} (at most {_I64_MAX}); rename it "
                "or move it out of the folder",
                path=entry.path,
            )
        # sqlx keeps the description with spaces for underscores.
        descriptions.setdefault(file.version, file.name.replace("_", " "))
        return file

    def without_up(parts: Parts) -> None:
        assert parts.down is not None
        found.skip(
            parts.down.path,
            f"a down file without an up file for version {parts.version}: sqlx never runs it, "
            f"and neither does migrata; add {parts.version}_{parts.name}.up.sql or remove it",
        )

    grouping.add_entries(
        entries,
        found,
        name_file=name_file,
        add_folder=refusing_folders(
            "sqlx reads migration files only, never folders; move its up.sql to "
            "{folder}.up.sql (and down.sql to {folder}.down.sql)"
        ),
    )
    migrations = grouping.migrations(
        load=lambda entry: load_script(entry, transactional=_no_transaction(entry)),
        without_up=without_up,
        source_info=lambda parts: (("description", descriptions[parts.version]),),
    )
    return found.result(NAME, migrations)


def _no_transaction(entry: Entry) -> bool | None:
    """False when the file starts with ``-- no-transaction`` (sqlx:
    ``sql.starts_with("-- no-transaction")``), else None: migrata's own directives and
    analysis decide, as for its own layout."""
    return False if entry.read_bytes().startswith(b"-- no-transaction") else None


def _parse(file_name: str) -> FileName | None:
    """What a sqlx file name says; None for a name sqlx reads otherwise, or not at all."""
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
    return FileName(Version.parse(match["version"]), match["name"], direction)
