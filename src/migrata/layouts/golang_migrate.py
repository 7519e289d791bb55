"""golang-migrate's layout (``migrate create -ext sql``).

- ``<version>_<title>.up.sql`` + ``<version>_<title>.down.sql`` (the down file is optional).

The version is an unsigned integer (``source/parse.go``: ``^([0-9]+)_(.*)\\.(down|up)\\.(.*)$``),
written plain (``1``, ``2``, ``10``) or zero-padded (``000001``, from ``-seq``); migrations run in
numeric order. Two files with one version and one direction are an error in golang-migrate
(``source/migration.go`` ``Append``), here DuplicateVersion naming both. The up and down file
of one version must share the title (golang-migrate does not look; migrata's own layout
requires it, and both read a folder alike).

These names are also migrata's own and mean the same thing: ``detect`` answers FITS (never
more) when every ``.sql`` file is a golang-migrate file and there is no migration folder, and
migrata's own reader then reads the folder. An up-only ``<version>_<title>.sql`` has no
direction: golang-migrate skips it, migrata runs it, so ``detect`` answers NO and migrata's own
reader reads such a folder. Asked for explicitly (``layout="golang-migrate"``), ``read`` refuses
it with InvalidMigrationName rather than skipping it as golang-migrate would: a migration that
silently never runs is worse than an error. Files with other extensions (``.up.cql``, notes)
are ignored and listed.
"""

from __future__ import annotations

from ..errors import InvalidMigrationName
from ..models import Version
from .base import FITS, NO, Entry, ReadResult, load_script, make_migration, sql_files
from .native import FILE_RE, Grouping, is_migration_folder

NAME = "golang-migrate"

EXPECTED_FORMS = "expected <version>_<title>.up.sql (+ <version>_<title>.down.sql)"
_UINT64_MAX = 2**64 - 1


def detect(entries: list[Entry]) -> int:
    """FITS when every ``.sql`` file is an ``.up.sql``/``.down.sql`` golang-migrate file and no
    folder is a migration."""
    files = sql_files(entries)
    if not files or any(is_migration_folder(e) for e in entries):
        return NO
    return FITS if all(_parse(e.name) is not None for e in files) else NO


def read(entries: list[Entry]) -> ReadResult:
    """The golang-migrate migrations of a folder, sorted by version number.

    Raises InvalidMigrationName (a ``.sql`` file without ``.up``/``.down``, another name, a
    migration folder), DuplicateVersion, DiscoveryError (a down file without its up file),
    InvalidEncoding or UnknownDirective, each naming the file.
    """
    grouping = Grouping(lambda parts: f"{parts.version}_{parts.name}.up.sql")
    ignored: list[str] = []
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
            raise InvalidMigrationName(_problem(entry.name), path=entry.path)
        version, title, direction = parsed
        grouping.add_file(version, title, direction, entry)

    migrations = []
    for parts in grouping.parts():
        assert parts.up is not None
        up = load_script(parts.up)
        down = load_script(parts.down) if parts.down is not None else None
        migrations.append(make_migration(parts.version, parts.name, up, down))
    return ReadResult(layout=NAME, migrations=tuple(migrations), ignored=tuple(ignored))


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
            "golang-migrate runs only files that name their direction and would skip this "
            f"one; rename it to {stem}.up.sql, or read the folder with the migrata layout"
        )
    return (
        f"not a golang-migrate migration name; {EXPECTED_FORMS}, with an unsigned integer "
        "version; rename it or move it out of the folder"
    )
