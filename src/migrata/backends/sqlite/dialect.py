"""SQLite's dialect: capabilities, and the statements that cannot run inside a transaction
(VACUUM; the PRAGMAs that silently do nothing inside one) or that manage one."""

from __future__ import annotations

import re

from ...engines import Capabilities

CAPABILITIES = Capabilities(transactional_ddl=True, pipelining=False, lock="file")

_SQLITE_NO_TRANSACTION = re.compile(
    r"^\s*(?:VACUUM\b|PRAGMA\s+(?:\w+\s*\.\s*)?(?:foreign_keys|journal_mode)\b)", re.IGNORECASE
)
_SQLITE_TRANSACTION = re.compile(
    r"^\s*(?:BEGIN|COMMIT|END|ROLLBACK(?!\s+(?:TRANSACTION\s+)?TO\b))\b(?!\s*\.)",
    re.IGNORECASE,
)


def refused_in_transaction(sql: str) -> str | None:
    """What ``sql`` is (``VACUUM``, ``PRAGMA FOREIGN_KEYS``) when it cannot run inside a
    transaction, else None."""
    match = _SQLITE_NO_TRANSACTION.match(sql)
    return " ".join(match.group(0).split()).upper() if match else None


def manages_transaction(sql: str) -> bool:
    """Whether ``sql`` opens or closes a transaction (SAVEPOINT and its kin do not)."""
    return bool(_SQLITE_TRANSACTION.match(sql))
