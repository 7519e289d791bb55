"""migrata's own layout.

- ``<version>_<name>.sql`` — up only;
- ``<version>_<name>.up.sql`` + ``<version>_<name>.down.sql``;
- a folder ``<version>_<name>/`` holding ``up.sql`` (+ ``down.sql``).

A version is digits (``0001``, ``20250108120000``) or a dashed timestamp
(``2025-01-08-120000``). Files that are not ``.sql`` are ignored and listed.

The pairing rules live here (:class:`Grouping`, :func:`read_folder`) because the layouts whose
names coincide with this one (sqlx, golang-migrate, diesel) must pair files exactly the same
way, and the other paired layouts (dotted, suffix) follow the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import DiscoveryError, DuplicateVersion, InvalidMigrationName
from ..models import Version
from .base import FITS, NO, Entry, ReadResult, load_script, make_migration

NAME = "migrata"

VERSION_PATTERN = r"(?P<version>\d{4}-\d{2}-\d{2}-\d{6}|\d+)"
FILE_RE = re.compile(VERSION_PATTERN + r"_(?P<name>[^/\\]+?)(?:\.(?P<direction>up|down))?\.sql$")
FOLDER_RE = re.compile(VERSION_PATTERN + r"_(?P<name>[^/\\.]+)$")

EXPECTED_FORMS = (
    "expected <version>_<name>.sql, <version>_<name>.up.sql / .down.sql, "
    "or a folder <version>_<name>/ with up.sql"
)


@dataclass
class Parts:
    """What a folder holds for one version, before the files are read."""

    version: Version
    name: str
    up: Entry | None = None
    down: Entry | None = None
    #: "file" (up only), "pair" (.up/.down files) or "folder": a version may not mix them.
    source: str = ""


class Grouping:
    """Collects the up and down files of each version and refuses what cannot pair.

    Raises DuplicateVersion when two files or folders claim one version (``0001`` and ``1``
    are one version), naming both.
    """

    def __init__(self, up_hint: Callable[[Parts], str], *, by_version: bool = False) -> None:
        #: The file name to suggest when a down file has no up file.
        self._up_hint = up_hint
        #: Pair ``.up``/``.down`` files by version alone, whatever their names (golang-migrate
        #: and sqlx do: ``30_add_x.up.sql`` and ``30_drop_x.down.sql`` are one migration,
        #: named after its up file); migrata's own layout wants the names to match.
        self._pair_by_version = by_version
        self._by_version: dict[Version, Parts] = {}

    def add_file(self, version: Version, name: str, direction: str | None, entry: Entry) -> None:
        """Add one file; ``direction`` is "up", "down" or None (an up-only file)."""
        parts = self._slot(version, name, "file" if direction is None else "pair", entry.path)
        if direction == "up":
            parts.name = name
        if direction == "down":
            if parts.down is not None:
                raise DuplicateVersion(
                    f"second down file for version {version} (the first is {parts.down.path}); "
                    "keep one",
                    path=entry.path,
                )
            parts.down = entry
            return
        if parts.up is not None:
            raise DuplicateVersion(
                f"version {version} is also used by {parts.up.path}; give each migration its "
                "own version",
                path=entry.path,
            )
        parts.up = entry

    def add_folder(
        self, version: Version, name: str, folder: Entry, up: Entry, down: Entry | None
    ) -> None:
        parts = self._slot(version, name, "folder", folder.path)
        parts.up, parts.down = up, down

    def parts(self, *, require_up: bool = True) -> list[Parts]:
        """Every version's parts, sorted by version; raises DiscoveryError for a down file
        without its up file, unless ``require_up`` is False (such parts then have no up)."""
        result = []
        for version in sorted(self._by_version):
            parts = self._by_version[version]
            if parts.up is None and require_up:
                assert parts.down is not None
                raise DiscoveryError(
                    f"down file without an up file for version {version}; add "
                    f"{self._up_hint(parts)} or remove the down file",
                    path=parts.down.path,
                )
            result.append(parts)
        return result

    def _slot(self, version: Version, name: str, source: str, path: str) -> Parts:
        parts = self._by_version.get(version)
        if parts is None:
            parts = self._by_version[version] = Parts(version, name, source=source)
            return parts
        renamed = parts.name != name and not (self._pair_by_version and source == "pair")
        if renamed or parts.source != source or source == "folder":
            raise DuplicateVersion(
                f"version {version} is also used by {_describe(parts)}; give each migration "
                "its own version",
                path=path,
            )
        return parts


def renamed_pairs(pairs: dict[tuple[Version, str | None], set[str]]) -> bool:
    """Whether one version's single up file and single down file have different names."""
    return any(
        len(names) == 1
        and len(pairs.get((version, "down"), set())) == 1
        and names != pairs[(version, "down")]
        for (version, direction), names in pairs.items()
        if direction == "up"
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


def read(entries: Iterable[Entry]) -> ReadResult:
    """Turn the entries of a folder into migrations, sorted by version.

    Raises InvalidMigrationName, DuplicateVersion, InvalidEncoding or UnknownDirective, each
    naming the file, before anything touches a database.
    """
    grouping = Grouping(lambda parts: f"{parts.version}_{parts.name}.up.sql")
    ignored: list[str] = []
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.is_dir:
            folder = FOLDER_RE.match(entry.name)
            if folder is None:
                ignored.append(entry.path)
                continue
            up_file, down_file, others = read_folder(entry, EXPECTED_FORMS)
            grouping.add_folder(
                Version.parse(folder["version"]), folder["name"], entry, up_file, down_file
            )
            ignored.extend(child.path for child in others.values())
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
        grouping.add_file(Version.parse(match["version"]), match["name"], match["direction"], entry)

    migrations = []
    for parts in grouping.parts():
        assert parts.up is not None
        up = load_script(parts.up)
        down = load_script(parts.down) if parts.down is not None else None
        migrations.append(make_migration(parts.version, parts.name, up, down))
    return ReadResult(layout=NAME, migrations=tuple(migrations), ignored=tuple(ignored))


def _describe(parts: Parts) -> str:
    entry = parts.up or parts.down
    return entry.path if entry is not None else f"{parts.version}_{parts.name}"
