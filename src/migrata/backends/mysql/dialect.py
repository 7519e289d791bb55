"""MySQL's and MariaDB's dialect: capabilities, and the statements after which the server has
committed implicitly or that manage a transaction (read by :mod:`migrata.split.transactions`).

DDL (and LOCK TABLES, GRANT, ANALYZE, …) commits implicitly whatever transaction is open: a
script with such a statement runs statement by statement with its progress recorded, because a
transaction around it would only pretend to be atomic. A ``CALL`` counts too, since the
procedure may.
"""

from __future__ import annotations

import re

from ...engines import Capabilities

CAPABILITIES = Capabilities(
    transactional_ddl=False,
    pipelining=True,
    lock="advisory",
    flights=True,
    autocommit_batches=True,
    schemas="database",
)

#: Statements after which MySQL/MariaDB has committed, whatever transaction was open
#: ("Statements That Cause an Implicit Commit"); temporary tables are the exception.
_MYSQL_IMPLICIT_COMMIT = re.compile(
    r"^(?:ALTER|CREATE(?!\s+(?:OR\s+REPLACE\s+)?TEMPORARY\b)|DROP(?!\s+TEMPORARY\b)|RENAME"
    r"|TRUNCATE|LOCK\s+TABLES?|UNLOCK\s+TABLES?|GRANT|REVOKE|SET\s+PASSWORD|ANALYZE"
    r"|CACHE\s+INDEX|CHECK\s+TABLE|FLUSH|LOAD\s+INDEX|OPTIMIZE|REPAIR|RESET|INSTALL|UNINSTALL"
    r"|CALL)\b",
    re.IGNORECASE,
)
_MYSQL_TRANSACTION = re.compile(
    r"^(?:BEGIN|START\s+TRANSACTION|COMMIT|ROLLBACK(?!\s+(?:WORK\s+)?TO\b)|XA"
    r"|SET\s+(?:@@(?:SESSION\.)?|SESSION\s+)?autocommit)\b",
    re.IGNORECASE,
)
#: The head of an executable comment (``/*!40000 ALTER TABLE … */``, MariaDB's ``/*M!…``).
_MYSQL_EXECUTABLE_COMMENT = re.compile(r"^/\*M?!\d*\s*")


def implicit_commit(sql: str) -> str | None:
    """What ``sql`` is (``ALTER TABLE``) when the server commits implicitly after it."""
    head = _head(sql)
    match = _MYSQL_IMPLICIT_COMMIT.match(head)
    if match is None:
        return None
    keyword = " ".join(head[: match.end()].split()).upper()
    words = head.split(None, 2)
    if keyword in {"ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE"} and len(words) > 1:
        keyword += " " + words[1].upper()
    return keyword


def manages_transaction(sql: str) -> bool:
    """Whether ``sql`` opens or closes a transaction, or switches autocommit."""
    return bool(_MYSQL_TRANSACTION.match(_head(sql)))


def _head(sql: str) -> str:
    """The statement text a classifier should read: inside an executable comment's head."""
    return _MYSQL_EXECUTABLE_COMMENT.sub("", sql.lstrip(), count=1)
