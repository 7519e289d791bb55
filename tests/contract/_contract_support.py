"""Helpers shared by the contract tests that need more than the fixtures give."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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


def with_port(url: str, port: int) -> str:
    """``url`` pointing at ``127.0.0.1:port`` instead of its own host and port."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{port}"))
