"""Each lint rule: a dangerous statement found with its id, lock and a safe SQL naming the real
table and column; a safe form not flagged; the same statement quiet on a table created earlier
in the run. Also directives, the catalog, options, properties and speed."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrata.lint import (
    RULES,
    Catalog,
    Finding,
    LintOptions,
    LockInfo,
    TableInfo,
    lint,
    statement_locks,
)
from migrata.models import Migration, Script, Statement, Version
from migrata.split import split_script


def _migration(version: str, sql: str, **script: object) -> Migration:
    return Migration(
        Version.parse(version), "m", Script(f"{version}_m.sql", sql, **script), None, "x"
    )  # type: ignore[arg-type]


def _lint(*sqls: str, dialect: str = "postgresql", **kwargs: object) -> tuple[Finding, ...]:
    migrations = [_migration(str(i + 1), sql) for i, sql in enumerate(sqls)]
    return lint(migrations, dialect, **kwargs)  # type: ignore[arg-type]


def _rules(findings: tuple[Finding, ...]) -> list[str]:
    return [f.rule for f in findings if f.allowed is None]


# rule, dangerous SQL, lock, words the safe SQL must contain, safe SQL, "CREATE TABLE" to make
# the table new (None: the rule is not about locks on the table).
PG_CASES = [
    ("index-not-concurrent", "CREATE INDEX orders_user_idx ON orders (user_id);", "SHARE",
     ["CREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id)"],
     "CREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);", "orders"),
    ("drop-index-not-concurrent", "DROP INDEX orders_user_idx;", "ACCESS EXCLUSIVE",
     ["DROP INDEX CONCURRENTLY orders_user_idx"], "DROP INDEX CONCURRENTLY orders_user_idx;", None),
    ("reindex-not-concurrent", "REINDEX TABLE orders;", "SHARE",
     ["REINDEX (CONCURRENTLY) TABLE orders"], "REINDEX TABLE CONCURRENTLY orders;", "orders"),
    ("add-column-required", "ALTER TABLE orders ADD COLUMN region text NOT NULL;", "ACCESS EXCLUSIVE",
     ["ALTER TABLE orders ADD COLUMN region text", "CHECK (region IS NOT NULL) NOT VALID",
      "VALIDATE CONSTRAINT orders_region_not_null"],
     "ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';", "orders"),
    ("add-column-volatile-default", "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();",
     "ACCESS EXCLUSIVE",
     ["ALTER TABLE orders ADD COLUMN token uuid;", "SET DEFAULT gen_random_uuid()",
      "UPDATE orders SET token = gen_random_uuid() WHERE ctid IN"],
     "ALTER TABLE orders ADD COLUMN created timestamptz DEFAULT now();", "orders"),
    ("add-column-stored-generated",
     "ALTER TABLE orders ADD COLUMN total int GENERATED ALWAYS AS (qty * price) STORED;",
     "ACCESS EXCLUSIVE", ["ALTER TABLE orders ADD COLUMN total integer", "SET total = qty * price"],
     "ALTER TABLE orders ADD COLUMN total int;", "orders"),
    ("add-column-serial", "ALTER TABLE orders ADD COLUMN seq bigserial;", "ACCESS EXCLUSIVE",
     ["ALTER TABLE orders ADD COLUMN seq bigint", "CREATE SEQUENCE orders_seq_seq OWNED BY orders.seq"],
     "ALTER TABLE orders ADD COLUMN seq bigint;", "orders"),
    ("alter-column-type", "ALTER TABLE orders ALTER COLUMN qty TYPE bigint;", "ACCESS EXCLUSIVE",
     ["ALTER TABLE orders ADD COLUMN qty_new bigint", "RENAME COLUMN qty_new TO qty"],
     "ALTER TABLE orders ALTER COLUMN note SET DEFAULT '';", "orders"),
    ("set-not-null", "ALTER TABLE orders ALTER COLUMN qty SET NOT NULL;", "ACCESS EXCLUSIVE",
     ["ALTER TABLE orders ADD CONSTRAINT orders_qty_not_null CHECK (qty IS NOT NULL) NOT VALID",
      "ALTER TABLE orders VALIDATE CONSTRAINT orders_qty_not_null",
      "ALTER TABLE orders ALTER COLUMN qty SET NOT NULL"],
     "ALTER TABLE orders ALTER COLUMN qty DROP NOT NULL;", "orders"),
    ("constraint-not-valid",
     "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);",
     "SHARE ROW EXCLUSIVE",
     ["ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID",
      "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk"],
     "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
     "orders"),
    ("constraint-builds-index", "ALTER TABLE orders ADD CONSTRAINT orders_code_key UNIQUE (code);",
     "ACCESS EXCLUSIVE",
     ["CREATE UNIQUE INDEX CONCURRENTLY orders_code_key ON orders (code)",
      "ALTER TABLE orders ADD CONSTRAINT orders_code_key UNIQUE USING INDEX orders_code_key"],
     "ALTER TABLE orders ADD CONSTRAINT orders_code_key UNIQUE USING INDEX orders_code_key;", "orders"),
    ("drop-column", "ALTER TABLE orders DROP COLUMN note;", "ACCESS EXCLUSIVE",
     ["ALTER TABLE orders DROP COLUMN note"], "ALTER TABLE orders ADD COLUMN note2 text;", "orders"),
    ("drop-table", "DROP TABLE orders;", "ACCESS EXCLUSIVE", ["DROP TABLE orders"],
     "DROP VIEW orders_view;", "orders"),
    ("rename-column", "ALTER TABLE orders RENAME COLUMN note TO remark;", "ACCESS EXCLUSIVE",
     ["ALTER TABLE orders ADD COLUMN remark", "UPDATE orders SET remark = note",
      "ALTER TABLE orders DROP COLUMN note"], "ALTER INDEX orders_idx RENAME TO orders_idx2;", "orders"),
    ("rename-table", "ALTER TABLE orders RENAME TO purchases;", "ACCESS EXCLUSIVE",
     ["ALTER TABLE orders RENAME TO purchases", "CREATE VIEW orders AS SELECT * FROM purchases"],
     "ALTER SEQUENCE orders_seq RENAME TO purchases_seq;", "orders"),
    ("truncate", "TRUNCATE orders;", "ACCESS EXCLUSIVE",
     ["DELETE FROM orders WHERE ctid IN (SELECT ctid FROM orders LIMIT"],
     "DELETE FROM orders WHERE id = 1;", "orders"),
    ("vacuum-full", "VACUUM FULL orders;", "ACCESS EXCLUSIVE", ["pg_repack --table=orders"],
     "VACUUM orders;", "orders"),
    ("cluster", "CLUSTER orders USING orders_pkey;", "ACCESS EXCLUSIVE", ["pg_repack --table=orders"],
     "ANALYZE orders;", "orders"),
    ("lock-table", "LOCK TABLE orders IN EXCLUSIVE MODE;", "EXCLUSIVE", ["lock_timeout"],
     "SELECT 1;", "orders"),
    ("refresh-matview-not-concurrent", "REFRESH MATERIALIZED VIEW totals;", "ACCESS EXCLUSIVE",
     ["REFRESH MATERIALIZED VIEW CONCURRENTLY totals"],
     "REFRESH MATERIALIZED VIEW CONCURRENTLY totals;", None),
    ("backfill-with-ddl", "ALTER TABLE orders ADD COLUMN region text;\nUPDATE orders SET region = 'eu';",
     "ACCESS EXCLUSIVE",
     ["UPDATE orders SET region = 'eu' WHERE ctid IN (SELECT ctid FROM orders LIMIT"],
     "ALTER TABLE orders ADD COLUMN region text;", "orders"),
    ("validate-in-same-transaction",
     "ALTER TABLE orders ADD CONSTRAINT c CHECK (qty > 0) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT c;",
     "ACCESS EXCLUSIVE", ["ALTER TABLE orders VALIDATE CONSTRAINT c"],
     "ALTER TABLE orders ADD CONSTRAINT c CHECK (qty > 0) NOT VALID;", "orders"),
    ("prefer-jsonb", "ALTER TABLE orders ADD COLUMN meta json;", None, ["meta jsonb"],
     "ALTER TABLE orders ADD COLUMN meta jsonb;", None),
    ("prefer-timestamptz", "CREATE TABLE visits (id bigint, at timestamp(3));", None, ["at timestamptz"],
     "CREATE TABLE visits (id bigint, at timestamptz(3), at2 timestamp with time zone);", None),
    ("prefer-text", "ALTER TABLE orders ADD COLUMN code char(3);", None, ["code text"],
     "ALTER TABLE orders ADD COLUMN code varchar(3);", None),
    ("drop-database", "DROP DATABASE legacy;", None, ["DROP DATABASE legacy"],
     "DROP SCHEMA legacy_archive;", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "dangerous", "lock", "words", "safe", "table"), PG_CASES, ids=[c[0] for c in PG_CASES]
)
def test_postgres_rule(
    rule: str, dangerous: str, lock: str | None, words: list[str], safe: str, table: str | None
) -> None:
    found = [f for f in _lint(dangerous) if f.rule == rule]
    assert len(found) == 1, _lint(dangerous)
    finding = found[0]
    assert finding.lock == lock
    assert finding.severity == RULES[rule].severity
    for word in words:
        assert word in finding.safe, finding.safe
    assert rule not in _rules(_lint(safe))
    if table is not None:
        # Quiet when the table is new in the run: same migration or an earlier one.
        created = (
            f"CREATE TABLE {table} (id bigint, qty int, user_id bigint, code text, note text);"
        )
        assert rule not in _rules(_lint(created + "\n" + dangerous))
        assert rule not in _rules(_lint(created, dangerous))


def test_every_postgres_rule_is_covered_here_or_in_the_labelled_cases() -> None:
    here = {c[0] for c in PG_CASES}
    other = {"enum-value-in-transaction", "concurrently-in-transaction", "prefer-bigint-key"}
    # Read from the folder by Migrator.lint, not from statements: tests/cli/test_lint_cli.py.
    other.add("folder-layout")
    pg_rules = {r.id for r in RULES.values() if "postgresql" in r.dialects}
    assert pg_rules == here | other


def test_findings_name_the_file_the_line_and_the_statement() -> None:
    (finding,) = _lint("-- a comment\nSELECT 1;\n\nCREATE INDEX i ON big (a)\n  WHERE a > 0;")
    assert (finding.path, finding.line, finding.column, finding.version) == ("1_m.sql", 4, 1, "1")
    assert finding.statement == "CREATE INDEX i ON big (a)"
    assert finding.tables == ("big",)
    assert finding.scans and not finding.rewrites


def test_enum_value_in_a_transaction_depends_on_the_server_version() -> None:
    sql = "ALTER TYPE mood ADD VALUE 'meh';"
    old = _lint(sql, options=LintOptions(server_version=110005))
    assert _rules(old) == ["enum-value-in-transaction"]
    assert old[0].safe.startswith("-- migrata: no-transaction\nALTER TYPE mood ADD VALUE 'meh'")
    assert _rules(_lint(sql, options=LintOptions(server_version=120000))) == []
    assert _rules(_lint(sql)) == []  # unknown server: a current one
    # The catalog's version wins over the option's.
    catalog = Catalog(server_version=150004)
    assert _rules(_lint(sql, catalog=catalog, options=LintOptions(server_version=110005))) == []
    untransacted = _migration("1", sql, transactional=False)
    assert lint([untransacted], "postgresql", options=LintOptions(server_version=110005)) == ()


def test_concurrently_in_a_forced_transaction_or_an_explicit_block() -> None:
    sql = "CREATE INDEX CONCURRENTLY i ON t (a);"
    forced = _migration("1", sql, transactional=True, explicit_transaction=True)
    assert _rules(lint([forced], "postgresql")) == ["concurrently-in-transaction"]
    assert _rules(_lint(sql)) == []
    assert _rules(_lint(f"BEGIN;\n{sql}\nCOMMIT;")) == ["concurrently-in-transaction"]
    assert _rules(_lint(f"BEGIN;\nCOMMIT;\n{sql}")) == []


def test_int_primary_keys_are_opt_in() -> None:
    sql = "CREATE TABLE t (id serial PRIMARY KEY, name text);"
    assert _rules(_lint(sql)) == []
    found = _lint(sql, options=LintOptions(enabled=frozenset({"prefer-bigint-key"})))
    assert _rules(found) == ["prefer-bigint-key"]
    assert "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY" in found[0].safe
    big = "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);"
    assert _rules(_lint(big, options=LintOptions(enabled=frozenset({"prefer-bigint-key"})))) == []


def test_options_disable_rules_and_change_severities() -> None:
    sql = "CREATE INDEX i ON t (a);\nALTER TABLE t DROP COLUMN b;"
    assert _rules(_lint(sql, options=LintOptions(disabled=frozenset({"drop-column"})))) == [
        "index-not-concurrent"
    ]
    found = _lint(sql, options=LintOptions(severities={"index-not-concurrent": "warning"}))
    assert [f.severity for f in found] == ["warning", "warning"]


def test_the_catalog_gives_sizes_and_quiets_empty_tables() -> None:
    catalog = Catalog(
        tables={
            "public.events": TableInfo(12_000_000, 4_400_000_000),
            "events": TableInfo(12_000_000, 4_400_000_000),
            "empty": TableInfo(0, 8192),
        }
    )
    (big,) = _lint("ALTER TABLE events ALTER COLUMN id TYPE bigint;", catalog=catalog)
    assert "`events` (~12 M rows, 4.1 GB)" in big.message
    assert "under ACCESS EXCLUSIVE" in big.message
    (empty,) = _lint("CREATE INDEX i ON empty (a);", catalog=catalog)
    assert empty.severity == "info"
    # Compatibility findings do not depend on the table's size.
    (drop,) = _lint("ALTER TABLE empty DROP COLUMN a;", catalog=catalog)
    assert drop.severity == "warning"


def test_a_directive_before_a_statement_allows_it_with_its_reason() -> None:
    sql = (
        "CREATE INDEX a_idx ON t (a);\n"
        "-- migrata: allow=index-not-concurrent,drop-column -- t has 40 rows\n"
        "CREATE INDEX b_idx ON t (b);\n"
    )
    first, second = _lint(sql)
    assert first.allowed is None
    assert second.allowed == "t has 40 rows"
    bare = _lint("-- x\n-- migrata: allow=index-not-concurrent\nCREATE INDEX b ON t (b);")
    assert bare[0].allowed == ""


def test_a_directive_in_the_leading_block_allows_the_whole_file() -> None:
    sql = (
        "-- migrata: allow=index-not-concurrent -- seed tables are small\n"
        "-- migrata: no-transaction\n"
        "\n"
        "CREATE INDEX a_idx ON t (a);\n"
        "CREATE INDEX b_idx ON u (b);\n"
        "ALTER TABLE u DROP COLUMN c;\n"
    )
    found = _lint(sql)
    assert [(f.rule, f.allowed) for f in found] == [
        ("index-not-concurrent", "seed tables are small"),
        ("index-not-concurrent", "seed tables are small"),
        ("drop-column", None),
    ]
    # Directly before the first statement (not the file's first line): that statement only.
    found = _lint("-- header\n-- migrata: allow=index-not-concurrent\nCREATE INDEX a ON t (a);\n"
                  "CREATE INDEX b ON t (b);")  # fmt: skip
    assert [f.allowed for f in found] == ["", None]


def test_existing_migrations_tell_index_tables_and_column_types_but_are_not_new() -> None:
    existing = [_migration("1", "CREATE TABLE t (a varchar(10)); CREATE INDEX t_a ON t (a);")]
    found = lint(
        [_migration("2", "DROP INDEX t_a;\nALTER TABLE t ALTER COLUMN a TYPE varchar(20);")],
        "postgresql",
        existing=existing,
    )
    assert [(f.rule, f.tables) for f in found] == [("drop-index-not-concurrent", ("t",))]


def test_unparsable_scripts_and_unknown_dialects_give_nothing() -> None:
    assert _lint("CREATE INDEX ON;;; nonsense (") == ()
    assert _lint("CREATE INDEX i ON t (a);", dialect="sqlite") == ()
    assert _lint("CREATE INDEX i ON t (a);", dialect="nosuch") == ()


# -- MySQL and ClickHouse ----------------------------------------------------------------


def test_mysql_rules() -> None:
    found = _lint(
        "ALTER TABLE orders CHANGE COLUMN qty quantity BIGINT, DROP PRIMARY KEY;\n"
        "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);\n"
        "RENAME TABLE orders TO purchases;\n"
        "ALTER TABLE users DROP COLUMN legacy;\n"
        "DROP TABLE audit;",
        dialect="mysql",
    )
    assert _rules(found) == [
        "rename-column",
        "mysql-table-copy",
        "mysql-table-copy",
        "mysql-add-foreign-key",
        "rename-table",
        "drop-column",
        "drop-table",
    ]
    fk = found[3]
    assert "SET foreign_key_checks = 0" in fk.safe
    assert (
        "ALTER TABLE `orders` ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id), " in fk.safe
    )
    assert "pt-online-schema-change" in found[1].safe and "t=orders" in found[1].safe
    # Swapping the primary key in one statement is done in place.
    assert _lint("ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (a, b);", dialect="mysql") == ()


def test_mysql_new_tables_and_empty_tables_are_quiet() -> None:
    sql = "CREATE TABLE `t` (a int);\nALTER TABLE t MODIFY a bigint;\nDROP TABLE t;"
    assert _lint(sql, dialect="mysql") == ()
    catalog = Catalog(tables={"big": TableInfo(0, 0)})
    (f,) = _lint("ALTER TABLE big MODIFY a bigint;", dialect="mysql", catalog=catalog)
    assert f.severity == "info"


def test_clickhouse_mutations_and_on_cluster() -> None:
    found = _lint("ALTER TABLE events UPDATE x = 1 WHERE y = 2;", dialect="clickhouse")
    assert _rules(found) == ["clickhouse-mutation"]
    (delete,) = _lint("ALTER TABLE events DELETE WHERE ts < 5;", dialect="clickhouse")
    assert "DELETE FROM events WHERE ts < 5;" in delete.safe
    options = LintOptions(cluster="main")
    (missing,) = _lint(
        "CREATE TABLE t (a Int8) ENGINE = Memory;", dialect="clickhouse", options=options
    )
    assert missing.rule == "clickhouse-missing-on-cluster"
    assert missing.safe == "CREATE TABLE t ON CLUSTER main (a Int8) ENGINE = Memory;"
    ok = "CREATE TABLE t ON CLUSTER main (a Int8) ENGINE = Memory;"
    assert _lint(ok, dialect="clickhouse", options=options) == ()
    assert _lint("CREATE TABLE t (a Int8) ENGINE = Memory;", dialect="clickhouse") == ()


# -- statement_locks ---------------------------------------------------------------------


def _statements(sql: str) -> tuple[Statement, ...]:
    return split_script(Script("x.sql", sql), "postgresql")


LOCKS = [
    ("CREATE INDEX i ON t (a)", "SHARE", ("t",), True),
    ("CREATE INDEX CONCURRENTLY i ON t (a)", "SHARE UPDATE EXCLUSIVE", ("t",), True),
    ("ALTER TABLE t ADD COLUMN c int", "ACCESS EXCLUSIVE", ("t",), False),
    ("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id)", "SHARE ROW EXCLUSIVE", ("t", "u"), True),
    ("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id) NOT VALID", "SHARE ROW EXCLUSIVE", ("t", "u"), False),
    ("ALTER TABLE t VALIDATE CONSTRAINT f", "SHARE UPDATE EXCLUSIVE", ("t",), True),
    ("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)", "ACCESS EXCLUSIVE", ("t",), True),
    ("ALTER TABLE t ALTER COLUMN a SET STATISTICS 500", "SHARE UPDATE EXCLUSIVE", ("t",), False),
    ("ALTER TABLE t SET (fillfactor = 70)", "SHARE UPDATE EXCLUSIVE", ("t",), False),
    ("ALTER TABLE t DISABLE TRIGGER ALL", "SHARE ROW EXCLUSIVE", ("t",), False),
    ("ALTER TABLE t SET STATISTICS 1, ADD COLUMN b int".replace("SET STATISTICS 1", "ALTER COLUMN a SET STATISTICS 1"), "ACCESS EXCLUSIVE", ("t",), False),
    ("DROP TABLE t", "ACCESS EXCLUSIVE", ("t",), False),
    ("TRUNCATE t", "ACCESS EXCLUSIVE", ("t",), False),
    ("VACUUM FULL t", "ACCESS EXCLUSIVE", ("t",), False),
    ("VACUUM t", "SHARE UPDATE EXCLUSIVE", ("t",), False),
    ("CLUSTER t USING i", "ACCESS EXCLUSIVE", ("t",), False),
    ("REINDEX TABLE t", "SHARE", ("t",), True),
    ("REINDEX TABLE CONCURRENTLY t", "SHARE UPDATE EXCLUSIVE", ("t",), False),
    ("LOCK TABLE t IN ROW EXCLUSIVE MODE", "ROW EXCLUSIVE", ("t",), False),
    ("LOCK t", "ACCESS EXCLUSIVE", ("t",), False),
    ("UPDATE t SET a = 1", "ROW EXCLUSIVE", ("t",), True),
    ("DELETE FROM t WHERE a = 1", "ROW EXCLUSIVE", ("t",), False),
    ("INSERT INTO t VALUES (1)", "ROW EXCLUSIVE", ("t",), False),
    ("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", "SHARE ROW EXCLUSIVE", ("t",), False),
    ("ALTER TABLE t RENAME COLUMN a TO b", "ACCESS EXCLUSIVE", ("t",), False),
    ("COMMENT ON TABLE t IS 'x'", "SHARE UPDATE EXCLUSIVE", ("t",), False),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", "EXCLUSIVE", ("mv",), False),
    ("ALTER TYPE mood ADD VALUE 'x'", None, (), False),
    ("SELECT 1", None, (), False),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "lock", "tables", "scans"), LOCKS, ids=[c[0] for c in LOCKS])
def test_statement_locks(sql: str, lock: str | None, tables: tuple[str, ...], scans: bool) -> None:
    (info,) = statement_locks(_statements(sql), "postgresql")
    assert (info.lock, info.tables, info.scans) == (lock, tables, scans)


def test_statement_locks_rewrites_and_new_tables() -> None:
    sql = "ALTER TABLE t ALTER COLUMN a TYPE bigint; CREATE INDEX i ON t (a); VACUUM FULL t"
    infos = statement_locks(_statements(sql), "postgresql")
    assert [(i.statement_index, i.rewrites, i.scans) for i in infos] == [
        (0, True, False),
        (1, False, True),
        (2, True, False),
    ]
    new = statement_locks(_statements(sql), "postgresql", new_tables={"T"})
    assert [(i.lock, i.rewrites, i.scans) for i in new] == [
        ("ACCESS EXCLUSIVE", False, False),
        ("SHARE", False, False),
        ("ACCESS EXCLUSIVE", False, False),
    ]
    created = statement_locks(
        _statements("CREATE TABLE n (a int); CREATE INDEX j ON n (a)"), "postgresql"
    )
    assert [(i.lock, i.tables, i.scans) for i in created] == [
        ("ACCESS EXCLUSIVE", ("n",), False),
        ("SHARE", ("n",), False),
    ]


def test_statement_locks_for_other_dialects_say_nothing() -> None:
    statements = (Statement("ALTER TABLE t ADD COLUMN a int", 1, 1, 0),)
    assert statement_locks(statements, "mysql") == (LockInfo(0, None, (), False, False),)


# -- properties and speed ----------------------------------------------------------------

_NAMES = st.sampled_from(["t", "orders", "users", "a_b", "events"])
_COLUMNS = st.sampled_from(["a", "b", "c", "qty"])
_ALTERS = st.one_of(
    st.builds("ADD COLUMN {} int NOT NULL".format, _COLUMNS),
    st.builds("ADD COLUMN {} uuid DEFAULT gen_random_uuid()".format, _COLUMNS),
    st.builds("ADD COLUMN {} bigserial".format, _COLUMNS),
    st.builds("ADD COLUMN {} int GENERATED ALWAYS AS (1) STORED".format, _COLUMNS),
    st.builds("ALTER COLUMN {} TYPE bigint".format, _COLUMNS),
    st.builds("ALTER COLUMN {} SET NOT NULL".format, _COLUMNS),
    st.builds("ADD CONSTRAINT k_{0} UNIQUE ({0})".format, _COLUMNS),
    st.builds("ADD CONSTRAINT c_{0} CHECK ({0} > 0)".format, _COLUMNS),
    st.builds("ADD CONSTRAINT f_{0} FOREIGN KEY ({0}) REFERENCES other (id)".format, _COLUMNS),
    st.just("ADD PRIMARY KEY (a)"),
)
_LOCK_RULES = {r.id for r in RULES.values() if r.rewrites or r.scans} - {"backfill-with-ddl"}


@st.composite
def _run_on_new_table(draw: st.DrawFn) -> list[str]:
    table = draw(_NAMES)
    statements = [f"CREATE TABLE {table} (id bigint, a int, b int, c int, qty int)"]
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["alter", "index", "vacuum", "update"]))
        column = draw(_COLUMNS)
        if kind == "alter":
            statements.append(f"ALTER TABLE {table} {draw(_ALTERS)}")
        elif kind == "index":
            unique = draw(st.sampled_from(["", "UNIQUE "]))
            statements.append(f"CREATE {unique}INDEX ON {table} ({column})")
        elif kind == "vacuum":
            statements.append(f"VACUUM FULL {table}")
        else:
            statements.append(f"UPDATE {table} SET {column} = 1")
    return statements


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_run_on_new_table(), st.integers(1, 3))
def test_nothing_on_a_table_created_first_in_the_run_costs_a_lock(
    statements: list[str], migrations: int
) -> None:
    size = max(1, len(statements) // migrations)
    chunks = [statements[i : i + size] for i in range(0, len(statements), size)]
    found = _lint(*(";\n".join(chunk) + ";" for chunk in chunks))
    assert [f.rule for f in found if f.rule in _LOCK_RULES or f.lock] == []


_SQLISH = st.lists(
    st.one_of(
        st.sampled_from(
            ["CREATE", "TABLE", "INDEX", "ALTER", "ADD", "COLUMN", "DROP", "ON", "(", ")", ";",
             ",", "NOT", "NULL", "DEFAULT", "'x'", "--", "/*", "*/", "$$", "\n", "t", "a",
             "CONCURRENTLY", "BEGIN", "COMMIT", "`", '"', "UPDATE", "SET", "=", "1"]
        ),
        st.text(max_size=5),
    ),
    max_size=30,
).map(" ".join)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(_SQLISH, st.sampled_from(["postgresql", "mysql", "clickhouse", "sqlite"]))
def test_lint_never_raises_on_sql_ish_text(text: str, dialect: str) -> None:
    for finding in _lint(text, dialect=dialect, options=LintOptions(cluster="c")):
        assert finding.rule in RULES


def test_a_thousand_migrations_lint_quickly() -> None:
    migrations = []
    for i in range(1000):
        sql = (
            f"CREATE TABLE t{i} (id bigint PRIMARY KEY, a int, payload jsonb);\n"
            f"CREATE INDEX t{i}_a ON t{i} (a);\n"
            f"ALTER TABLE big ADD COLUMN c{i} int;\n"
            f"CREATE INDEX big_c{i} ON big (c{i});\n"
        )
        migrations.append(_migration(str(i + 1), sql))
    start = time.perf_counter()
    found = lint(migrations, "postgresql")
    elapsed = time.perf_counter() - start
    print(f"lint of 1,000 migrations: {elapsed:.3f} s")
    assert len(found) == 1000
    assert elapsed < 5
