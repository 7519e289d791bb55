"""The ``migrata`` command. Each command: load settings → call the library → render.

No SQL, planning or history access here. Errors raised on purpose (MigrataError) become a
message on stderr and the exit code they carry (see :mod:`migrata.exitcodes`); anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from .config import Settings, load_settings, migrator_options
from .errors import MigrataError
from .events import EVENT, PROGRESS, log_event
from .exitcodes import ExitCode

if TYPE_CHECKING:
    from .targets import Target, TargetOutcome

logger = logging.getLogger("migrata")


#: The flags that name one database, as the user types them.
_ONE_DATABASE_FLAGS = {
    "database_url": "-u/--database-url",
    "dir": "-d/--dir",
    "package": "--package",
    "service": "--service",
    "session_sql_file": "--session-sql",
}


@dataclass
class _Context:
    flags: dict[str, Any]
    config_path: str | None
    verbosity: int
    #: The targets picked with --target / MIGRATA_TARGET (empty: all that are declared).
    target_names: tuple[str, ...] = ()
    #: "text" or "json" (--log-format): JSON lines on stderr instead of text.
    log_format: str = "text"
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.flags, config_path=self.config_path)
        return self._settings

    def targets(self, *, one: str | None = None) -> tuple[Target, ...] | None:
        """The selected targets, in declared order; None when the config declares none (one
        database, as without targets). ``one`` says why exactly one target is needed (a
        command on one version): then several selected targets are a usage error."""
        from .targets import load_targets, target_names

        declared = target_names(config_path=self.config_path)
        if not declared:
            if self.target_names:
                raise click.UsageError(
                    f"--target {', '.join(self.target_names)}: the config file declares no "
                    "targets (declare them as [targets.NAME] in migrata.toml or "
                    "[tool.migrata.targets.NAME] in pyproject.toml)"
                )
            return None
        listed = ", ".join(declared)
        unknown = [n for n in self.target_names if n not in declared]
        if unknown:
            raise click.UsageError(
                f"unknown target {', '.join(map(repr, unknown))}; declared: {listed}"
            )
        count = len(set(self.target_names)) if self.target_names else len(declared)
        if one is not None and count != 1:
            raise click.UsageError(f"{one}: pick one with --target NAME (declared: {listed})")
        given = [flag for key, flag in _ONE_DATABASE_FLAGS.items() if self.flags.get(key)]
        if given and count != 1:
            raise click.UsageError(
                f"{', '.join(given)} names one database but {count} targets are selected: "
                f"pick one with --target NAME (declared: {listed})"
            )
        return load_targets(
            self.flags, names=self.target_names or None, config_path=self.config_path
        )

    def one_settings(self, command: str) -> Settings:
        """The settings of a command that acts on one database: the one selected target's,
        or, without targets, the usual ones."""
        targets = self.targets(one=f"`{command}` acts on one database")
        return targets[0].settings if targets is not None else self.settings

    def migrator(
        self,
        settings: Settings | None = None,
        *,
        on_step: Callable[..., None] | None = None,
        **overrides: Any,
    ) -> Any:
        from .migrator import Migrator

        options = migrator_options(settings if settings is not None else self.settings)
        _install_redaction(options["url"])
        options["on_step"] = on_step
        options.update(overrides)
        return Migrator(**options)

    def say(self, text: str | None) -> None:
        if text is not None and self.verbosity >= 0:
            click.echo(text)

    def warn(self, messages: Any) -> None:
        """Warnings go to stderr, even with --json (stdout stays machine-readable)."""
        if self.verbosity >= 0:
            for message in messages:
                if self.log_format == "json":
                    log_event("warning", "%s", message, level=logging.WARNING)
                else:
                    click.echo(f"migrata: warning: {message}", err=True)

    @contextmanager
    def progress(self, *, quiet: bool = False) -> Iterator[Callable[..., None] | None]:
        """The ``on_step`` of a run: a live bar on a terminal for a run of several
        migrations, plain lines otherwise, nothing with ``quiet`` (--json), -q or JSON logs
        (the events are in the log)."""
        if quiet or self.verbosity < 0 or self.log_format == "json":
            yield None
            return
        from .output import LiveProgress, render_event

        if not sys.stdout.isatty():

            def plain(event: Any) -> None:
                self.say(render_event(event))

            yield plain
            return
        live = LiveProgress(self.say)
        try:
            yield live
        finally:
            live.close()


class _RedactingFilter(logging.Filter):
    """Belt and braces: no log record leaves the CLI with the database password in it."""

    def __init__(self, url: str) -> None:
        super().__init__()
        from .urls import parse_url

        self._url = parse_url(url)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._url.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def _not_raised(record: logging.LogRecord) -> bool:
    """Drop records of errors that are raised as well: the CLI prints the exception itself."""
    return not getattr(record, "migrata_raised", False)


_SECRETS: list[Callable[[str], str]] = []


def _install_redaction(url: str) -> None:
    from .urls import parse_url

    _SECRETS.append(parse_url(url).scrub)
    for handler in logging.getLogger("migrata").handlers:
        if not any(isinstance(f, _RedactingFilter) for f in handler.filters):
            handler.addFilter(_RedactingFilter(url))


#: The target being run, for the ``target`` field of JSON log lines.
_CURRENT_TARGET: list[str] = []
#: The log format of this process's run, for main()'s last words.
_LOG_FORMAT: list[str] = ["text"]


#: Events whose outcome a command prints on stdout itself: its text log does not repeat them.
_RESULT_EVENTS = {
    "create-database": frozenset({"database_created", "database_exists"}),
    "drop-database": frozenset({"database_dropped", "database_absent"}),
}


def _printed_events() -> frozenset[str]:
    ctx = click.get_current_context(silent=True)
    return _RESULT_EVENTS.get(ctx.info_name or "", frozenset()) if ctx else frozenset()


class _TextFilter(logging.Filter):
    """Text logs: records at the chosen level or above, progress events (waiting for the
    database, a lock-timeout retry…) unless -q, and never an error that is raised too (the
    CLI prints the exception itself)."""

    def __init__(self, threshold: int, progress: bool) -> None:
        super().__init__()
        self._threshold = threshold
        self._progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "migrata_raised", False):
            return False
        if getattr(record, EVENT, None) in _printed_events():
            return False
        if record.levelno >= self._threshold:
            return True
        return self._progress and bool(getattr(record, PROGRESS, False))


class _TextFormatter(logging.Formatter):
    """``migrata: warning: …`` (the level in lower case), and a progress line as it is."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if record.levelno == logging.INFO and getattr(record, PROGRESS, False):
            return f"migrata: {text}"
        return f"migrata: {record.levelname.lower()}: {text}"


def _setup_logging(verbosity: int, log_format: str = "text") -> None:
    from .events import logger as root

    _LOG_FORMAT[0] = log_format
    for handler in [h for h in root.handlers if getattr(h, "_migrata", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._migrata = True  # type: ignore[attr-defined]
    if log_format == "json":
        from .output import JsonLogFormatter

        # Every event, from INFO (DEBUG with -vv: each statement); -q keeps errors only.
        threshold = {-1: logging.ERROR, 0: logging.INFO, 1: logging.INFO}.get(
            verbosity, logging.DEBUG
        )
        handler.setFormatter(
            JsonLogFormatter(
                _scrubbed,
                lambda: {"target": _CURRENT_TARGET[-1]} if _CURRENT_TARGET else {},
            )
        )
        handler.setLevel(threshold)
        root.setLevel(threshold)
    else:
        threshold = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
            verbosity, logging.DEBUG
        )
        handler.setFormatter(_TextFormatter())
        handler.addFilter(_TextFilter(threshold, progress=verbosity >= 0))
        root.setLevel(min(threshold, logging.INFO) if verbosity >= 0 else threshold)
    root.addHandler(handler)
    root.propagate = False


pass_ctx = click.make_pass_decorator(_Context)


class _Command(click.Command):
    """A command that also takes ``-v``/``-vv`` after its name (``migrata status -v``), adding
    to what was given before it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(
            click.Option(
                ["-v", "--verbose", "more_verbose"],
                count=True,
                help="More output (-vv for debug logs); the same as before the command.",
            )
        )

    def invoke(self, ctx: click.Context) -> Any:
        more = ctx.params.pop("more_verbose", 0)
        state = ctx.find_object(_Context)
        if more and state is not None and state.verbosity >= 0:
            state.verbosity += more
            _setup_logging(state.verbosity, state.log_format)
        return super().invoke(ctx)


class _Group(click.Group):
    command_class = _Command


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "-u", "--database-url", help="Database URL [env: MIGRATA_DATABASE_URL, DATABASE_URL]."
)
@click.option("-d", "--dir", "directory", help="Migrations folder [default: migrations].")
@click.option("--package", help="Read migrations from a Python package's resources instead.")
@click.option("--table", help="History table name [default: migrata_history].")
@click.option("--schema", help="Schema of the history tables (PostgreSQL).")
@click.option(
    "--layout",
    help="Folder layout: migrata, sqlx, diesel, dbmate, golang-migrate, goose, flyway, "
    "drizzle, dotted, suffix [default: detected].",
)
@click.option(
    "--session-sql",
    "session_sql_file",
    metavar="FILE",
    help="SQL run on the connection before each migration (e.g. SET search_path).",
)
@click.option("--service", help="Service name: keeps several services apart in one database.")
@click.option(
    "--lock-timeout", type=float, help="Seconds to wait for the migration lock [default: 60]."
)
@click.option(
    "--require-lock",
    is_flag=True,
    default=None,
    help="Refuse to run where the engine offers no migration lock, instead of warning.",
)
@click.option(
    "--env",
    "environment",
    metavar="NAME",
    help="The current environment: migrations limited to others (seed data) are not "
    "applicable [env: MIGRATA_ENV].",
)
@click.option(
    "--seeds-dir",
    metavar="DIR",
    help="A folder of seed migrations, applied only in the seed environments "
    "[default of those: dev, test].",
)
@click.option(
    "--statement-timeout",
    metavar="DURATION",
    help="Limit of each statement of a migration (30, 500ms, 10min, 1h; 0: none) "
    "[default: the server's].",
)
@click.option(
    "--migration-timeout",
    metavar="DURATION",
    help="Limit of each migration as a whole; cancelled when it is up [default: none].",
)
@click.option(
    "--ddl-lock-timeout",
    metavar="DURATION",
    help="How long a statement may wait for a table lock before it gives way and the migration "
    "is retried (PostgreSQL lock_timeout, MySQL lock_wait_timeout; 0: forever) [default: 5s].",
)
@click.option(
    "--ddl-lock-retries",
    type=click.IntRange(min=0),
    help="Retries of a migration that gave way to a lock, with growing pauses [default: 5].",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    envvar="MIGRATA_LOG_FORMAT",
    help="Logs on stderr as text, or one JSON object per event [env: MIGRATA_LOG_FORMAT; "
    "default: text].",
)
@click.option("--cluster", help="ClickHouse: the cluster migrata's own tables are created ON.")
@click.option("--history-engine", help="ClickHouse: the table engine of migrata's own tables.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (migrata.toml or pyproject.toml).",
)
@click.option(
    "--target",
    "target",
    multiple=True,
    metavar="NAME",
    help="Run on this target of the config file only (repeatable, or comma-separated) "
    "[env: MIGRATA_TARGET; default: every declared target].",
)
@click.option("-v", "--verbose", count=True, help="More output (-vv for debug logs).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.version_option(package_name="migrata")
@click.pass_context
def cli(
    ctx: click.Context,
    database_url: str | None,
    directory: str | None,
    package: str | None,
    table: str | None,
    schema: str | None,
    layout: str | None,
    session_sql_file: str | None,
    service: str | None,
    lock_timeout: float | None,
    require_lock: bool | None,
    environment: str | None,
    seeds_dir: str | None,
    statement_timeout: str | None,
    migration_timeout: str | None,
    ddl_lock_timeout: str | None,
    ddl_lock_retries: int | None,
    log_format: str | None,
    cluster: str | None,
    history_engine: str | None,
    config_path: str | None,
    target: tuple[str, ...],
    verbose: int,
    quiet: bool,
) -> None:
    """Database schema migrations for PostgreSQL, SQLite, MySQL/MariaDB and ClickHouse.

    Settings come from flags, then MIGRATA_* environment variables, then [tool.migrata] in
    pyproject.toml or migrata.toml, then defaults. Exit codes: 0 ok, 1 migration failed,
    2 usage/config error, 3 validation problem, 4 lock timeout, 5 pending (status --exit-code).

    When the config file declares targets (several databases), up, status, validate and plan
    run on each in turn; --target NAME picks some.
    """
    verbosity = -1 if quiet else verbose
    log_format = log_format or "text"
    _setup_logging(verbosity, log_format)
    flags = {
        "database_url": database_url,
        "dir": directory,
        "package": package,
        "table": table,
        "schema": schema,
        "layout": layout,
        "session_sql_file": session_sql_file,
        "service": service,
        "lock_timeout": lock_timeout,
        "require_lock": require_lock,
        "cluster": cluster,
        "history_engine": history_engine,
        "environment": environment,
        "seeds_dir": seeds_dir,
        "statement_timeout": statement_timeout,
        "migration_timeout": migration_timeout,
        "ddl_lock_timeout": ddl_lock_timeout,
        "ddl_lock_retries": ddl_lock_retries,
    }
    names = target or (os.environ.get("MIGRATA_TARGET", ""),)
    selected = tuple(n.strip() for value in names for n in value.split(",") if n.strip())
    ctx.obj = _Context(
        flags=flags,
        config_path=config_path,
        verbosity=verbosity,
        target_names=selected,
        log_format=log_format,
    )


_T = TypeVar("_T")


def _scrubbed(text: str) -> str:
    for scrub in _SECRETS:
        text = scrub(text)
    return text


def _said(error: BaseException) -> str:
    """An error's message as the command says it (settings named by their flags)."""
    return error.cli_message if isinstance(error, MigrataError) else str(error)


def _error_text(outcome: TargetOutcome[Any]) -> str | None:
    return _scrubbed(_said(outcome.error)) if outcome.error is not None else None


def _on_each(
    ctx: _Context,
    targets: tuple[Target, ...],
    run: Callable[[Target], _T],
    *,
    keep_going: bool,
    header: bool,
) -> tuple[TargetOutcome[_T], ...]:
    """``run`` on every target in turn (see :func:`migrata.targets.run_targets`); with
    ``header``, a header line per target before its output and a ``failed:`` line after it
    when it fails (the whole error comes at the end)."""
    from .output import target_header
    from .targets import run_targets

    def each(target: Target) -> _T:
        if header:
            ctx.say(target_header(target.name, target.database, target.settings.service))
        _CURRENT_TARGET.append(target.name)
        try:
            return run(target)
        except MigrataError as exc:
            if header:
                first = _scrubbed(exc.cli_message).strip().splitlines()
                ctx.say(f"failed: {first[0] if first else type(exc).__name__}")
            raise
        finally:
            _CURRENT_TARGET.pop()

    return run_targets(targets, each, keep_going=keep_going)


def _finish(outcomes: tuple[TargetOutcome[Any], ...], code: int = 0) -> None:
    """Raise TargetsFailed when a target failed (exit code: the worst of theirs and
    ``code``); else exit with ``code`` when it is not 0."""
    from .targets import TargetsFailed, worst_exit_code

    if any(o.error is not None for o in outcomes):
        failure = TargetsFailed(outcomes)
        failure.exit_code = worst_exit_code([failure.exit_code, code])
        raise failure
    if code:
        sys.exit(code)


def _say_targets_json(ctx: _Context, entries: list[dict[str, Any]]) -> None:
    from .output import to_json

    ctx.say(to_json({"targets": entries}))


@cli.command()
@click.option("--to", "to", metavar="VERSION", help="Apply up to and including VERSION.")
@click.option("--dry-run", is_flag=True, help="Show what would be applied; change nothing.")
@click.option(
    "--allow-out-of-order",
    is_flag=True,
    default=None,
    help="Apply pending migrations older than the newest applied one.",
)
@click.option("--single-transaction", is_flag=True, help="Run the whole plan in one transaction.")
@click.option(
    "--resume",
    metavar="VERSION",
    help="Continue VERSION, which failed outside a transaction, from the statement that failed.",
)
@click.option(
    "--wait",
    metavar="SECONDS",
    help="Wait up to this long for the database to accept connections (refused, not yet in "
    "DNS, starting up), with progress on stderr [env: MIGRATA_WAIT; default: try once].",
)
@click.option(
    "--create-database",
    is_flag=True,
    default=None,
    help="Create the database named in the URL when it does not exist "
    "[env: MIGRATA_CREATE_DATABASE].",
)
@click.option(
    "--extension",
    "extensions",
    multiple=True,
    metavar="NAME",
    help="PostgreSQL: CREATE EXTENSION IF NOT EXISTS NAME before migrating (repeatable) "
    "[env: MIGRATA_EXTENSIONS].",
)
@click.option(
    "--keep-going",
    is_flag=True,
    help="With several targets: go on with the next target after one fails (exit code: the worst).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def up(
    ctx: _Context,
    to: str | None,
    dry_run: bool,
    allow_out_of_order: bool | None,
    single_transaction: bool,
    resume: str | None,
    wait: str | None,
    create_database: bool | None,
    extensions: tuple[str, ...],
    keep_going: bool,
    as_json: bool,
) -> None:
    """Apply pending migrations (on every target of the config file, in order: the first
    failure stops the run unless --keep-going)."""
    from .output import render_report, report_json, target_json, to_json

    ctx.flags.update(
        wait=wait, create_database=create_database, extensions=",".join(extensions) or None
    )
    overrides: dict[str, Any] = {"single_transaction": single_transaction}
    if allow_out_of_order:
        overrides["allow_out_of_order"] = True
    one = "--to names a version of one database" if to else None
    if resume:
        one = "--resume names a version of one database"
    targets = ctx.targets(one=one)
    if targets is not None:

        def run(target: Target) -> Any:
            with ctx.progress(quiet=as_json) as on_step:
                migrator = ctx.migrator(target.settings, on_step=on_step, **overrides)
                ctx.warn(migrator.warnings())
                report = migrator.up(to=to, dry_run=dry_run, resume=resume)
            if not as_json:
                ctx.say(render_report(report))
            return report

        outcomes = _on_each(ctx, targets, run, keep_going=keep_going, header=not as_json)
        if as_json:
            _say_targets_json(
                ctx,
                [
                    target_json(
                        o,
                        {"report": report_json(o.result) if o.result is not None else None},
                        error=_error_text(o),
                    )
                    for o in outcomes
                ],
            )
        _finish(outcomes)
        return
    with ctx.progress(quiet=as_json) as on_step:
        migrator = ctx.migrator(on_step=on_step, **overrides)
        ctx.warn(migrator.warnings())
        report = migrator.up(to=to, dry_run=dry_run, resume=resume)
    ctx.say(to_json(report_json(report)) if as_json else render_report(report))


@cli.command()
@click.option(
    "--steps", "-n", type=click.IntRange(min=1), help="Revert the newest N migrations [default: 1]."
)
@click.option("--to", "to", metavar="VERSION", help="Revert everything newer than VERSION.")
@click.option("--all", "revert_all", is_flag=True, help="Revert every applied migration.")
@click.option(
    "--dry-run", is_flag=True, help="Print the SQL that would revert them; change nothing."
)
@click.option(
    "--allow-empty-down",
    is_flag=True,
    help="Revert a migration whose down SQL has no statements (only comments) anyway.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def down(
    ctx: _Context,
    steps: int | None,
    to: str | None,
    revert_all: bool,
    dry_run: bool,
    allow_empty_down: bool,
    as_json: bool,
) -> None:
    """Revert applied migrations, newest first (every step needs down SQL)."""
    from .output import plan_json, render_plan, render_report, report_json, to_json

    if sum(x is not None and x is not False for x in (steps, to, revert_all or None)) > 1:
        raise click.UsageError("give at most one of --steps, --to and --all")
    settings = ctx.one_settings("down")
    if dry_run:
        migrator = ctx.migrator(settings)
        plan, planned = migrator.down_statements(
            steps=steps, to=to, all=revert_all, allow_empty_down=allow_empty_down
        )
        if as_json:
            ctx.say(to_json(plan_json(planned)))
        else:
            click.echo(render_plan(plan, planned, history_table=settings.table), nl=False)
        return
    with ctx.progress(quiet=as_json) as on_step:
        migrator = ctx.migrator(settings, on_step=on_step)
        report = migrator.down(
            steps=steps, to=to, all=revert_all, allow_empty_down=allow_empty_down
        )
    ctx.say(to_json(report_json(report)) if as_json else render_report(report))


@cli.command()
@click.option(
    "--allow-empty-down",
    is_flag=True,
    help="Go on when the migration's down SQL has no statements (only comments).",
)
@pass_ctx
def redo(ctx: _Context, allow_empty_down: bool) -> None:
    """Revert the newest migration and apply it again."""
    with ctx.progress() as on_step:
        migrator = ctx.migrator(ctx.one_settings("redo"), on_step=on_step)
        migrator.redo(allow_empty_down=allow_empty_down)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option(
    "--exit-code", is_flag=True, help="Exit 5 when migrations are pending, 3 on problems."
)
@pass_ctx
def status(ctx: _Context, as_json: bool, exit_code: bool) -> None:
    """Show every migration's state. Takes no lock and creates nothing.

    With --exit-code it is a health check: 0 up to date, 5 pending, 3 a problem (migrations
    limited to other environments do not count)."""
    from .output import render_status, status_json, to_json

    targets = ctx.targets()
    if targets is not None:
        _status_targets(ctx, targets, as_json=as_json, exit_code=exit_code)
        return
    migrator = ctx.migrator()
    entries = migrator.status()
    problems = migrator.problems(entries)
    database = migrator.url.redacted
    source = migrator.discover()
    if as_json:
        document = status_json(
            entries,
            database=database,
            layout=source.layout,
            problems=problems,
            also=source.also,
            warnings=source.warnings,
            ignored=source.ignored,
            environment=migrator.environment,
        )
        ctx.say(to_json(document))
    else:
        ctx.warn(source.warnings)
        ctx.say(
            render_status(
                entries,
                database=database,
                layout=source.layout,
                problems=problems,
                also=source.also if ctx.verbosity > 0 else (),
                environment=migrator.environment,
            )
        )
        if ctx.verbosity > 0:
            for path in source.ignored:
                ctx.say(f"ignored: {path}")
    if exit_code:
        if problems:
            sys.exit(ExitCode.VALIDATION)
        if any(e.state.value == "pending" for e in entries):
            sys.exit(ExitCode.PENDING)


def _status_targets(
    ctx: _Context, targets: tuple[Target, ...], *, as_json: bool, exit_code: bool
) -> None:
    """``status`` over several targets: each one, even after one fails (it reads only)."""
    from .output import render_status, status_json, target_json, target_status_header
    from .targets import worst_exit_code

    def run(target: Target) -> tuple[int, dict[str, Any] | None]:
        try:
            migrator = ctx.migrator(target.settings)
            entries = migrator.status()
            problems = migrator.problems(entries)
            source = migrator.discover()
        except MigrataError:
            if not as_json:
                ctx.say(
                    target_status_header(target.name, target.database, target.settings.service)
                    + ": failed (the error is below)"
                )
            raise
        code = ExitCode.OK
        if problems:
            code = ExitCode.VALIDATION
        elif any(e.state.value == "pending" for e in entries):
            code = ExitCode.PENDING
        if as_json:
            document = status_json(
                entries,
                database=target.database,
                layout=source.layout,
                problems=problems,
                also=source.also,
                warnings=source.warnings,
                ignored=source.ignored,
                environment=migrator.environment,
            )
            return code, document
        ctx.say(
            target_status_header(
                target.name,
                target.database,
                target.settings.service,
                entries=entries,
                problems=problems,
            )
        )
        ctx.warn(source.warnings)
        ctx.say(
            render_status(
                entries,
                database=target.database,
                layout=source.layout,
                problems=problems,
                also=source.also if ctx.verbosity > 0 else (),
                environment=migrator.environment,
            )
        )
        if ctx.verbosity > 0:
            for path in source.ignored:
                ctx.say(f"ignored: {path}")
        return code, None

    outcomes = _on_each(ctx, targets, run, keep_going=True, header=False)
    if as_json:
        _say_targets_json(
            ctx,
            [
                target_json(o, o.result[1] if o.result is not None else None, error=_error_text(o))
                for o in outcomes
            ],
        )
    worst = worst_exit_code(o.result[0] for o in outcomes if o.result is not None)
    _finish(outcomes, worst if exit_code else 0)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
def history(ctx: _Context, as_json: bool) -> None:
    """Show the audit log: every applied, reverted, failed, marked and resolved event."""
    from .output import audit_json, render_audit, to_json

    events = ctx.migrator(ctx.one_settings("history")).audit_log()
    ctx.say(to_json(audit_json(events)) if as_json else render_audit(events))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
def validate(ctx: _Context, as_json: bool) -> None:
    """Check the folder against the history; exit 3 when something is wrong."""
    from .output import render_validation, target_json, to_json, validation_json

    targets = ctx.targets()
    if targets is not None:

        def run(target: Target) -> Any:
            result = ctx.migrator(target.settings).validate()
            if not as_json:
                ctx.say(render_validation(result))
            return result

        outcomes = _on_each(ctx, targets, run, keep_going=True, header=not as_json)
        if as_json:
            _say_targets_json(
                ctx,
                [
                    target_json(
                        o,
                        validation_json(o.result) if o.result is not None else None,
                        error=_error_text(o),
                    )
                    for o in outcomes
                ],
            )
        invalid = any(o.result is not None and not o.result.is_valid for o in outcomes)
        _finish(outcomes, ExitCode.VALIDATION if invalid else 0)
        return
    result = ctx.migrator().validate()
    ctx.say(to_json(validation_json(result)) if as_json else render_validation(result))
    if not result.is_valid:
        sys.exit(ExitCode.VALIDATION)


@cli.command()
@click.option("--to", "to", metavar="VERSION", help="Plan up to and including VERSION.")
@click.option("--json", "as_json", is_flag=True, help="Print the steps and statements as JSON.")
@pass_ctx
def plan(ctx: _Context, to: str | None, as_json: bool) -> None:
    """Print the exact SQL that `up` would run."""
    from .errors import ValidationFailed
    from .output import plan_json, render_plan, target_header, target_json, to_json

    targets = ctx.targets(one="--to names a version of one database" if to else None)
    if targets is not None:

        def run(target: Target) -> Any:
            if not as_json:
                header = target_header(target.name, target.database, target.settings.service)
                click.echo(f"-- {header}")
            migrator = ctx.migrator(target.settings)
            source = migrator.discover()
            ctx.warn(source.warnings)
            result, steps = migrator.plan_statements(to=to)
            if result.problems:
                raise ValidationFailed(result.problems)
            if not as_json:
                text = render_plan(
                    result, steps, history_table=target.settings.table, layout=source.layout
                )
                click.echo(text, nl=False)
            return steps

        outcomes = _on_each(ctx, targets, run, keep_going=True, header=False)
        if as_json:
            _say_targets_json(
                ctx,
                [
                    target_json(
                        o,
                        {"steps": plan_json(o.result) if o.result is not None else None},
                        error=_error_text(o),
                    )
                    for o in outcomes
                ],
            )
        _finish(outcomes)
        return
    migrator = ctx.migrator()
    source = migrator.discover()
    ctx.warn(source.warnings)
    result, steps = migrator.plan_statements(to=to)
    if result.problems:
        raise ValidationFailed(result.problems)
    if as_json:
        ctx.say(to_json(plan_json(steps)))
        return
    text = render_plan(
        result,
        steps,
        history_table=ctx.settings.table,
        layout=source.layout,
    )
    click.echo(text, nl=False)


@cli.command()
@click.argument("version")
@click.option(
    "--applied",
    "outcome",
    flag_value="applied",
    help="Its changes are in place: keep it as applied.",
)
@click.option(
    "--rolled-back",
    "outcome",
    flag_value="rolled-back",
    help="Its changes are not in place: forget it so `up` runs it again.",
)
@pass_ctx
def resolve(ctx: _Context, version: str, outcome: str | None) -> None:
    """Clear a failed migration after a human has checked the database."""
    if outcome is None:
        raise click.UsageError("say what you found: --applied or --rolled-back")
    ctx.migrator(ctx.one_settings("resolve")).resolve(version, applied=outcome == "applied")
    ctx.say(f"resolved {version} as {outcome}")


@cli.command()
@click.argument("version", required=False)
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def repair(ctx: _Context, version: str | None, dry_run: bool, as_json: bool) -> None:
    """Accept an intended edit to applied files (a comment fixed): record the current checksum
    of VERSION, or of every changed file, without running anything (audited)."""
    from .output import render_repairs, repairs_json, to_json

    repairs = ctx.migrator(ctx.one_settings("repair")).repair(version, dry_run=dry_run)
    ctx.say(
        to_json(repairs_json(repairs, dry_run=dry_run))
        if as_json
        else render_repairs(repairs, dry_run=dry_run)
    )


@cli.command("mark-applied")
@click.argument("version")
@pass_ctx
def mark_applied(ctx: _Context, version: str) -> None:
    """Record VERSION as applied without running it (kept in the audit log)."""
    ctx.migrator(ctx.one_settings("mark-applied")).mark_applied(version)
    ctx.say(f"marked {version} as applied")


@cli.command()
@click.argument("version")
@pass_ctx
def unmark(ctx: _Context, version: str) -> None:
    """Forget VERSION in the history without running its down SQL (kept in the audit log)."""
    ctx.migrator(ctx.one_settings("unmark")).unmark(version)
    ctx.say(f"unmarked {version}")


@cli.command()
@click.option(
    "--from",
    "source",
    metavar="TOOL",
    help="The tool whose history to take over: sqlx, diesel, dbmate, golang-migrate, goose, "
    "flyway, drizzle [default: the one found].",
)
@click.option("--table", "foreign_table", help="That tool's table, when it has a custom name.")
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; record nothing.")
@click.option(
    "--ignore-checksums",
    is_flag=True,
    help="Adopt even where a file differs from the checksum the tool recorded.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def adopt(
    ctx: _Context,
    source: str | None,
    foreign_table: str | None,
    dry_run: bool,
    ignore_checksums: bool,
    as_json: bool,
) -> None:
    """Take over another tool's history: record what it applied, without running anything.

    The other tool's table is read, never changed. Refused, with every reason, when that
    history is dirty or failed, or disagrees with the folder.
    """
    from .output import adoption_json, render_adoption, to_json

    migrator = ctx.migrator(ctx.one_settings("adopt"))
    adoption = migrator.adopt(
        source,
        table=foreign_table,
        dry_run=dry_run,
        verify_checksums=not ignore_checksums,
    )
    if as_json:
        ctx.say(to_json(adoption_json(adoption, dry_run=dry_run)))
    else:
        ctx.say(render_adoption(adoption, dry_run=dry_run))


@cli.command()
@click.option(
    "--version",
    "version",
    required=True,
    metavar="VERSION",
    help="The newest migration the database already has.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; record nothing.")
@pass_ctx
def baseline(ctx: _Context, version: str, dry_run: bool) -> None:
    """Record every migration up to VERSION as applied, for a database that has the schema
    but no history at all."""
    from .output import render_baseline

    recorded = ctx.migrator(ctx.one_settings("baseline")).baseline(version, dry_run=dry_run)
    ctx.say(render_baseline(recorded, dry_run=dry_run))


@cli.command()
@click.argument("name")
@click.option(
    "--sequential",
    "numbering",
    flag_value="sequential",
    help="Number as the folder does (0001, 0002, …).",
)
@click.option(
    "--timestamp", "numbering", flag_value="timestamp", help="Use a UTC timestamp version."
)
@click.option("--down", is_flag=True, help="Also write the down file.")
@pass_ctx
def new(ctx: _Context, name: str, numbering: str | None, down: bool) -> None:
    """Create a new migration file in the folder's style (never overwrites)."""
    from .discovery import create_migration

    sequential = None if numbering is None else numbering == "sequential"
    settings = ctx.one_settings("new")
    created = create_migration(settings.dir, name, sequential=sequential, down=down)
    for path in created.paths:
        ctx.say(f"created {path}")


def _each_database(
    ctx: _Context, action: Callable[[Settings], _T], *, one: str | None = None
) -> list[tuple[str | None, str, _T]]:
    """``action`` on the database of every selected target (or the one database): ``(target
    name, redacted URL, result)``, stopping at the first error."""
    from .urls import redact

    targets = ctx.targets(one=one)
    chosen = [(None, ctx.settings)] if targets is None else [(t.name, t.settings) for t in targets]
    done = []
    for name, settings in chosen:
        if not settings.database_url:
            migrator_options(settings)  # raises the "no database URL" error
        assert settings.database_url is not None
        _install_redaction(settings.database_url)
        if name is not None:
            _CURRENT_TARGET.append(name)
        try:
            result = action(settings)
        finally:
            if name is not None:
                _CURRENT_TARGET.pop()
        done.append((name, redact(settings.database_url), result))
    return done


def _say_each(
    ctx: _Context,
    done: list[tuple[str | None, str, _T]],
    *,
    as_json: bool,
    text: Callable[[str, _T], str],
    document: Callable[[str, _T], dict[str, Any]],
) -> None:
    from .output import to_json

    if as_json:
        entries = [{"target": n, **document(db, r)} if n else document(db, r) for n, db, r in done]
        ctx.say(to_json(entries[0] if len(done) == 1 and done[0][0] is None else entries))
        return
    for name, database, result in done:
        ctx.say((f"target {name}: " if name else "") + text(database, result))


#: ``--wait`` of the commands that talk to the server rather than to the database.
_server_wait = click.option(
    "--wait",
    metavar="SECONDS",
    help="Wait up to this long for the server to accept connections [env: MIGRATA_WAIT].",
)


@cli.command()
@click.option(
    "--timeout",
    metavar="SECONDS",
    help="How long to wait [default: --wait / MIGRATA_WAIT when set, else 60].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def wait(ctx: _Context, timeout: str | None, as_json: bool) -> None:
    """Wait until the database accepts connections: a server not listening yet, a host name
    not yet resolvable or a server starting up are tried again, with progress on stderr.

    Exits 0 once it answers, 2 when the time is up or the error cannot pass with time (a
    wrong password, a database that does not exist). With several targets, waits for each.
    """
    from .config import coerce_setting
    from .migrator import wait_for_database
    from .output import render_waited, waited_json

    def run(settings: Settings) -> Any:
        limit = coerce_setting("wait", timeout, None) if timeout else (settings.wait or 60.0)
        assert settings.database_url is not None
        return wait_for_database(settings.database_url, timeout=limit)

    done = _each_database(ctx, run)
    _say_each(
        ctx,
        done,
        as_json=as_json,
        text=lambda _db, waited: render_waited(waited),
        document=lambda _db, waited: waited_json(waited),
    )


@cli.command("create-database")
@_server_wait
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def create_database_command(ctx: _Context, wait: str | None, as_json: bool) -> None:
    """Create the database named in the URL unless it exists (PostgreSQL: connecting to the
    server's maintenance database as the URL's user; SQLite: the file and its folder).

    With several targets, creates each target's database.
    """
    from .migrator import create_database
    from .output import render_created

    ctx.flags.update(wait=wait)

    def run(settings: Settings) -> bool:
        assert settings.database_url is not None
        return create_database(settings.database_url, wait=settings.wait)

    done = _each_database(ctx, run)
    _say_each(
        ctx,
        done,
        as_json=as_json,
        text=render_created,
        document=lambda db, created: {"database": db, "created": created},
    )


@cli.command("drop-database")
@click.option("--yes", is_flag=True, help="Really drop it: without it, nothing is dropped.")
@click.option(
    "--force",
    is_flag=True,
    help="PostgreSQL: end the sessions still connected to the database first.",
)
@_server_wait
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def drop_database_command(
    ctx: _Context, yes: bool, force: bool, wait: str | None, as_json: bool
) -> None:
    """Drop the database named in the URL, with everything in it. Refused without --yes (on
    a terminal, typing the database's name confirms instead); never done by `up`."""
    from .migrator import drop_database
    from .output import render_dropped
    from .urls import database_name, parse_url, redact

    ctx.flags.update(wait=wait)
    settings = ctx.one_settings("drop-database")
    if not settings.database_url:
        migrator_options(settings)  # raises the "no database URL" error
    assert settings.database_url is not None
    shown = redact(settings.database_url)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(f"refusing to drop {shown} without --yes (nothing was dropped)")
        name = database_name(parse_url(settings.database_url))
        typed = click.prompt(
            f"This drops {shown} and everything in it. Type the database's name ({name}) to "
            "confirm",
            default="",
            show_default=False,
            err=True,
        )
        if typed.strip() != name:
            raise click.UsageError("the name typed does not match: nothing was dropped")

    def run(settings: Settings) -> bool:
        assert settings.database_url is not None
        return drop_database(settings.database_url, force=force, wait=settings.wait)

    done = _each_database(ctx, run, one="`drop-database` acts on one database")
    _say_each(
        ctx,
        done,
        as_json=as_json,
        text=render_dropped,
        document=lambda db, dropped: {"database": db, "dropped": dropped},
    )


def _json_error(message: str, code: int, kind: str) -> None:
    from .output import json_error

    click.echo(json_error(_scrubbed(message), exit_code=code, kind=kind), err=True)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the console script; exits with the code of the outcome."""
    # Until the options are read, errors follow the environment's choice of format.
    _LOG_FORMAT[0] = "json" if os.environ.get("MIGRATA_LOG_FORMAT") == "json" else "text"
    try:
        cli.main(args=argv, prog_name="migrata", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        # An unknown command is found before the group's options take effect: read them here.
        context = getattr(exc, "ctx", None)
        chosen = context.find_root().params.get("log_format") if context is not None else None
        if chosen:
            _LOG_FORMAT[0] = chosen
        if _LOG_FORMAT[0] == "json":
            _json_error(exc.format_message(), ExitCode.USAGE, "UsageError")
        else:
            exc.show()
        sys.exit(ExitCode.USAGE)
    except MigrataError as exc:
        message = _scrubbed(exc.cli_message)
        if _LOG_FORMAT[0] == "json":
            _json_error(message, int(exc.exit_code), type(exc).__name__)
        else:
            click.echo(f"migrata: error: {message}", err=True)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(ExitCode.OK)
