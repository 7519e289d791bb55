"""Folder layout readers: one module each, with ``NAME``, ``detect(entries)`` and
``read(entries)`` (see :mod:`migrata.layouts.base`).

The readers are imported when :data:`READERS` is first read: a run whose folder reading comes
from the cache (see :mod:`migrata.discovery`) imports none of them.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    #: Every reader, in the order that breaks ties between equal readings: migrata's own
    #: layout first, then the tools whose file names it shares, then the distinctive ones.
    READERS: dict[str, ModuleType]

#: The reader modules, in the order of READERS.
_MODULES = (
    "native",
    "sqlx",
    "golang_migrate",
    "diesel",
    "dbmate",
    "goose",
    "flyway",
    "drizzle",
    "dotted",
    "suffix",
)


def __getattr__(name: str) -> Any:
    if name != "READERS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    modules = [importlib.import_module(f"{__name__}.{m}") for m in _MODULES]
    readers = {module.NAME: module for module in modules}
    globals()["READERS"] = readers
    return readers


__all__ = ["READERS"]
