"""Session SQL (``--session-sql FILE``, ``session_sql`` in a config file, MIGRATA_SESSION_SQL):
run on the migration connection when it opens and again before each migration."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import Database, write_migrations

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_support import clean_cli_state, run_cli  # noqa: F401

SEARCH_PATH = "SET search_path TO app, public;\n"

# Proof that the session SQL ran, and how often, on this connection: a row per run in a
# temporary table (MySQL and ClickHouse spell it TEMPORARY; PostgreSQL and SQLite take TEMP as
# well). ClickHouse's temporary tables belong to the client's session, as elsewhere to the
# connection.
_COUNTER = (
    "CREATE {temp} TABLE IF NOT EXISTS session_runs (n INTEGER);\n"
    "INSERT INTO session_runs (n) VALUES (1);\n"
)


def counter(db: Database) -> str:
    return _COUNTER.format(temp="TEMPORARY" if db.engine in {"mysql", "clickhouse"} else "TEMP")


def counted(name: str) -> str:
    return f"CREATE TABLE {name} AS SELECT count(*) AS runs FROM session_runs;\n"


COUNTED = {
    "0001_one.sql": counted("seen_1"),
    "0002_two.sql": counted("seen_2"),
    "0003_three.sql": "-- migrata: no-transaction\n" + counted("seen_3"),
}


def runs_seen(db: Database) -> list[int]:
    return [int(db.query(f"SELECT runs FROM seen_{i}")[0][0]) for i in (1, 2, 3)]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def states(run_cli, db: Database, folder: Path, *flags: object) -> dict[str, str]:  # type: ignore[no-untyped-def]
    result = run_cli("-u", db.url, "-d", folder, *flags, "status", "--json")
    assert result.code == 0, result.output
    return {m["version"]: m["state"] for m in json.loads(result.out)["migrations"]}


def schema_of(db: Database, table: str) -> set[str]:
    rows = db.query(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = %s", (table,)
    )
    return {r[0] for r in rows}


def history_versions(db: Database, table: str = "migrata_history") -> list[str]:
    return [r[0] for r in db.history("version", table)]


def user_tables(db: Database) -> set[str]:
    # On MySQL and ClickHouse the test's database is its schema (other databases are other
    # tests').
    return db.user_tables()


# ------------------------------------------------------------------ runs before each migration


def test_session_sql_file_runs_on_open_and_before_each_migration(
    run_cli, db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", COUNTED)
    session = write(tmp_path / "session.sql", counter(db))
    result = run_cli("-u", db.url, "-d", folder, "--session-sql", session, "up")
    assert result.code == 0, result.output
    # Once when the connection opened, then once before each of the three migrations
    # (the third runs outside a transaction).
    assert runs_seen(db) == [2, 3, 4]
    assert history_versions(db) == ["0001", "0002", "0003"]


def test_without_session_sql_nothing_extra_runs(run_cli, db: Database, tmp_path: Path) -> None:
    # The control for the test above: the migrations need the session SQL's table.
    folder = write_migrations(tmp_path / "migrations", COUNTED)
    result = run_cli("-u", db.url, "-d", folder, "up")
    assert result.code == 1
    assert "session_runs" in result.err
    assert not db.table_exists("seen_1")
    rows = db.history("version, success, statements_done")
    if db.transactional_ddl:
        assert rows == []  # the failed migration rolled back with its history row
    else:
        # DDL commits as it runs (ClickHouse: nothing is transactional): the "started" row
        # stays, failed before its first statement.
        assert [(v, bool(ok), done) for v, ok, done in rows] == [("0001", False, 0)]


def test_session_sql_from_the_environment(
    run_cli, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_migrations(tmp_path / "migrations", COUNTED)
    session = write(tmp_path / "env-session.sql", counter(db))
    monkeypatch.setenv("MIGRATA_SESSION_SQL", str(session))
    result = run_cli("-u", db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    assert runs_seen(db) == [2, 3, 4]


def test_session_sql_flag_beats_the_environment(
    run_cli, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_migrations(tmp_path / "migrations", COUNTED)
    monkeypatch.setenv("MIGRATA_SESSION_SQL", str(tmp_path / "not-there.sql"))
    session = write(tmp_path / "flag-session.sql", counter(db))
    result = run_cli("-u", db.url, "-d", folder, "--session-sql", session, "up")
    assert result.code == 0, result.output
    assert runs_seen(db) == [2, 3, 4]


def test_session_sql_inline_in_migrata_toml_in_the_current_folder(
    run_cli, db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", COUNTED)
    config = Path.cwd() / "migrata.toml"
    config.write_text(f"session_sql = '''\n{counter(db)}'''\n", encoding="utf-8")
    result = run_cli("-u", db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    assert runs_seen(db) == [2, 3, 4]


def test_session_sql_inline_in_a_config_file_given_with_config(
    run_cli, db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", COUNTED)
    config = write(
        tmp_path / "elsewhere" / "migrata.toml",
        f'url = "{db.url}"\ndir = "{folder}"\nsession_sql = """\n{counter(db)}"""\n',
    )
    result = run_cli("--config", config, "up")
    assert result.code == 0, result.output
    assert runs_seen(db) == [2, 3, 4]


def test_session_sql_file_in_a_config_file_is_relative_to_it(
    run_cli, db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", COUNTED)
    write(tmp_path / "conf" / "sql" / "session.sql", counter(db))
    config = write(
        tmp_path / "conf" / "migrata.toml",
        f'url = "{db.url}"\ndir = "{folder}"\nsession_sql_file = "sql/session.sql"\n',
    )
    result = run_cli("--config", config, "up")
    assert result.code == 0, result.output
    assert runs_seen(db) == [2, 3, 4]


def test_session_sql_flag_beats_inline_session_sql_of_the_config(
    run_cli, db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", COUNTED)
    (Path.cwd() / "migrata.toml").write_text(
        "session_sql = 'SELECT * FROM no_such_table_anywhere;'\n", encoding="utf-8"
    )
    session = write(tmp_path / "session.sql", counter(db))
    result = run_cli("-u", db.url, "-d", folder, "--session-sql", session, "up")
    assert result.code == 0, result.output
    assert runs_seen(db) == [2, 3, 4]


# ------------------------------------------------------------------ errors

SYNTAX_ERRORS = {
    "postgresql": "SELECT 1;\nSET search_path TO app,, public;\n",
    "sqlite": "SELECT 1;\nSELECT 'never closed;\n",
    # Found by migrata's splitter, like the mysql client's: the server never sees it.
    "mysql": "SELECT 1;\nSELECT 'never closed;\n",
    "clickhouse": "SELECT 1;\nSELECT 'never closed;\n",  # migrata's splitter too
}


def test_session_sql_syntax_error_names_the_file_and_line_and_runs_nothing(
    run_cli, db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", COUNTED)
    session = write(tmp_path / "broken-session.sql", SYNTAX_ERRORS[db.engine])
    result = run_cli("-u", db.url, "-d", folder, "--session-sql", session, "up")
    assert result.code == 3, result.output
    assert f"{session}:2:" in result.err
    assert user_tables(db) == set()


def test_inline_session_sql_error_names_the_config_file(
    run_cli, db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", COUNTED)
    config = Path.cwd() / "migrata.toml"
    config.write_text(
        "session_sql = '''\nSELECT 1;\nSELECT * FROM no_such_table_anywhere;\n'''\n",
        encoding="utf-8",
    )
    result = run_cli("-u", db.url, "-d", folder, "up")
    assert result.code == 1, result.output
    assert "migrata.toml" in result.err
    assert "session_sql:2:" in result.err
    assert "no_such_table_anywhere" in result.err
    assert user_tables(db) == set()


RUNTIME_ERRORS = {
    "postgresql": ("SELECT 1;\nSET no_such_parameter = 1;\n", "no_such_parameter"),
    "sqlite": ("SELECT 1;\nINSERT INTO no_such_table (a) VALUES (1);\n", "no_such_table"),
    "mysql": ("SELECT 1;\nSET SESSION no_such_variable = 1;\n", "no_such_variable"),
    "clickhouse": ("SELECT 1;\nSET no_such_setting = 1;\n", "no_such_setting"),
}


def test_session_sql_runtime_error_names_the_file_and_leaves_no_history(
    run_cli, db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", COUNTED)
    text, word = RUNTIME_ERRORS[db.engine]
    session = write(tmp_path / "runtime-session.sql", text)
    result = run_cli("-u", db.url, "-d", folder, "--session-sql", session, "up")
    assert result.code == 1, result.output
    assert f"{session}:2:1" in result.err
    assert word in result.err
    assert "session SQL" in result.err
    assert user_tables(db) == set()  # no migration, and no history table either
    status = run_cli("-u", db.url, "-d", folder, "--session-sql", session, "status")
    assert status.code == 1
    assert f"{session}:2:1" in status.err


# Passes the first two times on a connection, then fails: on open, before migration 1, and
# then before migration 2. MySQL cannot read a temporary table in the statement that writes
# it ("Can't reopen table"), so there a session variable counts the runs.
THIRD_TIME_FAILS = {
    "sqlite": (
        "CREATE TEMP TABLE IF NOT EXISTS guard (n INTEGER CHECK (n < 2));\n"
        "INSERT INTO guard (n) SELECT count(*) FROM guard;\n"
    ),
    "mysql": (
        "CREATE TEMPORARY TABLE IF NOT EXISTS guard (n INTEGER CHECK (n < 2));\n"
        "INSERT INTO guard (n) VALUES (COALESCE(@guard_runs, 0));\n"
        "SET @guard_runs = COALESCE(@guard_runs, 0) + 1;\n"
    ),
}
THIRD_TIME_FAILS["postgresql"] = THIRD_TIME_FAILS["sqlite"]
THIRD_TIME_FAILS["clickhouse"] = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS guard (n INTEGER, CONSTRAINT small CHECK n < 2);\n"
    "INSERT INTO guard (n) SELECT count(*) FROM guard;\n"
)


@pytest.mark.parametrize("second", ["transactional", "no-transaction"])
def test_session_sql_failing_before_a_migration_runs_none_of_it(
    run_cli, db: Database, tmp_path: Path, second: str
) -> None:
    marker = "-- migrata: no-transaction\n" if second == "no-transaction" else ""
    folder = write_migrations(
        tmp_path / "migrations",
        {
            "0001_one.sql": "CREATE TABLE one_t (a INTEGER);\n",
            "0002_two.sql": marker + "CREATE TABLE two_t (a INTEGER);\n",
        },
    )
    session = write(tmp_path / "guard.sql", THIRD_TIME_FAILS[db.engine])
    result = run_cli("-u", db.url, "-d", folder, "--session-sql", session, "up")
    assert result.code == 1, result.output
    assert f"{session}:2:1" in result.err
    assert "the migration was not run" in result.err
    assert db.table_exists("one_t")
    assert not db.table_exists("two_t")
    # Migration 1 is recorded; migration 2 has no row at all (not even a failed one).
    rows = db.history("version, success")
    assert [(v, bool(s)) for v, s in rows] == [("0001", True)]
    events = db.query("SELECT version, event FROM migrata_history_audit ORDER BY id")
    assert not [e for e in events if e[0] == "0002"]


def test_a_missing_session_sql_file_is_a_usage_error(run_cli, db: Database, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "migrations", COUNTED)
    missing = tmp_path / "nowhere" / "session.sql"
    result = run_cli("-u", db.url, "-d", folder, "--session-sql", missing, "up")
    assert result.code == 2, result.output
    assert str(missing) in result.err
    assert user_tables(db) == set()


def test_a_missing_session_sql_file_from_the_environment_is_a_usage_error(
    run_cli, sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_migrations(tmp_path / "migrations", COUNTED)
    missing = tmp_path / "gone.sql"
    monkeypatch.setenv("MIGRATA_SESSION_SQL", str(missing))
    result = run_cli("-u", sqlite_db.url, "-d", folder, "status")
    assert result.code == 2, result.output
    assert str(missing) in result.err


# ------------------------------------------------------------------ PostgreSQL search_path

APP_TABLES = {
    "0001_widgets.sql": "CREATE TABLE widgets (id INTEGER PRIMARY KEY);\n",
    "0002_gadgets.sql": "CREATE TABLE gadgets (id INTEGER PRIMARY KEY);\n",
    # Runs outside a transaction: the session SQL still applies to it.
    "0003_parts.sql": (
        "CREATE TABLE parts (id INTEGER PRIMARY KEY, sku TEXT);\n"
        "CREATE INDEX CONCURRENTLY parts_sku ON parts (sku);\n"
    ),
}


def test_search_path_puts_unqualified_tables_in_the_schema(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    postgres_db.query("CREATE SCHEMA app")
    folder = write_migrations(tmp_path / "migrations", APP_TABLES)
    session = write(tmp_path / "session.sql", SEARCH_PATH)
    flags = ("--session-sql", session)
    result = run_cli("-u", postgres_db.url, "-d", folder, *flags, "up")
    assert result.code == 0, result.output
    for table in ("widgets", "gadgets", "parts"):
        assert schema_of(postgres_db, table) == {"app"}, table
    assert postgres_db.query(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = 'parts_sku'"
    ) == [("app",)]
    # The history lives where the session's search_path put it, and is found there again.
    assert schema_of(postgres_db, "migrata_history") == {"app"}
    assert history_versions(postgres_db, "app.migrata_history") == ["0001", "0002", "0003"]
    again = run_cli("-u", postgres_db.url, "-d", folder, *flags, "up")
    assert again.code == 0, again.output
    assert "up to date" in again.out
    assert states(run_cli, postgres_db, folder, *flags) == {
        "0001": "applied",
        "0002": "applied",
        "0003": "applied",
    }
    assert history_versions(postgres_db, "app.migrata_history") == ["0001", "0002", "0003"]


def test_search_path_to_a_schema_an_earlier_migration_creates(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    files = {"0000_schema.sql": "CREATE SCHEMA app;\n", **APP_TABLES}
    folder = write_migrations(tmp_path / "migrations", files)
    session = write(tmp_path / "session.sql", SEARCH_PATH)
    flags = ("--session-sql", session)
    result = run_cli("-u", postgres_db.url, "-d", folder, *flags, "up")
    assert result.code == 0, result.output
    for table in ("widgets", "gadgets", "parts"):
        assert schema_of(postgres_db, table) == {"app"}, table
    # One history, in one place, holding every version.
    assert len(schema_of(postgres_db, "migrata_history")) == 1
    assert history_versions(postgres_db) == ["0000", "0001", "0002", "0003"]
    again = run_cli("-u", postgres_db.url, "-d", folder, *flags, "up")
    assert again.code == 0, again.output
    assert "up to date" in again.out
    assert set(states(run_cli, postgres_db, folder, *flags).values()) == {"applied"}
    assert len(schema_of(postgres_db, "migrata_history")) == 1
    assert history_versions(postgres_db) == ["0000", "0001", "0002", "0003"]


@pytest.mark.parametrize("first", ["transactional", "no-transaction"])
@pytest.mark.parametrize("schema", ["created beforehand", "created by a migration"])
def test_a_migration_changing_the_setting_does_not_leak_into_the_next(
    run_cli, postgres_db: Database, tmp_path: Path, first: str, schema: str
) -> None:
    marker = "-- migrata: no-transaction\n" if first == "no-transaction" else ""
    files = {
        "0001_public.sql": marker + "SET search_path TO public;\nCREATE TABLE m1_t (a INTEGER);\n",
        "0002_app.sql": "CREATE TABLE m2_t (a INTEGER);\n",
        "0003_app_too.sql": (
            "CREATE TABLE m3_t (a INTEGER);\nCREATE INDEX CONCURRENTLY m3_a ON m3_t (a);\n"
        ),
    }
    if schema == "created beforehand":
        postgres_db.query("CREATE SCHEMA app")
    else:
        files["0000_schema.sql"] = "CREATE SCHEMA app;\n"
    folder = write_migrations(tmp_path / "migrations", files)
    session = write(tmp_path / "session.sql", SEARCH_PATH)
    flags = ("--session-sql", session)
    result = run_cli("-u", postgres_db.url, "-d", folder, *flags, "up")
    assert result.code == 0, result.output
    assert schema_of(postgres_db, "m1_t") == {"public"}
    assert schema_of(postgres_db, "m2_t") == {"app"}
    assert schema_of(postgres_db, "m3_t") == {"app"}
    assert len(schema_of(postgres_db, "migrata_history")) == 1
    assert set(states(run_cli, postgres_db, folder, *flags).values()) == {"applied"}
    again = run_cli("-u", postgres_db.url, "-d", folder, *flags, "up")
    assert again.code == 0, again.output
    assert "up to date" in again.out


def test_plan_and_status_read_the_history_through_the_session_sql(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    postgres_db.query("CREATE SCHEMA app")
    folder = write_migrations(tmp_path / "migrations", APP_TABLES)
    session = write(tmp_path / "session.sql", SEARCH_PATH)
    flags = ("--session-sql", session)
    assert run_cli("-u", postgres_db.url, "-d", folder, *flags, "up", "--to", "0002").code == 0
    planned = run_cli("-u", postgres_db.url, "-d", folder, *flags, "plan", "--json")
    assert planned.code == 0, planned.output
    assert [s["version"] for s in json.loads(planned.out)] == ["0003"]
    assert states(run_cli, postgres_db, folder, *flags) == {
        "0001": "applied",
        "0002": "applied",
        "0003": "pending",
    }


# ------------------------------------------------------------------ MySQL session settings

FOREIGN_KEY_CHECKS_OFF = "SET FOREIGN_KEY_CHECKS = 0;\n"

# Each migration creates a table whose foreign key names a table that a later statement of the
# same migration creates: InnoDB refuses that (errno 150) unless foreign_key_checks is off.
# 0001 turns the checks back on at its end, so 0002 passes only if the session SQL ran again
# before it.
FORWARD_REFERENCES = {
    "0001_orders.sql": (
        "CREATE TABLE orders (\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    customer_id INTEGER NOT NULL,\n"
        "    CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)\n"
        ") ENGINE=InnoDB;\n"
        "CREATE TABLE customers (id INTEGER PRIMARY KEY) ENGINE=InnoDB;\n"
        "SET FOREIGN_KEY_CHECKS = 1;\n"
    ),
    "0002_lines.sql": (
        "CREATE TABLE order_lines (\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    product_id INTEGER NOT NULL,\n"
        "    CONSTRAINT lines_product FOREIGN KEY (product_id) REFERENCES products (id)\n"
        ") ENGINE=InnoDB;\n"
        "CREATE TABLE products (id INTEGER PRIMARY KEY) ENGINE=InnoDB;\n"
    ),
}


@pytest.mark.parametrize("session_sql", ["foreign_key_checks off", "none"])
def test_mysql_session_sql_reaches_the_statements_of_each_migration(
    run_cli, mysql_db: Database, tmp_path: Path, session_sql: str
) -> None:
    folder = write_migrations(tmp_path / "migrations", FORWARD_REFERENCES)
    flags: tuple[object, ...] = ()
    if session_sql != "none":
        flags = ("--session-sql", write(tmp_path / "session.sql", FOREIGN_KEY_CHECKS_OFF))
    result = run_cli("-u", mysql_db.url, "-d", folder, *flags, "up")
    if session_sql == "none":
        # The control: without the session SQL the first statement fails.
        assert result.code == 1, result.output
        assert "0001_orders.sql:1:1" in result.err
        assert "foreign key constraint is incorrectly formed" in result.err.lower()
        assert not mysql_db.table_exists("orders")
        assert not mysql_db.table_exists("order_lines")
        return
    assert result.code == 0, result.output
    assert history_versions(mysql_db) == ["0001", "0002"]
    references = mysql_db.query(
        "SELECT CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME "
        "FROM information_schema.REFERENTIAL_CONSTRAINTS "
        "WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY CONSTRAINT_NAME"
    )
    assert references == [
        ("lines_product", "order_lines", "products"),
        ("orders_customer", "orders", "customers"),
    ]
    # The keys are real: a new session, with the checks on by default, enforces them.
    mysql_db.query("INSERT INTO customers (id) VALUES (1)")
    mysql_db.query("INSERT INTO orders (id, customer_id) VALUES (1, 1)")
    import pymysql

    with pytest.raises(pymysql.err.IntegrityError, match="foreign key constraint fails"):
        mysql_db.query("INSERT INTO orders (id, customer_id) VALUES (2, 99)")
