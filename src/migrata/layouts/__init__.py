"""Folder layout readers: one module each, with ``detect(entries)`` and ``read(entries)``."""

from __future__ import annotations

from types import ModuleType

from . import native

#: Readers in detection order. migrata's own layout is the default for an empty folder.
READERS: dict[str, ModuleType] = {native.NAME: native}

__all__ = ["READERS"]
