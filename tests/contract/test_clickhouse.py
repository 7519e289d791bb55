"""What is particular to ClickHouse, on a real engine (chdb, in-process): statements sent one at
a time, the append-only history, failure and resume, ON CLUSTER DDL, and the lock."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path

import pytest

from conftest import Database, write_migrations
from migrata import Migrator
from migrata.errors import LockError, MigrationFailed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_support import clean_cli_state, run_cli  # noqa: F401

EVENTS = {
    "0001_events.up.sql": (
        "-- a ; in a comment\n"
        "CREATE TABLE events (\n"
        "  id UInt64,\n"
        "  kind String DEFAULT 'a;b',\n"
        "  note String COMMENT 'semi; colon'\n"
        ") ENGINE = MergeTree ORDER BY id;\n"
        "INSERT INTO events (id, kind, note) VALUES (1, 'x;y', 'it''s; here');\n"
    ),
    "0001_events.down.sql": "DROP TABLE events;\n",
    "0002_columns.sql": (
        "ALTER TABLE events ADD COLUMN a UInt32 DEFAULT 0;\n"
        "ALTER TABLE events ADD COLUMN b UInt32 DEFAULT 0;\n"
        "ALTER TABLE events ADD COLUMN c UInt32 DEFAULT toUInt32(missing_column);\n"
        "ALTER TABLE events ADD COLUMN d UInt32 DEFAULT 0;\n"
    ),
    "0003_view.sql": (
        "CREATE TABLE counts (kind String, n UInt64) ENGINE = SummingMergeTree ORDER BY kind;\n"
        "CREATE MATERIALIZED VIEW counts_mv TO counts AS\n"
        "  SELECT kind, count() AS n FROM events GROUP BY kind;\n"
    ),
}


def columns(db: Database, table: str) -> list[str]:
    database = db.url.rsplit("database=", 1)[1]
    rows = db.query(
        "SELECT name FROM system.columns WHERE database = %s AND table = %s ORDER BY position",
        (database, table),
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


def test_statements_go_one_at_a_time_and_strings_keep_their_semicolons(
    run_cli, clickhouse_db: Database, tmp_path: Path
) -> None:
    files = {k: v for k, v in EVENTS.items() if k.startswith("0001")}
    folder = write_migrations(tmp_path / "m", files)
    plan = run_cli("-u", clickhouse_db.url, "-d", folder, "plan")
    assert plan.code == 0, plan.output
    assert "ClickHouse has no transactions" in plan.out
    result = run_cli("-u", clickhouse_db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    assert "2 statement(s)" in result.out
    assert clickhouse_db.query("SELECT id, kind, note FROM events") == [(1, "x;y", "it's; here")]
    assert clickhouse_db.query(
        "SELECT default_expression, comment FROM system.columns WHERE table = 'events' "
        "AND name IN ('kind', 'note') AND database = currentDatabase() ORDER BY name"
    ) == [("'a;b'", ""), ("", "semi; colon")]
    assert status(run_cli, clickhouse_db, folder)["0001"]["state"] == "applied"
    assert events(clickhouse_db, "0001") == ["started", "applied"]
    again = run_cli("-u", clickhouse_db.url, "-d", folder, "up")
    assert again.code == 0, again.output
    assert events(clickhouse_db, "0001") == ["started", "applied"]


def test_the_history_is_a_replacing_merge_tree_read_newest_first(
    clickhouse_db: Database, tmp_path: Path
) -> None:
    files = {k: v for k, v in EVENTS.items() if k.startswith("0001")}
    folder = write_migrations(tmp_path / "m", files)
    Migrator(clickhouse_db.url, directory=folder).up()
    engine = clickhouse_db.query(
        "SELECT engine FROM system.tables WHERE database = currentDatabase() "
        "AND name LIKE 'migrata_history%' ORDER BY name"
    )
    assert engine == [("ReplacingMergeTree",), ("MergeTree",), ("ReplacingMergeTree",)]
    # Every write appended a row: "started" first, then the applied row wins.
    rows = clickhouse_db.query(
        "SELECT success, statements_done, deleted FROM migrata_history ORDER BY seq"
    )
    assert rows == [(False, 0, 0), (False, 1, 0), (False, 2, 0), (True, 2, 0)]
    clickhouse_db.query("OPTIMIZE TABLE migrata_history FINAL")
    assert Migrator(clickhouse_db.url, directory=folder).applied()[0].success
    # A revert appends a deleted row: the version is pending again, merged or not.
    Migrator(clickhouse_db.url, directory=folder).down()
    assert Migrator(clickhouse_db.url, directory=folder).applied() == ()
    clickhouse_db.query("OPTIMIZE TABLE migrata_history FINAL")
    assert Migrator(clickhouse_db.url, directory=folder).applied() == ()
    assert not clickhouse_db.table_exists("events")
    Migrator(clickhouse_db.url, directory=folder).up()
    assert clickhouse_db.query("SELECT count() FROM events") == [(1,)]


def test_a_failure_at_a_middle_statement_then_resume(
    run_cli, clickhouse_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", EVENTS)
    result = run_cli("-u", clickhouse_db.url, "-d", folder, "up")
    assert result.code == 1, result.output
    assert f"{folder / '0002_columns.sql'}:3:1: migration 0002 failed [47]" in result.err
    assert "missing_column" in result.err
    assert "stopped at statement 3 of 4" in result.err
    assert "migrata up --resume 0002" in result.err
    assert columns(clickhouse_db, "events") == ["id", "kind", "note", "a", "b"]
    found = status(run_cli, clickhouse_db, folder)
    assert found["0002"]["state"] == "failed"
    assert (found["0002"]["statements_done"], found["0002"]["statements_total"]) == (2, 4)
    assert found["0003"]["state"] == "pending"
    blocked = run_cli("-u", clickhouse_db.url, "-d", folder, "up")
    assert blocked.code == 3, blocked.output
    # Fix the third statement and continue from it: a and b are not added twice.
    path = folder / "0002_columns.sql"
    path.write_text(path.read_text().replace("toUInt32(missing_column)", "a + b"))
    resumed = run_cli("-u", clickhouse_db.url, "-d", folder, "up", "--resume", "0002")
    assert resumed.code == 0, resumed.output
    assert columns(clickhouse_db, "events") == ["id", "kind", "note", "a", "b", "c", "d"]
    assert clickhouse_db.table_exists("counts_mv")
    assert events(clickhouse_db, "0002") == ["started", "failed", "resumed", "applied"]
    final = status(run_cli, clickhouse_db, folder)
    assert {v: m["state"] for v, m in final.items()} == {
        "0001": "applied",
        "0002": "applied",
        "0003": "applied",
    }
    validated = run_cli("-u", clickhouse_db.url, "-d", folder, "validate")
    assert validated.code == 0, validated.output


def test_resolve_rolled_back_then_up_runs_it_again(
    run_cli, clickhouse_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(tmp_path / "m", EVENTS)
    assert run_cli("-u", clickhouse_db.url, "-d", folder, "up").code == 1
    clickhouse_db.query("ALTER TABLE events DROP COLUMN a, DROP COLUMN b")
    resolved = run_cli("-u", clickhouse_db.url, "-d", folder, "resolve", "0002", "--rolled-back")
    assert resolved.code == 0, resolved.output
    assert status(run_cli, clickhouse_db, folder)["0002"]["state"] == "pending"
    path = folder / "0002_columns.sql"
    path.write_text(path.read_text().replace("toUInt32(missing_column)", "0"))
    up = run_cli("-u", clickhouse_db.url, "-d", folder, "up")
    assert up.code == 0, up.output
    assert columns(clickhouse_db, "events") == ["id", "kind", "note", "a", "b", "c", "d"]


def test_the_library_reports_the_failed_statement(clickhouse_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", EVENTS)
    with pytest.raises(MigrationFailed) as failed:
        Migrator(clickhouse_db.url, directory=folder).up()
    assert (failed.value.statement_index, failed.value.statement_count) == (3, 4)
    assert failed.value.sqlstate == "47"
    assert failed.value.applied == ("0001",)


def test_single_transaction_is_refused(run_cli, clickhouse_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", EVENTS)
    result = run_cli("-u", clickhouse_db.url, "-d", folder, "up", "--single-transaction")
    assert result.code == 3, result.output
    assert "no transactions" in result.err
    assert not clickhouse_db.table_exists("events")
    assert not clickhouse_db.table_exists("migrata_history")


# ------------------------------------------------------------------ ON CLUSTER


def test_on_cluster_ddl_is_valid_clickhouse(clickhouse_db: Database) -> None:
    """No cluster is reachable here: ClickHouse itself parses and formats the DDL migrata
    would run ON CLUSTER (formatQuery parses without executing)."""
    from migrata.backends.clickhouse.connection import ClickHouseBackend
    from migrata.history import History

    backend = ClickHouseBackend.__new__(ClickHouseBackend)
    backend.database = "app"
    history = History(backend, cluster="events_cluster", schema="app")
    queries = history.create_queries()
    ddl = [q.sql for q in queries if q.sql.startswith("CREATE")]
    assert len(ddl) == 4  # the database and three tables
    for sql in ddl:
        formatted = clickhouse_db.query("SELECT formatQuerySingleLine(%s)", (sql,))[0][0]
        assert "ON CLUSTER events_cluster" in formatted, formatted
    tables = [sql for sql in ddl if sql.startswith("CREATE TABLE")]
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/migrata_history'"
        in (tables[0])
    )
    assert "'{replica}', seq)" in tables[0]
    assert (
        "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/migrata_history_audit'"
        in (tables[1])
    )


def test_the_history_engine_can_be_chosen(clickhouse_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m", {"0001_t.sql": "CREATE TABLE t (a UInt8) ENGINE = Memory;\n"}
    )
    Migrator(
        clickhouse_db.url,
        directory=folder,
        history_engine="ReplacingMergeTree(seq) PARTITION BY service",
    ).up()
    assert clickhouse_db.query(
        "SELECT engine, partition_key FROM system.tables WHERE database = currentDatabase() "
        "AND name = 'migrata_history'"
    ) == [("ReplacingMergeTree", "service")]


def test_cluster_is_refused_on_other_engines(sqlite_db: Database, tmp_path: Path) -> None:
    from migrata.errors import ConfigError

    folder = write_migrations(tmp_path / "m", {"0001_t.sql": "CREATE TABLE t (a INTEGER);\n"})
    with pytest.raises(ConfigError, match="ClickHouse only"):
        Migrator(sqlite_db.url, directory=folder, cluster="c").up()


# ------------------------------------------------------------------ the lock


def test_runs_in_one_process_are_serialised(clickhouse_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            f"{n:04d}_t{n}.sql": f"CREATE TABLE t{n} (a UInt8) ENGINE = Memory;\n"
            for n in range(1, 6)
        },
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            Migrator(clickhouse_db.url, directory=folder, lock_timeout=60).up()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    applied = clickhouse_db.query(
        "SELECT version, count() FROM migrata_history_audit WHERE event = 'applied' "
        "GROUP BY version ORDER BY version"
    )
    assert applied == [(f"{n:04d}", 1) for n in range(1, 6)]


def test_a_held_lock_times_out_naming_this_process(clickhouse_db: Database, tmp_path: Path) -> None:
    from migrata.backends import open_backend
    from migrata.urls import parse_url

    folder = write_migrations(
        tmp_path / "m", {"0001_t.sql": "CREATE TABLE t (a UInt8) ENGINE = Memory;\n"}
    )
    holder = open_backend(parse_url(clickhouse_db.url))
    with (
        holder.lock("migrata:.migrata_history", 1),
        pytest.raises(LockError, match="another run in this process"),
    ):
        Migrator(clickhouse_db.url, directory=folder, lock_timeout=0.2).up()
    Migrator(clickhouse_db.url, directory=folder, lock_timeout=1).up()
    assert clickhouse_db.table_exists("t")


def test_a_server_without_a_lock_warns_and_require_lock_refuses(
    clickhouse_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:  # type: ignore[no-untyped-def]
    """A ClickHouse server offers no lock; the chdb engine stands in for one here."""
    from migrata.backends.clickhouse import connection as clickhouse

    original = clickhouse.ClickHouseBackend.__init__

    def as_server(self, client, *, owned, display_name, path):  # type: ignore[no-untyped-def]
        original(self, client, owned=owned, display_name=display_name, path=None)

    monkeypatch.setattr(clickhouse.ClickHouseBackend, "__init__", as_server)
    folder = write_migrations(
        tmp_path / "m", {"0001_t.sql": "CREATE TABLE t (a UInt8) ENGINE = Memory;\n"}
    )
    from migrata.errors import LockUnavailable

    with pytest.raises(LockUnavailable, match="require_lock=True refuses"):
        Migrator(clickhouse_db.url, directory=folder, require_lock=True).up()
    assert not clickhouse_db.table_exists("t")
    assert not clickhouse_db.table_exists("migrata_history")
    with caplog.at_level(logging.WARNING, logger="migrata"):
        Migrator(clickhouse_db.url, directory=folder).up()
    assert "offers no migration lock" in caplog.text
    assert clickhouse_db.table_exists("t")


def test_require_lock_exits_4_from_the_cli(
    run_cli, clickhouse_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from migrata.backends.clickhouse import connection as clickhouse

    original = clickhouse.ClickHouseBackend.__init__

    def as_server(self, client, *, owned, display_name, path):  # type: ignore[no-untyped-def]
        original(self, client, owned=owned, display_name=display_name, path=None)

    monkeypatch.setattr(clickhouse.ClickHouseBackend, "__init__", as_server)
    folder = write_migrations(
        tmp_path / "m", {"0001_t.sql": "CREATE TABLE t (a UInt8) ENGINE = Memory;\n"}
    )
    result = run_cli("-u", clickhouse_db.url, "-d", folder, "--require-lock", "up")
    assert result.code == 4, result.output
    assert "offers no migration lock" in result.err
    warned = run_cli("-u", clickhouse_db.url, "-d", folder, "up")
    assert warned.code == 0, warned.output
    assert "offers no migration lock" in warned.err


def test_an_unreachable_server_never_shows_the_password(run_cli, tmp_path: Path) -> None:
    sentinel = "Sntnl-ch-5521"
    folder = write_migrations(tmp_path / "m", {"0001_t.sql": "SELECT 1;\n"})
    result = run_cli(
        "-u",
        f"clickhouse://app:{sentinel}@127.0.0.1:1/db",
        "-d",
        folder,
        "--lock-timeout",
        "1",
        "up",
    )
    assert result.code == 2, result.output
    assert "cannot connect to clickhouse://app:***@127.0.0.1:1/db" in result.err
    assert sentinel not in result.output


# ------------------------------------------------------------------ with PostgreSQL, in one run


def both_targets(tmp_path: Path, clickhouse_sql: str) -> Path:
    write_migrations(
        tmp_path / "migrations" / "postgres",
        {
            "0001_orders.sql": "CREATE TABLE orders (id BIGINT PRIMARY KEY, total NUMERIC);\n",
            "0002_seed.sql": "INSERT INTO orders VALUES (1, 9.5);\n",
        },
    )
    write_migrations(
        tmp_path / "migrations" / "clickhouse",
        {
            "0001_events.sql": (
                "CREATE TABLE events (order_id UInt64, kind String) "
                "ENGINE = MergeTree ORDER BY order_id;\n"
            ),
            "0002_more.sql": clickhouse_sql,
        },
    )
    config = tmp_path / "migrata.toml"
    config.write_text(
        "[targets.main]\n"
        'url = "env:DATABASE_URL"\n'
        'dir = "migrations/postgres"\n'
        "\n"
        "[targets.events]\n"
        'url = "env:CLICKHOUSE_URL"\n'
        'dir = "migrations/clickhouse"\n',
        encoding="utf-8",
    )
    return config


def test_one_up_migrates_postgresql_and_clickhouse(
    run_cli, postgres_db: Database, clickhouse_db: Database, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    config = both_targets(tmp_path, "INSERT INTO events VALUES (1, 'paid; in full');\n")
    monkeypatch.setenv("DATABASE_URL", postgres_db.url)
    monkeypatch.setenv("CLICKHOUSE_URL", clickhouse_db.url)
    result = run_cli("--config", config, "up")
    assert result.code == 0, result.output
    assert result.out.index("target main") < result.out.index("target events")
    assert postgres_db.query("SELECT id FROM orders") == [(1,)]
    assert clickhouse_db.query("SELECT order_id, kind FROM events") == [(1, "paid; in full")]
    shown = run_cli("--config", config, "status", "--json")
    assert shown.code == 0, shown.output
    targets = {t["name"]: t for t in json.loads(shown.out)["targets"]}
    assert set(targets) == {"main", "events"}
    for target in targets.values():
        assert [m["state"] for m in target["migrations"]] == ["applied", "applied"]
    again = run_cli("--config", config, "up")
    assert again.code == 0, again.output


def test_a_failure_in_the_clickhouse_target_leaves_postgresql_applied(
    run_cli, postgres_db: Database, clickhouse_db: Database, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    config = both_targets(
        tmp_path, "INSERT INTO events VALUES (1, 'a');\nINSERT INTO nope VALUES (2);\n"
    )
    monkeypatch.setenv("DATABASE_URL", postgres_db.url)
    monkeypatch.setenv("CLICKHOUSE_URL", clickhouse_db.url)
    result = run_cli("--config", config, "up")
    assert result.code == 1, result.output
    assert "events" in result.err and "0002_more.sql:2:1" in result.err
    assert "main" in result.output
    assert postgres_db.query("SELECT id FROM orders") == [(1,)]
    assert clickhouse_db.query("SELECT order_id FROM events") == [(1,)]
    status = run_cli("--config", config, "status", "--json")
    targets = {t["name"]: t for t in json.loads(status.out)["targets"]}
    assert [m["state"] for m in targets["main"]["migrations"]] == ["applied", "applied"]
    assert [m["state"] for m in targets["events"]["migrations"]] == ["applied", "failed"]
    only_main = run_cli("--config", config, "--target", "main", "up")
    assert only_main.code == 0, only_main.output
