"""What a layout reader works on (``Entry``), returns (``ReadResult``), and the helpers every
reader shares to turn text into ``Script`` and ``Migration`` values.

A reader module has ``NAME``, ``detect(entries) -> int`` and ``read(entries) -> ReadResult``.
``detect`` answers how sure it is: ``NO`` (the folder is not this layout), ``FITS`` (the file
names fit, but so would they for other layouts) or ``DISTINCTIVE`` (something only this layout
has: a marker line, a journal, a naming scheme no other layout uses).

An ``Entry`` wraps a filesystem path or a package resource (``importlib.resources``), so every
reader serves folders on disk and migrations shipped inside a wheel alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable

from ..models import Migration, Script, Version
from ..sqltext import checksum, decode, normalize, parse_directives

NO = 0
FITS = 1
DISTINCTIVE = 2


@dataclass(frozen=True, slots=True)
class Entry:
    """One file or folder of a migrations source; ``path`` is what messages show."""

    node: Traversable
    path: str
    _cache: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def is_dir(self) -> bool:
        return self.node.is_dir()

    def read_bytes(self) -> bytes:
        # Detection may read a file several times (each reader looks); the disk once.
        data = self._cache.get("")
        if data is None:
            data = self._cache[""] = self.node.read_bytes()
        return data

    def read_text(self) -> str:
        """The file as UTF-8 text without a BOM; InvalidEncoding names the file."""
        return decode(self.read_bytes(), self.path).removeprefix("\ufeff")

    def children(self) -> Iterator[Entry]:
        for child in sorted(self.node.iterdir(), key=lambda c: c.name):
            # Hidden files and the marker files of a migrations *package* are never content.
            if child.name.startswith(".") or child.name in {"__pycache__", "__init__.py"}:
                continue
            yield Entry(child, f"{self.path}/{child.name}")


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
