"""pytest plugin: a fresh, fully migrated database per test (see :mod:`migrata.testing.fresh`).

Registered as the ``pytest11`` entry point ``migrata``. Fixtures: ``migrata_database_url``
(function scope: the URL of a new migrated database, dropped after the test) and
``migrata_templates`` (session scope: the :class:`~migrata.testing.fresh.FreshDatabases`).

Where the server is: ``--migrata-url``, else the ini key ``migrata_url``, else the variable
``MIGRATA_TEST_DATABASE_URL``, else the project's migrata settings (``migrata.toml``,
``[tool.migrata]``, ``MIGRATA_*``). The migrations: ``--migrata-dir``, else the ini key
``migrata_directory``, else the project's migrata settings. A run whose tests take none of the
fixtures does nothing here: migrata is imported when a fixture is first used. How many fresh
databases are made ahead in the background: the ini key ``migrata_ahead`` (default 1, 0: none).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .fresh import FreshDatabases

URL_VARIABLE = "MIGRATA_TEST_DATABASE_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("migrata", "migrata: a fresh migrated database per test")
    group.addoption(
        "--migrata-url",
        dest="migrata_url",
        metavar="URL",
        help=f"Database server for the migrata fixtures (default: ini migrata_url, "
        f"${URL_VARIABLE}, or the project's migrata settings).",
    )
    group.addoption(
        "--migrata-dir",
        dest="migrata_directory",
        metavar="DIR",
        help="Migrations folder for the migrata fixtures (default: ini migrata_directory, or "
        "the project's migrata settings).",
    )
    parser.addini("migrata_url", "Database server URL for the migrata fixtures.")
    parser.addini("migrata_directory", "Migrations folder for the migrata fixtures.")
    parser.addini(
        "migrata_ahead",
        "How many fresh databases the migrata fixtures make ahead, in the background (0: none).",
        default="1",
    )


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: Any, right: Any) -> Any:
    """A comparison with a URL from the fixtures is explained with the URLs redacted (pytest
    would otherwise show the text of both sides, password included)."""
    fresh = sys.modules.get("migrata.testing.fresh")
    if fresh is None or not (
        isinstance(left, fresh.RedactedURL) or isinstance(right, fresh.RedactedURL)
    ):
        return None
    from migrata.urls import redact

    def shown(value: Any) -> str:
        return repr(redact(value)) if isinstance(value, str) else repr(value)

    return [f"{shown(left)} {op} {shown(right)}", "(database URLs shown without their password)"]


def _templates(config: pytest.Config) -> FreshDatabases:
    from migrata.config import load_settings
    from migrata.settings import SPECS

    from .fresh import FreshDatabases

    root = config.rootpath
    settings = load_settings({}, cwd=root)
    url = (
        config.getoption("migrata_url")
        or config.getini("migrata_url")
        or os.environ.get(URL_VARIABLE)
        or settings.connect.database_url
    )
    if not url:
        pytest.fail(
            "the migrata fixtures need a database server: pass --migrata-url, set "
            f"migrata_url in the pytest ini file, set {URL_VARIABLE}, or set the project's "
            "migrata database_url (migrata.toml, [tool.migrata], MIGRATA_DATABASE_URL)",
            pytrace=False,
        )
    directory = config.getoption("migrata_directory") or config.getini("migrata_directory")
    if not directory and not settings.source.package:
        directory = settings.source.directory
    if directory:
        directory = str(root / directory)  # an absolute one stays as it is
    options = {
        name: value
        for name, value in settings.items()
        if SPECS[name].group in ("source", "history", "run")
        and value != SPECS[name].default
        and name not in ("directory", "dump_schema")
    }
    ahead = str(config.getini("migrata_ahead")).strip()
    if not ahead.isdigit():
        pytest.fail(
            f"migrata_ahead must be a whole number (0 or more), not {ahead!r}", pytrace=False
        )
    cache = config.cache.mkdir("migrata-templates") if config.cache is not None else None
    return FreshDatabases(
        str(url), directory=directory or None, cache_dir=cache, ahead=int(ahead), **options
    )


@pytest.fixture(scope="session")
def migrata_templates(pytestconfig: pytest.Config) -> Iterator[FreshDatabases]:
    """The session's :class:`~migrata.testing.fresh.FreshDatabases`: the template is built on
    first use (or reused); at the end, the session waits for the background drops, drops the
    databases still left (used or made ahead) and warns for each it could not drop."""
    with _templates(pytestconfig) as templates:
        yield templates


@pytest.fixture
def migrata_database_url(migrata_templates: FreshDatabases) -> Iterator[str]:
    """The URL of a new database holding what the migrations build (usually made ahead, while
    an earlier test ran), dropped after the test in the background (its ``repr`` hides the
    password)."""
    from migrata.errors import MigrataError

    try:
        url = migrata_templates.create()
    except MigrataError as exc:
        # The message names the file, line and next step; the traceback would only add
        # migrata's own frames (and, under --showlocals, their values).
        pytest.fail(f"migrata could not create a fresh database: {exc}", pytrace=False)
    try:
        yield url
    finally:
        migrata_templates.drop(url)
