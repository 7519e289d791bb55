"""What the command loads: `--help` only click and the settings; `status`, and `up` with nothing
to apply, neither the parser (pglast) nor the runner, the linter or the bookkeeping; and a run
that splits reads what a previous run split from the cache instead of parsing again.

Each command runs in a new process (what is imported is what a cold start pays for), which
prints the modules it loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Database

_PROBE = """
import json, sys
from migrata.cli import main
sys.argv = ["migrata", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exit:
    code = exit.code
sys.stderr.write("\\nMODULES " + json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""


def _loaded(args: list[str], **env: str) -> tuple[int, set[str]]:
    """Run ``migrata ARGS`` in a new process: its exit code and the modules it imported."""
    environ = {**os.environ, **env}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        capture_output=True,
        check=False,
        text=True,
        env=environ,
        timeout=120,
    )
    line = next(ln for ln in out.stderr.splitlines() if ln.startswith("MODULES "))
    found = json.loads(line.removeprefix("MODULES "))
    return found["code"], set(found["modules"])


def _under(modules: set[str], *packages: str) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


_DRIVERS = ("psycopg", "pglast", "pymysql", "chdb", "clickhouse_connect", "rich")


def test_help_loads_click_and_the_settings_only() -> None:
    code, modules = _loaded(["--help"])
    assert code == 0
    assert _under(modules, *_DRIVERS) == []
    mine = _under(modules, "migrata")
    assert mine == [
        "migrata",
        "migrata.cli",
        "migrata.errors",
        "migrata.exitcodes",
        "migrata.settings",
    ]
    # Nor the standard library a command needs only when it runs.
    assert _under(modules, "logging", "tomllib", "pathlib", "hashlib") == []


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_t.sql").write_text(
        "CREATE TABLE t (id int PRIMARY KEY);\nCREATE INDEX t_id ON t (id);\n"
    )
    (folder / "0002_f.sql").write_text(
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$;\n"
    )
    return folder


_NOT_FOR_READING = (
    "pglast",
    "rich",
    "migrata.runner",
    "migrata.lint",
    "migrata.linter",
    "migrata.bookkeeping",
    "migrata.foreign",
    "migrata.backends.postgres.split",
)


def test_status_and_up_with_nothing_to_do_neither_parse_nor_load_the_runner(
    postgres_db: Database, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    base = ["-u", postgres_db.url, "-d", str(folder)]
    cache = {"MIGRATA_SPLIT_CACHE": str(tmp_path / "cache")}
    code, before = _loaded([*base, "status"], **cache)
    assert code == 0
    assert _under(before, *_NOT_FOR_READING) == []
    assert _under(before, "psycopg") != []  # (the probe did connect)
    # Applying loads them (the probe sees them) …
    code, applying = _loaded([*base, "up"], **cache)
    assert code == 0
    assert "pglast" in applying and "migrata.runner" in applying
    # … and afterwards neither status nor an `up` with nothing to apply does.
    for command in ("status", "up"):
        code, modules = _loaded([*base, command], **cache)
        assert code == 0, command
        assert _under(modules, *_NOT_FOR_READING) == [], command


def test_a_warm_cache_applies_without_parsing(postgres_db: Database, tmp_path: Path) -> None:
    """The second database of the same folder: what the first run split comes from the cache,
    so pglast is not even imported (lint off: the linter parses on its own)."""
    folder = _folder(tmp_path)
    cache = {"MIGRATA_SPLIT_CACHE": str(tmp_path / "cache"), "MIGRATA_LINT": "off"}
    code, first = _loaded(["-u", postgres_db.url, "-d", str(folder), "up", "--dry-run"], **cache)
    assert code == 0 and "pglast" in first
    code, second = _loaded(["-u", postgres_db.url, "-d", str(folder), "up"], **cache)
    assert code == 0
    assert _under(second, "pglast", "migrata.backends.postgres.split") == []
    code, reading = _loaded(["-u", postgres_db.url, "-d", str(folder), "status", "--json"], **cache)
    assert code == 0 and "pglast" not in reading


@pytest.mark.parametrize("value", ["off", "OFF"])
def test_the_cache_turned_off_writes_nothing(
    postgres_db: Database, tmp_path: Path, value: str
) -> None:
    folder = _folder(tmp_path)
    home = tmp_path / "home"
    env = {"MIGRATA_CACHE_DIR": value, "XDG_CACHE_HOME": str(home), "MIGRATA_LINT": "off"}
    code, modules = _loaded(["-u", postgres_db.url, "-d", str(folder), "up"], **env)
    assert code == 0 and "pglast" in modules
    assert not home.exists()


def test_the_default_cache_is_under_xdg_cache_home(postgres_db: Database, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    home = tmp_path / "home"
    env = {"XDG_CACHE_HOME": str(home), "MIGRATA_LINT": "off"}
    code, _modules = _loaded(["-u", postgres_db.url, "-d", str(folder), "up", "--dry-run"], **env)
    assert code == 0
    assert list((home / "migrata").rglob("*.json")) != []
