"""sqlx's layout (``sqlx migrate``, ``sqlx::migrate!``).

- ``<version>_<description>.sql`` — a simple migration, up only;
- ``<version>_<description>.up.sql`` + ``<version>_<description>.down.sql`` — reversible;
- a first line ``-- no-transaction`` runs the migration outside a transaction.

The version is an integer that fits an ``i64`` (sqlx-core ``migrate/source.rs``). sqlx keeps the
description with underscores turned into spaces; it is kept in ``source_info`` under
``"description"`` for adopting an existing ``_sqlx_migrations`` table.

These names are also migrata's own, and mean the same thing: ``detect`` answers FITS (never
more) when every ``.sql`` file fits sqlx and there is no migration folder (sqlx reads files
only), and migrata's own reader then reads the folder. ``read`` pairs files exactly as that
reader does.

sqlx silently skips a ``.sql`` file whose name has no ``_``; here every ``.sql`` file that is
not a sqlx migration is an error naming it (a typo never goes unnoticed), as is a migration
folder, which sqlx would never run. Other files are ignored and listed.
"""

from __future__ import annotations

from ..errors import InvalidMigrationName
from ..models import Version
from .base import FITS, NO, Entry, ReadResult, load_script, make_migration, sql_files
from .native import FILE_RE, Grouping, is_migration_folder

NAME = "sqlx"

EXPECTED_FORMS = (
    "expected <version>_<description>.sql or <version>_<description>.up.sql / .down.sql, "
    "with an integer version"
)
_I64_MAX = 2**63 - 1


def detect(entries: list[Entry]) -> int:
    """FITS when every ``.sql`` file is a sqlx migration and no folder is a migration."""
    files = sql_files(entries)
    if not files or any(is_migration_folder(e) for e in entries):
        return NO
    return FITS if all(_parse(e.name) is not None for e in files) else NO


def read(entries: list[Entry]) -> ReadResult:
    """The sqlx migrations of a folder, sorted by version.

    Raises InvalidMigrationName (a ``.sql`` file that is not a sqlx migration, a migration
    folder), DuplicateVersion, DiscoveryError (a down file without its up file),
    InvalidEncoding or UnknownDirective, each naming the file.
    """
    grouping = Grouping(lambda parts: f"{parts.version}_{parts.name}.up.sql")
    ignored: list[str] = []
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
    for parts in grouping.parts():
        assert parts.up is not None
        # The first-line `-- no-transaction` marker is read by the directive parser, which
        # records it as explicit: passing nothing here keeps the reading identical to
        # migrata's own layout.
        up = load_script(parts.up)
        down = load_script(parts.down) if parts.down is not None else None
        migrations.append(
            make_migration(
                parts.version,
                parts.name,
                up,
                down,
                source_info=(("description", descriptions[parts.version]),),
            )
        )
    return ReadResult(layout=NAME, migrations=tuple(migrations), ignored=tuple(ignored))


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
