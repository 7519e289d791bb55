"""On every engine and every way a migration runs (one transaction, statement by statement, the
whole plan in one transaction, a failure, a resumed run), the database receives exactly the
statements of the file: none swallowed by a comment, none glued to what migrata adds (BEGIN,
time limits, history and audit writes, COMMIT), whatever the statements end with.

A property over generated files (tests/framing.py): after ``up`` the table holds exactly the
rows the file inserts, in order, and the history has the migration.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framing import UserFile, create_table, user_files
from migrata import Migrator
from migrata.errors import MigrationFailed, ValidationFailed

_EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_numbers = itertools.count(1)


def _dialect(db) -> str:  # type: ignore[no-untyped-def]
    return {"postgresql": "postgresql", "mysql": "mysql", "sqlite": "sqlite"}.get(
        db.engine, "clickhouse"
    )


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / f"m{next(_numbers)}"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_bytes(text.encode("utf-8"))
    return folder


def _rows(db, table: str) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return [(int(i), str(v)) for i, v in db.query(f"SELECT id, v FROM {table} ORDER BY id")]


def _expected(user: UserFile, first_id: int = 1) -> list[tuple[int, str]]:
    return [(first_id + i, v) for i, v in enumerate(user.values)]


def _migrator(db, folder: Path, service: str, **options: object) -> Migrator:  # type: ignore[no-untyped-def]
    return Migrator(db.url, directory=folder, service=service, **options)  # type: ignore[arg-type]


def _names() -> tuple[str, str]:
    n = next(_numbers)
    return f"framing_t{n}", f"framing_s{n}"


@_EXAMPLES
@given(data=st.data(), limits=st.booleans())
def test_one_migration_inserts_exactly_its_rows(
    db, tmp_path: Path, data: st.DataObject, limits: bool
) -> None:
    """The default path: a transaction per migration where the engine has them (PostgreSQL's
    one simple-protocol message, MySQL's multi-statement packet for data-only migrations), with
    time limits (SET LOCAL) riding in the same message when asked."""
    table, service = _names()
    dialect = _dialect(db)
    user = data.draw(user_files(dialect, table))
    folder = _folder(
        tmp_path, {"0001_create.sql": create_table(dialect, table), "0002_rows.sql": user.text}
    )
    timeouts = {"statement_timeout": 30, "ddl_lock_timeout": 10} if limits else {}
    report = _migrator(db, folder, service, **timeouts).up()
    assert [s.version for s in report.steps] == ["0001", "0002"]
    assert report.steps[1].statements == len(user.values)
    assert _rows(db, table) == _expected(user)
    assert _migrator(db, folder, service).validate().pending == ()


@_EXAMPLES
@given(data=st.data())
def test_statement_by_statement_inserts_exactly_its_rows(
    db, tmp_path: Path, data: st.DataObject
) -> None:
    """Outside a transaction each statement travels alone, or (MySQL) with the progress
    write that follows it in one packet."""
    table, service = _names()
    dialect = _dialect(db)
    user = data.draw(user_files(dialect, table))
    folder = _folder(
        tmp_path,
        {
            "0001_create.sql": create_table(dialect, table),
            "0002_rows.sql": "-- migrata: no-transaction\n" + user.text,
        },
    )
    report = _migrator(db, folder, service).up()
    assert report.steps[1].statements == len(user.values)
    assert not report.steps[1].transactional
    assert _rows(db, table) == _expected(user)


@_EXAMPLES
@given(data=st.data())
def test_the_whole_plan_in_one_transaction_inserts_exactly_its_rows(
    db, tmp_path: Path, data: st.DataObject
) -> None:
    table, service = _names()
    dialect = _dialect(db)
    db.query(create_table(dialect, table))
    first = data.draw(user_files(dialect, table))
    if not db.transactional:
        # ClickHouse has no transactions: the plan is refused before anything runs.
        folder = _folder(tmp_path, {"0001_a.sql": first.text})
        with pytest.raises(ValidationFailed, match="one transaction"):
            _migrator(db, folder, service, single_transaction=True).up()
        assert _rows(db, table) == []
        return
    # The second file's ids follow the first's.
    second = data.draw(user_files(dialect, table))
    offset = len(first.values)
    second_text = second.text
    for i in range(len(second.values), 0, -1):
        second_text = second_text.replace(f"VALUES ({i}, ", f"VALUES ({i + offset}, ")
    folder = _folder(tmp_path, {"0001_a.sql": first.text, "0002_b.sql": second_text})
    report = _migrator(db, folder, service, single_transaction=True).up()
    assert [s.statements for s in report.steps] == [len(first.values), len(second.values)]
    assert _rows(db, table) == _expected(first) + _expected(second, offset + 1)


@_EXAMPLES
@given(data=st.data())
def test_a_failing_statement_is_the_one_blamed(db, tmp_path: Path, data: st.DataObject) -> None:
    """A statement that fails is reported at its own line, never at a neighbour it was glued
    to, and a transactional migration leaves nothing behind."""
    table, service = _names()
    dialect = _dialect(db)
    db.query(create_table(dialect, table))
    user = data.draw(user_files(dialect, table, count=(2, 6)))
    bad = data.draw(st.integers(min_value=0, max_value=len(user.values) - 1))
    text = _replace_statement(user, bad, f"INSERT INTO {table}_missing (id) VALUES (1)")
    folder = _folder(tmp_path, {"0001_rows.sql": text})
    with pytest.raises(MigrationFailed) as failed:
        _migrator(db, folder, service).up()
    assert failed.value.line == user.lines[bad]
    assert failed.value.statement_index == bad + 1
    done = _rows(db, table)
    if db.transactional:
        assert done == []
    else:
        assert done == _expected(user)[:bad]


@_EXAMPLES
@given(data=st.data())
def test_a_resumed_migration_runs_exactly_the_rest(db, tmp_path: Path, data: st.DataObject) -> None:
    """``up --resume`` after a statement failed outside a transaction: the statements before it
    are not repeated, the rest run exactly once."""
    table, service = _names()
    dialect = _dialect(db)
    db.query(create_table(dialect, table))
    user = data.draw(user_files(dialect, table, count=(2, 6)))
    bad = data.draw(st.integers(min_value=0, max_value=len(user.values) - 1))
    late = f"{table}_later"
    failing = f"INSERT INTO {late} (id, v) VALUES (1, 'late')"
    text = _insert_statement(user, bad, failing)
    folder = _folder(tmp_path, {"0001_rows.sql": "-- migrata: no-transaction\n" + text})
    with pytest.raises(MigrationFailed):
        _migrator(db, folder, service).up()
    assert _rows(db, table) == _expected(user)[:bad]
    db.query(create_table(dialect, late))
    report = _migrator(db, folder, service).up(resume="0001")
    assert report.steps[0].version == "0001"
    assert _rows(db, table) == _expected(user)
    assert _rows(db, late) == [(1, "late")]


def _replace_statement(user: UserFile, index: int, sql: str) -> str:
    """``user``'s text with the INSERT of row ``index`` turned into ``sql`` (same line)."""
    marker = f" (id, v) VALUES ({index + 1}, "
    head, sep, tail = user.text.partition(marker)
    assert sep
    start = head.rfind("INSERT INTO ")
    # Drop the literal: up to the ")" that closes this VALUES list.
    end = _literal_end(tail)
    return head[:start] + sql + tail[end + 1 :]


def _insert_statement(user: UserFile, before: int, sql: str) -> str:
    """``user``'s text with ``sql;`` on its own line just before the INSERT of row ``before``."""
    marker = f" (id, v) VALUES ({before + 1}, "
    head, sep, tail = user.text.partition(marker)
    assert sep
    start = head.rfind("INSERT INTO ")
    return head[:start] + sql + ";\n" + head[start:] + sep + tail


def _literal_end(tail: str) -> int:
    """Index in ``tail`` (text after "VALUES (n, ") of the ")" closing the VALUES list."""
    if tail.startswith("$q$"):
        return tail.index("$q$", 3) + 3
    position = 1
    while True:
        position = tail.index("'", position)
        if tail.startswith("''", position):
            position += 2
            continue
        return position + 1
