"""Helpers shared by the contract tests that need more than the fixtures give."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit


@contextmanager
def extra_postgres_database(like_url: str) -> Iterator[str]:
    """A second fresh database on the server of ``like_url`` (dropped afterwards)."""
    import psycopg

    parts = urlsplit(like_url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    name = f"migrata_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(parts._replace(path="/" + name))
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def extra_mysql_database(like_url: str) -> Iterator[str]:
    """A second fresh database on the MariaDB/MySQL server of ``like_url`` (dropped
    afterwards)."""
    parts = urlsplit(like_url)
    name = f"migrata_t_{uuid.uuid4().hex[:12]}"
    admin = mysql_connect(like_url)
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        try:
            yield urlunsplit(parts._replace(path="/" + name))
        finally:
            with admin.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.close()


@contextmanager
def extra_clickhouse_database(like_url: str) -> Iterator[str]:
    """A second fresh database in the chdb engine of ``like_url`` (a ``chdb://…?database=``
    URL of this process's folder; dropped afterwards). migrata creates it when it connects."""
    import clickhouse_connect

    folder = like_url.removeprefix("chdb://").partition("?")[0]
    name = f"migrata_t_{uuid.uuid4().hex[:12]}"
    try:
        yield f"chdb://{folder}?database={name}"
    finally:
        admin = clickhouse_connect.get_client(dsn=f"chdb://{folder}")
        admin.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")


@contextmanager
def extra_database(engine: str, like_url: str) -> Iterator[str]:
    """A second fresh database on the server of ``like_url`` ("postgresql", "mysql" or
    "clickhouse": chdb's engine of this process)."""
    make = {
        "mysql": extra_mysql_database,
        "clickhouse": extra_clickhouse_database,
    }.get(engine, extra_postgres_database)
    with make(like_url) as url:
        yield url


def mysql_connect(url: str, *, multi_statements: bool = False, **options: Any) -> Any:
    """A PyMySQL connection (autocommit unless ``options`` say otherwise) to ``url``, with the
    arguments migrata itself would use."""
    import pymysql
    from pymysql.constants import CLIENT

    from migrata.backends.mysql.connection import connect_arguments
    from migrata.urls import parse_url

    options.setdefault("autocommit", True)
    if multi_statements:
        options["client_flag"] = CLIENT.MULTI_STATEMENTS
    return pymysql.connect(**connect_arguments(parse_url(url)), **options)


def run_events(db: Any, event: str, version: str, *, ddl: bool = True) -> list[tuple[str, str]]:
    """The audit events, as ``(event, version)``, that one run of a migration writes.

    On an engine whose DDL is not transactional (MySQL/MariaDB) a migration with DDL runs
    statement by statement, so a "started" event comes before its "applied" (or "reverted")
    one; on an engine without transactions (ClickHouse) every migration does. A data-only
    migration on MySQL, like every migration elsewhere, writes just that event.
    """
    if not db.transactional or (ddl and not db.transactional_ddl):
        return [("started", version), (event, version)]
    return [(event, version)]


def applied_events(db: Any, *versions: str) -> list[tuple[str, str]]:
    """:func:`run_events` of DDL migrations ``versions`` applied one after the other."""
    return [e for v in versions for e in run_events(db, "applied", v)]


def with_port(url: str, port: int) -> str:
    """``url`` pointing at ``127.0.0.1:port`` instead of its own host and port."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{port}"))
