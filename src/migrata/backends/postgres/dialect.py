"""PostgreSQL's dialect: its capabilities, and the statements that cannot run inside a
transaction block or that manage one (read by :mod:`migrata.split.transactions`)."""

from __future__ import annotations

import re
from typing import Any

from ...engines import Capabilities

CAPABILITIES = Capabilities(
    transactional_ddl=True,
    pipelining=True,
    lock="advisory",
    flights=True,
    schemas="namespace",
    extensions=True,
)

#: Statements that may need a closer look; the real parser confirms (a keyword in a string or
#: an identifier does not count).
_PG_CANDIDATE = re.compile(
    r"\b(?:CONCURRENTLY|VACUUM|SYSTEM|DATABASE|TABLESPACE|SUBSCRIPTION|DISCARD|VALUE)\b",
    re.IGNORECASE,
)
_TRANSACTION_START = re.compile(
    r"^\s*(?:BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|PREPARE\s+TRANSACTION)\b",
    re.IGNORECASE,
)
#: TransactionStmt kinds that open or close the transaction; SAVEPOINT, RELEASE and ROLLBACK TO
#: only make sense inside one, so a script using just those stays inside migrata's.
_PG_TRANSACTION_KINDS = frozenset(
    {
        "TRANS_STMT_BEGIN",
        "TRANS_STMT_START",
        "TRANS_STMT_COMMIT",
        "TRANS_STMT_ROLLBACK",
        "TRANS_STMT_PREPARE",
        "TRANS_STMT_COMMIT_PREPARED",
        "TRANS_STMT_ROLLBACK_PREPARED",
    }
)


def refused_in_transaction(sql: str, server_version: int | None) -> str | None:
    """What ``sql`` is (``CREATE INDEX CONCURRENTLY``…) when PostgreSQL refuses it inside a
    transaction block, else None; ``server_version`` None means a current server."""
    if not _PG_CANDIDATE.search(sql):
        return None
    node = _parse_one(sql)
    return None if node is None else _pg_refused(node, server_version)


def manages_transaction(sql: str) -> bool:
    """Whether ``sql`` opens or closes a transaction (SAVEPOINT and its kin do not)."""
    if not _TRANSACTION_START.match(sql):
        return False
    node = _parse_one(sql)
    return (
        node is not None
        and type(node).__name__ == "TransactionStmt"
        and node.kind.name in _PG_TRANSACTION_KINDS
    )


def _parse_one(sql: str) -> Any:
    from pglast import parser  # imported only when a candidate statement is seen

    try:
        parsed = parser.parse_sql(sql)
    except parser.ParseError:
        return None
    return parsed[0].stmt if len(parsed) == 1 else None


def _pg_refused(node: Any, server_version: int | None) -> str | None:
    kind = type(node).__name__
    if kind == "IndexStmt" and node.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if kind == "DropStmt" and node.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if kind == "ReindexStmt":
        params = node.params or ()
        if any(getattr(p, "defname", None) == "concurrently" for p in params):
            return "REINDEX CONCURRENTLY"
        target = str(node.kind.name)
        if target in {"REINDEX_OBJECT_DATABASE", "REINDEX_OBJECT_SYSTEM"}:
            return "REINDEX " + target.removeprefix("REINDEX_OBJECT_")
        return None
    if kind == "VacuumStmt" and node.is_vacuumcmd:
        return "VACUUM"
    if kind == "DiscardStmt" and node.target.name == "DISCARD_ALL":
        return "DISCARD ALL"
    if kind == "AlterDatabaseStmt" and any(
        getattr(o, "defname", None) == "tablespace" for o in node.options or ()
    ):
        return "ALTER DATABASE … SET TABLESPACE"
    if kind == "AlterEnumStmt" and node.newVal is not None and not node.oldVal:
        if server_version is not None and server_version < 120000:
            return "ALTER TYPE … ADD VALUE (before PostgreSQL 12)"
        return None
    fixed = {
        "AlterSystemStmt": "ALTER SYSTEM",
        "CreatedbStmt": "CREATE DATABASE",
        "DropdbStmt": "DROP DATABASE",
        "CreateTableSpaceStmt": "CREATE TABLESPACE",
        "DropTableSpaceStmt": "DROP TABLESPACE",
        "CreateSubscriptionStmt": "CREATE SUBSCRIPTION",
        "DropSubscriptionStmt": "DROP SUBSCRIPTION",
    }
    return fixed.get(kind)
