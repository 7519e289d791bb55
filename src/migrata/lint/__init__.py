"""The migration linter: dangerous statements, found from the parsed SQL, with the safe SQL.

A pure package: no I/O, no database, no driver. PostgreSQL statements are read from pglast's
AST (imported when a script is linted); MySQL/MariaDB and ClickHouse statements from their
tokens. Objects created earlier in the same :func:`lint` call are new and empty: no rule
flags locking, rewriting or scanning them.

``-- migrata: allow=rule-id[,rule-id] -- reason`` suppresses a rule for the next statement (or,
in the file's leading comment block, for the file); suppressed findings are still returned
with ``allowed`` set.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from ..errors import MigrataError
from ..models import Migration, Script, Statement
from ..split import split_script
from . import clickhouse, mysql, postgres
from .allow import read_allowances
from .model import Catalog, Finding, Hit, LintOptions, LockInfo, Rule, Severity, TableInfo
from .rules import RULES
from .tokens import TokenRun

__all__ = [
    "RULES",
    "Catalog",
    "Finding",
    "LintOptions",
    "LockInfo",
    "Rule",
    "Severity",
    "TableInfo",
    "lint",
    "statement_locks",
]


def lint(
    migrations: Sequence[Migration],
    dialect: str,
    *,
    catalog: Catalog | None = None,
    options: LintOptions = LintOptions(),  # noqa: B008 (frozen: safe to share)
    existing: Sequence[Migration] = (),
) -> tuple[Finding, ...]:
    """Findings for the up scripts of ``migrations``, in order.

    Objects created by an earlier statement or migration of this call are new: nothing is
    reported about locking or rewriting them. ``existing`` are migrations already applied:
    their CREATEs tell the linter which indexes belong to which tables and what type a
    column has, but their objects are not new. A script that does not split or parse yields
    no findings (the caller reports syntax separately); an unknown dialect yields none.
    """
    version = (
        catalog.server_version
        if catalog is not None and catalog.server_version is not None
        else options.server_version
    )
    if dialect in _PARSED:
        return tuple(_lint_postgres(migrations, catalog, options, existing, version))
    check = _TOKEN_CHECKS.get(dialect)
    if check is not None:
        return tuple(_lint_tokens(migrations, dialect, catalog, options, check))
    return ()


# The rules are per dialect by nature (rules.py names each rule's dialects), so the linter
# picks its readers by dialect name, as data: PostgreSQL's statements are parsed by pglast,
# MySQL's and ClickHouse's read as tokens, other dialects (SQLite) have no rules.
_PARSED = frozenset({"postgresql"})
_TOKEN_CHECKS: dict[str, mysql.Check] = {"mysql": mysql.check, "clickhouse": clickhouse.check}


def _split(script: Script, dialect: str) -> tuple[Statement, ...] | None:
    try:
        return split_script(script, dialect)
    except (MigrataError, ValueError, RecursionError):
        return None


def _lint_postgres(
    migrations: Sequence[Migration],
    catalog: Catalog | None,
    options: LintOptions,
    existing: Sequence[Migration],
    version: int | None,
) -> Iterator[Finding]:
    state = postgres.RunState(server_version=version, catalog=catalog)
    for migration in existing:
        statements = _split(migration.up, "postgresql")
        if statements:
            for _ in _run_script(migration.up, statements, state):
                pass  # only what the statements create matters here
    # What existing migrations created exists already: it is not new.
    state.new_tables.clear()
    state.new_indexes.clear()
    for migration in migrations:
        if migration.skip_reason is not None:
            continue
        script = migration.up
        statements = _split(script, "postgresql")
        if not statements:
            continue
        allowances = read_allowances(script.text, statements, script.first_line)
        for index, hit in _run_script(script, statements, state):
            finding = _finding(migration, script, statements[index], hit, options, state)
            if finding is None:
                continue
            reason = allowances.reason(index, hit.rule)
            yield finding if reason is None else _allowed(finding, reason)


def _run_script(
    script: Script, statements: Sequence[Statement], state: postgres.RunState
) -> Iterator[tuple[int, Hit]]:
    try:
        nodes = postgres.parse_statements([s.sql for s in statements], script.text)
    except RecursionError:
        return
    state.in_block = False
    state.forced_transaction = script.explicit_transaction and script.transactional
    state.in_transaction = script.transactional
    state.end_transaction()
    for index, node in postgres.iter_nodes(nodes):
        try:
            _, hits = postgres.analyse(node, state)
        except (AttributeError, TypeError, ValueError, IndexError, RecursionError):
            continue  # a statement shape the rules do not know: no finding rather than a crash
        for hit in hits:
            yield index, hit
        if not script.transactional and not state.in_block:
            state.in_transaction = False
            state.end_transaction()
    state.end_transaction()


def _finding(
    migration: Migration,
    script: Script,
    statement: Statement,
    hit: Hit,
    options: LintOptions,
    state: postgres.RunState | None,
) -> Finding | None:
    rule = RULES[hit.rule]
    if rule.id in options.disabled or (rule.opt_in and rule.id not in options.enabled):
        return None
    severity: Severity = options.severities.get(rule.id, hit.severity or rule.severity)
    if hit.costly and state is not None:
        sizes = [state.rows_bytes(t) for t in hit.tables]
        if sizes and all(s is not None and s[0] == 0 for s in sizes):
            severity = "info"  # the catalog says the table is empty: the lock is brief
    return Finding(
        rule=rule.id,
        severity=severity,
        version=migration.version.text,
        path=script.path,
        line=statement.line,
        column=statement.column,
        statement=_first_line(statement.sql),
        message=hit.message,
        safe=hit.safe,
        lock=hit.lock if hit.lock is not None else rule.lock,
        tables=hit.tables,
        rewrites=rule.rewrites,
        scans=rule.scans,
    )


def _allowed(finding: Finding, reason: str) -> Finding:
    from dataclasses import replace

    return replace(finding, allowed=reason)


def _first_line(sql: str) -> str:
    for line in sql.strip().splitlines():
        text = line.strip()
        if text and not text.startswith("--"):
            return text
    return sql.strip().splitlines()[0] if sql.strip() else ""


@dataclass(frozen=True, slots=True)
class _TokenState:
    catalog: Catalog | None
    options: LintOptions


def _lint_tokens(
    migrations: Sequence[Migration],
    dialect: str,
    catalog: Catalog | None,
    options: LintOptions,
    check: mysql.Check,
) -> Iterator[Finding]:
    run = TokenRun(catalog=catalog, cluster=options.cluster)
    for migration in migrations:
        if migration.skip_reason is not None:
            continue
        script = migration.up
        statements = _split(script, dialect)
        if not statements:
            continue
        allowances = read_allowances(script.text, statements, script.first_line)
        for index, statement in enumerate(statements):
            try:
                hits = check(statement.sql, run)
            except (ValueError, IndexError, RecursionError):
                continue
            for hit in hits:
                finding = _finding(migration, script, statement, hit, options, None)
                if finding is None:
                    continue
                if hit.costly and run.is_empty(hit.tables):
                    finding = _with_severity(finding, "info")
                reason = allowances.reason(index, hit.rule)
                yield finding if reason is None else _allowed(finding, reason)


def _with_severity(finding: Finding, severity: Severity) -> Finding:
    from dataclasses import replace

    return replace(finding, severity=severity)


def statement_locks(
    statements: Sequence[Statement],
    dialect: str,
    *,
    server_version: int | None = None,
    new_tables: Collection[str] = (),
) -> tuple[LockInfo, ...]:
    """Per statement (same order): the strongest table lock PostgreSQL takes, the tables it
    locks, and whether it rewrites or scans one that is not new.

    Tables in ``new_tables`` (and those the statements create) are still listed with the
    lock they get, but are never said to be rewritten or scanned: they are empty. Other
    dialects, and statements that do not parse: a LockInfo with lock None.
    """
    if dialect not in _PARSED:
        return tuple(LockInfo(i, None, (), False, False) for i in range(len(statements)))
    state = postgres.RunState(server_version=server_version)
    for table in new_tables:
        state.add_new(table.lower())
    nodes = postgres.parse_statements([s.sql for s in statements])
    found = []
    for index, node in enumerate(nodes):
        if node is None:
            found.append(LockInfo(index, None, (), False, False))
            continue
        try:
            facts, _ = postgres.analyse(node, state)
        except (AttributeError, TypeError, ValueError, IndexError, RecursionError):
            found.append(LockInfo(index, None, (), False, False))
            continue
        found.append(LockInfo(index, facts.lock, tuple(facts.tables), facts.rewrites, facts.scans))
    return tuple(found)
