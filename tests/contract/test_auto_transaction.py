"""Scripts whose statements decide the transaction, on real engines: statements refused in a
transaction block run outside one, files with their own BEGIN/COMMIT run as written, and empty
or comment-only files are still recorded."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from conftest import Database, write_migrations
from migrata import Migrator, State

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_support import clean_cli_state, run_cli  # noqa: F401

CIC = {
    "0001_items.sql": (
        "CREATE TABLE items (id INTEGER PRIMARY KEY, sku TEXT NOT NULL);\n"
        "INSERT INTO items (id, sku) VALUES (1, 'a'), (2, 'b');\n"
    ),
    "0002_items_sku.sql": (
        "-- build the index without blocking writes\n"
        "CREATE INDEX CONCURRENTLY items_sku ON items (sku);\n"
    ),
}


def states(run_cli, db: Database, folder: Path) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    result = run_cli("-u", db.url, "-d", folder, "status", "--json")
    assert result.code == 0, result.output
    return {m["version"]: m for m in json.loads(result.out)["migrations"]}


def history_rows(db: Database) -> list[tuple]:
    return db.history("version, success")


def audit_events(db: Database) -> list[tuple]:
    return db.query("SELECT version, event FROM migrata_history_audit ORDER BY id")


def user_tables(db: Database) -> set[str]:
    return db.user_tables()


# ------------------------------------------------------------------ CREATE INDEX CONCURRENTLY


def test_create_index_concurrently_without_a_marker_applies_and_is_valid(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", CIC)
    result = run_cli("-u", postgres_db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    rows = postgres_db.query(
        "SELECT i.indisvalid, i.indisready FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'items_sku'"
    )
    assert rows == [(True, True)]
    assert history_rows(postgres_db) == [("0001", True), ("0002", True)]
    found = states(run_cli, postgres_db, folder)
    assert {v: m["state"] for v, m in found.items()} == {"0001": "applied", "0002": "applied"}
    # It ran statement by statement: the "started" row came before the "applied" one.
    assert ("0002", "started") in audit_events(postgres_db)
    assert audit_events(postgres_db)[-1] == ("0002", "applied")
    again = run_cli("-u", postgres_db.url, "-d", folder, "up")
    assert again.code == 0, again.output
    assert history_rows(postgres_db) == [("0001", True), ("0002", True)]


def test_plan_says_outside_a_transaction_and_why(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", CIC)
    result = run_cli("-u", postgres_db.url, "-d", folder, "plan")
    assert result.code == 0, result.output
    text = result.out
    head_1 = next(line for line in text.splitlines() if line.startswith("-- apply 0001_items"))
    head_2 = next(line for line in text.splitlines() if line.startswith("-- apply 0002_items_sku"))
    assert "in one transaction" in head_1
    assert "outside a transaction" in head_2
    note = (
        "CREATE INDEX CONCURRENTLY (line 2) cannot run inside a transaction, so this migration "
        "runs outside one"
    )
    assert f"-- ({note})" in text
    # The second migration's statement is not framed by BEGIN/COMMIT (only the history
    # writes around it are).
    after = text[text.index(head_2) :].splitlines()
    at = after.index("CREATE INDEX CONCURRENTLY items_sku ON items (sku);")
    assert after[at - 1] == "COMMIT;" and after[at + 1].startswith("-- after each statement")
    # plan changes nothing.
    assert user_tables(postgres_db) == set()


def test_plan_json_has_transactional_false_and_the_note(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", CIC)
    result = run_cli("-u", postgres_db.url, "-d", folder, "plan", "--json")
    assert result.code == 0, result.output
    steps = {s["version"]: s for s in json.loads(result.out)}
    assert steps["0001"]["transactional"] is True
    assert steps["0001"]["transaction_note"] is None
    assert steps["0002"]["transactional"] is False
    assert steps["0002"]["transaction_note"] == (
        "CREATE INDEX CONCURRENTLY (line 2) cannot run inside a transaction, so this migration "
        "runs outside one"
    )
    assert [st["line"] for st in steps["0002"]["statements"]] == [2]


def test_an_explicit_transaction_marker_keeps_the_transaction(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    # The marker wins over the analysis, so PostgreSQL itself refuses the statement.
    files = dict(CIC)
    files["0002_items_sku.sql"] = "-- migrata: transaction\n" + CIC["0002_items_sku.sql"]
    folder = write_migrations(tmp_path / "migrations", files)
    planned = run_cli("-u", postgres_db.url, "-d", folder, "plan", "--json")
    assert planned.code == 0, planned.output
    assert json.loads(planned.out)[1]["transactional"] is True
    result = run_cli("-u", postgres_db.url, "-d", folder, "up")
    assert result.code == 1
    assert "cannot run inside a transaction block" in result.err
    assert history_rows(postgres_db) == [("0001", True)]


# ------------------------------------------------------------------ own BEGIN / COMMIT

OWN_TRANSACTION_OK = (
    "CREATE TABLE outside_tx (xid BIGINT);\n"
    "INSERT INTO outside_tx SELECT txid_current();\n"
    "BEGIN;\n"
    "CREATE TABLE inside_tx (xid BIGINT);\n"
    "INSERT INTO inside_tx SELECT txid_current();\n"
    "INSERT INTO inside_tx SELECT txid_current();\n"
    "COMMIT;\n"
)


def test_a_file_with_its_own_transaction_applies_once_in_that_transaction(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", {"0001_own.sql": OWN_TRANSACTION_OK})
    planned = run_cli("-u", postgres_db.url, "-d", folder, "plan", "--json")
    assert json.loads(planned.out)[0]["transaction_note"] == (
        "manages its own transaction (BEGIN at line 3), so it runs as written"
    )
    result = run_cli("-u", postgres_db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    outside = postgres_db.query("SELECT xid FROM outside_tx")
    inside = postgres_db.query("SELECT DISTINCT xid FROM inside_tx")
    # The two statements between BEGIN and COMMIT shared one transaction; the statements
    # before BEGIN ran in another (migrata did not wrap the file in a transaction of its own,
    # where BEGIN would only warn "there is already a transaction in progress").
    assert len(inside) == 1
    assert outside[0][0] != inside[0][0]
    assert history_rows(postgres_db) == [("0001", True)]
    assert [e for v, e in audit_events(postgres_db)].count("applied") == 1
    again = run_cli("-u", postgres_db.url, "-d", folder, "up")
    assert again.code == 0, again.output
    assert postgres_db.query("SELECT count(*) FROM inside_tx") == [(2,)]
    assert states(run_cli, postgres_db, folder)["0001"]["state"] == "applied"


OWN_TRANSACTION_BROKEN = (
    "CREATE TABLE before_tx (a INTEGER);\n"  # 1: runs on its own, stays
    "BEGIN;\n"  # 2
    "CREATE TABLE in_tx (a INTEGER);\n"  # 3: rolled back with the failure
    "INSERT INTO in_tx (a) VALUES (1);\n"  # 4
    "INSERT INTO no_such_table (a) VALUES (1);\n"  # 5: fails
    "COMMIT;\n"  # 6
)
#: The same where DDL commits implicitly (MySQL/MariaDB): a CREATE TABLE inside the file's
#: transaction would commit it, so the table is made before the BEGIN and the transaction is
#: data only.
OWN_TRANSACTION_BROKEN_DATA = (
    "CREATE TABLE before_tx (a INTEGER);\n"  # 1: runs on its own, stays
    "CREATE TABLE in_tx (a INTEGER);\n"  # 2: runs on its own, stays
    "BEGIN;\n"  # 3
    "INSERT INTO in_tx (a) VALUES (1);\n"  # 4: rolled back with the failure
    "INSERT INTO no_such_table (a) VALUES (1);\n"  # 5: fails
    "COMMIT;\n"  # 6
)


def test_a_failure_inside_the_files_transaction_rolls_it_back(
    run_cli, db: Database, tmp_path: Path
) -> None:
    """Where there are no transactions (ClickHouse) the file's own BEGIN is what fails (the
    server knows no such statement): the statements before it stay, the migration is failed
    at statement 3 of 6, and ``up`` refuses until it is resolved."""
    own = OWN_TRANSACTION_BROKEN if db.transactional_ddl else OWN_TRANSACTION_BROKEN_DATA
    files = {
        "0001_base.sql": "CREATE TABLE base (a INTEGER);\n",
        "0002_own.sql": own,
        "0003_after.sql": "CREATE TABLE after_t (a INTEGER);\n",
    }
    failing = 5 if db.transactional else 3  # ClickHouse: the BEGIN
    folder = write_migrations(tmp_path / "migrations", files)
    result = run_cli("-u", db.url, "-d", folder, "up")
    assert result.code == 1, result.output
    assert f"{folder / '0002_own.sql'}:{failing}:" in result.err
    assert f"statement {failing} of 6" in result.err
    if not db.transactional:
        assert "BEGIN" in result.err
    assert db.table_exists("base")
    assert db.table_exists("before_tx")  # ran before the file's BEGIN
    if db.transactional_ddl:
        assert not db.table_exists("in_tx")  # inside the file's transaction: rolled back
    else:
        # The INSERT: rolled back (ClickHouse: never ran, the BEGIN before it failed).
        assert db.query("SELECT COUNT(*) FROM in_tx") == [(0,)]
    assert not db.table_exists("after_t")
    found = states(run_cli, db, folder)
    assert found["0002"]["state"] == "failed"
    done = failing - 1
    assert (found["0002"]["statements_done"], found["0002"]["statements_total"]) == (done, 6)
    assert found["0003"]["state"] == "pending"
    text = run_cli("-u", db.url, "-d", folder, "status")
    assert f"at statement {failing} of 6" in text.out
    blocked = run_cli("-u", db.url, "-d", folder, "up")
    assert blocked.code == 3
    assert "resolve 0002" in blocked.err

    resolved = run_cli("-u", db.url, "-d", folder, "resolve", "0002", "--rolled-back")
    assert resolved.code == 0, resolved.output
    fixed = own.replace("CREATE TABLE before_tx", "CREATE TABLE IF NOT EXISTS before_tx")
    if not db.transactional_ddl:  # in_tx was made before the BEGIN, and stays
        fixed = fixed.replace("CREATE TABLE in_tx", "CREATE TABLE IF NOT EXISTS in_tx")
    fixed = fixed.replace("no_such_table", "in_tx")
    if not db.transactional:  # no transaction to manage: the file's own goes
        fixed = fixed.replace("BEGIN;\n", "").replace("COMMIT;\n", "")
    (folder / "0002_own.sql").write_text(fixed, encoding="utf-8")
    again = run_cli("-u", db.url, "-d", folder, "up")
    assert again.code == 0, again.output
    assert db.query("SELECT a FROM in_tx ORDER BY a") == [(1,), (1,)]
    assert db.table_exists("after_t")
    final = states(run_cli, db, folder)
    assert {v: m["state"] for v, m in final.items()} == {
        "0001": "applied",
        "0002": "applied",
        "0003": "applied",
    }
    assert history_rows(db) == [("0001", True), ("0002", True), ("0003", True)]


def test_a_sqlite_file_with_its_own_transaction_applies(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    # Wrapped in migrata's transaction, SQLite would refuse the BEGIN outright.
    text = (
        "CREATE TABLE a (x INTEGER);\n"
        "BEGIN IMMEDIATE;\n"
        "CREATE TABLE b (x INTEGER);\n"
        "INSERT INTO b (x) VALUES (1);\n"
        "COMMIT;\n"
    )
    folder = write_migrations(tmp_path / "migrations", {"0001_own.sql": text})
    result = run_cli("-u", sqlite_db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    assert sqlite_db.query("SELECT x FROM b") == [(1,)]
    assert history_rows(sqlite_db) == [("0001", 1)]
    assert states(run_cli, sqlite_db, folder)["0001"]["state"] == "applied"


# ------------------------------------------------------------------ --single-transaction

REFUSED_IN_ONE_TRANSACTION = {
    "postgresql": "CREATE INDEX CONCURRENTLY first_a ON first (a);\n",
    "sqlite": "PRAGMA foreign_keys = OFF;\nCREATE TABLE second (a INTEGER);\n",
    "mysql": "ALTER TABLE first ADD COLUMN b INTEGER;\n",  # DDL commits implicitly
    "clickhouse": "ALTER TABLE first ADD COLUMN b INTEGER;\n",  # no transactions at all
}
OWN_TRANSACTION = "BEGIN;\nCREATE TABLE second (a INTEGER);\nCOMMIT;\n"
#: Where DDL commits implicitly, that would be the reason given: the file's transaction is
#: data only there.
OWN_TRANSACTION_DATA = "BEGIN;\nINSERT INTO first (a) VALUES (1);\nCOMMIT;\n"
#: Without transactions (ClickHouse) a file has none to manage (the server refuses BEGIN):
#: a data-only file stands in for it, refused all the same.
NO_TRANSACTION_DATA = "INSERT INTO first (a) VALUES (1);\n"
#: Why each migration is refused where there are no transactions.
NO_TRANSACTION_NOTE = "ClickHouse has no transactions, so this migration runs statement by"
#: Why 0002_second cannot be part of the one transaction.
REFUSAL_NOTE = {
    ("postgresql", "refused statement"): "CREATE INDEX CONCURRENTLY (line 1) cannot run inside",
    ("sqlite", "refused statement"): "PRAGMA FOREIGN_KEYS (line 1) cannot run inside",
    ("mysql", "refused statement"): "ALTER TABLE (line 1) commits implicitly on MySQL/MariaDB",
    **{
        (engine, "own transaction"): "manages its own transaction (BEGIN at line 1)"
        for engine in ("postgresql", "sqlite", "mysql")
    },
    ("clickhouse", "refused statement"): NO_TRANSACTION_NOTE,
    ("clickhouse", "own transaction"): NO_TRANSACTION_NOTE,
}


@pytest.mark.parametrize("kind", ["refused statement", "own transaction"])
def test_single_transaction_is_refused_before_anything_runs(
    run_cli, db: Database, tmp_path: Path, kind: str
) -> None:
    if kind == "refused statement":
        second = REFUSED_IN_ONE_TRANSACTION[db.engine]
    elif not db.transactional:
        second = NO_TRANSACTION_DATA
    else:
        second = OWN_TRANSACTION if db.transactional_ddl else OWN_TRANSACTION_DATA
    files = {
        "0001_first.sql": "CREATE TABLE first (a INTEGER);\n",
        "0002_second.sql": second,
        "0003_third.sql": "CREATE TABLE third (a INTEGER);\n",
    }
    folder = write_migrations(tmp_path / "migrations", files)
    result = run_cli("-u", db.url, "-d", folder, "up", "--single-transaction")
    assert result.code == 3, result.output
    assert "--single-transaction" in result.err
    refused = dict(re.findall(r"^\s*- (\d{4}_\w+): (.*)$", result.err, re.MULTILINE))
    if db.transactional_ddl:
        assert list(refused) == ["0002_second"]
    elif db.transactional:  # every step with DDL is refused: each would commit on its own
        assert list(refused) == ["0001_first", "0002_second", "0003_third"]
        for name in ("0001_first", "0003_third"):
            assert refused[name].startswith("CREATE TABLE (line 1) commits implicitly")
    else:  # no transactions: every step is refused
        assert list(refused) == ["0001_first", "0002_second", "0003_third"]
        for name in ("0001_first", "0003_third"):
            assert refused[name].startswith(NO_TRANSACTION_NOTE)
    assert refused["0002_second"].startswith(REFUSAL_NOTE[(db.engine, kind)])
    # Nothing ran, and not even the history table was created.
    assert user_tables(db) == set()
    # Without the flag the same folder applies.
    plain = run_cli("-u", db.url, "-d", folder, "up")
    assert plain.code == 0, plain.output
    assert history_rows(db) == [("0001", True), ("0002", True), ("0003", True)]


# ------------------------------------------------------------------ SQLite PRAGMAs

PARENT_CHILD = (
    "PRAGMA foreign_keys = ON;\n"
    "CREATE TABLE parent (id INTEGER PRIMARY KEY, label TEXT);\n"
    "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL "
    "REFERENCES parent (id));\n"
    "INSERT INTO parent (id, label) VALUES (1, 'one');\n"
    "INSERT INTO child (id, parent_id) VALUES (1, 1);\n"
    "CREATE TABLE fk_seen (at TEXT, foreign_keys INTEGER);\n"
    "INSERT INTO fk_seen SELECT 'before', foreign_keys FROM pragma_foreign_keys;\n"
)
# The table rebuild of https://sqlite.org/lang_altertable.html#otheralter: with foreign keys
# on, DROP TABLE parent fails (child rows reference it) and the dangling row is refused.
REBUILD = (
    "PRAGMA foreign_keys = OFF;\n"
    "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, label TEXT NOT NULL DEFAULT '');\n"
    "INSERT INTO parent_new (id, label) SELECT id, coalesce(label, '') FROM parent;\n"
    "DROP TABLE parent;\n"
    "ALTER TABLE parent_new RENAME TO parent;\n"
    "INSERT INTO child (id, parent_id) VALUES (2, 999);\n"
    "INSERT INTO fk_seen SELECT 'rebuild', foreign_keys FROM pragma_foreign_keys;\n"
)


def test_sqlite_pragma_foreign_keys_off_takes_effect_for_a_table_rebuild(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(
        tmp_path / "migrations",
        {"0001_parent_child.sql": PARENT_CHILD, "0002_rebuild.sql": REBUILD},
    )
    planned = run_cli("-u", sqlite_db.url, "-d", folder, "plan", "--json")
    steps = json.loads(planned.out)
    assert [s["transactional"] for s in steps] == [False, False]
    assert steps[1]["transaction_note"] == (
        "PRAGMA FOREIGN_KEYS (line 1) cannot run inside a transaction, so this migration runs "
        "outside one"
    )
    result = run_cli("-u", sqlite_db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    assert sqlite_db.query("SELECT at, foreign_keys FROM fk_seen ORDER BY rowid") == [
        ("before", 1),
        ("rebuild", 0),
    ]
    assert sqlite_db.query("SELECT id, parent_id FROM child ORDER BY id") == [(1, 1), (2, 999)]
    assert (
        sqlite_db.query("SELECT sql FROM sqlite_master WHERE name = 'parent'")[0][0].count(
            "NOT NULL DEFAULT"
        )
        == 1
    )
    assert history_rows(sqlite_db) == [("0001", 1), ("0002", 1)]


def test_sqlite_the_same_rebuild_inside_a_transaction_fails(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    # The control: forced into a transaction, PRAGMA foreign_keys is a no-op, foreign keys
    # stay on and the rebuild is refused, so the test above really proves the PRAGMA ran
    # outside a transaction.
    folder = write_migrations(
        tmp_path / "migrations",
        {
            "0001_parent_child.sql": PARENT_CHILD,
            "0002_rebuild.sql": "-- migrata: transaction\n" + REBUILD,
        },
    )
    result = run_cli("-u", sqlite_db.url, "-d", folder, "up")
    assert result.code == 1, result.output
    assert "FOREIGN KEY constraint failed" in result.err
    assert history_rows(sqlite_db) == [("0001", 1)]
    assert sqlite_db.query("SELECT id, parent_id FROM child") == [(1, 1)]
    assert sqlite_db.query("SELECT at FROM fk_seen") == [("before",)]


def test_sqlite_journal_mode_runs_outside_a_transaction(
    run_cli, sqlite_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(
        tmp_path / "migrations",
        {"0001_wal.sql": "PRAGMA main.journal_mode = WAL;\nCREATE TABLE t (a INTEGER);\n"},
    )
    result = run_cli("-u", sqlite_db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    # journal_mode=WAL is persistent: a new connection sees it.
    assert sqlite_db.query("PRAGMA journal_mode") == [("wal",)]
    assert history_rows(sqlite_db) == [("0001", 1)]


# ------------------------------------------------------------------ empty and comment-only

EMPTY_ONES = {
    "0001_first.sql": "CREATE TABLE first (a INTEGER);\n",
    "0002_empty.sql": "",
    "0003_comments.sql": "-- nothing to do yet\n/* a block\n   comment */\n\n",
    "0004_blank.sql": "\n   \n",
    "0005_last.sql": "CREATE TABLE last_t (a INTEGER);\n",
}


def test_empty_and_comment_only_migrations_are_applied_and_recorded(
    run_cli, db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", EMPTY_ONES)
    result = run_cli("-u", db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    assert history_rows(db) == [(v, True) for v in ("0001", "0002", "0003", "0004", "0005")]
    found = states(run_cli, db, folder)
    assert {v: m["state"] for v, m in found.items()} == {
        v: "applied" for v in ("0001", "0002", "0003", "0004", "0005")
    }
    assert db.table_exists("last_t")
    applied = [v for v, e in audit_events(db) if e == "applied"]
    assert applied == ["0001", "0002", "0003", "0004", "0005"]
    again = run_cli("-u", db.url, "-d", folder, "up")
    assert again.code == 0, again.output
    assert "up to date" in again.out


def test_a_folder_of_only_empty_migrations_is_recorded(db: Database, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "migrations", {"0001_empty.sql": "", "0002_note.sql": "-- later\n"}
    )
    migrator = Migrator(db.url, directory=folder)
    report = migrator.up()
    assert report.versions == ("0001", "0002")
    assert [s.statements for s in report.steps] == [0, 0]
    assert [e.state for e in Migrator(db.url, directory=folder).status()] == [
        State.APPLIED,
        State.APPLIED,
    ]


# ------------------------------------------------------------------ savepoints

# Data only, so that it is one transaction on MySQL/MariaDB too (DDL would commit there).
SAVEPOINTS = (
    "SAVEPOINT before_insert;\n"
    "INSERT INTO sp_t (a) VALUES (1);\n"
    "ROLLBACK TO SAVEPOINT before_insert;\n"
    "INSERT INTO sp_t (a) VALUES (2);\n"
    "RELEASE SAVEPOINT before_insert;\n"
)


def test_a_migration_using_savepoints_applies_in_one_transaction(
    run_cli, db: Database, tmp_path: Path
) -> None:
    """ROLLBACK TO SAVEPOINT does not end a transaction: the file needs migrata's. Without
    transactions (ClickHouse) there is none to give it: the plan says so, and the first
    SAVEPOINT fails (the server knows no such statement) before any row is written."""
    folder = write_migrations(
        tmp_path / "migrations",
        {"0001_table.sql": "CREATE TABLE sp_t (a INTEGER);\n", "0002_savepoints.sql": SAVEPOINTS},
    )
    planned = run_cli("-u", db.url, "-d", folder, "plan", "--json")
    assert planned.code == 0, planned.output
    step = json.loads(planned.out)[1]
    assert step["transactional"] is db.transactional
    if not db.transactional:
        assert step["transaction_note"].startswith(NO_TRANSACTION_NOTE)
        failed = run_cli("-u", db.url, "-d", folder, "up")
        assert failed.code == 1, failed.output
        assert f"{folder / '0002_savepoints.sql'}:1:1" in failed.err
        assert "statement 1 of 5" in failed.err
        assert db.query("SELECT count() FROM sp_t") == [(0,)]
        found = states(run_cli, db, folder)
        assert found["0001"]["state"] == "applied"
        assert found["0002"]["state"] == "failed"
        assert (found["0002"]["statements_done"], found["0002"]["statements_total"]) == (0, 5)
        assert run_cli("-u", db.url, "-d", folder, "up").code == 3
        return
    result = run_cli("-u", db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    assert db.query("SELECT a FROM sp_t") == [(2,)]
    assert history_rows(db) == [("0001", True), ("0002", True)]
    planned = run_cli("-u", db.url, "-d", folder, "plan", "--json")
    assert planned.code == 0, planned.output
    assert json.loads(planned.out) == []
    steps = run_cli("-u", db.url, "-d", folder, "up", "--json")
    assert steps.code == 0, steps.output
    assert json.loads(steps.out)["steps"] == []
    # It ran in one transaction: no "started" event, as statement-by-statement runs write.
    assert [e for v, e in audit_events(db) if v == "0002"] == ["applied"]


def test_a_statement_that_moves_the_history_away_stops_the_run_with_a_clear_error(
    run_cli, db: Database, tmp_path: Path
) -> None:
    # Outside a transaction each statement is recorded as it completes; when that record
    # cannot be written the run stops there, naming the file, what ran and the next step.
    rename = (
        "RENAME TABLE migrata_history TO stolen_history"
        if db.engine == "clickhouse"
        else "ALTER TABLE migrata_history RENAME TO stolen_history"
    )
    files = {
        "0001_base.sql": "CREATE TABLE base (a INTEGER);\n",
        "0002_rename.sql": (
            f"-- migrata: no-transaction\n{rename};\nCREATE TABLE never_made (a INTEGER);\n"
        ),
    }
    folder = write_migrations(tmp_path / "migrations", files)
    result = run_cli("-u", db.url, "-d", folder, "up")
    assert result.code == 1, result.output
    assert str(folder / "0002_rename.sql") in result.err
    assert "statement 1 of 2 ran, but recording that in the history failed" in result.err
    assert "migrata resolve 0002 --applied" in result.err
    assert "Traceback" not in result.err
    assert db.table_exists("stolen_history")
    assert not db.table_exists("never_made")
