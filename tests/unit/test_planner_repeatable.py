"""Planning with repeatable migrations (re-applied whenever they change, after every versioned
one) and skipped migrations (in the folder, never runnable): lists in, versions out."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrata.models import Applied, Direction, Migration, Plan, Script, State, Version
from migrata.planner import compute_status, find_problems, plan_down, plan_up, validate


def versioned(version: str, *, down: bool = True, checksum: str | None = None) -> Migration:
    stem = f"{version}_m{version}"
    return Migration(
        version=Version.parse(version),
        name=f"m{version}",
        up=Script(path=f"migrations/{stem}.up.sql", text=f"-- up {stem}"),
        down=Script(path=f"migrations/{stem}.down.sql", text=f"-- down {stem}") if down else None,
        checksum=checksum or f"sha256-lf:v{version}",
    )


def repeatable(name: str, *, checksum: str | None = None) -> Migration:
    return Migration(
        version=Version.repeatable(name),
        name=name,
        up=Script(path=f"migrations/R__{name}.sql", text=f"-- view {name}"),
        down=None,
        checksum=checksum or f"sha256-lf:r{name}",
    )


def skipped(version: str, reason: str = "a goose Go migration: migrata cannot run Go code"):
    return Migration(
        version=Version.parse(version),
        name=f"go{version}",
        up=Script(path=f"migrations/{version}_go{version}.go", text=""),
        down=None,
        checksum=f"sha256-lf:go{version}",
        skip_reason=reason,
    )


def applied(migration: Migration, *, checksum: str | None = None, success: bool = True) -> Applied:
    return Applied(
        version=migration.version,
        name=migration.name,
        checksum=checksum if checksum is not None else migration.checksum,
        applied_at="2025-01-01T00:00:00Z",
        execution_ms=1,
        applied_by="tester",
        success=success,
    )


def texts(plan: Plan) -> list[str]:
    return [s.version.text for s in plan.steps]


def state_of(migrations: Sequence[Migration], rows: Sequence[Applied], version: str) -> State:
    entries = compute_status(migrations, rows)
    return next(e.state for e in entries if e.version.text == version)


V1, V2, V3 = versioned("0001"), versioned("0002"), versioned("0003")
VIEWS, ALPHA = repeatable("views"), repeatable("alpha")

# ------------------------------------------------------------------ ordering


def test_repeatable_versions_sort_after_every_versioned_one() -> None:
    huge = Version.parse(str(2**63 - 1))  # the largest version a bigint column can hold
    assert Version.repeatable("a") > huge
    assert Version.repeatable("a") < Version.repeatable("b")
    assert Version.repeatable("views").is_repeatable
    assert not huge.is_repeatable
    assert Version.parse("R__views") == Version.repeatable("views")


@pytest.mark.parametrize("text", [str(2**63), str(2**63 + 1), "99999999999999999999"])
def test_a_version_above_the_bigint_range_is_still_versioned(text: str) -> None:
    version = Version.parse(text)
    assert not version.is_repeatable
    assert version < Version.repeatable("a")


def test_repeatables_come_after_every_versioned_migration() -> None:
    big = versioned("20991231235959")
    migrations = [VIEWS, V2, big, ALPHA, V1]
    plan = plan_up(migrations, [])
    assert plan.ok
    assert texts(plan) == ["0001", "0002", "20991231235959", "R__alpha", "R__views"]
    assert all(s.direction is Direction.UP for s in plan.steps)


def test_new_versioned_migrations_still_come_before_pending_repeatables() -> None:
    rows = [applied(V1), applied(VIEWS, checksum="sha256-lf:old")]
    plan = plan_up([V1, V2, VIEWS], rows)
    assert plan.ok
    assert texts(plan) == ["0002", "R__views"]


# ------------------------------------------------------------------ checksums


def test_repeatable_applied_with_the_same_checksum_is_not_planned() -> None:
    rows = [applied(V1), applied(VIEWS)]
    plan = plan_up([V1, VIEWS], rows)
    assert plan.ok and plan.steps == ()
    assert state_of([V1, VIEWS], rows, "R__views") is State.APPLIED


def test_changed_repeatable_is_pending_again_without_a_problem() -> None:
    rows = [applied(V1), applied(VIEWS, checksum="sha256-lf:before-the-edit")]
    migrations = [V1, VIEWS, ALPHA]
    entries = compute_status(migrations, rows)
    by_version = {e.version.text: e for e in entries}
    assert by_version["R__views"].state is State.PENDING
    assert by_version["R__views"].applied is not None  # it was applied before
    assert by_version["R__views"].out_of_order is False
    assert find_problems(entries) == ()
    plan = plan_up(migrations, rows)
    assert plan.ok
    assert texts(plan) == ["R__alpha", "R__views"]
    result = validate(migrations, rows)
    assert result.is_valid
    assert set(result.pending) == {"R__alpha", "R__views"}


def test_changed_versioned_migration_is_still_a_problem() -> None:
    # The contrast: only repeatables may change after they were applied.
    rows = [applied(V1, checksum="sha256-lf:before-the-edit")]
    assert state_of([V1], rows, "0001") is State.CHANGED
    plan = plan_up([V1, VIEWS], rows)
    assert [p.code for p in plan.problems] == ["changed"]


def test_failed_repeatable_is_a_problem_like_any_failure() -> None:
    rows = [applied(VIEWS, success=False)]
    plan = plan_up([VIEWS], rows)
    assert [p.code for p in plan.problems] == ["failed"]


def test_applied_repeatable_whose_file_is_gone_is_missing() -> None:
    rows = [applied(V1), applied(VIEWS)]
    plan = plan_up([V1], rows)
    assert [(p.code, p.version) for p in plan.problems] == [("missing", VIEWS.version)]


# ------------------------------------------------------------------ never out of order


def test_a_pending_repeatable_is_never_out_of_order() -> None:
    rows = [applied(V1), applied(V2), applied(V3)]
    entries = compute_status([V1, V2, V3, VIEWS], rows)
    views = next(e for e in entries if e.version.is_repeatable)
    assert views.state is State.PENDING and views.out_of_order is False
    assert find_problems(entries) == ()
    assert texts(plan_up([V1, V2, V3, VIEWS], rows)) == ["R__views"]


def test_an_applied_repeatable_does_not_make_versioned_ones_out_of_order() -> None:
    # R__ sorts above every version, but it is not "the newest applied version".
    rows = [applied(VIEWS)]
    entries = compute_status([V1, V2, VIEWS], rows)
    assert not any(e.out_of_order for e in entries)
    plan = plan_up([V1, V2, VIEWS], rows)
    assert plan.ok
    assert texts(plan) == ["0001", "0002"]


def test_a_versioned_gap_is_still_out_of_order_with_repeatables_around() -> None:
    rows = [applied(V1), applied(V3), applied(VIEWS)]
    plan = plan_up([V1, V2, V3, VIEWS], rows)
    assert [(p.code, p.version.text if p.version else None) for p in plan.problems] == [
        ("out-of-order", "0002")
    ]


# ------------------------------------------------------------------ targets


@pytest.mark.parametrize("target", ["0001", "0002", "0003", "3"])
def test_with_a_target_repeatables_are_not_planned(target: str) -> None:
    plan = plan_up([V1, V2, V3, VIEWS, ALPHA], [], target=target)
    assert plan.ok
    wanted = int(target)
    assert texts(plan) == [v for v in ("0001", "0002", "0003") if int(v) <= wanted]
    assert not any(s.version.is_repeatable for s in plan.steps)


def test_with_a_target_a_changed_repeatable_waits_too() -> None:
    rows = [applied(V1), applied(VIEWS, checksum="sha256-lf:old")]
    plan = plan_up([V1, V2, VIEWS], rows, target="0002")
    assert plan.ok
    assert texts(plan) == ["0002"]
    assert texts(plan_up([V1, V2, VIEWS], rows)) == ["0002", "R__views"]


def test_target_zero_plans_nothing_at_all() -> None:
    plan = plan_up([V1, VIEWS], [], target="0")
    assert plan.ok and plan.steps == ()


# ------------------------------------------------------------------ down


ALL_APPLIED = [applied(V1), applied(V2), applied(V3), applied(VIEWS), applied(ALPHA)]
ALL = [V1, V2, V3, VIEWS, ALPHA]


def test_down_one_step_reverts_the_newest_versioned_migration() -> None:
    plan = plan_down(ALL, ALL_APPLIED, steps=1)
    assert plan.ok
    assert texts(plan) == ["0003"]
    assert plan.steps[0].direction is Direction.DOWN


def test_down_by_default_reverts_the_newest_versioned_migration() -> None:
    assert texts(plan_down(ALL, ALL_APPLIED)) == ["0003"]


def test_down_steps_and_all_never_revert_a_repeatable() -> None:
    assert texts(plan_down(ALL, ALL_APPLIED, steps=2)) == ["0003", "0002"]
    assert texts(plan_down(ALL, ALL_APPLIED, steps=10)) == ["0003", "0002", "0001"]
    everything = plan_down(ALL, ALL_APPLIED, revert_all=True)
    assert everything.ok  # repeatables have no down, and that is not a problem
    assert texts(everything) == ["0003", "0002", "0001"]


def test_down_to_a_version_keeps_repeatables() -> None:
    plan = plan_down(ALL, ALL_APPLIED, target="0001")
    assert plan.ok
    assert texts(plan) == ["0003", "0002"]


def test_down_with_only_repeatables_applied_reverts_nothing() -> None:
    plan = plan_down([VIEWS, V1], [applied(VIEWS)], steps=1)
    assert plan.ok and plan.steps == ()


# ------------------------------------------------------------------ skipped


GO2 = skipped("0002")


def test_a_skipped_migration_is_shown_as_skipped() -> None:
    entries = compute_status([V1, GO2, V3], [])
    by_version = {e.version.text: e for e in entries}
    assert by_version["0002"].state is State.SKIPPED
    assert by_version["0002"].out_of_order is False
    assert by_version["0002"].migration is GO2
    assert by_version["0001"].state is State.PENDING


def test_a_skipped_migration_is_never_planned_and_not_a_problem() -> None:
    plan = plan_up([V1, GO2, V3], [])
    assert plan.ok
    assert texts(plan) == ["0001", "0003"]
    done = plan_up([V1, GO2, V3], [applied(V1), applied(V3)])
    assert done.ok and done.steps == ()
    result = validate([V1, GO2, V3], [applied(V1), applied(V3)])
    assert result.is_valid
    assert result.pending == () and result.failed == ()


def test_a_skipped_migration_older_than_the_newest_applied_is_not_out_of_order() -> None:
    rows = [applied(V1), applied(V3)]
    entries = compute_status([V1, GO2, V3], rows)
    assert not any(e.out_of_order for e in entries)
    assert find_problems(entries) == ()


def test_a_skipped_migration_does_not_make_later_ones_out_of_order() -> None:
    v4 = versioned("0004")
    rows = [applied(V1)]
    plan = plan_up([V1, GO2, V3, v4], rows)
    assert plan.ok
    assert texts(plan) == ["0003", "0004"]
    entries = compute_status([V1, GO2, V3, v4], rows)
    assert [e.out_of_order for e in entries] == [False, False, False, False]


def test_a_skipped_migration_with_a_target_past_it() -> None:
    plan = plan_up([V1, GO2, V3], [], target="0002")
    assert plan.ok
    assert texts(plan) == ["0001"]
    assert texts(plan_up([V1, GO2, V3], [], target="0003")) == ["0001", "0003"]


def test_down_passes_over_a_skipped_migration() -> None:
    rows = [applied(V1), applied(V3)]
    plan = plan_down([V1, GO2, V3], rows, revert_all=True)
    assert plan.ok
    assert texts(plan) == ["0003", "0001"]


def test_single_transaction_ignores_skipped_and_checks_the_rest() -> None:
    outside = Migration(
        version=Version.parse("0004"),
        name="outside",
        up=Script(path="migrations/0004_outside.sql", text="VACUUM", transactional=False),
        down=None,
        checksum="sha256-lf:outside",
    )
    plan = plan_up([V1, GO2, V3], [], single_transaction=True)
    assert plan.ok and texts(plan) == ["0001", "0003"]
    refused = plan_up([V1, GO2, V3, outside], [], single_transaction=True)
    assert [(p.code, p.version.text if p.version else None) for p in refused.problems] == [
        ("no-transaction", "0004")
    ]


# ------------------------------------------------------------------ properties


def _apply(plan: Plan, rows: list[Applied]) -> list[Applied]:
    """The history after ``plan`` ran: each step's row added or replaced."""
    by_version = {r.version: r for r in rows}
    for step in plan.steps:
        if step.direction is Direction.UP:
            by_version[step.version] = applied(step.migration)
        else:
            by_version.pop(step.version, None)
    return list(by_version.values())


@st.composite
def folders(draw: st.DrawFn) -> tuple[list[Migration], list[Applied]]:
    numbers = draw(st.lists(st.integers(1, 60), unique=True, max_size=10))
    names = draw(st.lists(st.text("abcdefgh", min_size=1, max_size=4), unique=True, max_size=4))
    migrations: list[Migration] = []
    for number in numbers:
        kind = draw(st.sampled_from(["versioned", "versioned", "versioned", "skipped"]))
        text = f"{number:04d}"
        migrations.append(skipped(text) if kind == "skipped" else versioned(text))
    migrations += [repeatable(name) for name in names]
    rows: list[Applied] = []
    for migration in migrations:
        if migration.skip_reason is not None or not draw(st.booleans()):
            continue
        same = not migration.repeatable or draw(st.booleans())
        rows.append(applied(migration, checksum=None if same else "sha256-lf:older"))
    order = draw(st.permutations(migrations))
    return list(order), rows


@settings(max_examples=300, deadline=None)
@given(folders())
def test_after_applying_a_plan_replanning_is_empty(
    folder: tuple[list[Migration], list[Applied]],
) -> None:
    migrations, rows = folder
    plan = plan_up(migrations, rows, allow_out_of_order=True)
    assert plan.ok
    after = _apply(plan, rows)
    again = plan_up(migrations, after, allow_out_of_order=True)
    assert again.ok
    assert again.steps == ()
    # Everything runnable is now applied; skipped ones stay skipped.
    states = {e.version: e.state for e in compute_status(migrations, after)}
    for migration in migrations:
        expected = State.SKIPPED if migration.skip_reason else State.APPLIED
        assert states[migration.version] is expected


@settings(max_examples=300, deadline=None)
@given(folders())
def test_plans_put_repeatables_last_and_never_plan_skipped(
    folder: tuple[list[Migration], list[Applied]],
) -> None:
    migrations, rows = folder
    plan = plan_up(migrations, rows, allow_out_of_order=True)
    kinds = [s.version.is_repeatable for s in plan.steps]
    assert kinds == sorted(kinds)  # every False (versioned) before every True (repeatable)
    assert [s.version for s in plan.steps] == sorted(s.version for s in plan.steps)
    assert not any(s.migration.skip_reason for s in plan.steps)
    # Exactly the repeatables that are new or changed are planned.
    stored = {r.version: r.checksum for r in rows}
    expected = {
        m.version for m in migrations if m.repeatable and stored.get(m.version) != m.checksum
    }
    assert {s.version for s in plan.steps if s.version.is_repeatable} == expected
    # Repeatables and skipped migrations never cause a problem here.
    assert plan.ok


@settings(max_examples=200, deadline=None)
@given(folders(), st.integers(0, 12))
def test_down_never_plans_a_repeatable_or_a_skipped_migration(
    folder: tuple[list[Migration], list[Applied]], steps: int
) -> None:
    migrations, rows = folder
    rows = [r for r in rows if r.checksum != "sha256-lf:older"]
    plan = plan_down(migrations, rows, steps=steps)
    assert plan.ok
    assert not any(s.version.is_repeatable or s.migration.skip_reason for s in plan.steps)
    newest_first = sorted((r.version for r in rows if not r.version.is_repeatable), reverse=True)
    assert [s.version for s in plan.steps] == newest_first[:steps]
