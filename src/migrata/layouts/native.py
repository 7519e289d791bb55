"""migrata's own layout.

- ``<version>_<name>.sql`` — up only;
- ``<version>_<name>.up.sql`` + ``<version>_<name>.down.sql``;
- a folder ``<version>_<name>/`` holding ``up.sql`` (+ ``down.sql``).

A version is digits (``0001``, ``20250108120000``) or a dashed timestamp
(``2025-01-08-120000``). Files that are not ``.sql`` are ignored and listed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import DiscoveryError, DuplicateVersion, InvalidMigrationName
from ..models import Migration, Version
from .base import FITS, NO, Entry, ReadResult, load_script, make_migration

NAME = "migrata"

_VERSION = r"(?P<version>\d{4}-\d{2}-\d{2}-\d{6}|\d+)"
FILE_RE = re.compile(_VERSION + r"_(?P<name>[^/\\]+?)(?:\.(?P<direction>up|down))?\.sql$")
FOLDER_RE = re.compile(_VERSION + r"_(?P<name>[^/\\.]+)$")

EXPECTED_FORMS = (
    "expected <version>_<name>.sql, <version>_<name>.up.sql / .down.sql, "
    "or a folder <version>_<name>/ with up.sql"
)


@dataclass
class _Parts:
    version: Version
    name: str
    up: Entry | None = None
    down: Entry | None = None
    source: str = ""  # "file", "pair" or "folder": for the duplicate message and `new`


def detect(entries: Iterable[Entry]) -> int:
    """FITS when at least one entry looks like a migration of this layout (never more: the
    names are shared with sqlx, golang-migrate and diesel)."""
    for entry in entries:
        if entry.is_dir and FOLDER_RE.match(entry.name):
            return FITS
        if not entry.is_dir and FILE_RE.match(entry.name):
            return FITS
    return NO


def read(entries: Iterable[Entry]) -> ReadResult:
    """Turn the entries of a folder into migrations, sorted by version.

    Raises InvalidMigrationName, DuplicateVersion, InvalidEncoding or UnknownDirective, each
    naming the file, before anything touches a database.
    """
    by_version: dict[Version, _Parts] = {}
    ignored: list[str] = []

    def slot(version: Version, name: str, source: str, path: str) -> _Parts:
        parts = by_version.get(version)
        if parts is None:
            parts = by_version[version] = _Parts(version, name, source=source)
            return parts
        if parts.name != name or parts.source != source or source == "folder":
            raise DuplicateVersion(
                f"version {version} is also used by {_describe(parts)}; give each migration "
                "its own version",
                path=path,
            )
        return parts

    for entry in sorted(entries, key=lambda e: e.name):
        if entry.is_dir:
            folder = FOLDER_RE.match(entry.name)
            if folder is None:
                ignored.append(entry.path)
                continue
            children = {child.name: child for child in entry.children()}
            if "up.sql" not in children:
                raise InvalidMigrationName(
                    f"migration folder has no up.sql; {EXPECTED_FORMS}", path=entry.path
                )
            version = Version.parse(folder["version"])
            parts = slot(version, folder["name"], "folder", entry.path)
            parts.up = children["up.sql"]
            parts.down = children.get("down.sql")
            ignored.extend(c.path for n, c in children.items() if n not in {"up.sql", "down.sql"})
            continue
        if not entry.name.lower().endswith(".sql"):
            ignored.append(entry.path)
            continue
        match = FILE_RE.match(entry.name)
        if match is None:
            raise InvalidMigrationName(
                f"file name does not parse as a migration; {EXPECTED_FORMS}; rename it or move "
                "it out of the folder",
                path=entry.path,
            )
        version = Version.parse(match["version"])
        direction = match["direction"]
        parts = slot(version, match["name"], "file" if direction is None else "pair", entry.path)
        if direction == "down":
            if parts.down is not None:
                raise DuplicateVersion(f"second down file for version {version}", path=entry.path)
            parts.down = entry
        else:
            if parts.up is not None:
                raise DuplicateVersion(
                    f"version {version} is also used by {parts.up.path}; give each migration "
                    "its own version",
                    path=entry.path,
                )
            parts.up = entry

    migrations = []
    for version in sorted(by_version):
        parts = by_version[version]
        if parts.up is None:
            assert parts.down is not None
            raise DiscoveryError(
                f"down file without an up file for version {version}; add "
                f"{version}_{parts.name}.up.sql or remove the down file",
                path=parts.down.path,
            )
        up = load_script(parts.up)
        down = load_script(parts.down) if parts.down is not None else None
        migrations.append(make_migration(version, parts.name, up, down))
    return ReadResult(layout=NAME, migrations=tuple(migrations), ignored=tuple(ignored))


def _describe(parts: _Parts) -> str:
    entry = parts.up or parts.down
    return entry.path if entry is not None else f"{parts.version}_{parts.name}"
