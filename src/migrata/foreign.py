"""Other tools' history tables: find and read them, and match them with a migrations folder.

``migrata adopt`` takes over a database that another tool migrated. Reading is
:func:`find_histories` (one catalog query for every known table, then the rows of the tables
found, in one more batch); matching is :func:`plan_adoption`, a pure function of the tool's
history, the folder and migrata's own history that says what to record, what to skip, what
stays pending, and every reason to refuse.

Each tool's table (default name) and what its rows mean:

- sqlx ``_sqlx_migrations``: one row per applied version; ``success = false`` is a migration
  that failed halfway; ``checksum`` is the SHA-384 of the up file (sqlx-core ``migration.rs``).
- diesel ``__diesel_schema_migrations``: one row per applied version, dashes removed.
- dbmate ``schema_migrations`` (no ``dirty`` column): one row per applied version.
- golang-migrate ``schema_migrations``: one row, the current version, every lower one applied;
  ``dirty`` when a migration failed halfway.
- goose ``goose_db_version``: events; the latest row of a version wins (``is_applied`` true or
  false); version 0 is the row goose writes on creating the table.
- Flyway ``flyway_schema_history``: events by ``installed_rank``; SQL/JDBC rows apply, UNDO_*
  and DELETE rows take back, a BASELINE row covers every version up to it; ``checksum`` is
  Flyway's CRC32; repeatables have no version and are known by their description.
- drizzle ``drizzle.__drizzle_migrations`` (SQLite and MySQL/MariaDB, where drizzle keeps no
  schema of its own: ``__drizzle_migrations`` in the current database): a journal entry by its
  ``created_at`` (the journal's ``when``); drizzle runs only the entries above the highest
  ``created_at`` stored.

The tables are the same on every engine; only their types differ, and the readers take each
driver's: booleans as ``bool`` or 0/1 (SQLite, MySQL ``BOOLEAN``), checksums as ``bytes``
(``bytea``, ``BLOB``), times as ``datetime`` or text.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .backends.base import Backend, Query
from .errors import ConfigError, setting
from .models import Applied, Migration, Version, VersionIndex, as_in_folder

TOOLS = ("sqlx", "diesel", "dbmate", "golang-migrate", "goose", "flyway", "drizzle")


@dataclass(frozen=True, slots=True)
class ForeignRow:
    """One migration another tool considers applied.

    drizzle keeps no time of application: its rows carry ``created_at`` (the journal's
    ``when``, in milliseconds, as an int) in ``applied_at``, and no version.
    """

    #: As the tool stores it; None for a Flyway repeatable and for drizzle.
    version: str | None
    description: str | None
    #: The tool's own: sqlx hex of SHA-384 bytes, Flyway CRC32 as a decimal string, drizzle
    #: sha256 hex; None where the tool keeps none.
    checksum: str | None
    applied_at: object | None


@dataclass(frozen=True, slots=True)
class ForeignHistory:
    """What one tool's table says is applied now, its events already replayed."""

    tool: str
    #: As shown to users: ``_sqlx_migrations``, ``drizzle.__drizzle_migrations``.
    table: str
    rows: tuple[ForeignRow, ...]
    #: golang-migrate's current version, Flyway's BASELINE version: every folder migration
    #: at or below it counts as applied.
    up_to: str | None = None
    #: Why this history cannot be adopted as it is (dirty or failed), naming the version and
    #: the way forward.
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class Adoption:
    """What adopting a tool's history would do; refuse it while ``problems`` is not empty."""

    tool: str
    table: str
    #: Folder migrations to record as applied, each with the checksum to store: normally its
    #: own; for a Flyway repeatable changed since Flyway ran it, one that will not match, so
    #: migrata re-applies it.
    record: tuple[tuple[Migration, str], ...]
    #: Versions the tool applied that migrata's history already has (skipped).
    already: tuple[str, ...]
    #: Folder versions the tool has not applied (migrata runs them on ``up``).
    pending: tuple[str, ...]
    #: Why adoption must be refused; each names the version or file and what to do.
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


# -- the tools' tables ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Layout:
    tool: str
    #: The default table; found wherever an unqualified name resolves (MySQL/MariaDB: the
    #: connection's current database).
    table: str
    #: The columns read, which a table must have to be this tool's.
    columns: tuple[str, ...]
    order_by: str
    #: Columns whose presence says the table is some other tool's.
    not_with: frozenset[str] = frozenset()
    #: The schema the tool puts its table in where schemas are namespaces inside the database
    #: (drizzle on PostgreSQL: ``drizzle``).
    namespace: str | None = None


_LAYOUTS = {
    layout.tool: layout
    for layout in (
        _Layout(
            "sqlx",
            "_sqlx_migrations",
            ("version", "description", "installed_on", "success", "checksum"),
            "version",
        ),
        _Layout(
            "diesel",
            "__diesel_schema_migrations",
            ("version", "run_on"),
            "version",
        ),
        # dbmate and golang-migrate share the table name; only golang-migrate has `dirty`.
        _Layout(
            "dbmate",
            "schema_migrations",
            ("version",),
            "version",
            not_with=frozenset({"dirty"}),
        ),
        _Layout(
            "golang-migrate",
            "schema_migrations",
            ("version", "dirty"),
            "version",
        ),
        _Layout(
            "goose",
            "goose_db_version",
            ("id", "version_id", "is_applied", "tstamp"),
            "id",
        ),
        _Layout(
            "flyway",
            "flyway_schema_history",
            (
                "installed_rank",
                "version",
                "description",
                "type",
                "checksum",
                "installed_on",
                "success",
            ),
            "installed_rank",
        ),
        _Layout(
            "drizzle",
            "__drizzle_migrations",
            ("hash", "created_at"),
            "created_at",
            namespace="drizzle",
        ),
    )
}
assert tuple(_LAYOUTS) == TOOLS


def _default_table(layout: _Layout, backend: Backend) -> tuple[str | None, str]:
    if backend.capabilities.schemas == "namespace":
        return layout.namespace, layout.table
    return None, layout.table


def _fits(layout: _Layout, columns: frozenset[str]) -> bool:
    return set(layout.columns) <= columns and not (layout.not_with & columns)


def _shown(key: tuple[str | None, str]) -> str:
    schema, table = key
    return f"{schema}.{table}" if schema else table


def _split_table(table: str) -> tuple[str | None, str]:
    schema, dot, name = table.partition(".")
    if not dot:
        return None, table
    if not schema or not name:
        raise ConfigError(
            f"table {table!r} is not a name or schema.name: fix {setting('adopt_table')}"
        )
    return schema, name


def find_histories(
    backend: Backend, *, tool: str | None = None, table: str | None = None
) -> tuple[ForeignHistory, ...]:
    """Every known tool's history table present in the database, read and replayed.

    One catalog query finds the tables (:meth:`Backend.table_columns`); the rows of those
    found are read in one more batch. ``tool`` limits the search to one tool; ``table``
    (``name`` or ``schema.name``) reads a table of a custom name, for ``tool`` or, without
    it, for whichever tool its columns fit.

    Raises ConfigError for an unknown ``tool``, a ``table`` that does not exist, and a
    ``table`` whose columns do not fit the tool (naming the columns expected).
    """
    if tool is not None and tool not in _LAYOUTS:
        raise ConfigError(f"unknown tool {tool!r}: known tools are {', '.join(TOOLS)}")
    tools = [_LAYOUTS[tool]] if tool is not None else list(_LAYOUTS.values())
    if table is not None:
        key = _split_table(table)
        found = backend.table_columns([key])
        if key not in found:
            raise ConfigError(
                f"table {table} does not exist in {backend.display_name}: check "
                f"{setting('adopt_table')} "
                "(schema.table names another schema)"
            )
        fitting = [layout for layout in tools if _fits(layout, found[key])]
        if not fitting:
            raise ConfigError(_misfit(table, found[key], tools))
        chosen = [(fitting[0], key)]
    else:
        candidates: dict[tuple[str | None, str], list[_Layout]] = {}
        for layout in tools:
            candidates.setdefault(_default_table(layout, backend), []).append(layout)
        found = backend.table_columns(list(candidates))
        chosen = []
        for key, layouts in candidates.items():
            if key in found:
                # Several tools may share a name (dbmate, golang-migrate): the columns decide;
                # a table that fits none is some other tool's, not an error.
                chosen += [(layout, key) for layout in layouts if _fits(layout, found[key])][:1]
        chosen.sort(key=lambda pair: TOOLS.index(pair[0].tool))
    if not chosen:
        return ()
    quote = backend.quote_identifier
    queries = [
        Query(
            f"SELECT {', '.join(quote(c) for c in layout.columns)} FROM "
            f"{backend.qualified(key[1], key[0])} ORDER BY {quote(layout.order_by)}"
        )
        for layout, key in chosen
    ]
    results = backend.run(queries)
    return tuple(
        _READERS[layout.tool](_shown(key), rows)
        for (layout, key), rows in zip(chosen, results, strict=True)
    )


def _misfit(table: str, columns: frozenset[str], tools: Sequence[_Layout]) -> str:
    have = ", ".join(sorted(columns))
    expected = "; ".join(
        f"{layout.tool}: {', '.join(layout.columns)}"
        + (f" and no {', '.join(sorted(layout.not_with))}" if layout.not_with else "")
        for layout in tools
    )
    return (
        f"table {table} has columns {have}, which do not fit "
        + (f"{tools[0].tool}'s history" if len(tools) == 1 else "any known tool's history")
        + f" (expected {expected}): pass the table that tool wrote, or the right --tool"
    )


# -- reading and replaying each tool's rows -------------------------------------------------

_Rows = list[tuple[Any, ...]]


def _read_sqlx(table: str, rows: _Rows) -> ForeignHistory:
    applied, failed = [], []
    for version, description, installed_on, success, checksum in rows:
        if not _truthy(success):
            failed.append(str(version))
            continue
        applied.append(ForeignRow(str(version), description, _hex(checksum), installed_on))
    refusal = None
    if failed:
        refusal = (
            f"sqlx recorded version {failed[0]} as failed (success = false in {table}): the "
            "migration is partially applied; fix the database and delete that row from "
            f"{table}, then adopt again"
        )
    return ForeignHistory("sqlx", table, tuple(applied), refusal=refusal)


def _read_diesel(table: str, rows: _Rows) -> ForeignHistory:
    return ForeignHistory(
        "diesel", table, tuple(ForeignRow(str(v), None, None, run_on) for v, run_on in rows)
    )


def _read_dbmate(table: str, rows: _Rows) -> ForeignHistory:
    return ForeignHistory(
        "dbmate", table, tuple(ForeignRow(str(v), None, None, None) for (v,) in rows)
    )


def _read_golang_migrate(table: str, rows: _Rows) -> ForeignHistory:
    if not rows:
        return ForeignHistory("golang-migrate", table, ())
    if len(rows) > 1:
        versions = ", ".join(str(r[0]) for r in rows)
        return ForeignHistory(
            "golang-migrate",
            table,
            (),
            refusal=(
                f"{table} holds {len(rows)} rows (versions {versions}) where golang-migrate "
                "keeps exactly one: run `migrate force <version>` with the version the "
                "database is at, then adopt again"
            ),
        )
    version, dirty = rows[0]
    current = int(version)
    refusal = None
    if _truthy(dirty):
        if current < 0:
            refusal = (
                "golang-migrate marked the database dirty with no version: a down migration "
                "of the first version failed halfway; fix the database and run `migrate force "
                "<version>` with the version it is really at, then adopt again"
            )
        else:
            refusal = (
                f"golang-migrate marked version {current} dirty: a migration failed halfway; "
                f"fix the database and run `migrate force {current}` (or the version before "
                f"it, if {current} did not take effect), then adopt again"
            )
    # -1 is golang-migrate's "no version" (written only together with dirty).
    up_to = str(current) if current >= 0 and refusal is None else None
    return ForeignHistory("golang-migrate", table, (), up_to=up_to, refusal=refusal)


def _read_goose(table: str, rows: _Rows) -> ForeignHistory:
    # goose lists rows newest first and lets the first row of each version decide
    # (migrate.go EnsureDBVersion; provider ListMigrations): replayed here oldest first.
    latest: dict[int, tuple[bool, object]] = {}
    for _id, version_id, is_applied, tstamp in rows:
        latest[int(version_id)] = (_truthy(is_applied), tstamp)
    applied = tuple(
        ForeignRow(str(version), None, None, tstamp)
        for version, (is_applied, tstamp) in sorted(latest.items())
        # Version 0 is the row goose writes when it creates the table.
        if is_applied and version != 0
    )
    return ForeignHistory("goose", table, applied)


def _read_flyway(table: str, rows: _Rows) -> ForeignHistory:
    versioned: dict[tuple[Any, ...], ForeignRow] = {}
    repeatable: dict[str, ForeignRow] = {}
    baseline: Version | None = None
    refusal = None
    for _rank, version, description, kind, checksum, installed_on, success in rows:
        kind = str(kind).upper()
        if not _truthy(success):
            if refusal is None:
                what = f"version {version}" if version is not None else repr(description)
                refusal = (
                    f"Flyway recorded {what} as failed (success = false in {table}): fix the "
                    "database, run `flyway repair` to remove the failed row, then adopt again"
                )
            continue
        if kind == "SCHEMA":
            continue  # Flyway's "<< Flyway Schema Creation >>" marker
        row = ForeignRow(
            None if version is None else str(version),
            description,
            None if checksum is None else str(int(checksum)),
            installed_on,
        )
        if kind == "BASELINE" or kind.endswith("_BASELINE"):
            mark = _version_or_none(version)
            if mark is not None:
                baseline = mark if baseline is None or mark > baseline else baseline
            elif version is not None and refusal is None:
                refusal = (
                    f"{table} has a baseline at {version!r}, which migrata cannot read as a "
                    "version: correct that row, then adopt again"
                )
            continue
        takes_back = kind.startswith("UNDO_") or kind == "DELETE"
        if version is None:
            if takes_back:
                repeatable.pop(str(description), None)
            else:
                repeatable[str(description)] = row  # the latest run of a repeatable counts
            continue
        # A version that does not parse stays a row, for plan_adoption to report.
        parsed = _version_or_none(version)
        key = (0, parsed.order, "") if parsed is not None else (1, (), str(version))
        if takes_back:
            versioned.pop(key, None)
        else:
            versioned[key] = row
    ordered = [versioned[k] for k in sorted(versioned)] + [
        repeatable[d] for d in sorted(repeatable)
    ]
    return ForeignHistory(
        "flyway",
        table,
        tuple(ordered),
        up_to=None if baseline is None else baseline.text,
        refusal=refusal,
    )


def _version_or_none(value: object) -> Version | None:
    if value is None:
        return None
    try:
        return Version.parse(str(value))
    except ValueError:
        return None


def _read_drizzle(table: str, rows: _Rows) -> ForeignHistory:
    return ForeignHistory(
        "drizzle",
        table,
        tuple(
            ForeignRow(None, None, hash_, _integer(created_at) if created_at is not None else None)
            for hash_, created_at in rows
        ),
    )


_READERS: dict[str, Callable[[str, _Rows], ForeignHistory]] = {
    "sqlx": _read_sqlx,
    "diesel": _read_diesel,
    "dbmate": _read_dbmate,
    "golang-migrate": _read_golang_migrate,
    "goose": _read_goose,
    "flyway": _read_flyway,
    "drizzle": _read_drizzle,
}


def _truthy(value: object) -> bool:
    # SQLite and MySQL (BOOLEAN is TINYINT(1)) give booleans as 0/1, and golang-migrate's
    # SQLite `dirty bool` column may hold text.
    if isinstance(value, str):
        return value.strip().lower() in {"1", "t", "true", "yes"}
    return bool(value)


def _hex(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value).lower()


def _integer(value: object) -> int | None:
    """An int from an integer, numeric or text column; None when it is not a whole number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


# -- the tools' checksums -------------------------------------------------------------------

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def flyway_checksum(text: str) -> int:
    """Flyway's checksum of a script: CRC32 over its lines' UTF-8 bytes, as a signed int.

    As Flyway's ``ChecksumCalculator``: lines as ``BufferedReader.readLine`` splits them (at
    ``\\n``, ``\\r`` or ``\\r\\n``, terminators dropped), a BOM stripped from the first line, so
    neither line endings nor a BOM change it.
    """
    text = text.removeprefix("\ufeff")
    crc = 0
    for line in _LINE_BREAK.split(text):
        crc = zlib.crc32(line.encode("utf-8"), crc)
    return crc - 2**32 if crc >= 2**31 else crc


def sqlx_checksum(text: str) -> str:
    """sqlx's checksum of a migration (sqlx-core ``migration.rs``): SHA-384 of the text as
    bytes, in hex."""
    return hashlib.sha384(text.encode("utf-8")).hexdigest()


def drizzle_hashes(migration: Migration) -> frozenset[str]:
    """The hashes drizzle may have stored for ``migration``: sha256 hex of the file, with its
    CRLFs made LF (drizzle-orm since it normalises line endings) or as it is (before), with
    or without the BOM the folder reader dropped."""
    text = migration.up.text
    variants = {text, text.replace("\r\n", "\n")}
    variants |= {"\ufeff" + v for v in variants}
    found = {hashlib.sha256(v.encode("utf-8")).hexdigest() for v in variants}
    stored = migration.info("hash")
    return frozenset(found | ({stored} if stored else set()))


# -- matching -------------------------------------------------------------------------------


def plan_adoption(
    history: ForeignHistory,
    migrations: Sequence[Migration],
    applied: Sequence[Applied],
    *,
    verify_checksums: bool = True,
) -> Adoption:
    """Match ``history`` with the folder's ``migrations`` and migrata's ``applied`` rows.

    Pure: no I/O. Versions compare by their numeric key (diesel's ``20170305095748`` is the
    folder's ``2017-03-05-095748``); drizzle rows match journal entries by ``created_at ==
    when``. Every problem is reported at once, the history's refusal first.
    """
    matcher = _Matcher(history, migrations, applied, verify_checksums=verify_checksums)
    return matcher.plan()


class _Matcher:
    def __init__(
        self,
        history: ForeignHistory,
        migrations: Sequence[Migration],
        applied: Sequence[Applied],
        *,
        verify_checksums: bool,
    ) -> None:
        self.history = history
        self.table = history.table
        self.migrations = sorted(migrations, key=lambda m: m.version)
        self.versioned = {m.version: m for m in self.migrations if not m.repeatable}
        self.ours = {a.version: a for a in as_in_folder(applied, self.versioned)}
        self._index = VersionIndex(self.versioned)
        self.verify = verify_checksums
        self.problems: list[str] = [history.refusal] if history.refusal else []
        #: Tool-applied folder migrations, with the checksum to store.
        self.chosen: dict[Version, tuple[Migration, str]] = {}

    def plan(self) -> Adoption:
        for ours in self.ours.values():
            if not ours.success:
                self.problems.append(
                    f"version {ours.version} ({ours.name}) is marked failed in migrata's "
                    f"history: resolve it first with `migrata resolve {ours.version} --applied` "
                    "or `--rolled-back`, then adopt again"
                )
        if self.history.tool == "drizzle":
            self._match_drizzle()
        else:
            self._match_up_to()
            for row in self.history.rows:
                if row.version is None:
                    self._match_repeatable(row)
                else:
                    self._match_versioned(row)
        record, already = [], []
        for version in sorted(self.chosen):
            known = self.ours.get(version)
            if known is None:
                record.append(self.chosen[version])
            elif known.success:
                already.append(version.text)
        pending = tuple(
            m.version.text
            for m in self.migrations
            if m.version not in self.chosen and m.version not in self.ours and m.skip_reason is None
        )
        return Adoption(
            tool=self.history.tool,
            table=self.table,
            record=tuple(record),
            already=tuple(already),
            pending=pending,
            problems=tuple(self.problems),
        )

    # -- versioned ----------------------------------------------------------------------

    def _match_up_to(self) -> None:
        if self.history.up_to is None:
            return
        limit = self._parse(self.history.up_to)
        if limit is None:
            return
        if self.history.tool == "golang-migrate" and limit not in self.versioned:
            # golang-migrate needs the file of its current version (Flyway's baseline needs
            # none: it stands for migrations that were never run).
            self.problems.append(self._missing(limit.text))
        for version, migration in self.versioned.items():
            if version <= limit:
                self.chosen[version] = (migration, migration.checksum)

    def _match_versioned(self, row: ForeignRow) -> None:
        assert row.version is not None
        version = self._parse(row.version)
        if version is None:
            return
        migration = self.versioned.get(version)
        if migration is None:
            self.problems.append(self._missing(row.version))
            return
        if self.verify and version not in self.ours:
            self._check(row, migration)
        self.chosen[version] = (migration, migration.checksum)

    def _parse(self, text: str) -> Version | None:
        """``text`` as the folder's version of it (read as the folder's layout reads
        versions: diesel's table holds ``20170305095748`` for ``2017-03-05-095748``)."""
        version = self._index.find(text)
        if version is None:
            try:
                version = Version.parse(text)
            except ValueError:
                version = None
        if version is None or version.is_repeatable:
            self.problems.append(
                f"{self.table} holds version {text!r}, which migrata cannot read as a version: "
                "remove or correct that row, then adopt again"
            )
            return None
        return version

    def _missing(self, version: str) -> str:
        return (
            f"version {version} is in {self.table} but not in the folder; restore the file, "
            f"or remove that version from {self.table} if the migration is gone for good "
            "(check the database first), then adopt again"
        )

    def _check(self, row: ForeignRow, migration: Migration) -> None:
        """Add a problem when the tool's checksum says the file changed since it ran."""
        if row.checksum is None:
            return
        tool = self.history.tool
        stored = row.checksum.strip().lower()
        if tool == "sqlx":
            if stored == sqlx_checksum(migration.up.text):
                return
            text = migration.up.text
            other = text.replace("\r\n", "\n") if "\r\n" in text else text.replace("\n", "\r\n")
            if stored == sqlx_checksum(other):
                has = "CRLF" if "\r\n" in text else "LF"
                was = "LF" if has == "CRLF" else "CRLF"
                self.problems.append(
                    f"{migration.up.path}: only its line endings changed since sqlx applied it "
                    f"(the file has {has}, sqlx applied {was}), and sqlx checksums them; "
                    f"restore the {was} line endings (check git's core.autocrlf), or pass "
                    "--ignore-checksums"
                )
                return
        elif tool == "flyway":
            if _integer(stored) == flyway_checksum(migration.up.text):
                return
        elif tool == "drizzle":
            if stored in drizzle_hashes(migration):
                return
        else:
            return
        self.problems.append(
            f"{migration.up.path}: changed since {tool} applied it (its checksum in "
            f"{self.table} differs); restore the file as applied, or pass --ignore-checksums "
            "if the edit was intended"
        )

    # -- Flyway repeatables -------------------------------------------------------------

    def _match_repeatable(self, row: ForeignRow) -> None:
        description = row.description or ""
        migration = next(
            (
                m
                for m in self.migrations
                if m.repeatable
                and description in {m.info("description"), m.name, m.name.replace("_", " ")}
            ),
            None,
        )
        if migration is None:
            self.problems.append(
                f"repeatable migration {description!r} is in {self.table} but not in the "
                f"folder; restore its R__ file, or remove its rows from {self.table} if it "
                "is gone for good, then adopt again"
            )
            return
        stored = migration.checksum
        crc = _integer(row.checksum) if row.checksum is not None else None
        if crc is not None and crc != flyway_checksum(migration.up.text):
            # Changed since Flyway ran it: Flyway would run it again, so migrata must too.
            stored = f"flyway-crc32:{crc}"
        self.chosen[migration.version] = (migration, stored)

    # -- drizzle ------------------------------------------------------------------------

    def _match_drizzle(self) -> None:
        by_when: dict[int, Migration] = {}
        for entry in self.migrations:
            written = entry.info("when")
            number = _integer(written) if written is not None else None
            if number is not None:
                by_when[number] = entry
        highest: int | None = None
        for row in self.history.rows:
            created = _integer(row.applied_at) if row.applied_at is not None else None
            if created is None:
                self.problems.append(
                    f"{self.table} has a row without a usable created_at ({row.applied_at!r}): "
                    "drizzle cannot have written it; remove or correct it, then adopt again"
                )
                continue
            highest = created if highest is None else max(highest, created)
            migration = by_when.get(created)
            if migration is None:
                self.problems.append(
                    f"{self.table} has a migration with created_at {created} that matches no "
                    "entry of the journal (meta/_journal.json `when`); restore that entry and "
                    f"its file, or remove the row from {self.table} if it is gone for good, "
                    "then adopt again"
                )
                continue
            if self.verify and migration.version not in self.ours:
                self._check(row, migration)
        if highest is None:
            return
        # drizzle runs only the entries above its highest created_at: every one at or below
        # it counts as applied, stored row or not (pg-core dialect.ts migrate()).
        for when, migration in by_when.items():
            if when <= highest:
                self.chosen[migration.version] = (migration, migration.checksum)
