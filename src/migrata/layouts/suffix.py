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

from .base import DISTINCTIVE, NO, Entry, Findings, Grouping, ReadResult, names_matching, sql_files
from .native import VERSION_PATTERN, is_migration_folder, refusing_folders

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
    found = Findings()
    grouping.add_entries(
        entries,
        found,
        name_file=names_matching(
            FILE_RE.fullmatch,
            lambda _: (
                f"not a suffix migration name; {EXPECTED_FORMS}; rename it or move it out "
                "of the folder"
            ),
        ),
        add_folder=refusing_folders(
            "the suffix layout has no migration folders; move its up.sql to {folder}_up.sql; "
            + EXPECTED_FORMS
        ),
    )
    return found.result(NAME, grouping.migrations())
