"""Every rule the linter knows, by id: the data reports and ``--explain`` show.

Ids are stable (configuration and ``-- migrata: allow=…`` directives name them). The checks
themselves live in :mod:`.postgres`, :mod:`.mysql` and :mod:`.clickhouse`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .model import Rule

PG = ("postgresql",)
PG_MY = ("postgresql", "mysql")
ALL = ("postgresql", "mysql", "clickhouse")
AX = "ACCESS EXCLUSIVE"

_RULES = (
    Rule("index-not-concurrent", "error", "CREATE INDEX without CONCURRENTLY blocks writes while it builds", "SHARE", False, True, PG),
    Rule("drop-index-not-concurrent", "warning", "DROP INDEX without CONCURRENTLY blocks reads and writes of its table", AX, False, False, PG),
    Rule("reindex-not-concurrent", "warning", "REINDEX without CONCURRENTLY blocks writes while it rebuilds", "SHARE", False, True, PG),
    Rule("add-column-required", "error", "ADD COLUMN NOT NULL without a default fails on a table with rows", AX, False, False, PG),
    Rule("add-column-volatile-default", "error", "ADD COLUMN with a volatile default (or any default before PostgreSQL 11) rewrites the table", AX, True, False, PG),
    Rule("add-column-stored-generated", "error", "ADD COLUMN … GENERATED ALWAYS AS (…) STORED rewrites the table", AX, True, False, PG),
    Rule("add-column-serial", "error", "ADD COLUMN serial or identity fills every row: rewrites the table", AX, True, False, PG),
    Rule("alter-column-type", "error", "ALTER COLUMN TYPE rewrites the table and its indexes unless the change is binary coercible", AX, True, False, PG),
    Rule("set-not-null", "warning", "SET NOT NULL scans the table under ACCESS EXCLUSIVE without a validated CHECK (col IS NOT NULL)", AX, False, True, PG),
    Rule("constraint-not-valid", "error", "ADD FOREIGN KEY / CHECK without NOT VALID scans the table under lock", AX, False, True, PG),
    Rule("constraint-builds-index", "error", "ADD UNIQUE / PRIMARY KEY / EXCLUDE builds its index under ACCESS EXCLUSIVE", AX, False, True, PG),
    Rule("validate-in-same-transaction", "warning", "VALIDATE CONSTRAINT in the transaction that added it NOT VALID keeps the ADD's lock during the scan", AX, False, True, PG),
    Rule("drop-column", "warning", "DROP COLUMN breaks code that still reads the column", AX, False, False, PG_MY),
    Rule("drop-table", "warning", "DROP TABLE breaks code that still uses the table", AX, False, False, PG_MY),
    Rule("rename-column", "warning", "RENAME COLUMN breaks code that uses the old name", AX, False, False, PG_MY),
    Rule("rename-table", "warning", "RENAME TABLE breaks code that uses the old name", AX, False, False, PG_MY),
    Rule("truncate", "warning", "TRUNCATE takes ACCESS EXCLUSIVE and deletes every row", AX, False, False, PG),
    Rule("vacuum-full", "error", "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE", AX, True, False, PG),
    Rule("cluster", "error", "CLUSTER rewrites the table under ACCESS EXCLUSIVE", AX, True, False, PG),
    Rule("lock-table", "warning", "LOCK TABLE blocks other sessions until the transaction ends", AX, False, False, PG),
    Rule("refresh-matview-not-concurrent", "warning", "REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks reads of the view", AX, True, False, PG),
    Rule("backfill-with-ddl", "warning", "UPDATE/DELETE in the same transaction as DDL on the table holds the DDL's lock while every row is written", AX, False, True, PG),
    Rule("enum-value-in-transaction", "error", "ALTER TYPE … ADD VALUE cannot run in a transaction before PostgreSQL 12", None, False, False, PG),
    Rule("concurrently-in-transaction", "error", "CONCURRENTLY cannot run inside a transaction block", None, False, False, PG),
    Rule("prefer-jsonb", "info", "json has no equality operator and is re-parsed on every access; jsonb is the usual choice", None, False, False, PG),
    Rule("prefer-timestamptz", "info", "timestamp without time zone changes meaning with the session's TimeZone", None, False, False, PG),
    Rule("prefer-text", "info", "char(n) pads with spaces and is no faster than text or varchar", None, False, False, PG),
    Rule("drop-database", "error", "DROP DATABASE in a migration deletes a whole database", None, False, False, PG),
    Rule("prefer-bigint-key", "warning", "an int/serial primary key runs out at 2^31 rows", None, False, False, PG, opt_in=True),
    Rule("mysql-table-copy", "error", "this ALTER TABLE cannot run INSTANT or INPLACE with LOCK=NONE: it copies the table and blocks writes", "EXCLUSIVE", True, False, ("mysql",)),
    Rule("mysql-add-foreign-key", "warning", "ADD FOREIGN KEY with foreign_key_checks on copies the table", "EXCLUSIVE", True, True, ("mysql",)),
    Rule("clickhouse-mutation", "warning", "ALTER TABLE … UPDATE/DELETE is a mutation: it rewrites every part of the table in the background", None, True, True, ("clickhouse",)),
    Rule("clickhouse-missing-on-cluster", "error", "DDL without ON CLUSTER changes one replica only", None, False, False, ("clickhouse",)),
    Rule("folder-layout", "warning", "the folder's layout skips or misreads a file its tool would treat differently", None, False, False, ALL),
)  # fmt: skip

#: Every rule, by id.
RULES: Mapping[str, Rule] = MappingProxyType({rule.id: rule for rule in _RULES})
