"""Linting a folder against a database: which migrations (the pending ones, those named, or
all), what the database's catalog says of their tables, the folder's own layout problems, and
the check ``up`` makes before it runs. The rules themselves are :mod:`migrata.lint` (pure).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .cache import cache_folder, code_fingerprint, write_whole
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

logger = logging.getLogger("migrata")


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

    def check_before_running(self, plan: Plan) -> Callable[[], None]:
        """Lint the migrations ``up`` is about to apply (no catalog: no extra round trip);
        each finding at warning or error level is logged as a warning.

        With ``lint=error`` the lint runs now and raises LintRefused, before anything runs,
        when a finding is at error level. With ``lint=warn`` (the default) it cannot stop the
        run, so it runs in a thread while the run goes on (parsing every statement costs
        about as much CPU as the run itself; here it costs no time): the returned function
        waits for it, so every warning is logged before ``up`` returns. Returns a no-op when
        there is nothing to wait for.
        """
        mode = self.settings.run.lint
        if mode == "off" or plan.direction is not Direction.UP or not plan.steps:
            return _nothing
        if mode == "error":
            self._lint_before_running(plan, refuse=True)
            return _nothing
        failed: list[BaseException] = []

        def work() -> None:
            try:
                self._lint_before_running(plan, refuse=False)
            except Exception as exc:  # noqa: BLE001 - a linter bug must not fail the run
                failed.append(exc)

        thread = threading.Thread(target=work, name="migrata-lint", daemon=True)
        thread.start()

        def wait() -> None:
            thread.join()
            if failed:
                logger.warning(
                    "linting the pending migrations failed: %s (the run went on)", failed[0]
                )

        return wait

    def _lint_before_running(self, plan: Plan, *, refuse: bool) -> None:
        chosen = [step.migration for step in plan.steps]
        migrations = list(self._source().migrations)
        # The migrations before the first one to apply are in the database (by version: a
        # plan's migration may be a prepared copy of the folder's).
        place = {m.version: index for index, m in enumerate(migrations)}
        wanted = {m.version for m in chosen}
        first = min((place[v] for v in wanted if v in place), default=0)
        existing = [m for m in migrations[:first] if m.version not in wanted]
        dialect = self._connector.dialect
        remembered = _LintMemory(cache_folder(self.settings.run.split_cache), dialect)
        key = remembered.key(existing, chosen)
        findings = remembered.get(key)
        if findings is None:
            findings = [
                f
                for f in lint(chosen, dialect, existing=existing)
                if f.allowed is None and f.severity != "info"  # style notes: `migrata lint`
            ]
            remembered.put(key, findings)
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
        if refuse and errors:
            raise LintRefused(errors)


def _nothing() -> None:
    """Nothing to wait for."""


class _LintMemory:
    """The findings of ``up``'s lint, kept by the hash of all it depends on — the dialect,
    the linter's code, and each migration's version, path and checksum, those already applied
    apart from those to apply — in one file of the cache folder (``lint.json``, the newest
    :data:`LINT_ENTRIES` runs). Linting parses every statement; applying the same folder to
    fresh databases again (a test template, a dev database rebuilt) then costs nothing. An
    entry that cannot be read is ignored; a folder that cannot be written caches nothing."""

    def __init__(self, folder: str | None, dialect: str) -> None:
        self.path = os.path.join(folder, "lint.json") if folder else None
        self.dialect = dialect

    def key(self, existing: Sequence[Migration], chosen: Sequence[Migration]) -> str:
        digest = hashlib.sha256()
        digest.update(f"{self.dialect}\0{_lint_fingerprint()}".encode())
        for group in (existing, chosen):
            digest.update(b"\1")
            for m in group:
                digest.update(f"{m.version.text}\0{m.up.path}\0{m.checksum}\0".encode())
        return digest.hexdigest()

    def _load(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            with open(self.path, "rb") as handle:
                data = json.loads(handle.read())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> list[Finding] | None:
        entry = self._load().get(key)
        if not isinstance(entry, list):
            return None
        try:
            return [_finding(item) for item in entry]
        except (TypeError, ValueError, KeyError):
            return None  # not what this code writes: lint again

    def put(self, key: str, findings: Sequence[Finding]) -> None:
        if self.path is None:
            return
        data = self._load()
        data.pop(key, None)
        data[key] = [dataclasses.asdict(f) for f in findings]
        for old in list(data)[: max(0, len(data) - LINT_ENTRIES)]:
            del data[old]
        write_whole(self.path, json.dumps(data).encode())


#: How many runs' findings ``lint.json`` keeps (the oldest dropped first).
LINT_ENTRIES = 32


def _finding(item: Any) -> Finding:
    """A Finding from its stored form; TypeError/ValueError/KeyError when it is not one."""
    if not isinstance(item, dict):
        raise TypeError("not a finding")
    fields = {f.name: item[f.name] for f in dataclasses.fields(Finding)}
    fields["tables"] = tuple(fields["tables"])
    return Finding(**fields)


@functools.cache
def _lint_fingerprint() -> str:
    """The splitting code's fingerprint and the size and time of the linter's own files."""
    package = os.path.dirname(os.path.abspath(__file__))
    folder = os.path.join(package, "lint")
    parts = [code_fingerprint()]
    for path in [os.path.join(package, "linter.py")] + [
        os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith(".py")
    ]:
        st = os.stat(path)
        parts.append(f"{os.path.basename(path)} {st.st_size} {st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


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
