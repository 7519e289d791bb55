"""Planning: pure functions of (migrations, applied history, options).

No I/O and no backend import. Every problem is reported at once, each with the command that
moves forward, so a user fixes them all in one go.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from .models import (
    REVERTING,
    Applied,
    Direction,
    Migration,
    Plan,
    Problem,
    State,
    StatusEntry,
    Step,
    Validation,
    Version,
    as_in_folder,
)
from .sqltext import checksums_match

__all__ = ["compute_status", "find_problems", "plan_down", "plan_up", "validate"]


def compute_status(
    migrations: Sequence[Migration],
    applied: Sequence[Applied],
    *,
    environment: str | None = None,
) -> tuple[StatusEntry, ...]:
    """The state of every version known to the folder or the history, in version order.

    Repeatable migrations (after every versioned one) are pending whenever their checksum
    differs from the one applied; a migration migrata cannot run (``skip_reason``) is skipped;
    one limited to environments that do not include ``environment`` (None: no environment is
    set) is not applicable, unless the history has it (then it is what the history says).
    """
    files = {m.version: m for m in migrations}
    rows = {a.version: a for a in as_in_folder(applied, files)}
    # Migrations limited to environments (seed data) stay out of the order checks both ways:
    # a seed applied at 0100 does not make schema migration 0002 late, and a seed added
    # after newer schema migrations is data, which may load at any point.
    limited = {m.version for m in migrations if m.environments is not None}
    newest_applied = _newest(v for v, a in rows.items() if a.success and v not in limited)
    # A baseline written by `squash` stands for the versions it replaced: their history rows
    # are its history (they are not missing), and the row of its own version, written by the
    # file it replaced, counts as applied whatever that file's checksum was.
    squashed = [
        (_version_like(m.version, m.up.squashes[0]), m.version)
        for m in migrations
        if m.up.squashes is not None
    ]
    entries = []
    # The file's spelling of a version wins over the history's (0001 over 1).
    # (Sorted by the key `<` compares: the same order, without a call per comparison.)
    for version in sorted(set(files) | set(rows), key=_order):  # the left set's spelling wins
        row = rows.get(version)
        migration = files.get(version)
        out_of_order = False
        if row is None:
            assert migration is not None
            if migration.skip_reason is not None:
                state = State.SKIPPED
            elif not migration.applies_to(environment):
                state = State.NOT_APPLICABLE
            else:
                state = State.PENDING
                out_of_order = (
                    newest_applied is not None
                    and not version.is_repeatable
                    and version not in limited
                    and version < newest_applied
                )
        elif not row.success:
            state = State.FAILED
        elif migration is None:
            if any(first <= version < last for first, last in squashed):
                continue  # replaced by a baseline: its row is the baseline's history
            state = State.MISSING
        elif migration.up.squashes is not None:
            state = State.APPLIED
        elif not checksums_match(row.checksum, migration.checksum):
            # A repeatable migration is applied again whenever it changes.
            state = State.PENDING if version.is_repeatable else State.CHANGED
        else:
            state = State.APPLIED
        name = migration.name if migration is not None else (row.name if row else "")
        entries.append(StatusEntry(version, name, state, row, migration, out_of_order))
    return tuple(entries)


def _version_like(version: Version, text: str) -> Version:
    """``text`` read the way ``version`` was (as numbers, or as text)."""
    return Version.parse_text(text) if version.textual else Version.parse(text)


def find_problems(
    entries: Sequence[StatusEntry], *, allow_out_of_order: bool = False
) -> tuple[Problem, ...]:
    """Everything in the status that stops ``up``."""
    newest = _newest(
        e.version
        for e in entries
        if e.applied
        and e.applied.success
        and (e.migration is None or e.migration.environments is None)
    )
    problems = []
    for entry in entries:
        problem = _problem(entry, newest, allow_out_of_order=allow_out_of_order)
        if problem is not None:
            problems.append(problem)
    return tuple(problems)


def _problem(
    entry: StatusEntry, newest: Version | None, *, allow_out_of_order: bool
) -> Problem | None:
    """What stops ``up`` at ``entry``; None when nothing does."""
    label = _label(entry)
    if entry.state is State.FAILED:
        assert entry.applied is not None
        resume = (
            f", or fix the cause and run `migrata up --resume {entry.version}` to continue "
            "from the statement that failed"
            if _resumable(entry.applied)
            else ""
        )
        return Problem(
            code="failed",
            version=entry.version,
            message=f"{label} {_failure_text(entry.applied)}",
            next_step=(
                f"check the database by hand, then run `migrata resolve {entry.version} --applied` "
                f"(its changes are in place) or `--rolled-back` (they are not){resume}"
            ),
        )
    if entry.state is State.CHANGED:
        assert entry.migration is not None
        return Problem(
            code="changed",
            version=entry.version,
            message=f"{label} ({entry.migration.up.path}) was edited after it was applied",
            next_step=(
                "restore the file as it was applied and put the change in a new migration "
                "(`migrata new NAME`), or, when the edit changes nothing that ran (a comment, "
                f"whitespace), run `migrata repair {entry.version}`"
            ),
        )
    if entry.state is State.MISSING:
        return Problem(
            code="missing",
            version=entry.version,
            message=f"{label} is applied but its file is not in the folder",
            next_step=(
                f"restore the file, or run `migrata unmark {entry.version}` if it was removed on "
                "purpose"
            ),
        )
    if entry.out_of_order and not allow_out_of_order:
        assert entry.migration is not None
        return Problem(
            code="out-of-order",
            version=entry.version,
            message=(
                f"{label} ({entry.migration.up.path}) is pending but older than the newest applied "
                f"version {newest}"
            ),
            next_step=(
                f"give it a version newer than {newest}, or pass --allow-out-of-order to apply it "
                "anyway"
            ),
        )
    return None


def plan_up(
    migrations: Sequence[Migration],
    applied: Sequence[Applied],
    *,
    target: str | None = None,
    allow_out_of_order: bool = False,
    single_transaction: bool = False,
    resume: str | None = None,
    environment: str | None = None,
) -> Plan:
    """Pending migrations up to ``target`` (inclusive), oldest first, and what stops them.

    Repeatable migrations come after every versioned one, and only when no ``target`` is
    given (they may depend on the newest versions). ``resume`` names a migration that failed
    outside a transaction: it runs again from the statement that failed, instead of stopping
    the plan. Migrations limited to other environments than ``environment`` are left out.
    """
    entries = compute_status(migrations, applied, environment=environment)
    resumed = _resume_entry(resume, entries)
    problems = list(find_problems(entries, allow_out_of_order=allow_out_of_order))
    if isinstance(resumed, Problem):
        problems.append(resumed)
        resumed = None
    elif resumed is not None:
        problems = [p for p in problems if not (p.code == "failed" and p.version == resumed)]
    limit = _resolve_target(target, entries, problems)
    if target is not None and limit is None:
        return Plan(Direction.UP, (), tuple(problems))
    steps = tuple(
        Step(
            e.migration,
            Direction.UP,
            resume_after=(e.applied.statements_done or 0)
            if e.version == resumed and e.applied
            else 0,
        )
        for e in entries
        if (e.state is State.PENDING or (resumed is not None and e.version == resumed))
        and e.migration is not None
        and (limit is None or (e.version <= limit and not e.version.is_repeatable))
        and (allow_out_of_order or not e.out_of_order)
    )
    if single_transaction:
        for step in steps:
            if not step.migration.transactional:
                problems.append(
                    Problem(
                        "no-transaction",
                        step.version,
                        f"{_label_of(step.migration)} must run outside a transaction, so the "
                        "plan cannot run as one transaction",
                        "drop --single-transaction, or apply up to the version before it first",
                    )
                )
    return Plan(Direction.UP, steps, tuple(problems))


def _resume_entry(resume: str | None, entries: Sequence[StatusEntry]) -> Version | Problem | None:
    """The version ``up --resume`` continues, or the problem that stops it."""
    if resume is None:
        return None
    entry = next((e for e in entries if e.version.names(resume)), None)
    version = entry.version if entry is not None else _parse(resume)
    if entry is None or entry.state is not State.FAILED or entry.applied is None:
        return Problem(
            "resume",
            version,
            f"cannot resume {resume}: it has no failed run to continue",
            "run `migrata status` to see which migration failed, or run `migrata up`",
        )
    row = entry.applied
    if entry.migration is None:
        return Problem(
            "resume",
            version,
            f"cannot resume {_label(entry)}: its file is not in the folder",
            "restore the file, then run `migrata up --resume` again",
        )
    if row.error is not None and row.error.startswith(REVERTING):
        return Problem(
            "resume",
            version,
            f"cannot resume {_label(entry)}: what failed was reverting it",
            f"check the database, then run `migrata resolve {entry.version} --applied` "
            "or `--rolled-back`",
        )
    return entry.version


def plan_down(
    migrations: Sequence[Migration],
    applied: Sequence[Applied],
    *,
    steps: int | None = None,
    target: str | None = None,
    revert_all: bool = False,
) -> Plan:
    """Applied migrations to revert, newest first: the last ``steps`` (default 1), those newer
    than ``target``, or all of them."""
    entries = compute_status(migrations, applied)
    problems: list[Problem] = []
    for entry in entries:
        if entry.state is State.FAILED:
            problems.extend(find_problems([entry]))
    # Repeatable migrations have no down: reverting versions leaves them recorded.
    done = [
        e
        for e in entries
        if e.applied is not None and e.applied.success and not e.version.is_repeatable
    ]
    done.reverse()
    if revert_all:
        chosen = done
    elif target is not None:
        limit = _resolve_target(target, entries, problems)
        chosen = [e for e in done if limit is not None and e.version > limit]
    else:
        count = 1 if steps is None else steps
        if count < 0:
            raise ValueError("steps must be zero or more")
        chosen = done[:count]
    plan_steps = []
    for entry in chosen:
        label = _label(entry)
        if entry.migration is None:
            problems.append(
                Problem(
                    "missing",
                    entry.version,
                    f"{label} is applied but its file is not in the folder, so it cannot be "
                    "reverted",
                    "restore the file (with its down SQL) and run down again",
                )
            )
            continue
        if entry.state is State.CHANGED:
            problems.extend(find_problems([entry]))
            continue
        if entry.migration.down is None:
            refusal = entry.migration.down_refusal
            if refusal:
                problem = Problem(
                    "down-refused",
                    entry.version,
                    f"{label} cannot be reverted: {refusal}",
                    "fix its down SQL before reverting it",
                )
            else:
                problem = Problem(
                    "no-down",
                    entry.version,
                    f"{label} has no down SQL",
                    "add its down file before reverting it",
                )
            problems.append(problem)
            continue
        plan_steps.append(Step(entry.migration, Direction.DOWN))
    return Plan(Direction.DOWN, tuple(plan_steps), tuple(problems))


def validate(
    migrations: Sequence[Migration],
    applied: Sequence[Applied],
    *,
    allow_out_of_order: bool = False,
    environment: str | None = None,
) -> Validation:
    """What `migrata validate` reports: versions by state, and every problem."""
    entries = compute_status(migrations, applied, environment=environment)
    return Validation(
        applied=tuple(
            e.version.text for e in entries if e.applied is not None and e.applied.success
        ),
        expected=tuple(
            m.version.text
            for m in sorted(migrations, key=lambda m: m.version)
            if m.applies_to(environment)
        ),
        pending=tuple(e.version.text for e in entries if e.state is State.PENDING),
        failed=tuple(e.version.text for e in entries if e.state is State.FAILED),
        problems=find_problems(entries, allow_out_of_order=allow_out_of_order),
        not_applicable=tuple(e.version.text for e in entries if e.state is State.NOT_APPLICABLE),
    )


def _resolve_target(
    target: str | None, entries: Sequence[StatusEntry], problems: list[Problem]
) -> Version | None:
    if target is None:
        return None
    entry = next((e for e in entries if e.version.names(target)), None)
    if entry is not None:
        return entry.version
    version = _parse(target)
    if version is None or version.number != 0:
        problems.append(
            Problem(
                "unknown-target",
                version,
                f"target version {target} is neither in the folder nor in the history",
                "run `migrata status` to see the versions",
            )
        )
        return None
    # Version 0 when the folder has none: before every migration, whatever the layout's order.
    return replace(version, rank=())


def _parse(text: str) -> Version | None:
    """``text`` as a version none of the entries has (for messages), or None."""
    try:
        return Version.parse(text)
    except ValueError:
        return None


def _order(version: Version) -> tuple[bool, tuple[int, ...]]:
    return version.order


def _newest(versions: Iterable[Version]) -> Version | None:
    """The newest versioned (not repeatable) migration of ``versions``."""
    return max((v for v in versions if not v.is_repeatable), default=None)


def _label(entry: StatusEntry) -> str:
    return f"{entry.version}_{entry.name}" if entry.name else str(entry.version)


def _label_of(migration: Migration) -> str:
    return f"{migration.version}_{migration.name}"


def _resumable(row: Applied) -> bool:
    """A failed run outside a transaction that recorded its progress, going up."""
    return row.statements_total is not None and not (row.error or "").startswith(REVERTING)


def _failure_text(row: Applied) -> str:
    if row.statements_total:
        done = row.statements_done or 0
        text = f"failed at statement {done + 1} of {row.statements_total}"
    else:
        text = "failed, or was interrupted"
    if row.error:
        text += f": {row.error.strip().splitlines()[0]}"
    return text
