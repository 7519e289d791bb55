"""How each tool reads its own folder: the baseline's reading, written from the tools' rules.

This module deliberately does not use migrata's discovery or layout readers: it is the
independent reading that migrata's is checked against. Each layout has one small reader that
returns the folder's migrations in the tool's apply order, and one ordering function
(``order_<layout>``) whose docstring cites the rule it follows, so that a rule can be checked
against the tool's source and changed in one place.

A reader raises :class:`LayoutError` for a folder its tool would refuse; the corpora are
supposed to be valid, so that is a problem of the corpus or of this module, not of migrata.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "READERS",
    "UNSUPPORTED_LAYOUTS",
    "BaselineMigration",
    "LayoutError",
    "has_sql",
    "read_layout",
]

#: Layouts that migrata does not read yet. Their corpora are reported as "layout not supported
#: yet" (skipped, never passing) until migrata reads them.
UNSUPPORTED_LAYOUTS = frozenset({"prisma", "atlas", "sqitch", "liquibase-sql"})


class LayoutError(Exception):
    """The folder is not one the tool would run (a corpus or harness problem)."""


@dataclass(frozen=True, slots=True)
class BaselineMigration:
    """One migration as its own tool reads it."""

    #: The version as the tool spells it (diesel without dashes, Flyway with dots, ...).
    version: str
    #: The SQL the tool runs to apply it (a single-file layout: the up section only).
    up_sql: str
    #: The SQL that reverts it; None when there is no down file or section, or it holds no SQL
    #: (``has_down`` tells the two apart).
    down_sql: str | None
    #: Whether the tool applies it inside a transaction.
    transactional: bool
    #: The file the up SQL comes from (matched against migrata's reading).
    up_path: Path
    #: The file the down SQL comes from, when there is one.
    down_path: Path | None = None
    #: Whether the tool reverts it inside a transaction (dbmate sets this per section).
    down_transactional: bool = True
    #: Whether a down file or section exists, even one without SQL: the tools run such a down
    #: as a no-op, while a missing one leaves nothing to run.
    has_down: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Texts that identify this migration in a tool's or migrata's message."""
        found = [self.version, self.up_path.name]
        if self.up_path.name in {"up.sql", "down.sql"}:
            found.append(self.up_path.parent.name)
        if self.down_path is not None:
            found.append(self.down_path.name)
        return tuple(found)


_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_LINE_COMMENT = re.compile(r"--[^\n]*")


def has_sql(text: str) -> bool:
    """Whether ``text`` holds anything but comments, semicolons and white space."""
    stripped = _LINE_COMMENT.sub("", _BLOCK_COMMENT.sub("", text))
    return bool(stripped.replace(";", "").strip())


def _read(path: Path) -> str:
    # Bytes-exact: CRLF line ends stay as they are, as the tools read them.
    return path.read_bytes().decode("utf-8")


def _down(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    text = _read(path)
    return text if has_sql(text) else None


# --- diesel -----------------------------------------------------------------------------------


def diesel_version(folder_name: str) -> str:
    """diesel's version of a migration folder: the name up to the first ``_``, dashes removed
    (diesel_migrations ``version_from_string``)."""
    return folder_name.split("_", 1)[0].replace("-", "")


def order_diesel(migrations: list[BaselineMigration]) -> list[BaselineMigration]:
    """diesel applies migrations sorted by their version TEXT (string order, not numeric):
    diesel_migrations ``FileBasedMigrations`` sorts the ``MigrationVersion`` strings."""
    return sorted(migrations, key=lambda m: m.version)


def read_diesel(folder: Path) -> list[BaselineMigration]:
    """``<version>_<name>/up.sql`` (+ ``down.sql``); each runs in a transaction unless the
    folder's ``metadata.toml`` says ``run_in_transaction = false``."""
    found = []
    for sub in folder.iterdir():
        if not sub.is_dir() or sub.name.startswith("."):
            continue
        up = sub / "up.sql"
        if not up.is_file():
            raise LayoutError(f"{sub}: a diesel migration folder needs up.sql")
        transactional = True
        metadata = sub / "metadata.toml"
        if metadata.is_file():
            options = tomllib.loads(_read(metadata))
            transactional = bool(options.get("run_in_transaction", True))
        down = sub / "down.sql"
        found.append(
            BaselineMigration(
                version=diesel_version(sub.name),
                up_sql=_read(up),
                down_sql=_down(down),
                transactional=transactional,
                up_path=up,
                down_path=down if down.is_file() else None,
                down_transactional=transactional,
                has_down=down.is_file(),
            )
        )
    return order_diesel(found)


# --- sqlx -------------------------------------------------------------------------------------


def order_sqlx(migrations: list[BaselineMigration]) -> list[BaselineMigration]:
    """sqlx applies migrations in numeric order of their integer version (sqlx-core
    ``migrate/source.rs`` parses the prefix as i64; ``Migrator`` iterates them sorted)."""
    return sorted(migrations, key=lambda m: int(m.version))


def _sqlx_transactional(text: str) -> bool:
    # sqlx-core migrate/source.rs: `let no_tx = sql.starts_with("-- no-transaction");`
    return not text.startswith("-- no-transaction")


def read_sqlx(folder: Path) -> list[BaselineMigration]:
    """``<version>_<desc>.sql`` (up only), or ``<version>_<desc>.up.sql`` + ``.down.sql``; a
    file that starts with ``-- no-transaction`` runs outside a transaction."""
    ups: dict[int, Path] = {}
    downs: dict[int, Path] = {}
    for path in folder.iterdir():
        if not path.is_file() or not path.name.endswith(".sql"):
            continue
        prefix, sep, _ = path.name.partition("_")
        if not sep or not prefix.isdigit():
            raise LayoutError(f"{path}: sqlx needs <version>_<description>.sql")
        target = downs if path.name.endswith(".down.sql") else ups
        if int(prefix) in target:
            raise LayoutError(f"{path}: version {int(prefix)} appears twice")
        target[int(prefix)] = path
    if set(downs) - set(ups):
        raise LayoutError(f"{folder}: down files without an up: {sorted(set(downs) - set(ups))}")
    found = []
    for version, up in ups.items():
        up_sql = _read(up)
        down = downs.get(version)
        found.append(
            BaselineMigration(
                version=str(version),
                up_sql=up_sql,
                down_sql=_down(down),
                transactional=_sqlx_transactional(up_sql),
                up_path=up,
                down_path=down,
                down_transactional=_sqlx_transactional(_read(down)) if down else True,
                has_down=down is not None,
            )
        )
    return order_sqlx(found)


# --- golang-migrate ---------------------------------------------------------------------------

_GOLANG_MIGRATE_NAME = re.compile(r"^([0-9]+)_(.*)\.(down|up)\.(.*)$")


def order_golang_migrate(migrations: list[BaselineMigration]) -> list[BaselineMigration]:
    """golang-migrate applies versions in numeric order (source/file parses the prefix as a
    uint; ``source.Migrations`` keeps an ordered index of them)."""
    return sorted(migrations, key=lambda m: int(m.version))


def read_golang_migrate(folder: Path) -> list[BaselineMigration]:
    """``<uint>_<title>.up.sql`` / ``.down.sql``, paired by version (the titles may differ).

    The tool sends a whole file as one query: on PostgreSQL one implicit transaction, on SQLite
    the sqlite3 driver wraps it in a transaction, on MariaDB the statements run one by one
    (every migration is marked transactional; the MariaDB client ignores the flag).
    """
    ups: dict[int, Path] = {}
    downs: dict[int, Path] = {}
    for path in folder.iterdir():
        match = _GOLANG_MIGRATE_NAME.match(path.name)
        if not path.is_file() or match is None:
            continue
        target = ups if match.group(3) == "up" else downs
        if int(match.group(1)) in target:
            raise LayoutError(f"{path}: version {int(match.group(1))} appears twice")
        target[int(match.group(1))] = path
    if set(downs) - set(ups):
        raise LayoutError(f"{folder}: down files without an up: {sorted(set(downs) - set(ups))}")
    found = [
        BaselineMigration(
            version=str(version),
            up_sql=_read(up),
            down_sql=_down(downs.get(version)),
            transactional=True,
            up_path=up,
            down_path=downs.get(version),
            has_down=version in downs,
        )
        for version, up in ups.items()
    ]
    return order_golang_migrate(found)


# --- goose ------------------------------------------------------------------------------------


def order_goose(migrations: list[BaselineMigration]) -> list[BaselineMigration]:
    """goose applies migrations in numeric order of the integer before the first ``_``
    (goose ``NumericComponent``; ``Migrations`` are sorted by version)."""
    return sorted(migrations, key=lambda m: int(m.version))


def split_goose(text: str) -> tuple[str, str | None, bool]:
    """The up section, the down section (None without a ``+goose Down`` annotation) and the
    transaction flag of a goose file.

    Follows goose ``internal/sqlparser/parser.go``: an annotation is a line starting with
    ``--`` whose rest, trimmed, is ``+goose Up``/``+goose Down``/``+goose NO TRANSACTION``
    (trailing spaces allowed); NO TRANSACTION may stand anywhere, even before ``+goose Up``.
    StatementBegin/StatementEnd lines stay in the text: they are SQL comments to a client.
    """
    sections: dict[str, list[str]] = {"up": [], "down": []}
    state: str | None = None
    transactional = True
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if bare.startswith("--"):
            command = bare[2:].strip()
            if command == "+goose Up":
                if state is not None:
                    raise LayoutError("a second '-- +goose Up'")
                state = "up"
                continue
            if command == "+goose Down":
                if state != "up":
                    raise LayoutError("'-- +goose Down' before '-- +goose Up'")
                state = "down"
                continue
            if command == "+goose NO TRANSACTION":
                transactional = False
                continue
        if state is not None:
            sections[state].append(line)
        elif bare.strip() and not bare.lstrip().startswith("--"):
            raise LayoutError(f"SQL before '-- +goose Up': {bare!r}")
    if state is None:
        raise LayoutError("no '-- +goose Up' annotation")
    down = "".join(sections["down"]) if state == "down" else None
    return "".join(sections["up"]), down, transactional


def read_goose(folder: Path) -> list[BaselineMigration]:
    """``<int>_<name>.sql`` with ``-- +goose Up`` / ``-- +goose Down`` sections."""
    found = []
    for path in folder.glob("*.sql"):
        prefix, sep, _ = path.name.partition("_")
        if not sep or not prefix.isdigit():
            raise LayoutError(f"{path}: goose needs <version>_<name>.sql")
        try:
            up, down, transactional = split_goose(_read(path))
        except LayoutError as exc:
            raise LayoutError(f"{path}: {exc}") from None
        found.append(
            BaselineMigration(
                version=str(int(prefix)),
                up_sql=up,
                down_sql=down if down is not None and has_sql(down) else None,
                transactional=transactional,
                up_path=path,
                down_path=path,
                down_transactional=transactional,
                has_down=down is not None,
            )
        )
    return order_goose(found)


# --- Flyway -----------------------------------------------------------------------------------

_FLYWAY_NAME = re.compile(r"^V(.+?)__(.*)\.sql$")


def flyway_version_key(version: str) -> tuple[int, ...]:
    """Flyway's comparison key: the parts as integers, trailing zeros ignored (``1.0`` is
    ``1``), as ``MigrationVersion.compareTo`` compares BigIntegers part by part."""
    parts = [int(p) for p in re.split(r"[._]", version)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def order_flyway(migrations: list[BaselineMigration]) -> list[BaselineMigration]:
    """Flyway applies versioned migrations in version order, the version's parts (separated
    by ``.`` or ``_``) compared one by one as integers (``MigrationVersion``)."""
    return sorted(migrations, key=lambda m: flyway_version_key(m.version))


def read_flyway(folder: Path) -> list[BaselineMigration]:
    """``V<version>__<desc>.sql``: one transaction per migration, no downs."""
    found = []
    for path in folder.iterdir():
        if not path.is_file():
            continue
        if path.name.startswith(("R__", "U")) and path.name.endswith(".sql"):
            raise LayoutError(f"{path}: repeatable and undo migrations are not read here")
        match = _FLYWAY_NAME.match(path.name)
        if match is None:
            continue
        version = ".".join(re.split(r"[._]", match.group(1)))
        found.append(
            BaselineMigration(
                version=version,
                up_sql=_read(path),
                down_sql=None,
                transactional=True,
                up_path=path,
            )
        )
    keys = [flyway_version_key(m.version) for m in found]
    if len(set(keys)) != len(keys):
        raise LayoutError(f"{folder}: two files with the same Flyway version")
    return order_flyway(found)


# --- drizzle ----------------------------------------------------------------------------------


def order_drizzle(journal: dict[str, object]) -> list[str]:
    """drizzle applies the migrations in the order of ``meta/_journal.json``'s ``entries``
    (drizzle-orm ``migrator.ts`` ``readMigrationFiles`` loops over ``journal.entries``), NOT in
    file-name order; returns the tags in that order."""
    entries = journal.get("entries")
    if not isinstance(entries, list):
        raise LayoutError("meta/_journal.json has no entries list")
    return [str(entry["tag"]) for entry in entries]


def read_drizzle(folder: Path) -> list[BaselineMigration]:
    """``meta/_journal.json`` + ``<tag>.sql``; ``--> statement-breakpoint`` lines are SQL
    comments to psql and sqlite3. One transaction per migration, no downs.

    (drizzle-orm's own ``migrate()`` wraps all pending migrations in one transaction; the
    baseline keeps one per migration, which gives the same schema when every migration
    succeeds.)
    """
    journal = json.loads(_read(folder / "meta" / "_journal.json"))
    found = []
    for tag in order_drizzle(journal):
        path = folder / f"{tag}.sql"
        if not path.is_file():
            raise LayoutError(f"{path}: named in the journal but missing")
        found.append(
            BaselineMigration(
                version=tag.split("_", 1)[0],
                up_sql=_read(path),
                down_sql=None,
                transactional=True,
                up_path=path,
            )
        )
    return found


# --- dbmate -----------------------------------------------------------------------------------

# dbmate pkg/dbmate/migration.go and db.go, in Python's regex dialect.
_DBMATE_FILE = re.compile(r"^(\d+).*\.sql$")
_DBMATE_UP = re.compile(r"(?m)^--\s*migrate:up(\s*$|\s+\S+)")
_DBMATE_DOWN = re.compile(r"(?m)^--\s*migrate:down(\s*$|\s+\S+)$")


def order_dbmate(migrations: list[BaselineMigration]) -> list[BaselineMigration]:
    """dbmate applies migrations in FILE-NAME order: ``FindMigrations`` in pkg/dbmate/db.go
    sorts with ``migrations[i].FileName < migrations[j].FileName`` (string order)."""
    return sorted(migrations, key=lambda m: m.up_path.name)


def _dbmate_transactional(block: str) -> bool:
    # parseMigrationOptions: `key:value` words on the directive's line; transaction:false.
    options = dict(
        word.split(":", 1) for word in block.split("\n", 1)[0].split() if word.count(":") == 1
    )
    return options.get("transaction") != "false"


def split_dbmate(text: str) -> tuple[str, str, bool, bool]:
    """The up block, the down block and each block's transaction flag (``-- migrate:up
    transaction:false``), as dbmate's ``parseMigrationContents`` cuts them."""
    up = _DBMATE_UP.search(text)
    down = _DBMATE_DOWN.search(text)
    if up is None or down is None or up.start() > down.start():
        raise LayoutError("dbmate needs '-- migrate:up' followed by '-- migrate:down'")
    before = text[: up.start()].split("\n")
    if any(line.strip() and not line.lstrip().startswith("--") for line in before):
        raise LayoutError("statements before '-- migrate:up'")
    up_block, down_block = text[up.start() : down.start()], text[down.start() :]
    return (
        up_block,
        down_block,
        _dbmate_transactional(up_block),
        _dbmate_transactional(down_block),
    )


def read_dbmate(folder: Path) -> list[BaselineMigration]:
    """``<digits>*.sql`` files with ``-- migrate:up`` and ``-- migrate:down`` sections."""
    found = []
    for path in folder.iterdir():
        match = _DBMATE_FILE.match(path.name)
        if not path.is_file() or match is None:
            continue
        try:
            up, down, up_tx, down_tx = split_dbmate(_read(path))
        except LayoutError as exc:
            raise LayoutError(f"{path}: {exc}") from None
        found.append(
            BaselineMigration(
                version=match.group(1),
                up_sql=up,
                down_sql=down if has_sql(down) else None,
                transactional=up_tx,
                up_path=path,
                down_path=path,
                down_transactional=down_tx,
                has_down=True,
            )
        )
    return order_dbmate(found)


READERS: dict[str, Callable[[Path], list[BaselineMigration]]] = {
    "diesel": read_diesel,
    "sqlx": read_sqlx,
    "golang-migrate": read_golang_migrate,
    "goose": read_goose,
    "flyway": read_flyway,
    "drizzle": read_drizzle,
    "dbmate": read_dbmate,
}


def read_layout(layout: str, folder: Path) -> list[BaselineMigration]:
    """The migrations of ``folder`` in ``layout``'s apply order; raises LayoutError."""
    reader = READERS.get(layout)
    if reader is None:
        raise LayoutError(f"no baseline reader for layout {layout!r}")
    return reader(folder)
