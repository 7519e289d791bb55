"""Adopting other tools' histories: matching (pure), replaying their events, and reading them
through a canned backend (no database)."""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import migrata
from migrata import foreign
from migrata.backends.base import Backend, Capabilities, Query, QueryFailed
from migrata.engines import engine_named
from migrata.errors import ConfigError
from migrata.foreign import (
    TOOLS,
    ForeignHistory,
    ForeignRow,
    find_histories,
    flyway_checksum,
    plan_adoption,
)
from migrata.models import Applied, Migration, Script, Version
from migrata.sqltext import checksum

# --------------------------------------------------------------------------- factories


def mig(
    version: str,
    text: str | None = None,
    *,
    name: str | None = None,
    info: tuple[tuple[str, str], ...] = (),
    skip: str | None = None,
) -> Migration:
    """A versioned migration ``<version>_<name>.sql`` with ``text`` as its up script."""
    name = name or f"m{version}"
    text = f"CREATE TABLE t{version.replace('-', '')} (id int);\n" if text is None else text
    return Migration(
        version=Version.parse(version),
        name=name,
        up=Script(path=f"migrations/{version}_{name}.sql", text=text),
        down=None,
        checksum=checksum(text),
        skip_reason=skip,
        source_info=info,
    )


def repeatable(name: str, text: str) -> Migration:
    """A Flyway repeatable ``R__<name>.sql``, as the Flyway reader describes it."""
    return Migration(
        version=Version.repeatable(name),
        name=name,
        up=Script(path=f"migrations/R__{name}.sql", text=text),
        down=None,
        checksum=checksum(text),
        source_info=(("description", name.replace("_", " ")), ("script", f"R__{name}.sql")),
    )


def ours(version: str, *, success: bool = True, name: str = "x") -> Applied:
    return Applied(Version.parse(version), name, "sha256-lf:00", None, None, None, success)


def history(
    tool: str,
    rows: Sequence[ForeignRow] = (),
    *,
    table: str | None = None,
    up_to: str | None = None,
    refusal: str | None = None,
) -> ForeignHistory:
    return ForeignHistory(tool, table or f"{tool}_table", tuple(rows), up_to, refusal)


def row(version: str | None, checksum: str | None = None, description: str | None = None) -> Any:
    return ForeignRow(version, description, checksum, None)


def sqlx_sum(text: str) -> str:
    return hashlib.sha384(text.encode()).hexdigest()


def recorded(adoption: foreign.Adoption) -> list[str]:
    return [m.version.text for m, _ in adoption.record]


# --------------------------------------------------------------------------- versions


@pytest.mark.parametrize("tool", ["diesel", "dbmate", "goose"])
def test_applied_versions_are_recorded_and_the_rest_is_pending(tool: str) -> None:
    folder = [mig("1"), mig("2"), mig("3")]
    adoption = plan_adoption(history(tool, [row("1"), row("2")]), folder, [])
    assert adoption.problems == ()
    assert recorded(adoption) == ["1", "2"]
    assert [c for _, c in adoption.record] == [folder[0].checksum, folder[1].checksum]
    assert adoption.pending == ("3",)
    assert adoption.already == ()
    assert (adoption.tool, adoption.table) == (tool, f"{tool}_table")


def test_versions_compare_by_key_so_diesels_stored_form_matches_its_folder_name() -> None:
    folder = [mig("2017-03-05-095748"), mig("2017-03-06-000000")]
    adoption = plan_adoption(history("diesel", [row("20170305095748")]), folder, [])
    assert adoption.problems == ()
    assert recorded(adoption) == ["2017-03-05-095748"]
    assert adoption.pending == ("2017-03-06-000000",)


def test_leading_zeros_do_not_matter() -> None:
    adoption = plan_adoption(history("goose", [row("1")]), [mig("00001")], [])
    assert recorded(adoption) == ["00001"]


def test_a_version_the_tool_applied_that_the_folder_lacks_is_a_problem() -> None:
    adoption = plan_adoption(
        history("dbmate", [row("1"), row("7")], table="schema_migrations"), [mig("1")], []
    )
    assert len(adoption.problems) == 1
    problem = adoption.problems[0]
    assert "version 7 is in schema_migrations but not in the folder" in problem
    assert "restore the file" in problem
    assert recorded(adoption) == ["1"]


def test_a_row_that_is_not_a_version_is_a_problem() -> None:
    adoption = plan_adoption(history("dbmate", [row("abc")]), [mig("1")], [])
    assert len(adoption.problems) == 1
    assert "'abc'" in adoption.problems[0]
    assert adoption.pending == ("1",)


def test_versions_migrata_already_has_are_skipped_not_recorded() -> None:
    adoption = plan_adoption(
        history("diesel", [row("1"), row("2")]), [mig("1"), mig("2"), mig("3")], [ours("1")]
    )
    assert adoption.problems == ()
    assert adoption.already == ("1",)
    assert recorded(adoption) == ["2"]
    assert adoption.pending == ("3",)


def test_a_version_migrata_applied_but_the_tool_did_not_is_not_pending() -> None:
    adoption = plan_adoption(history("diesel", [row("1")]), [mig("1"), mig("2")], [ours("2")])
    assert adoption.pending == ()
    assert recorded(adoption) == ["1"]


def test_a_failed_row_in_migratas_history_must_be_resolved_first() -> None:
    adoption = plan_adoption(
        history("dbmate", [row("1")]), [mig("1"), mig("2")], [ours("2", success=False)]
    )
    assert len(adoption.problems) == 1
    assert "version 2" in adoption.problems[0]
    assert "migrata resolve 2" in adoption.problems[0]
    assert "2" not in recorded(adoption)


def test_every_problem_is_reported_at_once_with_the_refusal_first() -> None:
    refusal = "sqlx recorded version 3 as failed"
    adoption = plan_adoption(
        history("sqlx", [row("1", "00"), row("9", "00")], refusal=refusal),
        [mig("1"), mig("3")],
        [ours("3", success=False)],
    )
    assert adoption.problems[0] == refusal
    assert len(adoption.problems) == 4  # refusal, migrata's failed 3, 1's checksum, missing 9
    assert any("version 9 is in" in p for p in adoption.problems)
    assert not adoption.ok


def test_a_skipped_go_migration_the_tool_applied_is_recorded_and_an_unapplied_one_not_pending() -> (
    None
):
    folder = [mig("1"), mig("2", skip="Go migration"), mig("3", skip="Go migration"), mig("4")]
    adoption = plan_adoption(history("goose", [row("1"), row("2")]), folder, [])
    assert adoption.problems == ()
    assert recorded(adoption) == ["1", "2"]
    assert adoption.pending == ("4",)


# --------------------------------------------------------------------------- golang-migrate


def test_golang_migrate_up_to_counts_every_folder_version_at_or_below_it() -> None:
    folder = [mig("1"), mig("2"), mig("3"), mig("4"), mig("5")]
    adoption = plan_adoption(history("golang-migrate", up_to="3"), folder, [])
    assert adoption.problems == ()
    assert recorded(adoption) == ["1", "2", "3"]
    assert adoption.pending == ("4", "5")


def test_golang_migrate_current_version_missing_from_the_folder_is_a_problem() -> None:
    adoption = plan_adoption(
        history("golang-migrate", up_to="4", table="schema_migrations"), [mig("1"), mig("3")], []
    )
    assert len(adoption.problems) == 1
    assert "version 4 is in schema_migrations but not in the folder" in adoption.problems[0]


def test_an_empty_golang_migrate_table_means_nothing_applied() -> None:
    adoption = plan_adoption(history("golang-migrate"), [mig("1")], [])
    assert (recorded(adoption), adoption.pending, adoption.problems) == ([], ("1",), ())


# --------------------------------------------------------------------------- sqlx checksums

SQL = "CREATE TABLE users (\n    id bigint PRIMARY KEY\n);\n"


def test_sqlx_checksum_is_sha384_of_the_up_text() -> None:
    folder = [mig("1", SQL)]
    good = plan_adoption(history("sqlx", [row("1", sqlx_sum(SQL))]), folder, [])
    assert good.problems == ()
    assert recorded(good) == ["1"]
    upper = plan_adoption(history("sqlx", [row("1", sqlx_sum(SQL).upper())]), folder, [])
    assert upper.problems == ()


def test_a_sqlx_checksum_mismatch_names_the_file_and_the_way_out() -> None:
    folder = [mig("1", SQL, name="users")]
    applied_text = SQL.replace("bigint", "int")
    adoption = plan_adoption(
        history("sqlx", [row("1", sqlx_sum(applied_text))], table="_sqlx_migrations"),
        folder,
        [],
    )
    assert len(adoption.problems) == 1
    problem = adoption.problems[0]
    assert problem.startswith("migrations/1_users.sql: changed since sqlx applied it")
    assert "_sqlx_migrations" in problem
    assert "--ignore-checksums" in problem


def test_ignoring_checksums_records_a_changed_file() -> None:
    adoption = plan_adoption(
        history("sqlx", [row("1", sqlx_sum("other"))]),
        [mig("1", SQL)],
        [],
        verify_checksums=False,
    )
    assert adoption.problems == ()
    assert recorded(adoption) == ["1"]


def test_sqlx_crlf_file_matches_what_sqlx_hashed_from_the_same_crlf_file() -> None:
    crlf = SQL.replace("\n", "\r\n")
    adoption = plan_adoption(history("sqlx", [row("1", sqlx_sum(crlf))]), [mig("1", crlf)], [])
    assert adoption.problems == ()


@pytest.mark.parametrize(
    ("applied", "on_disk", "has"), [("\r\n", "\n", "LF"), ("\n", "\r\n", "CRLF")]
)
def test_sqlx_line_ending_only_changes_are_named_as_such(
    applied: str, on_disk: str, has: str
) -> None:
    stored = sqlx_sum(SQL.replace("\n", applied))
    adoption = plan_adoption(
        history("sqlx", [row("1", stored)]), [mig("1", SQL.replace("\n", on_disk))], []
    )
    assert len(adoption.problems) == 1
    assert "only its line endings changed" in adoption.problems[0]
    assert f"the file has {has}" in adoption.problems[0]


def test_checksums_are_not_compared_for_versions_migrata_already_has() -> None:
    adoption = plan_adoption(
        history("sqlx", [row("1", sqlx_sum("old"))]), [mig("1", SQL)], [ours("1")]
    )
    assert adoption.problems == ()
    assert adoption.already == ("1",)


# --------------------------------------------------------------------------- Flyway checksums

PERSON = "CREATE TABLE person (\n    id INT NOT NULL,\n    name VARCHAR(100) NOT NULL\n);\n"


# Values computed by java.util.zip.CRC32 fed BufferedReader.readLine() lines (BOM filtered
# from the first line), cast to int: Flyway's ChecksumCalculator, run under a JVM.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PERSON, -1455529326),
        (PERSON.replace("\n", "\r\n"), -1455529326),
        (PERSON.replace("\n", "\r"), -1455529326),
        ("\ufeff" + PERSON, -1455529326),
        ("INSERT INTO t VALUES ('ünïcödé €');\n\n-- trailing blank lines\n\n\n", -593552006),
        ("SELECT 1;", 78787420),
        ("", 0),
        ("SELECT 1;\n\ufeffSELECT 2;\n", -737986772),  # only a leading BOM is dropped
    ],
)
def test_flyway_checksum_matches_flyways_own_values(text: str, expected: int) -> None:
    assert flyway_checksum(text) == expected


def test_flyway_checksum_matches_and_ignores_line_endings() -> None:
    folder = [mig("1", PERSON.replace("\n", "\r\n"))]
    adoption = plan_adoption(history("flyway", [row("1", "-1455529326")]), folder, [])
    assert adoption.problems == ()
    assert recorded(adoption) == ["1"]


def test_a_flyway_checksum_mismatch_is_a_problem_naming_the_file() -> None:
    folder = [mig("1.1", PERSON, name="person")]
    adoption = plan_adoption(
        history("flyway", [row("1.1", "12345")], table="flyway_schema_history"), folder, []
    )
    assert len(adoption.problems) == 1
    assert adoption.problems[0].startswith("migrations/1.1_person.sql: changed since flyway")
    assert "--ignore-checksums" in adoption.problems[0]


def test_a_flyway_row_without_checksum_is_not_compared() -> None:
    adoption = plan_adoption(history("flyway", [row("1", None)]), [mig("1", PERSON)], [])
    assert adoption.problems == ()


def test_flyway_dotted_versions_match_underscored_file_versions() -> None:
    adoption = plan_adoption(
        history("flyway", [row("1.1"), row("2")]), [mig("1_1"), mig("2.0")], []
    )
    assert adoption.problems == ()
    assert recorded(adoption) == ["1_1", "2.0"]


def test_flyway_baseline_counts_lower_versions_without_needing_a_file() -> None:
    folder = [mig("1"), mig("2"), mig("3"), mig("4")]
    adoption = plan_adoption(history("flyway", [row("3")], up_to="2.5"), folder, [])
    assert adoption.problems == ()
    assert recorded(adoption) == ["1", "2", "3"]
    assert adoption.pending == ("4",)


# --------------------------------------------------------------------------- Flyway repeatables

VIEW = "CREATE OR REPLACE VIEW v AS SELECT 1;\n"


def test_an_unchanged_flyway_repeatable_is_recorded_with_migratas_checksum() -> None:
    rep = repeatable("Create_views", VIEW)
    stored = str(flyway_checksum(VIEW))
    adoption = plan_adoption(
        history("flyway", [row("1"), row(None, stored, "Create views")]), [mig("1"), rep], []
    )
    assert adoption.problems == ()
    assert adoption.record[-1] == (rep, rep.checksum)


def test_a_changed_flyway_repeatable_is_recorded_so_that_migrata_reapplies_it() -> None:
    rep = repeatable("Create_views", VIEW)
    old = flyway_checksum("CREATE OR REPLACE VIEW v AS SELECT 0;\n")
    adoption = plan_adoption(history("flyway", [row(None, str(old), "Create views")]), [rep], [])
    assert adoption.problems == ()
    assert adoption.record == ((rep, f"flyway-crc32:{old}"),)
    assert adoption.record[0][1] != rep.checksum


def test_a_flyway_repeatable_matches_by_name_without_the_readers_description() -> None:
    rep = Migration(
        Version.repeatable("views"), "views", Script("migrations/R__views.sql", VIEW), None, "c"
    )
    stored = str(flyway_checksum(VIEW))
    adoption = plan_adoption(history("flyway", [row(None, stored, "views")]), [rep], [])
    assert adoption.record == ((rep, "c"),)


def test_a_flyway_repeatable_missing_from_the_folder_is_a_problem() -> None:
    adoption = plan_adoption(history("flyway", [row(None, "1", "Old views")]), [mig("1")], [])
    assert len(adoption.problems) == 1
    assert "'Old views'" in adoption.problems[0]
    assert "R__" in adoption.problems[0]


def test_a_flyway_repeatable_not_applied_is_pending_and_one_migrata_has_is_already() -> None:
    a, b = repeatable("a", VIEW), repeatable("b", VIEW)
    stored = str(flyway_checksum(VIEW))
    adoption = plan_adoption(
        history("flyway", [row(None, stored, "a")]), [a, b], [ours(a.version.text)]
    )
    assert adoption.already == ("R__a",)
    assert adoption.pending == ("R__b",)


# --------------------------------------------------------------------------- drizzle


def drizzle_mig(version: str, when: int, text: str | None = None) -> Migration:
    return mig(version, text, info=(("when", str(when)), ("tag", f"{version}_x")))


def drizzle_row(when: object, text: str | None = None) -> ForeignRow:
    digest = hashlib.sha256(text.encode()).hexdigest() if text is not None else None
    return ForeignRow(None, None, digest, when)


def test_drizzle_rows_match_journal_entries_by_when() -> None:
    folder = [
        drizzle_mig("0000", 100, "A;"),
        drizzle_mig("0001", 200, "B;"),
        drizzle_mig("0002", 300),
    ]
    adoption = plan_adoption(
        history("drizzle", [drizzle_row(100, "A;"), drizzle_row(200, "B;")]), folder, []
    )
    assert adoption.problems == ()
    assert recorded(adoption) == ["0000", "0001"]
    assert adoption.pending == ("0002",)


def test_drizzle_counts_every_entry_up_to_the_highest_created_at() -> None:
    # drizzle compares the journal with the highest created_at only: an entry below it that
    # has no row was skipped by drizzle too, and counts as applied.
    folder = [drizzle_mig("0000", 100), drizzle_mig("0001", 200), drizzle_mig("0002", 300)]
    adoption = plan_adoption(history("drizzle", [drizzle_row(100), drizzle_row(300)]), folder, [])
    assert adoption.problems == ()
    assert recorded(adoption) == ["0000", "0001", "0002"]


def test_drizzle_created_at_may_come_back_as_text_or_numeric() -> None:
    folder = [drizzle_mig("0000", 1700000000000)]
    for value in ("1700000000000", 1700000000000.0):
        adoption = plan_adoption(history("drizzle", [drizzle_row(value)]), folder, [])
        assert recorded(adoption) == ["0000"], value


def test_a_drizzle_row_matching_no_journal_entry_is_a_problem() -> None:
    folder = [drizzle_mig("0000", 100), drizzle_mig("0001", 200)]
    adoption = plan_adoption(
        history(
            "drizzle", [drizzle_row(100), drizzle_row(150)], table="drizzle.__drizzle_migrations"
        ),
        folder,
        [],
    )
    assert len(adoption.problems) == 1
    assert "created_at 150" in adoption.problems[0]
    assert "drizzle.__drizzle_migrations" in adoption.problems[0]
    assert "journal" in adoption.problems[0]


def test_a_drizzle_row_without_created_at_is_a_problem() -> None:
    adoption = plan_adoption(history("drizzle", [drizzle_row(None)]), [drizzle_mig("0", 1)], [])
    assert len(adoption.problems) == 1


def test_drizzle_hash_mismatch_is_a_problem() -> None:
    folder = [drizzle_mig("0000", 100, "CREATE TABLE a (id int);\n")]
    adoption = plan_adoption(history("drizzle", [drizzle_row(100, "something else")]), folder, [])
    assert len(adoption.problems) == 1
    assert "changed since drizzle applied it" in adoption.problems[0]


@pytest.mark.parametrize("hashed", ["lf", "crlf"])
def test_drizzle_hash_of_a_crlf_file_matches_old_and_new_drizzle(hashed: str) -> None:
    # drizzle-orm now hashes the file with CRLF made LF; older releases hashed it as it was.
    text = "CREATE TABLE a (id int);\r\n--> statement-breakpoint\r\nSELECT 1;\r\n"
    stored = text.replace("\r\n", "\n") if hashed == "lf" else text
    adoption = plan_adoption(
        history("drizzle", [drizzle_row(100, stored)]), [drizzle_mig("0000", 100, text)], []
    )
    assert adoption.problems == ()


def test_drizzle_hash_from_the_reader_is_accepted() -> None:
    m = mig("0000", "x", info=(("when", "5"), ("hash", "ab" * 32)))
    adoption = plan_adoption(history("drizzle", [ForeignRow(None, None, "ab" * 32, 5)]), [m], [])
    assert adoption.problems == ()


# --------------------------------------------------------------------------- canned backend


class CannedBackend(Backend):
    """Answers the catalog lookup with ``tables`` and each SELECT with ``rows[table]``."""

    dialect = "sqlite"
    capabilities = Capabilities(transactional_ddl=True, pipelining=False, lock="none")
    placeholder = "?"
    timestamp_type = "TEXT"
    identity_column = "INTEGER PRIMARY KEY"
    now_sql = "'now'"
    display_name = "canned://"

    def __init__(
        self,
        tables: dict[tuple[str | None, str], set[str]],
        rows: dict[str, list[tuple[Any, ...]]] | None = None,
        *,
        dialect: str = "sqlite",
    ) -> None:
        self.tables = tables
        self.rows = rows or {}
        self.dialect = dialect
        # The engine's capabilities decide where the tools' tables are looked for.
        self.capabilities = engine_named(dialect).capabilities
        self.lookups: list[list[tuple[str | None, str]]] = []
        self.batches: list[list[Query]] = []

    def table_columns(
        self, tables: Sequence[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], frozenset[str]]:
        self.lookups.append(list(tables))
        return {t: frozenset(self.tables[t]) for t in tables if t in self.tables}

    def run(self, queries: Sequence[Query]) -> list[list[tuple[Any, ...]]]:
        self.batches.append(list(queries))
        out = []
        for query in queries:
            name = query.sql.split(" FROM ", 1)[1].split(" ORDER BY ")[0]
            out.append(self.rows[name])
        return out

    def rollback(self) -> None:
        pass

    @contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[None]:
        yield

    def close(self) -> None:
        pass

    def is_missing_table(self, failure: QueryFailed) -> bool:
        return False


SQLX_COLUMNS = {"version", "description", "installed_on", "success", "checksum", "execution_time"}
GOOSE_COLUMNS = {"id", "version_id", "is_applied", "tstamp"}
FLYWAY_COLUMNS = {
    "installed_rank",
    "version",
    "description",
    "type",
    "script",
    "checksum",
    "installed_by",
    "installed_on",
    "execution_time",
    "success",
}


def test_one_catalog_lookup_covers_every_tool_and_one_batch_reads_the_tables_found() -> None:
    backend = CannedBackend(
        {(None, "_sqlx_migrations"): SQLX_COLUMNS, (None, "goose_db_version"): GOOSE_COLUMNS},
        {
            '"_sqlx_migrations"': [(1, "init", "t", True, b"\x01\x02")],
            '"goose_db_version"': [(1, 0, True, "t0"), (2, 5, True, "t1")],
        },
    )
    found = find_histories(backend)
    assert [(h.tool, h.table) for h in found] == [
        ("sqlx", "_sqlx_migrations"),
        ("goose", "goose_db_version"),
    ]
    assert len(backend.lookups) == 1
    assert len(backend.lookups[0]) == 6  # dbmate and golang-migrate share one candidate
    assert len(backend.batches) == 1 and len(backend.batches[0]) == 2
    assert found[0].rows == (ForeignRow("1", "init", "0102", "t"),)
    assert found[1].rows == (ForeignRow("5", None, None, "t1"),)


def test_no_table_found_sends_no_read() -> None:
    backend = CannedBackend({})
    assert find_histories(backend) == ()
    assert backend.batches == []


def test_drizzle_is_looked_for_in_its_schema_on_postgresql() -> None:
    backend = CannedBackend({}, dialect="postgresql")
    find_histories(backend)
    assert ("drizzle", "__drizzle_migrations") in backend.lookups[0]
    backend = CannedBackend({})
    find_histories(backend)
    assert (None, "__drizzle_migrations") in backend.lookups[0]


@pytest.mark.parametrize(
    ("columns", "tool"),
    [({"version"}, "dbmate"), ({"version", "dirty"}, "golang-migrate")],
)
def test_schema_migrations_is_dbmates_or_golang_migrates_by_its_columns(
    columns: set[str], tool: str
) -> None:
    rows = [(3, False)] if tool == "golang-migrate" else [("20240101000000",)]
    backend = CannedBackend({(None, "schema_migrations"): columns}, {'"schema_migrations"': rows})
    (found,) = find_histories(backend)
    assert found.tool == tool


def test_a_known_name_with_foreign_columns_is_not_a_history() -> None:
    backend = CannedBackend({(None, "schema_migrations"): {"id", "name"}})
    assert find_histories(backend) == ()


def test_unknown_tool_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        find_histories(CannedBackend({}), tool="liquibase")
    for tool in TOOLS:
        assert tool in str(caught.value)


def test_custom_table_with_wrong_columns_says_what_was_expected() -> None:
    backend = CannedBackend({("app", "hist"): {"id", "name"}})
    with pytest.raises(ConfigError) as caught:
        find_histories(backend, tool="sqlx", table="app.hist")
    message = str(caught.value)
    assert "app.hist" in message
    assert "version, description, installed_on, success, checksum" in message


def test_custom_table_that_does_not_exist_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        find_histories(CannedBackend({}), tool="sqlx", table="nope")


def test_custom_table_is_read_for_the_tool_and_shown_with_its_schema() -> None:
    backend = CannedBackend(
        {("app", "hist"): SQLX_COLUMNS}, {'"app"."hist"': [(1, "a", None, True, b"\xff")]}
    )
    (found,) = find_histories(backend, tool="sqlx", table="app.hist")
    assert (found.tool, found.table, found.rows[0].checksum) == ("sqlx", "app.hist", "ff")


def test_custom_table_without_a_tool_is_read_as_the_tool_its_columns_fit() -> None:
    backend = CannedBackend({(None, "hist"): {"version", "dirty"}}, {'"hist"': [(2, 0)]})
    (found,) = find_histories(backend, table="hist")
    assert (found.tool, found.up_to) == ("golang-migrate", "2")


def test_dbmate_refuses_a_table_with_golang_migrates_dirty_column() -> None:
    backend = CannedBackend({(None, "hist"): {"version", "dirty"}})
    with pytest.raises(ConfigError, match="no dirty"):
        find_histories(backend, tool="dbmate", table="hist")


# --------------------------------------------------------------------------- replaying events


def read(tool: str, rows: list[tuple[Any, ...]], columns: set[str]) -> ForeignHistory:
    name = {"sqlx": "_sqlx_migrations", "goose": "goose_db_version"}.get(
        tool, "flyway_schema_history" if tool == "flyway" else "schema_migrations"
    )
    backend = CannedBackend({(None, name): columns}, {f'"{name}"': rows})
    (found,) = find_histories(backend, tool=tool)
    return found


def test_goose_latest_row_per_version_wins_and_version_zero_is_ignored() -> None:
    found = read(
        "goose",
        [
            (1, 0, True, "t0"),
            (2, 1, True, "t1"),
            (3, 2, True, "t2"),
            (4, 2, False, "t3"),
            (5, 3, True, "t4"),
            (6, 3, False, "t5"),
            (7, 3, True, "t6"),
        ],
        GOOSE_COLUMNS,
    )
    assert [(r.version, r.applied_at) for r in found.rows] == [("1", "t1"), ("3", "t6")]
    assert found.refusal is None


def test_goose_on_sqlite_gives_is_applied_as_integers() -> None:
    found = read("goose", [(1, 0, 1, None), (2, 7, 1, None), (3, 8, 0, None)], GOOSE_COLUMNS)
    assert [r.version for r in found.rows] == ["7"]


def flyway_row(
    rank: int,
    version: str | None,
    kind: str = "SQL",
    *,
    description: str = "d",
    checksum: int | None = 7,
    success: bool = True,
) -> tuple[Any, ...]:
    return (rank, version, description, kind, checksum, f"t{rank}", success)


def test_flyway_undo_and_delete_rows_take_a_version_back() -> None:
    found = read(
        "flyway",
        [
            flyway_row(1, "1"),
            flyway_row(2, "2"),
            flyway_row(3, "3"),
            flyway_row(4, "3", "UNDO_SQL"),
            flyway_row(5, "2", "DELETE", checksum=None),
            flyway_row(6, "4"),
        ],
        FLYWAY_COLUMNS,
    )
    assert [r.version for r in found.rows] == ["1", "4"]
    assert (found.up_to, found.refusal) == (None, None)


def test_flyway_undone_then_reapplied_version_is_applied_with_its_latest_checksum() -> None:
    found = read(
        "flyway",
        [
            flyway_row(1, "1", checksum=1),
            flyway_row(2, "1", "UNDO_SQL"),
            flyway_row(3, "1", checksum=2),
        ],
        FLYWAY_COLUMNS,
    )
    assert [(r.version, r.checksum) for r in found.rows] == [("1", "2")]


def test_flyway_baseline_becomes_up_to_and_schema_rows_are_ignored() -> None:
    found = read(
        "flyway",
        [
            flyway_row(1, "0", "SCHEMA", description="<< Flyway Schema Creation >>", checksum=None),
            flyway_row(2, "1.5", "BASELINE", description="<< Flyway Baseline >>", checksum=None),
            flyway_row(3, "2"),
        ],
        FLYWAY_COLUMNS,
    )
    assert found.up_to == "1.5"
    assert [r.version for r in found.rows] == ["2"]


def test_flyway_repeatables_keep_their_latest_run_and_delete_takes_them_back() -> None:
    found = read(
        "flyway",
        [
            flyway_row(1, None, description="views", checksum=1),
            flyway_row(2, None, description="grants", checksum=5),
            flyway_row(3, None, description="views", checksum=2),
            flyway_row(4, None, "DELETE", description="grants", checksum=None),
        ],
        FLYWAY_COLUMNS,
    )
    assert [(r.version, r.description, r.checksum) for r in found.rows] == [(None, "views", "2")]


def test_a_flyway_version_migrata_cannot_read_is_reported_by_plan_adoption() -> None:
    found = read("flyway", [flyway_row(1, "1"), flyway_row(2, "1.x")], FLYWAY_COLUMNS)
    assert [r.version for r in found.rows] == ["1", "1.x"]
    adoption = plan_adoption(found, [mig("1")], [], verify_checksums=False)
    assert len(adoption.problems) == 1 and "'1.x'" in adoption.problems[0]


def test_flyway_failed_row_is_a_refusal_naming_the_version_and_repair() -> None:
    found = read("flyway", [flyway_row(1, "1"), flyway_row(2, "2", success=False)], FLYWAY_COLUMNS)
    assert found.refusal is not None
    assert "version 2" in found.refusal and "flyway repair" in found.refusal
    assert [r.version for r in found.rows] == ["1"]
    adoption = plan_adoption(found, [mig("1"), mig("2")], [], verify_checksums=False)
    assert adoption.problems[0] == found.refusal


def test_sqlx_failed_row_is_a_refusal_and_not_applied() -> None:
    found = read(
        "sqlx", [(1, "a", None, True, b"\x00"), (2, "b", None, False, b"\x00")], SQLX_COLUMNS
    )
    assert found.refusal is not None
    assert "version 2" in found.refusal and "_sqlx_migrations" in found.refusal
    assert [r.version for r in found.rows] == ["1"]


def test_golang_migrate_dirty_is_a_refusal_with_the_force_command() -> None:
    found = read("golang-migrate", [(3, True)], {"version", "dirty"})
    assert found.refusal is not None
    assert found.refusal.startswith("golang-migrate marked version 3 dirty")
    assert "migrate force 3" in found.refusal
    assert found.up_to is None


@pytest.mark.parametrize(
    ("rows", "up_to", "refused"),
    [
        ([], None, False),
        ([(5, False)], "5", False),
        ([(5, 0)], "5", False),  # SQLite's bool column holds 0/1
        ([(-1, True)], None, True),
        ([(2, False), (3, False)], None, True),
    ],
)
def test_golang_migrate_current_version(
    rows: list[tuple[Any, ...]], up_to: str | None, refused: bool
) -> None:
    found = read("golang-migrate", rows, {"version", "dirty"})
    assert found.up_to == up_to
    assert (found.refusal is not None) == refused
    assert found.rows == ()


# --------------------------------------------------------------------------- layering


def test_foreign_imports_only_the_layers_below_it() -> None:
    path = Path(migrata.__file__).parent / "foreign.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level and node.module
    }
    assert imported <= {"backends.base", "models", "sqltext", "errors"}
