"""Every ``migrata`` command, its text and JSON output, and where its settings come from."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path

import pytest
from cli_support import (  # noqa: F401 - fixtures are found by name
    clean_cli_state,
    run_cli,
    run_process,
)

from conftest import Database, create_index, drop_index, write_migrations


def three(engine: str) -> dict[str, str]:
    """Three migrations with down SQL in ``engine``'s dialect (how an index is created and
    dropped differs: see conftest's ``create_index`` and ``drop_index``)."""
    return {
        "0001_users.up.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n",
        "0001_users.down.sql": "DROP TABLE users;\n",
        "0002_posts.up.sql": (
            "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER);\n"
            f"{create_index(engine, 'posts_user', 'posts', 'user_id')};\n"
        ),
        "0002_posts.down.sql": f"{drop_index(engine, 'posts_user', 'posts')};\nDROP TABLE posts;\n",
        "0003_tags.up.sql": "CREATE TABLE tags (id INTEGER PRIMARY KEY);\n",
        "0003_tags.down.sql": "DROP TABLE tags;\n",
    }


THREE = three("sqlite")  # PostgreSQL's as well
#: MySQL/MariaDB names the table of the index to drop.
THREE_MYSQL = three("mysql")

COMMANDS = [
    "new",
    "up",
    "down",
    "redo",
    "status",
    "history",
    "validate",
    "plan",
    "resolve",
    "mark-applied",
    "unmark",
]


@pytest.fixture
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """THREE, in the dialect of the test's ``db`` engine (SQLite's for tests without one)."""
    engine = request.getfixturevalue("db").engine if "db" in request.fixturenames else "sqlite"
    return write_migrations(tmp_path / "migrations", three(engine))


def states(run_cli, url: str, folder: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    result = run_cli("-u", url, "-d", folder, "status", "--json")
    assert result.code == 0, result.err
    return {m["version"]: m["state"] for m in json.loads(result.out)["migrations"]}


def audit_events(run_cli, url: str, folder: Path) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    result = run_cli("-u", url, "-d", folder, "history", "--json")
    assert result.code == 0, result.err
    return [(e["version"], e["event"]) for e in json.loads(result.out)]


def run_events(db: Database, version: str, event: str) -> list[tuple[str, str]]:
    """The audit events, as ``(version, event)``, of one run of DDL migration ``version``:
    where DDL commits implicitly (MySQL/MariaDB) it runs statement by statement, so a
    "started" event comes first."""
    started = [] if db.transactional_ddl else [(version, "started")]
    return [*started, (version, event)]


# -- help and version -------------------------------------------------------------------------

HELP_MARKERS = {
    "new": "--sequential",
    "up": "--dry-run",
    "down": "--steps",
    "redo": "Revert the newest migration and apply it again",
    "status": "--exit-code",
    "history": "audit log",
    "validate": "exit 3",
    "plan": "exact SQL",
    "resolve": "--rolled-back",
    "mark-applied": "without running it",
    "unmark": "without running its down SQL",
}


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_each_command_exits_0(run_cli, command: str) -> None:
    result = run_cli(command, "--help")
    assert result.code == 0, result.err
    assert f"Usage: migrata {command}" in result.out
    assert HELP_MARKERS[command] in result.out
    assert result.err == ""


def test_group_help_lists_every_command_and_the_exit_codes(run_cli) -> None:
    result = run_cli("--help")
    assert result.code == 0
    commands = result.out.split("Commands:", 1)[1]
    listed = {line.split()[0] for line in commands.splitlines() if line.strip()}
    assert set(COMMANDS) <= listed
    assert "4 lock timeout" in " ".join(result.out.split())
    assert run_cli("-h").out == result.out


def test_version_is_the_installed_version(run_cli) -> None:
    result = run_cli("--version")
    assert result.code == 0
    assert result.out.strip() == f"migrata, version {package_version('migrata')}"


# -- up ---------------------------------------------------------------------------------------


def test_up_applies_every_pending_migration_with_a_line_each(run_cli, db, folder) -> None:
    result = run_cli("-u", db.url, "-d", folder, "up")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert [line.split(" (")[0] for line in lines[:3]] == [
        "applied 0001_users",
        "applied 0002_posts",
        "applied 0003_tags",
    ]
    assert "(2 statement(s)" in lines[1]
    assert re.fullmatch(r"applied 3 migration\(s\) in \d+ ms", lines[3])
    assert all(db.table_exists(t) for t in ("users", "posts", "tags"))
    assert states(run_cli, db.url, folder) == {
        "0001": "applied",
        "0002": "applied",
        "0003": "applied",
    }

    again = run_cli("-u", db.url, "-d", folder, "up")
    assert again.code == 0
    assert again.out.strip() == "nothing to apply: the database is up to date"


def test_up_json_lists_the_steps(run_cli, db, folder) -> None:
    result = run_cli("-u", db.url, "-d", folder, "up", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)  # the whole of stdout: no progress lines mixed in
    assert report["direction"] == "up"
    assert report["dry_run"] is False
    steps = report["steps"]
    assert [s["version"] for s in steps] == ["0001", "0002", "0003"]
    assert [s["name"] for s in steps] == ["users", "posts", "tags"]
    assert [s["statements"] for s in steps] == [1, 2, 1]
    # Where DDL commits implicitly (MySQL/MariaDB) these DDL migrations run statement by
    # statement; elsewhere each runs in one transaction.
    assert all(s["direction"] == "up" for s in steps)
    assert [s["transactional"] for s in steps] == [db.transactional_ddl] * 3
    assert all(isinstance(s["duration_ms"], (int, float)) and s["duration_ms"] >= 0 for s in steps)
    assert set(steps[0]) == {
        "version",
        "name",
        "direction",
        "duration_ms",
        "statements",
        "transactional",
    }


def test_up_to_stops_at_the_version(run_cli, db, folder) -> None:
    result = run_cli("-u", db.url, "-d", folder, "up", "--to", "0002")
    assert result.code == 0, result.err
    assert "applied 2 migration(s)" in result.out
    assert db.table_exists("posts") and not db.table_exists("tags")
    assert states(run_cli, db.url, folder) == {
        "0001": "applied",
        "0002": "applied",
        "0003": "pending",
    }


def test_up_to_an_unknown_version_exits_3_and_applies_nothing(run_cli, sqlite_db, folder) -> None:
    result = run_cli("-u", sqlite_db.url, "-d", folder, "up", "--to", "0042")
    assert result.code == 3
    assert "0042" in result.err
    assert not sqlite_db.table_exists("users")


def test_up_dry_run_changes_nothing(run_cli, db, folder) -> None:
    result = run_cli("-u", db.url, "-d", folder, "up", "--dry-run")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "dry run: would have applied:",
        "  0001_users",
        "  0002_posts",
        "  0003_tags",
    ]
    as_json = run_cli("-u", db.url, "-d", folder, "up", "--dry-run", "--json", "--to", "0002")
    report = json.loads(as_json.out)
    assert report["dry_run"] is True
    assert [s["version"] for s in report["steps"]] == ["0001", "0002"]
    assert not any(db.table_exists(t) for t in ("users", "posts", "tags"))
    assert states(run_cli, db.url, folder) == {
        "0001": "pending",
        "0002": "pending",
        "0003": "pending",
    }
    assert not db.table_exists("migrata_history")  # not even the tracking table


def test_quiet_up_prints_nothing(run_cli, sqlite_db, folder) -> None:
    result = run_cli("-q", "-u", sqlite_db.url, "-d", folder, "up")
    assert result.code == 0
    assert result.out == ""
    assert sqlite_db.table_exists("tags")


# -- down and redo ----------------------------------------------------------------------------


def test_down_reverts_the_newest_migration_by_default(run_cli, db, folder) -> None:
    assert run_cli("-u", db.url, "-d", folder, "up").code == 0
    result = run_cli("-u", db.url, "-d", folder, "down")
    assert result.code == 0, result.err
    assert result.out.startswith("reverted 0003_tags (")
    assert "reverted 1 migration(s)" in result.out
    assert not db.table_exists("tags") and db.table_exists("posts")
    assert states(run_cli, db.url, folder) == {
        "0001": "applied",
        "0002": "applied",
        "0003": "pending",
    }


def test_down_steps(run_cli, db, folder) -> None:
    assert run_cli("-u", db.url, "-d", folder, "up").code == 0
    result = run_cli("-u", db.url, "-d", folder, "down", "--steps", "2", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["direction"] == "down"
    assert [(s["version"], s["direction"]) for s in report["steps"]] == [
        ("0003", "down"),
        ("0002", "down"),
    ]
    assert [s["statements"] for s in report["steps"]] == [1, 2]
    assert db.table_exists("users") and not db.table_exists("posts")
    assert states(run_cli, db.url, folder) == {
        "0001": "applied",
        "0002": "pending",
        "0003": "pending",
    }


def test_down_to_keeps_the_target_applied(run_cli, db, folder) -> None:
    assert run_cli("-u", db.url, "-d", folder, "up").code == 0
    result = run_cli("-u", db.url, "-d", folder, "down", "--to", "0001")
    assert result.code == 0, result.err
    assert [line.split(" (")[0] for line in result.out.splitlines()[:2]] == [
        "reverted 0003_tags",
        "reverted 0002_posts",
    ]
    assert states(run_cli, db.url, folder) == {
        "0001": "applied",
        "0002": "pending",
        "0003": "pending",
    }


def test_down_all_reverts_everything(run_cli, db, folder) -> None:
    assert run_cli("-u", db.url, "-d", folder, "up").code == 0
    result = run_cli("-u", db.url, "-d", folder, "down", "--all")
    assert result.code == 0, result.err
    assert "reverted 3 migration(s)" in result.out
    assert not any(db.table_exists(t) for t in ("users", "posts", "tags"))
    assert set(states(run_cli, db.url, folder).values()) == {"pending"}
    again = run_cli("-u", db.url, "-d", folder, "down")
    assert again.code == 0
    assert again.out.strip() == "nothing to revert"


def test_down_dry_run_changes_nothing(run_cli, sqlite_db, folder) -> None:
    assert run_cli("-u", sqlite_db.url, "-d", folder, "up").code == 0
    result = run_cli("-u", sqlite_db.url, "-d", folder, "down", "--all", "--dry-run")
    assert result.code == 0
    # The SQL that would revert them, newest first, with its framing.
    heads = [line for line in result.out.splitlines() if line.startswith("-- revert ")]
    assert [h.split()[2] for h in heads] == ["0003_tags", "0002_posts", "0001_users"]
    assert result.out.count("BEGIN;") == 3 and result.out.count("COMMIT;") == 3
    assert sqlite_db.table_exists("users") and sqlite_db.table_exists("tags")
    assert set(states(run_cli, sqlite_db.url, folder).values()) == {"applied"}


def test_down_without_down_sql_exits_3_names_the_version_and_runs_nothing(
    run_cli, db, tmp_path
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_users.up.sql": "CREATE TABLE users (id INTEGER);\n",
            "0001_users.down.sql": "DROP TABLE users;\n",
            "0002_posts.sql": "CREATE TABLE posts (id INTEGER);\n",
            "0003_tags.up.sql": "CREATE TABLE tags (id INTEGER);\n",
            "0003_tags.down.sql": "DROP TABLE tags;\n",
        },
    )
    assert run_cli("-u", db.url, "-d", folder, "up").code == 0
    for args in (["--all"], ["--steps", "2"], ["--to", "0001"]):
        result = run_cli("-u", db.url, "-d", folder, "down", *args)
        assert result.code == 3, (args, result.err)
        assert "0002" in result.err
        assert "no down SQL" in result.err
        assert "0003" not in result.err.split("no down SQL for", 1)[1].split(":", 1)[0]
    # Nothing ran: not even 0003, which does have down SQL and comes first.
    assert all(db.table_exists(t) for t in ("users", "posts", "tags"))
    assert set(states(run_cli, db.url, folder).values()) == {"applied"}
    assert audit_events(run_cli, db.url, folder) == [
        e for v in ("0001", "0002", "0003") for e in run_events(db, v, "applied")
    ]


@pytest.mark.parametrize(
    "args", [["--steps", "1", "--to", "0001"], ["--all", "--to", "0001"], ["--steps", "0"]]
)
def test_down_rejects_conflicting_or_bad_options(run_cli, sqlite_db, folder, args) -> None:
    result = run_cli("-u", sqlite_db.url, "-d", folder, "down", *args)
    assert result.code == 2
    assert "Usage: migrata down" in result.err


def test_redo_reverts_and_reapplies_the_newest(run_cli, db, folder) -> None:
    assert run_cli("-u", db.url, "-d", folder, "up").code == 0
    result = run_cli("-u", db.url, "-d", folder, "redo")
    assert result.code == 0, result.err
    assert [line.split(" (")[0] for line in result.out.splitlines()] == [
        "reverted 0003_tags",
        "applied 0003_tags",
    ]
    assert db.table_exists("tags")
    redone = run_events(db, "0003", "reverted") + run_events(db, "0003", "applied")
    assert audit_events(run_cli, db.url, folder)[-len(redone) :] == redone
    assert set(states(run_cli, db.url, folder).values()) == {"applied"}


def test_redo_with_nothing_applied_exits_3(run_cli, sqlite_db, folder) -> None:
    result = run_cli("-u", sqlite_db.url, "-d", folder, "redo")
    assert result.code == 3
    assert "nothing to redo" in result.err


# -- status -----------------------------------------------------------------------------------


def test_status_text(run_cli, sqlite_db, folder) -> None:
    result = run_cli("-u", sqlite_db.url, "-d", folder, "status")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == f"database: {sqlite_db.url}"
    assert lines[1] == "layout: migrata"
    assert lines[2] == "current version: none (nothing applied)"
    assert re.fullmatch(r"\s+0001\s+pending\s+users", lines[3])
    assert lines[-1] == "3 pending"
    assert not sqlite_db.table_exists("migrata_history")  # status creates nothing

    run_cli("-u", sqlite_db.url, "-d", folder, "up", "--to", "0001")
    after = run_cli("-u", sqlite_db.url, "-d", folder, "status").out.splitlines()
    assert after[2] == "current version: 0001 (users)"
    assert re.fullmatch(r"\s+0001\s+applied\s+users\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", after[3])
    assert re.fullmatch(r"\s+0002\s+pending\s+posts", after[4])
    assert after[-1] == "1 applied, 2 pending"


def test_status_json(run_cli, db, folder) -> None:
    run_cli("-u", db.url, "-d", folder, "up", "--to", "0002")
    result = run_cli("-u", db.url, "-d", folder, "status", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["layout"] == "migrata"
    assert data["current_version"] == "0002"
    assert data["counts"] == {
        "applied": 2,
        "pending": 1,
        "changed": 0,
        "missing": 0,
        "failed": 0,
        "skipped": 0,
        "not-applicable": 0,
    }
    assert [(m["version"], m["name"], m["state"]) for m in data["migrations"]] == [
        ("0001", "users", "applied"),
        ("0002", "posts", "applied"),
        ("0003", "tags", "pending"),
    ]
    first, _, last = data["migrations"]
    assert first["checksum"] == first["applied_checksum"] and first["checksum"]
    assert first["path"] == str(folder / "0001_users.up.sql")
    assert first["applied_at"] is not None and first["statements_total"] == 1
    assert last["applied_at"] is None and last["applied_checksum"] is None
    assert data["problems"] == []

    (folder / "0001_users.up.sql").write_text("CREATE TABLE users (id BIGINT);\n")
    (folder / "0002_posts.up.sql").unlink()
    (folder / "0002_posts.down.sql").unlink()
    drift = json.loads(run_cli("-u", db.url, "-d", folder, "status", "--json").out)
    assert [m["state"] for m in drift["migrations"]] == ["changed", "missing", "pending"]
    assert drift["counts"]["changed"] == 1 and drift["counts"]["missing"] == 1
    assert {(p["code"], p["version"]) for p in drift["problems"]} == {
        ("changed", "0001"),
        ("missing", "0002"),
    }
    assert all(p["message"] and p["next_step"] for p in drift["problems"])


def test_status_verbose_lists_ignored_files(run_cli, sqlite_db, folder) -> None:
    (folder / "README.md").write_text("notes\n")
    (folder / "seed.csv").write_text("1,2\n")
    quiet = run_cli("-u", sqlite_db.url, "-d", folder, "status")
    assert "ignored" not in quiet.out
    verbose = run_cli("-v", "-u", sqlite_db.url, "-d", folder, "status")
    assert verbose.code == 0
    ignored = sorted(line for line in verbose.out.splitlines() if line.startswith("ignored: "))
    assert ignored == [f"ignored: {folder / 'README.md'}", f"ignored: {folder / 'seed.csv'}"]


def test_status_of_an_empty_folder(run_cli, sqlite_db, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli("-u", sqlite_db.url, "-d", tmp_path / "empty", "status")
    assert result.code == 0
    assert "no migrations found" in result.out


# -- history ----------------------------------------------------------------------------------


def test_history_text_and_json(run_cli, db, folder) -> None:
    fresh = run_cli("-u", db.url, "-d", folder, "history")
    assert fresh.code == 0 and fresh.out.strip() == "no history yet"
    assert json.loads(run_cli("-u", db.url, "-d", folder, "history", "--json").out) == []

    run_cli("-u", db.url, "-d", folder, "up")
    run_cli("-u", db.url, "-d", folder, "down")
    text = run_cli("-u", db.url, "-d", folder, "history")
    assert text.code == 0
    expected = [
        *run_events(db, "0001", "applied"),
        *run_events(db, "0002", "applied"),
        *run_events(db, "0003", "applied"),
        *run_events(db, "0003", "reverted"),
    ]
    rows = [line.split() for line in text.out.splitlines()]
    # Each event names its migration: version_name.
    names = {"0001": "users", "0002": "posts", "0003": "tags"}
    assert [(r[3], r[2]) for r in rows] == [(f"{v}_{names[v]}", e) for v, e in expected]
    events = json.loads(run_cli("-u", db.url, "-d", folder, "history", "--json").out)
    assert [(e["version"], e["event"]) for e in events] == expected
    assert [e["name"] for e in events] == [names[v] for v, _ in expected]
    assert set(events[0]) == {
        "id",
        "version",
        "name",
        "event",
        "checksum",
        "at",
        "actor",
        "detail",
    }
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(expected)
    assert all(e["at"] and "@" in e["actor"] for e in events)
    assert events[0]["checksum"].startswith("sha256")


# -- validate ---------------------------------------------------------------------------------


def test_validate_text_and_json(run_cli, db, folder) -> None:
    run_cli("-u", db.url, "-d", folder, "up", "--to", "0002")
    text = run_cli("-u", db.url, "-d", folder, "validate")
    assert text.code == 0
    assert text.out.splitlines() == ["applied: 2, expected: 3, pending: 1, failed: 0", "valid"]
    result = run_cli("-u", db.url, "-d", folder, "validate", "--json")
    assert result.code == 0
    assert json.loads(result.out) == {
        "applied": ["0001", "0002"],
        "expected": ["0001", "0002", "0003"],
        "pending": ["0003"],
        "failed": [],
        "not_applicable": [],
        "is_valid": True,
        "problems": [],
    }


def test_validate_json_reports_drift_and_exits_3(run_cli, sqlite_db, folder) -> None:
    run_cli("-u", sqlite_db.url, "-d", folder, "up", "--to", "0001")
    (folder / "0001_users.up.sql").write_text("CREATE TABLE users (id INTEGER, extra TEXT);\n")
    result = run_cli("-u", sqlite_db.url, "-d", folder, "validate", "--json")
    assert result.code == 3
    data = json.loads(result.out)
    assert data["is_valid"] is False
    assert data["applied"] == ["0001"] and data["pending"] == ["0002", "0003"]
    assert [(p["code"], p["version"]) for p in data["problems"]] == [("changed", "0001")]
    assert "0001_users.up.sql" in data["problems"][0]["message"]
    text = run_cli("-u", sqlite_db.url, "-d", folder, "validate")
    assert text.code == 3
    assert "problem: 0001_users" in text.out and "valid" != text.out.splitlines()[-1]


# -- plan -------------------------------------------------------------------------------------


def _skeleton(line: str) -> str:
    """A plan line with migrata's history writes shortened to what they record."""
    version = re.search(r"'(000\d)'", line)
    if line.startswith('INSERT INTO "migrata_history" ('):
        state = "applied" if ", TRUE, " in line else "started"
        return f"history: {version[1] if version else '?'} {state}"
    if line.startswith('INSERT INTO "migrata_history_audit"'):
        event = re.search(r"'(000\d)', '(\w+)'", line)
        return f"audit: {event[1]} {event[2]}" if event else line
    if line.startswith('-- after each statement: UPDATE "migrata_history"'):
        return f"progress: {version[1] if version else '?'}"
    return line


def test_plan_prints_the_statements_in_order_with_transaction_framing(
    run_cli, sqlite_db, tmp_path
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_users.sql": "CREATE TABLE users (id INTEGER);\nINSERT INTO users VALUES (1);\n",
            "0002_index.sql": (
                "-- migrata: no-transaction\nCREATE INDEX users_id ON users (id);\nANALYZE users;\n"
            ),
            "0003_more.sql": "CREATE TABLE more (id INTEGER);\n",
        },
    )
    result = run_cli("-u", sqlite_db.url, "-d", folder, "plan")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    expected_order = [
        "-- layout: migrata",
        f"-- apply 0001_users ({folder / '0001_users.sql'}), in one transaction",
        "BEGIN;",
        "PRAGMA busy_timeout = 5000;",  # the lock timeout, as SQLite has it
        "CREATE TABLE users (id INTEGER);",
        "INSERT INTO users VALUES (1);",
        "history: 0001 applied",
        "audit: 0001 applied",
        "COMMIT;",
        (
            f"-- apply 0002_index ({folder / '0002_index.sql'}), outside a transaction, "
            "statement by statement"
        ),
        "-- (marked to run outside a transaction)",
        "BEGIN;",
        "history: 0002 started",
        "audit: 0002 started",
        "COMMIT;",
        "CREATE INDEX users_id ON users (id);",
        "ANALYZE users;",
        "progress: 0002",
        "BEGIN;",
        "history: 0002 applied",
        "audit: 0002 applied",
        "COMMIT;",
        f"-- apply 0003_more ({folder / '0003_more.sql'}), in one transaction",
        "BEGIN;",  # (the busy timeout is set already: it is sent when it changes)
        "CREATE TABLE more (id INTEGER);",
        "history: 0003 applied",
        "audit: 0003 applied",
        "COMMIT;",
    ]
    assert [_skeleton(line) for line in lines if line] == expected_order
    # plan is read-only
    assert not sqlite_db.table_exists("users") and not sqlite_db.table_exists("migrata_history")

    only_first = run_cli(
        "-u", sqlite_db.url, "-d", folder, "--table", "tracking", "plan", "--to", "0001"
    )
    assert only_first.code == 0
    assert "0002_index" not in only_first.out
    assert 'INSERT INTO "tracking" (' in only_first.out

    run_cli("-u", sqlite_db.url, "-d", folder, "up")
    assert run_cli("-u", sqlite_db.url, "-d", folder, "plan").out.splitlines() == [
        "-- layout: migrata",
        "-- nothing to apply",
    ]


def test_plan_on_postgres(run_cli, postgres_db, folder) -> None:
    result = run_cli("-u", postgres_db.url, "-d", folder, "plan")
    assert result.code == 0, result.err
    lines = [
        line
        for line in result.out.splitlines()
        if line and not line.startswith(("--", "SET LOCAL ", 'INSERT INTO "migrata_history'))
    ]
    assert "SET LOCAL lock_timeout = 5000;" in result.out  # the DDL lock timeout rides along
    assert lines == [
        "BEGIN;",
        THREE["0001_users.up.sql"].strip(),
        "COMMIT;",
        "BEGIN;",
        *THREE["0002_posts.up.sql"].strip().splitlines(),
        "COMMIT;",
        "BEGIN;",
        THREE["0003_tags.up.sql"].strip(),
        "COMMIT;",
    ]
    assert not postgres_db.table_exists("users")


def test_plan_on_mysql(run_cli, mysql_db, tmp_path) -> None:
    # DDL commits implicitly: those migrations are not framed by BEGIN/COMMIT, and the plan
    # says why; a data-only one still runs in one transaction.
    seed = "INSERT INTO tags (id) VALUES (1);\n"
    folder = write_migrations(tmp_path / "m", {**THREE_MYSQL, "0004_seed.sql": seed})
    result = run_cli("-u", mysql_db.url, "-d", folder, "plan")
    assert result.code == 0, result.err
    lines = [line for line in result.out.splitlines() if line]
    heads = [line for line in lines if line.startswith("-- apply 000")]
    assert [h.rsplit("), ", 1)[1] for h in heads] == [
        "outside a transaction, statement by statement",
        "outside a transaction, statement by statement",
        "outside a transaction, statement by statement",
        "in one transaction",
    ]
    note = (
        "-- (CREATE TABLE (line 1) commits implicitly on MySQL/MariaDB, so this migration runs "
        "statement by statement with its progress recorded)"
    )
    assert lines.count(note) == 3
    ours = ("--", "SET ", "INSERT INTO `migrata_history", "BEGIN;", "COMMIT;")
    assert [line for line in lines if not line.startswith(ours)] == [
        THREE["0001_users.up.sql"].strip(),
        *THREE["0002_posts.up.sql"].strip().splitlines(),
        THREE["0003_tags.up.sql"].strip(),
        seed.strip(),
    ]
    # Only the data-only migration runs its statement inside a transaction.
    seed_at = lines.index(seed.strip())
    assert lines[seed_at - 1].startswith(("BEGIN;", "SET "))
    assert lines[seed_at + 1].startswith("INSERT INTO `migrata_history")
    assert not mysql_db.table_exists("users")


# -- resolve, mark-applied, unmark ------------------------------------------------------------

HALF_DONE = {
    "0001_half.sql": (
        "-- migrata: no-transaction\n"
        "CREATE TABLE half (id INTEGER);\n"
        "SELECT no_such_column FROM half;\n"
    ),
}


@pytest.mark.parametrize("outcome, state", [("--applied", "applied"), ("--rolled-back", "pending")])
def test_resolve_clears_a_failed_migration(run_cli, db, tmp_path, outcome, state) -> None:
    folder = write_migrations(tmp_path / "m", HALF_DONE)
    assert run_cli("-u", db.url, "-d", folder, "up").code == 1
    assert states(run_cli, db.url, folder) == {"0001": "failed"}
    text = run_cli("-u", db.url, "-d", folder, "status").out
    assert "failed" in text and "at statement 2 of 2" in text

    result = run_cli("-u", db.url, "-d", folder, "resolve", "0001", outcome)
    assert result.code == 0, result.err
    assert result.out.strip() == f"resolved 0001 as {outcome[2:]}"
    assert states(run_cli, db.url, folder) == {"0001": state}
    events = audit_events(run_cli, db.url, folder)
    assert events[-1] == ("0001", "resolved")
    assert ("0001", "failed") in events
    assert db.table_exists("half")  # resolve runs nothing


def test_resolve_needs_an_outcome_and_a_failed_migration(run_cli, sqlite_db, folder) -> None:
    run_cli("-u", sqlite_db.url, "-d", folder, "up")
    missing_flag = run_cli("-u", sqlite_db.url, "-d", folder, "resolve", "0001")
    assert missing_flag.code == 2
    assert "--applied or --rolled-back" in missing_flag.err
    not_failed = run_cli("-u", sqlite_db.url, "-d", folder, "resolve", "0001", "--applied")
    assert not_failed.code == 3
    assert "not failed" in not_failed.err
    unknown = run_cli("-u", sqlite_db.url, "-d", folder, "resolve", "0099", "--applied")
    assert unknown.code == 3
    assert "0099" in unknown.err


def test_mark_applied_records_without_running(run_cli, db, folder) -> None:
    result = run_cli("-u", db.url, "-d", folder, "mark-applied", "0002")
    assert result.code == 0, result.err
    assert result.out.strip() == "marked 0002 as applied"
    assert not db.table_exists("posts")
    assert states(run_cli, db.url, folder) == {
        "0001": "pending",
        "0002": "applied",
        "0003": "pending",
    }
    assert audit_events(run_cli, db.url, folder) == [("0002", "marked")]

    twice = run_cli("-u", db.url, "-d", folder, "mark-applied", "0002")
    assert twice.code == 3 and "already applied" in twice.err
    unknown = run_cli("-u", db.url, "-d", folder, "mark-applied", "0099")
    assert unknown.code == 3 and "0099" in unknown.err


def test_unmark_forgets_without_running_down(run_cli, db, folder) -> None:
    run_cli("-u", db.url, "-d", folder, "up")
    result = run_cli("-u", db.url, "-d", folder, "unmark", "0003")
    assert result.code == 0, result.err
    assert result.out.strip() == "unmarked 0003"
    assert db.table_exists("tags")  # its down SQL did not run
    assert states(run_cli, db.url, folder) == {
        "0001": "applied",
        "0002": "applied",
        "0003": "pending",
    }
    assert audit_events(run_cli, db.url, folder)[-1] == ("0003", "unmarked")

    again = run_cli("-u", db.url, "-d", folder, "unmark", "0003")
    assert again.code == 3
    assert "0003" in again.err


# -- new --------------------------------------------------------------------------------------


def test_new_creates_a_timestamped_file_in_the_folder(run_cli, tmp_path) -> None:
    folder = tmp_path / "fresh" / "migrations"  # does not exist yet
    before = datetime.now(UTC).replace(microsecond=0)
    result = run_cli("-d", folder, "new", "Add users")
    after = datetime.now(UTC)
    assert result.code == 0, result.err
    files = sorted(p.name for p in folder.iterdir())
    assert len(files) == 1
    match = re.fullmatch(r"(\d{14})_add_users\.sql", files[0])
    assert match, files
    stamp = datetime.strptime(match[1], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    assert before <= stamp <= after
    assert result.out.strip() == f"created {folder / files[0]}"
    assert (folder / files[0]).read_text().startswith("-- ")
    # A second one in the same second still gets its own, later version.
    second = run_cli("-d", folder, "new", "add posts")
    assert second.code == 0
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2 and names[1].endswith("_add_posts.sql") and names[0] == files[0]


def test_new_sequential_numbers_the_folder(run_cli, tmp_path) -> None:
    folder = tmp_path / "seq"
    assert run_cli("-d", folder, "new", "--sequential", "first").code == 0
    assert run_cli("-d", folder, "new", "second").code == 0  # follows the folder's style
    assert sorted(p.name for p in folder.iterdir()) == ["0001_first.sql", "0002_second.sql"]


def test_new_with_down_writes_both_files(run_cli, tmp_path) -> None:
    folder = tmp_path / "pairs"
    result = run_cli("-d", folder, "new", "--sequential", "--down", "users")
    assert result.code == 0, result.err
    assert sorted(p.name for p in folder.iterdir()) == ["0001_users.down.sql", "0001_users.up.sql"]
    assert result.out.splitlines() == [
        f"created {folder / '0001_users.up.sql'}",
        f"created {folder / '0001_users.down.sql'}",
    ]


def test_new_files_are_picked_up_by_status(run_cli, sqlite_db, tmp_path) -> None:
    folder = tmp_path / "m"
    run_cli("-d", folder, "new", "--sequential", "--down", "users")
    data = json.loads(run_cli("-u", sqlite_db.url, "-d", folder, "status", "--json").out)
    assert [(m["version"], m["name"], m["state"]) for m in data["migrations"]] == [
        ("0001", "users", "pending")
    ]


def test_new_with_a_name_without_letters_exits_2(run_cli, tmp_path) -> None:
    result = run_cli("-d", tmp_path / "m", "new", "!!!")
    assert result.code == 2
    assert "'!!!'" in result.err


# -- settings: flags > environment > config file ----------------------------------------------


def test_database_url_from_migrata_database_url_then_database_url(
    run_cli, monkeypatch, tmp_path, folder
) -> None:
    first, second = f"sqlite:///{tmp_path / 'first.db'}", f"sqlite:///{tmp_path / 'second.db'}"
    monkeypatch.setenv("DATABASE_URL", second)
    only_generic = run_cli("-d", folder, "status")
    assert only_generic.code == 0, only_generic.err
    assert only_generic.out.splitlines()[0] == f"database: {second}"

    monkeypatch.setenv("MIGRATA_DATABASE_URL", first)
    both = run_cli("-d", folder, "status")
    assert both.out.splitlines()[0] == f"database: {first}"

    flag = f"sqlite:///{tmp_path / 'flag.db'}"
    assert run_cli("-u", flag, "-d", folder, "status").out.splitlines()[0] == f"database: {flag}"


def test_settings_from_pyproject_tool_migrata(run_cli, tmp_path) -> None:
    write_migrations(
        Path("db/migrations"), {"0001_from_pyproject.sql": "CREATE TABLE p (id INTEGER);\n"}
    )
    database = tmp_path / "pyproject.db"
    Path("pyproject.toml").write_text(
        "[project]\nname = 'app'\n\n"
        "[tool.migrata]\n"
        f"database_url = 'sqlite:///{database}'\n"
        "dir = 'db/migrations'\n"
        "table = 'pyproject_history'\n"
    )
    result = run_cli("up")
    assert result.code == 0, result.err
    assert "applied 0001_from_pyproject" in result.out
    from conftest import Database

    db = Database("sqlite", f"sqlite:///{database}")
    assert db.table_exists("p") and db.table_exists("pyproject_history")
    assert not db.table_exists("migrata_history")


def test_settings_from_migrata_toml(run_cli, tmp_path) -> None:
    write_migrations(Path("sql"), {"0001_from_toml.sql": "CREATE TABLE t (id INTEGER);\n"})
    database = tmp_path / "toml.db"
    Path("migrata.toml").write_text(
        f"url = 'sqlite:///{database}'\ndirectory = 'sql'\ntable = 'toml_history'\n"
    )
    result = run_cli("status", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["database"] == f"sqlite:///{database}"
    assert [m["name"] for m in data["migrations"]] == ["from_toml"]
    assert run_cli("up").code == 0
    from conftest import Database

    assert Database("sqlite", f"sqlite:///{database}").table_exists("toml_history")


def test_new_uses_the_dir_of_the_config_file(run_cli) -> None:
    Path("migrata.toml").write_text("dir = 'schema'\n")
    result = run_cli("new", "--sequential", "first")
    assert result.code == 0, result.err
    assert [p.name for p in Path("schema").iterdir()] == ["0001_first.sql"]


def test_table_precedence_flag_over_env_over_file(run_cli, monkeypatch, tmp_path, folder) -> None:
    from conftest import Database

    def used_table(*flags: str) -> set[str]:
        database = tmp_path / f"precedence-{len(list(tmp_path.glob('precedence-*')))}.db"
        Path("migrata.toml").write_text(
            f"database_url = 'sqlite:///{database}'\ndir = '{folder}'\ntable = 'file_table'\n"
        )
        result = run_cli(*flags, "up", "--to", "0001")
        assert result.code == 0, result.err
        db = Database("sqlite", f"sqlite:///{database}")
        return {
            t
            for t in ("file_table", "env_table", "flag_table", "migrata_history")
            if db.table_exists(t)
        }

    assert used_table() == {"file_table"}
    monkeypatch.setenv("MIGRATA_TABLE", "env_table")
    assert used_table() == {"env_table"}
    assert used_table("--table", "flag_table") == {"flag_table"}


def test_dir_precedence_flag_over_env_over_file(run_cli, monkeypatch, tmp_path, sqlite_db) -> None:
    for layer in ("file", "env", "flag"):
        write_migrations(tmp_path / layer, {f"0001_from_{layer}.sql": "SELECT 1;\n"})
    Path("pyproject.toml").write_text(
        f"[tool.migrata]\nurl = '{sqlite_db.url}'\ndir = '{tmp_path / 'file'}'\n"
    )

    def names(*flags: object) -> list[str]:
        result = run_cli(*flags, "status", "--json")
        assert result.code == 0, result.err
        return [m["name"] for m in json.loads(result.out)["migrations"]]

    assert names() == ["from_file"]
    monkeypatch.setenv("MIGRATA_DIR", str(tmp_path / "env"))
    assert names() == ["from_env"]
    assert names("-d", tmp_path / "flag") == ["from_flag"]


def test_database_url_env_beats_the_config_file(run_cli, monkeypatch, tmp_path, folder) -> None:
    from_file, from_env = f"sqlite:///{tmp_path / 'file.db'}", f"sqlite:///{tmp_path / 'env.db'}"
    Path("migrata.toml").write_text(f"database_url = '{from_file}'\ndir = '{folder}'\n")
    assert run_cli("status").out.splitlines()[0] == f"database: {from_file}"
    monkeypatch.setenv("DATABASE_URL", from_env)
    assert run_cli("status").out.splitlines()[0] == f"database: {from_env}"


def test_config_value_env_name_is_read_from_the_environment(
    run_cli, monkeypatch, tmp_path, folder
) -> None:
    target = f"sqlite:///{tmp_path / 'secret.db'}"
    Path("migrata.toml").write_text(f"database_url = 'env:APP_DB_FOR_TEST'\ndir = '{folder}'\n")
    unset = run_cli("status")
    assert unset.code == 2
    assert "APP_DB_FOR_TEST" in unset.err and "migrata.toml" in unset.err
    monkeypatch.setenv("APP_DB_FOR_TEST", target)
    result = run_cli("status")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == f"database: {target}"


@pytest.mark.parametrize(
    "filename, text",
    [
        ("migrata.toml", "dir = 'migrations'\ncolour = 'red'\n"),
        ("pyproject.toml", "[tool.migrata]\ndir = 'migrations'\ncolour = 'red'\n"),
    ],
)
def test_unknown_config_key_exits_2_naming_file_and_key(
    run_cli, sqlite_db, filename: str, text: str
) -> None:
    Path(filename).write_text(text)
    result = run_cli("-u", sqlite_db.url, "status")
    assert result.code == 2
    assert filename in result.err
    assert "'colour'" in result.err
    assert "Traceback" not in result.err


def test_explicit_config_file_resolves_dir_from_its_folder(run_cli, tmp_path, sqlite_db) -> None:
    project = tmp_path / "project"
    write_migrations(project / "migs", {"0001_explicit.sql": "SELECT 1;\n"})
    (project / "deploy.toml").write_text(f"url = '{sqlite_db.url}'\ndir = 'migs'\n")
    result = run_cli("--config", project / "deploy.toml", "status", "--json")
    assert result.code == 0, result.err
    assert [m["name"] for m in json.loads(result.out)["migrations"]] == ["explicit"]
    missing = run_cli("--config", tmp_path / "nope.toml", "status")
    assert missing.code == 2 and "nope.toml" in missing.err


# -- real entry points ------------------------------------------------------------------------


def test_python_dash_m_migrata_runs_commands(tmp_path, folder) -> None:
    url = f"sqlite:///{tmp_path / 'proc.db'}"
    up = run_process("-d", folder, "up", env={"MIGRATA_DATABASE_URL": url}, cwd=tmp_path)
    assert up.code == 0, up.err
    assert "applied 3 migration(s)" in up.out
    status = run_process("-u", url, "-d", folder, "status", "--json", cwd=tmp_path)
    assert status.code == 0, status.err
    assert json.loads(status.out)["counts"]["applied"] == 3


def test_console_script_runs_commands(tmp_path, folder) -> None:
    url = f"sqlite:///{tmp_path / 'script.db'}"
    version = run_process("--version", script=True)
    assert version.code == 0 and package_version("migrata") in version.out
    status = run_process("-u", url, "-d", folder, "status", script=True, cwd=tmp_path)
    assert status.code == 0, status.err
    assert status.out.splitlines()[-1] == "3 pending"
    assert run_process("-u", url, "-d", folder, "status", "--exit-code", script=True).code == 5
