"""Bookkeeping: changing the history without running migrations — resolve a failed one,
mark or unmark one, repair checksums, baseline a database, adopt another tool's history.

Each writing operation runs under the migration lock, in one round trip of history writes, and
leaves an audit event; a dry run reads only and takes no lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .backends.base import Backend
from .errors import AdoptionRefused, PlanError, UnknownVersion, setting
from .foreign import TOOLS, Adoption, find_histories, plan_adoption
from .history import HistoryState
from .layouts.base import ReadResult
from .models import Applied, Migration, State
from .planner import compute_status
from .runner import write_history
from .session import Connector

__all__ = ["Bookkeeping", "Repair", "find_applied", "find_migration"]

logger = logging.getLogger("migrata")


@dataclass(frozen=True, slots=True)
class Repair:
    """An applied migration whose recorded checksum ``repair`` replaces with its file's."""

    version: str
    name: str
    path: str
    old_checksum: str
    new_checksum: str


class Bookkeeping:
    """The history operations of one folder and one database."""

    def __init__(
        self,
        connector: Connector,
        source: Callable[[], ReadResult],
        *,
        environment: str | None,
    ) -> None:
        self._connector = connector
        self._source = source
        self._environment = environment

    def _migrations(self) -> tuple[Migration, ...]:
        return self._source().migrations

    def _applied(self) -> tuple[Applied, ...]:
        with self._connector.open() as (_backend, history):
            return history.read().applied

    def resolve(self, version: str, *, applied: bool) -> None:
        """Clear a failed row after a human has looked: ``applied=True`` keeps the migration as
        applied, ``False`` forgets it so ``up`` runs it again."""
        with self._connector.locked() as (backend, history, state):
            row = find_applied(state.applied, version, self._migrations())
            if row is None:
                raise UnknownVersion(version, "the history")
            if row.success:
                raise PlanError(
                    f"migration {row.version} is not failed, so there is nothing to resolve; "
                    "use `migrata unmark` to forget an applied migration"
                )
            migration = find_migration(self._migrations(), version)
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
        migration = find_migration(self._migrations(), version)
        if migration is None:
            raise UnknownVersion(version)
        with self._connector.locked() as (backend, history, state):
            history.ensure(state)
            row = find_applied(state.applied, version, self._migrations())
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
        with self._connector.locked() as (backend, history, state):
            row = find_applied(state.applied, version)
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
        migrations = self._migrations()
        if dry_run:
            return self._repairs(migrations, self._applied(), version)[1]
        with self._connector.locked() as (backend, history, state):
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
        entries = compute_status(migrations, applied, environment=self._environment)
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
        migrations = self._migrations()
        if dry_run:
            with self._connector.open() as (backend, history):
                state = history.read()
                return self._adoption(backend, state, migrations, source, table, verify_checksums)
        with self._connector.locked() as (backend, history, state):
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
            layout = self._source()
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
        migrations = self._migrations()
        target = find_migration(migrations, version)
        if target is None or target.repeatable:
            raise UnknownVersion(version)
        chosen = tuple(m for m in migrations if not m.repeatable and m.version <= target.version)
        if dry_run:
            self._refuse_baseline(self._applied())
            return chosen
        with self._connector.locked() as (backend, history, state):
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


def find_applied(
    applied: Sequence[Applied], version: str, migrations: Sequence[Migration] = ()
) -> Applied | None:
    """The history row of ``version``: as the row spells it, or (given the folder's
    ``migrations``) read the way the folder's layout reads versions."""
    migration = find_migration(migrations, version)
    return next(
        (
            a
            for a in applied
            if a.version.names(version)
            or (migration is not None and migration.version.names(a.version.text))
        ),
        None,
    )


def find_migration(migrations: Sequence[Migration], version: str) -> Migration | None:
    return next((m for m in migrations if m.version.names(version)), None)
