"""Value types shared by every layer: frozen, slotted dataclasses with no behaviour beyond
ordering and small derived properties."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import total_ordering

from .exitcodes import ExitCode

_DIGITS = re.compile(r"\d+")

REPEATABLE_PREFIX = "R__"
#: How the history row of a migration whose revert failed (or was interrupted) begins its
#: ``error``: such a row cannot be resumed going up.
REVERTING = "reverting: "


@total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    """A migration version: shown as written, identified by ``key``, ordered by ``rank``.

    Most layouts read a version as numbers: ``0001`` and ``1`` are the same version, so are
    ``2025-01-08-120000`` and ``20250108120000``; dotted versions (``1.2.3``, ``1_2``) order
    part by part, and trailing zero parts do not count (``1.0`` is ``1``, as in Flyway).
    diesel and dbmate read a version as text (:meth:`parse_text`): ``1`` and ``01`` differ,
    and ``10`` sorts before ``9``. A layout whose order is neither (drizzle's journal,
    dbmate's file names) sets ``rank``. A repeatable migration's version is ``R__<name>``
    (see :meth:`repeatable`).

    Equal versions are the same migration; ``<`` is the order migrations run in.
    """

    text: str
    key: tuple[int, ...] = field(compare=False)
    #: A repeatable migration (Flyway's ``R__name.sql``): sorts after every versioned one,
    #: however large, then by name (``key`` holds the name's UTF-8 bytes).
    is_repeatable: bool = field(default=False, compare=False)
    #: ``key`` holds the text's code points, compared as text (diesel, dbmate), instead of
    #: numbers.
    textual: bool = field(default=False, compare=False)
    #: Where the layout runs this version, when that is not the order of ``key`` (drizzle's
    #: journal position, dbmate's file name); None: ``key`` orders.
    rank: tuple[int, ...] | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str) -> Version:
        """Read a version as numbers, as stored in history or written in a file name.

        Raises ValueError when ``text`` holds no digits.
        """
        stripped = text.strip()
        if stripped.startswith(REPEATABLE_PREFIX) and len(stripped) > len(REPEATABLE_PREFIX):
            return cls.repeatable(stripped[len(REPEATABLE_PREFIX) :])
        if re.fullmatch(r"\d+", stripped):
            return cls(stripped, (int(stripped),))
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{6}", stripped):
            return cls(stripped, (int(stripped.replace("-", "")),))
        parts = _DIGITS.findall(stripped)
        if not parts or not re.fullmatch(r"[\d._-]+", stripped):
            raise ValueError(f"not a version: {text!r}")
        key = [int(p) for p in parts]
        while len(key) > 1 and key[-1] == 0:
            key.pop()
        return cls(stripped, tuple(key))

    @classmethod
    def parse_text(cls, text: str, *, rank: tuple[int, ...] | None = None) -> Version:
        """Read a version as text, the way diesel and dbmate compare versions: every ``-`` is
        dropped (diesel stores ``2017-03-05-095748`` as ``20170305095748``) and the rest
        compares character by character. Raises ValueError for an empty version."""
        stripped = text.strip()
        identity = stripped.replace("-", "")
        if not identity:
            raise ValueError(f"not a version: {text!r}")
        return cls(stripped, tuple(ord(c) for c in identity), textual=True, rank=rank)

    @classmethod
    def repeatable(cls, name: str) -> Version:
        """The version of a repeatable migration called ``name``: re-applied whenever its
        checksum changes, after every versioned migration."""
        return cls(REPEATABLE_PREFIX + name, tuple(name.encode("utf-8")), is_repeatable=True)

    def read_alike(self, text: str) -> Version | None:
        """``text`` read the way this version was read (as numbers or as text), or None when
        it cannot be a version of that kind. ``v.read_alike(t) == v`` says whether ``t``
        names ``v``."""
        try:
            if self.textual and not text.strip().startswith(REPEATABLE_PREFIX):
                return Version.parse_text(text)
            return Version.parse(text)
        except ValueError:
            return None

    def names(self, text: str) -> bool:
        """Whether ``text`` (from a history row, another tool's table or a user) is this
        version: as written, or read the way this version was read."""
        return text.strip() == self.text or self.read_alike(text) == self

    @property
    def number(self) -> int | None:
        """The version as one integer when it is digits (dashes aside), else None."""
        digits = self.text.replace("-", "")
        return int(digits) if digits.isdigit() and not self.is_repeatable else None

    @property
    def order(self) -> tuple[bool, tuple[int, ...]]:
        """What ordering compares: versioned before repeatable, then ``rank`` or ``key``."""
        return (self.is_repeatable, self.rank if self.rank is not None else self.key)

    @property
    def identity(self) -> tuple[bool, bool, tuple[int, ...]]:
        """What equality compares."""
        return (self.is_repeatable, self.textual, self.key)

    # (``identity`` spelled out: sets and dicts of a thousand versions call these a lot.)
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return (
            self.key == other.key
            and self.is_repeatable == other.is_repeatable
            and self.textual == other.textual
        )

    def __hash__(self) -> int:
        return hash((self.is_repeatable, self.textual, self.key))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.order < other.order

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL statement of a script, with where it starts in the file (1-based)."""

    sql: str
    line: int
    column: int
    offset: int  # character offset of the statement's first character in the script text


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Time limits of a migration, in seconds; None leaves the limit to the next layer (a
    file's directive wins over the run's settings, which win over the defaults), and 0 means
    no limit.

    ``statement``: one statement (PostgreSQL ``statement_timeout``, MariaDB
    ``max_statement_time``…). ``migration``: the whole migration, enforced by cancelling what
    runs. ``lock``: how long a statement may wait for a lock before it gives way and the
    migration is retried (PostgreSQL ``lock_timeout``, MySQL ``lock_wait_timeout``, SQLite's
    busy timeout).
    """

    statement: float | None = None
    migration: float | None = None
    lock: float | None = None

    def over(self, base: Timeouts) -> Timeouts:
        """These limits, with ``base``'s where these say nothing."""
        return Timeouts(
            statement=self.statement if self.statement is not None else base.statement,
            migration=self.migration if self.migration is not None else base.migration,
            lock=self.lock if self.lock is not None else base.lock,
        )


@dataclass(frozen=True, slots=True)
class Script:
    """The text of one direction (up or down) of a migration."""

    path: str
    text: str
    transactional: bool = True
    #: 1-based line in ``path`` at which ``text`` starts (sections of single-file layouts).
    first_line: int = 1
    #: True when a marker in the file or the layout (``-- migrata: transaction``,
    #: ``-- no-transaction``, ``transaction:false``, ``NO TRANSACTION``, metadata.toml…) chose
    #: ``transactional``; such a choice is never overridden by statement analysis.
    explicit_transaction: bool = False
    #: Why the script runs the way it does, for plans (``CREATE INDEX CONCURRENTLY at line 3
    #: cannot run in a transaction``); None for the default.
    transaction_note: str | None = None
    #: The environments this script is for (``-- migrata: environments=dev,test``); None:
    #: every environment. Only the up script's count: they limit the whole migration.
    environments: tuple[str, ...] | None = None
    #: Time limits its directives set (``-- migrata: statement-timeout=10min``).
    timeouts: Timeouts = field(default_factory=Timeouts)
    #: ``(first, last)`` versions this baseline replaces (``-- migrata: squashes=…``).
    squashes: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Migration:
    """A migration as discovered on disk or in a package: nothing here touches a database."""

    version: Version
    name: str
    up: Script
    down: Script | None
    checksum: str
    #: Set for a migration the folder holds but migrata cannot run (a goose ``.go`` file):
    #: shown in status as skipped, with this reason, and never planned.
    skip_reason: str | None = None
    #: Facts of the layout that adopting the tool's history needs, as (key, value) pairs
    #: (drizzle's journal ``when``, Flyway's description…).
    source_info: tuple[tuple[str, str], ...] = ()
    #: Why the file's down SQL cannot be used although it has some (``down`` is then None):
    #: what its tool would refuse when reverting, e.g. a goose Down section whose last
    #: statement has no ``;``. Reverting the migration is refused with this reason.
    down_refusal: str | None = None

    def info(self, key: str) -> str | None:
        return next((v for k, v in self.source_info if k == key), None)

    @property
    def transactional(self) -> bool:
        return self.up.transactional

    @property
    def environments(self) -> tuple[str, ...] | None:
        """The environments this migration is for; None: every environment."""
        return self.up.environments

    def applies_to(self, environment: str | None) -> bool:
        """Whether this migration runs in ``environment`` (None: no environment is set, so a
        migration limited to some environments does not run)."""
        envs = self.up.environments
        return envs is None or (environment is not None and environment in envs)

    @property
    def repeatable(self) -> bool:
        return self.version.is_repeatable

    @property
    def reversible(self) -> bool:
        return self.down is not None


@dataclass(frozen=True, slots=True)
class Applied:
    """One row of the history table for the current service."""

    version: Version
    name: str
    checksum: str
    applied_at: datetime | str | None
    execution_ms: int | None
    applied_by: str | None
    success: bool
    statements_done: int | None = None
    statements_total: int | None = None
    error: str | None = None


class State(str, enum.Enum):
    """Where a migration stands, from the folder and the history together."""

    APPLIED = "applied"
    PENDING = "pending"
    CHANGED = "changed"  # applied, but the file's checksum differs now
    MISSING = "missing"  # applied, but the file is gone
    FAILED = "failed"  # a history row with success = false
    SKIPPED = "skipped"  # in the folder, but migrata cannot run it (a goose .go migration)
    #: In the folder, limited to environments the current one is not (seed data in
    #: production): never applied here, and not pending.
    NOT_APPLICABLE = "not-applicable"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class StatusEntry:
    version: Version
    name: str
    state: State
    applied: Applied | None
    migration: Migration | None
    #: True for a pending migration older than the newest applied one.
    out_of_order: bool = False


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that stops ``up``: what is wrong and the command that moves forward."""

    code: str  # failed | changed | missing | out-of-order | unknown-target | ...
    version: Version | None
    message: str
    next_step: str


class Direction(str, enum.Enum):
    UP = "up"
    DOWN = "down"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Step:
    """One migration to run in one direction."""

    migration: Migration
    direction: Direction
    #: Statements already done by an earlier run that failed outside a transaction
    #: (``up --resume``): the run starts after them.
    resume_after: int = 0

    @property
    def script(self) -> Script:
        if self.direction is Direction.UP:
            return self.migration.up
        assert self.migration.down is not None
        return self.migration.down

    @property
    def version(self) -> Version:
        return self.migration.version


@dataclass(frozen=True, slots=True)
class Plan:
    direction: Direction
    steps: tuple[Step, ...]
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class StepResult:
    version: str
    name: str
    direction: Direction
    duration_ms: float
    statements: int
    transactional: bool


@dataclass(frozen=True, slots=True)
class RunReport:
    direction: Direction
    steps: tuple[StepResult, ...]
    dry_run: bool = False

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(s.version for s in self.steps)


@dataclass(frozen=True, slots=True)
class Validation:
    """What ``migrata validate`` reports; keys match the JSON output."""

    applied: tuple[str, ...]
    expected: tuple[str, ...]
    pending: tuple[str, ...]
    failed: tuple[str, ...]
    problems: tuple[Problem, ...]
    #: Versions limited to other environments than the current one.
    not_applicable: tuple[str, ...] = ()

    @property
    def is_valid(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> ExitCode:
        """``migrata validate``'s exit code: 3 when something is wrong."""
        return ExitCode.VALIDATION if self.problems else ExitCode.OK


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Each migration's state and what in them would stop ``up``."""

    entries: tuple[StatusEntry, ...]
    problems: tuple[Problem, ...]

    @property
    def pending(self) -> tuple[StatusEntry, ...]:
        return tuple(e for e in self.entries if e.state is State.PENDING)

    @property
    def exit_code(self) -> ExitCode:
        """``status --exit-code``: 3 on a problem, else 5 when migrations are pending
        (those of other environments do not count), else 0."""
        if self.problems:
            return ExitCode.VALIDATION
        return ExitCode.PENDING if self.pending else ExitCode.OK


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    version: str
    event: str  # applied | reverted | failed | marked | unmarked | resolved | started
    checksum: str | None
    at: datetime | str | None
    actor: str | None
    detail: str | None
    #: The migration's name, from the folder (or the history when the file is gone).
    name: str | None = None


@dataclass(frozen=True, slots=True)
class StepEvent:
    """What ``on_step`` callbacks receive while a plan runs.

    ``kind`` is ``started`` (before a migration), ``statement`` (after each statement of a
    migration that runs outside a transaction), ``done`` (after it committed) or ``failed``.
    """

    kind: str
    version: str
    name: str
    direction: Direction
    position: int  # 1-based position of the migration in the plan
    count: int  # migrations in the plan
    statements_done: int = 0
    statements_total: int = 0
    duration_ms: float | None = None
    error: str | None = None
    #: Statements recorded as done before this run (a resumed migration): not run again.
    resumed_after: int = 0


class VersionIndex:
    """Finds the folder's version that a text names — a history row, another tool's table, a
    user's argument — as written, or read the way the folder's layout reads versions (as text
    for diesel and dbmate, where ``20170305095748`` names ``2017-03-05-095748``)."""

    def __init__(self, versions: Iterable[Version]) -> None:
        self._by_text: dict[str, Version] = {}
        self._by_identity: dict[Version, Version] = {}
        #: One version per way of reading versions that the folder uses.
        self._kinds: dict[bool, Version] = {}
        for version in versions:
            self._by_text.setdefault(version.text, version)
            self._by_identity.setdefault(version, version)
            self._kinds.setdefault(version.textual, version)

    def find(self, text: str) -> Version | None:
        found = self._by_text.get(text.strip())
        if found is not None:
            return found
        for kind in self._kinds.values():
            reread = kind.read_alike(text)
            if reread is not None and reread in self._by_identity:
                return self._by_identity[reread]
        return None


def as_in_folder(applied: Sequence[Applied], files: Iterable[Version]) -> list[Applied]:
    """``applied`` with each version the folder also has replaced by the folder's: read the
    way its layout reads versions, in its order (drizzle's journal). History rows hold the
    version as written, read as numbers until matched here."""
    index = VersionIndex(files)
    rows = []
    for row in applied:
        version = index.find(row.version.text)
        if version is not None and _differs(version, row.version):
            row = replace(row, version=version)
        rows.append(row)
    return rows


def _differs(a: Version, b: Version) -> bool:
    return (a.text, a.identity, a.order) != (b.text, b.identity, b.order)
