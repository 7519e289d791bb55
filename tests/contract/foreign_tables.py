"""Other tools' history tables, created as each tool creates them, for adopt tests.

``create_history(conn, engine, tool, rows)`` runs, on a plain driver connection (sqlite3,
psycopg or PyMySQL, autocommit: ``Database.connect()`` gives one), the DDL the tool runs on that
engine and inserts the rows the tool writes when it applies (or reverts) the given migrations,
with the tool's own checksum where it keeps one. The DDL is copied from the tools' sources:

- sqlx        sqlx-postgres / sqlx-sqlite / sqlx-mysql ``src/migrate.rs``
              (``ensure_migrations_table``, ``apply``; on MySQL ``apply`` inserts the row with
              ``success = FALSE`` and sets it TRUE after the script, since DDL commits)
- diesel      diesel ``src/migration/setup_migration_table.sql`` (one file for every backend); the
              version is stored with its dashes removed (migrations_internals
              ``version_from_string``)
- dbmate      dbmate ``pkg/driver/postgres``, ``pkg/driver/sqlite`` and ``pkg/driver/mysql``
              ``CreateMigrationsTable``
- golang-migrate  ``database/postgres``, ``database/sqlite3`` and ``database/mysql``
              ``ensureVersionTable``, ``SetVersion`` (one row: the current version and ``dirty``)
- goose       ``internal/dialect/dialectquery`` postgres / sqlite3 / mysql ``CreateTable``; goose
              inserts version 0 when it creates the table
- flyway      ``database/postgresql``, ``database/sqlite`` and ``database/mysql``
              ``createMetaDataTable.sql``; checksum as ``ChecksumCalculator`` computes it
- drizzle     drizzle-orm ``pg-core``, ``sqlite-core`` and ``mysql-core`` ``dialect.ts``
              ``migrate()`` (MySQL has no ``migrationsSchema``: the table is in the current
              database); hash as ``migrator.ts`` ``readMigrationFiles`` computes it

``execute(conn, sql, params)`` runs one statement on such a connection whatever its driver.

Use::

    from foreign_tables import ToolRow, create_history

    create_history(conn, db.engine, "sqlx", [ToolRow("20240101000000", "create users", sql)])
    create_history(conn, db.engine, "golang-migrate", [("1", "init", ""), ("2", "b", "")],
                   dirty=True)
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TOOLS = ("sqlx", "diesel", "dbmate", "golang-migrate", "goose", "flyway", "drizzle")

DEFAULT_TABLES = {
    "sqlx": "_sqlx_migrations",
    "diesel": "__diesel_schema_migrations",
    "dbmate": "schema_migrations",
    "golang-migrate": "schema_migrations",
    "goose": "goose_db_version",
    "flyway": "flyway_schema_history",
    "drizzle": "__drizzle_migrations",  # in schema "drizzle" on PostgreSQL
}

ENGINES = ("sqlite", "postgresql", "mysql")


def execute(conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` on a sqlite3, psycopg or PyMySQL connection; its rows (none: ``[]``).

    Parameters are ``?`` on sqlite3 and ``%s`` on the others.
    """
    if type(conn).__module__.split(".", 1)[0] == "pymysql":
        with conn.cursor() as cursor:
            # Without parameters PyMySQL sends the text as it is (a literal % stays one).
            cursor.execute(sql, tuple(params) if params else None)
            return list(cursor.fetchall()) if cursor.description else []
    cursor = conn.execute(sql, tuple(params)) if params else conn.execute(sql)
    return cursor.fetchall() if cursor.description else []


@dataclass(frozen=True)
class ToolRow:
    """One migration the tool applied (or one event of its history, see ``event``).

    ``version`` is the folder's version (``2017-03-05-095748``; the helper stores it the way the
    tool does); None is a Flyway repeatable. ``name`` is the file's description part
    (``create_users``), ``sql`` the up file's text the checksum is computed from, ``when`` a
    drizzle journal entry's ``when``.

    ``event``: ``apply`` (default); ``revert`` (goose: an ``is_applied = false`` row, as goose
    before v3 wrote on down; Flyway: an ``UNDO_SQL`` row; others: the row is removed, as they
    do on down); ``delete`` (Flyway: a ``DELETE`` row, as ``flyway repair`` writes for a missing
    migration); ``baseline`` (Flyway: a ``BASELINE`` row, as ``flyway baseline`` writes).
    """

    version: str | None
    name: str = ""
    sql: str = ""
    when: int | None = None
    event: str = "apply"


RowLike = ToolRow | tuple[Any, ...]


def create_history(
    conn: Any,
    engine: str,
    tool: str,
    rows: Sequence[RowLike] = (),
    *,
    dirty: bool = False,
    failed_version: str | None = None,
    table: str | None = None,
) -> str:
    """Create ``tool``'s history table on ``conn`` and write ``rows`` into it, in order.

    ``engine`` is ``"sqlite"``, ``"postgresql"`` or ``"mysql"``. ``rows`` are :class:`ToolRow` values or
    tuples of their fields (``("1", "init", "CREATE TABLE t (id int);")``). ``dirty`` (golang-
    migrate) marks the current version dirty. ``failed_version`` adds a failed row for that
    version: sqlx and Flyway a ``success = false`` row, golang-migrate makes it the current
    version, dirty. ``table`` is a custom table name (``schema.table`` on PostgreSQL; on MySQL the
    schema is a database, created if missing as sqlx and Flyway do).

    Returns the table as find_histories shows it (``drizzle.__drizzle_migrations``,
    ``_sqlx_migrations``). Raises ValueError for an unknown tool or engine, or an option the
    tool does not have.
    """
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}; known: {', '.join(TOOLS)}")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}")
    if dirty and tool != "golang-migrate":
        raise ValueError("dirty is golang-migrate's flag")
    if failed_version is not None and tool not in {"sqlx", "flyway", "golang-migrate"}:
        raise ValueError(f"{tool} keeps no failed rows")
    parsed = [row if isinstance(row, ToolRow) else ToolRow(*row) for row in rows]
    schema, name = _split(table, tool, engine)
    if schema and engine == "mysql" and tool in {"dbmate", "golang-migrate", "drizzle"}:
        # Their MySQL drivers quote the whole configured name as one identifier.
        raise ValueError(f"{tool} on MySQL takes a table name, not schema.table ({table!r})")
    writer = _Writer(conn, engine, schema, name)
    getattr(writer, "write_" + tool.replace("-", "_"))(parsed, dirty, failed_version)
    return f"{schema}.{name}" if schema else name


def _split(table: str | None, tool: str, engine: str) -> tuple[str | None, str]:
    if table is None:
        schema = "drizzle" if tool == "drizzle" and engine == "postgresql" else None
        return schema, DEFAULT_TABLES[tool]
    if "." in table:
        schema, name = table.split(".", 1)
        return schema, name
    return None, table


# -- the tools' checksums, written from their sources (not from migrata's code) -------------


def sqlx_checksum(sql: str) -> bytes:
    """sqlx-core migration.rs ``checksum``: ``Sha384::digest(sql)``."""
    return hashlib.sha384(sql.encode("utf-8")).digest()


def flyway_checksum(sql: str) -> int:
    """Flyway ChecksumCalculator: CRC32 fed each line's UTF-8 bytes (BufferedReader.readLine
    drops every terminator), BOM filtered from the first line, cast to a Java int."""
    sql = sql.removeprefix("\ufeff")
    value = zlib.crc32(sql.replace("\r", "").replace("\n", "").encode("utf-8"))
    return value - (1 << 32) if value & (1 << 31) else value


def drizzle_hash(sql: str) -> str:
    """drizzle-orm migrator.ts: sha256 hex of the file with CRLF made LF."""
    return hashlib.sha256(sql.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def sqlx_description(name: str) -> str:
    """sqlx keeps the file's description part with underscores turned into spaces."""
    return name.replace("_", " ")


def flyway_description(name: str) -> str:
    return name.replace("_", " ")


# -- the writer -----------------------------------------------------------------------------


class _Writer:
    def __init__(self, conn: Any, engine: str, schema: str | None, name: str) -> None:
        self.conn = conn
        self.engine = engine
        self.pg = engine == "postgresql"
        self.my = engine == "mysql"
        self.p = "?" if engine == "sqlite" else "%s"
        self.schema = schema
        self.name = name

    def q(self, ident: str) -> str:
        if self.my:
            return "`" + ident.replace("`", "``") + "`"
        return '"' + ident.replace('"', '""') + '"'

    @property
    def table(self) -> str:
        if self.schema:
            return f"{self.q(self.schema)}.{self.q(self.name)}"
        return self.q(self.name)

    def current_schema(self) -> str:
        if self.schema:
            return self.schema
        if self.pg:
            return str(self.execute("SELECT current_schema()")[0][0])
        if self.my:
            return str(self.execute("SELECT DATABASE()")[0][0])
        return "main"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return execute(self.conn, sql, params)

    @property
    def user(self) -> str:
        """Flyway's installed_by: the database user (SQLite has none)."""
        if self.pg:
            return str(self.execute("SELECT current_user")[0][0])
        if self.my:
            # Flyway's MySQLDatabase: the user part of USER() (without "@host").
            return str(self.execute("SELECT SUBSTRING_INDEX(USER(),'@',1)")[0][0])
        return ""

    def insert(self, columns: str, values: Sequence[Any]) -> None:
        marks = ", ".join([self.p] * len(values))
        self.execute(f"INSERT INTO {self.table} ({columns}) VALUES ({marks})", values)

    def schema_first(self) -> None:
        # On MySQL a schema is a database (CREATE SCHEMA is CREATE DATABASE): sqlx's
        # create_schema_if_not_exists and Flyway's createSchemas create it the same way.
        if (self.pg or self.my) and self.schema:
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.q(self.schema)}")

    # -- sqlx -----------------------------------------------------------------------------

    def write_sqlx(self, rows: list[ToolRow], dirty: bool, failed: str | None) -> None:
        self.schema_first()
        self.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (\n"
            "    version BIGINT PRIMARY KEY,\n"
            "    description TEXT NOT NULL,\n"
            + (
                "    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
                if self.pg
                else "    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,\n"
            )
            + "    success BOOLEAN NOT NULL,\n"
            + ("    checksum BYTEA NOT NULL,\n" if self.pg else "    checksum BLOB NOT NULL,\n")
            + "    execution_time BIGINT NOT NULL\n);"
        )
        for row in rows:
            assert row.version is not None
            if row.event == "revert":
                self.execute(
                    f"DELETE FROM {self.table} WHERE version = {self.p}", [int(row.version)]
                )
                continue
            self._sqlx_row(row, success=True)
        if failed is not None:
            # A no-transaction migration that failed halfway: sqlx's row says success = false.
            match = next((r for r in rows if r.version == failed), ToolRow(failed, "failed"))
            self._sqlx_row(match, success=False)

    def _sqlx_row(self, row: ToolRow, *, success: bool) -> None:
        assert row.version is not None
        if self.my:
            self._sqlx_mysql_row(row, success=success)
            return
        truth = "TRUE" if success else "FALSE"
        self.execute(
            f"INSERT INTO {self.table} (version, description, success, checksum, execution_time) "
            f"VALUES ({self.p}, {self.p}, {truth}, {self.p}, -1)",
            [int(row.version), sqlx_description(row.name), sqlx_checksum(row.sql)],
        )
        # sqlx then stores the elapsed time in nanoseconds, outside the transaction.
        self.execute(
            f"UPDATE {self.table} SET execution_time = {self.p} WHERE version = {self.p}",
            [1_234_567, int(row.version)],
        )

    def _sqlx_mysql_row(self, row: ToolRow, *, success: bool) -> None:
        """sqlx-mysql ``apply``: the row goes in with success = FALSE, the script runs (its DDL
        commits), then success = TRUE; a failed script leaves the FALSE row behind."""
        assert row.version is not None
        version = int(row.version)
        self.execute(
            f"INSERT INTO {self.table} ( version, description, success, checksum, "
            "execution_time )\n    VALUES ( %s, %s, FALSE, %s, -1 )",
            [version, sqlx_description(row.name), sqlx_checksum(row.sql)],
        )
        if not success:
            return
        self.execute(
            f"UPDATE {self.table}\n    SET success = TRUE\n    WHERE version = %s", [version]
        )
        self.execute(
            f"UPDATE {self.table}\n    SET execution_time = %s\n    WHERE version = %s",
            [1_234_567, version],
        )

    # -- diesel ---------------------------------------------------------------------------

    def write_diesel(self, rows: list[ToolRow], dirty: bool, failed: str | None) -> None:
        self.schema_first()
        self.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (\n"
            "       version VARCHAR(50) PRIMARY KEY NOT NULL,\n"
            "       run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\n);"
        )
        for row in rows:
            assert row.version is not None
            stored = row.version.replace("-", "")
            if row.event == "revert":
                self.execute(f"DELETE FROM {self.table} WHERE version = {self.p}", [stored])
            else:
                self.insert("version", [stored])

    # -- dbmate ---------------------------------------------------------------------------

    def write_dbmate(self, rows: list[ToolRow], dirty: bool, failed: str | None) -> None:
        if self.pg:
            # dbmate qualifies the table with the current schema (quote_ident'ed by the
            # server) and creates the schema only after a "schema does not exist" error.
            schema = self.current_schema()
            self.schema_first()
            quoted = self.execute("SELECT quote_ident(%s), quote_ident(%s)", [schema, self.name])
            target = f"{quoted[0][0]}.{quoted[0][1]}"
            self.execute(f"create table if not exists {target} (version varchar primary key)")
        elif self.my:
            # pkg/driver/mysql: the name quoted with backticks, as one identifier.
            self.execute(
                f"create table if not exists {self.q(self.name)} (version varchar(128) primary key)"
            )
        else:
            self.execute(
                f"create table if not exists {self.table} (version varchar(128) primary key)"
            )
        for row in rows:
            assert row.version is not None
            if row.event == "revert":
                self.execute(f"delete from {self.table} where version = {self.p}", [row.version])
            else:
                self.execute(f"insert into {self.table} (version) values ({self.p})", [row.version])

    # -- golang-migrate -------------------------------------------------------------------

    def write_golang_migrate(self, rows: list[ToolRow], dirty: bool, failed: str | None) -> None:
        if self.pg:
            schema = self.current_schema()
            self.schema_first()
            target = f"{self.q(schema)}.{self.q(self.name)}"
            self.execute(
                f"CREATE TABLE IF NOT EXISTS {target} "
                "(version bigint not null primary key, dirty boolean not null)"
            )
        elif self.my:
            # database/mysql: created after `SHOW TABLES LIKE` found none, name in backticks.
            self.execute(
                f"CREATE TABLE {self.q(self.name)} "
                "(version bigint not null primary key, dirty boolean not null)"
            )
        else:
            # golang-migrate's sqlite3 driver does not quote the table name.
            self.execute(f"CREATE TABLE IF NOT EXISTS {self.name} (version uint64,dirty bool)")
            self.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON {self.name} (version)"
            )
        applied: list[int] = []
        for row in rows:
            assert row.version is not None
            if row.event == "revert":
                applied.remove(int(row.version))
            else:
                applied.append(int(row.version))
        current = max(applied) if applied else -1
        if failed is not None:
            current, dirty = int(failed), True
        # SetVersion: empty the table, then one row (none for "no version" unless dirty).
        self.execute(f"TRUNCATE {self.table}" if self.my else f"DELETE FROM {self.table}")
        if current >= 0 or dirty:
            self.insert("version, dirty", [current, dirty])

    # -- goose ----------------------------------------------------------------------------

    def write_goose(self, rows: list[ToolRow], dirty: bool, failed: str | None) -> None:
        self.schema_first()
        if self.pg:
            self.execute(
                f"CREATE TABLE {self.table} (\n"
                "\t\tid integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,\n"
                "\t\tversion_id bigint NOT NULL,\n"
                "\t\tis_applied boolean NOT NULL,\n"
                "\t\ttstamp timestamp NOT NULL DEFAULT now()\n"
                "\t)"
            )
        elif self.my:
            self.execute(
                f"CREATE TABLE {self.table} (\n"
                "\t\tid serial NOT NULL,\n"
                "\t\tversion_id bigint NOT NULL,\n"
                "\t\tis_applied boolean NOT NULL,\n"
                "\t\ttstamp timestamp NULL default now(),\n"
                "\t\tPRIMARY KEY(id)\n"
                "\t)"
            )
        else:
            self.execute(
                f"CREATE TABLE {self.table} (\n"
                "\t\tid INTEGER PRIMARY KEY AUTOINCREMENT,\n"
                "\t\tversion_id INTEGER NOT NULL,\n"
                "\t\tis_applied INTEGER NOT NULL,\n"
                "\t\ttstamp TIMESTAMP DEFAULT (datetime('now'))\n"
                "\t)"
            )
        # goose records version 0 as applied when it creates the table.
        self.insert("version_id, is_applied", [0, True])
        for row in rows:
            assert row.version is not None
            self.insert("version_id, is_applied", [int(row.version), row.event != "revert"])

    # -- Flyway ---------------------------------------------------------------------------

    def write_flyway(self, rows: list[ToolRow], dirty: bool, failed: str | None) -> None:
        schema = self.current_schema()
        if self.pg:
            self.schema_first()
            target = f"{self.q(schema)}.{self.q(self.name)}"
            self.execute(
                f"CREATE TABLE {target} (\n"
                '    "installed_rank" INT NOT NULL,\n'
                '    "version" VARCHAR(50),\n'
                '    "description" VARCHAR(200) NOT NULL,\n'
                '    "type" VARCHAR(20) NOT NULL,\n'
                '    "script" VARCHAR(1000) NOT NULL,\n'
                '    "checksum" INTEGER,\n'
                '    "installed_by" VARCHAR(100) NOT NULL,\n'
                '    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),\n'
                '    "execution_time" INTEGER NOT NULL,\n'
                '    "success" BOOLEAN NOT NULL\n'
                ");"
            )
            self.execute(
                f"ALTER TABLE {target} ADD CONSTRAINT {self.q(self.name + '_pk')} "
                'PRIMARY KEY ("installed_rank")'
            )
            self.execute(f'CREATE INDEX {self.q(self.name + "_s_idx")} ON {target} ("success")')
        elif self.my:
            self.schema_first()
            target = f"{self.q(schema)}.{self.q(self.name)}"
            self.execute(
                f"CREATE TABLE {target} (\n"
                "    `installed_rank` INT NOT NULL,\n"
                "    `version` VARCHAR(50),\n"
                "    `description` VARCHAR(200) NOT NULL,\n"
                "    `type` VARCHAR(20) NOT NULL,\n"
                "    `script` VARCHAR(1000) NOT NULL,\n"
                "    `checksum` INT,\n"
                "    `installed_by` VARCHAR(100) NOT NULL,\n"
                "    `installed_on` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,\n"
                "    `execution_time` INT NOT NULL,\n"
                "    `success` BOOL NOT NULL,\n"
                "    -- Add the primary key as part of the CREATE TABLE statement in case "
                "`innodb_force_primary_key` is enabled\n"
                f"    CONSTRAINT {self.q(self.name + '_pk')}PRIMARY KEY (`installed_rank`)\n"
                ") ENGINE=InnoDB;"
            )
            self.execute(f"CREATE INDEX {self.q(self.name + '_s_idx')} ON {target} (`success`);")
        else:
            target = f"{self.q(schema)}.{self.q(self.name)}"
            self.execute(
                f"CREATE TABLE {target} (\n"
                '    "installed_rank" INT NOT NULL PRIMARY KEY,\n'
                '    "version" VARCHAR(50),\n'
                '    "description" VARCHAR(200) NOT NULL,\n'
                '    "type" VARCHAR(20) NOT NULL,\n'
                '    "script" VARCHAR(1000) NOT NULL,\n'
                '    "checksum" INT,\n'
                '    "installed_by" VARCHAR(100) NOT NULL,\n'
                "    \"installed_on\" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now')),\n"
                '    "execution_time" INT NOT NULL,\n'
                '    "success" BOOLEAN NOT NULL\n'
                ");"
            )
            self.execute(
                f"CREATE INDEX {self.q(schema)}.{self.q(self.name + '_s_idx')} "
                f'ON {self.q(self.name)} ("success")'
            )
        events = [(row, True) for row in rows]
        if failed is not None:
            match = next((r for r in rows if r.version == failed), ToolRow(failed, "failed"))
            events.append((match, False))
        for rank, (row, success) in enumerate(events, start=1):
            self._flyway_row(target, rank, row, success)

    def _flyway_row(self, target: str, rank: int, row: ToolRow, success: bool) -> None:
        description = flyway_description(row.name)
        checksum: int | None = flyway_checksum(row.sql)
        if row.version is None:
            script = f"R__{row.name}.sql"
        else:
            script = f"V{row.version.replace('.', '_')}__{row.name}.sql"
        kind = "SQL"
        if row.event == "revert":
            kind, script = "UNDO_SQL", "U" + script[1:]
        elif row.event == "delete":
            kind = "DELETE"
        elif row.event == "baseline":
            kind, description, script, checksum = (
                "BASELINE",
                "<< Flyway Baseline >>",
                "<< Flyway Baseline >>",
                None,
            )
        p = self.p
        self.execute(
            f"INSERT INTO {target} (installed_rank, version, description, type, script, "
            f"checksum, installed_by, execution_time, success) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
            [rank, row.version, description, kind, script, checksum, self.user, 12, success],
        )

    # -- drizzle --------------------------------------------------------------------------

    def write_drizzle(self, rows: list[ToolRow], dirty: bool, failed: str | None) -> None:
        if self.pg:
            self.schema_first()
            self.execute(
                f"\n\t\t\tCREATE TABLE IF NOT EXISTS {self.table} (\n"
                "\t\t\t\tid SERIAL PRIMARY KEY,\n"
                "\t\t\t\thash text NOT NULL,\n"
                "\t\t\t\tcreated_at bigint\n"
                "\t\t\t)\n\t\t"
            )
        elif self.my:
            # mysql-core: no schema (config has no migrationsSchema), the name in backticks.
            self.execute(
                f"\n\t\t\tcreate table if not exists {self.q(self.name)} (\n"
                "\t\t\t\tid serial primary key,\n"
                "\t\t\t\thash text not null,\n"
                "\t\t\t\tcreated_at bigint\n"
                "\t\t\t)\n\t\t"
            )
        else:
            self.execute(
                f"\n\t\t\tCREATE TABLE IF NOT EXISTS {self.table} (\n"
                "\t\t\t\tid SERIAL PRIMARY KEY,\n"
                "\t\t\t\thash text NOT NULL,\n"
                "\t\t\t\tcreated_at numeric\n"
                "\t\t\t)\n\t\t"
            )
        for row in rows:
            if row.when is None:
                raise ValueError(f"drizzle rows need the journal's `when` ({row})")
            columns = "(`hash`, `created_at`)" if self.my else '("hash", "created_at")'
            self.execute(
                f"insert into {self.table} {columns} values({self.p}, {self.p})",
                [drizzle_hash(row.sql), row.when],
            )
