"""The harness notices differences: a small golang-migrate folder on SQLite, run as the suite
runs a corpus, agrees with migrata as written and disagrees once the baseline is changed."""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from pathlib import Path

import pytest

from .baseline import BaselineMigration, read_layout
from .corpora import Corpus
from .engines import Unavailable, new_database
from .harness import CorpusRun

FILES = {
    "1_users.up.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
    "1_users.down.sql": "DROP TABLE users;\n",
    "2_posts.up.sql": (
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id));\n"
        "CREATE INDEX posts_user ON posts (user_id);\n"
    ),
    "2_posts.down.sql": "DROP INDEX posts_user;\nDROP TABLE posts;\n",
    "10_tags.up.sql": "ALTER TABLE posts ADD COLUMN tags TEXT;\n",
    "10_tags.down.sql": "ALTER TABLE posts DROP COLUMN tags;\n",
}


def _run(folder: Path, tmp_path: Path, migrations: list[BaselineMigration]) -> CorpusRun:
    corpus = Corpus(
        "synthetic", "sqlite", "golang-migrate", "-", "-", "-", "-", len(migrations), folder
    )
    with ExitStack() as stack:
        dbs = []
        for label in ("b", "m"):
            try:
                db = new_database("sqlite", label=label, workdir=tmp_path, admin_urls={})
            except Unavailable as exc:
                pytest.skip(str(exc))
            db.create()
            stack.callback(db.drop)
            dbs.append(db)
        run = CorpusRun(corpus, migrations, dbs[0], dbs[1], tmp_path)
        run.run()
    return run


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_an_unchanged_folder_agrees_in_every_phase(folder: Path, tmp_path: Path) -> None:
    run = _run(folder, tmp_path, read_layout("golang-migrate", folder))
    assert run.differences == []
    assert run.cells == {"up": "ok", "down": "ok", "re-up": "ok"}
    assert run.version_of(run.migrations[-1]) == "10"


def test_a_different_schema_is_a_difference_with_a_diff(folder: Path, tmp_path: Path) -> None:
    migrations = read_layout("golang-migrate", folder)
    changed = migrations[2].up_sql.replace("tags TEXT", "labels TEXT")
    migrations[2] = dataclasses.replace(migrations[2], up_sql=changed)
    run = _run(folder, tmp_path, migrations)
    assert [d.phase for d in run.differences] == ["up"]
    assert "schemas differ" in run.differences[0].summary
    assert "labels" in run.differences[0].detail and "tags" in run.differences[0].detail
    assert "down" not in run.cells


def test_another_order_is_a_difference(folder: Path, tmp_path: Path) -> None:
    migrations = read_layout("golang-migrate", folder)
    # Text order of the versions ("10" before "2") is not golang-migrate's order.
    migrations = [migrations[0], migrations[2], migrations[1]]
    run = _run(folder, tmp_path, migrations)
    summaries = [d.summary for d in run.differences if d.phase == "up"]
    assert any("order differs" in s for s in summaries), summaries
