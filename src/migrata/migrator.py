"""The Migrator: the one object the CLI and applications both use.

Every writing method follows one shape: connect → lock → read history → plan → split every
script → create the tracking tables if needed → run, all inside ``with`` blocks that release
the lock and close the connection on every exit path, Ctrl-C included. Reading methods
(status, plan, validate) take no lock and create nothing.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, overload

from . import provision
from .backends import connection_dialect, wrap_connection
from .backends.base import Backend, Query, QueryFailed
from .config import DEFAULT_DDL_LOCK_RETRIES, DEFAULT_DDL_LOCK_TIMEOUT
from .discovery import discover_migrations
from .errors import (
    AdoptionRefused,
    ConfigError,
    DiscoveryError,
    ExecutionError,
    LockUnavailable,
    MissingDownMigration,
    PlanError,
    SQLSyntaxError,
    UnknownVersion,
    ValidationFailed,
    setting,
)
from .events import log_event
from .foreign import TOOLS, Adoption, find_histories, plan_adoption
from .history import History, HistoryState, open_history
from .layouts.base import ReadResult
from .models import (
    Applied,
    AuditEvent,
    Direction,
    Migration,
    Plan,
    Problem,
    RunReport,
    Script,
    State,
    Statement,
    StatusEntry,
    Step,
    StepResult,
    Timeouts,
    Validation,
    Version,
    VersionIndex,
)
from .planner import compute_status, find_problems, plan_down, plan_up, validate
from .provision import Patience
from .runner import OnStep, Runner, write_history
from .split import split_script
from .split.transactions import decide_transaction
from .urls import DatabaseURL, parse_url

logger = logging.getLogger("migrata")

DEFAULT_TABLE = "migrata_history"
DEFAULT_SERVICE = "default"
DEFAULT_LOCK_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class PlannedStatements:
    """A step of a plan with the exact statements ``up``/``down`` would send."""

    version: str
    name: str
    direction: Direction
    path: str
    transactional: bool
    statements: tuple[Statement, ...]
    #: Why the step runs outside a transaction (or as written), when it does.
    transaction_note: str | None = None
    #: What the run sends before the statements (BEGIN, time limits, session SQL, a
    #: "started" row) and after them (history writes, COMMIT), as SQL text.
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Repair:
    """An applied migration whose recorded checksum ``repair`` replaces with its file's."""

    version: str
    name: str
    path: str
    old_checksum: str
    new_checksum: str


class Migrator:
    """Migrations of one folder (or package) against one database.

    Pass ``url`` (``postgresql://…``, ``sqlite:///file.db``) or an open ``connection``
    (psycopg 3 or sqlite3; migrata borrows it and never closes it).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        connection: Any = None,
        directory: str | os.PathLike[str] | None = None,
        package: str | None = None,
        table: str = DEFAULT_TABLE,
        schema: str | None = None,
        service: str = DEFAULT_SERVICE,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        allow_out_of_order: bool = False,
        single_transaction: bool = False,
        on_step: OnStep | None = None,
        connect_timeout: float = 10,
        layout: str | None = None,
        session_sql: str | None = None,
        session_sql_path: str | None = None,
        require_lock: bool = False,
        cluster: str | None = None,
        history_engine: str | None = None,
        environment: str | None = None,
        seeds: tuple[str | os.PathLike[str], Sequence[str]] | None = None,
        timeouts: Timeouts | None = None,
        lock_retries: int = DEFAULT_DDL_LOCK_RETRIES,
        wait: float = 0,
        create_database: bool = False,
        extensions: Sequence[str] = (),
    ) -> None:
        if (url is None) == (connection is None):
            raise ConfigError(
                "give either a database URL or a connection: pass " + setting("database_url")
            )
        if directory is not None and package is not None:
            raise ConfigError("give either a migrations directory or a package, not both")
        self.url: DatabaseURL | None = parse_url(url) if url is not None else None
        self._connection = connection
        self.directory = directory
        self.package = package
        self.table = table
        self.schema = schema
        self.service = service
        self.lock_timeout = lock_timeout
        self.allow_out_of_order = allow_out_of_order
        self.single_transaction = single_transaction
        self.on_step = on_step
        self.connect_timeout = connect_timeout
        self.layout = layout
        #: SQL run on the migration connection when it opens and before each migration.
        self.session_sql = session_sql
        self.session_sql_path = session_sql_path or "session SQL"
        #: Refuse to run where the engine offers no migration lock (a ClickHouse server),
        #: instead of warning.
        self.require_lock = require_lock
        #: ClickHouse: the cluster migrata's own tables are created ON, and their engine.
        self.cluster = cluster
        self.history_engine = history_engine
        #: The current environment: migrations limited to others (seed data) do not run.
        self.environment = environment
        #: ``(folder, environments)`` of seed migrations, merged with the others.
        self.seeds = seeds
        #: The run's time limits (a file's directives win); the default gives DDL a lock
        #: timeout so that it cannot queue every reader of a table behind a long query.
        self.timeouts = (
            timeouts if timeouts is not None else Timeouts(lock=DEFAULT_DDL_LOCK_TIMEOUT)
        )
        self.lock_retries = lock_retries
        #: Seconds to wait for the database to accept connections (0: try once).
        self.wait = wait
        #: Create the database named in the URL before a writing run when it is missing.
        self.create_database = create_database
        self.extensions = tuple(extensions)
        if self.extensions and self.dialect != "postgresql":
            raise ConfigError(
                f"extensions ({', '.join(self.extensions)}) are PostgreSQL's; this database is "
                f"{self.dialect}: remove them from the settings"
            )
        self._source: ReadResult | None = None
        self._session_statements: tuple[Statement, ...] | None = None
        self._server_version: int | None = None

    @classmethod
    def from_config(
        cls,
        config: str | os.PathLike[str] | None = None,
        *,
        target: str | None = None,
        **options: Any,
    ) -> Migrator:
        """A Migrator with the settings the ``migrata`` command would use: the MIGRATA_*
        variables (and DATABASE_URL), then the config file (``config``, else migrata.toml or
        ``[tool.migrata]`` of pyproject.toml in the current folder), then the defaults; the
        seeds folder, environment and time limits included, so an app's start-up and its
        health endpoint see the same migrations as the CLI. ``target`` picks one target of a
        file that declares several (one declared target is picked alone). ``options`` win.

        Raises ConfigError for a bad file or value, or when the file declares several
        targets and ``target`` names none of them.
        """
        from .config import load_settings, migrator_options
        from .targets import load_targets, target_names

        declared = target_names(config_path=config)
        if declared:
            if target is None and len(declared) > 1:
                raise ConfigError(
                    f"the config file declares {len(declared)} targets "
                    f"({', '.join(declared)}): pick one with target=NAME"
                )
            (chosen,) = load_targets(names=[target or declared[0]], config_path=config)
            settings = chosen.settings
        elif target is not None:
            raise ConfigError(f"target={target!r}: the config file declares no targets")
        else:
            settings = load_settings({}, config_path=config)
        return cls(**{**migrator_options(settings), **options})

    # -- sources ----------------------------------------------------------------------------

    def discover(self) -> ReadResult:
        """The migrations of the folder or package (read once per Migrator)."""
        if self._source is None:
            self._source = discover_migrations(
                self.directory, package=self.package, layout=self.layout, seeds=self.seeds
            )
        return self._source

    def warnings(self) -> tuple[str, ...]:
        """What the folder holds that a user must hear about (skipped migrations, files a
        journal leaves out); nothing here stops a run."""
        return self.discover().warnings

    @property
    def migrations(self) -> tuple[Migration, ...]:
        return self.discover().migrations

    @property
    def dialect(self) -> str:
        if self.url is not None:
            return self.url.engine
        return connection_dialect(self._connection) or "unknown"

    # -- reading ----------------------------------------------------------------------------

    def status(self) -> tuple[StatusEntry, ...]:
        """Each migration's state; one query, no lock, creates nothing."""
        migrations = self.migrations
        return compute_status(migrations, self.applied(), environment=self.environment)

    def problems(self, entries: Sequence[StatusEntry]) -> tuple[Problem, ...]:
        """What in ``entries`` (from :meth:`status`) would stop ``up``; no I/O."""
        return find_problems(entries, allow_out_of_order=self.allow_out_of_order)

    def applied(self) -> tuple[Applied, ...]:
        """The history rows of this service; one query, no lock, creates nothing."""
        with self._session() as (_backend, history):
            return history.read().applied

    def validate(self) -> Validation:
        """The folder against the history, and every pending script read as ``up`` would read
        it (split, checked for syntax where the engine allows: SQLite compiles each statement
        against a copy of the schema in memory), without running anything: one connection,
        no lock, nothing written."""
        migrations = self.migrations
        with self._session() as (backend, history):
            applied = history.read().applied
            result = validate(
                migrations,
                applied,
                allow_out_of_order=self.allow_out_of_order,
                environment=self.environment,
            )
            plan = self._plan_up(migrations, applied, None)
            found = self._script_problems(plan, backend)
        return replace(result, problems=result.problems + found)

    def _script_problems(self, plan: Plan, backend: Backend) -> tuple[Problem, ...]:
        """What stops ``up`` in the pending scripts themselves: a statement that does not
        parse, or (where the backend can check without running) does not compile."""
        problems = []
        checked: list[tuple[Step, tuple[Statement, ...]]] = []
        for step in plan.steps:
            try:
                checked.append((step, split_script(step.script, self.dialect)))
            except SQLSyntaxError as exc:
                message = exc.message.removesuffix("; fix the SQL (nothing was run)")
                problems.append(Problem("syntax", step.version, message, "fix the SQL"))
        for index, position, message in backend.check_statements([s for _, s in checked]):
            step, statements = checked[index]
            st = statements[position]
            first = st.sql.strip().splitlines()[0] if st.sql.strip() else ""
            problems.append(
                Problem(
                    "syntax",
                    step.version,
                    f"{step.script.path}:{st.line}:{st.column}: {message} (in `{first}`)",
                    "fix the SQL",
                )
            )
        return tuple(problems)

    def is_up_to_date(self) -> bool:
        """True when nothing is pending and nothing is wrong (for health endpoints): one
        connection, one query, no lock. Migrations of other environments do not count."""
        result = self.validate()
        return result.is_valid and not result.pending

    def plan(self, *, to: str | None = None) -> Plan:
        """What ``up`` would do now; raises nothing for problems (they are in the plan)."""
        migrations = self.migrations
        return self._plan_up(migrations, self.applied(), to)

    def plan_statements(
        self, *, to: str | None = None
    ) -> tuple[Plan, tuple[PlannedStatements, ...]]:
        """The plan of ``up`` with the exact statements of each step (split, not run) and
        what the run sends around them (opens a connection; writes nothing)."""
        with self._session() as (backend, history):
            plan = self._plan_up(self.migrations, history.read().applied, to)
            return plan, self._planned(plan, self._runner(backend, history))

    def down_statements(
        self,
        *,
        steps: int | None = None,
        to: str | None = None,
        all: bool = False,
        allow_empty_down: bool = False,
    ) -> tuple[Plan, tuple[PlannedStatements, ...]]:
        """The plan of ``down`` (same arguments) with the exact down SQL of each step and what
        the run sends around it; raises what ``down`` would raise before running anything."""
        migrations = self.migrations
        with self._session() as (backend, history):
            plan = plan_down(
                migrations, history.read().applied, steps=steps, target=to, revert_all=all
            )
            self._raise_problems(plan)
            return plan, self._planned(
                plan, self._runner(backend, history), allow_empty_down=allow_empty_down
            )

    def audit_log(self) -> tuple[AuditEvent, ...]:
        """Every recorded event for this service, oldest first."""
        with self._session() as (_backend, history):
            events = history.read_audit()
            names = {a.version.text: a.name for a in history.read().applied}
        try:
            index = VersionIndex(m.version for m in self.migrations)
            by_version = {m.version: m.name for m in self.migrations}
        except (ConfigError, DiscoveryError):  # the folder is not needed to show the log
            return tuple(replace(e, name=names.get(e.version)) for e in events)
        named = []
        for event in events:
            version = index.find(event.version)
            name = by_version[version] if version is not None else names.get(event.version)
            named.append(replace(event, name=name))
        return tuple(named)

    # -- writing ----------------------------------------------------------------------------

    def up(
        self, *, to: str | None = None, dry_run: bool = False, resume: str | None = None
    ) -> RunReport:
        """Apply pending migrations (up to ``to``, inclusive).

        ``resume`` names a migration that failed outside a transaction (MySQL DDL, CREATE
        INDEX CONCURRENTLY…): once its cause is fixed it runs again from the statement that
        failed, the statements recorded as done are not repeated, and the run goes on.

        Raises ValidationFailed (every problem listed) before anything runs, LockTimeout,
        SQLSyntaxError for a script that does not parse, or MigrationFailed.
        """
        migrations = self.migrations
        return self._execute(
            lambda applied: self._plan_up(migrations, applied, to, resume=resume),
            dry_run=dry_run,
        )

    def down(
        self,
        *,
        steps: int | None = None,
        to: str | None = None,
        all: bool = False,
        dry_run: bool = False,
        allow_empty_down: bool = False,
    ) -> RunReport:
        """Revert applied migrations, newest first: one by default, ``steps``, down ``to`` a
        version (kept applied), or ``all``. Every step needs down SQL; a missing one is
        reported before anything runs, and so is a down without statements (only comments),
        which would change nothing but the history, unless ``allow_empty_down``."""
        migrations = self.migrations
        return self._execute(
            lambda applied: plan_down(migrations, applied, steps=steps, target=to, revert_all=all),
            dry_run=dry_run,
            allow_empty_down=allow_empty_down,
        )

    def redo(self, *, allow_empty_down: bool = False) -> tuple[RunReport, RunReport]:
        """Revert the newest applied migration and apply it again, under one lock."""
        migrations = self.migrations
        with self._locked() as (backend, history, state):
            down_plan = plan_down(migrations, state.applied, steps=1)
            self._raise_problems(down_plan)
            if not down_plan.steps:
                raise PlanError("nothing to redo: no migration is applied")
            again = down_plan.steps[0]
            up_plan = Plan(Direction.UP, (Step(again.migration, Direction.UP),))
            down_plan, down_statements = self._prepare(down_plan, allow_empty_down=allow_empty_down)
            up_plan, up_statements = self._prepare(up_plan)
            statements = {**down_statements, **up_statements}
            history.check_layout(state)
            runner = self._runner(backend, history)
            return runner.run(down_plan, statements), runner.run(up_plan, statements)

    def resolve(self, version: str, *, applied: bool) -> None:
        """Clear a failed row after a human has looked: ``applied=True`` keeps the migration as
        applied, ``False`` forgets it so ``up`` runs it again."""
        with self._locked() as (backend, history, state):
            row = _find(state.applied, version, self.migrations)
            if row is None:
                raise UnknownVersion(version, "the history")
            if row.success:
                raise PlanError(
                    f"migration {row.version} is not failed, so there is nothing to resolve; "
                    "use `migrata unmark` to forget an applied migration"
                )
            migration = _find_migration(self.migrations, version)
            detail = f"resolved as {'applied' if applied else 'rolled back'}"
            if row.error:
                detail += f" after: {row.error}"
            if applied:
                queries = history.mark_queries(
                    version=row.version.text,
                    name=migration.name if migration else row.name,
                    checksum=migration.checksum if migration else row.checksum,
                    event="resolved",
                    detail=detail,
                )
            else:
                queries = history.forget_queries(
                    version=row.version, checksum=row.checksum, event="resolved", detail=detail
                )
            write_history(backend, queries)

    def mark_applied(self, version: str) -> None:
        """Record a migration of the folder as applied without running it."""
        migration = _find_migration(self.migrations, version)
        if migration is None:
            raise UnknownVersion(version)
        with self._locked() as (backend, history, state):
            history.ensure(state)
            row = _find(state.applied, version, self.migrations)
            if row is not None and row.success:
                raise PlanError(f"migration {migration.version} is already applied")
            write_history(
                backend,
                history.mark_queries(
                    # A failed row may spell the version differently (1 vs 0001): replace it.
                    version=row.version.text if row is not None else migration.version.text,
                    name=migration.name,
                    checksum=migration.checksum,
                    event="marked",
                    detail="marked as applied without running it",
                ),
            )

    def unmark(self, version: str) -> None:
        """Forget a version in the history without running its down SQL."""
        with self._locked() as (backend, history, state):
            row = _find(state.applied, version)
            if row is None:
                raise UnknownVersion(version, "the history")
            write_history(
                backend,
                history.forget_queries(
                    version=row.version,
                    checksum=row.checksum,
                    event="unmarked",
                    detail="removed from the history without running down SQL",
                ),
            )

    def repair(self, version: str | None = None, *, dry_run: bool = False) -> tuple[Repair, ...]:
        """Accept an intended edit to applied files (a comment fixed, whitespace): record the
        current checksum of ``version``, or of every changed file, without running anything;
        each is a ``repaired`` event in the audit log with the old and new checksum.

        Raises UnknownVersion when ``version`` is not applied, PlanError when its file is
        missing or unchanged. ``dry_run`` reads only and takes no lock.
        """
        migrations = self.migrations
        if dry_run:
            return self._repairs(migrations, self.applied(), version)[1]
        with self._locked() as (backend, history, state):
            rows, repairs = self._repairs(migrations, state.applied, version)
            queries = []
            for row, migration in rows:
                queries += history.repair_queries(row, migration)
            if queries:
                write_history(backend, queries)
            return repairs

    def _repairs(
        self, migrations: Sequence[Migration], applied: Sequence[Applied], version: str | None
    ) -> tuple[list[tuple[Applied, Migration]], tuple[Repair, ...]]:
        entries = compute_status(migrations, applied, environment=self.environment)
        if version is not None:
            entry = next((e for e in entries if e.version.names(version)), None)
            if entry is None or entry.applied is None:
                raise UnknownVersion(version, "the history")
            if entry.migration is None:
                raise PlanError(
                    f"{entry.version} is applied but its file is not in the folder: there is "
                    "nothing to repair from; restore the file"
                )
            if entry.state is not State.CHANGED:
                raise PlanError(
                    f"{entry.version}_{entry.name} is {entry.state.value}, not changed: there "
                    "is nothing to repair"
                )
            chosen = [entry]
        else:
            chosen = [e for e in entries if e.state is State.CHANGED]
        rows = []
        for entry in chosen:
            assert entry.migration is not None and entry.applied is not None
            # The row as stored (its own spelling of the version).
            stored = next(
                (a for a in applied if entry.migration.version.names(a.version.text)),
                entry.applied,
            )
            rows.append((stored, entry.migration))
        repairs = tuple(
            Repair(m.version.text, m.name, m.up.path, row.checksum, m.checksum) for row, m in rows
        )
        return rows, repairs

    def adopt(
        self,
        source: str | None = None,
        *,
        table: str | None = None,
        dry_run: bool = False,
        verify_checksums: bool = True,
    ) -> Adoption:
        """Take over the history of the tool that migrated this database (``source``: sqlx,
        diesel, dbmate, golang-migrate, goose, flyway, drizzle; None finds it).

        Records the migrations that tool applied as applied in migrata's history, in one
        transaction, without running them and without touching the tool's table; each is an
        ``adopted`` event in the audit log. ``dry_run`` reads only and takes no lock.

        Raises PlanError when no (or more than one) foreign history is found, and
        AdoptionRefused with every reason when that history is dirty, failed, or disagrees
        with the folder.
        """
        migrations = self.migrations
        if dry_run:
            with self._session() as (backend, history):
                state = history.read()
                return self._adoption(backend, state, migrations, source, table, verify_checksums)
        with self._locked() as (backend, history, state):
            adoption = self._adoption(backend, state, migrations, source, table, verify_checksums)
            if adoption.record:
                history.ensure(state)
                detail = f"adopted from {adoption.tool} ({adoption.table}) without running it"
                queries = []
                for migration, checksum in adoption.record:
                    queries += history.mark_queries(
                        version=migration.version.text,
                        name=migration.name,
                        checksum=checksum,
                        event="adopted",
                        detail=detail,
                    )
                write_history(backend, queries)
                logger.info(
                    "adopted %d migration(s) from %s (%s)",
                    len(adoption.record),
                    adoption.tool,
                    adoption.table,
                )
            return adoption

    def _adoption(
        self,
        backend: Backend,
        state: HistoryState,
        migrations: Sequence[Migration],
        source: str | None,
        table: str | None,
        verify_checksums: bool,
    ) -> Adoption:
        found = find_histories(backend, tool=source, table=table)
        if len(found) > 1:
            # The folder's layout breaks the tie (a dbmate folder next to a stray goose table).
            layout = self.discover()
            names = {layout.layout, *layout.also}
            matching = [h for h in found if h.tool in names]
            if len(matching) == 1:
                found = (matching[0],)
        if not found:
            looked = f"{source}'s table" if source else "the tables of " + ", ".join(TOOLS)
            raise PlanError(
                f"no other tool's history found in {backend.display_name} (looked for "
                f"{looked}); pass {setting('adopt_source')} {setting('adopt_table')} for a "
                "table with a custom name, or "
                "run `migrata baseline --version V` for a database with no history at all"
            )
        if len(found) > 1:
            tables = ", ".join(f"{h.tool} ({h.table})" for h in found)
            raise PlanError(
                f"several tools' histories found: {tables}; pick one with {setting('adopt_source')}"
            )
        adoption = plan_adoption(
            found[0], migrations, state.applied, verify_checksums=verify_checksums
        )
        if adoption.problems:
            raise AdoptionRefused(adoption.tool, adoption.table, adoption.problems)
        return adoption

    def baseline(self, version: str, *, dry_run: bool = False) -> tuple[Migration, ...]:
        """Record every versioned migration up to ``version`` (inclusive) as applied, without
        running them: for a database that has the schema but no history at all.

        Refuses when migrata's history already has rows (use mark-applied) or ``version`` is
        not a versioned migration of the folder. Returns the migrations recorded (or that
        would be, with ``dry_run``).
        """
        migrations = self.migrations
        target = _find_migration(migrations, version)
        if target is None or target.repeatable:
            raise UnknownVersion(version)
        chosen = tuple(m for m in migrations if not m.repeatable and m.version <= target.version)
        if dry_run:
            self._refuse_baseline(self.applied())
            return chosen
        with self._locked() as (backend, history, state):
            self._refuse_baseline(state.applied)
            history.ensure(state)
            queries = []
            for migration in chosen:
                queries += history.mark_queries(
                    version=migration.version.text,
                    name=migration.name,
                    checksum=migration.checksum,
                    event="baseline",
                    detail=f"baseline at {target.version}: recorded without running it",
                )
            write_history(backend, queries)
        return chosen

    @staticmethod
    def _refuse_baseline(applied: Sequence[Applied]) -> None:
        if applied:
            raise PlanError(
                f"the history already has {len(applied)} migration(s): baseline is for a "
                "database with no history; use `migrata mark-applied VERSION` for single ones"
            )

    # -- internals --------------------------------------------------------------------------

    @contextmanager
    def _session(self, *, writing: bool = False) -> Iterator[tuple[Backend, History]]:
        if self.url is not None:
            patience = Patience(self.wait, connect_timeout=self.connect_timeout)
            if writing and self.create_database:
                provision.create_database(self.url, patience)
            backend = provision.open_when_ready(self.url, patience)
        else:
            backend = wrap_connection(self._connection)
        try:
            self._server_version = backend.server_version
            session = self._session_sql()
            if session:
                try:
                    backend.run([Query(st.sql) for st in session])
                except QueryFailed as failure:
                    backend.rollback()
                    st = session[failure.index]
                    scrub = self.url.scrub if self.url is not None else (lambda text: text)
                    raise ExecutionError(
                        f"{self.session_sql_path}:{st.line}:{st.column}: the session SQL "
                        f"failed: {scrub(failure.message)}; fix it (nothing was run)"
                    ) from None
            yield (
                backend,
                open_history(
                    backend,
                    table=self.table,
                    schema=self.schema,
                    service=self.service,
                    cluster=self.cluster,
                    engine=self.history_engine,
                ),
            )
        finally:
            backend.close()

    @contextmanager
    def _locked(self) -> Iterator[tuple[Backend, History, HistoryState]]:
        """One connection, the migration lock, and the history read under it."""
        with self._session(writing=True) as (backend, history):
            if backend.capabilities.lock == "none":
                self._without_lock(backend)
            asked = time.monotonic()
            with backend.lock(self._lock_name(), self.lock_timeout):
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

    def _without_lock(self, backend: Backend) -> None:
        """Warn (or, with ``require_lock``, refuse) where the engine has no lock to take."""
        text = (
            f"{backend.display_name} offers no migration lock: two runs at the same time could "
            "both apply a migration; run migrata from one place at a time (one deploy job, "
            "one init container)"
        )
        if self.require_lock:
            raise LockUnavailable(
                f"{text}; {setting('require_lock')} refuses to go on (nothing was run)"
            )
        logger.warning("%s (--require-lock makes this an error)", text)

    def _execute(
        self,
        make_plan: Callable[[tuple[Applied, ...]], Plan],
        *,
        dry_run: bool,
        allow_empty_down: bool = False,
    ) -> RunReport:
        """Plan from the history and run it: everything is planned and split before the first
        statement; a dry run reads without the lock and runs nothing."""
        if dry_run:
            plan = make_plan(self.applied())
            self._raise_problems(plan)
            plan, _ = self._prepare(plan, allow_empty_down=allow_empty_down)
            return _dry_report(plan)
        with self._locked() as (backend, history, state):
            plan = make_plan(state.applied)
            self._raise_problems(plan)
            plan, statements = self._prepare(plan, allow_empty_down=allow_empty_down)
            if plan.direction is Direction.UP and self.extensions:
                self._create_extensions(backend)
            self._log_plan(plan, state.applied, backend.display_name)
            if not plan.steps and (plan.direction is Direction.DOWN or state.exists):
                history.check_layout(state)
                self._log_finished(plan, 0, 0.0, backend.display_name)
                return RunReport(plan.direction, ())
            # (Nothing to apply to a database without history still creates the tables.)
            history.ensure(state)
            started = time.perf_counter()
            report = self._runner(backend, history).run(
                plan, statements, single_transaction=self.single_transaction
            )
            duration = (time.perf_counter() - started) * 1000
            self._log_finished(plan, len(report.steps), duration, backend.display_name)
            return report

    @staticmethod
    def _log_finished(plan: Plan, count: int, duration: float, database: str) -> None:
        """The ``run_finished`` event, also for a run with nothing to do."""
        if count:
            verb = "applied" if plan.direction is Direction.UP else "reverted"
            text = f"{verb} {count} migration(s) in {duration:.0f} ms"
        elif plan.direction is Direction.UP:
            text = "nothing to apply: the database is up to date"
        else:
            text = "nothing to revert"
        log_event(
            "run_finished",
            "%s: %s",
            database,
            text,
            database=database,
            direction=plan.direction.value,
            migrations=count,
            duration_ms=round(duration, 3),
        )

    def _log_plan(self, plan: Plan, applied: Sequence[Applied], database: str) -> None:
        """The ``plan`` event: what this run is about to do, and what it leaves out."""
        elsewhere: tuple[str, ...] = ()
        if plan.direction is Direction.UP:
            entries = compute_status(self.migrations, applied, environment=self.environment)
            elsewhere = tuple(e.version.text for e in entries if e.state is State.NOT_APPLICABLE)
        log_event(
            "plan",
            "%d migration(s) to %s on %s%s",
            len(plan.steps),
            "apply" if plan.direction is Direction.UP else "revert",
            database,
            f" ({len(elsewhere)} not applicable in environment {self.environment or '(none)'})"
            if elsewhere
            else "",
            database=database,
            direction=plan.direction.value,
            versions=[step.version.text for step in plan.steps],
            environment=self.environment,
            not_applicable=list(elsewhere),
        )

    def _create_extensions(self, backend: Backend) -> None:
        """CREATE EXTENSION IF NOT EXISTS for each configured extension, in one round trip."""
        queries = [
            Query(f"CREATE EXTENSION IF NOT EXISTS {backend.quote_identifier(name)}")
            for name in self.extensions
        ]
        try:
            backend.run(queries)
        except QueryFailed as failure:
            backend.rollback()
            name = self.extensions[failure.index]
            scrub = self.url.scrub if self.url is not None else (lambda text: text)
            raise ExecutionError(
                f"creating extension {name!r} failed: {scrub(failure.message)}; install it on "
                "the server, or create it as a superuser (nothing was migrated)"
            ) from None

    def _runner(self, backend: Backend, history: History) -> Runner:
        scrub = self.url.scrub if self.url is not None else (lambda text: text)
        return Runner(
            backend,
            history,
            on_step=self.on_step,
            secrets=scrub,
            session=self._session_sql(),
            session_path=self.session_sql_path,
            timeouts=self.timeouts,
            lock_retries=self.lock_retries,
        )

    def _lock_name(self) -> str:
        return f"migrata:{self.schema or ''}.{self.table}"

    def _plan_up(
        self,
        migrations: Sequence[Migration],
        applied: Sequence[Applied],
        to: str | None,
        *,
        resume: str | None = None,
    ) -> Plan:
        return plan_up(
            migrations,
            applied,
            target=to,
            resume=resume,
            allow_out_of_order=self.allow_out_of_order,
            single_transaction=self.single_transaction,
            environment=self.environment,
        )

    def _prepare(
        self, plan: Plan, *, allow_empty_down: bool = False
    ) -> tuple[Plan, dict[tuple[Version, Direction], tuple[Statement, ...]]]:
        """Split every script of the plan before anything runs, and decide from the statements
        which scripts must run outside a transaction (the plan then says so and why).

        Raises ValidationFailed for a down without statements (unless ``allow_empty_down``):
        reverting it would change nothing but the history, so the next ``up`` would fail."""
        dialect = self.dialect
        statements: dict[tuple[Version, Direction], tuple[Statement, ...]] = {}
        steps = []
        empty = []
        for step in plan.steps:
            split = split_script(step.script, dialect)
            statements[(step.version, step.direction)] = split
            if step.direction is Direction.DOWN and not split and not allow_empty_down:
                empty.append(
                    Problem(
                        "empty-down",
                        step.version,
                        f"{step.version}_{step.migration.name}: its down SQL "
                        f"({step.script.path}) has no statements, so reverting it would change "
                        "nothing but the history",
                        "write the SQL that undoes its up, or pass "
                        + setting("allow_empty_down")
                        + " if there is nothing to undo",
                    )
                )
            script = decide_transaction(
                step.script, split, dialect, server_version=self._server_version
            )
            if step.resume_after:
                script = self._resumed(step, script, len(split))
            if script is not step.script:
                changed = (
                    replace(step.migration, up=script)
                    if step.direction is Direction.UP
                    else replace(step.migration, down=script)
                )
                step = Step(changed, step.direction, step.resume_after)
            steps.append(step)
        if empty:
            raise ValidationFailed(empty)
        prepared = replace(plan, steps=tuple(steps))
        if self.single_transaction:
            problems = [
                Problem(
                    "no-transaction",
                    step.version,
                    f"{step.version}_{step.migration.name}: {step.script.transaction_note}; "
                    "the plan cannot run as one transaction",
                    "drop --single-transaction, or apply up to the version before it first",
                )
                for step in prepared.steps
                if not step.script.transactional
            ]
            if problems:
                raise ValidationFailed(problems)
        return prepared, statements

    @staticmethod
    def _resumed(step: Step, script: Script, count: int) -> Script:
        """The script of a resumed step: statement by statement, as the run that failed."""
        done = step.resume_after
        if done >= count:
            raise ValidationFailed(
                [
                    Problem(
                        "resume",
                        step.version,
                        f"cannot resume {step.version}_{step.migration.name}: {done} of its "
                        f"statements are recorded as done, and {script.path} now has {count}",
                        f"check the database, then run `migrata resolve {step.version} "
                        "--applied` or `--rolled-back`",
                    )
                ]
            )
        return replace(
            script,
            transactional=False,
            transaction_note=f"resumed after statement {done} of {count}: the rest runs "
            "statement by statement, like the run that failed",
        )

    def _session_sql(self) -> tuple[Statement, ...]:
        if self.session_sql is None or not self.session_sql.strip():
            return ()
        if self._session_statements is None:
            script = Script(path=self.session_sql_path, text=self.session_sql)
            self._session_statements = split_script(script, self.dialect)
        return self._session_statements

    def _planned(
        self, plan: Plan, runner: Runner | None = None, *, allow_empty_down: bool = False
    ) -> tuple[PlannedStatements, ...]:
        plan, statements = self._prepare(plan, allow_empty_down=allow_empty_down)
        planned = []
        for step in plan.steps:
            stmts = statements[(step.version, step.direction)]
            before, after = runner.preview(step, stmts) if runner is not None else ([], [])
            planned.append(
                PlannedStatements(
                    step.version.text,
                    step.migration.name,
                    step.direction,
                    step.script.path,
                    step.script.transactional,
                    stmts,
                    step.script.transaction_note,
                    before=tuple(_as_text(q) for q in before),
                    after=tuple(_as_text(q) for q in after),
                )
            )
        return tuple(planned)

    @staticmethod
    def _raise_problems(plan: Plan) -> None:
        if not plan.problems:
            return
        no_down = [p for p in plan.problems if p.code == "no-down"]
        if no_down and len(no_down) == len(plan.problems):
            raise MissingDownMigration([str(p.version) for p in no_down])
        raise ValidationFailed(plan.problems)


def _find(
    applied: Sequence[Applied], version: str, migrations: Sequence[Migration] = ()
) -> Applied | None:
    """The history row of ``version``: as the row spells it, or (given the folder's
    ``migrations``) read the way the folder's layout reads versions."""
    migration = _find_migration(migrations, version)
    return next(
        (
            a
            for a in applied
            if a.version.names(version)
            or (migration is not None and migration.version.names(a.version.text))
        ),
        None,
    )


def _find_migration(migrations: Sequence[Migration], version: str) -> Migration | None:
    return next((m for m in migrations if m.version.names(version)), None)


def _as_text(query: Query) -> str:
    """A query as SQL text, its parameters written as literals (for showing, not sending)."""
    if not query.params:
        return query.sql
    values = iter(query.params)

    def literal(value: object) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    return re.sub(r"%s|\?", lambda _: literal(next(values, None)), query.sql)


def _dry_report(plan: Plan) -> RunReport:
    return RunReport(
        plan.direction,
        tuple(
            StepResult(
                s.version.text, s.migration.name, s.direction, 0.0, 0, s.script.transactional
            )
            for s in plan.steps
        ),
        dry_run=True,
    )


@overload
def migrate(
    url: str | None = None,
    *,
    directory: str | os.PathLike[str] | None = None,
    package: str | None = None,
    connection: Any = None,
    config: None = None,
    targets: None = None,
    keep_going: bool = False,
    **options: Any,
) -> RunReport | None: ...


@overload
def migrate(
    url: None = None,
    *,
    config: str | os.PathLike[str],
    targets: Sequence[str] | None = None,
    keep_going: bool = False,
    **options: Any,
) -> dict[str, RunReport] | None: ...


@overload
def migrate(
    url: None = None,
    *,
    config: str | os.PathLike[str] | None = None,
    targets: Sequence[str],
    keep_going: bool = False,
    **options: Any,
) -> dict[str, RunReport] | None: ...


def migrate(
    url: str | None = None,
    *,
    directory: str | os.PathLike[str] | None = None,
    package: str | None = None,
    connection: Any = None,
    config: str | os.PathLike[str] | None = None,
    targets: Sequence[str] | None = None,
    keep_going: bool = False,
    **options: Any,
) -> RunReport | dict[str, RunReport] | None:
    """Apply every pending migration: the one call an app makes at start-up.

    Returns None without touching the database when ``MIGRATA_DISABLE=1`` (or
    ``DISABLE_EMBEDDED_MIGRATIONS=true``, the variable Diesel users already set). ``url``
    defaults to MIGRATA_DATABASE_URL, then DATABASE_URL.

    With ``config`` (a ``migrata.toml`` or ``pyproject.toml``) or ``targets``, runs the targets
    that file declares like ``migrata up`` (all of them, or those named in ``targets``, in the
    file's order; without ``config`` the file is looked up in the current folder) and returns
    ``{target name: RunReport}``; a file that declares no targets is one database, reported
    under the name ``"default"``. The first failure stops the run and is raised as it is (a
    note names the target); with ``keep_going`` every target runs and
    :class:`migrata.targets.TargetsFailed` carries each one's outcome. ``options`` (e.g.
    ``on_step``) go to every target's Migrator and win over the file.
    """
    if _disabled():
        logger.info("migrations disabled by MIGRATA_DISABLE / DISABLE_EMBEDDED_MIGRATIONS")
        return None
    if config is not None or targets is not None:
        from .config import load_settings, migrator_options
        from .targets import TargetsFailed, load_targets, run_targets, target_names

        if (
            url is not None
            or directory is not None
            or package is not None
            or connection is not None
        ):
            raise ConfigError(
                "give either config=/targets= or url/directory/package/connection, not both: "
                "the config file names each target's database and folder"
            )
        if not targets and not target_names(config_path=config):
            settings = load_settings({}, config_path=config)
            return {"default": Migrator(**{**migrator_options(settings), **options}).up()}
        chosen = load_targets(names=targets, config_path=config)
        outcomes = run_targets(
            chosen,
            lambda target: Migrator(**{**migrator_options(target.settings), **options}).up(),
            keep_going=keep_going,
        )
        failed = [o.error for o in outcomes if o.error is not None]
        if failed and not keep_going:
            raise failed[0]
        if failed:
            raise TargetsFailed(outcomes)
        return {o.name: o.result for o in outcomes if o.result is not None}
    if url is None and connection is None:
        url = os.environ.get("MIGRATA_DATABASE_URL") or os.environ.get("DATABASE_URL")
    options = {**_deploy_options_from_environment(options), **options}
    migrator = Migrator(url, connection=connection, directory=directory, package=package, **options)
    return migrator.up()


def _deploy_options_from_environment(given: dict[str, Any]) -> dict[str, Any]:
    """The deployment settings an app's ``migrate()`` call did not give, from the variables
    the CLI reads (MIGRATA_ENV, MIGRATA_WAIT, MIGRATA_CREATE_DATABASE, the time limits), so
    one container environment configures both. Raises ConfigError for a bad value."""
    from .config import ENV_VARS, coerce_setting

    found: dict[str, Any] = {}
    for name in (
        "environment",
        "wait",
        "create_database",
        "statement_timeout",
        "migration_timeout",
        "ddl_lock_timeout",
        "ddl_lock_retries",
    ):
        (variable,) = ENV_VARS[name]
        if os.environ.get(variable):
            found[name] = coerce_setting(name, os.environ[variable], variable)
    options: dict[str, Any] = {
        k: v for k, v in found.items() if k in {"environment", "wait", "create_database"}
    }
    if "ddl_lock_retries" in found:
        options["lock_retries"] = found["ddl_lock_retries"]
    limits = {
        "statement": found.get("statement_timeout"),
        "migration": found.get("migration_timeout"),
        "lock": found.get("ddl_lock_timeout"),
    }
    if any(v is not None for v in limits.values()) and "timeouts" not in given:
        options["timeouts"] = Timeouts(**limits).over(Timeouts(lock=DEFAULT_DDL_LOCK_TIMEOUT))
    return {k: v for k, v in options.items() if k not in given}


def wait_for_database(
    url: str, *, timeout: float = 60, connect_timeout: float = 10
) -> provision.Waited:
    """Wait until the database ``url`` names accepts connections (``migrata wait``): a
    server not listening yet, a host name not yet resolvable or a server starting up are
    tried again, with growing pauses, for up to ``timeout`` seconds.

    Raises WaitTimeout, or ConnectionFailed at once for what waiting cannot mend (a wrong
    password, a database that does not exist).
    """
    return provision.wait_for_database(
        parse_url(url), timeout=timeout, connect_timeout=connect_timeout
    )


def create_database(url: str, *, wait: float = 0, connect_timeout: float = 10) -> bool:
    """Create the database ``url`` names when it does not exist (PostgreSQL, MySQL/MariaDB,
    ClickHouse; SQLite creates the file and its folder), waiting up to ``wait`` seconds for
    the server; True when it was created."""
    return provision.create_database(
        parse_url(url), Patience(wait, connect_timeout=connect_timeout)
    )


def drop_database(
    url: str, *, force: bool = False, wait: float = 0, connect_timeout: float = 10
) -> bool:
    """Drop the database ``url`` names; True when it existed. ``force`` ends the sessions
    still connected to it (PostgreSQL). Irreversible: the CLI asks for ``--yes``."""
    return provision.drop_database(
        parse_url(url), Patience(wait, connect_timeout=connect_timeout), force=force
    )


def _disabled() -> bool:
    truthy = {"1", "true", "yes", "on"}
    return (
        os.environ.get("MIGRATA_DISABLE", "").strip().lower() in truthy
        or os.environ.get("DISABLE_EMBEDDED_MIGRATIONS", "").strip().lower() in truthy
    )


__all__ = [
    "Migrator",
    "PlannedStatements",
    "Repair",
    "create_database",
    "drop_database",
    "migrate",
    "wait_for_database",
]
