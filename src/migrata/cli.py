"""The ``migrata`` command. Each command: load settings → call the library → render.

No SQL, planning or history access here. The options that are settings come from
:data:`migrata.settings.SPECS` (flag, variable and help written once, there). A command over
databases runs on every selected target of the config file, or on the one database the
settings name (an implicit target), through one helper. Exit codes come from the library's
reports and errors (see :mod:`migrata.exitcodes`); anything that is not a MigrataError is a
bug and keeps its traceback. The state of one invocation lives in :class:`_Invocation`, never
in module globals.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from .errors import ConfigError, MigrataError, setting
from .exitcodes import ExitCode
from .settings import SPECS, Settings, Spec

if TYPE_CHECKING:
    from .migrator import Migrator, PlannedStatements
    from .models import RunReport, StatusReport, Validation
    from .targets import Target

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass
class _Invocation:
    """One run of the ``migrata`` command: what was given, and what it has learnt."""

    #: The settings given as flags (None: not given), by setting name.
    flags: dict[str, Any] = field(default_factory=dict)
    config_path: str | None = None
    verbosity: int = 0
    #: The targets picked with --target / MIGRATA_TARGET (empty: all that are declared).
    target_names: tuple[str, ...] = ()
    #: "text" or "json" (--log-format): JSON lines on stderr instead of text.
    log_format: str = "text"
    #: Removers of the passwords of the databases this invocation has used.
    secrets: list[Callable[[str], str]] = field(default_factory=list)
    #: The target being run, for the ``target`` field of JSON log lines.
    target: str | None = None
    _settings: Settings | None = None

    def scrub(self, text: str) -> str:
        for remove in self.secrets:
            text = remove(text)
        return text

    def protect(self, url: str | None) -> None:
        """Keep ``url``'s password out of everything this invocation prints."""
        if url:
            from .urls import parse_url

            self.secrets.append(parse_url(url).scrub)

    def given(self, values: dict[str, Any]) -> None:
        """Settings given as a command's own flags (empty lists are not given)."""
        self.flags.update({k: v if v != () else None for k, v in values.items()})
        self._settings = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from .config import load_settings

            self._settings = load_settings(self.flags, config_path=self.config_path)
        return self._settings

    def targets(self, *, one: str | None = None) -> tuple[Target, ...]:
        """The selected targets, in declared order; without declared targets, the one
        database the settings name (see :func:`migrata.targets.select_targets`)."""
        from .targets import select_targets

        return select_targets(
            self.flags, names=self.target_names, one=one, config_path=self.config_path
        )

    def one_settings(self, command: str) -> Settings:
        """The settings of a command that acts on one database."""
        return self.targets(one=f"`{command}` acts on one database")[0].settings

    def migrator(
        self,
        settings: Settings,
        *,
        on_step: Callable[..., None] | None = None,
        database: bool = True,
    ) -> Migrator:
        """A Migrator of ``settings``; raises ConfigError without a database URL unless the
        command can do without one (``database=False``: reading the folder alone)."""
        from .migrator import Migrator

        if database or settings.connect.database_url:
            self.protect(_database_url(settings))
        return Migrator(settings, on_step=on_step)

    def say(self, text: str | None) -> None:
        if text is not None and self.verbosity >= 0:
            click.echo(text)

    def warn(self, messages: Sequence[str]) -> None:
        """Warnings go to stderr, even with --json (stdout stays machine-readable)."""
        if self.verbosity >= 0:
            for message in messages:
                if self.log_format == "json":
                    import logging

                    from .events import log_event

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


pass_state = click.make_pass_decorator(_Invocation)


def _database_url(settings: Settings) -> str:
    """The database URL of ``settings``; raises ConfigError when there is none."""
    if not settings.connect.database_url:
        raise ConfigError(f"no database URL: pass {setting('database_url')}")
    return settings.connect.database_url


# -- logging ------------------------------------------------------------------------------------

#: Events whose outcome a command prints on stdout itself: its text log does not repeat them.
_RESULT_EVENTS = {
    "create-database": frozenset({"database_created", "database_exists"}),
    "drop-database": frozenset({"database_dropped", "database_absent"}),
}


def _printed_events() -> frozenset[str]:
    ctx = click.get_current_context(silent=True)
    return _RESULT_EVENTS.get(ctx.info_name or "", frozenset()) if ctx else frozenset()


def _setup_logging(state: _Invocation) -> None:
    """This invocation's stderr log handler (see :func:`migrata.output.install_log_handler`)."""
    from .output import install_log_handler

    install_log_handler(
        verbosity=state.verbosity,
        log_format=state.log_format,
        scrub=state.scrub,
        context=lambda: {"target": state.target} if state.target else {},
        printed=_printed_events,
    )


# -- options made from the settings ---------------------------------------------------------


def _setting_option(spec: Spec) -> Callable[[_F], _F]:
    default = spec.default_text
    if default is None and spec.default not in (None, (), False):
        value = spec.default
        default = ", ".join(value) if isinstance(value, tuple) else str(value)
    notes = []
    if spec.env:
        notes.append("env: " + ", ".join(spec.env))
    if default is not None:
        notes.append(f"default: {default}")
    help_text = spec.help + (f" [{'; '.join(notes)}]" if notes else "")
    if spec.kind == "flag":
        negative = "--no-" + spec.flag[2:]
        return click.option(f"{spec.flag}/{negative}", spec.name, default=None, help=help_text)
    shorts = [a for a in spec.flag_aliases if not a.startswith("--")]
    longs = [a for a in spec.flag_aliases if a.startswith("--")]
    return click.option(
        *shorts,
        spec.flag,
        *longs,
        spec.name,
        metavar=spec.metavar or ("|".join(spec.choices) if spec.choices else None),
        multiple=spec.kind == "names",
        default=None,
        help=help_text,
    )


def _setting_options(command: str | None) -> Callable[[_F], _F]:
    """The flags of the settings that belong to ``command`` (None: the global ones)."""

    def decorate(function: _F) -> _F:
        chosen = [
            s
            for s in SPECS.values()
            if (s.commands is None if command is None else command in (s.commands or ()))
        ]
        for spec in reversed(chosen):
            function = _setting_option(spec)(function)
        return function

    return decorate


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
        state = ctx.find_object(_Invocation)
        if more and state is not None and state.verbosity >= 0:
            state.verbosity += more
            _setup_logging(state)
        return super().invoke(ctx)


class _Group(click.Group):
    command_class = _Command


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@_setting_options(None)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    envvar="MIGRATA_LOG_FORMAT",
    help="Logs on stderr as text, or one JSON object per event [env: MIGRATA_LOG_FORMAT; "
    "default: text].",
)
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
    /,
    log_format: str | None,
    config_path: str | None,
    target: tuple[str, ...],
    verbose: int,
    quiet: bool,
    **given: Any,
) -> None:
    """Database schema migrations for PostgreSQL, SQLite, MySQL/MariaDB and ClickHouse.

    Settings come from flags, then MIGRATA_* environment variables, then [tool.migrata] in
    pyproject.toml or migrata.toml, then defaults. Exit codes: 0 ok, 1 migration failed,
    2 usage/config error, 3 validation problem, 4 lock timeout, 5 pending (status --exit-code).

    When the config file declares targets (several databases), up, status, validate and plan
    run on each in turn; --target NAME picks some.
    """
    state = ctx.ensure_object(_Invocation)
    state.verbosity = -1 if quiet else verbose
    state.log_format = log_format or "text"
    state.config_path = config_path
    names = target or (os.environ.get("MIGRATA_TARGET", ""),)
    state.target_names = tuple(n.strip() for value in names for n in value.split(",") if n.strip())
    state.given(given)
    _setup_logging(state)


# -- running a command over targets ---------------------------------------------------------


def _said(state: _Invocation, error: BaseException) -> str:
    """An error's message as the command says it (settings named by their flags), without
    secrets."""
    return state.scrub(error.cli_message if isinstance(error, MigrataError) else str(error))


def _over_targets(
    state: _Invocation,
    run: Callable[[Target], _T],
    *,
    as_json: bool,
    document: Callable[[_T], Any],
    exit_code: Callable[[_T], int] = lambda _result: ExitCode.OK,
    key: str | None = None,
    one: str | None = None,
    keep_going: bool = True,
    header: bool = True,
) -> None:
    """``run`` on every selected target (or the one database): it renders its text and
    returns the library's result, whose ``document`` is printed for --json and whose
    ``exit_code`` counts. With declared targets: a header line per target (``header``),
    ``{"targets": [...]}`` with each document (under ``key``), the first failure stopping the
    others unless ``keep_going``, and TargetsFailed when one failed. Exits with the worst
    code."""
    from .output import target_header, target_json, to_json
    from .targets import TargetsFailed, run_targets, worst_exit_code

    targets = state.targets(one=one)
    if not targets[0].declared:
        result = run(targets[0])
        if as_json:
            state.say(to_json(document(result)))
        code = exit_code(result)
        if code:
            sys.exit(code)
        return

    def each(target: Target) -> _T:
        if header and not as_json:
            service = target.settings.history.service
            state.say(target_header(target.name, target.database, service))
        state.target = target.name
        try:
            return run(target)
        except MigrataError as exc:
            if header and not as_json:
                first = _said(state, exc).strip().splitlines()
                state.say(f"failed: {first[0] if first else type(exc).__name__}")
            raise
        finally:
            state.target = None

    outcomes = run_targets(targets, each, keep_going=keep_going)
    if as_json:
        entries = []
        for o in outcomes:
            shown = document(o.result) if o.result is not None else None
            payload = {key: shown} if key is not None else shown
            error = _said(state, o.error) if o.error is not None else None
            entries.append(target_json(o, payload, error=error))
        state.say(to_json({"targets": entries}))
    code = worst_exit_code(exit_code(o.result) for o in outcomes if o.result is not None)
    if any(o.error is not None for o in outcomes):
        raise TargetsFailed(outcomes, at_least=code)
    if code:
        sys.exit(code)


# -- commands ---------------------------------------------------------------------------------


@cli.command()
@click.option("--to", "to", metavar="VERSION", help="Apply up to and including VERSION.")
@click.option("--dry-run", is_flag=True, help="Show what would be applied; change nothing.")
@click.option(
    "--resume",
    metavar="VERSION",
    help="Continue VERSION, which failed outside a transaction, from the statement that failed.",
)
@_setting_options("up")
@click.option(
    "--keep-going",
    is_flag=True,
    help="With several targets: go on with the next target after one fails (exit code: the worst).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def up(
    state: _Invocation,
    /,
    to: str | None,
    dry_run: bool,
    resume: str | None,
    keep_going: bool,
    as_json: bool,
    **given: Any,
) -> None:
    """Apply pending migrations (on every target of the config file, in order: the first
    failure stops the run unless --keep-going)."""
    from .output import render_report, report_json

    state.given(given)
    one = "--to names a version of one database" if to else None
    if resume:
        one = "--resume names a version of one database"

    def run(target: Target) -> RunReport:
        with state.progress(quiet=as_json) as on_step:
            migrator = state.migrator(target.settings, on_step=on_step)
            state.warn(migrator.warnings())
            report = migrator.up(to=to, dry_run=dry_run, resume=resume)
        if not as_json:
            state.say(render_report(report))
        return report

    _over_targets(
        state,
        run,
        as_json=as_json,
        document=report_json,
        key="report",
        one=one,
        keep_going=keep_going,
    )


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
@pass_state
def down(
    state: _Invocation,
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
    settings = state.one_settings("down")
    if dry_run:
        migrator = state.migrator(settings)
        plan, planned = migrator.down_statements(
            steps=steps, to=to, all=revert_all, allow_empty_down=allow_empty_down
        )
        if as_json:
            state.say(to_json(plan_json(planned)))
        else:
            table = settings.history.table
            click.echo(render_plan(plan, planned, history_table=table), nl=False)
        return
    with state.progress(quiet=as_json) as on_step:
        migrator = state.migrator(settings, on_step=on_step)
        report = migrator.down(
            steps=steps, to=to, all=revert_all, allow_empty_down=allow_empty_down
        )
    state.say(to_json(report_json(report)) if as_json else render_report(report))


@cli.command()
@click.option(
    "--allow-empty-down",
    is_flag=True,
    help="Go on when the migration's down SQL has no statements (only comments).",
)
@pass_state
def redo(state: _Invocation, allow_empty_down: bool) -> None:
    """Revert the newest migration and apply it again."""
    with state.progress() as on_step:
        migrator = state.migrator(state.one_settings("redo"), on_step=on_step)
        migrator.redo(allow_empty_down=allow_empty_down)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option(
    "--exit-code", is_flag=True, help="Exit 5 when migrations are pending, 3 on problems."
)
@pass_state
def status(state: _Invocation, as_json: bool, exit_code: bool) -> None:
    """Show every migration's state. Takes no lock and creates nothing. Every target is
    shown, even after one fails.

    With --exit-code it is a health check: 0 up to date, 5 pending, 3 a problem (migrations
    limited to other environments do not count)."""
    from .output import render_status, status_json, target_status_header

    def run(target: Target) -> tuple[StatusReport, dict[str, Any] | None]:
        service = target.settings.history.service
        migrator = state.migrator(target.settings)
        try:
            report = migrator.status_report()
            source = migrator.discover()
        except MigrataError:
            if target.declared and not as_json:
                state.say(
                    target_status_header(target.name, target.database, service)
                    + ": failed (the error is below)"
                )
            raise
        database = migrator.url.redacted if migrator.url is not None else target.database
        if as_json:
            document = status_json(
                report.entries,
                database=database,
                layout=source.layout,
                problems=report.problems,
                also=source.also,
                warnings=source.warnings,
                ignored=source.ignored,
                environment=migrator.environment,
            )
            return report, document
        if target.declared:
            state.say(
                target_status_header(
                    target.name,
                    target.database,
                    service,
                    entries=report.entries,
                    problems=report.problems,
                )
            )
        state.warn(source.warnings)
        state.say(
            render_status(
                report.entries,
                database=database,
                layout=source.layout,
                problems=report.problems,
                also=source.also if state.verbosity > 0 else (),
                environment=migrator.environment,
            )
        )
        if state.verbosity > 0:
            for path in source.ignored:
                state.say(f"ignored: {path}")
        return report, None

    _over_targets(
        state,
        run,
        as_json=as_json,
        document=lambda result: result[1],
        exit_code=lambda result: result[0].exit_code if exit_code else ExitCode.OK,
        header=False,
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_state
def history(state: _Invocation, as_json: bool) -> None:
    """Show the audit log: every applied, reverted, failed, marked and resolved event."""
    from .output import audit_json, render_audit, to_json

    events = state.migrator(state.one_settings("history")).audit_log()
    state.say(to_json(audit_json(events)) if as_json else render_audit(events))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_state
def validate(state: _Invocation, as_json: bool) -> None:
    """Check the folder against the history, and every pending file as `up` would read it,
    running nothing; exit 3 when something is wrong."""
    from .output import render_validation, validation_json

    def run(target: Target) -> Validation:
        result = state.migrator(target.settings).validate()
        if not as_json:
            state.say(render_validation(result))
        return result

    _over_targets(
        state,
        run,
        as_json=as_json,
        document=validation_json,
        exit_code=lambda result: result.exit_code,
    )


@cli.command()
@click.option("--to", "to", metavar="VERSION", help="Plan up to and including VERSION.")
@click.option(
    "--locks",
    is_flag=True,
    help="Before each statement, the table lock it takes, on what, and whether it rewrites or "
    "scans the table (PostgreSQL; always in --json).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the steps and statements as JSON.")
@pass_state
def plan(state: _Invocation, to: str | None, locks: bool, as_json: bool) -> None:
    """Print the exact SQL that `up` would run."""
    from .output import plan_json, render_plan, target_header

    def run(target: Target) -> tuple[PlannedStatements, ...]:
        settings = target.settings
        if target.declared and not as_json:
            service = settings.history.service
            click.echo(f"-- {target_header(target.name, target.database, service)}")
        migrator = state.migrator(settings)
        source = migrator.discover()
        state.warn(source.warnings)
        result, steps = migrator.plan_statements(to=to)
        if not as_json:
            table = settings.history.table
            text = render_plan(
                result, steps, history_table=table, layout=source.layout, locks=locks
            )
            click.echo(text, nl=False)
        return steps

    one = "--to names a version of one database" if to else None
    _over_targets(
        state, run, as_json=as_json, document=plan_json, key="steps", one=one, header=False
    )


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
@pass_state
def resolve(state: _Invocation, version: str, outcome: str | None) -> None:
    """Clear a failed migration after a human has checked the database."""
    if outcome is None:
        raise click.UsageError("say what you found: --applied or --rolled-back")
    state.migrator(state.one_settings("resolve")).resolve(version, applied=outcome == "applied")
    state.say(f"resolved {version} as {outcome}")


@cli.command()
@click.argument("version", required=False)
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def repair(state: _Invocation, version: str | None, dry_run: bool, as_json: bool) -> None:
    """Accept an intended edit to applied files (a comment fixed): record the current checksum
    of VERSION, or of every changed file, without running anything (audited)."""
    from .output import render_repairs, repairs_json, to_json

    repairs = state.migrator(state.one_settings("repair")).repair(version, dry_run=dry_run)
    state.say(
        to_json(repairs_json(repairs, dry_run=dry_run))
        if as_json
        else render_repairs(repairs, dry_run=dry_run)
    )


@cli.command("mark-applied")
@click.argument("version")
@pass_state
def mark_applied(state: _Invocation, version: str) -> None:
    """Record VERSION as applied without running it (kept in the audit log)."""
    state.migrator(state.one_settings("mark-applied")).mark_applied(version)
    state.say(f"marked {version} as applied")


@cli.command()
@click.argument("version")
@pass_state
def unmark(state: _Invocation, version: str) -> None:
    """Forget VERSION in the history without running its down SQL (kept in the audit log)."""
    state.migrator(state.one_settings("unmark")).unmark(version)
    state.say(f"unmarked {version}")


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
@pass_state
def adopt(
    state: _Invocation,
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

    migrator = state.migrator(state.one_settings("adopt"))
    adoption = migrator.adopt(
        source,
        table=foreign_table,
        dry_run=dry_run,
        verify_checksums=not ignore_checksums,
    )
    if as_json:
        state.say(to_json(adoption_json(adoption, dry_run=dry_run)))
    else:
        state.say(render_adoption(adoption, dry_run=dry_run))


@cli.command()
@click.option(
    "--version",
    "version",
    required=True,
    metavar="VERSION",
    help="The newest migration the database already has.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; record nothing.")
@pass_state
def baseline(state: _Invocation, version: str, dry_run: bool) -> None:
    """Record every migration up to VERSION as applied, for a database that has the schema
    but no history at all."""
    from .output import render_baseline

    recorded = state.migrator(state.one_settings("baseline")).baseline(version, dry_run=dry_run)
    state.say(render_baseline(recorded, dry_run=dry_run))


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
@pass_state
def new(state: _Invocation, name: str, numbering: str | None, down: bool) -> None:
    """Create a new migration file in the folder's style (never overwrites)."""
    from .discovery import create_migration

    sequential = None if numbering is None else numbering == "sequential"
    folder = state.one_settings("new").source.directory
    created = create_migration(folder, name, sequential=sequential, down=down)
    for path in created.paths:
        state.say(f"created {path}")


@cli.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="Write it to this file instead of printing it.",
)
@pass_state
def dump(state: _Invocation, output: str | None) -> None:
    """Print the database's schema as canonical text: every table, column, index,
    constraint, view, function and trigger in a stable order, migrata's own tables left out
    (`dump_schema` in the config writes it after every run that changes the database)."""
    text = state.migrator(state.one_settings("dump")).dump()
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    state.say(f"wrote the schema to {output}")


@cli.command()
@click.option(
    "--from", "from_version", metavar="VERSION", help="Check VERSION and the newer ones only."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def check(state: _Invocation, from_version: str | None, as_json: bool) -> None:
    """In a scratch database (next to --dev-url): apply every migration, recording the schema
    after each; revert them one by one, proving each down restores the schema that was there
    before its up; apply them all again. Exits 3 on any difference."""
    from .check import check_migrations
    from .output import check_json, render_check, to_json

    settings = state.one_settings("check")
    state.protect(settings.connect.dev_url)
    state.protect(settings.connect.database_url)
    report = check_migrations(settings, dev_url=settings.connect.dev_url, from_version=from_version)
    state.say(to_json(check_json(report)) if as_json else render_check(report))
    if report.exit_code:
        sys.exit(report.exit_code)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def drift(state: _Invocation, as_json: bool) -> None:
    """Compare the database's schema with the one its applied migrations build (in a scratch
    database next to --dev-url): what was added or dropped by hand, which applied files were
    edited since, and the SQL that undoes what can safely be undone. Exits 3 on drift."""
    from .check import find_drift
    from .output import drift_json, render_drift, to_json

    settings = state.one_settings("drift")
    state.protect(settings.connect.dev_url)
    state.protect(settings.connect.database_url)
    report = find_drift(settings, dev_url=settings.connect.dev_url)
    state.say(to_json(drift_json(report)) if as_json else render_drift(report))
    if report.exit_code:
        sys.exit(report.exit_code)


@cli.command()
@click.option("--to", "to", required=True, metavar="VERSION", help="The last version to squash.")
@click.option("--dry-run", is_flag=True, help="Print the baseline and the files; change nothing.")
@pass_state
def squash(state: _Invocation, to: str, dry_run: bool) -> None:
    """Replace the migrations up to VERSION with one baseline file of the schema they build
    (made in a scratch database next to --dev-url). Databases that applied them see the
    baseline as applied; new ones run it."""
    from .squash import squash_migrations

    settings = state.one_settings("squash")
    state.protect(settings.connect.dev_url)
    state.protect(settings.connect.database_url)
    done = squash_migrations(settings, to, dev_url=settings.connect.dev_url, dry_run=dry_run)
    if dry_run:
        state.say(f"-- would write {done.baseline}:")
        state.say(done.text.rstrip())
        state.say("-- and remove: " + ", ".join(done.removed))
        return
    state.say(f"wrote {done.baseline}, replacing {done.first} to {done.last}")
    for path in done.removed:
        state.say(f"removed {path}")


@cli.command()
@click.argument("selection", nargs=-1, metavar="[VERSION|PATH]...")
@click.option("--all", "check_all", is_flag=True, help="Every file, as on a fresh database.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "github", "sarif"]),
    default="text",
    show_default=True,
    help="text, JSON, GitHub Actions annotations, or SARIF 2.1.0 (code scanning).",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info", "never"]),
    help="The lowest severity that makes lint exit 6 [default: lint.fail_on, else error].",
)
@click.option(
    "--pg-version",
    type=click.IntRange(min=9),
    metavar="MAJOR",
    help="The PostgreSQL major version to judge by without a database (e.g. 15).",
)
@click.option(
    "--dialect",
    type=click.Choice(["postgresql", "mysql", "clickhouse", "sqlite"]),
    help="How to read the SQL without a database [default: the URL's engine, else postgresql].",
)
@click.option("--rules", "list_rules", is_flag=True, help="List the rules and exit.")
@pass_state
def lint(
    state: _Invocation,
    selection: tuple[str, ...],
    check_all: bool,
    output_format: str,
    fail_on: str | None,
    pg_version: int | None,
    dialect: str | None,
    list_rules: bool,
) -> None:
    """Check migrations for what locks, rewrites or breaks production: the pending ones of the
    database (its catalog says which tables are big), the files or versions named (those
    before them count as applied: for pre-commit), or --all as on a fresh database. Exits 6
    when a finding is at --fail-on or above."""
    from .config import lint_table
    from .lint import RULES
    from .lint.report import lint_options_from_table
    from .output import lint_github, lint_json, lint_sarif, render_lint, render_rules, to_json

    if list_rules:
        state.say(render_rules(RULES))
        return
    found = lint_table(config_path=state.config_path)
    options, configured = lint_options_from_table(*found, list(RULES)) if found else (None, None)
    settings = state.one_settings("lint")
    migrator = state.migrator(settings, database=False)
    report = migrator.lint(
        selection,
        all=check_all,
        options=options,
        fail_on=fail_on or configured or "error",
        server_version=pg_version * 10000 if pg_version is not None else None,
        dialect=dialect,
    )
    if output_format == "json":
        state.say(to_json(lint_json(report)))
    elif output_format == "github":
        state.say(lint_github(report) or None)
    elif output_format == "sarif":
        from migrata import __version__

        state.say(to_json(lint_sarif(report, RULES, version=__version__)))
    else:
        state.say(render_lint(report))
    if report.exit_code:
        sys.exit(report.exit_code)


# -- server commands: the database itself, not its migrations ---------------------------------


def _each_database(
    state: _Invocation, action: Callable[[Settings], _T], *, one: str | None = None
) -> list[tuple[str | None, str, _T]]:
    """``action`` on the database of every selected target (or the one database): ``(target
    name, redacted URL, result)``, stopping at the first error."""
    from .urls import redact

    done = []
    for target in state.targets(one=one):
        url = _database_url(target.settings)
        state.protect(url)
        name = target.name if target.declared else None
        state.target = name
        try:
            result = action(target.settings)
        finally:
            state.target = None
        done.append((name, redact(url), result))
    return done


def _say_each(
    state: _Invocation,
    done: list[tuple[str | None, str, _T]],
    *,
    as_json: bool,
    text: Callable[[str, _T], str],
    document: Callable[[str, _T], dict[str, Any]],
) -> None:
    from .output import to_json

    if as_json:
        entries = [{"target": n, **document(db, r)} if n else document(db, r) for n, db, r in done]
        state.say(to_json(entries[0] if len(done) == 1 and done[0][0] is None else entries))
        return
    for name, database, result in done:
        state.say((f"target {name}: " if name else "") + text(database, result))


@cli.command()
@click.option(
    "--timeout",
    metavar="SECONDS",
    help="How long to wait [default: --wait / MIGRATA_WAIT when set, else 60].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def wait(state: _Invocation, timeout: str | None, as_json: bool) -> None:
    """Wait until the database accepts connections: a server not listening yet, a host name
    not yet resolvable or a server starting up are tried again, with progress on stderr.

    Exits 0 once it answers, 2 when the time is up or the error cannot pass with time (a
    wrong password, a database that does not exist). With several targets, waits for each.
    """
    from .embedded import wait_for_database
    from .output import render_waited, waited_json
    from .settings import coerce_setting

    def run(settings: Settings) -> Any:
        connect = settings.connect
        limit = coerce_setting("wait", timeout) if timeout else (connect.wait or 60.0)
        assert connect.database_url is not None
        return wait_for_database(
            connect.database_url, timeout=limit, connect_timeout=connect.connect_timeout
        )

    _say_each(
        state,
        _each_database(state, run),
        as_json=as_json,
        text=lambda _db, waited: render_waited(waited),
        document=lambda _db, waited: waited_json(waited),
    )


@cli.command("create-database")
@_setting_options("create-database")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def create_database_command(state: _Invocation, /, as_json: bool, **given: Any) -> None:
    """Create the database named in the URL unless it exists (PostgreSQL: connecting to the
    server's maintenance database as the URL's user; SQLite: the file and its folder).

    With several targets, creates each target's database.
    """
    from .embedded import create_database
    from .output import render_created

    state.given(given)

    def run(settings: Settings) -> bool:
        connect = settings.connect
        assert connect.database_url is not None
        return create_database(
            connect.database_url, wait=connect.wait, connect_timeout=connect.connect_timeout
        )

    _say_each(
        state,
        _each_database(state, run),
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
@_setting_options("drop-database")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def drop_database_command(
    state: _Invocation, /, yes: bool, force: bool, as_json: bool, **given: Any
) -> None:
    """Drop the database named in the URL, with everything in it. Refused without --yes (on
    a terminal, typing the database's name confirms instead); never done by `up`."""
    from .embedded import drop_database
    from .output import render_dropped
    from .urls import database_name, parse_url, redact

    state.given(given)
    url = _database_url(state.one_settings("drop-database"))
    state.protect(url)
    shown = redact(url)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(f"refusing to drop {shown} without --yes (nothing was dropped)")
        name = database_name(parse_url(url))
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
        connect = settings.connect
        assert connect.database_url is not None
        return drop_database(
            connect.database_url,
            force=force,
            wait=connect.wait,
            connect_timeout=connect.connect_timeout,
        )

    _say_each(
        state,
        _each_database(state, run, one="`drop-database` acts on one database"),
        as_json=as_json,
        text=render_dropped,
        document=lambda db, dropped: {"database": db, "dropped": dropped},
    )


# -- the console script -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the console script; exits with the code of the outcome."""
    # Until the options are read, errors follow the environment's choice of format.
    state = _Invocation(
        log_format="json" if os.environ.get("MIGRATA_LOG_FORMAT") == "json" else "text"
    )
    try:
        cli.main(args=argv, prog_name="migrata", standalone_mode=False, obj=state)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        # An unknown command is found before the group's options take effect: read them here.
        context = getattr(exc, "ctx", None)
        chosen = context.find_root().params.get("log_format") if context is not None else None
        if chosen:
            state.log_format = chosen
        _fail(state, exc.format_message(), ExitCode.USAGE, "UsageError", exc.show)
    except MigrataError as exc:
        message = _said(state, exc)
        _fail(
            state,
            message,
            int(exc.exit_code),
            type(exc).__name__,
            lambda: click.echo(f"migrata: error: {message}", err=True),
        )
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(ExitCode.OK)


def _fail(
    state: _Invocation, message: str, code: int, kind: str, show: Callable[[], None]
) -> NoReturn:
    """The last words of a failed invocation: a JSON ``error`` line, or ``show()``."""
    if state.log_format == "json":
        from .output import json_error

        click.echo(json_error(state.scrub(message), exit_code=code, kind=kind), err=True)
    else:
        show()
    sys.exit(code)
