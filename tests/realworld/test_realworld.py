"""migrata runs real migration folders exactly as their own tools would.

For each corpus of MANIFEST.tsv (see corpora.py for where they are), on two fresh databases:
the baseline applies the migrations with the plain client in the tool's order and transaction
mode (baseline.py reads the folders without migrata's code; engines.py runs the clients), and
``python -m migrata`` runs the same folder on the other database; the schemas are compared after
``up``, ``down --all`` and a second ``up`` (harness.py says how each outcome is judged).
Differences with an upstream cause can be accepted in expected_differences.toml.

One test per corpus, ``test_corpus[<name>]``, so that pytest-xdist spreads them. The results
table is printed at the end of the session (tests/conftest.py; ``python tests/realworld/report.py``
prints the last one when it was not). Corpora of layouts migrata does not read yet are skipped
as "layout not supported yet".

Environment: ``MIGRATA_CORPORA`` (the corpora folder; without it the suite is skipped, or fails
with ``MIGRATA_REQUIRE_CORPORA=1``), ``MIGRATA_TEST_POSTGRES_URL`` and ``MIGRATA_TEST_MYSQL_URL``
(servers where databases may be created; unreachable means skipped, or failed with
``MIGRATA_REQUIRE_SERVERS=1``, as in the rest of the tests). psql/pg_dump, mariadb/mysqldump and
sqlite3 must be installed for their engines (missing ones count as an unreachable server).
"""

from __future__ import annotations

import functools
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NoReturn

import pytest

from conftest import MYSQL_ADMIN_URL, POSTGRES_ADMIN_URL, REQUIRE_SERVERS

from .baseline import UNSUPPORTED_LAYOUTS, read_layout
from .corpora import (
    PHASES,
    REQUIRE_CORPORA,
    Corpus,
    ExpectedDifference,
    corpora_dir,
    load_expected_differences,
    load_manifest,
)
from .engines import Database, Unavailable, new_database
from .harness import CorpusRun
from .report import CACHE_PREFIX, ROW_PROPERTY

CORPORA = corpora_dir()
ENGINE_NAMES = {"pg": "PostgreSQL", "mysql": "MariaDB/MySQL", "sqlite": "SQLite"}


def _corpus_params() -> list[Any]:
    if not (CORPORA / "MANIFEST.tsv").is_file():
        return [pytest.param(None, id="no-corpora")]
    return [pytest.param(corpus, id=corpus.name) for corpus in load_manifest(CORPORA)]


def _corpora_missing() -> NoReturn:
    reason = f"corpora folder {CORPORA} has no MANIFEST.tsv (set MIGRATA_CORPORA)"
    if REQUIRE_CORPORA:
        pytest.fail(f"the corpora are required (MIGRATA_REQUIRE_CORPORA=1) but {reason}")
    pytest.skip(reason)


def _unavailable(dialect: str, reason: str) -> NoReturn:
    engine = ENGINE_NAMES[dialect]
    if REQUIRE_SERVERS:
        pytest.fail(f"{engine} is required (MIGRATA_REQUIRE_SERVERS=1) but {reason}")
    pytest.skip(f"{engine} not available: {reason}")


@functools.cache
def _expected_differences() -> tuple[ExpectedDifference, ...]:
    return tuple(load_expected_differences())


def _open(stack: ExitStack, corpus: Corpus, label: str, workdir: Path) -> Database:
    """A fresh database for one side of ``corpus``, dropped when ``stack`` closes."""
    admin_urls = {"pg": POSTGRES_ADMIN_URL, "mysql": MYSQL_ADMIN_URL}
    db = new_database(corpus.dialect, label=label, workdir=workdir, admin_urls=admin_urls)
    db.create()
    stack.callback(db.drop)
    return db


def _record(request: pytest.FixtureRequest, row: dict[str, Any]) -> None:
    request.node.user_properties.append((ROW_PROPERTY, row))
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        cache.set(f"{CACHE_PREFIX}/{row['corpus']}", row)


@pytest.mark.parametrize("corpus", _corpus_params())
def test_corpus(corpus: Corpus | None, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The corpus gives the same schemas under migrata as under its own tool, phase by phase
    (or both refuse/fail in an accepted way; see harness.py)."""
    if corpus is None:
        _corpora_missing()
    row: dict[str, Any] = {
        "corpus": corpus.name,
        "layout": corpus.layout,
        "migrations": corpus.migrations_count,
        **{phase: "-" for phase in PHASES},
        "seconds": 0.0,
    }
    start = time.monotonic()
    try:
        _check_corpus(corpus, tmp_path, row)
    finally:
        row["seconds"] = round(time.monotonic() - start, 1)
        _record(request, row)


def _check_corpus(corpus: Corpus, tmp_path: Path, row: dict[str, Any]) -> None:
    if corpus.layout in UNSUPPORTED_LAYOUTS:
        row["up"] = "layout not supported yet"
        pytest.skip(f"layout not supported yet: {corpus.layout} ({corpus.name})")
    assert corpus.folder.is_dir(), f"{corpus.folder} is listed in MANIFEST.tsv but missing"
    migrations = read_layout(corpus.layout, corpus.folder)
    assert len(migrations) == corpus.migrations_count, (
        f"the baseline reads {len(migrations)} {corpus.layout} migrations in {corpus.folder}, "
        f"MANIFEST.tsv says {corpus.migrations_count}: the baseline's reader is wrong"
    )
    with ExitStack() as stack:
        try:
            baseline_db = _open(stack, corpus, "b", tmp_path)
            migrata_db = _open(stack, corpus, "m", tmp_path)
        except Unavailable as exc:
            row["up"] = f"skipped: {exc}"
            _unavailable(corpus.dialect, str(exc))
        run = CorpusRun(corpus, migrations, baseline_db, migrata_db, tmp_path)
        run.run()
    if run.layout_note:
        row["layout"] = f"{corpus.layout} ({run.layout_note})"

    expected = {e.phase: e for e in _expected_differences() if e.corpus == corpus.name}
    differing = {d.phase for d in run.differences}
    for phase in PHASES:
        cell = run.cells.get(phase, "-")
        row[phase] = f"expected: {cell}" if phase in expected and phase in differing else cell
    unexpected = [d for d in run.differences if d.phase not in expected]
    stale = [e for phase, e in expected.items() if phase not in differing]
    problems = [d.render() for d in unexpected]
    problems += [
        f"[{e.phase}] stale entry in expected_differences.toml (no difference any more): {e.cause}"
        for e in stale
    ]
    assert not problems, f"{corpus.name} ({corpus.layout}, {corpus.dialect}):\n" + "\n\n".join(
        problems
    )


def test_expected_differences_name_real_corpora() -> None:
    """Every accepted difference names a corpus that is run (one of MANIFEST.tsv, with a
    layout migrata reads); the file's shape is checked while loading it."""
    entries = _expected_differences()
    if not entries:
        return
    if not (CORPORA / "MANIFEST.tsv").is_file():
        _corpora_missing()
    runnable = {c.name for c in load_manifest(CORPORA) if c.layout not in UNSUPPORTED_LAYOUTS}
    unknown = sorted({e.corpus for e in entries} - runnable)
    assert not unknown, f"expected_differences.toml names corpora that are not run: {unknown}"
