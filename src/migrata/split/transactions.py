"""Does a script have to run outside migrata's transaction?

Two cases, decided from the split statements before anything runs:

- a statement the engine refuses inside a transaction block (PostgreSQL: CREATE/DROP INDEX
  CONCURRENTLY, REINDEX CONCURRENTLY, REINDEX DATABASE/SYSTEM, VACUUM, ALTER SYSTEM, CREATE/DROP
  DATABASE, CREATE/DROP TABLESPACE, ALTER DATABASE … SET TABLESPACE, CREATE/DROP SUBSCRIPTION,
  DISCARD ALL, ALTER TYPE … ADD VALUE before PostgreSQL 12; SQLite: VACUUM, and the PRAGMAs that
  silently do nothing inside one — ``foreign_keys``, ``journal_mode``);
- a script that manages its own transaction (a top-level BEGIN / START TRANSACTION / COMMIT /
  ROLLBACK): it runs as written, statement by statement, instead of being wrapped again.

A marker in the file or the layout (``Script.explicit_transaction``) always wins: the analysis
only changes scripts that said nothing. The exception is MySQL/MariaDB, where DDL (and a few
other statements: LOCK TABLES, GRANT, ANALYZE, …) commits implicitly whatever the marker says:
such a script runs statement by statement with its progress recorded, because a transaction
around it would only pretend to be atomic. A ``CALL`` counts too, since the procedure may.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..models import Script, Statement

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
_SQLITE_NO_TRANSACTION = re.compile(
    r"^\s*(?:VACUUM\b|PRAGMA\s+(?:\w+\s*\.\s*)?(?:foreign_keys|journal_mode)\b)", re.IGNORECASE
)
_SQLITE_TRANSACTION = re.compile(
    r"^\s*(?:BEGIN|COMMIT|END|ROLLBACK(?!\s+(?:TRANSACTION\s+)?TO\b))\b(?!\s*\.)",
    re.IGNORECASE,
)


def decide_transaction(
    script: Script,
    statements: Sequence[Statement],
    dialect: str,
    *,
    server_version: int | None = None,
) -> Script:
    """``script``, changed to run outside a transaction when its statements require it.

    ``server_version`` is the server's numeric version (PostgreSQL: 150004); None means a
    current server.
    """
    if dialect == "mysql":
        return _decide_mysql(script, statements)
    if dialect == "clickhouse":
        if not script.transactional:
            return script
        return replace(
            script,
            transactional=False,
            transaction_note="ClickHouse has no transactions, so this migration runs statement "
            "by statement with its progress recorded",
        )
    if script.explicit_transaction or not script.transactional:
        return script
    for statement in statements:
        refused = _refused_in_transaction(statement.sql, dialect, server_version)
        if refused is not None:
            return replace(
                script,
                transactional=False,
                transaction_note=f"{refused} (line {statement.line}) cannot run inside a "
                "transaction, so this migration runs outside one",
            )
    for statement in statements:
        if _manages_transaction(statement.sql, dialect):
            keyword = statement.sql.split(None, 1)[0].upper()
            return replace(
                script,
                transactional=False,
                transaction_note=f"manages its own transaction ({keyword} at line "
                f"{statement.line}), so it runs as written",
            )
    return script


def _decide_mysql(script: Script, statements: Sequence[Statement]) -> Script:
    if not script.transactional:
        return script
    for statement in statements:
        head = _mysql_head(statement.sql)
        match = _MYSQL_IMPLICIT_COMMIT.match(head)
        if match is not None:
            keyword = " ".join(head[: match.end()].split()).upper()
            words = head.split(None, 2)
            if keyword in {"ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE"} and len(words) > 1:
                keyword += " " + words[1].upper()
            return replace(
                script,
                transactional=False,
                transaction_note=f"{keyword} (line {statement.line}) commits implicitly on "
                "MySQL/MariaDB, so this migration runs statement by statement with its "
                "progress recorded",
            )
    if script.explicit_transaction:
        return script
    for statement in statements:
        if _MYSQL_TRANSACTION.match(_mysql_head(statement.sql)):
            keyword = statement.sql.split(None, 1)[0].upper()
            return replace(
                script,
                transactional=False,
                transaction_note=f"manages its own transaction ({keyword} at line "
                f"{statement.line}), so it runs as written",
            )
    return script


def _mysql_head(sql: str) -> str:
    """The statement text a classifier should read: inside an executable comment's head."""
    return _MYSQL_EXECUTABLE_COMMENT.sub("", sql.lstrip(), count=1)


def refused_in_transaction(sql: str, dialect: str, server_version: int | None) -> str | None:
    """What ``sql`` is (``CREATE INDEX CONCURRENTLY``…) when the engine refuses it inside a
    transaction block, else None."""
    return _refused_in_transaction(sql, dialect, server_version)


def _refused_in_transaction(sql: str, dialect: str, server_version: int | None) -> str | None:
    if dialect == "sqlite":
        match = _SQLITE_NO_TRANSACTION.match(sql)
        return " ".join(match.group(0).split()).upper() if match else None
    if dialect != "postgresql" or not _PG_CANDIDATE.search(sql):
        return None
    node = _parse_one(sql)
    return None if node is None else _pg_refused(node, server_version)


def _manages_transaction(sql: str, dialect: str) -> bool:
    if dialect == "sqlite":
        return bool(_SQLITE_TRANSACTION.match(sql))
    if dialect != "postgresql" or not _TRANSACTION_START.match(sql):
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
