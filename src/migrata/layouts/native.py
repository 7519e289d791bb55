"""migrata's own layout.

- ``<version>_<name>.sql`` — up only;
- ``<version>_<name>.up.sql`` + ``<version>_<name>.down.sql``;
- a folder ``<version>_<name>/`` holding ``up.sql`` (+ ``down.sql``).

A version is digits (``0001``, ``20250108120000``) or a dashed timestamp
(``2025-01-08-120000``). Files that are not ``.sql`` are ignored and listed.

The names live here (:data:`FILE_RE`, :func:`read_folder`, :func:`is_migration_folder`)
because the layouts whose names coincide with this one (sqlx, golang-migrate, diesel) must read
them exactly the same way; the files pair by the rules of :class:`~.base.Grouping`, which the
other paired layouts (dotted, suffix) follow too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ..errors import InvalidMigrationName
from ..models import Version
from .base import (
    DISTINCTIVE,
    FITS,
    NO,
    Entry,
    FileName,
    Findings,
    Grouping,
    ReadResult,
    names_matching,
    sql_files,
)

NAME = "migrata"

VERSION_PATTERN = r"(?P<version>\d{4}-\d{2}-\d{2}-\d{6}|\d+)"
FILE_RE = re.compile(VERSION_PATTERN + r"_(?P<name>[^/\\]+?)(?:\.(?P<direction>up|down))?\.sql$")
FOLDER_RE = re.compile(VERSION_PATTERN + r"_(?P<name>[^/\\.]+)$")

EXPECTED_FORMS = (
    "expected <version>_<name>.sql, <version>_<name>.up.sql / .down.sql, "
    "or a folder <version>_<name>/ with up.sql"
)


def read_folder(entry: Entry, expected: str) -> tuple[Entry, Entry | None, dict[str, Entry]]:
    """The ``up.sql`` and ``down.sql`` of a migration folder, and its other files by name.

    Raises InvalidMigrationName naming the folder when it has no ``up.sql``.
    """
    children = {child.name: child for child in entry.children()}
    up = children.pop("up.sql", None)
    if up is None:
        raise InvalidMigrationName(f"migration folder has no up.sql; {expected}", path=entry.path)
    down = children.pop("down.sql", None)
    return up, down, children


def holds_up_sql(entry: Entry) -> bool:
    """True for a folder with an ``up.sql``: a migration folder whatever its name."""
    return entry.is_dir and any(child.name == "up.sql" for child in entry.children())


def is_migration_folder(entry: Entry) -> bool:
    """True for a folder this layout would read (or refuse) as a migration."""
    return entry.is_dir and (FOLDER_RE.match(entry.name) is not None or holds_up_sql(entry))


def detect(entries: Iterable[Entry]) -> int:
    """FITS when at least one entry looks like a migration of this layout (never more: the
    names are shared with sqlx, golang-migrate and diesel)."""
    for entry in entries:
        if entry.is_dir and FOLDER_RE.match(entry.name):
            return FITS
        if not entry.is_dir and FILE_RE.match(entry.name):
            return FITS
    return NO


def detect_pairs(entries: list[Entry], parse: Callable[[str], FileName | None]) -> int:
    """How sure a layout that reads migrata's file names but pairs them by version alone
    (sqlx, golang-migrate) is, ``parse`` reading its names: DISTINCTIVE when a version's single
    up file and single down file have different names, which only such a layout pairs; FITS
    when every ``.sql`` file parses and no folder is a migration; NO otherwise."""
    files = sql_files(entries)
    if not files or any(is_migration_folder(e) for e in entries):
        return NO
    parsed = [parse(e.name) for e in files]
    names: dict[tuple[Version, str | None], set[str]] = {}
    for file in parsed:
        if file is None:
            return NO
        names.setdefault((file.version, file.direction), set()).add(file.name)
    renamed = any(
        len(ups) == 1
        and len(names.get((version, "down"), set())) == 1
        and ups != names[(version, "down")]
        for (version, direction), ups in names.items()
        if direction == "up"
    )
    return DISTINCTIVE if renamed else FITS


def refusing_folders(message: str) -> Callable[[Entry], bool]:
    """The folder rule of a layout without migration folders, for :meth:`Grouping.add_entries`:
    a folder that looks like a migration raises InvalidMigrationName naming it, with
    ``message`` (``{folder}`` in it is the folder's name); any other folder is left alone
    (ignored)."""

    def refuse(entry: Entry) -> bool:
        if is_migration_folder(entry):
            raise InvalidMigrationName(message.replace("{folder}", entry.name), path=entry.path)
        return False

    return refuse


def read(entries: Iterable[Entry]) -> ReadResult:
    """Turn the entries of a folder into migrations, sorted by version.

    Raises InvalidMigrationName, DuplicateVersion, InvalidEncoding or UnknownDirective, each
    naming the file, before anything touches a database.
    """
    grouping = Grouping(lambda parts: f"{parts.version}_{parts.name}.up.sql")
    found = Findings()

    def add_folder(entry: Entry) -> bool:
        folder = FOLDER_RE.match(entry.name)
        if folder is None:
            return False
        up_file, down_file, others = read_folder(entry, EXPECTED_FORMS)
        grouping.add_folder(
            Version.parse(folder["version"]), folder["name"], entry, up_file, down_file
        )
        for child in others.values():
            found.ignore(child.path)
        return True

    name_file = names_matching(
        FILE_RE.match,
        lambda _: (
            f"file name does not parse as a migration; {EXPECTED_FORMS}; rename it or "
            "move it out of the folder"
        ),
    )
    grouping.add_entries(entries, found, name_file=name_file, add_folder=add_folder)
    return found.result(NAME, grouping.migrations())
