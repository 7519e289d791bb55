"""Which split scripts must run outside migrata's transaction, and why (decide_transaction)."""

from __future__ import annotations

import re

import pytest

from migrata.models import Script
from migrata.split import split_script
from migrata.split.transactions import decide_transaction

NOTE_REFUSED = re.compile(
    r"^(?P<what>.+) \(line (?P<line>\d+)\) cannot run inside a transaction, so this migration "
    r"runs outside one$"
)
NOTE_OWN = re.compile(
    r"^manages its own transaction \((?P<keyword>\w+) at line (?P<line>\d+)\), so it runs as "
    r"written$"
)


def decide(
    text: str,
    dialect: str = "postgresql",
    *,
    server_version: int | None = None,
    **script_fields: object,
) -> tuple[Script, Script]:
    """(the script as written, the script decide_transaction returns)."""
    script = Script(path="migrations/0001_x.sql", text=text, **script_fields)  # type: ignore[arg-type]
    statements = split_script(script, dialect)
    return script, decide_transaction(script, statements, dialect, server_version=server_version)


def assert_refused(result: Script, what: str, line: int) -> None:
    assert result.transactional is False
    assert result.transaction_note is not None
    match = NOTE_REFUSED.match(result.transaction_note)
    assert match, result.transaction_note
    assert match["what"] == what
    assert int(match["line"]) == line


def assert_own(result: Script, keyword: str, line: int) -> None:
    assert result.transactional is False
    assert result.transaction_note is not None
    match = NOTE_OWN.match(result.transaction_note)
    assert match, result.transaction_note
    assert match["keyword"] == keyword
    assert int(match["line"]) == line


def assert_unchanged(script: Script, result: Script) -> None:
    assert result is script
    assert result.transactional is True
    assert result.transaction_note is None


PREFIX = "CREATE TABLE t (a int);\n-- the statement that matters is on line 3\n"

# ------------------------------------------------------------------ PostgreSQL: refused kinds

PG_REFUSED = [
    ("CREATE INDEX CONCURRENTLY i ON t (a);", "CREATE INDEX CONCURRENTLY"),
    ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);", "CREATE INDEX CONCURRENTLY"),
    ("create index concurrently i on t (a);", "CREATE INDEX CONCURRENTLY"),
    ("DROP INDEX CONCURRENTLY i;", "DROP INDEX CONCURRENTLY"),
    ("DROP INDEX CONCURRENTLY IF EXISTS i;", "DROP INDEX CONCURRENTLY"),
    ("REINDEX INDEX CONCURRENTLY i;", "REINDEX CONCURRENTLY"),
    ("REINDEX TABLE CONCURRENTLY t;", "REINDEX CONCURRENTLY"),
    ("REINDEX (CONCURRENTLY) TABLE t;", "REINDEX CONCURRENTLY"),
    ("REINDEX (VERBOSE, CONCURRENTLY) SCHEMA public;", "REINDEX CONCURRENTLY"),
    ("REINDEX DATABASE app;", "REINDEX DATABASE"),
    ("REINDEX DATABASE;", "REINDEX DATABASE"),
    ("REINDEX SYSTEM app;", "REINDEX SYSTEM"),
    ("VACUUM;", "VACUUM"),
    ("VACUUM t;", "VACUUM"),
    ("VACUUM ANALYZE t;", "VACUUM"),
    ("VACUUM (VERBOSE, ANALYZE) t;", "VACUUM"),
    ("VACUUM FULL t;", "VACUUM"),
    ("ALTER SYSTEM SET work_mem = '64MB';", "ALTER SYSTEM"),
    ("ALTER SYSTEM RESET ALL;", "ALTER SYSTEM"),
    ("CREATE DATABASE other;", "CREATE DATABASE"),
    ("CREATE DATABASE other TEMPLATE template0 ENCODING 'UTF8';", "CREATE DATABASE"),
    ("DROP DATABASE other;", "DROP DATABASE"),
    ("DROP DATABASE IF EXISTS other WITH (FORCE);", "DROP DATABASE"),
    ("CREATE TABLESPACE fast LOCATION '/srv/fast';", "CREATE TABLESPACE"),
    ("DROP TABLESPACE fast;", "DROP TABLESPACE"),
    ("DROP TABLESPACE IF EXISTS fast;", "DROP TABLESPACE"),
    ("ALTER DATABASE app SET TABLESPACE fast;", "ALTER DATABASE … SET TABLESPACE"),
    (
        "CREATE SUBSCRIPTION s CONNECTION 'host=primary dbname=app' PUBLICATION p;",
        "CREATE SUBSCRIPTION",
    ),
    ("DROP SUBSCRIPTION s;", "DROP SUBSCRIPTION"),
    ("DROP SUBSCRIPTION IF EXISTS s;", "DROP SUBSCRIPTION"),
    ("DISCARD ALL;", "DISCARD ALL"),
]


@pytest.mark.parametrize(("sql", "what"), PG_REFUSED, ids=[w for _, w in PG_REFUSED])
def test_postgres_statement_refused_in_a_transaction_is_detected(sql: str, what: str) -> None:
    script, result = decide(sql)
    assert script.transactional is True
    assert_refused(result, what, 1)
    # Everything else about the script stays as it was.
    assert (result.path, result.text, result.first_line) == (script.path, script.text, 1)
    assert result.explicit_transaction is False


@pytest.mark.parametrize(("sql", "what"), PG_REFUSED[::4], ids=[w for _, w in PG_REFUSED[::4]])
def test_postgres_note_names_the_line_of_the_statement(sql: str, what: str) -> None:
    _, result = decide(PREFIX + sql + "\nSELECT 1;\n")
    assert_refused(result, what, 3)


def test_the_line_counts_from_the_first_line_of_a_section() -> None:
    script = Script(
        path="migrations/20240101_x.sql",
        text="SELECT 1;\nVACUUM;\n",
        first_line=5,
    )
    result = decide_transaction(script, split_script(script, "postgresql"), "postgresql")
    assert_refused(result, "VACUUM", 6)


def test_the_first_refused_statement_is_named() -> None:
    _, result = decide("SELECT 1;\nVACUUM;\nCREATE INDEX CONCURRENTLY i ON t (a);\n")
    assert_refused(result, "VACUUM", 2)


def test_a_statement_over_several_lines_is_named_by_its_first_line() -> None:
    _, result = decide("SELECT 1;\n\nCREATE INDEX\n  CONCURRENTLY i\n  ON t (a);\n")
    assert_refused(result, "CREATE INDEX CONCURRENTLY", 3)


@pytest.mark.parametrize(
    "sql",
    [
        "ANALYZE;",
        "ANALYZE t;",
        "ANALYZE VERBOSE t (a);",
        "REINDEX TABLE t;",
        "REINDEX INDEX i;",
        "REINDEX SCHEMA public;",
        "CREATE INDEX i ON t (a);",
        "DROP INDEX i;",
        "DROP TABLE t;",
        "DISCARD PLANS;",
        "DISCARD TEMP;",
        "DISCARD SEQUENCES;",
        "ALTER DATABASE app SET work_mem = '1MB';",
        "ALTER DATABASE app RENAME TO app2;",
        "ALTER SUBSCRIPTION s DISABLE;",
        "ALTER TABLE t SET TABLESPACE fast;",
        "ALTER TYPE mood RENAME VALUE 'sad' TO 'blue';",
        "SET search_path TO app, public;",
        "SAVEPOINT s;",
    ],
)
def test_postgres_statements_allowed_in_a_transaction_change_nothing(sql: str) -> None:
    script, result = decide(sql)
    assert_unchanged(script, result)


# ------------------------------------------------------------------ ALTER TYPE … ADD VALUE


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TYPE mood ADD VALUE 'meh';",
        "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' BEFORE 'sad';",
        "ALTER TYPE public.mood ADD VALUE 'meh' AFTER 'happy';",
    ],
)
@pytest.mark.parametrize("version", [90600, 110005, 119999])
def test_alter_type_add_value_is_refused_before_postgres_12(sql: str, version: int) -> None:
    _, result = decide(PREFIX + sql, server_version=version)
    assert_refused(result, "ALTER TYPE … ADD VALUE (before PostgreSQL 12)", 3)


@pytest.mark.parametrize("version", [120000, 120003, 150004, 170000, None])
def test_alter_type_add_value_runs_in_a_transaction_from_postgres_12(version: int | None) -> None:
    script, result = decide("ALTER TYPE mood ADD VALUE 'meh';", server_version=version)
    assert_unchanged(script, result)


def test_rename_value_is_never_refused_even_on_an_old_server() -> None:
    script, result = decide("ALTER TYPE mood RENAME VALUE 'a' TO 'b';", server_version=110000)
    assert_unchanged(script, result)


def test_server_version_does_not_matter_for_other_kinds() -> None:
    _, old = decide("VACUUM;", server_version=110000)
    _, new = decide("VACUUM;", server_version=170000)
    assert_refused(old, "VACUUM", 1)
    assert_refused(new, "VACUUM", 1)


# ------------------------------------------------------------------ keywords that do not count


@pytest.mark.parametrize(
    "sql",
    [
        # strings
        "SELECT 'CREATE INDEX CONCURRENTLY i ON t (a)';",
        "INSERT INTO notes (body) VALUES ('VACUUM; DROP DATABASE prod; DISCARD ALL;');",
        "SELECT E'VACUUM \\' ; CREATE DATABASE x;';",
        "COMMENT ON TABLE t IS 'run VACUUM after loading';",
        "SELECT $tag$ VACUUM; ALTER SYSTEM SET work_mem = 1 $tag$;",
        # comments
        "-- VACUUM;\nSELECT 1;",
        "/* CREATE INDEX CONCURRENTLY i ON t (a); */ SELECT 1;",
        "SELECT 1; /* outer /* DROP DATABASE x; */ still a comment */",
        "SELECT 1 -- DISCARD ALL\n;",
        # dollar-quoted bodies
        (
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\n"
            "BEGIN\n  EXECUTE 'VACUUM';\n  EXECUTE 'CREATE DATABASE x';\nEND\n$$;"
        ),
        (
            "CREATE FUNCTION g() RETURNS void LANGUAGE plpgsql AS $body$\n"
            "BEGIN\n  PERFORM 1; -- REINDEX DATABASE app\nEND\n$body$;"
        ),
        "DO $$ BEGIN EXECUTE 'DROP INDEX CONCURRENTLY i'; END $$;",
        # identifiers
        'CREATE TABLE vacuum_log (id int, "concurrently" boolean, vacuum int);',
        'CREATE TABLE "concurrently" (a int);\nCREATE INDEX concurrently_idx ON "concurrently" (a);',
        "CREATE TABLE system (database int, tablespace int, subscription int, value int);",
        "CREATE TABLE discard (a int);\nINSERT INTO discard (a) VALUES (1);",
        "SELECT vacuum, database FROM vacuum_log AS system;",
        "CREATE INDEX vacuum_log_idx ON vacuum_log (vacuum);",
        "ALTER TABLE vacuum_log ADD COLUMN tablespace text;",
        "CREATE TYPE kind AS ENUM ('value', 'database', 'system');",
        "CREATE SCHEMA subscription;",
    ],
)
def test_postgres_keywords_in_strings_comments_bodies_and_names_do_not_count(sql: str) -> None:
    script, result = decide(sql)
    assert_unchanged(script, result)


# ------------------------------------------------------------------ own transaction


@pytest.mark.parametrize(
    ("text", "keyword", "line"),
    [
        ("BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;\n", "BEGIN", 1),
        ("begin;\ncreate table t (a int);\ncommit;\n", "BEGIN", 1),
        ("BEGIN TRANSACTION;\nCREATE TABLE t (a int);\nCOMMIT;\n", "BEGIN", 1),
        ("BEGIN ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;\nCOMMIT;\n", "BEGIN", 1),
        ("START TRANSACTION;\nCREATE TABLE t (a int);\nCOMMIT;\n", "START", 1),
        ("START TRANSACTION READ WRITE;\nSELECT 1;\nEND;\n", "START", 1),
        ("-- opens its own\nBEGIN;\nCREATE TABLE t (a int);\nCOMMIT;\n", "BEGIN", 2),
        ("CREATE TABLE t (a int);\nCOMMIT;\n", "COMMIT", 2),
        ("CREATE TABLE t (a int);\nEND;\n", "END", 2),
        ("CREATE TABLE t (a int);\n\n  ROLLBACK;\n", "ROLLBACK", 3),
        ("CREATE TABLE t (a int);\n/* done */ COMMIT;\n", "COMMIT", 2),
    ],
)
def test_postgres_script_with_its_own_transaction_runs_as_written(
    text: str, keyword: str, line: int
) -> None:
    _, result = decide(text)
    assert_own(result, keyword, line)


@pytest.mark.parametrize(
    "text",
    [
        # SQL-standard function bodies: BEGIN ATOMIC … END is one statement.
        (
            "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql\n"
            "BEGIN ATOMIC\n  SELECT a + b;\nEND;\n"
        ),
        (
            "CREATE PROCEDURE ins(v int) LANGUAGE sql\nBEGIN ATOMIC\n"
            "  INSERT INTO t (a) VALUES (v);\n  INSERT INTO t (a) VALUES (v + 1);\nEND;\n"
        ),
        # DO blocks and plpgsql bodies: BEGIN … END inside dollar quotes.
        "DO $$\nBEGIN\n  RAISE NOTICE 'hello';\nEND\n$$;\n",
        "DO $do$ BEGIN IF true THEN PERFORM 1; END IF; END $do$;\n",
        (
            "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN\n  NEW.a := 1;\n  RETURN NEW;\nEND;\n$$;\n"
        ),
        "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$\nBEGIN\n  COMMIT;\n  ROLLBACK;\nEND\n$$;\n",
        # keywords in strings, comments and names
        "SELECT 'BEGIN; COMMIT;';\n",
        "-- BEGIN;\nCREATE TABLE t (a int);\n-- COMMIT;\n",
        'CREATE TABLE "begin" (a int);\nCREATE TABLE commit_log (a int);\n',
        "CREATE TABLE t (begin_at timestamptz, end_at timestamptz);\n",
    ],
)
def test_postgres_begin_that_is_not_a_transaction_changes_nothing(text: str) -> None:
    script, result = decide(text)
    assert_unchanged(script, result)


@pytest.mark.parametrize(
    "text",
    [
        "SAVEPOINT s;\nINSERT INTO t (a) VALUES (1);\nROLLBACK TO SAVEPOINT s;\n",
        "SAVEPOINT s;\nINSERT INTO t (a) VALUES (1);\nROLLBACK TO s;\nRELEASE SAVEPOINT s;\n",
    ],
)
def test_postgres_savepoints_stay_inside_migratas_transaction(text: str) -> None:
    # A savepoint only exists in a transaction block: running this script "as written",
    # outside a transaction, fails at SAVEPOINT ("can only be used in transaction blocks").
    script, result = decide(text)
    assert_unchanged(script, result)


def test_refused_statement_wins_over_own_transaction() -> None:
    _, result = decide("BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (a);\nCOMMIT;\n")
    assert_refused(result, "CREATE INDEX CONCURRENTLY", 2)


# ------------------------------------------------------------------ SQLite


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        ("VACUUM;", "VACUUM"),
        ("vacuum;", "VACUUM"),
        ("VACUUM main;", "VACUUM"),
        ("VACUUM INTO '/tmp/copy.db';", "VACUUM"),
        ("PRAGMA foreign_keys = OFF;", "PRAGMA FOREIGN_KEYS"),
        ("PRAGMA foreign_keys=ON;", "PRAGMA FOREIGN_KEYS"),
        ("pragma Foreign_Keys = 0;", "PRAGMA FOREIGN_KEYS"),
        ("PRAGMA journal_mode = WAL;", "PRAGMA JOURNAL_MODE"),
        ("PRAGMA journal_mode=DELETE;", "PRAGMA JOURNAL_MODE"),
        ("PRAGMA main.journal_mode = WAL;", "PRAGMA MAIN.JOURNAL_MODE"),
        ("PRAGMA main . foreign_keys = OFF;", "PRAGMA MAIN . FOREIGN_KEYS"),
        ("PRAGMA temp.journal_mode = MEMORY;", "PRAGMA TEMP.JOURNAL_MODE"),
    ],
)
def test_sqlite_statement_refused_in_a_transaction_is_detected(sql: str, what: str) -> None:
    _, result = decide(sql, "sqlite")
    assert_refused(result, what, 1)
    _, later = decide("CREATE TABLE t (a);\n-- rebuild\n" + sql + "\nSELECT 1;\n", "sqlite")
    assert_refused(later, what, 3)


@pytest.mark.parametrize(
    "sql",
    [
        "PRAGMA foreign_key_check;",
        "PRAGMA foreign_key_list(t);",
        "PRAGMA user_version = 3;",
        "PRAGMA defer_foreign_keys = ON;",
        "ANALYZE;",
        "CREATE TABLE vacuum_log (a, journal_mode, foreign_keys);",
        "INSERT INTO vacuum_log (a) VALUES ('VACUUM');",
        "SELECT 'PRAGMA foreign_keys = OFF';",
        "-- VACUUM\nSELECT 1;",
        "/* PRAGMA journal_mode = WAL; */ SELECT 1;",
        "SAVEPOINT s;\nRELEASE s;",
    ],
)
def test_sqlite_statements_allowed_in_a_transaction_change_nothing(sql: str) -> None:
    script, result = decide(sql, "sqlite")
    assert_unchanged(script, result)


@pytest.mark.parametrize(
    ("text", "keyword", "line"),
    [
        ("BEGIN;\nCREATE TABLE t (a);\nCOMMIT;\n", "BEGIN", 1),
        ("BEGIN IMMEDIATE;\nCREATE TABLE t (a);\nEND;\n", "BEGIN", 1),
        ("BEGIN EXCLUSIVE TRANSACTION;\nCREATE TABLE t (a);\nCOMMIT TRANSACTION;\n", "BEGIN", 1),
        ("-- opens its own\nbegin;\ncreate table t (a);\ncommit;\n", "BEGIN", 2),
        ("CREATE TABLE t (a);\nCOMMIT;\n", "COMMIT", 2),
        ("CREATE TABLE t (a);\nEND TRANSACTION;\n", "END", 2),
        ("CREATE TABLE t (a);\nROLLBACK;\n", "ROLLBACK", 2),
    ],
)
def test_sqlite_script_with_its_own_transaction_runs_as_written(
    text: str, keyword: str, line: int
) -> None:
    _, result = decide(text, "sqlite")
    assert_own(result, keyword, line)


@pytest.mark.parametrize(
    "text",
    [
        (
            "CREATE TABLE t (a);\nCREATE TABLE log (a);\n"
            "CREATE TRIGGER t_log AFTER INSERT ON t\nBEGIN\n"
            "  INSERT INTO log (a) VALUES (NEW.a);\n  UPDATE log SET a = a + 1;\nEND;\n"
        ),
        "CREATE TRIGGER IF NOT EXISTS tr BEFORE DELETE ON t BEGIN SELECT RAISE(ABORT, 'no'); END;",
        'CREATE TABLE "begin" (a);\nINSERT INTO "begin" (a) VALUES (1);\n',
        "CREATE TABLE begin_log (a);\nCREATE TABLE commit_log (a);\n",
        "SELECT 'BEGIN; COMMIT;';\n",
        "-- BEGIN;\nCREATE TABLE t (a);\n-- COMMIT;\n",
    ],
)
def test_sqlite_begin_that_is_not_a_transaction_changes_nothing(text: str) -> None:
    script, result = decide(text, "sqlite")
    assert_unchanged(script, result)


def test_sqlite_savepoint_rollback_stays_inside_migratas_transaction() -> None:
    script, result = decide(
        "SAVEPOINT s;\nINSERT INTO t (a) VALUES (1);\nROLLBACK TO s;\nRELEASE s;\n", "sqlite"
    )
    assert_unchanged(script, result)


def test_dialects_do_not_mix() -> None:
    # PRAGMA means nothing to PostgreSQL's rules, and REINDEX DATABASE nothing to SQLite's.
    script = Script(path="m.sql", text="PRAGMA foreign_keys = OFF;")
    statements = split_script(script, "sqlite")
    assert decide_transaction(script, statements, "postgresql") is script
    pg = Script(path="m.sql", text="REINDEX DATABASE app;")
    assert decide_transaction(pg, split_script(pg, "postgresql"), "sqlite") is pg


# ------------------------------------------------------------------ what is never changed


@pytest.mark.parametrize(
    ("text", "dialect"),
    [
        ("CREATE INDEX CONCURRENTLY i ON t (a);", "postgresql"),
        ("VACUUM;", "postgresql"),
        ("BEGIN;\nSELECT 1;\nCOMMIT;", "postgresql"),
        ("VACUUM;", "sqlite"),
        ("PRAGMA foreign_keys = OFF;", "sqlite"),
        ("BEGIN;\nSELECT 1;\nCOMMIT;", "sqlite"),
    ],
)
def test_an_explicit_choice_is_never_changed(text: str, dialect: str) -> None:
    script, result = decide(text, dialect, explicit_transaction=True)
    assert result is script
    assert result.transactional is True
    assert result.transaction_note is None


def test_a_transaction_directive_in_the_file_wins() -> None:
    from migrata.layouts.base import script_from_text

    script = script_from_text(
        "migrations/0001_x.sql", "-- migrata: transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\n"
    )
    assert script.explicit_transaction is True and script.transactional is True
    result = decide_transaction(script, split_script(script, "postgresql"), "postgresql")
    assert result is script


@pytest.mark.parametrize(
    ("text", "dialect"),
    [
        ("CREATE INDEX CONCURRENTLY i ON t (a);", "postgresql"),
        ("BEGIN;\nSELECT 1;\nCOMMIT;", "postgresql"),
        ("PRAGMA foreign_keys = OFF;", "sqlite"),
    ],
)
def test_a_script_already_outside_a_transaction_is_returned_unchanged(
    text: str, dialect: str
) -> None:
    script, result = decide(
        text, dialect, transactional=False, transaction_note="marked to run outside a transaction"
    )
    assert result is script
    assert result.transaction_note == "marked to run outside a transaction"


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
@pytest.mark.parametrize("text", ["", "\n\n", "-- only a comment\n", "/* nothing */\n"])
def test_empty_and_comment_only_scripts_stay_transactional(dialect: str, text: str) -> None:
    script, result = decide(text, dialect)
    assert split_script(script, dialect) == ()
    assert_unchanged(script, result)
