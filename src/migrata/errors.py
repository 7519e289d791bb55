"""The exception tree of migrata.

Every error raised on purpose derives from :class:`MigrataError`, carries structured fields and
a message that says what to do next. The CLI catches only ``MigrataError``; anything else is a
bug and keeps its traceback.

::

    MigrataError
    ├── ConfigError                 bad flag, URL, config file, unknown engine
    │   └── MissingDriver           the engine's optional driver is not installed
    ├── DiscoveryError              the migrations folder cannot be read as migrations
    │   ├── InvalidMigrationName    a .sql file whose name does not parse
    │   ├── DuplicateVersion        two files claim one version
    │   ├── InvalidEncoding         a file that is not UTF-8
    │   ├── UnknownDirective        a ``-- migrata:`` directive we do not know
    │   ├── AmbiguousLayout         the folder fits several layouts that read it differently
    │   └── SQLSyntaxError          the statement splitter could not parse a file
    ├── PlanError                   the plan cannot be made as asked
    │   ├── ValidationFailed        history and folder disagree (drift, missing, failed, order)
    │   ├── UnknownVersion          --to / resolve / mark names a version that does not exist
    │   ├── MissingDownMigration    down asked for a step that has no down SQL
    │   ├── AdoptionRefused         another tool's history is dirty or disagrees with the folder
    │   └── LintRefused             up --lint=error: a migration to apply has an error finding
    ├── LockError
    │   ├── LockTimeout             another run holds the migration lock
    │   └── LockUnavailable         no lock on this engine, and --require-lock
    ├── ConnectionFailed            the database could not be reached
    │   └── WaitTimeout             it did not accept connections within --wait
    └── ExecutionError
        └── MigrationFailed         a statement failed; carries file:line:col and the DB message
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .exitcodes import ExitCode

if TYPE_CHECKING:
    from .models import Problem


#: How a message names a setting the caller can change: the ``migrata`` command's flag, and
#: the library's argument. Messages write ``setting("directory")``; ``str(error)`` says
#: ``directory=``, and the command line says ``--dir`` (:attr:`MigrataError.cli_message`).
SETTINGS = {
    "directory": ("--dir", "directory="),
    "create_database": (
        "--create-database (or run `migrata create-database`)",
        "create_database=True (or call migrata.create_database(url))",
    ),
    "database_url": (
        "--database-url/-u, or set MIGRATA_DATABASE_URL or DATABASE_URL",
        "a database URL (the first argument), or set MIGRATA_DATABASE_URL or DATABASE_URL",
    ),
    "layout": ("--layout NAME (or set `layout` in the config)", "layout="),
    "lock_timeout": ("--lock-timeout", "lock_timeout (seconds)"),
    "wait": ("--wait (MIGRATA_WAIT)", "wait= (MIGRATA_WAIT)"),
    "require_lock": ("--require-lock", "require_lock=True"),
    "force": ("--force", "force=True"),
    "adopt_table": ("--table NAME", "table="),
    "adopt_source": ("--from TOOL", "source="),
    "ignore_checksums": ("--ignore-checksums", "verify_checksums=False"),
    "sequential": ("--sequential", "sequential="),
    "allow_empty_down": ("--allow-empty-down", "allow_empty_down=True"),
    "target": ("--target NAME", "target=NAME"),
    "lint": ("--lint=warn (or off)", 'lint="warn" (or "off")'),
}
_MARK = "\x1f"
_SETTING = re.compile(f"{_MARK}([a-z_]+){_MARK}")


def setting(name: str) -> str:
    """A setting's name in an error message, said the caller's way: as :data:`SETTINGS` has
    it, else (any setting of :data:`migrata.settings.SPECS`) its flag or its keyword."""
    if name not in SETTINGS and name not in _specs():
        raise KeyError(name)
    return f"{_MARK}{name}{_MARK}"


def _specs() -> Any:
    # Imported when used: the settings module itself raises these errors.
    from .settings import SPECS

    return SPECS


def _said(name: str, *, cli: bool) -> str:
    if name in SETTINGS:
        return SETTINGS[name][0 if cli else 1]
    return str(_specs()[name].flag_text) if cli else f"{name}="


def _render(template: str, *, cli: bool) -> str:
    return _SETTING.sub(lambda m: _said(m[1], cli=cli), template)


class MigrataError(Exception):
    """Root of every error migrata raises on purpose."""

    #: The process exit code the CLI uses for this error (see ``migrata.exitcodes``).
    exit_code: int = ExitCode.MIGRATION_FAILED

    def __init__(self, message: str) -> None:
        self.message = _render(message, cli=False)
        super().__init__(self.message)
        self._template = message

    @property
    def cli_message(self) -> str:
        """The message as the ``migrata`` command says it: settings named by their flags."""
        if _MARK not in self._template:
            return self.message
        return _render(self._template, cli=True)

    def __str__(self) -> str:
        return self.message


class ConfigError(MigrataError):
    """A flag, URL or config file is wrong."""

    exit_code = ExitCode.USAGE


class MissingDriver(ConfigError):
    """The engine's optional driver package is not installed."""

    def __init__(self, engine: str, package: str, extra: str) -> None:
        super().__init__(
            f"the {engine} driver is not installed: run `pip install 'migrata[{extra}]'` "
            f"(it provides {package})"
        )
        self.engine = engine
        self.package = package


class DiscoveryError(MigrataError):
    """The migrations folder or package cannot be read as migrations."""

    exit_code = ExitCode.VALIDATION

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line
        self.reason = message


class InvalidMigrationName(DiscoveryError):
    """A ``.sql`` file whose name is not ``<version>_<name>.sql`` (or a known variant)."""


class DuplicateVersion(DiscoveryError):
    """Two migration files claim the same version."""


class InvalidEncoding(DiscoveryError):
    """A migration file is not valid UTF-8."""


class UnknownDirective(DiscoveryError):
    """A ``-- migrata:`` directive that this version does not know."""


class AmbiguousLayout(DiscoveryError):
    """The folder fits several layouts that would read it differently."""

    def __init__(
        self,
        path: str,
        candidates: Sequence[str],
        failures: Sequence[str] = (),
        *,
        differences: Sequence[str] = (),
    ) -> None:
        if failures:
            what = "and none of them reads it: " + "; ".join(failures)
        elif differences:
            what = "that read it differently: " + "; ".join(differences)
        else:
            what = "that read it differently"
        super().__init__(
            f"the folder fits several layouts ({', '.join(candidates)}) {what}; keep one "
            f"layout per folder, or pass {setting('layout')}",
            path=path,
        )
        self.candidates = tuple(candidates)


class SQLSyntaxError(DiscoveryError):
    """The statement splitter could not parse a file; nothing was run."""

    def __init__(self, message: str, *, path: str, line: int, column: int) -> None:
        super().__init__(message, path=path, line=line)
        self.message = f"{path}:{line}:{column}: {message}"
        self.args = (self.message,)
        self.column = column


class PlanError(MigrataError):
    """The plan cannot be made as asked."""

    exit_code = ExitCode.VALIDATION


class ValidationFailed(PlanError):
    """The history and the folder disagree; every problem is listed at once."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        lines = [f"{len(problems)} problem(s) stop this run; nothing was changed:"]
        lines += [f"  - {p.message} -> {p.next_step}" for p in problems]
        super().__init__("\n".join(lines))
        # The problems as values say settings the library's way (the message keeps both).
        self.problems = tuple(
            replace(
                p, message=_render(p.message, cli=False), next_step=_render(p.next_step, cli=False)
            )
            for p in problems
        )


class LintRefused(PlanError):
    """``up`` with ``lint=error`` found error-level findings in what it was about to run;
    nothing was run. ``findings`` holds them (migrata.lint.Finding values)."""

    exit_code = ExitCode.LINT

    def __init__(self, findings: Sequence[Any]) -> None:
        lines = [f"{len(findings)} lint error(s) in the migrations to apply; nothing was run:"]
        for f in findings:
            lines.append(f"  - {f.path}:{f.line}:{f.column}: [{f.rule}] {f.message}")
            lines += ["      safe: " + line for line in f.safe.splitlines()[:1]]
        lines.append(
            "make the migrations safe, allow a finding with `-- migrata: allow=RULE -- why` "
            f"before its statement, or pass {setting('lint')}"
        )
        super().__init__("\n".join(lines))
        self.findings = tuple(findings)


class UnknownVersion(PlanError):
    """A command names a version that neither the folder nor the history has."""

    def __init__(self, version: str, where: str = "the migrations folder") -> None:
        super().__init__(
            f"version {version} is not in {where}: run `migrata status` to see the versions"
        )
        self.version = version


class MissingDownMigration(PlanError):
    """``down`` was asked for steps of which some have no down SQL."""

    def __init__(self, versions: Sequence[str]) -> None:
        joined = ", ".join(versions)
        super().__init__(
            f"no down SQL for {joined}: add the down file(s) before reverting; nothing was run"
        )
        self.versions = tuple(versions)


class AdoptionRefused(PlanError):
    """``adopt`` found another tool's history it cannot take over as it stands."""

    def __init__(self, tool: str, table: str, problems: Sequence[str]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"cannot adopt the {tool} history in {table}; nothing was recorded:\n{lines}"
        )
        self.tool = tool
        self.table = table
        self.problems = tuple(problems)


class LockError(MigrataError):
    """The migration lock could not be taken or kept."""

    exit_code = ExitCode.LOCK_TIMEOUT


class LockUnavailable(LockError):
    """The engine has no migration lock and ``--require-lock`` asked for one."""


class LockTimeout(LockError):
    """Another run held the migration lock for longer than ``--lock-timeout``."""

    def __init__(self, timeout: float, holder: str | None) -> None:
        who = f" (held by {holder})" if holder else ""
        super().__init__(
            f"could not take the migration lock within {timeout:g}s{who}: another migrata run "
            f"is in progress; wait for it or raise {setting('lock_timeout')}"
        )
        self.timeout = timeout
        self.holder = holder


class ConnectionFailed(MigrataError):
    """The database could not be reached; the message never carries a password.

    ``transient`` says whether trying again may help (connection refused, a name not yet
    resolvable, a server starting up); ``missing_database`` that the server answered but the
    database named in the URL does not exist. ``reason`` is the driver's text, scrubbed.
    """

    exit_code = ExitCode.USAGE

    def __init__(
        self,
        message: str,
        *,
        transient: bool = False,
        missing_database: bool = False,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.missing_database = missing_database
        self.reason = reason if reason is not None else message

    @classmethod
    def cannot_connect(
        cls, database: str, reason: str, *, transient: bool, missing_database: bool = False
    ) -> ConnectionFailed:
        """The error of a failed connection to ``database`` (redacted), the driver saying
        ``reason`` (scrubbed); a missing database says how to create it."""
        hint = f"; create it, or pass {setting('create_database')}" if missing_database else ""
        return cls(
            f"cannot connect to {database}: {reason}{hint}",
            transient=transient and not missing_database,
            missing_database=missing_database,
            reason=reason,
        )


class WaitTimeout(ConnectionFailed):
    """The database did not accept connections within the time ``--wait`` allowed."""

    def __init__(self, database: str, timeout: float, attempts: int, reason: str) -> None:
        super().__init__(
            f"{database} did not accept connections within {timeout:g}s ({attempts} "
            f"attempt(s)); the last error: {reason}; check that the server is running and "
            f"the URL's host and port, or wait longer ({setting('wait')})",
            transient=True,
            reason=reason,
        )
        self.timeout = timeout
        self.attempts = attempts


class ExecutionError(MigrataError):
    """Something failed while migrations were being run."""

    exit_code = ExitCode.MIGRATION_FAILED


class MigrationFailed(ExecutionError):
    """A statement of a migration failed.

    ``path:line:col`` points at the failing statement (or, when the database reports one, the
    exact position inside it); ``db_message`` is the database's own text.
    """

    def __init__(
        self,
        *,
        version: str,
        path: str,
        line: int,
        column: int,
        statement: str,
        db_message: str,
        sqlstate: str | None,
        transactional: bool,
        statement_index: int,
        statement_count: int,
        applied: Sequence[str] = (),
        resumable: bool = True,
        gave_way: bool = False,
        command: str = "up",
    ) -> None:
        first_line = statement.strip().splitlines()[0] if statement.strip() else ""
        if transactional and gave_way:
            after = (
                f"it was rolled back; nothing is wrong with the file: run `migrata {command}` "
                "again once the lock is free"
            )
        elif transactional:
            after = f"it was rolled back; fix the file and run `migrata {command}` again"
        elif resumable:
            after = (
                f"it ran outside a transaction and stopped at statement {statement_index} of "
                f"{statement_count}; fix the cause and run `migrata up --resume {version}` to "
                f"continue from that statement, or check the database and run `migrata resolve "
                f"{version} --applied` or `--rolled-back`"
            )
        else:
            after = (
                f"it ran outside a transaction and stopped at statement {statement_index} of "
                f"{statement_count}; check the database, then run `migrata resolve {version} "
                "--applied` or `--rolled-back`"
            )
        code = f" [{sqlstate}]" if sqlstate else ""
        super().__init__(
            f"{path}:{line}:{column}: migration {version} failed{code}: {db_message.strip()}\n"
            f"  statement: {first_line}\n"
            f"  {after}"
        )
        self.version = version
        self.path = path
        self.line = line
        self.column = column
        self.statement = statement
        self.db_message = db_message
        self.sqlstate = sqlstate
        self.transactional = transactional
        self.statement_index = statement_index
        self.statement_count = statement_count
        self.applied = tuple(applied)
        #: The statement gave up waiting for a lock (every retry spent): not the file's fault.
        self.gave_way = gave_way
