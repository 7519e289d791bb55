"""The Migrator: the one object the CLI and applications both use.

A façade over small collaborators, each with one job: :class:`~migrata.session.Connector`
(connect, provision, session SQL, the lock), :mod:`migrata.prepare` (split every script and
decide its transaction before anything runs), :class:`~migrata.runner.Runner` (send and
record), :class:`~migrata.bookkeeping.Bookkeeping` (resolve, mark, repair, baseline, adopt).

Every writing method follows one shape: connect → lock → read history → plan → prepare →
create the tracking tables if needed → run, inside ``with`` blocks that release the lock and
close the connection on every exit path, Ctrl-C included. Reading methods (status, plan,
validate) take no lock and create nothing.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .backends.base import Backend, own_tables
from .cache import SplitCache, cache_folder
from .discovery import discover_migrations
from .errors import (
    ConfigError,
    DiscoveryError,
    MissingDownMigration,
    PlanError,
    ValidationFailed,
)
from .events import log_event
from .history import History
from .layouts.base import ReadResult
from .models import (
    Applied,
    AuditEvent,
    Direction,
    Migration,
    Plan,
    Problem,
    RunReport,
    State,
    StatusEntry,
    StatusReport,
    Step,
    Validation,
    VersionIndex,
)
from .planner import compute_status, find_problems, plan_down, plan_up, validate
from .prepare import (
    PlannedStatements,
    PreparedPlan,
    describe_statements,
    dry_report,
    prepare_plan,
    script_problems,
)
from .session import Connector
from .settings import SPECS, Settings
from .urls import DatabaseURL

if TYPE_CHECKING:
    # The runner, the bookkeeping and the linter are imported when a command uses them:
    # status, and `up` with nothing to do, load none of them.
    from .bookkeeping import Bookkeeping, Repair
    from .foreign import Adoption
    from .lint import LintOptions
    from .lint.report import LintReport
    from .linter import Linter
    from .runner import OnStep, Runner

__all__ = ["Migrator", "PlannedStatements", "Repair"]

logger = logging.getLogger("migrata")


class Migrator:
    """Migrations of one folder (or package) against one database.

    ``Migrator(settings)`` takes a :class:`~migrata.settings.Settings`; ``Migrator(url,
    directory=..., **settings)`` builds one from keywords named as the settings are
    (``package=``, ``table=``, ``ddl_lock_timeout=``…). Pass ``connection=`` (psycopg 3,
    PyMySQL or sqlite3) instead of a URL to borrow an open connection: migrata never closes
    it. ``on_step`` is called with each :class:`~migrata.models.StepEvent` of a run.

    Raises ConfigError for an unknown keyword or a bad value.
    """

    def __init__(
        self,
        settings: Settings | str | None = None,
        /,
        *,
        connection: Any = None,
        on_step: OnStep | None = None,
        **options: Any,
    ) -> None:
        if isinstance(settings, Settings):
            base = settings
        else:
            base = Settings()
            if settings is not None:
                options = {"database_url": settings, **options}
        self.settings = base.with_values(_current_names(options))
        self.on_step = on_step
        self._connector = Connector(self.settings, connection)
        self._source: ReadResult | None = None
        self._cache: SplitCache | None = None

    @property
    def cache(self) -> SplitCache:
        """The cache of split statements of the ``split_cache`` setting (see
        :mod:`migrata.cache`)."""
        if self._cache is None:
            self._cache = SplitCache(cache_folder(self.settings.run.split_cache))
        return self._cache

    @property
    def _bookkeeping(self) -> Bookkeeping:
        from .bookkeeping import Bookkeeping

        return Bookkeeping(
            self._connector, self.discover, environment=self.settings.source.environment
        )

    @property
    def _linter(self) -> Linter:
        # Imported when first used: reading commands and `--help` never load the rules.
        from .linter import Linter

        return Linter(self._connector, self.discover, self.settings)

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
        from .targets import select_targets

        names = [target] if target is not None else None
        why = "the config file declares several targets"
        (chosen,) = select_targets(names=names, one=why, config_path=config)
        settings = chosen.settings
        return cls(settings, **options)

    # -- sources ----------------------------------------------------------------------------

    def discover(self) -> ReadResult:
        """The migrations of the folder or package (read once per Migrator)."""
        if self._source is None:
            source = self.settings.source
            seeds = (source.seeds_dir, source.seeds_environments) if source.seeds_dir else None
            self._source = discover_migrations(
                None if source.package else source.directory,
                package=source.package,
                layout=source.layout,
                seeds=seeds,
                cache=cache_folder(self.settings.run.split_cache),
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
        return self._connector.dialect

    @property
    def url(self) -> DatabaseURL | None:
        """The database URL (None for a borrowed connection); its ``redacted`` form is safe
        to show."""
        return self._connector.url

    @property
    def environment(self) -> str | None:
        return self.settings.source.environment

    def __getattr__(self, name: str) -> Any:
        # Attributes of earlier releases, one per setting: read from the settings now.
        if name in _ATTRIBUTES:
            warnings.warn(
                f"Migrator.{name} is deprecated: read Migrator.settings "
                f"(e.g. settings.{_ATTRIBUTES[name]})",
                DeprecationWarning,
                stacklevel=2,
            )
            if name == "timeouts":
                return self.settings.timeouts
            return self.settings.get(_ATTRIBUTES[name].rsplit(".", 1)[-1])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- reading ----------------------------------------------------------------------------

    def status(self) -> tuple[StatusEntry, ...]:
        """Each migration's state; one query, no lock, creates nothing."""
        migrations = self.migrations
        environment = self.settings.source.environment
        return compute_status(migrations, self.applied(), environment=environment)

    def status_report(self) -> StatusReport:
        """:meth:`status` with the problems that would stop ``up`` (and an exit code)."""
        entries = self.status()
        return StatusReport(entries, self.problems(entries))

    def problems(self, entries: Sequence[StatusEntry]) -> tuple[Problem, ...]:
        """What in ``entries`` (from :meth:`status`) would stop ``up``; no I/O."""
        return find_problems(entries, allow_out_of_order=self.settings.run.allow_out_of_order)

    def applied(self) -> tuple[Applied, ...]:
        """The history rows of this service; one query, no lock, creates nothing."""
        with self._connector.open() as (_backend, history):
            return history.read().applied

    def validate(self) -> Validation:
        """The folder against the history, and every pending script read as ``up`` would read
        it (split, checked for syntax where the engine allows: SQLite compiles each statement
        against a copy of the schema in memory), without running anything: one connection,
        no lock, nothing written."""
        migrations = self.migrations
        with self._connector.open() as (backend, history):
            applied = history.read().applied
            result = validate(
                migrations,
                applied,
                allow_out_of_order=self.settings.run.allow_out_of_order,
                environment=self.settings.source.environment,
            )
            plan = self._plan_up(migrations, applied, None)
            found = script_problems(
                plan, self.dialect, backend.check_statements, cache=self.cache
            )
        return replace(result, problems=result.problems + found)

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
        what the run sends around them (opens a connection; writes nothing).

        Raises ValidationFailed, with every problem, when ``up`` would refuse to run."""
        with self._connector.open() as (backend, history):
            plan = self._plan_up(self.migrations, history.read().applied, to)
            if plan.problems:
                raise ValidationFailed(plan.problems)
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
        with self._connector.open() as (backend, history):
            plan = plan_down(
                migrations, history.read().applied, steps=steps, target=to, revert_all=all
            )
            self._raise_problems(plan)
            return plan, self._planned(
                plan, self._runner(backend, history), allow_empty_down=allow_empty_down
            )

    def lint(
        self,
        selection: Sequence[str] = (),
        *,
        all: bool = False,
        options: LintOptions | None = None,
        fail_on: str = "error",
        server_version: int | None = None,
        dialect: str | None = None,
    ) -> LintReport:
        """The linter's findings; see :meth:`migrata.linter.Linter.lint`."""
        return self._linter.lint(
            selection,
            all=all,
            options=options,
            fail_on=fail_on,
            server_version=server_version,
            dialect=dialect,
        )

    def audit_log(self) -> tuple[AuditEvent, ...]:
        """Every recorded event for this service, oldest first."""
        with self._connector.open() as (_backend, history):
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
        with self._connector.locked() as (backend, history, state):
            down_plan = plan_down(migrations, state.applied, steps=1)
            self._raise_problems(down_plan)
            if not down_plan.steps:
                raise PlanError("nothing to redo: no migration is applied")
            again = down_plan.steps[0]
            up_plan = Plan(Direction.UP, (Step(again.migration, Direction.UP),))
            reverting = self._prepare(down_plan, allow_empty_down=allow_empty_down)
            applying = self._prepare(up_plan)
            history.check_layout(state)
            runner = self._runner(backend, history)
            reports = self._run(runner, reverting), self._run(runner, applying)
            self._write_schema(backend, history)
            return reports

    # -- bookkeeping (see migrata.bookkeeping) -----------------------------------------------

    def resolve(self, version: str, *, applied: bool) -> None:
        """Clear a failed row after a human has looked: ``applied=True`` keeps the migration as
        applied, ``False`` forgets it so ``up`` runs it again."""
        self._bookkeeping.resolve(version, applied=applied)

    def mark_applied(self, version: str) -> None:
        """Record a migration of the folder as applied without running it."""
        self._bookkeeping.mark_applied(version)

    def unmark(self, version: str) -> None:
        """Forget a version in the history without running its down SQL."""
        self._bookkeeping.unmark(version)

    def repair(self, version: str | None = None, *, dry_run: bool = False) -> tuple[Repair, ...]:
        """Record the current checksum of ``version`` (or of every changed file) without
        running anything; see :meth:`migrata.bookkeeping.Bookkeeping.repair`."""
        return self._bookkeeping.repair(version, dry_run=dry_run)

    def adopt(
        self,
        source: str | None = None,
        *,
        table: str | None = None,
        dry_run: bool = False,
        verify_checksums: bool = True,
    ) -> Adoption:
        """Take over the history of the tool that migrated this database; see
        :meth:`migrata.bookkeeping.Bookkeeping.adopt`."""
        return self._bookkeeping.adopt(
            source, table=table, dry_run=dry_run, verify_checksums=verify_checksums
        )

    def baseline(self, version: str, *, dry_run: bool = False) -> tuple[Migration, ...]:
        """Record every versioned migration up to ``version`` as applied without running
        them; see :meth:`migrata.bookkeeping.Bookkeeping.baseline`."""
        return self._bookkeeping.baseline(version, dry_run=dry_run)

    # -- internals --------------------------------------------------------------------------

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
            return dry_report(self._prepare(plan, allow_empty_down=allow_empty_down).plan)
        with self._connector.locked() as (backend, history, state):
            plan = make_plan(state.applied)
            self._raise_problems(plan)
            prepared = self._prepare(plan, allow_empty_down=allow_empty_down)
            plan = prepared.plan
            if plan.direction is Direction.UP and self.settings.run.extensions:
                self._connector.create_extensions(backend)
            linted: Callable[[], None] | None = None
            if plan.steps and plan.direction is Direction.UP and self.settings.run.lint != "off":
                # (Only then: a run with nothing to apply loads no lint rules.)
                linted = self._linter.check_before_running(plan)
            self._log_plan(plan, state.applied, backend.display_name)
            if not plan.steps and (plan.direction is Direction.DOWN or state.exists):
                history.check_layout(state)
                self._log_finished(plan, 0, 0.0, backend.display_name)
                return RunReport(plan.direction, ())
            # (Nothing to apply to a database without history still creates the tables.)
            history.ensure(state)
            started = time.perf_counter()
            try:
                report = self._run(self._runner(backend, history), prepared)
            finally:
                if linted is not None:
                    linted()  # the lint's warnings, all logged before up returns
            duration = (time.perf_counter() - started) * 1000
            self._log_finished(plan, len(report.steps), duration, backend.display_name)
            if report.steps:
                self._write_schema(backend, history)
            return report

    def dump(self) -> str:
        """The database's schema as canonical text (see Backend.read_schema), migrata's own
        tables left out, headed by the newest applied version; one connection, no lock,
        nothing written. Raises ConfigError for an engine without a reader."""
        with self._connector.open() as (backend, history):
            try:
                return self._schema_text(backend, history)
            except NotImplementedError as exc:
                raise ConfigError(
                    f"{exc}: the schema can be read from PostgreSQL, MySQL/MariaDB, SQLite and "
                    "ClickHouse"
                ) from None

    def schema_sql(self) -> str:
        """The database's schema as SQL that builds it again (migrata's tables left out), for
        a baseline. Raises ConfigError where the engine cannot write it."""
        with self._connector.open() as (backend, _history):
            try:
                return backend.schema_sql(exclude=own_tables(self.settings.history.table))
            except NotImplementedError as exc:
                raise ConfigError(f"{exc}; nothing was changed") from None

    def _schema_text(self, backend: Backend, history: History) -> str:
        applied = [a for a in history.read().applied if a.success]
        newest = max(applied, key=lambda a: a.version).version.text if applied else "none"
        header = f"-- schema after migration {newest} (written by migrata dump)\n\n"
        return header + backend.read_schema(exclude=own_tables(self.settings.history.table))

    def _write_schema(self, backend: Backend, history: History) -> None:
        """Write the schema to the ``dump_schema`` file after a run that changed something
        (dbmate's schema.sql, reviewed with each migration)."""
        path = self.settings.source.dump_schema
        if not path:
            return
        text = self._schema_text(backend, history)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        log_event("schema_written", "wrote the schema to %s", path, path=path)

    def _run(self, runner: Runner, prepared: PreparedPlan) -> RunReport:
        return runner.run(
            prepared.plan,
            prepared.statements,
            single_transaction=self.settings.run.single_transaction,
        )

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
        # (Only migrations limited to environments can be not applicable.)
        limited = any(m.up.environments is not None for m in self.migrations)
        if plan.direction is Direction.UP and limited:
            entries = compute_status(
                self.migrations, applied, environment=self.settings.source.environment
            )
            elsewhere = tuple(e.version.text for e in entries if e.state is State.NOT_APPLICABLE)
        log_event(
            "plan",
            "%d migration(s) to %s on %s%s",
            len(plan.steps),
            "apply" if plan.direction is Direction.UP else "revert",
            database,
            f" ({len(elsewhere)} not applicable in environment {self.settings.source.environment or '(none)'})"
            if elsewhere
            else "",
            database=database,
            direction=plan.direction.value,
            versions=[step.version.text for step in plan.steps],
            environment=self.settings.source.environment,
            not_applicable=list(elsewhere),
        )

    def _runner(self, backend: Backend, history: History) -> Runner:
        from .runner import Runner

        session, where = self._connector.session_sql()
        return Runner(
            backend,
            history,
            on_step=self.on_step,
            secrets=self._connector.scrub,
            session=session,
            session_path=where,
            timeouts=self.settings.timeouts,
            lock_retries=self.settings.run.ddl_lock_retries,
        )

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
            allow_out_of_order=self.settings.run.allow_out_of_order,
            single_transaction=self.settings.run.single_transaction,
            environment=self.settings.source.environment,
        )

    def _prepare(self, plan: Plan, *, allow_empty_down: bool = False) -> PreparedPlan:
        return prepare_plan(
            plan,
            dialect=self.dialect,
            server_version=self._connector.server_version,
            allow_empty_down=allow_empty_down,
            single_transaction=self.settings.run.single_transaction,
            cache=self.cache,
        )

    def _planned(
        self, plan: Plan, runner: Runner | None = None, *, allow_empty_down: bool = False
    ) -> tuple[PlannedStatements, ...]:
        prepared = self._prepare(plan, allow_empty_down=allow_empty_down)
        return describe_statements(
            prepared,
            runner.preview if runner is not None else None,
            dialect=self.dialect,
            server_version=self._connector.server_version,
        )

    @staticmethod
    def _raise_problems(plan: Plan) -> None:
        if not plan.problems:
            return
        no_down = [p for p in plan.problems if p.code == "no-down"]
        if no_down and len(no_down) == len(plan.problems):
            raise MissingDownMigration([str(p.version) for p in no_down])
        raise ValidationFailed(plan.problems)


def __getattr__(name: str) -> Any:
    # Repair is re-exported from the bookkeeping, imported only when asked for.
    if name == "Repair":
        from .bookkeeping import Repair

        return Repair
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Attributes of earlier releases, and where the settings keep them now.
_ATTRIBUTES = {
    **{
        name: f"{spec.group}.{name}"
        for name, spec in SPECS.items()
        if name not in {"database_url", "environment"}
    },
    "lock_retries": "run.ddl_lock_retries",
    "timeouts": "timeouts",
}

#: Library keywords of earlier releases, and the settings they became.
_RENAMED = {"lock_retries": "ddl_lock_retries", "url": "database_url"}


def _current_names(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with the keywords of earlier releases turned into settings (with a
    DeprecationWarning for those that are going away) and None meaning "not given"."""
    given = {k: v for k, v in options.items() if v is not None}
    if "directory" in given and "package" in given:
        raise ConfigError("give either a migrations directory or a package, not both")
    values: dict[str, Any] = {}
    for key, value in given.items():
        if key in {"timeouts", "seeds", "lock_retries", "session_sql_path"}:
            warnings.warn(
                f"Migrator({key}=...) is deprecated: "
                + {
                    "timeouts": "pass statement_timeout=, migration_timeout=, ddl_lock_timeout=",
                    "seeds": "pass seeds_dir= and seeds_environments=",
                    "lock_retries": "pass ddl_lock_retries=",
                    "session_sql_path": "pass session_sql_file= (it names itself in messages)",
                }[key],
                DeprecationWarning,
                stacklevel=3,
            )
        if key == "timeouts":
            limits = {
                "statement_timeout": value.statement,
                "migration_timeout": value.migration,
                # None left the lock wait to the server (PostgreSQL's default: forever).
                "ddl_lock_timeout": value.lock if value.lock is not None else 0.0,
            }
            values.update({k: v for k, v in limits.items() if v is not None})
        elif key == "seeds":
            folder, environments = value
            values.update(seeds_dir=folder, seeds_environments=tuple(environments))
        elif key != "session_sql_path":
            values[_RENAMED.get(key, key)] = value
    return values
