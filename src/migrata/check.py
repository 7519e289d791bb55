"""``migrata check``: every migration applied in a scratch database with the schema recorded
after each; then each down, newest first, proven to restore the schema that was there before
its up (the exact difference otherwise); then everything applied again, which must give the
same schema as the first time.

``migrata drift``: the live database's schema against the one its applied migrations build in
a scratch database.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Literal

from .engines import engine_named
from .errors import ConfigError, MigrataError, setting
from .exitcodes import ExitCode
from .migrator import Migrator
from .models import State
from .scratch import scratch_database
from .settings import Settings
from .urls import parse_url, redact

__all__ = [
    "CheckReport",
    "CheckStep",
    "DriftReport",
    "check_migrations",
    "find_drift",
    "scratch_migrator",
]


@dataclass(frozen=True, slots=True)
class CheckStep:
    """What ``check`` found about one migration's down: ``restores`` the schema, ``differs``
    (``difference``: ``+`` lines it leaves, ``-`` lines it takes away), ``no-down`` (nothing
    below it is checked), or ``failed`` (``error``)."""

    version: str
    name: str
    outcome: Literal["restores", "differs", "no-down", "failed"]
    difference: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CheckReport:
    database: str
    applied: tuple[str, ...]
    steps: tuple[CheckStep, ...]
    #: Applying everything again after the downs: the difference from the first time.
    reapplied: tuple[str, ...] = ()
    #: A migration that failed on the way up (nothing after it was checked).
    failed_up: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: The repeatable migrations run a second time: ``restores`` when the schema stayed the
    #: same (idempotent), ``differs`` with the difference, or ``failed``.
    repeated: tuple[CheckStep, ...] = ()

    @property
    def exit_code(self) -> ExitCode:
        """3 when a down does not restore its schema, a run failed, or applying again
        differs; else 0."""
        bad = any(s.outcome in {"differs", "failed"} for s in (*self.steps, *self.repeated))
        return ExitCode.VALIDATION if bad or self.reapplied or self.failed_up else ExitCode.OK


def _body(text: str) -> str:
    """A dump without its header line (which names the newest migration)."""
    return text.split("\n", 2)[2] if text.startswith("-- ") else text


def _difference(expected: str, got: str) -> tuple[str, ...]:
    lines = difflib.unified_diff(expected.splitlines(), got.splitlines(), lineterm="", n=0)
    return tuple(
        line
        for line in lines
        if line[:1] in {"+", "-"} and not line.startswith(("+++", "---")) and line[1:].strip()
    )


def check_migrations(
    settings: Settings, *, dev_url: str | None = None, from_version: str | None = None
) -> CheckReport:
    """Check the folder of ``settings`` in a scratch database made from ``dev_url`` (or, for
    a file-based engine, beside the settings' own database URL): see the module docstring.
    ``from_version`` applies the migrations before it unchecked first.

    Raises ConfigError without a scratch database to use, UnknownVersion for
    ``from_version``."""
    with scratch_migrator(settings, dev_url, "check") as (migrator, url):
        return _check(migrator, from_version, redact(url))


@contextmanager
def scratch_migrator(
    settings: Settings, dev_url: str | None, command: str
) -> Iterator[tuple[Migrator, str]]:
    """A Migrator of ``settings`` on a scratch database made from ``dev_url`` (or, for a
    file-based engine, from the settings' own URL), linting and schema files off, and the
    scratch database's URL. Raises ConfigError when there is nothing to make one from."""
    own = settings.connect.database_url
    if dev_url is None:
        if own is None or not engine_named(parse_url(own).engine).file_based:
            raise ConfigError(
                f"{command} works in scratch databases it creates and drops next to "
                f"{setting('dev_url')}: pass one (a development server, never production)"
            )
        dev_url = own
    with scratch_database(dev_url, connect_timeout=settings.connect.connect_timeout) as url:
        quiet = settings.with_values({"database_url": url, "lint": "off", "create_database": False})
        quiet = replace(quiet, source=replace(quiet.source, dump_schema=None))
        yield Migrator(quiet), url


def _check(migrator: Migrator, from_version: str | None, database: str) -> CheckReport:
    migrations = [m for m in migrator.migrations if not m.repeatable]
    start = 0
    if from_version is not None:
        found = [i for i, m in enumerate(migrations) if m.version.names(from_version)]
        if not found:
            from .errors import UnknownVersion

            raise UnknownVersion(from_version)
        start = found[0]
        if start:
            migrator.up(to=migrations[start - 1].version.text)
    before = _body(migrator.dump())
    schemas: list[tuple[str, str]] = []  # (schema before the up, after it)
    applied: list[str] = []
    for migration in migrations[start:]:
        try:
            migrator.up(to=migration.version.text)
        except MigrataError as exc:
            return CheckReport(
                database, tuple(applied), (), failed_up=f"{migration.version}: {exc}"
            )
        after = _body(migrator.dump())
        schemas.append((before, after))
        applied.append(migration.version.text)
        before = after
    final = before
    steps: list[CheckStep] = []
    notes: list[str] = []
    # What a down already left different is carried down: each later down is judged on what
    # it changes itself.
    carried: set[str] = set()
    for migration, (expected, _after) in zip(
        reversed(migrations[start:]), reversed(schemas), strict=True
    ):
        label = (migration.version.text, migration.name)
        if migration.down is None:
            steps.append(CheckStep(*label, "no-down"))
            notes.append(
                f"{migration.version}_{migration.name} has no down SQL: the downs below it "
                "are not checked"
            )
            break
        try:
            migrator.down(allow_empty_down=True)
        except MigrataError as exc:
            steps.append(CheckStep(*label, "failed", error=str(exc)))
            break
        seen = _difference(expected, _body(migrator.dump()))
        difference = tuple(line for line in seen if line not in carried)
        carried.update(seen)
        steps.append(CheckStep(*label, "differs" if difference else "restores", difference))
    try:
        # The versioned migrations again (`--to` leaves the repeatable ones out).
        if migrations[start:]:
            migrator.up(to=migrations[-1].version.text)
    except MigrataError as exc:
        # (A down that left something behind usually makes its up fail here.)
        first = str(exc).strip().splitlines()[0]
        reapplied: tuple[str, ...] = (f"applying again failed: {first}",)
    else:
        reapplied = _difference(final, _body(migrator.dump()))
    repeated = () if reapplied else _repeat(migrator)
    return CheckReport(
        database, tuple(applied), tuple(steps), reapplied, notes=tuple(notes), repeated=repeated
    )


def _repeat(migrator: Migrator) -> tuple[CheckStep, ...]:
    """Repeatable migrations claim to be idempotent (they run again whenever they change):
    each is run a second time, from a copy of the folder where only a comment was added, and
    must leave the schema as it was."""
    repeatables = [m for m in migrator.migrations if m.repeatable]
    if not repeatables:
        return ()
    source = migrator.settings.source
    if source.package or source.seeds_dir:
        return ()  # a package's files cannot be copied as a folder (nor seeds merged in)
    try:
        migrator.up()  # the repeatable ones, a first time
    except MigrataError as exc:
        first = str(exc).strip().splitlines()[0]
        label = ", ".join(f"{m.version}" for m in repeatables)
        return (CheckStep(label, "repeatable", "failed", error=first),)
    before = _body(migrator.dump())
    found = []
    with tempfile.TemporaryDirectory(prefix="migrata-check-") as folder:
        copy = os.path.join(folder, "migrations")
        shutil.copytree(source.directory, copy)
        for migration in repeatables:
            relative = os.path.relpath(migration.up.path, source.directory)
            with open(os.path.join(copy, relative), "a", encoding="utf-8") as handle:
                handle.write("\n-- run again by migrata check\n")
        again = Migrator(replace(migrator.settings, source=replace(source, directory=copy)))
        label = ", ".join(f"{m.version}" for m in repeatables)
        try:
            again.up()
        except MigrataError as exc:
            first = str(exc).strip().splitlines()[0]
            return (CheckStep(label, "repeatable", "failed", error=first),)
        difference = _difference(before, _body(again.dump()))
    for migration in repeatables:
        found.append(
            CheckStep(
                migration.version.text,
                migration.name,
                "differs" if difference else "restores",
                difference,
            )
        )
    return tuple(found)


# -- drift --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DriftReport:
    """The live database against what its applied migrations build: ``extra`` lines of its
    schema no migration made (a hotfix index), ``missing`` lines the migrations made that it
    lacks (a column dropped by hand), ``changed`` applied files edited since, and ``repair``:
    SQL that brings it back where that can be said safely (indexes)."""

    database: str
    version: str | None
    extra: tuple[str, ...]
    missing: tuple[str, ...]
    changed: tuple[str, ...]
    repair: tuple[str, ...]

    @property
    def exit_code(self) -> ExitCode:
        """3 when the database drifted from its migrations, else 0."""
        return ExitCode.VALIDATION if self.extra or self.missing or self.changed else ExitCode.OK


def find_drift(settings: Settings, *, dev_url: str | None = None) -> DriftReport:
    """Compare the schema of the database of ``settings`` with the one its applied
    migrations build in a scratch database (made from ``dev_url``, or a temporary file for a
    file-based engine). Reads the live database only.

    Raises ConfigError without a scratch database to use."""
    live = Migrator(settings)
    live_text = _body(live.dump())
    entries = live.status()
    applied = [e for e in entries if e.applied is not None and e.applied.success]
    changed = tuple(f"{e.version}_{e.name}" for e in entries if e.state is State.CHANGED)
    newest = max((e.version for e in applied), default=None)
    with scratch_migrator(settings, dev_url, "drift") as (builder, _url):
        if newest is not None:
            builder.up(to=newest.text)
        expected = _body(builder.dump())
    difference = _difference(expected, live_text)
    extra = tuple(line[1:] for line in difference if line.startswith("+"))
    missing = tuple(line[1:] for line in difference if line.startswith("-"))
    drops = (_drop_index(line) for line in extra)
    repair = tuple(sql for sql in drops if sql) + tuple(
        line.strip() for line in missing if _is_index(line)
    )
    shown = live.url.redacted if live.url is not None else "the database"
    return DriftReport(
        shown, newest.text if newest else None, extra, missing, changed, tuple(repair)
    )


def _is_index(line: str) -> bool:
    words = line.split()
    return words[:2] == ["CREATE", "INDEX"] or words[:3] == ["CREATE", "UNIQUE", "INDEX"]


def _drop_index(line: str) -> str:
    """``DROP INDEX name;`` for an index line ("" for any other line)."""
    if not _is_index(line):
        return ""
    words = line.split()
    at = words.index("INDEX") + 1
    if words[at : at + 1] == ["CONCURRENTLY"]:
        at += 1
    if words[at : at + 3] == ["IF", "NOT", "EXISTS"]:
        at += 3
    name = words[at] if at < len(words) else ""
    return f"DROP INDEX {name};" if name and name != "ON" else ""
