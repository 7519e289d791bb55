"""Commits that do not each wait for the disk, proved by crashing a private PostgreSQL cluster
(kill -9 of the server and its backends; never the shared server).

In a run, every migration of a flight but the last commits with ``synchronous_commit = off``:
its COMMIT returns before its WAL is on disk. The last one waits, and since WAL is written in
order, that flushes all before it: ``up`` reports success only once every migration is
durable. A crash in between loses a suffix of the lazily committed migrations, each whole
with its history row, and the next ``up`` applies them again.

The WAL writer of the cluster is stopped (SIGSTOP) before each run: what a lazy commit wrote
then stays in the server's memory until a synchronous commit writes it (a kill -9 loses the
server's memory, not what was handed to the OS, and a running WAL writer hands it over within
milliseconds). A control run shows that such commits are then really lost.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import write_migrations
from migrata import Migrator
from migrata.errors import MigrataError
from pgcluster import Cluster, binaries

pytestmark = pytest.mark.skipif(
    binaries() is None and not __import__("os").environ.get("MIGRATA_REQUIRE_SERVERS"),
    reason="PostgreSQL's server binaries (initdb) are not installed",
)

LAZY_WAL = {"autovacuum": "off"}  # (nothing else that could write the WAL out meanwhile)
N = 20


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT LIKE 'migrata%'"
        ).fetchall()
    return {r[0] for r in rows}


def history(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        if not conn.execute("SELECT to_regclass('migrata_history')").fetchone()[0]:
            return []
        return [r[0] for r in conn.execute("SELECT version FROM migrata_history ORDER BY 1")]


def folder_of(root: Path, count: int, slow: int | None = None) -> Path:
    files = {}
    for n in range(1, count + 1):
        sql = f"CREATE TABLE t{n:02d} (id int PRIMARY KEY, label text);\n"
        sql += f"INSERT INTO t{n:02d} VALUES ({n}, 'x');\n"
        if n == slow:
            sql += "SELECT pg_sleep(60);\n"
        files[f"{n:04d}_t{n:02d}.sql"] = sql
    return write_migrations(root, files)


def test_lazy_commits_are_lost_in_a_crash_here(tmp_path: Path) -> None:
    """The control: on this cluster, transactions committed with synchronous_commit = off
    just before a crash are lost. (Were they not, the next test would prove nothing.)"""
    with Cluster(LAZY_WAL) as cluster:
        cluster.pause("walwriter")
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            for n in range(1, N + 1):
                conn.execute(
                    f"BEGIN; SET LOCAL synchronous_commit = off; "
                    f"CREATE TABLE t{n:02d} (id int); COMMIT"
                )
        cluster.crash()
        cluster.start()
        kept = tables(cluster.url)
        print(f"\nlazily committed before the crash: {N}, kept after it: {len(kept)}")
        assert len(kept) < N / 2
        # What is kept is a prefix: the log is written in order.
        assert kept == {f"t{n:02d}" for n in range(1, len(kept) + 1)}


def test_up_reports_success_only_once_every_migration_is_on_disk(tmp_path: Path) -> None:
    with Cluster(LAZY_WAL) as cluster:
        folder = folder_of(tmp_path / "m", N)
        cluster.pause("walwriter")
        report = Migrator(cluster.url, directory=folder).up()
        assert len(report.steps) == N
        cluster.crash()  # at once: nothing more was written after up() returned
        cluster.start()
        expected = [f"{n:04d}" for n in range(1, N + 1)]
        assert history(cluster.url) == expected
        assert tables(cluster.url) == {f"t{n:02d}" for n in range(1, N + 1)}


def test_a_crash_between_lazy_commits_loses_whole_migrations_and_up_applies_them_again(
    tmp_path: Path,
) -> None:
    with Cluster(LAZY_WAL) as cluster:
        folder = folder_of(tmp_path / "m", N, slow=12)
        cluster.pause("walwriter")
        outcome: list[BaseException | None] = []

        def run() -> None:
            try:
                Migrator(cluster.url, directory=folder).up()
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - inspected below
                outcome.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        with psycopg.connect(cluster.url, autocommit=True) as watcher:
            while not watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "migration 12 never started"
                time.sleep(0.05)
        cluster.crash()  # migrations 1-11 are committed, lazily; 12 is running
        thread.join(30)
        assert outcome and isinstance(outcome[0], MigrataError), outcome
        assert "Traceback" not in str(outcome[0])
        cluster.start()

        kept = history(cluster.url)
        print(f"\nmigrations committed before the crash: 11, kept after it: {len(kept)}")
        # A prefix of whole migrations: each one's table and history row together.
        assert kept == [f"{n:04d}" for n in range(1, len(kept) + 1)]
        assert len(kept) < 11  # lazily committed, in memory only: lost
        assert tables(cluster.url) == {f"t{n:02d}" for n in range(1, len(kept) + 1)}

        (folder / "0012_t12.sql").write_text(
            "CREATE TABLE t12 (id int PRIMARY KEY, label text);\nINSERT INTO t12 VALUES (12, 'x');\n"
        )
        migrator = Migrator(cluster.url, directory=folder)
        migrator.up()
        assert history(cluster.url) == [f"{n:04d}" for n in range(1, N + 1)]
        with psycopg.connect(cluster.url) as conn:
            for n in range(1, N + 1):
                assert conn.execute(f"SELECT count(*) FROM t{n:02d}").fetchone() == (1,)
        applied = [e.version for e in migrator.audit_log() if e.event == "applied"]
        assert sorted(applied) == [f"{n:04d}" for n in range(1, N + 1)]  # each once
