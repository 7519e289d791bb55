"""`migrata lint` beside squawk, on real folders and on labelled cases, and its speed.

For every PostgreSQL corpus in ``../shared/corpora`` (MANIFEST.tsv) whose layout migrata reads:

- migrata: ``Migrator(...).lint(all=True)`` — every up as on a fresh database, which is how
  squawk sees files too;
- squawk (PyPI ``squawk-cli``, a bench-only dependency: ``pip install squawk-cli``) on the same
  up files, in the same order;
- how many of squawk's findings fall on a table created earlier in the same run (an empty table
  nobody waits on), and how many of migrata's lock or rewrite findings do (must be 0; its style
  notes, such as prefer-timestamptz, hold for new tables too).

Then the labelled cases of ``tests/fixtures/lint_cases`` (dangerous or safe, each with its
reason): which dangerous ones each tool finds, which safe ones it flags. Last, the time
migrata takes to lint 1,000 generated migrations (goal: under 1 s).

    .venv/bin/python bench/bench_lint.py [--corpora ../shared/corpora] [--no-squawk]

Prints one line per corpus and a summary; exit 0 (a report, not a test), 1 when migrata
reports a finding on a table created in the same run or misses a labelled dangerous case.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from migrata import Migrator
from migrata.lint import lint
from migrata.models import Migration, Script, Version
from migrata.settings import Settings
from migrata.split import split_script

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = {"diesel", "sqlx", "golang-migrate", "goose", "flyway", "drizzle", "dbmate"}


def _created_and_touched(migrations: list[Migration]) -> list[tuple[str, int, set[str], set[str]]]:
    """Per statement of the ups, in order: (path, line, tables it touches, tables created
    before it in the run)."""
    import pglast
    from pglast import ast
    from pglast.visitors import Visitor

    class Tables(Visitor):  # type: ignore[misc]
        def __init__(self) -> None:
            self.names: set[str] = set()

        def visit_RangeVar(self, ancestors: object, node: ast.RangeVar) -> None:
            self.names.add(node.relname.lower())

    created: set[str] = set()
    rows = []
    for migration in migrations:
        for statement in split_script(migration.up, "postgresql"):
            try:
                tree = pglast.parse_sql(statement.sql)
            except pglast.parser.ParseError:
                continue
            visitor = Tables()
            visitor(tree)
            rows.append((migration.up.path, statement.line, visitor.names, set(created)))
            for raw in tree:
                stmt = raw.stmt
                if isinstance(stmt, ast.CreateStmt | ast.CreateTableAsStmt):
                    relation = stmt.relation if isinstance(stmt, ast.CreateStmt) else stmt.into.rel
                    created.add(relation.relname.lower())
    return rows


def _on_new_table(path: str, line: int, rows: list[tuple[str, int, set[str], set[str]]]) -> bool:
    """Whether the statement at ``path:line`` only touches tables created earlier in the run."""
    chosen = None
    for row_path, row_line, touched, created in rows:
        if row_path == path and row_line <= line:
            chosen = (touched, created)
    if chosen is None or not chosen[0]:
        return False
    touched, created = chosen
    return touched <= created


def _squawk(files: list[Path]) -> list[dict[str, object]] | None:
    binary = shutil.which("squawk") or str(Path(sys.executable).with_name("squawk"))
    if not Path(binary).exists():
        return None
    found: list[dict[str, object]] = []
    for start in range(0, len(files), 200):  # keep the command line short
        result = subprocess.run(
            [binary, "--reporter", "json", *map(str, files[start : start + 200])],
            capture_output=True,
            text=True,
            check=False,
        )
        found += json.loads(result.stdout or "[]")
    return found


def _corpora(root: Path) -> list[tuple[str, Path]]:
    rows = list(csv.reader((root / "MANIFEST.tsv").open(), delimiter="\t"))
    header = [h.lstrip("# ") for h in rows[0]]
    chosen = []
    for row in rows[1:]:
        entry = dict(zip(header, row, strict=False))
        if entry.get("dialect") == "pg" and entry.get("layout") in SUPPORTED:
            chosen.append((entry["name"], root / entry["name"]))
    return chosen


def corpus_line(name: str, path: Path, squawk: bool) -> tuple[str, int]:
    migrator = Migrator(Settings.of(directory=str(path)))
    migrations = list(migrator.migrations)
    started = time.perf_counter()
    report = migrator.lint(all=True)
    seconds = time.perf_counter() - started
    rows = _created_and_touched(migrations)
    # Lock and rewrite findings (style notes such as prefer-timestamptz hold for new tables too).
    costly = [f for f in report.reported if f.lock is not None or f.rewrites or f.scans]
    ours_new = sum(1 for f in costly if _on_new_table(f.path, f.line, rows))
    # Each migration as it was deployed: the earlier ones applied (pre-commit's view).
    deployed = {"error": 0, "warning": 0, "info": 0}
    for i, migration in enumerate(migrations):
        for f in lint([migration], "postgresql", existing=migrations[:i]):
            if f.allowed is None:
                deployed[f.severity] += 1
    squawk_text = "squawk not run"
    if squawk:
        squawk_text = "squawk not installed"
        files = [Path(m.up.path) for m in migrations]
        found = _squawk(files)
        if found is not None:
            on_new = sum(
                1 for f in found if _on_new_table(str(f["file"]), int(str(f["line"])) + 1, rows)
            )
            squawk_text = f"squawk {len(found):5d} ({on_new:5d} on tables created in the run)"
    line = (
        f"{name:<22} {len(migrations):4d} migrations  migrata {len(report.reported):4d} "
        f"({len(costly)} lock/rewrite, {ours_new} of them on new tables, {seconds:.2f} s; "
        f"one migration at a time: {deployed['error']} errors, {deployed['warning']} warnings, "
        f"{deployed['info']} info)  "
        f"{squawk_text}"
    )
    return line, ours_new


def _case_migration(
    version: str, sql: str, folder: Path, *, transactional: bool = True
) -> Migration:
    path = folder / f"{version}_case.sql"
    path.write_text(sql, encoding="utf-8")
    script = Script(str(path), sql, transactional=transactional)
    return Migration(Version.parse(version), "case", script, None, "x")


def labelled(squawk: bool) -> tuple[list[str], int]:
    """Each PostgreSQL labelled case of tests/fixtures/lint_cases: found (dangerous) or
    flagged (safe) by migrata, and by squawk on the same SQL (its earlier migrations in the
    same squawk run, as migrata sees them)."""
    from migrata.lint import LintOptions

    lines = []
    misses = 0
    cases = tomllib.loads((ROOT / "tests/fixtures/lint_cases/cases.toml").read_text())["case"]
    for number, case in enumerate(cases):
        if case.get("dialect", "postgresql") != "postgresql":
            continue
        tmp = Path(tempfile.mkdtemp())
        try:
            runs = [
                _case_migration(
                    "2", case["sql"], tmp, transactional=case.get("transactional", True)
                )
            ]
            if "before" in case:
                runs.insert(0, _case_migration("1", case["before"], tmp))
            existing = [_case_migration("0", case["existing"], tmp)] if "existing" in case else []
            findings = [
                f
                for f in lint(
                    runs,
                    "postgresql",
                    options=LintOptions(server_version=case.get("version")),
                    existing=existing,
                )
                if f.allowed is None and f.version == "2"
            ]
            dangerous = case["kind"] == "dangerous"
            ours = "found" if findings else "-"
            theirs = ""
            if squawk:
                found = _squawk([Path(m.up.path) for m in runs])
                mine = [f for f in found or [] if str(f["file"]).endswith("2_case.sql")]
                theirs = "" if found is None else ("found" if mine else "-")
        finally:
            shutil.rmtree(tmp)
        if dangerous != bool(findings):
            misses += 1
        lines.append(
            f"{case['kind']:<9} {case['name'][:52]:<52} migrata {ours:<6} squawk {theirs:<6}"
        )
    return lines, misses


def thousand() -> float:
    migrations = []
    for n in range(1, 1001):
        text = (
            f"CREATE TABLE t{n} (id bigint PRIMARY KEY, name text);\n"
            f"CREATE INDEX t{n}_name ON t{n} (name);\n"
            f"ALTER TABLE t{max(n - 1, 1)} ADD COLUMN c{n} integer;\n"
            f"INSERT INTO t{n} (id, name) VALUES ({n}, 'x');\n"
        )
        script = Script(f"{n}.sql", text)
        migrations.append(Migration(Version.parse(str(n)), f"m{n}", script, None, "x"))
    started = time.perf_counter()
    lint(migrations, "postgresql")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--no-squawk", action="store_true")
    args = parser.parse_args()
    squawk = not args.no_squawk
    failed = 0
    print("== PostgreSQL corpora, every up as on a fresh database")
    for name, path in _corpora(args.corpora):
        line, on_new = corpus_line(name, path, squawk)
        failed += on_new
        print(line, flush=True)
    print("\n== labelled cases")
    lines, misses = labelled(squawk)
    print("\n".join(lines))
    print(f"{len(lines)} cases, {misses} missed or wrongly flagged by migrata")
    seconds = thousand()
    print(f"\n== lint of 1,000 generated migrations: {seconds:.2f} s (goal: under 1 s)")
    return 1 if failed or misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
