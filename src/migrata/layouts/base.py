"""What a layout reader works on (``Entry``), returns (``ReadResult``), and the helpers every
reader shares to turn text into ``Script`` and ``Migration`` values.

The readers whose migrations are pairs of ``.up``/``.down`` files (migrata's own, sqlx,
golang-migrate, dotted, suffix) share :class:`Grouping`, which pairs the files the same way for
all of them; readers collect what they pass over in :class:`Findings`.

A reader module has ``NAME``, ``detect(entries) -> int`` and ``read(entries) -> ReadResult``.
``detect`` answers how sure it is: ``NO`` (the folder is not this layout), ``FITS`` (the file
names fit, but so would they for other layouts) or ``DISTINCTIVE`` (something only this layout
has: a marker line, a journal, a naming scheme no other layout uses).

An ``Entry`` wraps a filesystem path or a package resource (``importlib.resources``), so every
reader serves folders on disk and migrations shipped inside a wheel alike.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DiscoveryError, DuplicateVersion, InvalidMigrationName
from ..models import Migration, Script, Version
from ..sqltext import checksum, decode, normalize, parse_directives

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

NO = 0
FITS = 1
DISTINCTIVE = 2


@dataclass(frozen=True, slots=True)
class Entry:
    """One file or folder of a migrations source; ``path`` is what messages show."""

    node: Traversable
    path: str
    #: What was read of the node once (each reader looks at every entry while detecting):
    #: its name, whether it is a folder, its bytes.
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        name: str | None = self._cache.get("name")
        if name is None:
            name = self._cache["name"] = self.node.name
        return name

    @property
    def is_dir(self) -> bool:
        known: bool | None = self._cache.get("is_dir")
        if known is None:
            known = self._cache["is_dir"] = self.node.is_dir()
        return known

    def read_bytes(self) -> bytes:
        # Detection may read a file several times (each reader looks); the disk once.
        data: bytes | None = self._cache.get("")
        if data is None:
            data = self._cache[""] = self.node.read_bytes()
        return data

    def read_text(self) -> str:
        """The file as UTF-8 text without a BOM; InvalidEncoding names the file."""
        text: str | None = self._cache.get("text")
        if text is None:
            text = self._cache["text"] = decode(self.read_bytes(), self.path).removeprefix("\ufeff")
        return text

    def children(self) -> Iterator[Entry]:
        if isinstance(self.node, Path):
            # A folder on disk: one scandir says each child's name and kind, no stat each.
            with os.scandir(self.node) as scan:
                found = [(c.name, c.is_dir()) for c in scan]
            for name, is_dir in sorted(found):
                if not _hidden(name):
                    cache = {"name": name, "is_dir": is_dir}
                    yield Entry(self.node / name, f"{self.path}/{name}", cache)
            return
        for child in sorted(self.node.iterdir(), key=lambda c: c.name):
            if not _hidden(child.name):
                yield Entry(child, f"{self.path}/{child.name}")


def _hidden(name: str) -> bool:
    """Hidden files and the marker files of a migrations *package* are never content."""
    return name.startswith(".") or name in {"__pycache__", "__init__.py"}


@dataclass(frozen=True, slots=True)
class ReadResult:
    layout: str
    migrations: tuple[Migration, ...]
    #: Paths that are not migrations (README, notes, other files), shown with ``-v``.
    ignored: tuple[str, ...] = ()
    #: Things a user must hear about but that do not stop a run (a .sql file missing from a
    #: journal, a migration that cannot run here), each naming the file.
    warnings: tuple[str, ...] = ()
    #: Other layouts whose naming the folder also fits and that read it the same way.
    also: tuple[str, ...] = ()
    #: Files that look like migrations but whose names the layout's tool cannot parse, so it
    #: skips them (and migrata too, with a warning each): Flyway's unparseable names,
    #: golang-migrate's files without ``.up``/``.down``, a top-level ``.sql`` in a diesel
    #: folder. When another layout also claims the folder, it is ambiguous.
    skipped: tuple[str, ...] = ()


def load_script(
    entry: Entry,
    *,
    transactional: bool | None = None,
    note: str | None = None,
) -> Script:
    """Read one whole SQL file: UTF-8, BOM dropped, ``-- migrata:`` directives parsed.

    ``transactional`` is what the layout's own marker says (None: it says nothing).
    """
    return script_from_text(entry.path, entry.read_text(), transactional=transactional, note=note)


def script_from_text(
    path: str,
    text: str,
    *,
    first_line: int = 1,
    transactional: bool | None = None,
    note: str | None = None,
) -> Script:
    """A Script for ``text`` (a whole file, or a section of one starting at ``first_line``).

    A layout marker (``transactional`` not None) is explicit; so is a migrata directive. When
    both speak, the layout's marker wins only if the directive said nothing.
    """
    directives = parse_directives(normalize(text), path)
    explicit = directives.explicit or transactional is not None
    if directives.explicit:
        chosen = directives.transactional
    elif transactional is not None:
        chosen = transactional
    else:
        chosen = True
    if note is None and not chosen and explicit:
        note = "marked to run outside a transaction"
    return Script(
        path=path,
        text=text,
        transactional=chosen,
        first_line=first_line,
        explicit_transaction=explicit,
        transaction_note=note,
        environments=directives.environments,
        timeouts=directives.timeouts,
        squashes=directives.squashes,
    )


def make_migration(
    version: Version,
    name: str,
    up: Script,
    down: Script | None = None,
    *,
    skip_reason: str | None = None,
    source_info: tuple[tuple[str, str], ...] = (),
    down_refusal: str | None = None,
) -> Migration:
    """A Migration whose checksum covers its up script (normalised: CRLF and BOM do not
    count)."""
    return Migration(
        version=version,
        name=name,
        up=up,
        down=down,
        checksum=checksum(up.text),
        skip_reason=skip_reason,
        source_info=source_info,
        down_refusal=down_refusal,
    )


def sql_files(entries: list[Entry]) -> list[Entry]:
    """The ``.sql`` files among ``entries`` (not folders), by name."""
    return [e for e in entries if not e.is_dir and e.name.lower().endswith(".sql")]


class Findings:
    """What a reader passes over while it reads a folder: ignored paths, skipped files and
    warnings, in the order it meets them; :meth:`result` makes them a ReadResult."""

    def __init__(self) -> None:
        self.ignored: list[str] = []
        self.warnings: list[str] = []
        self.skipped: list[str] = []

    def ignore(self, path: str) -> None:
        """``path`` is not a migration (a README, another file): listed with ``-v``."""
        self.ignored.append(path)

    def skip(self, path: str, why: str) -> None:
        """``path`` looks like a migration that the layout's tool never runs: ignored, and
        warned about as ``<path>: <why>``."""
        self.ignored.append(path)
        self.skipped.append(path)
        self.warnings.append(f"{path}: {why}")

    def warn(self, warning: str) -> None:
        """A warning that names its file itself."""
        self.warnings.append(warning)

    def result(self, layout: str, migrations: Iterable[Migration]) -> ReadResult:
        return ReadResult(
            layout=layout,
            migrations=tuple(migrations),
            ignored=tuple(self.ignored),
            warnings=tuple(self.warnings),
            skipped=tuple(self.skipped),
        )


@dataclass(frozen=True, slots=True)
class FileName:
    """What a layout reads in the name of one migration file."""

    version: Version
    name: str
    #: "up", "down", or None for an up-only file.
    direction: str | None = None


def names_matching(
    match: Callable[[str], re.Match[str] | None], problem: Callable[[str], str]
) -> Callable[[Entry, Findings], FileName]:
    """A ``name_file`` for :meth:`Grouping.add_entries` that reads the groups ``version``,
    ``name`` and ``direction`` of what ``match`` finds in a file name; a name it does not
    match raises InvalidMigrationName naming the file, with ``problem(file name)``."""

    def name_file(entry: Entry, found: Findings) -> FileName:
        matched = match(entry.name)
        if matched is None:
            raise InvalidMigrationName(problem(entry.name), path=entry.path)
        return FileName(Version.parse(matched["version"]), matched["name"], matched["direction"])

    return name_file


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

    def add_entries(
        self,
        entries: Iterable[Entry],
        found: Findings,
        *,
        name_file: Callable[[Entry, Findings], FileName | None],
        add_folder: Callable[[Entry], bool],
    ) -> None:
        """Add the migrations among ``entries``, in name order.

        ``name_file`` reads the name of each ``.sql`` file: it raises for a name the layout
        refuses, and returns None for a file it skips, after saying why in ``found``.
        ``add_folder`` adds a folder that is a migration (True) or raises for it; a folder it
        leaves (False) and every other file are ignored.
        """
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.is_dir:
                if not add_folder(entry):
                    found.ignore(entry.path)
            elif not entry.name.lower().endswith(".sql"):
                found.ignore(entry.path)
            else:
                file = name_file(entry, found)
                if file is not None:
                    self.add_file(file, entry)

    def add_file(self, file: FileName, entry: Entry) -> None:
        """Add one file of the version and direction its name says."""
        version, name = file.version, file.name
        parts = self._slot(version, name, "file" if file.direction is None else "pair", entry.path)
        if file.direction == "up":
            parts.name = name
        if file.direction == "down":
            first = parts.down
            if first is None:
                parts.down = entry
                return
            problem = (
                f"second down file for version {version} (the first is {first.path}); keep one"
            )
        elif parts.up is None:
            parts.up = entry
            return
        else:
            problem = (
                f"version {version} is also used by {parts.up.path}; give each migration its "
                "own version"
            )
        raise DuplicateVersion(problem, path=entry.path)

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

    def migrations(
        self,
        *,
        load: Callable[[Entry], Script] = load_script,
        without_up: Callable[[Parts], Script | None] | None = None,
        source_info: Callable[[Parts], tuple[tuple[str, str], ...]] = lambda parts: (),
    ) -> list[Migration]:
        """The grouped migrations, sorted by version, their files read with ``load``.

        A down file without its up file raises DiscoveryError naming it, unless
        ``without_up`` says what to do: the up script to record instead, or None to leave
        the version out (``without_up`` reports why).
        """
        migrations = []
        for parts in self.parts(require_up=without_up is None):
            if parts.up is not None:
                up = load(parts.up)
            else:
                assert without_up is not None
                instead = without_up(parts)
                if instead is None:
                    continue
                up = instead
            down = load(parts.down) if parts.down is not None else None
            migrations.append(
                make_migration(parts.version, parts.name, up, down, source_info=source_info(parts))
            )
        return migrations

    def _slot(self, version: Version, name: str, source: str, path: str) -> Parts:
        parts = self._by_version.get(version)
        if parts is None:
            parts = self._by_version[version] = Parts(version, name, source=source)
            return parts
        renamed = parts.name != name and not (self._pair_by_version and source == "pair")
        if renamed or parts.source != source or source == "folder":
            shown = parts.up or parts.down
            other = shown.path if shown is not None else f"{parts.version}_{parts.name}"
            raise DuplicateVersion(
                f"version {version} is also used by {other}; give each migration its own version",
                path=path,
            )
        return parts
