"""The commands of README.md's "Deploying" section, run as written, in order, in a copy of
examples/app against a PostgreSQL database that does not exist yet."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import migrata
from conftest import POSTGRES_ADMIN_URL, Database, require_postgres

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
APP = ROOT / "examples" / "app"
BIN = Path(sys.executable).parent


def deploying_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Deploying\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def shell_blocks(section: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)


def test_the_section_names_this_test_and_has_commands() -> None:
    section = deploying_section()
    assert "tests/cli/test_readme_deploying.py" in section
    blocks = shell_blocks(section)
    assert len(blocks) >= 5
    assert any("--wait" in b and "--create-database" in b for b in blocks)
    assert any("status --exit-code" in b for b in blocks)


def test_every_command_of_the_section_runs(tmp_path: Path) -> None:
    require_postgres()
    work = tmp_path / "app"
    shutil.copytree(APP, work, ignore=shutil.ignore_patterns(".*cache*", "__pycache__"))
    name = f"migrata_readme_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(POSTGRES_ADMIN_URL)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATA_")}
    environ.update(DATABASE_URL=url, PATH=f"{BIN}{os.pathsep}{environ.get('PATH', '')}")
    # The development server `check` makes its scratch databases on (here: the test server).
    environ.update(DEV_DATABASE_URL=POSTGRES_ADMIN_URL)
    database = Database("postgresql", url)
    try:
        for block in shell_blocks(deploying_section()):
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block],
                cwd=work,
                env=environ,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, f"{block}\n{result.stdout}\n{result.stderr}"
            if "--log-format json" in block:
                lines = [json.loads(line) for line in result.stderr.splitlines()]
                assert lines and all("event" in line for line in lines)
        # What the commands left behind: the database, its schema, the reviews, the seed
        # (loaded by the dev run only).
        assert database.table_exists("notes")
        versions = [v for (v,) in database.history()]
        assert versions == ["0001", "0002", "0003", "0100"]
        # The one-shot job had applied everything before the CI commands ran.
        report = json.loads((work / "result.json").read_text())
        assert report["direction"] == "up" and report["steps"] == []
        assert (work / "plan.sql").read_text().strip().endswith("-- nothing to apply")
    finally:
        migrata.drop_database(url, force=True)
