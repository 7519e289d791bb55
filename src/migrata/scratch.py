"""A scratch database: created next to the ``dev_url`` database (same server, a new name), or a
temporary file for an engine whose databases are files, and dropped afterwards whatever
happens. migrata may do anything in it; it never touches the database ``dev_url`` names."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import provision
from .engines import engine_named
from .provision import Patience
from .urls import database_name, parse_url

__all__ = ["scratch_database"]


@contextmanager
def scratch_database(
    dev_url: str, *, wait: float = 0, connect_timeout: float = 10
) -> Iterator[str]:
    """The URL of a new, empty database on the server ``dev_url`` names (its name: the dev
    database's with ``_check_`` and a random suffix), or of a file in a new temporary folder;
    dropped (the folder removed) on the way out. Raises ConfigError or ConnectionFailed when it
    cannot be created."""
    url = parse_url(dev_url)
    scheme = urlsplit(url.raw).scheme
    token = secrets.token_hex(4)
    if engine_named(url.engine).file_based:
        folder = tempfile.mkdtemp(prefix="migrata-check-")
        try:
            yield f"{scheme}:///{folder}/scratch_{token}.db"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"{database_name(url) or 'migrata'}_check_{token}"
    scratch = parse_url(_with_database(url.raw, name))
    patience = Patience(wait, connect_timeout=connect_timeout)
    provision.create_database(scratch, patience)
    try:
        yield scratch.raw
    finally:
        provision.drop_database(scratch, patience, force=True)


def _with_database(raw: str, name: str) -> str:
    """``raw`` naming the database ``name`` instead: in its ``database``/``dbname`` option
    when it has one, else in its path."""
    parts = urlsplit(raw)
    options = parse_qsl(parts.query, keep_blank_values=True)
    keys = {"database", "dbname"}
    if any(k.lower() in keys for k, _ in options):
        query = urlencode([(k, name if k.lower() in keys else v) for k, v in options])
        return urlunsplit(parts._replace(query=query))
    return urlunsplit(parts._replace(path="/" + name))
