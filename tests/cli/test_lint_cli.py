"""`migrata lint`, `plan --locks` and `up --lint`: what an operator runs before a deploy, and
what CI runs to refuse danger; against the real PostgreSQL and SQLite, and without a database
(pre-commit)."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import clean_cli_state, run_cli  # noqa: F401 - fixtures are found by name

from conftest import Database, write_migrations
from migrata import Migrator
from migrata.exitcodes import ExitCode

EVENTS = "CREATE TABLE events (id bigint PRIMARY KEY, kind text, at timestamptz);\n"
INDEX = "CREATE INDEX events_kind ON events (kind);\n"


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    return write_migrations(tmp_path / "migrations", files)


# -- without a database: the files named, those before them count as applied ------------------


def test_a_named_file_is_linted_with_the_earlier_ones_as_applied(run_cli, tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"0001_events.sql": EVENTS, "0002_index.sql": INDEX})
    result = run_cli("-d", folder, "lint", str(folder / "0002_index.sql"))
    assert result.code == ExitCode.LINT, result.output
    assert "0002_index.sql:1:1: error" in result.out
    assert "CREATE INDEX CONCURRENTLY" in result.out  # the safe way, as SQL
    assert "events" in result.out and "SHARE" in result.out
    # Named by version, the same; --fail-on never reports but passes.
    assert run_cli("-d", folder, "lint", "0002").code == ExitCode.LINT
    assert run_cli("-d", folder, "lint", "--fail-on", "never", "0002").code == 0


def test_all_files_as_on_a_fresh_database_stay_quiet_about_new_tables(
    run_cli, tmp_path: Path
) -> None:
    """The table is created earlier in the same run: nobody waits on it, nothing to say."""
    folder = _folder(
        tmp_path,
        {
            "0001_events.sql": EVENTS + INDEX,
            "0002_more.sql": "ALTER TABLE events ADD COLUMN n int NOT NULL;\n"
            "CREATE INDEX events_n ON events (n);\n",
        },
    )
    result = run_cli("-d", folder, "lint", "--all", "--format", "json")
    assert result.code == 0, result.output
    document = json.loads(result.out)
    assert document["checked"] == ["0001", "0002"] and document["findings"] == []


def test_pending_migrations_need_a_database_or_a_selection(run_cli, tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"0001_events.sql": EVENTS})
    result = run_cli("-d", folder, "lint")
    assert result.code == ExitCode.USAGE
    assert "--all" in result.err and "--database-url" in result.err


def test_an_allowed_finding_is_shown_with_its_reason_and_does_not_fail(
    run_cli, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, {"0001_events.sql": EVENTS})
    from migrata.lint import RULES

    (rule,) = [r.id for r in RULES.values() if r.lock == "SHARE" and "postgresql" in r.dialects][:1]
    allowed = f"-- migrata: allow={rule} -- events is empty in every deployment\n{INDEX}"
    write_migrations(folder, {"0002_index.sql": allowed})
    result = run_cli("-d", folder, "lint", "0002")
    assert result.code == 0, result.output
    assert f"allowed [{rule}] -- events is empty in every deployment" in result.out


def test_formats_json_github_and_sarif(run_cli, tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"0001_events.sql": EVENTS, "0002_index.sql": INDEX})
    document = json.loads(run_cli("-d", folder, "lint", "0002", "--format", "json").out)
    (finding,) = document["findings"]
    assert finding["path"].endswith("0002_index.sql") and finding["line"] == 1
    assert finding["lock"] == "SHARE" and finding["tables"] == ["events"]
    assert document["failed"] is True
    github = run_cli("-d", folder, "lint", "0002", "--format", "github").out
    assert github.startswith("::error file=") and ",line=1," in github
    sarif = json.loads(run_cli("-d", folder, "lint", "0002", "--format", "sarif").out)
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    assert run["tool"]["driver"]["name"] == "migrata"
    assert run["results"][0]["ruleId"] == finding["rule"]
    assert run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 1


def test_the_config_disables_rules_and_changes_severities(run_cli, tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"0001_events.sql": EVENTS, "0002_index.sql": INDEX})
    rule = json.loads(run_cli("-d", folder, "lint", "0002", "--format", "json").out)["findings"][0][
        "rule"
    ]
    Path("migrata.toml").write_text(f'[lint.severities]\n"{rule}" = "warning"\n')
    assert run_cli("-d", folder, "lint", "0002").code == 0  # a warning does not fail by default
    assert run_cli("-d", folder, "lint", "0002", "--fail-on", "warning").code == ExitCode.LINT
    Path("migrata.toml").write_text(f'[lint]\ndisabled = ["{rule}"]\n')
    assert "no findings" in run_cli("-d", folder, "lint", "0002").out
    Path("migrata.toml").write_text('[lint]\ndisabled = ["no-such-rule"]\n')
    refused = run_cli("-d", folder, "lint", "0002")
    assert refused.code == ExitCode.USAGE and "no-such-rule" in refused.err


def test_the_folders_layout_problems_are_findings(run_cli, tmp_path: Path) -> None:
    """A file the layout's tool would skip is a `folder-layout` finding at that file."""
    folder = _folder(
        tmp_path, {"V1__init.sql": "CREATE TABLE a (id int);\n", "V2_oops.sql": "SELECT 1;\n"}
    )
    document = json.loads(run_cli("-d", folder, "lint", "--all", "--format", "json").out)
    (finding,) = document["findings"]
    assert finding["rule"] == "folder-layout" and finding["severity"] == "warning"
    assert finding["path"].endswith("V2_oops.sql") and "Flyway skips it" in finding["message"]
    assert run_cli("-d", folder, "lint", "--all", "--fail-on", "warning").code == ExitCode.LINT


def test_a_mysql_folder_is_read_as_mysql_without_a_database(run_cli, tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        {
            "0001_t.sql": "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(20));\n",
            "0002_t.sql": "ALTER TABLE t MODIFY name VARCHAR(200) NOT NULL;\n",
        },
    )
    as_postgres = run_cli("-d", folder, "lint", "0002", "--format", "json")
    assert json.loads(as_postgres.out)["findings"] == []  # not PostgreSQL: nothing it can read
    result = run_cli("-d", folder, "lint", "0002", "--dialect", "mysql", "--format", "json")
    (finding,) = json.loads(result.out)["findings"]
    assert finding["rule"] == "mysql-table-copy" and result.code == ExitCode.LINT


def test_rules_are_listed(run_cli) -> None:
    from migrata.lint import RULES

    result = run_cli("lint", "--rules")
    assert result.code == 0
    for rule in RULES.values():
        assert rule.id in result.out


# -- with a database: the pending migrations, the catalog's sizes ------------------------------


def test_pending_migrations_against_postgres_show_the_table_size(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, {"0001_events.sql": EVENTS})
    assert run_cli("-u", postgres_db.url, "-d", folder, "up").code == 0
    postgres_db.query("INSERT INTO events SELECT g, 'k', now() FROM generate_series(1, 20000) g")
    postgres_db.query("ANALYZE events")
    write_migrations(folder, {"0002_index.sql": INDEX})
    result = run_cli("-u", postgres_db.url, "-d", folder, "lint", "--format", "json")
    assert result.code == ExitCode.LINT, result.output
    document = json.loads(result.out)
    assert document["checked"] == ["0002"]
    (finding,) = document["findings"]
    assert "20" in finding["message"] and "rows" in finding["message"]  # ~20 k rows
    assert document["context"].startswith("catalog of postgresql://")


def test_up_lints_what_it_runs_warns_by_default_and_refuses_with_error(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, {"0001_events.sql": EVENTS})
    assert run_cli("-u", postgres_db.url, "-d", folder, "up").code == 0
    write_migrations(folder, {"0002_index.sql": INDEX})
    refused = run_cli("-u", postgres_db.url, "-d", folder, "up", "--lint", "error")
    assert refused.code == ExitCode.LINT, refused.output
    assert "nothing was run" in refused.err and "0002_index.sql:1:1" in refused.err
    assert not postgres_db.query(
        "SELECT 1 FROM pg_indexes WHERE indexname = 'events_kind'"
    )  # refused before anything ran
    status = Migrator(postgres_db.url, directory=folder).status()
    assert [e.state.value for e in status] == ["applied", "pending"]
    warned = run_cli("-u", postgres_db.url, "-d", folder, "up")
    assert warned.code == 0 and "warning:" in warned.err and "0002_index.sql:1:1" in warned.err
    quiet = run_cli("-u", postgres_db.url, "-d", folder, "up", "--lint", "off")
    assert quiet.code == 0


def test_up_reports_findings_as_json_events(run_cli, postgres_db: Database, tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"0001_events.sql": EVENTS})
    assert run_cli("-u", postgres_db.url, "-d", folder, "up").code == 0
    write_migrations(folder, {"0002_index.sql": INDEX})
    result = run_cli("--log-format", "json", "-u", postgres_db.url, "-d", folder, "up")
    assert result.code == 0, result.output
    events = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    (finding,) = [e for e in events if e["event"] == "lint_finding"]
    assert finding["path"].endswith("0002_index.sql") and finding["line"] == 1
    assert finding["level"] == "warning" and finding["severity"] == "error"


# -- plan --locks --------------------------------------------------------------------------------


def test_plan_shows_the_locks_each_statement_takes(
    run_cli, postgres_db: Database, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, {"0001_events.sql": EVENTS})
    assert run_cli("-u", postgres_db.url, "-d", folder, "up").code == 0
    write_migrations(
        folder,
        {
            "0002_change.sql": INDEX
            + "ALTER TABLE events ALTER COLUMN kind TYPE varchar(20);\n"
            + "CREATE INDEX CONCURRENTLY events_at ON events (at);\n"
        },
    )
    text = run_cli("-u", postgres_db.url, "-d", folder, "plan", "--locks").out
    assert "-- locks: SHARE on events; scans the table\nCREATE INDEX events_kind" in text
    assert "-- locks: ACCESS EXCLUSIVE on events; rewrites the table\nALTER TABLE" in text
    assert (
        "-- locks: SHARE UPDATE EXCLUSIVE on events; scans the table\nCREATE INDEX CONCURRENTLY"
        in text
    )
    plain = run_cli("-u", postgres_db.url, "-d", folder, "plan").out
    assert "-- locks:" not in plain
    document = json.loads(run_cli("-u", postgres_db.url, "-d", folder, "plan", "--json").out)
    locks = [st["locks"] for st in document[0]["statements"]]
    assert [lk["lock"] for lk in locks] == [
        "SHARE",
        "ACCESS EXCLUSIVE",
        "SHARE UPDATE EXCLUSIVE",
    ]
    assert locks[1]["rewrites"] is True and locks[0]["tables"] == ["events"]


# -- pre-commit ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_pre_commit_hook_lints_the_changed_files(tmp_path: Path) -> None:
    """pre-commit itself installs the hook from this repository and runs it on a project
    where 0002 is the changed file (0001 is in production: its table is not new)."""
    pre_commit = shutil.which("pre-commit") or str(Path(sys.executable).with_name("pre-commit"))
    repository = Path(__file__).resolve().parents[2]
    project = tmp_path / "project"
    folder = write_migrations(
        project / "migrations", {"0001_events.sql": EVENTS, "0002_index.sql": INDEX}
    )
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    env = {"PRE_COMMIT_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    found = subprocess.run(
        [pre_commit, "try-repo", str(repository), "migrata-lint", "--verbose", "--files"]
        + ["migrations/0002_index.sql"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert found.returncode != 0, found.stdout + found.stderr
    assert "CREATE INDEX CONCURRENTLY" in found.stdout, found.stdout + found.stderr
    (folder / "0002_index.sql").write_text(
        "CREATE INDEX CONCURRENTLY events_kind ON events (kind);\n"
    )
    clean = subprocess.run(
        [pre_commit, "try-repo", str(repository), "migrata-lint", "--files"]
        + ["migrations/0002_index.sql"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
