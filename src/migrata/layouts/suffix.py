"""The suffix layout: ``<version>_<name>_up.sql`` + ``<version>_<name>_down.sql``.

For example ``001_create_users_up.sql`` and ``001_create_users_down.sql``: version ``001``,
name ``create_users`` (a name may hold underscores; the last ``_up``/``_down`` is the
direction). The version is digits or a dashed timestamp, as in migrata's own layout. The down
file is optional; a down file without its up file is an error.

These names also parse as migrata's own up-only files (``001_create_users_up.sql`` would be a
migration named ``create_users_up``, and its down file a second migration of version 001), so
``detect`` answers DISTINCTIVE only when *every* ``.sql`` file ends in ``_up.sql`` or
``_down.sql`` and no folder is a migration. A folder that mixes them with other names answers
NO and is read (and judged) by migrata's own layout.
"""

from __future__ import annotations

import re

from ..errors import InvalidMigrationName
from ..models import Version
from .base import DISTINCTIVE, NO, Entry, ReadResult, load_script, make_migration, sql_files
from .native import VERSION_PATTERN, Grouping, is_migration_folder

NAME = "suffix"

EXPECTED_FORMS = "expected <version>_<name>_up.sql (+ <version>_<name>_down.sql)"
FILE_RE = re.compile(VERSION_PATTERN + r"_(?P<name>[^/\\]+)_(?P<direction>up|down)\.sql")


def detect(entries: list[Entry]) -> int:
    """DISTINCTIVE when every ``.sql`` file (at least one) has a suffix name and no folder is a
    migration."""
    files = sql_files(entries)
    if not files or any(is_migration_folder(e) for e in entries):
        return NO
    return DISTINCTIVE if all(FILE_RE.fullmatch(e.name) for e in files) else NO


def read(entries: list[Entry]) -> ReadResult:
    """The suffix migrations of a folder, sorted by version.

    Raises InvalidMigrationName (another ``.sql`` name, a migration folder), DuplicateVersion,
    DiscoveryError (a down file without its up file), InvalidEncoding or UnknownDirective,
    each naming the file.
    """
    grouping = Grouping(lambda parts: f"{parts.version}_{parts.name}_up.sql")
    ignored: list[str] = []
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.is_dir:
            if is_migration_folder(entry):
                raise InvalidMigrationName(
                    "the suffix layout has no migration folders; move its up.sql to "
                    f"{entry.name}_up.sql; {EXPECTED_FORMS}",
                    path=entry.path,
                )
            ignored.append(entry.path)
            continue
        if not entry.name.lower().endswith(".sql"):
            ignored.append(entry.path)
            continue
        match = FILE_RE.fullmatch(entry.name)
        if match is None:
            raise InvalidMigrationName(
                f"not a suffix migration name; {EXPECTED_FORMS}; rename it or move it out of "
                "the folder",
                path=entry.path,
            )
        grouping.add_file(Version.parse(match["version"]), match["name"], match["direction"], entry)

    migrations = []
    for parts in grouping.parts():
        assert parts.up is not None
        up = load_script(parts.up)
        down = load_script(parts.down) if parts.down is not None else None
        migrations.append(make_migration(parts.version, parts.name, up, down))
    return ReadResult(layout=NAME, migrations=tuple(migrations), ignored=tuple(ignored))
