"""Other tools' migration folders, run by migrata, give the schema the plain client gives.

Each folder under ``tests/fixtures/layouts/<engine>/<layout>/`` is written in one tool's real
format. For each one:

- auto-detection reads it with the expected reader (or, for folders whose names migrata's own
  layout shares, with migrata's reader and the tool listed in ``also``), in the expected order;
- ``migrata up`` on a fresh database gives the same schema as running the same up SQL, in the
  same order, with ``psql -X -v ON_ERROR_STOP=1 -f`` or the ``sqlite3`` shell; a second ``up``
  does nothing;
- ``migrata status --json`` shows the layout, skipped migrations and warnings;
- ``migrata down --all`` empties the schema when every migration has a down, and refuses before
  changing anything when one has none.

The expected order and sections are written out here, independently of migrata's readers: for
dbmate and goose, the up section is cut out of the file at its marker line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _contract_support import extra_postgres_database

from conftest import Database
from migrata import Migrator
from migrata.discovery import discover_migrations
from migrata.errors import MissingDownMigration
from migrata.exitcodes import ExitCode

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "layouts"
ENGINES = ("postgres", "sqlite")


@dataclass(frozen=True)
class Layout:
    """What one fixture folder must do; paths are relative to the folder."""

    #: ``discover_migrations(folder).layout``.
    reader: str
    #: Up files in the order they must run, per engine ("*" for both).
    up: dict[str, tuple[str, ...]]
    #: The tool that must be listed in ``also`` (folders migrata's own reader reads).
    also: str | None = None
    #: Single-file layouts: regexes of the line that opens the up section and of the line that
    #: ends it.
    section: tuple[str, str] | None = None
    #: Up files without any down SQL (``down --all`` must refuse when there is one).
    no_down: tuple[str, ...] = ()
    #: Files whose down SQL has no statements: refused unless --allow-empty-down.
    empty_down: tuple[str, ...] = ()
    #: Up files a repeatable migration: never reverted, never listed as lacking a down.
    repeatable: tuple[str, ...] = ()
    #: Files whose marker (``-- no-transaction``, metadata.toml, ``transaction:false``, …)
    #: takes them out of a transaction, with the directions it covers.
    marked: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Up files that must run outside migrata's transaction, per engine: the marked ones and
    #: the ones that open and commit their own transaction.
    outside: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Migrations the folder holds that migrata cannot run: (file, version key).
    skipped: tuple[tuple[str, int], ...] = ()
    #: Files that are not migrations and must be listed as ignored.
    strays: tuple[str, ...] = ()
    #: Files that must be named in a warning (a .sql file a journal leaves out).
    warned: tuple[str, ...] = ()

    def up_files(self, engine: str) -> tuple[str, ...]:
        return self.up.get(engine, self.up.get("*", ()))

    def outside_files(self, engine: str) -> set[str]:
        return set(self.outside.get(engine, self.outside.get("*", ())))

    @property
    def reverts_all(self) -> bool:
        return not self.no_down


DBMATE_UP = r"--\s*migrate:up\b"
DBMATE_DOWN = r"--\s*migrate:down\b"
GOOSE_UP = r"--\s*\+goose\s+Up\b"
GOOSE_DOWN = r"--\s*\+goose\s+Down\b"

LAYOUTS: dict[str, Layout] = {
    "sqlx": Layout(
        reader="migrata",
        also="sqlx",
        up={
            "*": (
                "20240101000001_create_users.sql",
                "20240101000002_create_posts.up.sql",
                "20240101000003_index_users_email.sql",
                "20240101000004_post_status.up.sql",
            )
        },
        no_down=("20240101000001_create_users.sql", "20240101000003_index_users_email.sql"),
        marked={"20240101000003_index_users_email.sql": ("up",)},
        outside={"*": ("20240101000003_index_users_email.sql",)},
    ),
    "golang-migrate": Layout(
        reader="migrata",
        also="golang-migrate",
        # 10 after 2: versions are numbers, not strings.
        up={
            "*": ("1_create_accounts.up.sql", "2_add_currency.up.sql", "10_create_transfers.up.sql")
        },
        outside={"postgres": ("10_create_transfers.up.sql",), "sqlite": ()},
        strays=("README.md",),
    ),
    "diesel": Layout(
        reader="diesel",
        up={
            "*": (
                "00000000000000_diesel_initial_setup/up.sql",
                "2017-03-05-095748_create_books/up.sql",
                "20170306000000_create_authors/up.sql",
                "20170307000000_index_books_title/up.sql",
            )
        },
        marked={"20170307000000_index_books_title/up.sql": ("up", "down")},
        outside={"*": ("20170307000000_index_books_title/up.sql",)},
        strays=("README.md",),
    ),
    "dbmate": Layout(
        reader="dbmate",
        up={
            "*": (
                "20240201100000_create_customers.sql",
                "20240201110000_seed_customers.sql",
                "20240201120000_index_customers_email.sql",
                "20240201130000_customer_audit.sql",
            )
        },
        section=(DBMATE_UP, DBMATE_DOWN),
        marked={"20240201120000_index_customers_email.sql": ("up", "down")},
        outside={"*": ("20240201120000_index_customers_email.sql",)},
        # An empty `-- migrate:down` is a down without statements: `down` refuses it unless
        # --allow-empty-down (then, as dbmate does, it drops only the history row).
        empty_down=("20240201110000_seed_customers.sql",),
    ),
    "goose": Layout(
        reader="goose",
        up={
            "postgres": (
                "00001_create_products.sql",
                "00002_price_with_tax.sql",
                "00004_index_products_slug.sql",
            ),
            "sqlite": (
                "00001_create_products.sql",
                "00002_product_log.sql",
                "00004_index_products_slug.sql",
            ),
        },
        section=(GOOSE_UP, GOOSE_DOWN),
        marked={"00004_index_products_slug.sql": ("up", "down")},
        outside={"*": ("00004_index_products_slug.sql",)},
        skipped=(("00003_backfill_slugs.go", 3),),
        strays=("notes.txt",),
    ),
    "flyway": Layout(
        reader="flyway",
        # 1 < 1.1 < 1_2 (= 1.2) < 2.0.1, then the repeatable; U1.1 is an undo, never run up.
        up={
            "*": (
                "V1__create_orders.sql",
                "V1.1__add_order_note.sql",
                "V1_2__create_order_lines.sql",
                "V2.0.1__index_order_lines.sql",
                "R__order_totals_view.sql",
            )
        },
        no_down=(
            "V1__create_orders.sql",
            "V1_2__create_order_lines.sql",
            "V2.0.1__index_order_lines.sql",
        ),
        repeatable=("R__order_totals_view.sql",),
    ),
    "drizzle": Layout(
        reader="drizzle",
        up={"*": ("0000_brave_tables.sql", "0001_quiet_index.sql", "0002_odd_column.sql")},
        no_down=("0000_brave_tables.sql", "0001_quiet_index.sql", "0002_odd_column.sql"),
        warned=("0003_manual_fix.sql",),
    ),
    "dotted": Layout(
        reader="dotted",
        up={
            "postgres": (
                "V0001.CreateTeams.up.sql",
                "V0002.AddTeamMembers.up.sql",
                "V0003.TeamSize.up.sql",
                "V0010.IndexMembers.up.sql",
            ),
            "sqlite": (
                "V0001.CreateTeams.up.sql",
                "V0002.AddTeamMembers.up.sql",
                "V0003.DefaultRole.up.sql",
                "V0010.IndexMembers.up.sql",
            ),
        },
        strays=("notes.txt",),
    ),
    "suffix": Layout(
        reader="suffix",
        up={"*": ("001_create_projects_up.sql", "002_set_up_roles_up.sql", "003_cleanup_up.sql")},
        no_down=("003_cleanup_up.sql",),
    ),
    "migrata": Layout(
        reader="migrata",
        up={
            "*": (
                "0001_create_notes.up.sql",
                "0002_reserved.sql",
                "0003_note_tags/up.sql",
                "0004_index_notes.sql",
                "0005_archive_old_notes.sql",
            )
        },
        no_down=("0002_reserved.sql", "0004_index_notes.sql", "0005_archive_old_notes.sql"),
        marked={"0004_index_notes.sql": ("up",)},
        outside={"*": ("0004_index_notes.sql", "0005_archive_old_notes.sql")},
        strays=("README.md", "0003_note_tags/notes.txt"),
    ),
}

CASES = [
    pytest.param(engine, name, id=f"{engine}-{name}") for engine in ENGINES for name in LAYOUTS
]


# ------------------------------------------------------------------------------ helpers


@pytest.fixture
def database(request: pytest.FixtureRequest, engine: str) -> Database:
    fixture = "postgres_db" if engine == "postgres" else "sqlite_db"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


def copy_fixture(engine: str, name: str, tmp_path: Path) -> Path:
    source = FIXTURES / engine / name
    assert source.is_dir(), f"missing fixture folder {source}"
    return Path(shutil.copytree(source, tmp_path / "migrations" / name))


def relative(folder: Path, path: str) -> str:
    return Path(path).relative_to(folder).as_posix()


def clean_env() -> dict[str, str]:
    """The environment without settings that would change what the CLI does."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MIGRATA_") and k not in {"DATABASE_URL", "PGDATABASE"}
    }


def migrata(url: str, folder: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrata", "-u", url, "-d", str(folder), *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(),
        timeout=300,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"{' '.join(result.args[3:])} exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def status_json(url: str, folder: Path, cwd: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(ok(migrata(url, folder, "status", "--json", cwd=cwd)).stdout)  # type: ignore[no-any-return]


def sqlite_path(url: str) -> str:
    return url.split("sqlite:///", 1)[1]


def schema_of(db: Database) -> str:
    """The schema without migrata's own tables: pg_dump text, or sorted sqlite_master rows."""
    if db.engine == "postgresql":
        return pg_schema(db.url)
    return sqlite_schema(sqlite_path(db.url))


def pg_schema(url: str) -> str:
    dump = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "-T", "migrata_history*", "-d", url],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    ).stdout
    # \restrict / \unrestrict carry a random key per dump (PostgreSQL 15.14 and later).
    return "\n".join(
        line for line in dump.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def sqlite_schema(path: str) -> str:
    # sqlite_sequence exists because migrata's audit table uses AUTOINCREMENT; none of the
    # fixtures does. Indexes of migrata's tables carry its table name in tbl_name.
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE name NOT LIKE 'migrata\\_%' ESCAPE '\\' "
            "AND tbl_name NOT LIKE 'migrata\\_%' ESCAPE '\\' "
            "AND name <> 'sqlite_sequence'"
        ).fetchall()
    finally:
        conn.close()
    return "\n".join(repr(row) for row in sorted(rows, key=repr))


def up_section(text: str, section: tuple[str, str]) -> str:
    """The lines between the up marker line and the down marker line (or the end)."""
    start, end = (re.compile(p) for p in section)
    lines = text.splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if start.match(line.strip())) + 1
    last = next((i for i in range(first, len(lines)) if end.match(lines[i].strip())), len(lines))
    return "".join(lines[first:last])


def plain_scripts(layout: Layout, engine: str, folder: Path, scratch: Path) -> list[Path]:
    """The up SQL of each migration, in order, as files the plain client can run."""
    scripts = []
    scratch.mkdir(parents=True, exist_ok=True)
    for index, rel in enumerate(layout.up_files(engine)):
        path = folder / rel
        if layout.section is not None:
            cut = scratch / f"{index:02d}_{path.name}"
            cut.write_text(up_section(path.read_text(encoding="utf-8"), layout.section))
            path = cut
        scripts.append(path)
    return scripts


def run_plain(db_engine: str, target: str, scripts: list[Path]) -> None:
    """Run each script with the plain client of the engine, stopping at the first error."""
    for script in scripts:
        if db_engine == "postgresql":
            result = subprocess.run(
                ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", target, "-f", str(script)],
                check=False,
                capture_output=True,
                text=True,
                env=clean_env(),
            )
        else:
            with open(script, encoding="utf-8") as handle:
                result = subprocess.run(
                    ["sqlite3", "-bail", target],
                    stdin=handle,
                    check=False,
                    capture_output=True,
                    text=True,
                )
        assert result.returncode == 0, f"plain client failed on {script}:\n{result.stderr}"


def with_plain_reference(
    db: Database, tmp_path: Path, check: Callable[[str], None], scripts: list[Path]
) -> None:
    """Apply ``scripts`` with the plain client to a second fresh database; ``check`` gets its
    schema."""
    if db.engine == "postgresql":
        with extra_postgres_database(db.url) as url:
            run_plain(db.engine, url, scripts)
            check(pg_schema(url))
    else:
        path = str(tmp_path / "reference.db")
        run_plain(db.engine, path, scripts)
        check(sqlite_schema(path))


def history_rows(db: Database) -> list[tuple]:  # type: ignore[type-arg]
    return sorted(db.query("SELECT version, name, checksum, success FROM migrata_history"))


# ------------------------------------------------------------------------------ tests


@pytest.mark.parametrize(("engine", "name"), CASES)
def test_detection_and_order(engine: str, name: str, tmp_path: Path) -> None:
    layout = LAYOUTS[name]
    folder = copy_fixture(engine, name, tmp_path)
    result = discover_migrations(folder)

    assert result.layout == layout.reader
    if layout.also is not None:
        assert layout.also in result.also

    runnable = [m for m in result.migrations if m.skip_reason is None]
    assert [relative(folder, m.up.path) for m in runnable] == list(layout.up_files(engine))

    for m in runnable:
        rel = relative(folder, m.up.path)
        if rel in layout.no_down or rel in layout.repeatable:
            assert m.down is None, f"{rel} has no down SQL in the folder"
        elif rel in layout.empty_down:
            assert m.down is not None and not m.down.text.strip(), f"{rel}'s down is empty"
        else:
            assert m.down is not None, f"{rel} has down SQL in the folder"
        directions = layout.marked.get(rel, ())
        assert m.up.transactional is ("up" not in directions), rel
        if "up" in directions:
            assert m.up.explicit_transaction, rel
        if m.down is not None:
            assert m.down.transactional is ("down" not in directions), rel

    if name == "dbmate":
        # The empty `-- migrate:down` section is a down without statements (dbmate runs it
        # as a no-op; `down` refuses it unless --allow-empty-down).
        seed = next(m for m in runnable if m.up.path.endswith("_seed_customers.sql"))
        assert seed.down is not None and not seed.down.text.strip()

    skipped = [m for m in result.migrations if m.skip_reason is not None]
    assert sorted((Path(m.up.path).name, m.version.key) for m in skipped) == sorted(
        (file, (key,)) for file, key in layout.skipped
    )

    for stray in layout.strays:
        assert str(folder / stray) in result.ignored, f"{stray} is not listed as ignored"
    for file in layout.warned:
        assert any(file in warning for warning in result.warnings), result.warnings


@pytest.mark.parametrize(("engine", "name"), CASES)
def test_plan_runs_marked_and_self_managed_scripts_outside_a_transaction(
    engine: str, name: str, database: Database, tmp_path: Path
) -> None:
    layout = LAYOUTS[name]
    folder = copy_fixture(engine, name, tmp_path)
    _, steps = Migrator(database.url, directory=folder).plan_statements()

    assert [relative(folder, s.path) for s in steps] == list(layout.up_files(engine))
    outside = {relative(folder, s.path) for s in steps if not s.transactional}
    assert outside == layout.outside_files(engine)
    for step in steps:
        if relative(folder, step.path) in outside:
            # Run as written: a self-managed BEGIN/COMMIT stays, nothing wraps it again.
            text = " ".join(s.sql for s in step.statements).upper()
            source = (folder / relative(folder, step.path)).read_text(encoding="utf-8")
            if re.search(r"^BEGIN;", source, re.MULTILINE):
                assert "BEGIN" in text and "COMMIT" in text


@pytest.mark.parametrize(("engine", "name"), CASES)
def test_up_gives_the_schema_of_the_plain_client(
    engine: str, name: str, database: Database, tmp_path: Path
) -> None:
    layout = LAYOUTS[name]
    folder = copy_fixture(engine, name, tmp_path)
    scripts = plain_scripts(layout, engine, folder, tmp_path / "plain")
    empty = schema_of(database)

    ok(migrata(database.url, folder, "up", cwd=tmp_path))
    applied = schema_of(database)
    assert applied != empty

    def same_as_migrata(reference: str) -> None:
        assert applied == reference

    with_plain_reference(database, tmp_path, same_as_migrata, scripts)

    rows = history_rows(database)
    assert len(rows) == len(layout.up_files(engine))
    assert all(row[3] for row in rows)

    again = json.loads(ok(migrata(database.url, folder, "up", "--json", cwd=tmp_path)).stdout)
    assert again["steps"] == []
    assert schema_of(database) == applied
    assert history_rows(database) == rows


@pytest.mark.parametrize(("engine", "name"), CASES)
def test_status_shows_layout_skips_and_warnings(
    engine: str, name: str, database: Database, tmp_path: Path
) -> None:
    layout = LAYOUTS[name]
    folder = copy_fixture(engine, name, tmp_path)

    before = status_json(database.url, folder, tmp_path)
    assert before["layout"] == layout.reader
    assert not database.table_exists("migrata_history"), "status must create nothing"

    ok(migrata(database.url, folder, "up", cwd=tmp_path))
    status = status_json(database.url, folder, tmp_path)
    assert status["layout"] == layout.reader

    states = {relative(folder, row["path"]): row["state"] for row in status["migrations"]}
    expected = {rel: "applied" for rel in layout.up_files(engine)}
    expected.update({file: "skipped" for file, _ in layout.skipped})
    assert states == expected
    assert status["problems"] == []

    for file in layout.warned:
        warnings = status.get("warnings")
        assert isinstance(warnings, list), "status --json has no list of warnings"
        assert any(file in warning for warning in warnings), warnings


@pytest.mark.parametrize(("engine", "name"), CASES)
def test_down_all(engine: str, name: str, database: Database, tmp_path: Path) -> None:
    layout = LAYOUTS[name]
    folder = copy_fixture(engine, name, tmp_path)
    empty = schema_of(database)
    ok(migrata(database.url, folder, "up", cwd=tmp_path))
    applied = schema_of(database)
    rows = history_rows(database)

    result = migrata(database.url, folder, "down", "--all", cwd=tmp_path)
    if "has no statements" in result.stderr:
        # A down with only comments is refused first, nothing reverted; allowed, it goes on.
        assert result.returncode == ExitCode.VALIDATION, result.stderr
        assert schema_of(database) == applied
        result = migrata(database.url, folder, "down", "--all", "--allow-empty-down", cwd=tmp_path)

    if layout.reverts_all:
        ok(result)
        assert schema_of(database) == empty
        assert [row for row in history_rows(database) if row[3]] == []
        states = {row["state"] for row in status_json(database.url, folder, tmp_path)["migrations"]}
        assert states <= {"pending", "skipped"}
        return

    assert result.returncode == ExitCode.VALIDATION, result.stderr
    assert schema_of(database) == applied
    assert history_rows(database) == rows

    migrator = Migrator(database.url, directory=folder)
    with pytest.raises(MissingDownMigration) as info:
        migrator.down(all=True, allow_empty_down=True)
    by_path = {relative(folder, m.up.path): m.version.text for m in migrator.migrations}
    lacking = {by_path[rel] for rel in layout.no_down}
    allowed = lacking | {by_path[rel] for rel in layout.repeatable}
    assert lacking <= set(info.value.versions) <= allowed
    assert schema_of(database) == applied
    assert history_rows(database) == rows
