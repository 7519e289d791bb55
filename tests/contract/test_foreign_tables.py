"""Other tools' history tables on real databases: each created as the tool creates it
(foreign_tables.py), then found, read and matched by migrata.foreign.

``db`` here is conftest's ``adoptable_db``: SQLite, PostgreSQL and MySQL/MariaDB. Adopting
another tool's history on ClickHouse is not implemented (foreign_tables.py knows no ClickHouse
DDL either), so ClickHouse is not among this module's engines.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from foreign_tables import (
    ToolRow,
    create_history,
    drizzle_hash,
    execute,
    flyway_checksum,
    sqlx_checksum,
)

from conftest import Database
from migrata.backends import Backend, Query, wrap_connection
from migrata.errors import ConfigError
from migrata.foreign import ForeignHistory, find_histories, plan_adoption
from migrata.models import Migration, Script, Version
from migrata.sqltext import checksum

A = "CREATE TABLE a (id int);\n"
B = "CREATE TABLE b (\r\n    id int\r\n);\r\n"  # CRLF, as a Windows checkout has it
C = "CREATE TABLE c (id int);\n"


@pytest.fixture
def db(adoptable_db: Database) -> Database:
    """This module's engines: those where migrata adopts other tools' history tables."""
    return adoptable_db


@pytest.fixture
def conn(db: Database) -> Iterator[Any]:
    connection = db.connect()
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def backend(db: Database) -> Iterator[Backend]:
    if db.engine == "mysql":
        # As migrata opens its own: with multi-statements, so that a batch is one packet.
        import pymysql
        from pymysql.constants import CLIENT

        from migrata.backends.mysql.connection import connect_arguments
        from migrata.urls import parse_url

        connection = pymysql.connect(
            **connect_arguments(parse_url(db.url)),
            autocommit=True,
            client_flag=CLIENT.MULTI_STATEMENTS,
        )
    else:
        connection = db.connect()
    try:
        yield wrap_connection(connection)
    finally:
        connection.close()


class Counting:
    """Counts the ``run`` calls (round trips) of a backend and the queries in each."""

    def __init__(self, backend: Backend) -> None:
        self.calls: list[list[Query]] = []
        original = backend.run

        def run(queries: Any) -> list[list[tuple[Any, ...]]]:
            self.calls.append(list(queries))
            return original(queries)

        backend.run = run  # type: ignore[method-assign]


def mig(
    version: str, text: str, *, name: str = "m", info: tuple[tuple[str, str], ...] = ()
) -> Migration:
    return Migration(
        Version.parse(version),
        name,
        Script(f"migrations/{version}_{name}.sql", text),
        None,
        checksum(text),
        source_info=info,
    )


def only(found: tuple[ForeignHistory, ...]) -> ForeignHistory:
    assert len(found) == 1, [(h.tool, h.table) for h in found]
    return found[0]


# --------------------------------------------------------------------------- each tool


def test_sqlx(db: Database, conn: Any, backend: Backend) -> None:
    create_history(
        conn,
        db.engine,
        "sqlx",
        [ToolRow("20240101000000", "create_a", A), ("20240102000000", "b", B)],
    )
    found = only(find_histories(backend))
    assert (found.tool, found.table, found.up_to, found.refusal) == (
        "sqlx",
        "_sqlx_migrations",
        None,
        None,
    )
    assert [(r.version, r.description, r.checksum) for r in found.rows] == [
        ("20240101000000", "create a", sqlx_checksum(A).hex()),
        ("20240102000000", "b", sqlx_checksum(B).hex()),
    ]
    assert all(r.applied_at is not None for r in found.rows)
    folder = [mig("20240101000000", A), mig("20240102000000", B), mig("20240103000000", C)]
    adoption = plan_adoption(found, folder, [])
    assert adoption.problems == ()
    assert [m.version.text for m, _ in adoption.record] == ["20240101000000", "20240102000000"]
    assert adoption.pending == ("20240103000000",)
    # The same CRLF file checked out with LF no longer matches what sqlx hashed.
    changed = plan_adoption(found, [folder[0], mig("20240102000000", B.replace("\r\n", "\n"))], [])
    assert len(changed.problems) == 1 and "line endings" in changed.problems[0]


def test_sqlx_failed_row_refuses(db: Database, conn: Any, backend: Backend) -> None:
    create_history(conn, db.engine, "sqlx", [("1", "a", A)], failed_version="2")
    found = only(find_histories(backend))
    assert found.refusal is not None and "version 2" in found.refusal
    assert [r.version for r in found.rows] == ["1"]


def test_sqlx_reverted_row_is_gone(db: Database, conn: Any, backend: Backend) -> None:
    create_history(
        conn, db.engine, "sqlx", [("1", "a", A), ("2", "b", B), ToolRow("2", event="revert")]
    )
    assert [r.version for r in only(find_histories(backend)).rows] == ["1"]


def test_diesel(db: Database, conn: Any, backend: Backend) -> None:
    create_history(
        conn,
        db.engine,
        "diesel",
        [("00000000000000", "diesel_initial_setup"), ("2017-03-05-095748", "create_posts")],
    )
    found = only(find_histories(backend))
    assert (found.tool, found.table) == ("diesel", "__diesel_schema_migrations")
    assert [r.version for r in found.rows] == ["00000000000000", "20170305095748"]
    assert all(r.checksum is None and r.applied_at is not None for r in found.rows)
    folder = [mig("00000000000000", A), mig("2017-03-05-095748", B), mig("2017-03-06-000000", C)]
    adoption = plan_adoption(found, folder, [])
    assert adoption.problems == ()
    assert adoption.pending == ("2017-03-06-000000",)


def test_dbmate(db: Database, conn: Any, backend: Backend) -> None:
    create_history(conn, db.engine, "dbmate", [("20151129054053", "x"), ("20151129054054", "y")])
    found = only(find_histories(backend))
    assert (found.tool, found.table, found.up_to) == ("dbmate", "schema_migrations", None)
    assert [r.version for r in found.rows] == ["20151129054053", "20151129054054"]


def test_golang_migrate(db: Database, conn: Any, backend: Backend) -> None:
    create_history(conn, db.engine, "golang-migrate", [("1", "a"), ("2", "b"), ("3", "c")])
    found = only(find_histories(backend))
    assert (found.tool, found.table, found.rows, found.up_to, found.refusal) == (
        "golang-migrate",
        "schema_migrations",
        (),
        "3",
        None,
    )
    adoption = plan_adoption(found, [mig("1", A), mig("2", B), mig("3", C), mig("4", C)], [])
    assert [m.version.text for m, _ in adoption.record] == ["1", "2", "3"]
    assert adoption.pending == ("4",)


def test_golang_migrate_dirty_refuses(db: Database, conn: Any, backend: Backend) -> None:
    create_history(conn, db.engine, "golang-migrate", [("1", "a"), ("2", "b")], dirty=True)
    found = only(find_histories(backend))
    assert found.refusal is not None
    assert found.refusal.startswith("golang-migrate marked version 2 dirty")
    assert "migrate force 2" in found.refusal
    adoption = plan_adoption(found, [mig("1", A), mig("2", B)], [])
    assert adoption.problems[0] == found.refusal


def test_goose(db: Database, conn: Any, backend: Backend) -> None:
    create_history(
        conn,
        db.engine,
        "goose",
        [("1", "a"), ("2", "b"), ("3", "c"), ToolRow("2", event="revert")],
    )
    found = only(find_histories(backend))
    assert (found.tool, found.table) == ("goose", "goose_db_version")
    assert [r.version for r in found.rows] == ["1", "3"]  # version 0, and 2 reverted, are not
    assert all(r.applied_at is not None for r in found.rows)
    adoption = plan_adoption(found, [mig("00001", A), mig("00002", B), mig("00003", C)], [])
    assert adoption.problems == ()
    assert [m.version.text for m, _ in adoption.record] == ["00001", "00003"]
    assert adoption.pending == ("00002",)


def test_flyway(db: Database, conn: Any, backend: Backend) -> None:
    view = "CREATE VIEW v AS SELECT 1;\n"
    create_history(
        conn,
        db.engine,
        "flyway",
        [
            ToolRow("1", "base", event="baseline"),
            ("1.1", "create_a", A),
            ("2", "create_b", B),
            ("3", "create_c", C),
            ToolRow("3", "create_c", C, event="revert"),
            ToolRow(None, "views", view),
        ],
    )
    found = only(find_histories(backend))
    assert (found.tool, found.table, found.up_to, found.refusal) == (
        "flyway",
        "flyway_schema_history",
        "1",
        None,
    )
    assert [(r.version, r.description, r.checksum) for r in found.rows] == [
        ("1.1", "create a", str(flyway_checksum(A))),
        ("2", "create b", str(flyway_checksum(B))),
        (None, "views", str(flyway_checksum(view))),
    ]
    changed_view = Migration(
        Version.repeatable("views"),
        "views",
        Script("migrations/R__views.sql", "CREATE VIEW v AS SELECT 2;\n"),
        None,
        checksum("x"),
        source_info=(("description", "views"),),
    )
    folder = [
        mig("1", "-- before the baseline\n"),
        mig("1_1", A),
        mig("2", B.replace("\r\n", "\n")),  # Flyway's checksum ignores line endings
        mig("3", C),
        changed_view,
    ]
    adoption = plan_adoption(found, folder, [])
    assert adoption.problems == ()
    assert [(m.version.text, c) for m, c in adoption.record] == [
        ("1", folder[0].checksum),
        ("1_1", folder[1].checksum),
        ("2", folder[2].checksum),
        ("R__views", f"flyway-crc32:{flyway_checksum(view)}"),
    ]
    assert adoption.pending == ("3",)


def test_flyway_failed_row_refuses(db: Database, conn: Any, backend: Backend) -> None:
    create_history(conn, db.engine, "flyway", [("1", "a", A)], failed_version="2")
    found = only(find_histories(backend))
    assert found.refusal is not None and "version 2" in found.refusal
    assert [r.version for r in found.rows] == ["1"]


def test_drizzle(db: Database, conn: Any, backend: Backend) -> None:
    table = create_history(
        conn,
        db.engine,
        "drizzle",
        [
            ToolRow(None, "0000_a", A, when=1700000000000),
            ToolRow(None, "0001_b", B, when=1700000000500),
        ],
    )
    expected = (
        "drizzle.__drizzle_migrations" if db.engine == "postgresql" else "__drizzle_migrations"
    )
    assert table == expected
    found = only(find_histories(backend))
    assert (found.tool, found.table) == ("drizzle", expected)
    assert [(r.checksum, r.applied_at) for r in found.rows] == [
        (drizzle_hash(A), 1700000000000),
        (drizzle_hash(B), 1700000000500),
    ]
    folder = [
        mig("0000", A, info=(("when", "1700000000000"),)),
        mig("0001", B, info=(("when", "1700000000500"),)),
        mig("0002", C, info=(("when", "1700000000900"),)),
    ]
    adoption = plan_adoption(found, folder, [])
    assert adoption.problems == ()
    assert [m.version.text for m, _ in adoption.record] == ["0000", "0001"]
    assert adoption.pending == ("0002",)


# --------------------------------------------------------------------------- finding


def test_dbmate_and_golang_migrate_are_told_apart_by_their_columns(
    db: Database, conn: Any, backend: Backend
) -> None:
    create_history(conn, db.engine, "dbmate", [("20240101000000", "x")])
    assert only(find_histories(backend)).tool == "dbmate"
    execute(conn, "DROP TABLE schema_migrations")
    create_history(conn, db.engine, "golang-migrate", [("7", "x")])
    found = only(find_histories(backend))
    assert (found.tool, found.up_to) == ("golang-migrate", "7")


def test_every_table_is_found_with_one_catalog_query_and_read_in_one_batch(
    db: Database, conn: Any, backend: Backend
) -> None:
    for tool in ("sqlx", "diesel", "golang-migrate", "goose", "flyway"):
        create_history(conn, db.engine, tool, [("1", "a", A)])
    create_history(conn, db.engine, "drizzle", [ToolRow(None, "0000_a", A, when=1)])
    counting = Counting(backend)
    found = find_histories(backend)
    assert [h.tool for h in found] == [
        "sqlx",
        "diesel",
        "golang-migrate",
        "goose",
        "flyway",
        "drizzle",
    ]
    assert [len(call) for call in counting.calls] == [1, 6]


def test_nothing_found_costs_one_query(backend: Backend) -> None:
    counting = Counting(backend)
    assert find_histories(backend) == ()
    assert [len(call) for call in counting.calls] == [1]


def test_tool_limits_the_search(db: Database, conn: Any, backend: Backend) -> None:
    create_history(conn, db.engine, "sqlx", [("1", "a", A)])
    create_history(conn, db.engine, "goose", [("1", "a")])
    assert [h.tool for h in find_histories(backend, tool="goose")] == ["goose"]
    assert find_histories(backend, tool="diesel") == ()


def test_custom_table_name(db: Database, conn: Any, backend: Backend) -> None:
    create_history(conn, db.engine, "sqlx", [("1", "a", A)], table="app_migrations")
    assert find_histories(backend) == ()  # not where sqlx looks by default
    found = only(find_histories(backend, tool="sqlx", table="app_migrations"))
    assert (found.tool, found.table, found.rows[0].checksum) == (
        "sqlx",
        "app_migrations",
        sqlx_checksum(A).hex(),
    )
    with pytest.raises(ConfigError, match="version, run_on"):
        find_histories(backend, tool="diesel", table="app_migrations")
    with pytest.raises(ConfigError, match="does not exist"):
        find_histories(backend, tool="sqlx", table="other_migrations")


@pytest.fixture
def other_schema(db: Database, conn: Any) -> Iterator[str]:
    """A schema besides the test's own: ``audit`` on SQLite (attached) and PostgreSQL (the
    database is the test's); on MySQL, where a schema is a database and databases are
    server-wide, one of a unique name, dropped afterwards."""
    if db.engine != "mysql":
        yield "audit"
        return
    name = f"migrata_audit_{uuid.uuid4().hex[:12]}"
    execute(conn, f"CREATE DATABASE `{name}`")
    try:
        yield name
    finally:
        execute(conn, f"DROP DATABASE IF EXISTS `{name}`")


def test_custom_schema_qualified_table(
    db: Database, conn: Any, backend: Backend, other_schema: str
) -> None:
    if db.engine == "sqlite":
        backend.run([Query(f"ATTACH DATABASE ':memory:' AS {other_schema}")])
        # The table must be visible to the backend's connection: create it through it.
        target: Any = backend.connection  # type: ignore[attr-defined]
    else:
        target = conn
    table = f"{other_schema}.history"
    shown = create_history(target, db.engine, "flyway", [("1", "a", A)], table=table)
    assert shown == table
    assert find_histories(backend) == ()  # not where Flyway looks by default
    found = only(find_histories(backend, tool="flyway", table=table))
    assert (found.tool, found.table) == ("flyway", table)
    assert [r.version for r in found.rows] == ["1"]
    if db.engine == "sqlite":
        # SQLite resolves an unqualified name through the attached databases too.
        assert [r.version for r in only(find_histories(backend, table="history")).rows] == ["1"]
    else:
        # Unqualified is the current schema (MySQL: database), which has no such table.
        with pytest.raises(ConfigError, match="does not exist"):
            find_histories(backend, tool="flyway", table="history")


def test_drizzle_on_mysql_is_in_the_current_database(mysql_db: Database) -> None:
    # drizzle-orm's mysql-core migrate() takes no migrationsSchema: its table is an unqualified
    # name in the connection's database, and a "drizzle" database is not where it looks.
    other = f"migrata_drizzle_{uuid.uuid4().hex[:12]}"
    conn = mysql_db.connect()
    try:
        execute(conn, f"CREATE DATABASE `{other}`")
        try:
            execute(
                conn,
                f"CREATE TABLE `{other}`.`__drizzle_migrations` "
                "(id serial primary key, hash text not null, created_at bigint)",
            )
            backend = wrap_connection(conn)
            assert find_histories(backend) == ()
            create_history(conn, "mysql", "drizzle", [ToolRow(None, "0", A, when=5)])
            found = only(find_histories(backend))
            assert (found.tool, found.table, found.rows[0].applied_at) == (
                "drizzle",
                "__drizzle_migrations",
                5,
            )
            with pytest.raises(ValueError, match="not schema.table"):
                create_history(conn, "mysql", "drizzle", [], table=f"{other}.t")
        finally:
            execute(conn, f"DROP DATABASE IF EXISTS `{other}`")
    finally:
        conn.close()


def test_drizzle_in_a_custom_schema_on_postgresql(postgres_db: Database) -> None:
    with postgres_db.connect() as conn:
        create_history(conn, "postgresql", "drizzle", [ToolRow(None, "0", A, when=5)], table="x.y")
        backend = wrap_connection(conn)
        assert find_histories(backend) == ()
        found = only(find_histories(backend, tool="drizzle", table="x.y"))
        assert (found.table, found.rows[0].applied_at) == ("x.y", 5)


# --------------------------------------------------------------------------- table_columns


def test_table_columns_reports_only_existing_tables(
    db: Database, conn: Any, backend: Backend
) -> None:
    execute(conn, "CREATE TABLE t1 (a int, b int)")
    counting = Counting(backend)
    found = backend.table_columns([(None, "t1"), (None, "missing"), ("nosuch", "t1")])
    assert found == {(None, "t1"): frozenset({"a", "b"})}
    assert len(counting.calls) == 1
    assert backend.table_columns([]) == {}
    assert len(counting.calls) == 1


def test_table_columns_resolves_unqualified_names_along_the_search_path(
    postgres_db: Database,
) -> None:
    with postgres_db.connect() as conn:
        conn.execute("CREATE SCHEMA first; CREATE SCHEMA second; CREATE SCHEMA elsewhere")
        conn.execute("CREATE TABLE second.t (b int); CREATE TABLE first.u (a int)")
        conn.execute("CREATE TABLE second.u (z int); CREATE TABLE elsewhere.w (c int)")
        conn.execute("SET search_path = first, second")
        backend = wrap_connection(conn)
        found = backend.table_columns(
            [(None, "t"), (None, "u"), (None, "w"), ("elsewhere", "w"), ("second", "u")]
        )
        assert found == {
            (None, "t"): frozenset({"b"}),
            (None, "u"): frozenset({"a"}),  # first's u hides second's
            ("elsewhere", "w"): frozenset({"c"}),
            ("second", "u"): frozenset({"z"}),
        }


def test_table_columns_sees_attached_sqlite_databases(sqlite_db: Database) -> None:
    conn = sqlite_db.connect()
    try:
        conn.execute("CREATE TABLE t (a int)")
        conn.execute("ATTACH DATABASE ':memory:' AS aux")
        conn.execute("CREATE TABLE aux.t (z int)")
        conn.execute("CREATE TABLE aux.only_here (q int)")
        backend = wrap_connection(conn)
        found = backend.table_columns(
            [(None, "t"), ("aux", "t"), (None, "only_here"), ("nosuch", "t")]
        )
        assert found == {
            (None, "t"): frozenset({"a"}),  # main before attached databases
            ("aux", "t"): frozenset({"z"}),
            (None, "only_here"): frozenset({"q"}),
        }
    finally:
        conn.close()
