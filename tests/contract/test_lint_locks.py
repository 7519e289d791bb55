"""statement_locks against what PostgreSQL really takes: each statement runs in a transaction
on a real server, pg_locks is read from the same backend before the rollback, and the
strongest mode on the schema's tables must be the one statement_locks names."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import POSTGRES_ADMIN_URL, _with_dbname, require_postgres
from migrata.lint import statement_locks
from migrata.models import Script
from migrata.split import split_script

SCHEMA = """
CREATE TABLE u (id bigint PRIMARY KEY);
CREATE TABLE t (id bigint PRIMARY KEY, a int, b text, u_id bigint);
CREATE TABLE d (a int);
CREATE INDEX i ON t (a);
ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (u_id) REFERENCES u (id) NOT VALID;
ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;
CREATE MATERIALIZED VIEW mv AS SELECT id FROM t;
CREATE UNIQUE INDEX mv_id ON mv (id);
CREATE TYPE mood AS ENUM ('a');
CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
"""

STATEMENTS = [
    "CREATE INDEX i2 ON t (b)",
    "CREATE UNIQUE INDEX i3 ON t (id, a)",
    "ALTER TABLE t ADD COLUMN x int",
    "ALTER TABLE t ADD COLUMN x int NOT NULL DEFAULT 0",
    "ALTER TABLE t ADD COLUMN x uuid DEFAULT gen_random_uuid()",
    "ALTER TABLE t DROP COLUMN b",
    "ALTER TABLE t ALTER COLUMN b TYPE varchar(10)",
    "ALTER TABLE t ALTER COLUMN a SET NOT NULL",
    "ALTER TABLE t ALTER COLUMN a DROP NOT NULL",
    "ALTER TABLE t ALTER COLUMN a SET DEFAULT 1",
    "ALTER TABLE t ALTER COLUMN a SET STATISTICS 500",
    "ALTER TABLE t ALTER COLUMN b SET STORAGE EXTERNAL",
    "ALTER TABLE t SET (fillfactor = 70)",
    "ALTER TABLE t SET (autovacuum_enabled = false)",
    "ALTER TABLE t ADD CONSTRAINT f2 FOREIGN KEY (u_id) REFERENCES u (id)",
    "ALTER TABLE t ADD CONSTRAINT f2 FOREIGN KEY (u_id) REFERENCES u (id) NOT VALID",
    "ALTER TABLE t VALIDATE CONSTRAINT f",
    "ALTER TABLE t VALIDATE CONSTRAINT c",
    "ALTER TABLE t ADD CONSTRAINT c2 CHECK (a < 100)",
    "ALTER TABLE t ADD CONSTRAINT k UNIQUE (a)",
    "ALTER TABLE t ADD CONSTRAINT k UNIQUE USING INDEX i_unique",
    "ALTER TABLE t DROP CONSTRAINT c",
    "ALTER TABLE t DROP CONSTRAINT f",
    "ALTER TABLE t DISABLE TRIGGER ALL",
    "ALTER TABLE t CLUSTER ON i",
    "ALTER TABLE t SET WITHOUT CLUSTER",
    "ALTER TABLE t ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE t REPLICA IDENTITY FULL",
    "ALTER TABLE t SET UNLOGGED",
    "ALTER TABLE t RENAME COLUMN b TO bb",
    "ALTER TABLE t RENAME TO t2",
    "ALTER TABLE t RENAME CONSTRAINT c TO c3",
    "CREATE TABLE n (id int REFERENCES u (id))",
    "CREATE TABLE n2 AS SELECT * FROM t",
    "DROP TABLE d",
    "DROP INDEX i",
    "TRUNCATE t",
    "CLUSTER t USING i",
    "REINDEX TABLE t",
    "REINDEX INDEX i",
    "LOCK TABLE t IN ROW EXCLUSIVE MODE",
    "LOCK TABLE t IN SHARE MODE",
    "LOCK t",
    "INSERT INTO t VALUES (1, 1, 'x', NULL)",
    "UPDATE t SET a = 1",
    "DELETE FROM t WHERE a = 2",
    "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION trg()",
    "COMMENT ON TABLE t IS 'x'",
    "COMMENT ON COLUMN t.a IS 'x'",
    "CREATE POLICY p ON t USING (true)",
    "REFRESH MATERIALIZED VIEW mv",
    "REFRESH MATERIALIZED VIEW CONCURRENTLY mv",
    "ALTER TYPE mood ADD VALUE 'b'",
    "SELECT 1",
]

_MODES = {
    "AccessShareLock": "ACCESS SHARE",
    "RowShareLock": "ROW SHARE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}
_ORDER = list(_MODES.values())


@pytest.fixture(scope="module")
def scratch() -> Iterator[Any]:
    require_postgres()
    import psycopg

    admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    name = f"migrata_t_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(_with_dbname(POSTGRES_ADMIN_URL, name), autocommit=True) as conn:
            conn.execute(SCHEMA)
            conn.execute("CREATE UNIQUE INDEX i_unique ON t (a)")
            yield conn
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _held(conn: Any, names: dict[int, str]) -> dict[str, str]:
    """The strongest lock this backend holds on each table or materialized view of public."""
    # A LEFT JOIN: a table dropped by the statement is gone from pg_class already.
    rows = conn.execute(
        "SELECT l.relation::int, l.mode, c.relname FROM pg_locks l"
        " LEFT JOIN pg_class c ON c.oid = l.relation"
        " AND c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'm')"
        " WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'"
    ).fetchall()
    held: dict[str, str] = {}
    for oid, mode, relname in rows:
        # The name before the statement (it may rename or drop the table), else a new table's.
        table = names.get(oid, relname)
        if table is None:
            continue
        mode = _MODES[mode]
        if table not in held or _ORDER.index(mode) > _ORDER.index(held[table]):
            held[table] = mode
    return held


@pytest.mark.parametrize("sql", STATEMENTS)
def test_statement_locks_match_pg_locks(scratch: Any, sql: str) -> None:
    (info,) = statement_locks(split_script(Script("x.sql", sql), "postgresql"), "postgresql")
    names = dict(
        scratch.execute(
            "SELECT oid::int, relname FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'm')"
        ).fetchall()
    )
    scratch.execute("BEGIN")
    try:
        scratch.execute(sql)
        held = _held(scratch, names)
    finally:
        scratch.execute("ROLLBACK")
    strongest = max(held.values(), key=_ORDER.index) if held else None
    assert (info.lock, set(info.tables) <= set(held)) == (strongest, True), held
