"""Linting a folder against a database: which migrations (the pending ones, those named, or
all), what the database's catalog says of their tables, the folder's own layout problems, and
the check ``up`` makes before it runs. The rules themselves are :mod:`migrata.lint` (pure).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace

from .errors import ConfigError, LintRefused, UnknownVersion, setting
from .events import log_event
from .layouts.base import ReadResult
from .lint import RULES, Catalog, Finding, LintOptions, TableInfo, lint
from .lint.report import LintReport
from .models import Direction, Migration, Plan, State
from .planner import compute_status
from .session import Connector
from .settings import Settings

__all__ = ["Linter"]


class Linter:
    """The linter over one folder (``source``) and, when it has one, one database."""

    def __init__(
        self, connector: Connector, source: Callable[[], ReadResult], settings: Settings
    ) -> None:
        self._connector = connector
        self._source = source
        self.settings = settings

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
        """The linter's findings (see :mod:`migrata.lint`): for the pending migrations (one
        query, no lock, nothing written), for ``selection`` (versions or file paths of the
        folder; the migrations before them count as applied), or for ``all`` of them as on a
        fresh database. With a database, its catalog (tables, estimated rows and sizes, the
        server's version) informs the findings; ``selection`` and ``all`` need none, and then
        read the SQL as ``dialect`` (default: the URL's engine, else PostgreSQL).

        Raises UnknownVersion for a selection the folder does not have, ConfigError when the
        pending migrations are asked for without a database."""
        migrations = self._source().migrations
        catalog: Catalog | None = None
        context = "no database"
        if all:
            chosen, existing = list(migrations), []
        elif selection:
            chosen = [_select(migrations, item) for item in selection]
            first = min(migrations.index(m) for m in chosen)
            existing = [m for m in migrations[:first] if m not in chosen]
        else:
            chosen, existing = [], []
        if self._connector.has_database and not all:
            with self._connector.open() as (backend, history):
                applied = history.read().applied
                estimates = backend.table_estimates()
                version = backend.server_version
                context = f"catalog of {backend.display_name}"
            tables = {name: TableInfo(rows, size) for name, (rows, size) in estimates.items()}
            catalog = Catalog(server_version=version, tables=tables)
            if not selection:
                entries = compute_status(
                    migrations, applied, environment=self.settings.source.environment
                )
                pending = {e.version for e in entries if e.state is State.PENDING}
                chosen = [m for m in migrations if m.version in pending]
                existing = [m for m in migrations if m.version not in pending]
        elif not selection and not all:
            raise ConfigError(
                "lint checks the pending migrations of a database: pass "
                f"{setting('database_url')}, or name the files or versions to check, or "
                "check every file as on a fresh database with --all"
            )
        chosen_options = options or LintOptions()
        if server_version is not None:
            chosen_options = replace(chosen_options, server_version=server_version)
        if chosen_options.cluster is None and self.settings.history.cluster:
            chosen_options = replace(chosen_options, cluster=self.settings.history.cluster)
        if dialect is None:
            dialect = self._connector.dialect if self._connector.has_database else "postgresql"
        findings = lint(chosen, dialect, catalog=catalog, options=chosen_options, existing=existing)
        layout = self._layout_findings(chosen_options)
        checked = tuple(m.version.text for m in chosen)
        return LintReport(layout + findings, checked, fail_on=fail_on, context=context)

    def _layout_findings(self, options: LintOptions) -> tuple[Finding, ...]:
        """The folder's warnings (a file its layout skips, an option its tool ignores) as
        findings of the rule ``folder-layout``, each at the file it names."""
        rule = RULES["folder-layout"]
        if rule.id in options.disabled:
            return ()
        severity = options.severities.get(rule.id, rule.severity)
        source = self._source()
        found = []
        for warning in source.warnings:
            path, _, why = warning.partition(": ")
            if not why or not os.path.exists(path):
                path, why = self.settings.source.directory, warning
            found.append(
                Finding(
                    rule.id,
                    severity,
                    "",
                    path,
                    1,
                    1,
                    "",
                    f"{why} (read as {source.layout})",
                    "name the file as the layout's tool expects, move it out of the folder, "
                    "or pass --layout NAME",
                    None,
                    (),
                    False,
                    False,
                )
            )
        return tuple(found)

    def check_before_running(self, plan: Plan) -> None:
        """Lint the migrations ``up`` is about to apply (no catalog: no extra round trip):
        each finding at warning or error level a warning, or, with ``lint=error``,
        LintRefused before anything runs when one is at error level."""
        mode = self.settings.run.lint
        if mode == "off" or plan.direction is not Direction.UP or not plan.steps:
            return
        chosen = [step.migration for step in plan.steps]
        migrations = list(self._source().migrations)
        # The migrations before the first one to apply are in the database. (Looked up by
        # hash, not list.index: a plan of n migrations costs n, not n² comparisons.)
        position: dict[Migration, int] = {}
        for index, migration in enumerate(migrations):
            position.setdefault(migration, index)
        first = min((position[m] for m in chosen if m in position), default=0)
        picked = set(chosen)
        existing = [m for m in migrations[:first] if m not in picked]
        findings = [
            f
            for f in lint(chosen, self._connector.dialect, existing=existing)
            if f.allowed is None and f.severity != "info"  # style notes are for `migrata lint`
        ]
        for finding in findings:
            log_event(
                "lint_finding",
                "%s:%d:%d: %s [%s] %s",
                finding.path,
                finding.line,
                finding.column,
                finding.severity,
                finding.rule,
                finding.message,
                level=logging.WARNING,
                rule=finding.rule,
                severity=finding.severity,
                path=finding.path,
                line=finding.line,
                version=finding.version,
            )
        errors = [f for f in findings if f.severity == "error"]
        if mode == "error" and errors:
            raise LintRefused(errors)


def _select(migrations: Sequence[Migration], item: str) -> Migration:
    """The migration ``item`` names: a version, or the path of one of its files."""
    for migration in migrations:
        if migration.version.names(item):
            return migration
    wanted = os.path.realpath(item)
    for migration in migrations:
        paths = [migration.up.path] + ([migration.down.path] if migration.down else [])
        if any(os.path.realpath(path) == wanted for path in paths):
            return migration
    raise UnknownVersion(item)
