"""What the plugin's tests share: the servers they create databases on, and the migrations of
the projects they generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import MYSQL_ADMIN_URL, POSTGRES_ADMIN_URL

#: Where each engine's fresh databases are made (SQLite: beside the template, whatever this
#: names).
SERVERS = {
    "sqlite": "sqlite:///unused.db",
    "postgresql": POSTGRES_ADMIN_URL,
    "mysql": MYSQL_ADMIN_URL,
}

MIGRATIONS = {
    "0001_items.sql": "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(100));\n",
    "0002_seed.sql": "INSERT INTO items (id, name) VALUES (1, 'seeded');\n",
}


def write_project(pytester: pytest.Pytester, conftest: str, tests: str, ini: str) -> Path:
    """A generated project: the migrations, its conftest, its tests and its ini settings
    (``[pytest]`` lines); returns the migrations folder."""
    folder = pytester.path / "migrations"
    folder.mkdir()
    for name, text in MIGRATIONS.items():
        (folder / name).write_text(text)
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_app=tests)
    pytester.makeini("[pytest]\n" + ini)
    return folder
