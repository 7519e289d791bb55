"""`up` lints what it is about to apply; the findings are kept in the cache folder by the hash
of everything they depend on, so applying the same folder again to a fresh database does not
parse anything for the linter."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import migrata.linter
from conftest import Database, write_migrations
from migrata import Migrator

FILES = {
    "0001_table.sql": "CREATE TABLE lm (id int PRIMARY KEY, c text);\n",
    "0002_index.sql": "CREATE INDEX lm_c ON lm (c);\n",
}


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if getattr(r, "migrata_event", None) == "lint_finding"
    ]


def up_to_one_then_all(db: Database, folder: Path, cache: Path) -> None:
    """A database at 0001 (created by hand, as an older deploy left it), then ``up``."""
    Migrator(db.url, directory=folder, lint="off", split_cache=str(cache)).up(to="0001")
    Migrator(db.url, directory=folder, split_cache=str(cache)).up()


def test_findings_are_remembered_and_relinted_when_a_file_changes(
    postgres_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = write_migrations(tmp_path / "m", FILES)
    cache = tmp_path / "cache"
    caplog.set_level(logging.WARNING, logger="migrata")
    up_to_one_then_all(postgres_db, folder, cache)
    first = warnings(caplog)
    assert any("index-not-concurrent" in w for w in first), first
    assert (cache / "lint.json").exists()

    # The same folder on a fresh database: the findings come from the cache, unparsed.
    calls: list[int] = []
    real = migrata.linter.lint
    monkeypatch.setattr(migrata.linter, "lint", lambda *a, **k: calls.append(1) or real(*a, **k))
    postgres_db.query("DROP TABLE lm")
    postgres_db.query("DROP TABLE migrata_history, migrata_history_audit, migrata_history_meta")
    caplog.clear()
    up_to_one_then_all(postgres_db, folder, cache)
    assert warnings(caplog) == first
    assert calls == []

    # One byte changed: linted again.
    (folder / "0002_index.sql").write_text("CREATE INDEX lm_c ON lm (c) ;\n")
    postgres_db.query("DROP TABLE lm")
    postgres_db.query("DROP TABLE migrata_history, migrata_history_audit, migrata_history_meta")
    caplog.clear()
    up_to_one_then_all(postgres_db, folder, cache)
    assert calls == [1]
    assert any("index-not-concurrent" in w for w in warnings(caplog))


def test_a_damaged_memory_is_ignored(
    postgres_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = write_migrations(tmp_path / "m", FILES)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "lint.json").write_text('{"not": "what it looks like"')
    caplog.set_level(logging.WARNING, logger="migrata")
    up_to_one_then_all(postgres_db, folder, cache)
    assert any("index-not-concurrent" in w for w in warnings(caplog))
    assert (cache / "lint.json").read_text().startswith("{")
