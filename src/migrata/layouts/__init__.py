"""Folder layout readers: one module each, with ``NAME``, ``detect(entries)`` and
``read(entries)`` (see :mod:`migrata.layouts.base`)."""

from __future__ import annotations

from types import ModuleType

from . import dbmate, diesel, dotted, drizzle, flyway, golang_migrate, goose, native, sqlx, suffix

#: Every reader, in the order that breaks ties between equal readings: migrata's own layout
#: first, then the tools whose file names it shares, then the distinctive ones.
READERS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (
        native,
        sqlx,
        golang_migrate,
        diesel,
        dbmate,
        goose,
        flyway,
        drizzle,
        dotted,
        suffix,
    )
}

__all__ = ["READERS"]
