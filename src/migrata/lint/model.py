"""The linter's values: rules, findings, what the live database says, options and locks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "info"]

#: PostgreSQL's table lock modes, weakest first (the order of ``LOCKMODE`` 1–8).
LOCK_MODES = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)


def stronger_lock(a: str | None, b: str | None) -> str | None:
    """The stronger of two PostgreSQL lock modes (None: no lock)."""
    if a is None:
        return b
    if b is None:
        return a
    return a if LOCK_MODES.index(a) >= LOCK_MODES.index(b) else b


@dataclass(frozen=True, slots=True)
class Rule:
    """One check: its stable id, default severity and what the statement it flags costs."""

    id: str
    severity: Severity
    summary: str
    #: The table lock the flagged statement takes (PostgreSQL's mode names), None if n/a.
    lock: str | None
    rewrites: bool
    scans: bool
    dialects: tuple[str, ...]
    #: Off unless ``LintOptions.enabled`` names it.
    opt_in: bool = False


@dataclass(frozen=True, slots=True)
class Finding:
    """A statement a rule flags, where it is, why it is dangerous and the safe SQL instead."""

    rule: str
    severity: Severity
    version: str
    path: str
    line: int
    column: int
    statement: str
    message: str
    safe: str
    lock: str | None
    tables: tuple[str, ...]
    rewrites: bool
    scans: bool
    #: Set when a ``-- migrata: allow=…`` directive suppresses the finding: its reason text
    #: ("" when it gives none). Suppressed findings are still returned, for reports.
    allowed: str | None = None


@dataclass(frozen=True, slots=True)
class TableInfo:
    rows: int  # estimated (pg_class.reltuples and the like)
    bytes: int


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the live database says, built by the caller; the linter never connects."""

    #: ``server_version_num`` style (150004), or None.
    server_version: int | None = None
    #: Keys: lower-case ``schema.table`` and bare ``table``.
    tables: Mapping[str, TableInfo] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LintOptions:
    disabled: frozenset[str] = frozenset()
    #: Opt-in rules switched on.
    enabled: frozenset[str] = frozenset()
    severities: Mapping[str, Severity] = field(default_factory=dict)
    #: The server version without a database (``--pg-version``); the catalog's wins.
    server_version: int | None = None
    #: ClickHouse: the cluster every DDL statement should name (``ON CLUSTER …``).
    cluster: str | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule's verdict (internal) on one statement; the lock and costs default to the rule's."""

    rule: str
    message: str
    safe: str
    tables: tuple[str, ...]
    severity: Severity | None = None
    lock: str | None = None
    #: Whether this hit concerns the lock or cost on an existing table (empty tables in the
    #: catalog make it info), rather than application compatibility or style.
    costly: bool = True


@dataclass(frozen=True, slots=True)
class LockInfo:
    """What one statement locks on PostgreSQL, for ``migrata plan --locks``."""

    statement_index: int
    #: The strongest table lock the statement takes (PostgreSQL lock mode name).
    lock: str | None
    tables: tuple[str, ...]
    rewrites: bool
    scans: bool
