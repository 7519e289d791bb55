"""A baseline written by `squash` stands for the versions it replaced: their history rows are
its history, its own version's row counts as applied whatever checksum the replaced file had;
the directive is read strictly."""

from __future__ import annotations

import pytest

from migrata.errors import UnknownDirective
from migrata.models import Applied, Migration, Script, State, Version
from migrata.planner import compute_status, find_problems
from migrata.sqltext import parse_directives


def _migration(version: str, text: str) -> Migration:
    directives = parse_directives(text, f"{version}.sql")
    script = Script(f"{version}.sql", text, squashes=directives.squashes)
    return Migration(Version.parse(version), "m", script, None, f"sum-{version}")


def _row(version: str, checksum: str) -> Applied:
    return Applied(Version.parse(version), "m", checksum, None, 1, "t", success=True)


BASELINE = "-- migrata: squashes=0001..0003\nCREATE TABLE t (id int);\n"


def test_the_replaced_rows_are_the_baselines_history() -> None:
    migrations = [_migration("0003", BASELINE), _migration("0004", "SELECT 1;\n")]
    rows = [_row("1", "old-1"), _row("2", "old-2"), _row("3", "old-3")]
    entries = compute_status(migrations, rows)
    assert [(e.version.text, e.state) for e in entries] == [
        ("0003", State.APPLIED),
        ("0004", State.PENDING),
    ]
    assert find_problems(entries) == ()


def test_a_row_outside_the_range_is_still_missing() -> None:
    migrations = [_migration("0003", BASELINE)]
    entries = compute_status(migrations, [_row("3", "old"), _row("9", "x")])
    assert [(e.version.text, e.state) for e in entries][-1] == ("9", State.MISSING)


def test_a_new_database_runs_the_baseline() -> None:
    (entry,) = compute_status([_migration("0003", BASELINE)], [])
    assert entry.state is State.PENDING


@pytest.mark.parametrize("value", ["0001", "0001..", "..0003", "0001-0003"])
def test_a_bad_squashes_value_names_the_file(value: str) -> None:
    with pytest.raises(UnknownDirective, match="squashes"):
        parse_directives(f"-- migrata: squashes={value}\nSELECT 1;\n", "0003.sql")
