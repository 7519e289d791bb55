"""What a layout reader works on (``Entry``) and returns (``ReadResult``).

An ``Entry`` wraps a filesystem path or a package resource (``importlib.resources``), so every
reader serves folders on disk and migrations shipped inside a wheel alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources.abc import Traversable

from ..models import Migration


@dataclass(frozen=True, slots=True)
class Entry:
    """One file or folder of a migrations source; ``path`` is what messages show."""

    node: Traversable
    path: str

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def is_dir(self) -> bool:
        return self.node.is_dir()

    def read_bytes(self) -> bytes:
        return self.node.read_bytes()

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
    ignored: tuple[str, ...] = ()
