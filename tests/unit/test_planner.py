"""Planner: table tests with hand-built values, plus hypothesis properties."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrata.models import (
    Applied,
    Direction,
    Migration,
    Plan,
    Script,
    State,
    Version,
)
from migrata.planner import compute_status, find_problems, plan_down, plan_up, validate

# --------------------------------------------------------------------------- factories


def mig(
    version: str,
    name: str | None = None,
    *,
    down: bool = True,
    transactional: bool = True,
    checksum: str | None = None,
) -> Migration:
    """A migration ``<version>_<name>`` with up (and by default down) SQL."""
    name = name or f"m{version}"
    stem = f"{version}_{name}"
    return Migration(
        version=Version.parse(version),
        name=name,
        up=Script(
            path=f"migrations/{stem}.up.sql", text=f"-- up {stem}", transactional=transactional
        ),
        down=Script(path=f"migrations/{stem}.down.sql", text=f"-- down {stem}") if down else None,
        checksum=checksum or _sum(version),
    )


def row(
    version: str,
    name: str | None = None,
    *,
    checksum: str | None = None,
    success: bool = True,
    statements_done: int | None = None,
    statements_total: int | None = None,
    error: str | None = None,
) -> Applied:
    """A history row for ``version``; its checksum matches ``mig(version)`` unless given."""
    return Applied(
        version=Version.parse(version),
        name=name or f"m{version}",
        checksum=checksum or _sum(version),
        applied_at="2025-01-01T00:00:00Z",
        execution_ms=1,
        applied_by="tester",
        success=success,
        statements_done=statements_done,
        statements_total=statements_total,
        error=error,
    )


def _sum(version: str) -> str:
    return f"sha256-lf:{int(version.replace('-', '')):064x}"


def migs(*versions: str, down: bool = True) -> list[Migration]:
    return [mig(v, down=down) for v in versions]


def rows(*versions: str) -> list[Applied]:
    return [row(v) for v in versions]


def texts(versions: Iterable[Version | None]) -> list[str | None]:
    return [v.text if v is not None else None for v in versions]


def step_versions(plan: Plan) -> list[str]:
    return [s.version.text for s in plan.steps]


def codes(plan: Plan) -> list[tuple[str, str | None]]:
    return [(p.code, p.version.text if p.version is not None else None) for p in plan.problems]


def applied_after(plan: Plan, history: Sequence[Applied]) -> list[Applied]:
    """The history once ``plan``'s up steps ran: one success row per step, same checksum."""
    done = list(history)
    for step in plan.steps:
        m = step.migration
        done.append(Applied(m.version, m.name, m.checksum, None, 1, "tester", success=True))
    return done


# --------------------------------------------------------------------------- compute_status


@pytest.mark.parametrize(
    ("migrations", "history", "expected"),
    [
        pytest.param([], [], [], id="empty"),
        pytest.param(migs("1", "2"), [], [("1", "pending"), ("2", "pending")], id="all-pending"),
        pytest.param(
            migs("1", "2"), rows("1", "2"), [("1", "applied"), ("2", "applied")], id="all-applied"
        ),
        pytest.param(
            migs("1", "2", "3"),
            rows("1"),
            [("1", "applied"), ("2", "pending"), ("3", "pending")],
            id="some-pending",
        ),
        pytest.param(
            migs("1"), [row("1", checksum="sha256-lf:other")], [("1", "changed")], id="changed"
        ),
        pytest.param(migs("2"), rows("1"), [("1", "missing"), ("2", "pending")], id="missing"),
        pytest.param(migs("1"), [row("1", success=False)], [("1", "failed")], id="failed"),
        pytest.param([], [row("7", success=False)], [("7", "failed")], id="failed-without-file"),
        pytest.param(
            [mig("0001"), mig("0010")],
            [row("1")],
            [("0001", "applied"), ("0010", "pending")],
            id="padded-equals-unpadded",
        ),
        pytest.param(
            migs("10", "9", "100"),
            [],
            [("9", "pending"), ("10", "pending"), ("100", "pending")],
            id="numeric-order",
        ),
    ],
)
def test_compute_status_states(
    migrations: list[Migration], history: list[Applied], expected: list[tuple[str, str]]
) -> None:
    entries = compute_status(migrations, history)
    assert [(e.version.text, str(e.state)) for e in entries] == expected


def test_compute_status_fields() -> None:
    migrations = migs("1", "2", "3")
    history = [row("1"), row("3"), row("4", name="gone")]
    entries = {e.version.text: e for e in compute_status(migrations, history)}
    assert entries["1"].state is State.APPLIED
    assert entries["1"].migration is migrations[0]
    assert entries["1"].applied is history[0]
    assert entries["2"].state is State.PENDING
    assert entries["2"].applied is None
    assert entries["2"].out_of_order is True  # older than the newest applied (4)
    assert entries["3"].out_of_order is False
    assert entries["4"].state is State.MISSING
    assert entries["4"].migration is None
    assert entries["4"].name == "gone"


def test_pending_newer_than_a_failed_row_is_not_out_of_order() -> None:
    entries = compute_status(migs("1", "2", "3"), [row("1"), row("2", success=False)])
    assert [(e.state, e.out_of_order) for e in entries] == [
        (State.APPLIED, False),
        (State.FAILED, False),
        (State.PENDING, False),
    ]


# --------------------------------------------------------------------------- plan_up


def test_plan_up_all_pending_in_version_order() -> None:
    plan = plan_up(migs("3", "1", "2"), [])
    assert plan.direction is Direction.UP
    assert step_versions(plan) == ["1", "2", "3"]
    assert all(s.direction is Direction.UP for s in plan.steps)
    assert plan.steps[0].script.path == "migrations/1_m1.up.sql"
    assert plan.ok


def test_plan_up_nothing_to_do() -> None:
    plan = plan_up(migs("1", "2"), rows("1", "2"))
    assert plan.steps == ()
    assert plan.ok


def test_plan_up_reports_all_problems_at_once() -> None:
    migrations = migs("1", "2", "3", "5", "6")
    history = [
        row("1", success=False, statements_done=2, statements_total=5, error="boom\nmore"),
        row("2", checksum="sha256-lf:edited"),
        # 3 is pending and older than 5: out of order
        row("4", name="removed"),  # applied, file gone
        row("5"),
    ]
    plan = plan_up(migrations, history)
    assert codes(plan) == [
        ("failed", "1"),
        ("changed", "2"),
        ("out-of-order", "3"),
        ("missing", "4"),
    ]
    assert not plan.ok
    assert step_versions(plan) == ["6"]  # the out-of-order file is not a step
    by_code = {p.code: p for p in plan.problems}
    assert "statement 3 of 5" in by_code["failed"].message
    assert "boom" in by_code["failed"].message and "more" not in by_code["failed"].message
    assert "migrata resolve 1" in by_code["failed"].next_step
    assert "migrations/2_m2.up.sql" in by_code["changed"].message
    assert "5" in by_code["out-of-order"].message
    assert "--allow-out-of-order" in by_code["out-of-order"].next_step
    assert "4_removed" in by_code["missing"].message
    assert "migrata unmark 4" in by_code["missing"].next_step


def test_failed_row_without_statement_counts() -> None:
    plan = plan_up(migs("1"), [row("1", success=False)])
    (problem,) = plan.problems
    assert problem.code == "failed"
    assert "interrupted" in problem.message
    assert plan.steps == ()  # a failed row is not retried by up


def test_out_of_order_is_a_problem_by_default() -> None:
    plan = plan_up(migs("1", "2", "3"), rows("1", "3"))
    assert codes(plan) == [("out-of-order", "2")]
    assert plan.steps == ()


def test_allow_out_of_order_includes_older_pending_in_version_order() -> None:
    plan = plan_up(migs("1", "2", "3", "4", "5"), rows("1", "3"), allow_out_of_order=True)
    assert plan.ok
    assert step_versions(plan) == ["2", "4", "5"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("2", ["2"]),
        ("3", ["2", "3"]),
        ("0003", ["2", "3"]),  # the same version, written padded
        ("4", ["2", "3", "4"]),
        ("1", []),  # already applied
        ("0", []),
    ],
)
def test_plan_up_target_is_inclusive(target: str, expected: list[str]) -> None:
    plan = plan_up(migs("1", "2", "3", "4"), rows("1"), target=target)
    assert plan.ok
    assert step_versions(plan) == expected


def test_plan_up_target_may_be_a_version_only_in_history() -> None:
    plan = plan_up(migs("1", "3"), rows("1", "2"), target="2", allow_out_of_order=True)
    assert codes(plan) == [("missing", "2")]  # no unknown-target
    assert step_versions(plan) == []


@pytest.mark.parametrize("target", ["9", "abc", "1.2"])
def test_plan_up_unknown_target_is_a_problem(target: str) -> None:
    plan = plan_up(migs("1", "2"), rows("1"), target=target)
    assert [p.code for p in plan.problems] == ["unknown-target"]
    assert target in plan.problems[0].message
    assert not plan.ok


def test_unknown_target_is_reported_with_the_other_problems() -> None:
    plan = plan_up(migs("1", "2"), [row("1", checksum="sha256-lf:x")], target="77")
    assert codes(plan) == [("changed", "1"), ("unknown-target", "77")]


def test_single_transaction_with_non_transactional_migration_is_a_problem() -> None:
    migrations = [mig("1"), mig("2", transactional=False), mig("3"), mig("4", transactional=False)]
    plan = plan_up(migrations, [], single_transaction=True)
    assert codes(plan) == [("no-transaction", "2"), ("no-transaction", "4")]
    assert "2_m2" in plan.problems[0].message
    assert "--single-transaction" in plan.problems[0].next_step
    assert step_versions(plan) == ["1", "2", "3", "4"]


def test_single_transaction_only_checks_planned_steps() -> None:
    migrations = [mig("1", transactional=False), mig("2"), mig("3", transactional=False)]
    assert plan_up(migrations, rows("1"), single_transaction=True, target="2").ok
    assert not plan_up(migrations, rows("1"), single_transaction=True).ok
    # without --single-transaction a non-transactional migration is fine
    assert plan_up(migrations, []).ok


# --------------------------------------------------------------------------- plan_down


def test_plan_down_default_is_one_step_newest_first() -> None:
    plan = plan_down(migs("1", "2", "3"), rows("1", "2", "3"))
    assert plan.direction is Direction.DOWN
    assert step_versions(plan) == ["3"]
    assert plan.steps[0].direction is Direction.DOWN
    assert plan.steps[0].script.path == "migrations/3_m3.down.sql"
    assert plan.ok


@pytest.mark.parametrize(
    ("steps", "expected"),
    [(0, []), (1, ["3"]), (2, ["3", "2"]), (3, ["3", "2", "1"]), (10, ["3", "2", "1"])],
)
def test_plan_down_steps(steps: int, expected: list[str]) -> None:
    plan = plan_down(migs("1", "2", "3", "4"), rows("1", "2", "3"), steps=steps)
    assert step_versions(plan) == expected
    assert plan.ok


def test_plan_down_negative_steps_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        plan_down(migs("1"), rows("1"), steps=-1)


@pytest.mark.parametrize(
    ("target", "expected"),
    [("1", ["4", "3", "2"]), ("3", ["4"]), ("4", []), ("0", ["4", "3", "2", "1"]), ("5", [])],
)
def test_plan_down_to_target_reverts_newer_only(target: str, expected: list[str]) -> None:
    plan = plan_down(migs("1", "2", "3", "4", "5"), rows("1", "2", "3", "4"), target=target)
    assert plan.ok
    assert step_versions(plan) == expected


def test_plan_down_unknown_target_is_a_problem_and_reverts_nothing() -> None:
    plan = plan_down(migs("1", "2"), rows("1", "2"), target="9")
    assert codes(plan) == [("unknown-target", "9")]
    assert plan.steps == ()


def test_plan_down_revert_all_newest_first_ignoring_order_given() -> None:
    history = rows("2", "10", "1", "3")
    plan = plan_down(migs("1", "2", "3", "10"), history, revert_all=True)
    assert step_versions(plan) == ["10", "3", "2", "1"]
    assert plan.ok


def test_plan_down_missing_down_reported_for_every_such_step() -> None:
    migrations = [mig("1", down=False), mig("2"), mig("3", down=False), mig("4", down=False)]
    plan = plan_down(migrations, rows("1", "2", "3", "4"), revert_all=True)
    assert codes(plan) == [("no-down", "4"), ("no-down", "3"), ("no-down", "1")]
    assert step_versions(plan) == ["2"]
    assert "4_m4" in plan.problems[0].message


def test_plan_down_steps_reports_no_down_only_for_chosen_steps() -> None:
    migrations = [mig("1", down=False), mig("2", down=False), mig("3")]
    plan = plan_down(migrations, rows("1", "2", "3"), steps=2)
    assert codes(plan) == [("no-down", "2")]
    assert step_versions(plan) == ["3"]


def test_plan_down_missing_file_and_changed_file_are_problems() -> None:
    migrations = migs("1", "2")
    history = [row("1"), row("2", checksum="sha256-lf:edited"), row("3")]
    plan = plan_down(migrations, history, revert_all=True)
    assert codes(plan) == [("missing", "3"), ("changed", "2")]
    assert step_versions(plan) == ["1"]


def test_plan_down_reports_failed_rows_and_skips_them() -> None:
    history = [row("1"), row("2"), row("3", success=False)]
    plan = plan_down(migs("1", "2", "3"), history)
    assert codes(plan) == [("failed", "3")]
    assert step_versions(plan) == ["2"]


def test_plan_down_skips_pending_migrations() -> None:
    plan = plan_down(migs("1", "2", "3"), rows("1", "2"), revert_all=True)
    assert step_versions(plan) == ["2", "1"]


# --------------------------------------------------------------------------- validate


def test_validate_fields() -> None:
    migrations = migs("1", "2", "3", "5", "6")
    history = [
        row("1"),
        row("2", checksum="sha256-lf:edited"),
        row("4"),
        row("5"),
        row("7", success=False),
    ]
    result = validate(migrations, history)
    assert result.applied == ("1", "2", "4", "5")
    assert result.expected == ("1", "2", "3", "5", "6")
    assert result.pending == ("3", "6")
    assert result.failed == ("7",)
    assert [(p.code, p.version.text if p.version else None) for p in result.problems] == [
        ("changed", "2"),
        ("out-of-order", "3"),
        ("missing", "4"),
        ("failed", "7"),
    ]
    assert not result.is_valid


def test_validate_clean() -> None:
    result = validate(migs("1", "2", "3"), rows("1", "2"))
    assert result.is_valid
    assert result.problems == ()
    assert result.applied == ("1", "2")
    assert result.pending == ("3",)
    assert result.failed == ()


def test_find_problems_allow_out_of_order() -> None:
    entries = compute_status(migs("1", "2", "3"), rows("1", "3"))
    assert [p.code for p in find_problems(entries)] == ["out-of-order"]
    assert find_problems(entries, allow_out_of_order=True) == ()


# --------------------------------------------------------------------------- properties

version_numbers = st.sets(st.integers(min_value=1, max_value=10**6), min_size=0, max_size=25)


@st.composite
def folder_and_history(draw: st.DrawFn) -> tuple[list[Migration], list[Applied]]:
    numbers = sorted(draw(version_numbers))
    width = draw(st.sampled_from([1, 4, 8]))
    migrations = [mig(str(n).zfill(width)) for n in numbers]
    applied_numbers = draw(st.sets(st.sampled_from(numbers))) if numbers else set()
    history = [row(str(n)) for n in sorted(applied_numbers)]
    history = draw(st.permutations(history))
    return migrations, list(history)


@settings(max_examples=200, deadline=None)
@given(folder_and_history())
def test_property_applying_the_plan_leaves_nothing_to_do(
    data: tuple[list[Migration], list[Applied]],
) -> None:
    migrations, history = data
    plan = plan_up(migrations, history, allow_out_of_order=True)
    assert plan.ok
    after = applied_after(plan, history)
    again = plan_up(migrations, after, allow_out_of_order=True)
    assert again.steps == ()
    assert again.problems == ()
    # and without --allow-out-of-order too: nothing is pending any more
    assert plan_up(migrations, after).ok
    assert all(e.state is State.APPLIED for e in compute_status(migrations, after))


@settings(max_examples=200, deadline=None)
@given(folder_and_history(), st.booleans())
def test_property_up_steps_sorted_and_never_applied(
    data: tuple[list[Migration], list[Applied]], allow: bool
) -> None:
    migrations, history = data
    plan = plan_up(migrations, history, allow_out_of_order=allow)
    keys = [s.version.key for s in plan.steps]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    applied_versions = {a.version for a in history}
    assert not any(s.version in applied_versions for s in plan.steps)
    # every pending version is either a step or (without allow) reported as out of order
    pending = {m.version for m in migrations} - applied_versions
    reported = {p.version for p in plan.problems if p.code == "out-of-order"}
    assert {s.version for s in plan.steps} | reported == pending
    if allow:
        assert not reported


@settings(max_examples=200, deadline=None)
@given(folder_and_history())
def test_property_revert_all_after_applying_everything_is_newest_first(
    data: tuple[list[Migration], list[Applied]],
) -> None:
    migrations, history = data
    after = applied_after(plan_up(migrations, history, allow_out_of_order=True), history)
    plan = plan_down(migrations, after, revert_all=True)
    assert plan.ok
    assert [s.version for s in plan.steps] == sorted((m.version for m in migrations), reverse=True)
    assert all(s.direction is Direction.DOWN for s in plan.steps)


@settings(max_examples=100, deadline=None)
@given(folder_and_history(), st.integers(min_value=0, max_value=30))
def test_property_down_steps_takes_the_newest_applied(
    data: tuple[list[Migration], list[Applied]], count: int
) -> None:
    migrations, history = data
    plan = plan_down(migrations, history, steps=count)
    newest = sorted((a.version for a in history), reverse=True)[:count]
    assert [s.version for s in plan.steps] == newest
    assert texts([s.version for s in plan.steps]) == texts(
        m.version
        for m in sorted(migrations, key=lambda m: m.version, reverse=True)
        if m.version in set(newest)
    )


def test_unknown_target_plans_nothing() -> None:
    plan = plan_up(migs("1", "2"), [], target="7")
    assert plan.steps == ()
    assert [p.code for p in plan.problems] == ["unknown-target"]


def test_validate_honours_allow_out_of_order() -> None:
    history = rows("1", "3")
    assert [p.code for p in validate(migs("1", "2", "3"), history).problems] == ["out-of-order"]
    relaxed = validate(migs("1", "2", "3"), history, allow_out_of_order=True)
    assert relaxed.is_valid
    assert relaxed.pending == ("2",)


def test_validate_expected_is_in_version_order() -> None:
    assert validate(migs("10", "9"), []).expected == ("9", "10")
