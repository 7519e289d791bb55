"""Rendering of results as text or JSON; with cli.py, the only module that prints.

JSON keys match the dataclass fields of :mod:`migrata.models`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .events import EVENT, FIELDS, PROGRESS
from .models import (
    AuditEvent,
    Migration,
    Plan,
    Problem,
    RunReport,
    State,
    StatusEntry,
    StepEvent,
    Validation,
    Version,
)

if TYPE_CHECKING:
    # (Types only: rendering a status must not import the runner and the bookkeeping.)
    from .check import CheckReport, DriftReport
    from .foreign import Adoption
    from .lint import Finding
    from .lint.report import LintReport
    from .migrator import PlannedStatements, Repair
    from .provision import Waited
    from .targets import TargetOutcome

__all__ = [
    "JsonLogFormatter",
    "LiveProgress",
    "audit_json",
    "json_error",
    "plan_json",
    "render_audit",
    "render_created",
    "render_dropped",
    "render_event",
    "render_plan",
    "render_report",
    "render_status",
    "render_validation",
    "render_waited",
    "report_json",
    "status_json",
    "target_header",
    "target_json",
    "target_status_header",
    "to_json",
    "validation_json",
    "waited_json",
]


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=_default, ensure_ascii=False)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value or "")[:19].replace("T", " ")


def problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "code": problem.code,
        "version": problem.version.text if problem.version else None,
        "message": problem.message,
        "next_step": problem.next_step,
    }


# -- status -----------------------------------------------------------------------------------


def status_json(
    entries: Sequence[StatusEntry],
    *,
    database: str,
    layout: str,
    problems: Sequence[Problem],
    also: Sequence[str] = (),
    warnings: Sequence[str] = (),
    ignored: Sequence[str] = (),
    environment: str | None = None,
) -> dict[str, Any]:
    rows = []
    for e in entries:
        a = e.applied
        rows.append(
            {
                "version": e.version.text,
                "name": e.name,
                "state": e.state.value,
                "out_of_order": e.out_of_order,
                "repeatable": e.version.is_repeatable,
                "skip_reason": e.migration.skip_reason if e.migration else None,
                "environments": _environments(e),
                "transactional": e.migration.transactional if e.migration else None,
                "path": e.migration.up.path if e.migration else None,
                "checksum": e.migration.checksum if e.migration else None,
                "applied_checksum": a.checksum if a else None,
                "applied_at": a.applied_at if a else None,
                "execution_ms": a.execution_ms if a else None,
                "applied_by": a.applied_by if a else None,
                "statements_done": a.statements_done if a else None,
                "statements_total": a.statements_total if a else None,
                "error": a.error if a else None,
            }
        )
    counts = {state.value: sum(1 for e in entries if e.state is state) for state in State}
    current = _current(entries)
    return {
        "database": database,
        "environment": environment,
        "layout": layout,
        "layout_also": list(also),
        "current_version": current.text if current else None,
        "counts": counts,
        "migrations": rows,
        "problems": [problem_json(p) for p in problems],
        "warnings": list(warnings),
        "ignored": list(ignored),
    }


def _environments(entry: StatusEntry) -> list[str] | None:
    envs = entry.migration.environments if entry.migration is not None else None
    return list(envs) if envs is not None else None


def _current(entries: Sequence[StatusEntry]) -> Version | None:
    """The newest applied versioned migration, edited since or not (repeatables have no place
    in the order)."""
    return max(
        (
            e.version
            for e in entries
            if e.state in {State.APPLIED, State.CHANGED} and not e.version.is_repeatable
        ),
        default=None,
    )


def layout_line(layout: str, also: Sequence[str]) -> str:
    if also:
        return f"layout: {layout} (the files also fit: {', '.join(also)})"
    return f"layout: {layout}"


def render_status(
    entries: Sequence[StatusEntry],
    *,
    database: str,
    layout: str,
    problems: Sequence[Problem],
    also: Sequence[str] = (),
    environment: str | None = None,
) -> str:
    lines = [f"database: {database}", layout_line(layout, also)]
    current = _current(entries)
    named = next((e.name for e in entries if e.version == current), "") if current else ""
    lines.append(
        f"current version: {current.text}{f' ({named})' if named else ''}"
        if current is not None
        else "current version: none (nothing applied)"
    )
    if environment is not None or any(e.state is State.NOT_APPLICABLE for e in entries):
        lines.append(f"environment: {environment or '(none: set --env or MIGRATA_ENV)'}")
    if not entries:
        lines.append("no migrations found")
        return "\n".join(lines)
    width = max(len(e.version.text) for e in entries)
    state_width = max(8, *(len(e.state.value) for e in entries))
    for e in entries:
        state = e.state.value
        extra = ""
        if e.state is State.APPLIED and e.applied is not None:
            extra = f"  {_when(e.applied.applied_at)}"
        elif e.state is State.FAILED and e.applied is not None:
            if e.applied.statements_total:
                extra = (
                    f"  at statement {(e.applied.statements_done or 0) + 1} of "
                    f"{e.applied.statements_total}"
                )
            if e.applied.error:
                first, *more = e.applied.error.strip().splitlines()
                extra += f": {first}"
                # The failing statement, on its own line (recorded by runs outside a
                # transaction).
                extra += "".join(f"\n{' ' * (width + 4)}{line}" for line in more[:1])
        elif e.state is State.SKIPPED and e.migration is not None:
            extra = f"  ({e.migration.skip_reason})"
        elif e.state is State.NOT_APPLICABLE and e.migration is not None:
            envs = ", ".join(e.migration.environments or ())
            here = f"this is {environment}" if environment else "no environment is set"
            extra = f"  (environments: {envs}; {here})"
        elif e.state is State.PENDING and e.applied is not None:
            extra = "  (repeatable, changed: applied again)"
        elif e.out_of_order:
            extra = "  (out of order)"
        lines.append(f"  {e.version.text:<{width}}  {state:<{state_width}} {e.name}{extra}")
    counts = {s: sum(1 for e in entries if e.state is s) for s in State}
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    lines.append(summary)
    for p in problems:
        lines.append(f"problem: {p.message} -> {p.next_step}")
    return "\n".join(lines)


# -- several targets -------------------------------------------------------------------------

#: The service a target has when its config names none (see Settings.service).
_DEFAULT_SERVICE = "default"


def target_header(name: str, database: str, service: str) -> str:
    """The line before a target's output: ``== target main (postgresql://app:***@db/app)``,
    with ``, service NAME`` when the target has its own service. ``database`` is redacted."""
    extra = f", service {service}" if service != _DEFAULT_SERVICE else ""
    return f"== target {name} ({database}{extra})"


def target_status_header(
    name: str,
    database: str,
    service: str,
    *,
    entries: Sequence[StatusEntry] | None = None,
    problems: Sequence[Problem] = (),
) -> str:
    """The line before a target's status: ``== target billing (service billing): current
    0003, 2 pending`` (the redacted database instead of the service when it has none of its
    own; the database is on the next line either way)."""
    label = f"service {service}" if service != _DEFAULT_SERVICE else database
    line = f"== target {name} ({label})"
    if entries is None:
        return line
    current = _current(entries)
    pending = sum(1 for e in entries if e.state is State.PENDING)
    line += f": current {current.text if current else 'none'}, {pending} pending"
    if problems:
        line += f", {len(problems)} problem(s)"
    return line


def target_json(
    outcome: TargetOutcome[Any], payload: Mapping[str, Any] | None, *, error: str | None
) -> dict[str, Any]:
    """One target of a command's ``{"targets": [...]}`` document: the outcome's fields, then
    the command's usual object (absent when the target failed). ``error`` is the outcome's
    error, already scrubbed of secrets."""
    return {
        "name": outcome.name,
        "service": outcome.service,
        "database": outcome.database,
        "state": outcome.state,
        "error": error,
        **(payload or {}),
    }


# -- run reports ------------------------------------------------------------------------------


def report_json(report: RunReport) -> dict[str, Any]:
    return {
        "direction": report.direction.value,
        "dry_run": report.dry_run,
        "steps": [
            {
                "version": s.version,
                "name": s.name,
                "direction": s.direction.value,
                "duration_ms": round(s.duration_ms, 3),
                "statements": s.statements,
                "transactional": s.transactional,
            }
            for s in report.steps
        ],
    }


def render_report(report: RunReport) -> str:
    verb = "applied" if report.direction.value == "up" else "reverted"
    if report.dry_run:
        if not report.steps:
            return f"dry run: nothing would be {verb}"
        lines = [f"dry run: would have {verb}:"]
        lines += [f"  {s.version}_{s.name}" for s in report.steps]
        return "\n".join(lines)
    if not report.steps:
        return (
            "nothing to apply: the database is up to date"
            if verb == "applied"
            else "nothing to revert"
        )
    total = sum(s.duration_ms for s in report.steps)
    return f"{verb} {len(report.steps)} migration(s) in {total:.0f} ms"


def render_event(event: StepEvent) -> str | None:
    """One progress line per finished migration (None for events not shown)."""
    if event.kind != "done":
        return None
    verb = "applied" if event.direction.value == "up" else "reverted"
    ran = event.statements_total - event.resumed_after
    resumed = (
        f", resumed after {event.resumed_after} of {event.statements_total}"
        if event.resumed_after
        else ""
    )
    return (
        f"{verb} {event.version}_{event.name} "
        f"({ran} statement(s){resumed}, {event.duration_ms or 0:.0f} ms)"
    )


# -- validate ---------------------------------------------------------------------------------


def validation_json(result: Validation) -> dict[str, Any]:
    return {
        "applied": list(result.applied),
        "expected": list(result.expected),
        "pending": list(result.pending),
        "failed": list(result.failed),
        "not_applicable": list(result.not_applicable),
        "is_valid": result.is_valid,
        "problems": [problem_json(p) for p in result.problems],
    }


def render_validation(result: Validation) -> str:
    lines = [
        (
            f"applied: {len(result.applied)}, expected: {len(result.expected)}, "
            f"pending: {len(result.pending)}, failed: {len(result.failed)}"
            + (
                f", not applicable here: {len(result.not_applicable)}"
                if result.not_applicable
                else ""
            )
        )
    ]
    if result.is_valid:
        lines.append("valid")
    else:
        lines += [f"problem: {p.message} -> {p.next_step}" for p in result.problems]
    return "\n".join(lines)


# -- history ----------------------------------------------------------------------------------


def audit_json(events: Sequence[AuditEvent]) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "version": e.version,
            "name": e.name,
            "event": e.event,
            "checksum": e.checksum,
            "at": e.at,
            "actor": e.actor,
            "detail": e.detail,
        }
        for e in events
    ]


def render_audit(events: Sequence[AuditEvent]) -> str:
    if not events:
        return "no history yet"
    lines = []
    for e in events:
        head = f"{_when(e.at)}  {e.event:<9} {e.version}" + (f"_{e.name}" if e.name else "")
        first, *more = (e.detail or "").strip().splitlines() or [""]
        lines.append(f"{head}  {e.actor or ''}" + (f"  {first}" if first else ""))
        # A failure's detail goes on over several lines (the failing statement): indented.
        lines.extend(f"{' ' * 23}{line}" for line in more)
    return "\n".join(lines)


# -- plan -------------------------------------------------------------------------------------


def plan_json(steps: Sequence[PlannedStatements]) -> list[dict[str, Any]]:
    return [
        {
            "version": step.version,
            "name": step.name,
            "direction": step.direction.value,
            "path": step.path,
            "transactional": step.transactional,
            "transaction_note": step.transaction_note,
            "before": list(step.before),
            "statements": [
                {
                    "sql": st.sql,
                    "line": st.line,
                    "column": st.column,
                    **({"locks": _lock_json(step.locks[i])} if step.locks else {}),
                }
                for i, st in enumerate(step.statements)
            ],
            "after": list(step.after),
        }
        for step in steps
    ]


def _lock_json(info: Any) -> dict[str, Any]:
    return {
        "lock": info.lock,
        "tables": list(info.tables),
        "rewrites": info.rewrites,
        "scans": info.scans,
    }


def lock_comment(info: Any) -> str | None:
    """``-- locks: ACCESS EXCLUSIVE on events; rewrites the table`` for a statement that takes
    a table lock (None for one that takes none)."""
    if info.lock is None:
        return None
    text = f"-- locks: {info.lock}"
    if info.tables:
        text += " on " + ", ".join(info.tables)
    if info.rewrites:
        text += "; rewrites the table"
    elif info.scans:
        text += "; scans the table"
    return text


def render_plan(
    plan: Plan,
    steps: Sequence[PlannedStatements],
    *,
    history_table: str,
    layout: str | None = None,
    also: Sequence[str] = (),
    locks: bool = False,
) -> str:
    """The SQL ``up`` (or ``down``) would send, in order: the transaction framing, the time
    limits, the session SQL, the statements and the history writes; with ``locks``, a comment
    before each statement that takes a table lock says which, on what, and whether it
    rewrites or scans the table."""
    out = [f"-- {layout_line(layout, also)}"] if layout is not None else []
    if not steps:
        nothing = "revert" if plan.direction.value == "down" else "apply"
        return "\n".join([*out, f"-- nothing to {nothing}"]) + "\n"
    for step in steps:
        mode = (
            "in one transaction"
            if step.transactional
            else "outside a transaction, statement by statement"
        )
        verb = "revert" if step.direction.value == "down" else "apply"
        out.append(f"-- {verb} {step.version}_{step.name} ({step.path}), {mode}")
        if step.transaction_note:
            out.append(f"-- ({step.transaction_note})")
        framed = bool(step.before or step.after)
        if not framed and step.transactional:
            out.append("BEGIN;")
        out += [_terminated(sql) for sql in step.before]
        for index, statement in enumerate(step.statements):
            shown = lock_comment(step.locks[index]) if locks and step.locks else None
            if shown is not None:
                out.append(shown)
            out.append(_terminated(statement.sql))
        if framed:
            out += [_terminated(sql) for sql in step.after]
        else:
            out.append(f"-- + record {step.version} in {history_table}")
            if step.transactional:
                out.append("COMMIT;")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _terminated(sql: str) -> str:
    """``sql`` as a line of a script: a ``;`` after it, on a line of its own after a
    trailing comment (or nothing after a comment line that describes)."""
    text = sql.rstrip()
    if text.startswith("-- "):
        return text
    last = text.rsplit("\n", 1)[-1]
    return text + ("\n;" if "--" in last or "#" in last else ";")


# -- adopt and baseline -----------------------------------------------------------------------


def adoption_json(adoption: Adoption, *, dry_run: bool) -> dict[str, Any]:
    return {
        "tool": adoption.tool,
        "table": adoption.table,
        "dry_run": dry_run,
        "record": [
            {"version": m.version.text, "name": m.name, "checksum": checksum}
            for m, checksum in adoption.record
        ],
        "already": list(adoption.already),
        "pending": list(adoption.pending),
    }


def render_adoption(adoption: Adoption, *, dry_run: bool) -> str:
    verb = "would record" if dry_run else "recorded"
    head = (
        f"{adoption.tool} history in {adoption.table}: {verb} {len(adoption.record)} "
        "migration(s) as applied, without running them"
    )
    lines = [head]
    lines += [f"  {m.version}_{m.name}" for m, _ in adoption.record]
    if adoption.already:
        lines.append(f"already in migrata's history: {', '.join(adoption.already)}")
    if adoption.pending:
        lines.append(
            f"not applied by {adoption.tool}, `up` will run: {', '.join(adoption.pending)}"
        )
    if dry_run:
        lines.append("dry run: nothing was recorded")
    return "\n".join(lines)


def repairs_json(repairs: Sequence[Repair], *, dry_run: bool) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "repaired": [
            {
                "version": r.version,
                "name": r.name,
                "path": r.path,
                "old_checksum": r.old_checksum,
                "new_checksum": r.new_checksum,
            }
            for r in repairs
        ],
    }


def render_repairs(repairs: Sequence[Repair], *, dry_run: bool) -> str:
    if not repairs:
        return "nothing to repair: no applied file was edited"
    verb = "would record" if dry_run else "recorded"
    lines = [
        f"{verb} the current checksum of {r.version}_{r.name} ({r.path}): "
        f"{r.old_checksum} -> {r.new_checksum}"
        for r in repairs
    ]
    return "\n".join(lines)


def render_baseline(migrations: Sequence[Migration], *, dry_run: bool) -> str:
    verb = "would record" if dry_run else "recorded"
    lines = [f"baseline: {verb} {len(migrations)} migration(s) as applied, without running them"]
    lines += [f"  {m.version}_{m.name}" for m in migrations]
    return "\n".join(lines)


# -- waiting, creating and dropping databases -------------------------------------------------


def waited_json(waited: Waited) -> dict[str, Any]:
    return {
        "database": waited.database,
        "attempts": waited.attempts,
        "waited_s": round(waited.waited_s, 3),
    }


def render_waited(waited: Waited) -> str:
    if waited.attempts == 1:
        return f"{waited.database}: accepting connections"
    return (
        f"{waited.database}: accepting connections after {waited.waited_s:.1f}s "
        f"({waited.attempts} attempts)"
    )


def render_created(database: str, created: bool) -> str:
    return f"created database {database}" if created else f"database {database} exists already"


def render_dropped(database: str, dropped: bool) -> str:
    return f"dropped database {database}" if dropped else f"database {database} does not exist"


# -- logs for machines ------------------------------------------------------------------------


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log record, for ``--log-format json`` (or an app's own handler):
    ``time`` (UTC, ISO 8601), ``level``, ``event`` (``migration_applied``…; ``log`` for a
    record that is not an event), ``message``, then the event's fields.

    ``scrub`` is applied to every string before it is encoded, so a password removed from the
    text cannot survive in an escaped form; ``extra`` adds fields to every record (the target
    of a run over several databases).
    """

    def __init__(
        self,
        scrub: Callable[[str], str] = lambda text: text,
        extra: Callable[[], Mapping[str, Any]] = dict,
    ) -> None:
        super().__init__()
        self._scrub = scrub
        self._extra = extra

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, EVENT, "log"),
            "message": record.getMessage(),
        }
        document.update(self._extra())
        document.update(getattr(record, FIELDS, None) or {})
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(self._clean(document), default=str, ensure_ascii=False)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._scrub(value)
        if isinstance(value, Mapping):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        if isinstance(value, datetime):
            return value.isoformat()
        return value


def json_error(message: str, *, exit_code: int, kind: str) -> str:
    """The last line of a failed run under ``--log-format json``."""
    return json.dumps(
        {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "error",
            "event": "error",
            "message": message,
            "error": kind,
            "exit_code": exit_code,
        },
        ensure_ascii=False,
    )


# -- progress for people ----------------------------------------------------------------------


class LiveProgress:
    """``on_step`` for a terminal: a live bar while a run of several migrations goes (rich,
    imported only then), each finished migration printed above it; a run of one migration gets
    the plain line. Call :meth:`close` when the run ends, however it ends."""

    def __init__(self, plain: Callable[[str], None]) -> None:
        self._plain = plain
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, event: StepEvent) -> None:
        if event.kind == "started" and self._progress is None and event.count >= 2:
            self._start(event.count)
        if self._progress is None:
            line = render_event(event)
            if line is not None:
                self._plain(line)
            return
        verb = "applying" if event.direction.value == "up" else "reverting"
        if event.kind == "started":
            detail = f"{event.statements_total} statement(s)"
            self._progress.update(
                self._task,
                completed=event.position - 1,
                description=f"{verb} {event.version}_{event.name}",
                detail=detail,
            )
        elif event.kind == "statement":
            detail = f"statement {event.statements_done} of {event.statements_total}"
            self._progress.update(self._task, detail=detail)
        elif event.kind == "done":
            line = render_event(event)
            if line is not None:
                self._progress.console.print(line, highlight=False, markup=False)
            self._progress.update(self._task, completed=event.position, detail="")
        elif event.kind == "failed":
            self.close()

    def _start(self, count: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            transient=True,
        )
        self._task = self._progress.add_task("migrating", total=count, detail="")
        self._progress.start()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


# -- the log on stderr ------------------------------------------------------------------------


class _Scrubbing(logging.Filter):
    """Belt and braces: no log record leaves with a database password in it."""

    def __init__(self, scrub: Callable[[str], str]) -> None:
        super().__init__()
        self._scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class _TextFilter(logging.Filter):
    """Text logs: records at the chosen level or above, progress events (waiting for the
    database, a lock-timeout retry…) unless -q, and never an error that is raised too (the
    command prints the exception itself) or an event whose outcome the command prints."""

    def __init__(
        self, threshold: int, progress: bool, printed: Callable[[], frozenset[str]]
    ) -> None:
        super().__init__()
        self._threshold = threshold
        self._progress = progress
        self._printed = printed

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "migrata_raised", False):
            return False
        if getattr(record, EVENT, None) in self._printed():
            return False
        if record.levelno >= self._threshold:
            return True
        return self._progress and bool(getattr(record, PROGRESS, False))


class _TextFormatter(logging.Formatter):
    """``migrata: warning: …`` (the level in lower case), and a progress line as it is."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if record.levelno == logging.INFO and getattr(record, PROGRESS, False):
            return f"migrata: {text}"
        return f"migrata: {record.levelname.lower()}: {text}"


def install_log_handler(
    *,
    verbosity: int,
    log_format: str,
    scrub: Callable[[str], str],
    context: Callable[[], Mapping[str, Any]],
    printed: Callable[[], frozenset[str]] = frozenset,
) -> None:
    """One stderr handler on the ``migrata`` logger (replacing one installed before): text at
    the level ``verbosity`` asks (-1 errors only, 0 warnings and progress, 1 info, 2 debug),
    or one JSON object per event (``log_format="json"``, with ``context()``'s fields). Every
    record is scrubbed of secrets; events in ``printed()`` are left out of text logs."""
    from .events import logger as root

    for handler in [h for h in root.handlers if getattr(h, "_migrata", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._migrata = True  # type: ignore[attr-defined]
    handler.addFilter(_Scrubbing(scrub))
    if log_format == "json":
        # Every event, from INFO (DEBUG with -vv: each statement); -q keeps errors only.
        threshold = {-1: logging.ERROR, 0: logging.INFO, 1: logging.INFO}.get(
            verbosity, logging.DEBUG
        )
        handler.setFormatter(JsonLogFormatter(scrub, context))
        handler.setLevel(threshold)
        root.setLevel(threshold)
    else:
        threshold = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
            verbosity, logging.DEBUG
        )
        handler.setFormatter(_TextFormatter())
        handler.addFilter(_TextFilter(threshold, verbosity >= 0, printed))
        root.setLevel(min(threshold, logging.INFO) if verbosity >= 0 else threshold)
    root.addHandler(handler)
    root.propagate = False


# -- lint -------------------------------------------------------------------------------------


def render_lint(report: LintReport) -> str:
    """Each finding as ``file:line:col: severity [rule] message``, its statement and the safe
    way; allowed findings in a line each; a summary last."""
    out: list[str] = []
    for f in report.findings:
        if f.allowed is not None:
            continue
        out.append(f"{f.path}:{f.line}:{f.column}: {f.severity} [{f.rule}] {f.message}")
        if f.statement:
            out.append(f"    {f.statement}")
        detail = [f"lock: {f.lock}"] if f.lock else []
        if f.rewrites:
            detail.append("rewrites the table")
        elif f.scans:
            detail.append("scans the table")
        if detail:
            out.append(f"    ({', '.join(detail)})")
        out.append("    safe way:")
        out += [f"      {line}" for line in f.safe.splitlines()]
        out.append("")
    allowed = [f for f in report.findings if f.allowed is not None]
    for f in allowed:
        why = f" -- {f.allowed}" if f.allowed else ""
        out.append(f"{f.path}:{f.line}:{f.column}: allowed [{f.rule}]{why}")
    if allowed:
        out.append("")
    counts = {
        s: sum(1 for f in report.reported if f.severity == s) for s in ("error", "warning", "info")
    }
    summary = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)
    out.append(
        f"linted {len(report.checked)} migration(s) ({report.context}): "
        + (summary or "no findings")
        + (f", {len(allowed)} allowed" if allowed else "")
    )
    return "\n".join(out)


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "severity": f.severity,
        "version": f.version,
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "statement": f.statement,
        "message": f.message,
        "safe": f.safe,
        "lock": f.lock,
        "tables": list(f.tables),
        "rewrites": f.rewrites,
        "scans": f.scans,
        "allowed": f.allowed,
    }


def lint_json(report: LintReport) -> dict[str, Any]:
    return {
        "checked": list(report.checked),
        "context": report.context,
        "fail_on": report.fail_on,
        "failed": bool(report.failing),
        "findings": [_finding_json(f) for f in report.findings],
    }


def _escape_github(text: str, *, property_value: bool = False) -> str:
    # GitHub's workflow-command escaping: %, CR and LF always; ':' and ',' in properties.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def lint_github(report: LintReport) -> str:
    """One GitHub Actions annotation per reported finding (``::error file=…,line=…::…``)."""
    level = {"error": "error", "warning": "warning", "info": "notice"}
    lines = []
    for f in report.reported:
        props = ",".join(
            [
                f"file={_escape_github(f.path, property_value=True)}",
                f"line={f.line}",
                f"col={f.column}",
                f"title={_escape_github(f.rule, property_value=True)}",
            ]
        )
        body = _escape_github(f"{f.message}\nsafe way:\n{f.safe}")
        lines.append(f"::{level[f.severity]} {props}::{body}")
    return "\n".join(lines)


def lint_sarif(report: LintReport, rules: Mapping[str, Any], *, version: str) -> dict[str, Any]:
    """The report as SARIF 2.1.0 (GitHub code scanning); allowed findings carry an
    in-source suppression with its reason."""
    level = {"error": "error", "warning": "warning", "info": "note"}
    used = sorted({f.rule for f in report.findings})
    results = []
    for f in report.findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": used.index(f.rule),
            "level": level[f.severity],
            "message": {"text": f"{f.message}\nSafe way:\n{f.safe}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path},
                        "region": {"startLine": f.line, "startColumn": f.column},
                    }
                }
            ],
        }
        if f.allowed is not None:
            result["suppressions"] = [{"kind": "inSource", "justification": f.allowed}]
        results.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "migrata",
                        "version": version,
                        "informationUri": "https://pypi.org/project/migrata/",
                        "rules": [
                            {
                                "id": rule,
                                "shortDescription": {"text": rules[rule].summary},
                                "defaultConfiguration": {"level": level[rules[rule].severity]},
                            }
                            for rule in used
                        ],
                    }
                },
                "results": results,
            }
        ],
    }


def render_rules(rules: Mapping[str, Any]) -> str:
    """The rules as a table: id, severity, dialects, lock, rewrites/scans, summary."""
    lines = []
    for rule in rules.values():
        effect = "rewrites" if rule.rewrites else "scans" if rule.scans else "-"
        extra = " (opt-in)" if rule.opt_in else ""
        lines.append(
            f"{rule.id:<32} {rule.severity:<8} {','.join(rule.dialects):<22} "
            f"{rule.lock or '-':<24} {effect:<9} {rule.summary}{extra}"
        )
    return "\n".join(lines)


# -- check ------------------------------------------------------------------------------------


def render_check(report: CheckReport) -> str:
    """One line per down checked, the difference under a down that does not restore its
    schema, and a summary."""
    out = [f"checked in a scratch database ({report.database}): applied {len(report.applied)}"]
    if report.failed_up:
        out.append(f"failed on the way up: {report.failed_up}")
    for step in report.steps:
        label = f"{step.version}_{step.name}"
        if step.outcome == "restores":
            out.append(f"ok       down of {label} restores the schema")
        elif step.outcome == "no-down":
            out.append(f"-        {label} has no down SQL: the downs below it are not checked")
        elif step.outcome == "failed":
            out.append(f"FAILED   down of {label}: {step.error}")
        else:
            out.append(f"DIFFERS  down of {label} does not restore the schema:")
            for line in step.difference:
                verb = "leaves  " if line.startswith("+") else "removes "
                out.append(f"           {verb}{line[1:].strip()}")
    if report.reapplied:
        out.append("DIFFERS  applying everything again after the downs:")
        out += [f"           {line}" for line in report.reapplied]
    for step in report.repeated:
        label = f"{step.version}_{step.name}" if step.name != "repeatable" else step.version
        if step.outcome == "restores":
            out.append(f"ok       {label} runs again without changing the schema")
        elif step.outcome == "failed":
            out.append(f"FAILED   running {label} again: {step.error}")
        else:
            out.append(f"DIFFERS  {label} changes the schema when it runs again:")
            out += [f"           {line}" for line in step.difference]
    bad = sum(1 for s in report.steps if s.outcome in {"differs", "failed"})
    again = sum(1 for s in report.repeated if s.outcome in {"differs", "failed"})
    out.append(
        "no difference"
        if not report.exit_code
        else f"{bad} down(s) do not restore their schema"
        + ("; the re-apply differs" if report.reapplied else "")
        + (f"; {again} repeatable migration(s) are not idempotent" if again else "")
    )
    return "\n".join(out)


def check_json(report: CheckReport) -> dict[str, Any]:
    return {
        "database": report.database,
        "applied": list(report.applied),
        "failed_up": report.failed_up,
        "steps": [
            {
                "version": s.version,
                "name": s.name,
                "outcome": s.outcome,
                "difference": list(s.difference),
                "error": s.error,
            }
            for s in report.steps
        ],
        "reapplied": list(report.reapplied),
        "repeated": [
            {
                "version": s.version,
                "name": s.name,
                "outcome": s.outcome,
                "difference": list(s.difference),
                "error": s.error,
            }
            for s in report.repeated
        ],
        "ok": not report.exit_code,
    }


def render_drift(report: DriftReport) -> str:
    """What the database has that its migrations do not make, what it lacks, the edited
    applied files, and the SQL that undoes what can safely be undone."""
    head = f"{report.database} against its migrations up to {report.version or '(none)'}"
    if not report.exit_code:
        return f"{head}: no drift"
    out = [f"{head}:"]
    if report.extra:
        out.append("in the database, made by no migration:")
        out += [f"  + {line}" for line in report.extra]
    if report.missing:
        out.append("made by the migrations, missing from the database:")
        out += [f"  - {line}" for line in report.missing]
    if report.changed:
        out.append(
            "applied files edited since (their checksums differ): " + ", ".join(report.changed)
        )
    if report.repair:
        out.append("to bring the database back:")
        out += [f"  {sql}" for sql in report.repair]
    return "\n".join(out)


def drift_json(report: DriftReport) -> dict[str, Any]:
    return {
        "database": report.database,
        "version": report.version,
        "drift": bool(report.exit_code),
        "extra": list(report.extra),
        "missing": list(report.missing),
        "changed": list(report.changed),
        "repair": list(report.repair),
    }
