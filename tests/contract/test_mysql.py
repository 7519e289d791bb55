"""What is particular to MySQL/MariaDB, on the real server: DDL that commits implicitly and the
failure-and-resume flow it needs, data-only migrations in one transaction, routines and
triggers with and without DELIMITER, GET_LOCK naming its holder, the server's error codes,
borrowed connections, and round trips."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import Database, write_migrations
from migrata import Migrator
from migrata.errors import LockTimeout, MigrationFailed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_support import clean_cli_state, run_cli  # noqa: F401

FOUR_DDL = {
    "0001_items.sql": "CREATE TABLE items (id INTEGER PRIMARY KEY, sku VARCHAR(20) NOT NULL);\n",
    "0002_columns.sql": (
        "ALTER TABLE items ADD COLUMN a INTEGER;\n"
        "ALTER TABLE items ADD COLUMN b INTEGER;\n"
        "-- needs the owners table, which nobody created yet\n"
        "ALTER TABLE items ADD COLUMN owner INTEGER,\n"
        "  ADD CONSTRAINT items_owner FOREIGN KEY (owner) REFERENCES owners (id);\n"
        "ALTER TABLE items ADD COLUMN c INTEGER;\n"
    ),
    "0003_after.sql": "CREATE TABLE after_t (id INTEGER PRIMARY KEY);\n",
}


def columns(db: Database, table: str) -> list[str]:
    rows = db.query(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (table,),
    )
    return [r[0] for r in rows]


def status(run_cli, db: Database, folder: Path) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    result = run_cli("-u", db.url, "-d", folder, "status", "--json")
    assert result.code == 0, result.output
    return {m["version"]: m for m in json.loads(result.out)["migrations"]}


def events(db: Database, version: str) -> list[str]:
    rows = db.query(
        "SELECT event FROM migrata_history_audit WHERE version = %s ORDER BY id", (version,)
    )
    return [r[0] for r in rows]


def failed_at_third(run_cli, mysql_db: Database, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    folder = write_migrations(tmp_path / "migrations", FOUR_DDL)
    result = run_cli("-u", mysql_db.url, "-d", folder, "up")
    assert result.code == 1, result.output
    assert f"{folder / '0002_columns.sql'}:4:1: migration 0002 failed [1005]" in result.err
    assert "stopped at statement 3 of 4" in result.err
    assert "migrata up --resume 0002" in result.err
    assert result.err.count("migration 0002 failed") == 1  # printed once, not logged too
    return folder


# ------------------------------------------------------------------ DDL failing halfway


def test_a_ddl_migration_failing_at_its_third_statement_shows_two_of_four_done(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    folder = failed_at_third(run_cli, mysql_db, tmp_path)
    # The first two statements committed implicitly; the third and fourth did not run.
    assert columns(mysql_db, "items") == ["id", "sku", "a", "b"]
    found = status(run_cli, mysql_db, folder)
    assert found["0002"]["state"] == "failed"
    assert (found["0002"]["statements_done"], found["0002"]["statements_total"]) == (2, 4)
    assert found["0003"]["state"] == "pending"
    text = run_cli("-u", mysql_db.url, "-d", folder, "status")
    assert "at statement 3 of 4: [1005]" in text.out
    assert f"statement: {folder / '0002_columns.sql'}:4:1: ALTER TABLE items ADD COLUMN owner" in (
        text.out
    )
    blocked = run_cli("-u", mysql_db.url, "-d", folder, "up")
    assert blocked.code == 3, blocked.output
    assert "migrata resolve 0002 --applied" in blocked.err
    assert "migrata up --resume 0002" in blocked.err
    assert not mysql_db.table_exists("after_t")
    assert events(mysql_db, "0002") == ["started", "failed"]


def test_resume_continues_from_the_failed_statement_once_the_cause_is_fixed(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    folder = failed_at_third(run_cli, mysql_db, tmp_path)
    mysql_db.query("CREATE TABLE owners (id INTEGER PRIMARY KEY)")
    resumed = run_cli("-u", mysql_db.url, "-d", folder, "up", "--resume", "0002")
    assert resumed.code == 0, resumed.output
    # Statements 1 and 2 were not run again: ADD COLUMN a twice would have failed.
    assert columns(mysql_db, "items") == ["id", "sku", "a", "b", "owner", "c"]
    assert mysql_db.table_exists("after_t")
    found = status(run_cli, mysql_db, folder)
    assert {v: m["state"] for v, m in found.items()} == {
        "0001": "applied",
        "0002": "applied",
        "0003": "applied",
    }
    assert (found["0002"]["statements_done"], found["0002"]["statements_total"]) == (4, 4)
    assert events(mysql_db, "0002") == ["started", "failed", "resumed", "applied"]
    detail = mysql_db.query(
        "SELECT detail FROM migrata_history_audit WHERE version = '0002' AND event = 'resumed'"
    )
    assert detail == [("up from statement 3 of 4",)]
    again = run_cli("-u", mysql_db.url, "-d", folder, "up")
    assert again.code == 0, again.output
    assert "up to date" in again.output or "nothing" in again.output


def test_resume_with_a_fixed_file_records_the_new_checksum(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    folder = failed_at_third(run_cli, mysql_db, tmp_path)
    path = folder / "0002_columns.sql"
    # The third statement no longer needs the owners table.
    text = path.read_text().replace(
        "  ADD CONSTRAINT items_owner FOREIGN KEY (owner) REFERENCES owners (id);\n",
        "  ADD d INTEGER;\n",
    )
    path.write_text(text, encoding="utf-8")
    resumed = run_cli("-u", mysql_db.url, "-d", folder, "up", "--resume", "0002")
    assert resumed.code == 0, resumed.output
    assert columns(mysql_db, "items") == ["id", "sku", "a", "b", "owner", "d", "c"]
    # The history holds the file as it is now, so nothing reports drift.
    check = run_cli("-u", mysql_db.url, "-d", folder, "validate")
    assert check.code == 0, check.output


def test_resolve_applied_after_finishing_by_hand(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    folder = failed_at_third(run_cli, mysql_db, tmp_path)
    mysql_db.query("ALTER TABLE items ADD COLUMN owner INTEGER")
    mysql_db.query("ALTER TABLE items ADD COLUMN c INTEGER")
    resolved = run_cli("-u", mysql_db.url, "-d", folder, "resolve", "0002", "--applied")
    assert resolved.code == 0, resolved.output
    up = run_cli("-u", mysql_db.url, "-d", folder, "up")
    assert up.code == 0, up.output
    assert columns(mysql_db, "items") == ["id", "sku", "a", "b", "owner", "c"]
    assert mysql_db.table_exists("after_t")
    assert events(mysql_db, "0002")[:2] == ["started", "failed"]
    assert len(events(mysql_db, "0002")) == 3
    assert status(run_cli, mysql_db, folder)["0002"]["state"] == "applied"


def test_resolve_rolled_back_after_undoing_by_hand_runs_it_all_again(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    folder = failed_at_third(run_cli, mysql_db, tmp_path)
    mysql_db.query("ALTER TABLE items DROP COLUMN a, DROP COLUMN b")
    resolved = run_cli("-u", mysql_db.url, "-d", folder, "resolve", "0002", "--rolled-back")
    assert resolved.code == 0, resolved.output
    assert status(run_cli, mysql_db, folder)["0002"]["state"] == "pending"
    mysql_db.query("CREATE TABLE owners (id INTEGER PRIMARY KEY)")
    up = run_cli("-u", mysql_db.url, "-d", folder, "up")
    assert up.code == 0, up.output
    assert columns(mysql_db, "items") == ["id", "sku", "a", "b", "owner", "c"]
    assert events(mysql_db, "0002")[-2:] == ["started", "applied"]


def test_resume_of_a_migration_that_did_not_fail_changes_nothing(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(
        tmp_path / "migrations", {"0001_items.sql": FOUR_DDL["0001_items.sql"]}
    )
    result = run_cli("-u", mysql_db.url, "-d", folder, "up", "--resume", "0001")
    assert result.code == 3, result.output
    assert "cannot resume 0001: it has no failed run to continue" in result.err
    assert not mysql_db.table_exists("items")


def test_resume_refuses_a_file_that_now_has_fewer_statements_than_were_done(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    folder = failed_at_third(run_cli, mysql_db, tmp_path)
    (folder / "0002_columns.sql").write_text("ALTER TABLE items ADD COLUMN a INTEGER;\n")
    result = run_cli("-u", mysql_db.url, "-d", folder, "up", "--resume", "0002")
    assert result.code == 3, result.output
    assert "2 of its statements are recorded as done" in result.err
    assert "now has 1" in result.err
    assert status(run_cli, mysql_db, folder)["0002"]["state"] == "failed"


def test_resume_from_the_library(mysql_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "migrations", FOUR_DDL)
    with pytest.raises(MigrationFailed) as failed:
        Migrator(mysql_db.url, directory=folder).up()
    assert (failed.value.statement_index, failed.value.statement_count) == (3, 4)
    assert failed.value.sqlstate == "1005"
    mysql_db.query("CREATE TABLE owners (id INTEGER PRIMARY KEY)")
    report = Migrator(mysql_db.url, directory=folder).up(resume="0002")
    assert [s.version for s in report.steps] == ["0002", "0003"]


# ------------------------------------------------------------------ data-only migrations


def test_a_data_only_migration_runs_in_one_transaction_and_rolls_back(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    files = {
        "0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR(10));\n",
        "0002_rows.sql": (
            "INSERT INTO t VALUES (1, 'one');\n"
            "UPDATE t SET v = 'uno' WHERE id = 1;\n"
            "INSERT INTO t VALUES (1, 'again');\n"
        ),
    }
    folder = write_migrations(tmp_path / "migrations", files)
    plan = run_cli("-u", mysql_db.url, "-d", folder, "plan")
    assert "0002_rows" in plan.out and "in one transaction" in plan.out
    result = run_cli("-u", mysql_db.url, "-d", folder, "up")
    assert result.code == 1, result.output
    assert f"{folder / '0002_rows.sql'}:3:1: migration 0002 failed [1062]" in result.err
    assert "Duplicate entry" in result.err
    assert "it was rolled back" in result.err
    assert mysql_db.query("SELECT COUNT(*) FROM t") == [(0,)]
    found = status(run_cli, mysql_db, folder)
    assert found["0001"]["state"] == "applied"
    assert found["0002"]["state"] == "pending"  # no failed row: nothing of it remains
    (folder / "0002_rows.sql").write_text(
        "INSERT INTO t VALUES (1, 'one');\nUPDATE t SET v = 'uno' WHERE id = 1;\n"
    )
    again = run_cli("-u", mysql_db.url, "-d", folder, "up")
    assert again.code == 0, again.output
    assert mysql_db.query("SELECT id, v FROM t") == [(1, "uno")]
    assert events(mysql_db, "0002") == ["failed", "applied"]


def test_plan_says_which_statement_commits_implicitly(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", FOUR_DDL)
    plan = run_cli("-u", mysql_db.url, "-d", folder, "plan")
    assert plan.code == 0, plan.output
    assert (
        "ALTER TABLE (line 1) commits implicitly on MySQL/MariaDB, so this migration runs "
        "statement by statement" in plan.out
    )


def test_single_transaction_is_refused_for_ddl_before_anything_runs(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", FOUR_DDL)
    result = run_cli("-u", mysql_db.url, "-d", folder, "up", "--single-transaction")
    assert result.code == 3, result.output
    assert "commits implicitly" in result.err
    assert not mysql_db.table_exists("items")
    assert not mysql_db.table_exists("migrata_history")


# ------------------------------------------------------------------ routines and triggers

WITH_DELIMITER = """\
CREATE TABLE counters (name VARCHAR(20) PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE log (id INTEGER AUTO_INCREMENT PRIMARY KEY, what VARCHAR(50));

DELIMITER $$
CREATE PROCEDURE bump(IN which VARCHAR(20))
BEGIN
  -- a comment; with a semicolon
  INSERT INTO counters VALUES (which, 1) ON DUPLICATE KEY UPDATE n = n + 1;
  IF (SELECT n FROM counters WHERE name = which) > 1 THEN
    INSERT INTO log (what) VALUES (CONCAT('again: ', which));
  END IF;
END$$

CREATE FUNCTION twice(x INTEGER) RETURNS INTEGER DETERMINISTIC
BEGIN
  RETURN x * 2;
END $$
DELIMITER ;

CREATE TRIGGER counters_ai AFTER INSERT ON counters FOR EACH ROW
  INSERT INTO log (what) VALUES (CONCAT('new: ', NEW.name));
"""

WITHOUT_DELIMITER = """\
CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL, status VARCHAR(10));

CREATE TRIGGER accounts_bu BEFORE UPDATE ON accounts FOR EACH ROW
BEGIN
  IF NEW.balance < 0 THEN
    SET NEW.status = 'overdrawn';
  ELSEIF NEW.balance = 0 THEN
    SET NEW.status = 'empty';
  ELSE
    SET NEW.status = CASE WHEN NEW.balance > 1000 THEN 'rich' ELSE 'ok' END;
  END IF;
END;

CREATE PROCEDURE fill(IN k INTEGER)
BEGIN
  DECLARE i INTEGER DEFAULT 0;
  fill_loop: LOOP
    SET i = i + 1;
    INSERT INTO accounts VALUES (i, IF(i > 1, i * 600, 0), 'new');
    IF i >= k THEN
      LEAVE fill_loop;
    END IF;
  END LOOP fill_loop;
END;

CREATE FUNCTION total() RETURNS INTEGER READS SQL DATA
BEGIN
  DECLARE s INTEGER;
  SELECT SUM(balance) INTO s FROM accounts;
  RETURN s;
END;
"""


def test_routines_and_a_trigger_written_with_delimiter_apply_and_work(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", {"0001_routines.sql": WITH_DELIMITER})
    result = run_cli("-u", mysql_db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    assert "5 statement(s)" in result.out
    conn = mysql_db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("CALL bump('a')")
            cur.execute("CALL bump('a')")
            cur.execute("SELECT twice(21)")
            assert cur.fetchall() == ((42,),)
    finally:
        conn.close()
    assert mysql_db.query("SELECT n FROM counters") == [(2,)]
    assert mysql_db.query("SELECT what FROM log ORDER BY id") == [("new: a",), ("again: a",)]


def test_routines_and_a_trigger_without_delimiter_apply_and_work(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", {"0001_routines.sql": WITHOUT_DELIMITER})
    result = run_cli("-u", mysql_db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    assert "4 statement(s)" in result.out
    conn = mysql_db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("CALL fill(3)")
            cur.execute("UPDATE accounts SET balance = balance - 1300 WHERE id = 3")
            cur.execute("UPDATE accounts SET balance = 2000 WHERE id = 2")
            cur.execute("UPDATE accounts SET balance = 0 WHERE id = 1")
            cur.execute("SELECT total()")
            assert cur.fetchall() == ((2500,),)
    finally:
        conn.close()
    assert mysql_db.query("SELECT id, balance, status FROM accounts ORDER BY id") == [
        (1, 0, "empty"),
        (2, 2000, "rich"),
        (3, 500, "ok"),
    ]


def test_a_migration_calling_a_procedure_runs_and_is_recorded(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    files = {
        "0001_routines.sql": WITHOUT_DELIMITER,
        "0002_seed.sql": "CALL fill(2);\nUPDATE accounts SET balance = 5 WHERE id = 1;\n",
    }
    folder = write_migrations(tmp_path / "migrations", files)
    plan = run_cli("-u", mysql_db.url, "-d", folder, "plan")
    assert "CALL (line 1) commits implicitly" in plan.out  # the procedure might
    result = run_cli("-u", mysql_db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    assert mysql_db.query("SELECT id, balance, status FROM accounts ORDER BY id") == [
        (1, 5, "ok"),  # the trigger of the first migration saw the update
        (2, 1200, "new"),
    ]


def test_a_syntax_error_points_at_the_line_inside_the_statement(
    run_cli, mysql_db: Database, tmp_path: Path
) -> None:
    files = {
        "0001_bad.sql": (
            "CREATE TABLE ok_t (id INTEGER PRIMARY KEY);\n"
            "CREATE TABLE bad_t (\n"
            "  id INTEGER PRIMARY KEY,\n"
            "  name VARCHAR(10) NOT NULL DEFAULT,\n"
            "  other INTEGER\n"
            ");\n"
        )
    }
    folder = write_migrations(tmp_path / "migrations", files)
    result = run_cli("-u", mysql_db.url, "-d", folder, "up")
    assert result.code == 1, result.output
    assert f"{folder / '0001_bad.sql'}:4:" in result.err
    assert "[1064]" in result.err
    assert "at line 3" in result.err


# ------------------------------------------------------------------ the lock


def test_lock_timeout_names_the_holders_connection_id(mysql_db: Database, tmp_path: Path) -> None:
    from migrata.backends.mysql.connection import lock_name

    folder = write_migrations(tmp_path / "migrations", {"0001_t.sql": "CREATE TABLE t (a INT);\n"})
    database = mysql_db.url.rsplit("/", 1)[1]
    holder = mysql_db.connect()
    try:
        with holder.cursor() as cur:
            cur.execute(
                "SELECT GET_LOCK(%s, 0), CONNECTION_ID()",
                (lock_name("migrata:.migrata_history", database),),
            )
            acquired, connection_id = cur.fetchone()
        assert acquired == 1
        with pytest.raises(LockTimeout) as timeout:
            Migrator(mysql_db.url, directory=folder, lock_timeout=0.3).up()
        assert f"connection id {connection_id}" in str(timeout.value)
        assert f"user {mysql_db.user}@" in str(timeout.value)
        assert not mysql_db.table_exists("t")
    finally:
        holder.close()
    Migrator(mysql_db.url, directory=folder, lock_timeout=2).up()
    assert mysql_db.table_exists("t")


def test_the_lock_of_one_database_does_not_block_another(
    mysql_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "migrations", {"0001_t.sql": "CREATE TABLE t (a INT);\n"})
    other = f"migrata_t_{uuid.uuid4().hex[:12]}"
    mysql_db.query(f"CREATE DATABASE `{other}`")
    try:
        from migrata.backends.mysql.connection import lock_name

        database = mysql_db.url.rsplit("/", 1)[1]
        holder = mysql_db.connect()
        try:
            with holder.cursor() as cur:
                cur.execute(
                    "SELECT GET_LOCK(%s, 0)", (lock_name("migrata:.migrata_history", database),)
                )
            other_url = mysql_db.url.rsplit("/", 1)[0] + "/" + other
            Migrator(other_url, directory=folder, lock_timeout=0.5).up()
        finally:
            holder.close()
        assert mysql_db.query(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
            "AND TABLE_NAME = 't'",
            (other,),
        ) == [(1,)]
    finally:
        mysql_db.query(f"DROP DATABASE IF EXISTS `{other}`")


# ------------------------------------------------------------------ secrets and connections


def test_a_sentinel_password_never_appears(run_cli, mysql_db: Database, tmp_path: Path) -> None:
    sentinel = "Sntnl-pw-" + uuid.uuid4().hex[:8]
    user = "mt_" + uuid.uuid4().hex[:8]
    database = mysql_db.url.rsplit("/", 1)[1]
    mysql_db.query(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{sentinel}'")
    try:
        mysql_db.query(f"GRANT ALL ON `{database}`.* TO '{user}'@'127.0.0.1'")
        port = urlsplit(mysql_db.url).port or 3306
        url = f"mysql://{user}:{sentinel}@127.0.0.1:{port}/{database}"
        folder = write_migrations(
            tmp_path / "migrations",
            {
                "0001_t.sql": "CREATE TABLE t (a INT);\n",
                "0002_bad.sql": "INSERT INTO nowhere VALUES (1);\n",
            },
        )
        outputs = [
            run_cli("-vv", "-u", url, "-d", folder, "up"),
            run_cli("-u", url, "-d", folder, "status"),
            run_cli("-u", url, "-d", folder, "status", "--json"),
            run_cli("-u", url.replace(sentinel, sentinel + "x"), "-d", folder, "status"),
        ]
        assert outputs[0].code == 1
        assert outputs[3].code == 2 and "Access denied" in outputs[3].err
        for result in outputs:
            assert sentinel not in result.output
            assert sentinel not in repr(result.exc)
        stored = mysql_db.query("SELECT error FROM migrata_history")
        assert all(sentinel not in (row[0] or "") for row in stored)
    finally:
        mysql_db.query(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")


def test_a_borrowed_connection_without_multi_statements_works_and_is_restored(
    mysql_db: Database, tmp_path: Path
) -> None:
    import pymysql

    from migrata.backends.mysql.connection import connect_arguments
    from migrata.urls import parse_url

    folder = write_migrations(
        tmp_path / "migrations",
        {
            "0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY);\n",
            "0002_rows.sql": "INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\n",
        },
    )
    conn = pymysql.connect(
        **connect_arguments(parse_url(mysql_db.url)),
        autocommit=False,
        cursorclass=pymysql.cursors.DictCursor,
    )
    try:
        report = Migrator(connection=conn, directory=folder).up()
        assert [s.version for s in report.steps] == ["0001", "0002"]
        assert conn.get_autocommit() is False
        assert conn.open
    finally:
        conn.close()
    assert mysql_db.query("SELECT id FROM t ORDER BY id") == [(1,), (2,)]


def test_round_trips_of_data_only_migrations(mysql_db: Database, tmp_path: Path) -> None:
    """One round trip for all the data-only migrations of a run (each one's statements,
    history row and audit row in its own transaction, all of them in one packet), plus the
    fixed cost of a run."""
    folder = write_migrations(
        tmp_path / "migrations",
        {"0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY);\n"},
    )
    Migrator(mysql_db.url, directory=folder).up()
    for n in range(2, 12):
        (folder / f"{n:04d}_rows.sql").write_text(
            f"INSERT INTO t VALUES ({n});\nUPDATE t SET id = id WHERE id = {n};\n"
        )
    import pymysql
    from pymysql.constants import CLIENT

    from migrata.backends.mysql.connection import connect_arguments
    from migrata.urls import parse_url

    conn = pymysql.connect(
        **connect_arguments(parse_url(mysql_db.url)),
        autocommit=True,
        client_flag=CLIENT.MULTI_STATEMENTS,
    )
    sent: list[str] = []
    original = conn.query

    def counting(sql, unbuffered=False):  # type: ignore[no-untyped-def]
        sent.append(sql if isinstance(sql, str) else sql.decode())
        return original(sql, unbuffered)

    conn.query = counting  # type: ignore[method-assign]
    try:
        Migrator(connection=conn, directory=folder).up()
    finally:
        conn.close()
    migrations = [q for q in sent if "INSERT INTO t" in q]
    assert len(migrations) == 1  # one packet for all ten
    assert migrations[0].count("COMMIT") == 10
    assert all(f"INSERT INTO t VALUES ({n})" in migrations[0] for n in range(2, 12))
    # The rest: lock, history read, unlock and the like, whatever the number of migrations;
    # a borrowed connection adds two: its session's lock timeouts are read before migrata
    # sets its own, and given back at the end.
    assert len(sent) - len(migrations) <= 7, sent
    assert mysql_db.query("SELECT COUNT(*) FROM t") == [(10,)]


def test_a_ddl_migration_costs_one_round_trip_per_statement(
    mysql_db: Database, tmp_path: Path
) -> None:
    """Each DDL statement travels with the history write after it: the session SQL, the
    "started" row and the first statement share a packet, the "applied" row rides with the
    last."""
    import pymysql
    from pymysql.constants import CLIENT

    from migrata.backends.mysql.connection import connect_arguments
    from migrata.urls import parse_url

    folder = write_migrations(
        tmp_path / "migrations",
        {
            "0001_t.sql": (
                "CREATE TABLE t (id INTEGER PRIMARY KEY);\n"
                "ALTER TABLE t ADD COLUMN a INTEGER;\n"
                "CREATE INDEX t_a ON t (a);\n"
            ),
            "0002_u.sql": "CREATE TABLE u (id INTEGER PRIMARY KEY);\n",
        },
    )
    session = tmp_path / "session.sql"
    session.write_text("SET SESSION FOREIGN_KEY_CHECKS = 1;\n")
    conn = pymysql.connect(
        **connect_arguments(parse_url(mysql_db.url)),
        autocommit=True,
        client_flag=CLIENT.MULTI_STATEMENTS,
    )
    sent: list[str] = []
    original = conn.query

    def counting(sql, unbuffered=False):  # type: ignore[no-untyped-def]
        sent.append(sql if isinstance(sql, str) else sql.decode())
        return original(sql, unbuffered)

    conn.query = counting  # type: ignore[method-assign]
    try:
        Migrator(connection=conn, directory=folder, session_sql_file=str(session)).up()
    finally:
        conn.close()
    ddl = [q for q in sent if "TABLE t" in q or "TABLE u" in q or "INDEX t_a" in q]
    assert len(ddl) == 4, sent
    first, _, last = ddl[:3]
    assert "FOREIGN_KEY_CHECKS" in first and "'started'" in first
    assert "'applied'" in last and "COMMIT" in last
    assert "'started'" in ddl[3] and "'applied'" in ddl[3]  # a one-statement migration: one packet
    # (two of the rest are the borrowed connection's lock timeouts, read and given back)
    assert len(sent) - len(ddl) <= 8, sent
    rows = mysql_db.query(
        "SELECT version, success, statements_done, execution_ms IS NOT NULL FROM migrata_history "
        "ORDER BY version"
    )
    assert rows == [("0001", 1, 3, 1), ("0002", 1, 1, 1)]
