"""A fresh, fully migrated database per test, in constant time whatever the number of
migrations.

:class:`FreshDatabases` migrates a *template* once per content of the migrations folder and
clones it for every test:

- PostgreSQL: a template database ``migrata_tpl_<folder>_<hash>`` on the server of the URL,
  built with ``Migrator.up()`` under a session advisory lock taken in the ``postgres``
  database (one process builds, the others wait and reuse it), built under a temporary name
  and renamed when complete; each fresh database is ``CREATE DATABASE … TEMPLATE …``.
- SQLite: the template is a file in ``cache_dir``, built under an ``flock`` and copied per test.
- MariaDB/MySQL: no template databases exist. The template is a migrated database; each fresh
  database is created from a recipe read once from it: ``SHOW CREATE DATABASE``, ``SHOW CREATE
  TABLE`` of every table and sequence, ``INSERT … SELECT`` of the tables that hold rows (the
  history, seed data), then views, functions, procedures and triggers from their ``SHOW CREATE``
  (the template's name in their bodies replaced by the new database's). Events, grants and the
  current value of sequences are not copied.
- ClickHouse is not supported.

Ahead and behind: a test should not wait for the server. ``create()`` hands out a database
prepared ahead by a background thread when one is ready (``ahead`` of them are kept, per
process and per template), and ``drop()`` queues the database for a second background thread;
``close()`` waits for both, drops what was prepared and not used, and reports each database it
could not drop as a :class:`FreshDatabaseWarning`.

The hash covers every discovered migration's version, name and checksum (seeds included), the
engine, and the settings that change what a run builds (layout, environment, history table and
schema, service, extensions, session SQL…): an edited, added or removed file gives a new
template name, and the older templates of the same folder are dropped when it is built. Fresh
databases are named ``migrata_test_<worker>_<pid>_<n>`` (``worker`` from
``PYTEST_XDIST_WORKER``). URLs are shown redacted; a password never reaches a message.
"""

from __future__ import annotations

import atexit
import glob
import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

from ..config import session_sql_text
from ..errors import ConfigError, ExecutionError, LockTimeout
from ..migrator import Migrator
from ..scratch import _with_database
from ..settings import Settings
from ..urls import DatabaseURL, parse_url, redact

__all__ = ["FreshDatabaseWarning", "FreshDatabases", "RedactedURL"]

#: Bumped when what a template holds changes for the same migrations (a new copy recipe…).
_FORMAT = "1"
#: At most this many used databases wait for their drop: beyond, ``create()`` waits for the
#: background drops (a server that drops slower than the tests run would otherwise fill its
#: disk with used databases).
_BACKLOG = 32
#: The settings whose value changes what ``up`` builds (besides the migrations themselves).
_HASHED = (
    "layout",
    "environment",
    "seeds_environments",
    "table",
    "schema",
    "service",
    "cluster",
    "history_engine",
    "extensions",
)


class RedactedURL(str):
    """A database URL whose ``repr`` hides the password: pytest shows values with ``repr``
    (the plugin's ``pytest_assertrepr_compare`` redacts comparisons too). ``str()`` and every
    use as text are the full URL, so drivers connect with it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact(str.__str__(self)))


class FreshDatabaseWarning(UserWarning):
    """A used or prepared database could not be dropped (the message names it, the server
    without its password, and the reason): drop it by hand."""


class FreshDatabases:
    """Fresh, fully migrated databases on the server (or engine) of ``url``, cloned from a
    template built once per content of the migrations.

    ``url`` is the URL the project gives migrata: its server, user and options are used; the
    database it names is never changed (PostgreSQL connects to ``postgres`` for its admin
    work; a SQLite file is not read). ``directory`` is the migrations folder (or pass
    ``package=``); further keywords are migrata settings passed to ``Migrator`` (``table=``,
    ``schema=``, ``environment=``…). ``cache_dir`` holds SQLite templates (default: a folder
    in the system's temporary folder); ``worker`` goes into the fresh databases' names
    (default: ``PYTEST_XDIST_WORKER``, else ``main``); ``build_timeout`` is how long to wait
    for another process building the same template. ``ahead`` is how many fresh databases a
    background thread keeps ready (0: each is made when asked for).

    Raises ConfigError for a bad URL or setting, or an engine it cannot clone (ClickHouse).
    """

    def __init__(
        self,
        url: str,
        *,
        directory: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        worker: str | None = None,
        build_timeout: float = 600.0,
        ahead: int = 1,
        **settings: Any,
    ) -> None:
        self._url = parse_url(url)
        if self._url.engine not in _ENGINES:
            raise ConfigError(
                f"fresh databases per test are not supported for {self._url.engine} "
                f"({self._url.redacted}): use a PostgreSQL, SQLite or MariaDB/MySQL URL"
            )
        values = {"lint": "off", **settings}
        if directory is not None:
            values["directory"] = os.path.abspath(os.fspath(directory))
        elif not values.get("package"):
            raise ConfigError("FreshDatabases needs directory= (the migrations folder) or package=")
        for name in ("database_url", "url", "dump_schema", "create_database"):
            values.pop(name, None)
        self.settings = Settings.of(**values)
        self._worker = _name_part(worker or os.environ.get("PYTEST_XDIST_WORKER") or "main")
        self._cache_dir = Path(cache_dir) if cache_dir is not None else _default_cache()
        self._build_timeout = build_timeout
        if ahead < 0:
            raise ConfigError(f"ahead must be 0 or more, not {ahead}")
        self._ahead = ahead
        self._engine: _Engine = _ENGINES[self._url.engine](self._url, self)
        self._template: str | None = None
        self._ready = False
        self._count = 0
        self._created: dict[str, str] = {}
        # Shared with the two background threads, all under self._state.
        self._state = threading.Condition()
        self._pool: deque[tuple[str, str, str]] = deque()  # (template, url, name), made ahead
        self._pool_template: str | None = None  # what the preparer clones; None: nothing
        self._preparing = 0
        self._prepare_error: BaseException | None = None
        self._drops: deque[str] = deque()
        self._dropping = 0
        self._draining = False
        self._closed = False
        self._failures: list[str] = []
        self._threads: dict[str, threading.Thread] = {}
        self._scratch: str | None = None  # SQLite's folder of fresh databases
        self._recipes: dict[str, Any] = {}  # MariaDB's copy recipes, per template
        self._recipe_lock = threading.Lock()
        _open.add(self)

    def __repr__(self) -> str:
        return f"FreshDatabases({self._url.redacted!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the template -------------------------------------------------------------------------

    @property
    def folder_key(self) -> str:
        """Six hex digits naming the migrations folder (or package) in template names."""
        source = self.settings.source
        where = f"package:{source.package}" if source.package else source.directory
        return hashlib.sha256(where.encode()).hexdigest()[:6]

    @property
    def template_name(self) -> str:
        """The template's name for the migrations as they are now (reads the folder, touches
        no database): ``migrata_tpl_<folder>_<hash>``. Raises DiscoveryError for a bad file."""
        if self._template is None:
            self._template = f"{self._prefix}{self._content_hash()}"
        return self._template

    @property
    def template_url(self) -> str:
        """The URL of the template database (built or not); its ``repr`` is redacted. Any
        connection to it must be closed before the next :meth:`create`."""
        return RedactedURL(self._engine.template_url(self.template_name))

    @property
    def _prefix(self) -> str:
        return f"migrata_tpl_{self.folder_key}_"

    def _content_hash(self) -> str:
        digest = hashlib.sha256(f"migrata-template {_FORMAT} {self._url.engine}\n".encode())
        migrator = Migrator(self.settings.with_values({"database_url": self._url.raw}))
        for m in migrator.migrations:
            digest.update(f"{m.version.text}\0{m.name}\0{m.checksum}\0{m.skip_reason}\n".encode())
        for name in _HASHED:
            digest.update(f"{name}={self.settings.get(name)!r}\n".encode())
        session = session_sql_text(self.settings)
        digest.update(f"session={session[0] if session else ''}\n".encode())
        return digest.hexdigest()[:12]

    def ensure_template(self) -> str:
        """Build the template unless it exists (once per process; other processes building
        it are waited for); returns its name. Raises what ``Migrator.up()`` raises."""
        name = self.template_name
        if not self._ready:
            self._engine.ensure_template(name)
            self._ready = True
        return name

    def _build(self, url: str) -> None:
        """Migrate the (new, empty) database ``url`` fully: the template's content."""
        Migrator(self.settings.with_values({"database_url": RedactedURL(url)})).up()

    def drop_templates(self) -> list[str]:
        """Drop every template of this folder (the current one too); returns their names. The
        databases made ahead are dropped first (behind, like used ones)."""
        self._stop_preparing()
        dropped = self._engine.drop_templates(self._prefix, keep=None)
        self._ready = False
        return dropped

    # -- fresh databases ---------------------------------------------------------------------

    def create(self) -> str:
        """The URL of a new database holding what the migrations build (the template is built
        first when needed): one made ahead when ready, else one made now. Its ``repr`` is
        redacted. Raises ExecutionError when the server refuses, or what building the template
        raises."""
        template = self.ensure_template()
        made = self._take(template)
        if made is None:
            name = self._next_name()
            made = (self._engine.clone(template, name), name)
        url, name = made
        self._created[url] = name
        return RedactedURL(url)

    def drop(self, url: str) -> None:
        """Drop the database ``url`` (one :meth:`create` returned), ending its sessions: queued
        for a background thread, so this returns at once; :meth:`close` waits for it and warns
        when it failed. Raises ConfigError for a URL this object did not create."""
        name = self._created.pop(str(url), None)
        if name is None:
            raise ConfigError(f"{redact(str(url))} was not created by this FreshDatabases")
        with self._state:
            self._drops.append(name)
            self._state.notify_all()
        self._start("dropper", self._run_drops)

    def close(self) -> None:
        """Drop the databases created and not yet dropped, and those made ahead; wait for the
        background drops; warn (:class:`FreshDatabaseWarning`) for each that failed. The
        template stays for the next run. Safe to call twice (also called at exit)."""
        try:
            for url in list(self._created):
                self.drop(url)
            self._stop_preparing(closing=True)
            with self._state:
                self._draining = True
                self._state.notify_all()
            self._join("dropper")
            # Drops the dropper did not get to (it was never started, or died): done here.
            while True:
                with self._state:
                    if not self._drops:
                        break
                    name = self._drops.popleft()
                self._drop_now(self._engine, name)
        finally:
            self._engine.close()
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._scratch = None
            _open.discard(self)
            with self._state:
                failures, self._failures = self._failures, []
            for message in failures:
                warnings.warn(message, FreshDatabaseWarning, stacklevel=2)

    # -- ahead and behind --------------------------------------------------------------------

    def _next_name(self) -> str:
        with self._state:
            self._count += 1
            return f"migrata_test_{self._worker}_{os.getpid()}_{self._count}"

    def _take(self, template: str) -> tuple[str, str] | None:
        """A database made ahead from ``template`` (waiting for one being made), or None; asks
        for the pool to be refilled. Waits while too many used databases wait for their drop."""
        self._wait_for_backlog()
        if self._ahead == 0:
            return None
        with self._state:
            if self._pool_template != template:
                self._pool_template = template
                self._prepare_error = None
            stale = [made for made in self._pool if made[0] != template]
            for made in stale:
                self._pool.remove(made)
                self._drops.append(made[2])
            while not self._pool and self._preparing and self._prepare_error is None:
                self._state.wait()  # one is on its way: sooner than starting another
            ready = self._pool.popleft() if self._pool else None
            self._state.notify_all()
        self._start("preparer", self._run_preparer)
        return None if ready is None else (ready[1], ready[2])

    def _wait_for_backlog(self) -> None:
        with self._state:
            while len(self._drops) + self._dropping > _BACKLOG and "dropper" in self._threads:
                self._state.wait()

    def _start(self, role: str, target: Callable[[], None]) -> None:
        with self._state:
            if role in self._threads or self._closed:
                return
            # A daemon: an interpreter that exits without close() is not kept alive by it
            # (close() runs at exit, see _close_at_exit).
            thread = threading.Thread(target=target, name=f"migrata-fresh-{role}", daemon=True)
            self._threads[role] = thread
        thread.start()

    def _join(self, role: str) -> None:
        with self._state:
            thread = self._threads.get(role)
        if thread is not None:
            thread.join()

    def _stop_preparing(self, *, closing: bool = False) -> None:
        """Stop making databases ahead (until the next create(), unless ``closing``); wait for
        the one being made; hand the made ones to the dropper."""
        with self._state:
            self._pool_template = None
            self._closed = self._closed or closing
            self._state.notify_all()
            while self._preparing:
                self._state.wait()
            self._drops.extend(name for _, _, name in self._pool)
            self._pool.clear()
            self._state.notify_all()
        if closing:
            self._join("preparer")
        elif self._drops:
            self._start("dropper", self._run_drops)

    def _run_preparer(self) -> None:
        """The preparer thread: keeps ``ahead`` databases of the current template ready, on a
        connection of its own."""
        engine = _ENGINES[self._url.engine](self._url, self)
        try:
            while True:
                with self._state:
                    template = self._pool_template
                    while not self._closed and (
                        template is None
                        or self._prepare_error is not None
                        or len(self._pool) + self._preparing >= self._ahead
                    ):
                        self._state.wait()
                        template = self._pool_template
                    if self._closed or template is None:
                        return
                    self._preparing += 1
                name = self._next_name()
                try:
                    url = engine.clone(template, name)
                except BaseException as exc:
                    # create() makes its own instead, where the error reaches the test.
                    with self._state:
                        self._prepare_error = exc
                        self._preparing -= 1
                        self._drops.append(name)  # a half-made copy
                        self._state.notify_all()
                    if not isinstance(exc, Exception):
                        raise
                    continue
                with self._state:
                    self._preparing -= 1
                    if self._pool_template == template and not self._closed:
                        self._pool.append((template, url, name))
                    else:
                        self._drops.append(name)
                    self._state.notify_all()
        finally:
            engine.close()

    def _run_drops(self) -> None:
        """The dropper thread: drops the queued databases, in order, on a connection of its
        own, until close() has queued the last ones."""
        engine = _ENGINES[self._url.engine](self._url, self)
        try:
            while True:
                with self._state:
                    while not self._drops and not self._draining:
                        self._state.wait()
                    if not self._drops:
                        return
                    name = self._drops.popleft()
                    self._dropping += 1
                try:
                    self._drop_now(engine, name)
                finally:
                    with self._state:
                        self._dropping -= 1
                        self._state.notify_all()
        finally:
            engine.close()

    def _drop_now(self, engine: _Engine, name: str) -> None:
        """Drop ``name``; a failure is kept for close() to report, never raised here."""
        try:
            engine.drop(name)
        except Exception as exc:  # noqa: BLE001 - whatever it is, close() reports it
            if not isinstance(exc, ExecutionError):
                exc = _failed(self._url, f"cannot drop {name}", exc)
            message = f"migrata could not drop the test database {name}: {exc} (drop it by hand)"
            with self._state:
                self._failures.append(message)

    def _scratch_folder(self) -> str:
        """SQLite: the temporary folder of this object's fresh databases (made on first use)."""
        with self._state:
            if self._scratch is None:
                self._scratch = tempfile.mkdtemp(prefix="migrata-test-")
            return self._scratch


#: The FreshDatabases not yet closed: closed at exit (best effort after Ctrl-C, when pytest's
#: teardown did not run to its end), so no database made ahead or used is left behind.
_open: weakref.WeakSet[FreshDatabases] = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    for fresh in list(_open):
        with suppress(Exception):
            fresh.close()


# -- engines ---------------------------------------------------------------------------------


class _Engine(Protocol):
    def __init__(self, url: DatabaseURL, owner: FreshDatabases) -> None: ...

    def ensure_template(self, name: str) -> None: ...

    def template_url(self, name: str) -> str: ...

    def clone(self, template: str, name: str) -> str: ...

    def drop(self, name: str) -> None: ...

    def drop_templates(self, prefix: str, keep: str | None) -> list[str]: ...

    def close(self) -> None: ...


def _failed(url: DatabaseURL, what: str, exc: BaseException) -> ExecutionError:
    reason = url.scrub(" ".join(str(exc).split()))
    return ExecutionError(f"{what} on {url.redacted}: {reason}")


class _Postgres:
    """Template databases; the admin connection is to ``postgres`` on the URL's server."""

    def __init__(self, url: DatabaseURL, owner: FreshDatabases) -> None:
        self._url = url
        self._owner = owner
        self._admin: Any = None

    def _connection(self) -> Any:
        if self._admin is None:
            import psycopg

            try:
                self._admin = psycopg.connect(
                    self._url.raw, dbname="postgres", autocommit=True, connect_timeout=10
                )
            except psycopg.Error as exc:
                reason = self._url.scrub(" ".join(str(exc).split()))
            else:
                return self._admin
            # Raised outside the handler: the driver's error must not be kept as context.
            raise ExecutionError(f"cannot connect to {self._url.redacted}: {reason}")
        return self._admin

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        for attempt in range(100):
            try:
                cursor = self._connection().execute(sql, params or None)
                return cursor.fetchall() if cursor.description else []
            except psycopg.errors.ObjectInUse:
                # "source database … is being accessed by other users": a session that just
                # closed may still be listed for a moment, or autovacuum visits the template.
                if attempt == 99:
                    raise
                time.sleep(0.05)
        raise AssertionError("unreachable")

    def _run(self, what: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            return self._execute(sql, params)
        except psycopg.Error as exc:
            error = _failed(self._url, what, exc)
        raise error

    def _url_of(self, name: str) -> str:
        return _with_database(self._url.raw, name)

    template_url = _url_of

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        deadline = time.monotonic() + self._owner._build_timeout
        pause = 0.05
        while not self._run("cannot lock", "SELECT pg_try_advisory_lock(%s)", (key,))[0][0]:
            # Polled, never blocking in pg_advisory_lock (see ARCHITECTURE.md, PostgreSQL).
            if time.monotonic() > deadline:
                raise LockTimeout(self._owner._build_timeout, f"the build of {name}")
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
        try:
            yield
        finally:
            self._run("cannot unlock", "SELECT pg_advisory_unlock(%s)", (key,))

    def _exists(self, name: str) -> bool:
        rows = self._run("cannot read pg_database", _PG_EXISTS, (name,))
        return bool(rows)

    def ensure_template(self, name: str) -> None:
        if self._exists(name):
            return
        with self._locked(name):
            if self._exists(name):
                return  # another process built it while this one waited
            building = name + "_build"
            self._run("cannot drop", f"DROP DATABASE IF EXISTS {_pg(building)} WITH (FORCE)")
            self._run("cannot create the template", f"CREATE DATABASE {_pg(building)}")
            try:
                self._owner._build(self._url_of(building))
            except BaseException:
                with suppress(Exception):
                    self._run("cannot drop", f"DROP DATABASE IF EXISTS {_pg(building)}")
                raise
            # Renamed once complete: a template under its final name is always whole.
            self._run("cannot rename", f"ALTER DATABASE {_pg(building)} RENAME TO {_pg(name)}")
            self._run("cannot mark", f"ALTER DATABASE {_pg(name)} IS_TEMPLATE true")
            self.drop_templates(name.rsplit("_", 1)[0] + "_", keep=name)

    def clone(self, template: str, name: str) -> str:
        self._run(
            f"cannot create {name} from {template}",
            f"CREATE DATABASE {_pg(name)} TEMPLATE {_pg(template)}",
        )
        return self._url_of(name)

    def drop(self, name: str) -> None:
        self._run(f"cannot drop {name}", f"DROP DATABASE IF EXISTS {_pg(name)} WITH (FORCE)")

    def drop_templates(self, prefix: str, keep: str | None) -> list[str]:
        import psycopg

        rows = self._run("cannot read pg_database", _PG_LIKE, (_like(prefix),))
        dropped = []
        for (name,) in rows:
            if name == keep:
                continue
            try:
                self._execute(f"ALTER DATABASE {_pg(name)} IS_TEMPLATE false")
                self._execute(f"DROP DATABASE IF EXISTS {_pg(name)}")
            except psycopg.Error:
                continue  # in use by a run of an older version of the folder: left for later
            dropped.append(name)
        return dropped

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None


_PG_EXISTS = "SELECT 1 FROM pg_database WHERE datname = %s"
_PG_LIKE = "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY datname"


def _pg(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"


class _SQLite:
    """A template file in the cache folder; each fresh database is a copy in a temporary
    folder of this object's own."""

    def __init__(self, url: DatabaseURL, owner: FreshDatabases) -> None:
        self._url = url
        self._owner = owner

    def _template_path(self, name: str) -> Path:
        return self._owner._cache_dir / f"{name}.db"

    def template_url(self, name: str) -> str:
        return f"sqlite:///{self._template_path(name).absolute()}"

    def ensure_template(self, name: str) -> None:
        path = self._template_path(name)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(path.with_suffix(".lock"), self._owner._build_timeout, name):
            if path.exists():
                return
            building = path.with_name(f"{name}.build-{os.getpid()}.db")
            building.unlink(missing_ok=True)
            try:
                self._owner._build(f"sqlite:///{building}")
                os.replace(building, path)
            finally:
                _remove_files(building.parent, building.name)  # with migrata's lock file
            self.drop_templates(name.rsplit("_", 1)[0] + "_", keep=name)

    def clone(self, template: str, name: str) -> str:
        target = Path(self._owner._scratch_folder()) / f"{name}.db"
        shutil.copyfile(self._template_path(template), target)
        return f"sqlite:///{target}"

    def drop(self, name: str) -> None:
        _remove_files(Path(self._owner._scratch_folder()), f"{name}.db")

    def drop_templates(self, prefix: str, keep: str | None) -> list[str]:
        folder = self._owner._cache_dir
        dropped = []
        for path in sorted(folder.glob(f"{prefix}*.db")) if folder.is_dir() else []:
            name = path.name.removesuffix(".db")
            if name != keep and ".build-" not in name:
                path.unlink(missing_ok=True)
                path.with_suffix(".lock").unlink(missing_ok=True)
                dropped.append(name)
        return dropped

    def close(self) -> None:
        pass  # the folder of fresh databases is the owner's: removed by its close()


def _remove_files(folder: Path, name: str) -> None:
    """Remove the database file ``name`` and those SQLite and migrata keep beside it
    (``-wal``, ``-shm``, ``-journal``, ``.migrata.lock``)."""
    for path in folder.glob(glob.escape(name) + "*"):
        path.unlink(missing_ok=True)


@contextmanager
def _file_lock(path: Path, timeout: float, what: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``, polled up to ``timeout`` seconds. Without fcntl
    (Windows) there is no lock: two builders both build, and the last rename wins."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(timeout, f"the build of {what}") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _MySQL:
    """A migrated template database and, per test, a new database built from a recipe read
    once from it (see the module docstring for what it copies)."""

    def __init__(self, url: DatabaseURL, owner: FreshDatabases) -> None:
        self._url = url
        self._owner = owner
        self._admin: Any = None
        self._helpers: list[Any] = []  # more connections: the tables of a copy in parallel
        self._executor: Any = None

    def _connect(self) -> Any:
        import pymysql
        from pymysql.constants import CLIENT

        from ..backends.mysql.connection import connect_arguments

        arguments = connect_arguments(self._url)
        arguments.pop("database", None)
        try:
            return pymysql.connect(
                **arguments,
                autocommit=True,
                connect_timeout=10,
                client_flag=CLIENT.MULTI_STATEMENTS,
            )
        except pymysql.MySQLError as exc:
            reason = self._url.scrub(" ".join(str(exc).split()))
        raise ExecutionError(f"cannot connect to {self._url.redacted}: {reason}")

    def _connection(self) -> Any:
        if self._admin is None:
            self._admin = self._connect()
        return self._admin

    def _run(
        self, what: str, sql: str, params: tuple[Any, ...] = (), *, connection: Any = None
    ) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` (of its last statement when it holds several; the server stops
        at the first that fails)."""
        import pymysql

        try:
            with (connection or self._connection()).cursor() as cursor:
                cursor.execute(sql, params or None)
                rows = list(cursor.fetchall()) if cursor.description else []
                while cursor.nextset():
                    rows = list(cursor.fetchall()) if cursor.description else []
                return rows
        except pymysql.MySQLError as exc:
            error = _failed(self._url, what, exc)
        raise error

    def _url_of(self, name: str) -> str:
        return _with_database(self._url.raw, name)

    template_url = _url_of

    def _exists(self, name: str) -> bool:
        return bool(self._run("cannot read the schemata", _MY_EXISTS, (name,)))

    def ensure_template(self, name: str) -> None:
        if self._exists(name) and self._complete(name):
            return
        timeout = int(self._owner._build_timeout)
        if self._run("cannot lock", "SELECT GET_LOCK(%s, %s)", (name, timeout))[0][0] != 1:
            raise LockTimeout(self._owner._build_timeout, f"the build of {name}")
        try:
            if self._exists(name) and self._complete(name):
                return
            # A build that died half-way leaves an incomplete template: built again.
            self._run("cannot drop", f"DROP DATABASE IF EXISTS {_my(name)}")
            self._run("cannot create the template", f"CREATE DATABASE {_my(name)}")
            try:
                self._owner._build(self._url_of(name))
            except BaseException:
                with suppress(Exception):
                    self._run("cannot drop", f"DROP DATABASE IF EXISTS {_my(name)}")
                raise
            self.drop_templates(name.rsplit("_", 1)[0] + "_", keep=name)
        finally:
            self._run("cannot unlock", "SELECT RELEASE_LOCK(%s)", (name,))

    def _complete(self, name: str) -> bool:
        migrator = Migrator(self._owner.settings.with_values({"database_url": self._url_of(name)}))
        return migrator.is_up_to_date()

    def _recipe(self, template: str) -> _Recipe:
        """The template's recipe, read once per FreshDatabases (shared by its threads)."""
        owner = self._owner
        with owner._recipe_lock:
            recipe: _Recipe | None = owner._recipes.get(template)
            if recipe is None:
                recipe = owner._recipes[template] = self._read_recipe(template)
            return recipe

    def _read_recipe(self, template: str) -> _Recipe:
        """The statements that rebuild ``template`` in the current database (``USE``d before
        them), the template's name removed from their bodies."""
        run = self._run
        qualified = re.compile(re.escape(_my(template)) + r"\.")

        def unqualified(sql: str) -> str:
            return qualified.sub("", sql)

        database = run("cannot read the template", f"SHOW CREATE DATABASE {_my(template)}")[0][1]
        tables: list[str] = []
        rows: list[str] = []
        rest: list[str] = []
        views: list[tuple[str, str]] = []
        for table, kind in run("cannot list tables", _MY_TABLES, (template,)):
            source = f"{_my(template)}.{_my(table)}"
            if kind == "VIEW":
                text = run("cannot read", f"SHOW CREATE VIEW {source}")[0][1]
                views.append((table, unqualified(text)))
                continue
            if kind == "SEQUENCE":
                tables.append(run("cannot read", f"SHOW CREATE SEQUENCE {source}")[0][1])
                continue
            text = run("cannot read", f"SHOW CREATE TABLE {source}")[0][1]
            tables.append(unqualified(text))
            if run("cannot read", f"SELECT EXISTS (SELECT 1 FROM {source})")[0][0]:
                columns = ", ".join(
                    _my(c) for (c,) in run("cannot read columns", _MY_COLUMNS, (template, table))
                )
                rows.append(f"INSERT INTO {_my(table)} ({columns}) SELECT {columns} FROM {source}")
        rest.extend(_in_dependency_order(views))
        for kind in ("FUNCTION", "PROCEDURE"):
            for (routine,) in run("cannot list routines", _MY_ROUTINES, (template, kind)):
                text = run("cannot read", f"SHOW CREATE {kind} {_my(template)}.{_my(routine)}")
                rest.append(unqualified(text[0][2]))
        for (trigger,) in run("cannot list triggers", _MY_TRIGGERS, (template,)):
            text = run("cannot read", f"SHOW CREATE TRIGGER {_my(template)}.{_my(trigger)}")
            rest.append(unqualified(text[0][2]))
        return _Recipe(database, tuple(tables), tuple(rows), tuple(rest))

    def clone(self, template: str, name: str) -> str:
        """A copy in a handful of round trips: the CREATE TABLEs split over a few connections
        (the server's time is mostly syncing each new table's files, which it overlaps across
        sessions), each group one multi-statement packet, foreign key checks off; then one
        packet with the rows, the views, routines and triggers."""
        recipe = self._recipe(template)
        what = f"cannot copy {template} into {name}"
        create = recipe.database.replace(_my(template), _my(name), 1)
        self._run(f"cannot create {name}", create)
        prologue = f"USE {_my(name)};\nSET FOREIGN_KEY_CHECKS = 0;\n"
        groups = _groups(list(recipe.tables), _MY_PARALLEL, _MY_GROUP)
        if len(groups) > 1:
            self._in_parallel(what, [prologue + ";\n".join(group) for group in groups])
            groups = []
        last = [*(groups[0] if groups else []), *recipe.rows, *recipe.rest]
        self._run(what, prologue + "".join(f"{sql};\n" for sql in last) + _MY_CHECKS_ON)
        return self._url_of(name)

    def _in_parallel(self, what: str, packets: list[str]) -> None:
        """Run each packet on a helper connection of its own, all at once; the first failure
        is raised once all have ended (a failed helper is closed, not reused)."""
        from concurrent.futures import ThreadPoolExecutor

        if self._executor is None:
            self._executor = ThreadPoolExecutor(_MY_PARALLEL, thread_name_prefix="migrata-copy")
        while len(self._helpers) < len(packets):
            self._helpers.append(self._connect())

        def send(index: int) -> None:
            try:
                self._run(what, packets[index] + ";\n" + _MY_CHECKS_ON, connection=helpers[index])
            except BaseException:
                with suppress(Exception):
                    helpers[index].close()
                helpers[index] = None
                raise

        helpers: list[Any] = list(self._helpers)
        futures = [self._executor.submit(send, i) for i in range(len(packets))]
        errors = [f.exception() for f in futures]
        self._helpers = [h for h in helpers if h is not None]
        for error in errors:
            if error is not None:
                raise error

    def drop(self, name: str) -> None:
        self._run(f"cannot drop {name}", f"DROP DATABASE IF EXISTS {_my(name)}")

    def drop_templates(self, prefix: str, keep: str | None) -> list[str]:
        rows = self._run("cannot read the schemata", _MY_LIKE, (_like(prefix),))
        dropped = []
        for (name,) in rows:
            if name != keep:
                self._run(f"cannot drop {name}", f"DROP DATABASE IF EXISTS {_my(name)}")
                dropped.append(name)
        return dropped

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        for connection in [self._admin, *self._helpers]:
            if connection is not None:
                with suppress(Exception):
                    connection.close()
        self._admin = None
        self._helpers = []


@dataclass(frozen=True, slots=True)
class _Recipe:
    """How to copy a MariaDB/MySQL template: its ``SHOW CREATE DATABASE``; the CREATE TABLE
    (and SEQUENCE) statements, in any order (foreign key checks are off); the row copies; then
    views (in dependency order), functions, procedures and triggers."""

    database: str
    tables: tuple[str, ...]
    rows: tuple[str, ...]
    rest: tuple[str, ...]


#: Connections that create a copy's tables at once, and the fewest tables worth one of them.
_MY_PARALLEL = 4
_MY_GROUP = 12
_MY_CHECKS_ON = "SET FOREIGN_KEY_CHECKS = 1"


def _groups(items: list[str], most: int, smallest: int) -> list[list[str]]:
    """``items`` dealt into at most ``most`` groups of at least ``smallest`` (one group when
    there are few), keeping their order within each group."""
    count = max(1, min(most, len(items) // smallest))
    return [items[i::count] for i in range(count)] if items else []


_MY_EXISTS = "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s"
_MY_LIKE = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s"
_MY_TABLES = (
    "SELECT TABLE_NAME, CASE WHEN TABLE_TYPE = 'VIEW' THEN 'VIEW' "
    "WHEN TABLE_TYPE = 'SEQUENCE' THEN 'SEQUENCE' ELSE 'TABLE' END "
    "FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME"
)
_MY_COLUMNS = (
    "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
    "AND TABLE_NAME = %s AND COALESCE(GENERATION_EXPRESSION, '') = '' ORDER BY ORDINAL_POSITION"
)
_MY_ROUTINES = (
    "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s "
    "AND ROUTINE_TYPE = %s ORDER BY ROUTINE_NAME"
)
_MY_TRIGGERS = (
    "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s "
    "ORDER BY TRIGGER_NAME"
)


def _in_dependency_order(views: list[tuple[str, str]]) -> list[str]:
    """The views' CREATE statements, each after the views its text names (MariaDB checks a
    view's query when it is created)."""
    pending = dict(views)
    ordered: list[str] = []
    while pending:
        ready = [
            name
            for name, text in pending.items()
            if not any(_my(other) in text for other in pending if other != name)
        ] or [next(iter(pending))]  # a cycle cannot be created anyway: keep the order
        for name in ready:
            ordered.append(pending.pop(name))
    return ordered


def _my(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


_ENGINES: dict[str, Callable[[DatabaseURL, FreshDatabases], _Engine]] = {
    "postgresql": _Postgres,
    "sqlite": _SQLite,
    "mysql": _MySQL,
}


def _name_part(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "main"


def _default_cache() -> Path:
    user = getattr(os, "getuid", lambda: "user")()
    return Path(tempfile.gettempdir()) / f"migrata-templates-{user}"
