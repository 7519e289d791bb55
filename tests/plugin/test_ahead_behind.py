"""Fresh databases made ahead and dropped behind, on SQLite, PostgreSQL and MariaDB: the pool
hands out distinct, fresh, fully migrated databases; drops happen in the background and are all
done when the session ends (after Ctrl-C too); a failed drop is a warning."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from _plugin_support import MIGRATIONS, SERVERS, write_project

from conftest import MYSQL_ADMIN_URL, POSTGRES_ADMIN_URL, _mysql_connect, require_server
from migrata.testing.fresh import FreshDatabases, FreshDatabaseWarning

pytest_plugins = ["pytester"]


# The generated project's helpers: each engine reached through its driver, not migrata.
INNER_CONFTEST = """
import glob
import os
import sqlite3
from urllib.parse import urlsplit


def connect(url):
    if url.startswith("sqlite"):
        return sqlite3.connect(url.split("sqlite:///", 1)[1], isolation_level=None)
    if url.startswith("postgresql"):
        import psycopg

        return psycopg.connect(url, autocommit=True)
    import pymysql
    from migrata.backends.mysql.connection import connect_arguments
    from migrata.urls import parse_url

    return pymysql.connect(**connect_arguments(parse_url(url)), autocommit=True)


def query(url, sql):
    conn = connect(url)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []
    finally:
        conn.close()


def database_name(url):
    return urlsplit(url).path.rsplit("/", 1)[-1].removesuffix(".db")


def count_mine(url):
    '''How many fresh databases of this process exist now (used, made ahead, to drop).'''
    if url.startswith("sqlite"):
        folder = os.path.dirname(url.split("sqlite:///", 1)[1])
        names = [os.path.basename(p)[:-3] for p in glob.glob(folder + "/migrata_test_*.db")]
    elif url.startswith("postgresql"):
        names = [n for (n,) in query(url, "SELECT datname FROM pg_database")]
    else:
        names = [n for (n,) in query(url, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")]
    return sum(1 for n in names if n.startswith("migrata_test_") and n.split("_")[3] == str(os.getpid()))
"""

INNER_TEST = """
import os
import signal
import time

import pytest
from conftest import count_mine, database_name, query


@pytest.mark.parametrize("n", range(6))
def test_fresh(migrata_database_url, pytestconfig, n):
    url = migrata_database_url
    # Migrated, with the seed row and nothing another test wrote.
    assert query(url, "SELECT name FROM items ORDER BY id") == [("seeded",)]
    assert len(query(url, "SELECT version FROM migrata_history")) == 2
    query(url, f"INSERT INTO items (id, name) VALUES ({n + 2}, 'written by test {n}')")
    time.sleep(0.3)  # time for the background to make the next ones
    with open(pytestconfig.rootpath / "seen.txt", "a") as seen:
        seen.write(f"{os.getpid()} {database_name(url)} {count_mine(url)} {url}\\n")
    if os.environ.get("INTERRUPT_AT") == str(n):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C
"""


@pytest.fixture(params=list(SERVERS))
def server(request: pytest.FixtureRequest) -> str:
    if request.param != "sqlite":
        require_server(request.param)
    return SERVERS[request.param]


@pytest.fixture
def project(pytester: pytest.Pytester, server: str) -> Iterator[pytest.Pytester]:
    """A project with migrations, the helpers and the tests, two databases made ahead; its
    templates are dropped after."""
    folder = write_project(pytester, INNER_CONFTEST, INNER_TEST, "migrata_directory = migrations\nmigrata_ahead = 2\n")
    try:
        yield pytester
    finally:
        cache = pytester.path / ".pytest_cache" / "d" / "migrata-templates"
        FreshDatabases(server, directory=folder, cache_dir=cache).drop_templates()


def _run(pytester: pytest.Pytester, server: str, *args: str) -> list[list[str]]:
    (pytester.path / "seen.txt").unlink(missing_ok=True)
    result = pytester.runpytest_subprocess("--migrata-url", server, "-p", "no:randomly", *args)
    if "INTERRUPT_AT" not in os.environ:
        result.assert_outcomes(passed=6)
    return [line.split(" ", 3) for line in (pytester.path / "seen.txt").read_text().splitlines()]


def _left(server: str, seen: list[list[str]]) -> list[str]:
    """The fresh databases of the processes in ``seen`` that still exist."""
    pids = {pid for pid, _, _, _ in seen}
    if server.startswith("sqlite"):
        folders = {os.path.dirname(url.split("sqlite:///", 1)[1]) for _, _, _, url in seen}
        # The folder of fresh databases goes too.
        return [f for f in folders if os.path.exists(f)]
    if server.startswith("postgresql"):
        import psycopg

        with psycopg.connect(server, autocommit=True) as conn:
            names = [n for (n,) in conn.execute("SELECT datname FROM pg_database")]
    else:
        conn = _mysql_connect(server)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
                names = [n for (n,) in cur.fetchall()]
        finally:
            conn.close()
    return [n for n in names if n.startswith("migrata_test_") and n.split("_")[3] in pids]


def test_made_ahead_the_databases_are_distinct_fresh_and_all_dropped_at_the_end(
    project: pytest.Pytester, server: str
) -> None:
    for args in ((), ("-n", "2")):
        seen = _run(project, server, *args)
        assert len(seen) == 6
        assert len({name for _, name, _, _ in seen}) == 6  # each test its own database
        # While a test ran, its process held more than its own database: some made ahead.
        assert max(int(count) for _, _, count, _ in seen) >= 2
        assert _left(server, seen) == []  # none left behind: used, made ahead or queued


def test_after_ctrl_c_no_database_is_left_behind(
    project: pytest.Pytester, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERRUPT_AT", "2")
    seen = _run(project, server)
    assert len(seen) == 3  # the run stopped at the third test
    assert max(int(count) for _, _, count, _ in seen) >= 2
    assert _left(server, seen) == []


def test_a_drop_happens_behind_the_caller_and_close_waits_for_it(tmp_path: Path) -> None:
    """A drop that cannot proceed (a session holds a table lock in the database) does not hold
    up ``drop()``; ``close()`` waits for it to end."""
    require_server("mysql")
    folder = tmp_path / "migrations"
    folder.mkdir()
    for name, text in MIGRATIONS.items():
        (folder / name).write_text(text)
    fresh = FreshDatabases(MYSQL_ADMIN_URL, directory=folder, ahead=0)
    try:
        url = fresh.create()
        name = urlsplit(url).path.rsplit("/", 1)[-1]
        holder = _mysql_connect(url)
        with holder.cursor() as cur:
            cur.execute("LOCK TABLES items READ")
        start = time.monotonic()
        fresh.drop(url)
        assert time.monotonic() - start < 0.5
        time.sleep(0.5)
        assert _mysql_exists(name)  # the drop waits for the lock, in the background
        holder.close()  # the lock goes with the session
        fresh.close()
        assert not _mysql_exists(name)
    finally:
        fresh.close()
        fresh.drop_templates()


def _mysql_exists(name: str) -> bool:
    conn = _mysql_connect(MYSQL_ADMIN_URL)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def test_a_drop_that_fails_is_a_warning_at_close_naming_the_database(tmp_path: Path) -> None:
    """A fresh database whose owner changed cannot be dropped by the user who made it."""
    require_server("postgresql")
    import psycopg

    folder = tmp_path / "migrations"
    folder.mkdir()
    for name, text in MIGRATIONS.items():
        (folder / name).write_text(text)
    role = f"migrata_plain_{os.getpid()}"
    parts = urlsplit(POSTGRES_ADMIN_URL)
    url = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN CREATEDB")
        name = ""
        try:
            fresh = FreshDatabases(url, directory=folder, ahead=1)
            first = fresh.create()
            name = urlsplit(first).path.rsplit("/", 1)[-1]
            admin.execute(f'ALTER DATABASE "{name}" OWNER TO postgres')
            fresh.drop(first)
            fresh.drop(fresh.create())  # a second one, made ahead: dropped without a fuss
            with pytest.warns(FreshDatabaseWarning) as record:
                fresh.close()
            messages = [str(w.message) for w in record]
            assert len(messages) == 1
            assert name in messages[0]
            assert "must be owner" in messages[0]
            assert "drop it by hand" in messages[0]
        finally:
            if name:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            FreshDatabases(POSTGRES_ADMIN_URL, directory=folder).drop_templates()
            admin.execute(f"DROP ROLE {role}")


def test_a_mariadb_copy_holds_tables_keys_rows_views_routines_and_triggers(tmp_path: Path) -> None:
    """Enough tables for the copy to split them over several connections, in an order where
    foreign keys point forward; routines with bodies of several statements."""
    require_server("mysql")
    folder = tmp_path / "migrations"
    folder.mkdir()
    tables = [
        f"CREATE TABLE a{i:02d} (id INTEGER PRIMARY KEY, next_id INTEGER, "
        f"FOREIGN KEY (next_id) REFERENCES a{i + 1:02d} (id));"
        for i in range(39)
    ]
    (folder / "0001_tables.sql").write_text(
        "\n".join(["CREATE TABLE a39 (id INTEGER PRIMARY KEY, next_id INTEGER);", *tables[::-1]])
    )
    (folder / "0002_rest.sql").write_text(
        "INSERT INTO a39 (id) VALUES (1), (2);\n"
        "CREATE TABLE audit (what VARCHAR(20));\n"
        "CREATE VIEW v1 AS SELECT id FROM a39;\n"
        "CREATE VIEW v0 AS SELECT id FROM v1 WHERE id > 1;\n"
        "CREATE FUNCTION twice(x INTEGER) RETURNS INTEGER DETERMINISTIC RETURN x * 2;\n"
        "CREATE PROCEDURE fill() BEGIN INSERT INTO audit VALUES ('one'); "
        "INSERT INTO audit VALUES ('two'); END;\n"
        "CREATE TRIGGER noted AFTER INSERT ON a38 FOR EACH ROW INSERT INTO audit VALUES ('a38');\n"
    )
    with FreshDatabases(MYSQL_ADMIN_URL, directory=folder) as fresh:
        try:
            url = fresh.create()
            conn = _mysql_connect(url)
            try:
                with conn.cursor() as cur:
                    cur.execute(
                        "SELECT COUNT(*) FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME REGEXP '^a[0-9]+$'"
                    )
                    assert cur.fetchone() == (40,)
                    cur.execute("SELECT id FROM v0")
                    assert cur.fetchall() == ((2,),)
                    cur.execute("SELECT twice(21)")
                    assert cur.fetchone() == (42,)
                    cur.execute("CALL fill()")
                    cur.execute("INSERT INTO a38 (id, next_id) VALUES (1, 2)")
                    cur.execute("SELECT what FROM audit ORDER BY what")
                    assert cur.fetchall() == (("a38",), ("one",), ("two",))
                    with pytest.raises(Exception, match="foreign key constraint fails"):
                        cur.execute("INSERT INTO a37 (id, next_id) VALUES (1, 99)")
            finally:
                conn.close()
            fresh.drop(url)
        finally:
            fresh.drop_templates()
