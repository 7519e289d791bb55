"""The dotted layout: ``V<version>.<Name>.up.sql`` + ``V<version>.<Name>.down.sql``.

The version is the digits after ``V`` (``V0001`` is version ``0001``, the same version as
``V1``); the name is everything between the version and the direction and may hold dots
(``V0002.Add.email.up.sql`` is named ``Add.email``). Every version needs its ``.up.sql``; the
``.down.sql`` is optional. An up-only ``V0001.Name.sql`` is refused with the name to give it:
in this layout a file always says its direction, and guessing would hide a typo.

The names are this layout's own, so ``detect`` answers DISTINCTIVE as soon as one is present.
Every other ``.sql`` file in such a folder, and any migration folder, is an error naming it;
other files and folders are ignored and listed.
"""

from __future__ import annotations

import re

from .base import DISTINCTIVE, NO, Entry, Findings, Grouping, ReadResult, names_matching
from .native import refusing_folders

NAME = "dotted"

EXPECTED_FORMS = "expected V<version>.<Name>.up.sql (+ V<version>.<Name>.down.sql)"
FILE_RE = re.compile(r"V(?P<version>\d+)\.(?P<name>[^/\\]+)\.(?P<direction>up|down)\.sql")
_UP_ONLY = re.compile(r"V(?P<version>\d+)\.(?P<name>[^/\\]+)\.sql")
_NAMELESS = re.compile(r"V\d+\.\.?(?:up|down)\.sql", re.IGNORECASE)
_ANY_CASE = re.compile(FILE_RE.pattern, re.IGNORECASE)


def detect(entries: list[Entry]) -> int:
    """DISTINCTIVE when any file has a dotted migration name."""
    found = any(not e.is_dir and FILE_RE.fullmatch(e.name) for e in entries)
    return DISTINCTIVE if found else NO


def read(entries: list[Entry]) -> ReadResult:
    """The dotted migrations of a folder, sorted by version.

    Raises InvalidMigrationName (another ``.sql`` name, an up-only file, a migration folder),
    DuplicateVersion, DiscoveryError (a down file without its up file), InvalidEncoding or
    UnknownDirective, each naming the file.
    """
    grouping = Grouping(lambda parts: f"V{parts.version}.{parts.name}.up.sql")
    found = Findings()
    ordered = sorted(entries, key=lambda e: e.name)

    grouping.add_entries(
        ordered,
        found,
        name_file=names_matching(FILE_RE.fullmatch, lambda name: _problem(name, ordered)),
        add_folder=refusing_folders(
            "the dotted layout has no migration folders; move its up.sql to "
            "V<version>.<Name>.up.sql; " + EXPECTED_FORMS
        ),
    )
    return found.result(NAME, grouping.migrations())


def _problem(name: str, entries: list[Entry]) -> str:
    if _NAMELESS.fullmatch(name):
        return f"the name between the version and the direction is empty; {EXPECTED_FORMS}"
    if _ANY_CASE.fullmatch(name):
        return f"the prefix, direction and suffix are case-sensitive; {EXPECTED_FORMS}"
    up_only = _UP_ONLY.fullmatch(name)
    if up_only is not None:
        return (
            "a dotted migration names its direction; rename it to "
            f"V{up_only['version']}.{up_only['name']}.up.sql"
        )
    example = next((e.name for e in entries if FILE_RE.fullmatch(e.name)), None)
    return (
        f"not a dotted migration name; {EXPECTED_FORMS}; this folder holds dotted migrations "
        f"({example}), so rename it or move it out of the folder"
    )
