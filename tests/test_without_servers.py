"""The suite on a machine without database servers: the tests of an unreachable server skip,
each with a reason that names the server, and none errors or fails; under
``MIGRATA_REQUIRE_SERVERS=1`` the same tests fail, saying the server is required.

A representative subset runs in a pytest of its own, with both URLs pointing at port 1 of the
loopback address (where nothing listens): tests that take the database fixtures, tests that
create or look for databases through the admin URL themselves, and the real-world corpora.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from realworld.baseline import UNSUPPORTED_LAYOUTS
from realworld.corpora import corpora_dir, load_manifest

ROOT = Path(__file__).resolve().parents[1]

CLOSED_POSTGRES_URL = "postgresql://postgres@127.0.0.1:1/postgres"
CLOSED_MYSQL_URL = "mysql://u:closed-pw-1@127.0.0.1:1/mysql"

#: Tests that need one server or the other, each reaching it its own way: (file, test).
SUBSET = [
    # the database fixtures
    ("contract/test_time_limits.py", "test_statement_timeout_fails_the_migration[postgresql]"),
    ("contract/test_time_limits.py", "test_statement_timeout_fails_the_migration[mysql]"),
    ("contract/test_concurrency.py", "test_mysql_lock_timeout_names_the_holder"),
    ("unit/test_netsupport.py", "test_late_proxy_refuses_postgres_until_the_delay_then_forwards"),
    # the admin URLs, used by the test itself
    ("contract/test_wait.py", "test_create_database_waits_for_a_late_server_then_migrates[mysql]"),
    ("cli/test_deploy_cli.py", "test_create_and_drop_database[postgresql]"),
    ("cli/test_deploy_cli.py", "test_create_and_drop_database[mysql]"),
    (
        "cli/test_deploy_cli.py",
        "test_wait_fails_at_once_when_waiting_cannot_help[postgresql-missing]",
    ),
    ("cli/test_deploy_cli.py", "test_drop_database_force_ends_other_sessions"),
    ("cli/test_readme_deploying.py", "test_every_command_of_the_section_runs"),
    (
        "examples/test_deploy_examples.py",
        "test_migrate_service_command_creates_and_migrates_the_database",
    ),
]


def realworld_subset() -> list[str]:
    """One PostgreSQL and one MariaDB/MySQL corpus of the real-world suite (none when the
    corpora are not here: that suite then skips for that reason, whatever the servers)."""
    folder = corpora_dir()
    if not (folder / "MANIFEST.tsv").is_file():
        return []
    chosen: dict[str, str] = {}
    for corpus in load_manifest(folder):
        if corpus.dialect in {"pg", "mysql"} and corpus.layout not in UNSUPPORTED_LAYOUTS:
            chosen.setdefault(corpus.dialect, corpus.name)
    return [f"tests/realworld/test_realworld.py::test_corpus[{name}]" for name in chosen.values()]


@dataclass(frozen=True)
class Run:
    """One pytest of the subset: its exit code, its output, how many tests it was given."""

    returncode: int
    stdout: str
    output: str
    total: int


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Run]:
    """The subset against the closed ports, without and with ``MIGRATA_REQUIRE_SERVERS=1``
    (keyed by that), the two pytests side by side."""
    tests = [f"tests/{file}::{test}" for file, test in SUBSET] + realworld_subset()
    base = tmp_path_factory.mktemp("without-servers")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST_") and k != "MIGRATA_REQUIRE_SERVERS"
    }
    env.update(
        MIGRATA_TEST_POSTGRES_URL=CLOSED_POSTGRES_URL, MIGRATA_TEST_MYSQL_URL=CLOSED_MYSQL_URL
    )
    processes = {}
    for require in (False, True):
        command = [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider"]
        command += ["-p", "no:xdist", "--basetemp", str(base / str(require)), *tests]
        processes[require] = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**env, "MIGRATA_REQUIRE_SERVERS": "1"} if require else env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    done = {}
    try:
        for require, process in processes.items():
            stdout, stderr = process.communicate(timeout=120)
            done[require] = Run(process.returncode, stdout, stdout + stderr, len(tests))
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return done


def summary_counts(output: str) -> dict[str, int]:
    """The counts of pytest's last line: ``{"skipped": 3, "failed": 1, ...}``."""
    last = output.strip().splitlines()[-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last)}


def test_unreachable_servers_skip_their_tests_naming_the_server(runs: dict[bool, Run]) -> None:
    run = runs[False]
    assert run.returncode == 0, run.output
    assert summary_counts(run.stdout) == {"skipped": run.total}, run.output
    skips = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skips, run.output
    for line in skips:
        assert re.search(r": (PostgreSQL|MariaDB/MySQL) not available: \S", line), line
    reasons = "\n".join(skips)
    assert f"PostgreSQL not available: cannot connect to {CLOSED_POSTGRES_URL}" in reasons
    assert "MariaDB/MySQL not available: cannot connect to mysql://u:***@127.0.0.1:1/" in reasons
    assert "closed-pw-1" not in run.output


def test_required_servers_fail_the_same_tests(runs: dict[bool, Run]) -> None:
    run = runs[True]
    assert run.returncode == 1, run.output
    counts = summary_counts(run.stdout)
    # A fixture's failure is counted as an error, a test's own as a failure.
    failing = counts.get("failed", 0) + counts.get("errors", counts.get("error", 0))
    assert failing == run.total, run.output
    assert "passed" not in counts and "skipped" not in counts, run.output
    assert "PostgreSQL is required (MIGRATA_REQUIRE_SERVERS=1) but cannot connect" in run.output
    assert "MariaDB/MySQL is required (MIGRATA_REQUIRE_SERVERS=1) but cannot connect" in run.output
    assert "closed-pw-1" not in run.output
