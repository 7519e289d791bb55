"""The pytest plugin, run on generated projects (pytester, in subprocesses): a fresh migrated
database per test on SQLite, PostgreSQL and MariaDB, the template reused or rebuilt, pytest-xdist,
cleanup, and no password in pytest's output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _plugin_support import MIGRATIONS, SERVERS, write_project

from conftest import MYSQL_ADMIN_URL, require_server
from migrata import Migrator
from migrata.testing.fresh import FreshDatabases

pytest_plugins = ["pytester"]


# The generated project's helpers: each engine reached through its driver, not migrata.
INNER_CONFTEST = """
import sqlite3
from urllib.parse import urlsplit


def query(url, sql):
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("sqlite:///", 1)[1], isolation_level=None)
    elif url.startswith("postgresql"):
        import psycopg

        conn = psycopg.connect(url, autocommit=True)
    else:
        import pymysql
        from migrata.backends.mysql.connection import connect_arguments
        from migrata.urls import parse_url

        conn = pymysql.connect(**connect_arguments(parse_url(url)), autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []
    finally:
        conn.close()


def database_name(url):
    return urlsplit(url).path.rsplit("/", 1)[-1]
"""

INNER_TEST = """
import pytest
from conftest import database_name, query


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_fresh(migrata_database_url, migrata_templates, pytestconfig, n):
    url = migrata_database_url
    with open(pytestconfig.rootpath / "seen.txt", "a") as seen:
        seen.write(f"{migrata_templates.template_name} {database_name(url)} {url}\\n")
    # Migrated, with the seed row and nothing another test wrote.
    assert query(url, "SELECT name FROM items ORDER BY id") == [("seeded",)]
    assert len(query(url, "SELECT version FROM migrata_history")) == 2
    query(url, f"INSERT INTO items (id, name) VALUES ({n + 1}, 'written by test {n}')")
    assert len(query(url, "SELECT name FROM items")) == 2
"""


@pytest.fixture(params=list(SERVERS))
def server(request: pytest.FixtureRequest) -> str:
    if request.param != "sqlite":
        require_server(request.param)
    return SERVERS[request.param]


@pytest.fixture
def project(pytester: pytest.Pytester, server: str) -> Iterator[pytest.Pytester]:
    """A project with migrations, the helpers and the tests; its templates are dropped after."""
    write_project(pytester, INNER_CONFTEST, INNER_TEST, "migrata_directory = migrations\n")
    try:
        yield pytester
    finally:
        _templates(pytester, server).drop_templates()


def _templates(pytester: pytest.Pytester, server: str) -> FreshDatabases:
    """The plugin's FreshDatabases for the generated project, as its session builds it."""
    cache = pytester.path / ".pytest_cache" / "d" / "migrata-templates"
    return FreshDatabases(server, directory=pytester.path / "migrations", cache_dir=cache)


def _run(pytester: pytest.Pytester, server: str, *args: str) -> list[list[str]]:
    (pytester.path / "seen.txt").unlink(missing_ok=True)
    result = pytester.runpytest_subprocess("--migrata-url", server, "-p", "no:randomly", *args)
    result.assert_outcomes(passed=4)
    return [line.split(" ", 2) for line in (pytester.path / "seen.txt").read_text().splitlines()]


def _built_at(templates: FreshDatabases) -> list[object]:
    """When each migration of the template was applied: the same values only if the template
    was not built again."""
    return [a.applied_at for a in Migrator(templates.template_url).applied()]


def _exists(server: str, url: str) -> bool:
    """Whether the database of ``url`` (a fresh one) still exists."""
    if server.startswith("sqlite"):
        return Path(url.split("sqlite:///", 1)[1]).exists()
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    return _template_exists(server, name)


def _template_exists(server: str, name: str) -> bool:
    if server.startswith("postgresql"):
        import psycopg

        with psycopg.connect(server, autocommit=True) as conn:
            sql = "SELECT 1 FROM pg_database WHERE datname = %s"
            return conn.execute(sql, (name,)).fetchone() is not None
    from conftest import _mysql_connect

    conn = _mysql_connect(server)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def test_each_test_gets_a_fresh_migrated_database_and_the_template_is_reused_until_a_file_changes(
    project: pytest.Pytester, server: str
) -> None:
    templates = _templates(project, server)
    first = templates.template_name

    seen = _run(project, server)
    assert {template for template, _, _ in seen} == {first}
    assert len({name for _, name, _ in seen}) == 4
    assert not any(_exists(server, url) for _, _, url in seen)  # dropped after each test
    built = _built_at(templates)
    assert len(built) == 2

    # Unchanged files, two workers: the same template, not built again.
    seen = _run(project, server, "-n", "2")
    assert {template for template, _, _ in seen} == {first}
    assert {name.split("_")[2] for _, name, _ in seen} <= {"gw0", "gw1"}
    assert not any(_exists(server, url) for _, _, url in seen)
    assert _built_at(templates) == built

    # A changed file: a new template; the folder's old one is dropped.
    path = project.path / "migrations" / "0001_items.sql"
    path.write_text(path.read_text() + "-- the items of the shop\n")
    changed = _templates(project, server)
    assert changed.template_name != first
    seen = _run(project, server, "-n", "2")
    assert {template for template, _, _ in seen} == {changed.template_name}
    assert _built_at(changed) != built
    if server.startswith("sqlite"):
        assert not list((project.path / ".pytest_cache/d/migrata-templates").glob(first + "*"))
    else:
        assert not _template_exists(server, first)


def test_without_a_url_the_fixture_says_what_to_set(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MIGRATA_TEST_DATABASE_URL", "MIGRATA_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile("def test_it(migrata_database_url):\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--migrata-url*migrata_url*MIGRATA_TEST_DATABASE_URL*"])


def test_a_run_without_the_fixtures_loads_neither_the_engine_nor_a_driver(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        "import sys\n\ndef test_it():\n"
        "    loaded = {'migrata.testing.fresh', 'psycopg', 'pymysql'} & set(sys.modules)\n"
        "    assert loaded == set()\n"
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert (
        "migrata: a fresh migrated database per test"
        in pytester.runpytest_subprocess("--help").stdout.str()
    )


SECRET_TESTS = """
def test_compared(migrata_database_url):
    assert migrata_database_url == "mysql://someone@elsewhere/db"


def test_shown(migrata_database_url):
    assert not migrata_database_url


def test_in_a_message(migrata_database_url):
    raise RuntimeError(f"cannot use {migrata_database_url!r}")
"""


def test_the_password_never_appears_in_pytests_output(pytester: pytest.Pytester) -> None:
    require_server("mysql")
    password = urlsplit(MYSQL_ADMIN_URL).password
    assert password
    folder = pytester.path / "migrations"
    folder.mkdir()
    (folder / "0001_items.sql").write_text(MIGRATIONS["0001_items.sql"])
    pytester.makepyfile(test_secret=SECRET_TESTS)
    templates = FreshDatabases(MYSQL_ADMIN_URL, directory=folder)
    try:
        args = ("--migrata-url", MYSQL_ADMIN_URL, "--migrata-dir", "migrations", "-v")
        result = pytester.runpytest_subprocess(*args, "--tb=long")
        result.assert_outcomes(failed=3)
        output = result.stdout.str() + result.stderr.str()
        assert "mysql://migrata:***@" in output
        assert password not in output

        # A migration that fails while the template is built: the fixture's error.
        (folder / "0002_broken.sql").write_text("CREATE TABLE broken (id INTEGER PRIMARY KEY\n")
        result = pytester.runpytest_subprocess(*args, "--tb=long", "-l")
        result.assert_outcomes(errors=3)
        output = result.stdout.str() + result.stderr.str()
        assert "0002_broken.sql" in output
        assert password not in output
    finally:
        templates.drop_templates()
