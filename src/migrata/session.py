"""The connection side of a Migrator: connect (waiting for the server, creating the database
when asked), run the session SQL, open the history, take the migration lock, create
extensions. Every connection is opened and closed inside a ``with`` block, so the lock is
released and the connection closed on every exit path, Ctrl-C included.
"""

from __future__ import annotations

import logging
import threading
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
        self._early: _EarlyConnection | None = None
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

    def start_connecting(self, *, writing: bool = False) -> None:
        """Begin opening the connection the next :meth:`open` uses, in a thread, so that the
        driver's import and the server's handshake overlap what the caller does meanwhile
        (reading the folder). What it raises is raised by :meth:`open`, as it would have
        been; the caller calls :meth:`discard_connecting` when it will not call :meth:`open`
        (the folder could not be read), which closes the connection. Does nothing without a
        URL, for a file-based engine (no network to wait for; SQLite's connections stay in
        their thread) and before a database is created."""
        url = self.url
        if url is None or self._early is not None:
            return
        connect = self.settings.connect
        if writing and connect.create_database:
            return
        try:
            if engine_named(url.engine).file_based:
                return
        except LookupError:
            return
        patience = Patience(connect.wait, connect_timeout=connect.connect_timeout)
        self._early = _EarlyConnection(lambda: provision.open_when_ready(url, patience))

    def discard_connecting(self) -> None:
        """Close the connection :meth:`start_connecting` opens (now, or when it is open)."""
        early, self._early = self._early, None
        if early is not None:
            early.discard()

    @contextmanager
    def open(self, *, writing: bool = False) -> Iterator[tuple[Backend, History]]:
        """A connection with the session SQL run, and the history over it. Raises ConfigError
        when there is no database to connect to."""
        if not self.has_database:
            raise ConfigError(f"no database URL: pass {setting('database_url')} (or a connection)")
        early, self._early = self._early, None
        if early is not None:
            try:
                backend = early.result()
            except BaseException:
                early.discard()  # (Ctrl-C while waiting: closed when it opens)
                raise
        elif self.url is not None:
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


class _EarlyConnection:
    """A connection opened by a daemon thread: its backend, or what opening it raised."""

    def __init__(self, connect: Callable[[], Backend]) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._backend: Backend | None = None
        self._error: BaseException | None = None
        self._discarded = False
        self._thread = threading.Thread(target=self._run, name="migrata-connect", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            backend = self._connect()
        except BaseException as exc:  # noqa: BLE001 (raised again in the caller's thread)
            with self._lock:
                self._error = exc
            return
        with self._lock:
            if not self._discarded:
                self._backend = backend
                return
        backend.close()

    def result(self) -> Backend:
        """The backend, once open; raises what opening it raised."""
        self._thread.join()
        with self._lock:
            backend, error = self._backend, self._error
            self._backend = self._error = None
        if error is not None:
            try:
                raise error
            finally:
                del error
        assert backend is not None
        return backend

    def discard(self) -> None:
        """Close the backend, now if it is open, else as soon as it opens."""
        with self._lock:
            self._discarded = True
            backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()
