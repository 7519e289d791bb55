"""The connection side of a Migrator: connect (waiting for the server, creating the database
when asked), run the session SQL, open the history, take the migration lock, create
extensions. Every connection is opened and closed inside a ``with`` block, so the lock is
released and the connection closed on every exit path, Ctrl-C included.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import provision
from .backends import connection_dialect, wrap_connection
from .backends.base import Backend, Query, QueryFailed
from .config import session_sql_text
from .engines import engine_named
from .errors import ConfigError, ExecutionError, LockUnavailable, setting
from .events import log_event
from .history import History, HistoryState, open_history
from .models import Script, Statement
from .provision import Patience
from .settings import Settings
from .split import split_script
from .urls import DatabaseURL, parse_url

__all__ = ["Connector"]

logger = logging.getLogger("migrata")


class Connector:
    """Opens the database of ``settings`` (or wraps a borrowed ``connection``) for one call.

    Raises ConfigError when both or neither of a URL and a connection are given, or when
    extensions are asked of an engine without them.
    """

    def __init__(self, settings: Settings, connection: Any = None) -> None:
        url = settings.connect.database_url
        if url is not None and connection is not None:
            raise ConfigError("give either a database URL or a connection, not both")
        self.settings = settings
        self.url: DatabaseURL | None = parse_url(url) if url is not None else None
        self._connection = connection
        #: The server's version, known once a connection was opened (None before).
        self.server_version: int | None = None
        self._session: tuple[tuple[Statement, ...], str] | None = None
        extensions = settings.run.extensions
        if extensions:
            try:
                engine = engine_named(self.dialect)
            except LookupError:  # a connection of no known driver, refused when it is used
                return
            if not engine.capabilities.extensions:
                raise ConfigError(
                    f"extensions ({', '.join(extensions)}) are created with PostgreSQL's "
                    f"CREATE EXTENSION; this database is {engine.title}: remove them from the "
                    "settings"
                )

    @property
    def dialect(self) -> str:
        if self.url is not None:
            return self.url.engine
        return connection_dialect(self._connection) or "unknown"

    @property
    def scrub(self) -> Callable[[str], str]:
        """Removes the URL's password from a text (the identity for a borrowed connection)."""
        return self.url.scrub if self.url is not None else (lambda text: text)

    def session_sql(self) -> tuple[tuple[Statement, ...], str]:
        """The session SQL's statements (split once) and where it comes from."""
        if self._session is None:
            found = session_sql_text(self.settings)
            if found is None or not found[0].strip():
                self._session = ((), "session SQL")
            else:
                text, where = found
                self._session = (split_script(Script(path=where, text=text), self.dialect), where)
        return self._session

    @property
    def has_database(self) -> bool:
        """A URL or a connection was given (reading the folder alone needs neither)."""
        return self.url is not None or self._connection is not None

    @contextmanager
    def open(self, *, writing: bool = False) -> Iterator[tuple[Backend, History]]:
        """A connection with the session SQL run, and the history over it. Raises ConfigError
        when there is no database to connect to."""
        if not self.has_database:
            raise ConfigError(f"no database URL: pass {setting('database_url')} (or a connection)")
        if self.url is not None:
            connect = self.settings.connect
            patience = Patience(connect.wait, connect_timeout=connect.connect_timeout)
            if writing and connect.create_database:
                provision.create_database(self.url, patience)
            backend = provision.open_when_ready(self.url, patience)
        else:
            backend = wrap_connection(self._connection)
        try:
            self.server_version = backend.server_version
            self._run_session_sql(backend)
            history = self.settings.history
            yield (
                backend,
                open_history(
                    backend,
                    table=history.table,
                    schema=history.schema,
                    service=history.service,
                    cluster=history.cluster,
                    engine=history.history_engine,
                ),
            )
        finally:
            backend.close()

    @contextmanager
    def locked(self) -> Iterator[tuple[Backend, History, HistoryState]]:
        """One connection, the migration lock, and the history read under it."""
        with self.open(writing=True) as (backend, history):
            if backend.capabilities.lock == "none":
                self._without_lock(backend)
            asked = time.monotonic()
            with backend.lock(self.lock_name, self.settings.run.lock_timeout):
                waited = time.monotonic() - asked
                log_event(
                    "lock_acquired",
                    "took the migration lock on %s after %.1fs",
                    backend.display_name,
                    waited,
                    progress=waited >= 1,
                    database=backend.display_name,
                    waited_ms=round(waited * 1000),
                )
                yield backend, history, history.read()

    @property
    def lock_name(self) -> str:
        history = self.settings.history
        return f"migrata:{history.schema or ''}.{history.table}"

    def create_extensions(self, backend: Backend) -> None:
        """CREATE EXTENSION IF NOT EXISTS for each configured extension, in one round trip."""
        extensions = self.settings.run.extensions
        queries = [
            Query(f"CREATE EXTENSION IF NOT EXISTS {backend.quote_identifier(name)}")
            for name in extensions
        ]
        try:
            backend.run(queries)
        except QueryFailed as failure:
            backend.rollback()
            raise ExecutionError(
                f"creating extension {extensions[failure.index]!r} failed: "
                f"{self.scrub(failure.message)}; install it on the server, or create it as a "
                "superuser (nothing was migrated)"
            ) from None

    def _run_session_sql(self, backend: Backend) -> None:
        statements, where = self.session_sql()
        if not statements:
            return
        try:
            backend.run([Query(st.sql) for st in statements])
        except QueryFailed as failure:
            backend.rollback()
            st = statements[failure.index]
            raise ExecutionError(
                f"{where}:{st.line}:{st.column}: the session SQL failed: "
                f"{self.scrub(failure.message)}; fix it (nothing was run)"
            ) from None

    def _without_lock(self, backend: Backend) -> None:
        """Warn (or, with ``require_lock``, refuse) where the engine has no lock to take."""
        text = (
            f"{backend.display_name} offers no migration lock: two runs at the same time could "
            "both apply a migration; run migrata from one place at a time (one deploy job, "
            "one init container)"
        )
        if self.settings.run.require_lock:
            raise LockUnavailable(
                f"{text}; {setting('require_lock')} refuses to go on (nothing was run)"
            )
        logger.warning("%s (--require-lock makes this an error)", text)
