"""Preparing a plan to run: every script split, the transaction decided from its statements, a
resumed step set to go on statement by statement — all before the first statement is sent.

Pure functions of the plan, the engine's dialect and the server's version; no I/O of their
own. Given a :class:`~migrata.cache.SplitCache`, what it already knows of a script's exact
text is read from it instead of splitting again (and what is new is written to it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .backends.base import Query
from .cache import SplitCache
from .errors import SQLSyntaxError, ValidationFailed, setting
from .models import (
    Direction,
    Plan,
    Problem,
    RunReport,
    Script,
    Statement,
    Step,
    StepResult,
    Version,
)

if TYPE_CHECKING:
    from .lint import LockInfo

__all__ = [
    "PlannedStatements",
    "PreparedPlan",
    "describe_statements",
    "dry_report",
    "prepare_plan",
    "script_problems",
]


@dataclass(frozen=True, slots=True)
class PreparedPlan:
    """A plan ready to run: its steps with their transaction decided, and each step's
    statements."""

    plan: Plan
    statements: Mapping[tuple[Version, Direction], tuple[Statement, ...]]

    def statements_of(self, step: Step) -> tuple[Statement, ...]:
        return self.statements[(step.version, step.direction)]


@dataclass(frozen=True, slots=True)
class PlannedStatements:
    """A step of a plan with the exact statements ``up``/``down`` would send."""

    version: str
    name: str
    direction: Direction
    path: str
    transactional: bool
    statements: tuple[Statement, ...]
    #: Why the step runs outside a transaction (or as written), when it does.
    transaction_note: str | None = None
    #: What the run sends before the statements (BEGIN, time limits, session SQL, a
    #: "started" row) and after them (history writes, COMMIT), as SQL text.
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    #: Per statement, the table lock it takes (migrata.lint.LockInfo); empty where the
    #: engine's locks are not known.
    locks: tuple[LockInfo, ...] = ()


def prepare_plan(
    plan: Plan,
    *,
    dialect: str,
    server_version: int | None,
    allow_empty_down: bool = False,
    single_transaction: bool = False,
    cache: SplitCache | None = None,
) -> PreparedPlan:
    """Split every script of ``plan`` and decide from the statements which scripts must run
    outside a transaction (the prepared plan says so and why); ``cache`` answers for the
    texts it knows.

    Raises SQLSyntaxError for a script that does not parse, and ValidationFailed for a down
    without statements (unless ``allow_empty_down``: reverting it would change nothing but
    the history, so the next ``up`` would fail) or, with ``single_transaction``, for a step
    that cannot run in a transaction.
    """
    statements: dict[tuple[Version, Direction], tuple[Statement, ...]] = {}
    steps = []
    empty = []
    cache = cache if cache is not None else SplitCache(None)
    try:
        for step in plan.steps:
            split, script = cache.prepare(step.script, dialect, server_version=server_version)
            statements[(step.version, step.direction)] = split
            if step.direction is Direction.DOWN and not split and not allow_empty_down:
                empty.append(
                    Problem(
                        "empty-down",
                        step.version,
                        f"{step.version}_{step.migration.name}: its down SQL "
                        f"({step.script.path}) has no statements, so reverting it would change "
                        "nothing but the history",
                        "write the SQL that undoes its up, or pass "
                        + setting("allow_empty_down")
                        + " if there is nothing to undo",
                    )
                )
            if step.resume_after:
                script = _resumed(step, script, len(split))
            if script is not step.script:
                changed = (
                    replace(step.migration, up=script)
                    if step.direction is Direction.UP
                    else replace(step.migration, down=script)
                )
                step = Step(changed, step.direction, step.resume_after)
            steps.append(step)
    finally:
        cache.flush()  # (what was split before a syntax error need not be split again)
    if empty:
        raise ValidationFailed(empty)
    prepared = replace(plan, steps=tuple(steps))
    if single_transaction:
        problems = [
            Problem(
                "no-transaction",
                step.version,
                f"{step.version}_{step.migration.name}: {step.script.transaction_note}; "
                "the plan cannot run as one transaction",
                "drop --single-transaction, or apply up to the version before it first",
            )
            for step in prepared.steps
            if not step.script.transactional
        ]
        if problems:
            raise ValidationFailed(problems)
    return PreparedPlan(prepared, statements)


def _resumed(step: Step, script: Script, count: int) -> Script:
    """The script of a resumed step: statement by statement, as the run that failed."""
    done = step.resume_after
    if done >= count:
        raise ValidationFailed(
            [
                Problem(
                    "resume",
                    step.version,
                    f"cannot resume {step.version}_{step.migration.name}: {done} of its "
                    f"statements are recorded as done, and {script.path} now has {count}",
                    f"check the database, then run `migrata resolve {step.version} "
                    "--applied` or `--rolled-back`",
                )
            ]
        )
    return replace(
        script,
        transactional=False,
        transaction_note=f"resumed after statement {done} of {count}: the rest runs "
        "statement by statement, like the run that failed",
    )


#: ``check(statements of each script)`` → ``(script index, statement index, message)`` for
#: each statement that does not compile (:meth:`migrata.backends.base.Backend.check_statements`).
Checker = Callable[[Sequence[tuple[Statement, ...]]], Iterable[tuple[int, int, str]]]


def script_problems(
    plan: Plan, dialect: str, check: Checker, *, cache: SplitCache | None = None
) -> tuple[Problem, ...]:
    """What stops ``up`` in the pending scripts themselves: a statement that does not parse,
    or (where ``check`` can tell without running) does not compile; ``cache`` answers for the
    texts it knows (only texts that split are in it)."""
    problems = []
    checked: list[tuple[Step, tuple[Statement, ...]]] = []
    cache = cache if cache is not None else SplitCache(None)
    for step in plan.steps:
        try:
            checked.append((step, cache.split(step.script, dialect)))
        except SQLSyntaxError as exc:
            message = exc.message.removesuffix("; fix the SQL (nothing was run)")
            problems.append(Problem("syntax", step.version, message, "fix the SQL"))
    cache.flush()
    for index, position, message in check([s for _, s in checked]):
        step, statements = checked[index]
        st = statements[position]
        first = st.sql.strip().splitlines()[0] if st.sql.strip() else ""
        problems.append(
            Problem(
                "syntax",
                step.version,
                f"{step.script.path}:{st.line}:{st.column}: {message} (in `{first}`)",
                "fix the SQL",
            )
        )
    return tuple(problems)


#: What the run sends around a step: ``preview(step, statements)`` → (before, after).
Preview = Callable[[Step, tuple[Statement, ...]], tuple[Sequence[Query], Sequence[Query]]]


def describe_statements(
    prepared: PreparedPlan,
    preview: Preview | None = None,
    *,
    dialect: str | None = None,
    server_version: int | None = None,
) -> tuple[PlannedStatements, ...]:
    """Each step of ``prepared`` with its statements and, given ``preview`` (the runner's),
    what the run sends before and after them, as SQL text; given ``dialect``, the table lock
    each statement takes (as the server takes it, also on a table created just before)."""
    from .lint import statement_locks

    planned = []
    for step in prepared.plan.steps:
        stmts = prepared.statements_of(step)
        locks: tuple[LockInfo, ...] = ()
        if dialect is not None:
            locks = statement_locks(stmts, dialect, server_version=server_version)
        before, after = preview(step, stmts) if preview is not None else ((), ())
        planned.append(
            PlannedStatements(
                step.version.text,
                step.migration.name,
                step.direction,
                step.script.path,
                step.script.transactional,
                stmts,
                step.script.transaction_note,
                before=tuple(_as_text(q) for q in before),
                after=tuple(_as_text(q) for q in after),
                locks=locks,
            )
        )
    return tuple(planned)


def dry_report(plan: Plan) -> RunReport:
    """The report of a run that only planned ``plan``."""
    return RunReport(
        plan.direction,
        tuple(
            StepResult(
                s.version.text, s.migration.name, s.direction, 0.0, 0, s.script.transactional
            )
            for s in plan.steps
        ),
        dry_run=True,
    )


def _as_text(query: Query) -> str:
    """A query as SQL text, its parameters written as literals (for showing, not sending)."""
    if not query.params:
        return query.sql
    values = iter(query.params)

    def literal(value: object) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    return re.sub(r"%s|\?", lambda _: literal(next(values, None)), query.sql)
