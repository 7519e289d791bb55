"""Does a script have to run outside migrata's transaction?

Decided from the split statements before anything runs, by the engine's own rules (its
package's ``dialect`` module, reached through :mod:`migrata.engines`):

- an engine without transactions (``capabilities.transactions`` false) runs every migration
  statement by statement with its progress recorded;
- a statement after which the engine commits implicitly (MySQL/MariaDB: DDL, LOCK TABLES,
  GRANT, CALL, …) does so too, whatever a marker says, because a transaction around it would
  only pretend to be atomic;
- a statement the engine refuses inside a transaction block (PostgreSQL: CREATE INDEX
  CONCURRENTLY, VACUUM, …; SQLite: VACUUM and the PRAGMAs that silently do nothing inside one)
  makes the script run outside one;
- a script that manages its own transaction (a top-level BEGIN / START TRANSACTION / COMMIT /
  ROLLBACK) runs as written, statement by statement, instead of being wrapped again.

A marker in the file or the layout (``Script.explicit_transaction``) wins over the last two:
the analysis only changes scripts that said nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..engines import engine_named
from ..models import Script, Statement


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
    if not script.transactional:
        return script
    engine = engine_named(dialect)
    if not engine.capabilities.transactions:
        return _outside(
            script,
            f"{engine.title} has no transactions, so this migration runs statement by "
            "statement with its progress recorded",
        )
    for statement in statements:
        keyword = engine.implicit_commit(statement.sql)
        if keyword is not None:
            return _outside(
                script,
                f"{keyword} (line {statement.line}) commits implicitly on {engine.title}, so "
                "this migration runs statement by statement with its progress recorded",
            )
    if script.explicit_transaction:
        return script
    for statement in statements:
        refused = engine.refused_in_transaction(statement.sql, server_version)
        if refused is not None:
            return _outside(
                script,
                f"{refused} (line {statement.line}) cannot run inside a transaction, so this "
                "migration runs outside one",
            )
    for statement in statements:
        if engine.manages_transaction(statement.sql):
            keyword = statement.sql.split(None, 1)[0].upper()
            return _outside(
                script,
                f"manages its own transaction ({keyword} at line {statement.line}), so it "
                "runs as written",
            )
    return script


def _outside(script: Script, note: str) -> Script:
    return replace(script, transactional=False, transaction_note=note)
