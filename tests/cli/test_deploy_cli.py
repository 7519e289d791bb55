"""The deploy side of the CLI, end to end on real databases: JSON logs (``--log-format json``,
MIGRATA_LOG_FORMAT), passwords kept out of them, ``wait``, ``create-database`` /
``drop-database`` (and ``up --create-database``), confirmation prompts only on a terminal, the
live progress bar only on a terminal, ``status --exit-code`` as a health check, and the text
progress lines that ``-q`` hides."""

# ruff: noqa: F811 - fixtures are imported from cli_support and used as parameters

from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
import pytest
from cli_support import (  # noqa: F401 - fixtures are found by name
    CONSOLE_SCRIPT,
    Result,
    clean_cli_state,
    run_cli,
    with_password,
    with_port,
)

from conftest import (
    MYSQL_ADMIN_URL,
    POSTGRES_ADMIN_URL,
    Database,
    require_mysql,
    require_postgres,
    require_server,
    write_migrations,
)
from migrata.events import EVENT, FIELDS
from migrata.output import JsonLogFormatter
from migrata.urls import parse_url

# -- helpers ----------------------------------------------------------------------------------

#: The keys every JSON log line has.
BASE_KEYS = {"time", "level", "event", "message"}
#: The events of a run, in the order a successful one logs them.
RUN_EVENTS = {"lock_acquired", "plan", "migration_started", "migration_applied", "run_finished"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def new_name() -> str:
    return f"migrata_t_{uuid.uuid4().hex[:12]}"


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every line of ``stderr`` as a JSON object with the keys every log line has."""
    lines = stderr.splitlines()
    assert lines, "nothing was logged on stderr"
    documents = []
    for line in lines:
        try:
            document = json.loads(line)
        except json.JSONDecodeError as exc:  # pragma: no cover - the failure message
            pytest.fail(f"a stderr line is not JSON ({exc}): {line!r}\nstderr:\n{stderr}")
        assert isinstance(document, dict), line
        assert BASE_KEYS <= document.keys(), line
        when = datetime.fromisoformat(document["time"])
        assert when.utcoffset() == timedelta(0), document["time"]  # UTC
        assert document["level"] in {"debug", "info", "warning", "error"}, line
        assert isinstance(document["event"], str) and document["event"], line
        assert isinstance(document["message"], str), line
        documents.append(document)
    return documents


def of_event(logs: Sequence[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [d for d in logs if d["event"] == event]


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def create_table(engine: str, name: str) -> str:
    if engine == "clickhouse":
        return f"CREATE TABLE {name} (id Int32) ENGINE = MergeTree ORDER BY id"
    return f"CREATE TABLE {name} (id INTEGER)"


def versions(db: Database) -> list[str]:
    return [str(row[0]) for row in db.history("version")]


def base_env(**extra: str) -> dict[str, str]:
    """A child's environment: no MIGRATA_* of the caller's, a wide xterm."""
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}}
    env.update(PYTHONIOENCODING="utf-8", TERM="xterm", COLUMNS="120", LINES="40")
    env.update(extra)
    return env


def process(*args: object, env: dict[str, str] | None = None, script: bool = False) -> Result:
    """migrata in a real process (``python -m migrata``, or the console script), stdin not a
    terminal (/dev/null), stdout and stderr pipes."""
    command = [CONSOLE_SCRIPT] if script else [sys.executable, "-m", "migrata"]
    proc = subprocess.run(
        [*command, *(str(a) for a in args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=base_env(**(env or {})),
        timeout=60,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def read_terminal(
    master: int, proc: subprocess.Popen[bytes], *, until: str | None = None, timeout: float = 30
) -> str:
    """What the child wrote to the terminal whose master side is ``master``: up to ``until``
    (when given), else until the child has exited and closed its side."""
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        if until is not None and until in data.decode("utf-8", "replace"):
            break
        ready, _, _ = select.select([master], [], [], 0.1)
        if not ready:
            if until is None and proc.poll() is not None:
                # Exited: whatever it wrote is readable now, or it wrote nothing more.
                ready, _, _ = select.select([master], [], [], 0.2)
                if not ready:
                    break
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child's side is closed and everything was read
            break
        if not chunk:
            break
        data += chunk
    else:
        pytest.fail(f"the child did not {'say ' + repr(until) if until else 'end'}: {data!r}")
    return data.decode("utf-8", "replace")


@dataclass
class TerminalRun:
    code: int
    terminal: str  # what the child wrote to the terminal
    out: str  # stdout, when it was a pipe
    err: str  # stderr, when it was a pipe


def run_on_terminal(
    *args: object,
    stdout_tty: bool = True,
    stderr_tty: bool = True,
    answer: str | None = None,
    prompt: str = "",
) -> TerminalRun:
    """The console script with stdin a pseudo-terminal, and stdout and stderr too unless
    told otherwise (then pipes); ``answer`` is typed once ``prompt`` has been shown."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [CONSOLE_SCRIPT, *(str(a) for a in args)],
        stdin=slave,
        stdout=slave if stdout_tty else subprocess.PIPE,
        stderr=slave if stderr_tty else subprocess.PIPE,
        env=base_env(),
        start_new_session=True,
    )
    os.close(slave)
    try:
        seen = ""
        if answer is not None:
            seen = read_terminal(master, proc, until=prompt)
            os.write(master, (answer + "\n").encode())
        seen += read_terminal(master, proc)
        code = proc.wait(timeout=30)
        out = proc.stdout.read().decode() if proc.stdout is not None else ""
        err = proc.stderr.read().decode() if proc.stderr is not None else ""
    finally:
        os.close(master)
        if proc.poll() is None:  # pragma: no cover - only when an assertion above failed
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    return TerminalRun(code, seen, out, err)


# -- databases that a test creates by name -----------------------------------------------------


@dataclass
class Place:
    """Where ``create-database`` makes databases of one engine, and how to look at them."""

    engine: str
    url: Callable[[str], str]
    #: The URL as migrata shows it (its password replaced by ***).
    shown: Callable[[str], str]
    exists: Callable[[str], bool]
    drop: Callable[[str], None]
    #: A database of the server's own, which drop-database refuses (None: SQLite has none).
    protected: str | None
    made: list[str] = field(default_factory=list)

    def fresh(self) -> str:
        name = new_name()
        self.made.append(name)
        assert not self.exists(name)
        return name


def _run(admin: Database, sql: str) -> None:
    admin.query(sql)


def _pg_place() -> Place:
    require_postgres()
    admin = Database("postgresql", POSTGRES_ADMIN_URL)
    base = urlsplit(POSTGRES_ADMIN_URL)

    def url(name: str) -> str:
        return base._replace(path=f"/{name}").geturl()

    return Place(
        "postgresql",
        url,
        url,  # no password in the URL: shown as it is
        lambda name: bool(admin.query("SELECT 1 FROM pg_database WHERE datname = %s", (name,))),
        lambda name: _run(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'),
        "postgres",
    )


def _mysql_place() -> Place:
    require_mysql()
    admin = Database("mysql", MYSQL_ADMIN_URL)
    base = urlsplit(MYSQL_ADMIN_URL)
    masked = base._replace(netloc=f"{base.username}:***@{base.hostname}:{base.port or 3306}")
    return Place(
        "mysql",
        lambda name: base._replace(path=f"/{name}").geturl(),
        lambda name: masked._replace(path=f"/{name}").geturl(),
        lambda name: bool(
            admin.query("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
        ),
        lambda name: _run(admin, f"DROP DATABASE IF EXISTS `{name}`"),
        "mysql",
    )


def _sqlite_place(folder: Path) -> Place:
    """Each database in a folder of its own, which does not exist before it is created."""

    def url(name: str) -> str:
        return f"sqlite:///{folder / name / 'app.db'}"

    return Place(
        "sqlite",
        url,
        url,
        lambda name: (folder / name / "app.db").exists(),
        lambda name: (folder / name / "app.db").unlink(missing_ok=True),
        None,
    )


def _clickhouse_place(chdb_path: str) -> Place:
    import chdb  # noqa: F401 - fails the test when chdb is missing

    admin = Database("clickhouse", f"chdb://{chdb_path}")

    def url(name: str) -> str:
        return f"chdb://{chdb_path}?database={name}"

    return Place(
        "clickhouse",
        url,
        url,
        lambda name: bool(
            admin.query("SELECT name FROM system.databases WHERE name = %s", (name,))
        ),
        lambda name: _run(admin, f"DROP DATABASE IF EXISTS `{name}` SYNC"),
        "system",
    )


@pytest.fixture(params=["sqlite", "postgresql", "mysql", "clickhouse"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    if request.param == "postgresql":
        made = _pg_place()
    elif request.param == "mysql":
        made = _mysql_place()
    elif request.param == "clickhouse":
        made = _clickhouse_place(request.getfixturevalue("chdb_path"))
    else:
        made = _sqlite_place(tmp_path / "databases")
    try:
        yield made
    finally:
        for name in made.made:
            made.drop(name)


@pytest.fixture
def pg_place() -> Iterator[Place]:
    made = _pg_place()
    try:
        yield made
    finally:
        for name in made.made:
            made.drop(name)


@pytest.fixture(params=["postgresql", "mysql"])
def server(request: pytest.FixtureRequest) -> Database:
    """A fresh database on each server engine in turn."""
    fixture = "mysql_db" if request.param == "mysql" else "postgres_db"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{parts.username}:***@{parts.hostname}{port}").geturl()


# -- 1. JSON logs of a run ----------------------------------------------------------------------


def assert_run_logged(logs: list[dict[str, Any]], folder: Path, statements: dict[str, int]) -> None:
    """The events of a successful ``up`` of ``statements`` (version: statement count), in
    order and with their fields."""
    expected = ["lock_acquired", "plan"]
    expected += ["migration_started", "migration_applied"] * len(statements)
    expected.append("run_finished")
    assert [d["event"] for d in logs if d["event"] in RUN_EVENTS] == expected
    assert not [d for d in logs if d["level"] == "error"]
    plan = of_event(logs, "plan")[0]
    assert plan["direction"] == "up"
    assert plan["versions"] == list(statements)
    assert is_number(of_event(logs, "lock_acquired")[0]["waited_ms"])
    started = of_event(logs, "migration_started")
    applied = of_event(logs, "migration_applied")
    for position, (version, count) in enumerate(statements.items(), 1):
        begin, done = started[position - 1], applied[position - 1]
        assert begin["version"] == done["version"] == version
        assert begin["position"] == position and begin["count"] == len(statements)
        assert begin["statements"] == done["statements"] == count
        assert is_number(done["duration_ms"]) and done["duration_ms"] >= 0
        assert done["direction"] == "up"
        assert Path(done["path"]).name.startswith(f"{version}_")
        assert (folder / Path(done["path"]).name).is_file()
    finished = of_event(logs, "run_finished")[0]
    assert finished["migrations"] == len(statements)
    assert finished["direction"] == "up"
    assert is_number(finished["duration_ms"])


def test_json_logs_of_a_successful_up(run_cli, db, tmp_path, monkeypatch) -> None:
    """Every stderr line is a JSON event, in the order of the run, with its fields; stdout
    has only the summary, or the --json document; MIGRATA_LOG_FORMAT=json does the same."""
    e = db.engine
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_one.sql": f"{create_table(e, 'one')};\n",
            "0002_two.sql": f"{create_table(e, 'two')};\n{create_table(e, 'three')};\n",
            "0003_four.sql": f"{create_table(e, 'four')};\n",
        },
    )
    first = run_cli("--log-format", "json", "-u", db.url, "-d", folder, "up", "--to", "0001")
    assert first.code == 0, first.err
    assert re.fullmatch(r"applied 1 migration\(s\) in \d+ ms\n", first.out), first.out
    assert_run_logged(json_lines(first.err), folder, {"0001": 1})

    monkeypatch.setenv("MIGRATA_LOG_FORMAT", "json")
    second = run_cli("-u", db.url, "-d", folder, "up", "--json")
    assert second.code == 0, second.err
    report = json.loads(second.out)  # stdout is the document and nothing else
    assert [s["version"] for s in report["steps"]] == ["0002", "0003"]
    assert_run_logged(json_lines(second.err), folder, {"0002": 2, "0003": 1})
    assert versions(db) == ["0001", "0002", "0003"]


def test_json_logs_of_a_failing_up(run_cli, db, tmp_path) -> None:
    """A failure is a ``migration_failed`` event with where and why, then a last ``error``
    line with the exit code; nothing but JSON on stderr, no progress on stdout."""
    e = db.engine
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_one.sql": f"{create_table(e, 'one')};\n",
            "0002_bad.sql": f"{create_table(e, 'two')};\nSELECT nope_column FROM two;\n",
        },
    )
    result = run_cli("--log-format", "json", "-u", db.url, "-d", folder, "up")
    assert result.code == 1, result.err
    assert "0001" not in result.out and "applied" not in result.out
    logs = json_lines(result.err)
    names = [d["event"] for d in logs]
    assert [n for n in names if n in RUN_EVENTS | {"migration_failed", "error"}] == [
        "lock_acquired",
        "plan",
        "migration_started",
        "migration_applied",
        "migration_started",
        "migration_failed",
        "error",
    ]
    failed = of_event(logs, "migration_failed")[0]
    assert failed["level"] == "error"
    assert failed["version"] == "0002" and failed["name"] == "bad"
    assert Path(failed["path"]).name == "0002_bad.sql"
    assert failed["line"] == 2
    assert isinstance(failed["sqlstate"], str) and failed["sqlstate"], failed
    assert "nope_column" in failed["error"]
    assert failed["statement_index"] == 2 and failed["statement_count"] == 2
    last = logs[-1]
    assert last["event"] == "error" and last["level"] == "error"
    assert last["exit_code"] == 1 and last["error"] == "MigrationFailed"
    assert "0002" in last["message"]


def test_json_log_format_from_the_environment_covers_usage_errors(tmp_path) -> None:
    """MIGRATA_LOG_FORMAT=json in a real process: even an error found before the options are
    read, and a refusal of the command, is one JSON line."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    unknown = process("-u", url, "no-such-command", env={"MIGRATA_LOG_FORMAT": "json"})
    assert unknown.code == 2
    (line,) = json_lines(unknown.err)
    assert line["event"] == "error" and line["exit_code"] == 2
    assert "no-such-command" in line["message"]
    refused = process("-u", url, "drop-database", env={"MIGRATA_LOG_FORMAT": "json"}, script=True)
    assert refused.code == 2
    (line,) = json_lines(refused.err)
    assert line["event"] == "error" and line["exit_code"] == 2
    assert "refusing to drop" in line["message"] and "--yes" in line["message"]


@pytest.mark.parametrize(
    "flag, variable, expect_json",
    [("json", None, True), ("text", "json", False)],
    ids=["flag-json", "flag-text-over-env-json"],
)
def test_log_format_flag_decides_the_format_of_a_usage_error(
    tmp_path, flag, variable, expect_json
) -> None:
    """``--log-format`` given (and read) before an unknown command decides how that error is
    written, and wins over MIGRATA_LOG_FORMAT, as every option does over its variable."""
    env = {"MIGRATA_LOG_FORMAT": variable} if variable else {}
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = process("--log-format", flag, "-u", url, "no-such-command", env=env)
    assert result.code == 2
    assert "no-such-command" in result.err
    if expect_json:
        (line,) = json_lines(result.err)
        assert line["event"] == "error" and line["exit_code"] == 2
    else:
        assert result.err.lstrip()[:1] != "{", result.err
        assert "Error: No such command 'no-such-command'" in result.err


# -- 2. no password anywhere ---------------------------------------------------------------------

#: A password with characters JSON escapes (a double quote, a backslash) and URL-encodes.
SENTINEL = 'Sentinel"Pw\\7391'


def forms(password: str) -> set[str]:
    """Every spelling of the password that could leak: as it is, URL-encoded, and as JSON
    writes it inside a string (so a scrub after the encoding would miss it)."""
    return {password, quote(password, safe=""), quote(password), json.dumps(password)[1:-1]}


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def assert_no_sentinel(result: Result, *, json_logs: bool = True) -> list[dict[str, Any]]:
    for text in (result.out, result.err):
        for form in forms(SENTINEL):
            assert form not in text, f"the password ({form!r}) leaked into:\n{text}"
    if not json_logs:
        return []
    logs = json_lines(result.err)
    for value in strings(logs):
        assert SENTINEL not in value, value
    return logs


@pytest.fixture
def secret_url(server: Database) -> Iterator[Callable[[str], str]]:
    """``secret_url(name)``: a URL of database ``name`` on ``server``'s server with SENTINEL
    as the password, one the server accepts. PostgreSQL trusts local connections whatever
    the password; on MariaDB a user with that password is created (with every right on the
    test's database and on ``name``) and dropped after the test."""
    parts = urlsplit(server.url)
    user, address = server.user, parts.netloc.rsplit("@", 1)[-1]
    if server.engine == "mysql":
        user = f"mt_{uuid.uuid4().hex[:10]}"
        server.query("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, SENTINEL))
        address = f"127.0.0.1:{parts.port or 3306}"  # where that user may connect from
    netloc = f"{user}:{quote(SENTINEL, safe='')}@{address}"

    def make(name: str) -> str:
        if server.engine == "mysql":
            server.query(f"GRANT ALL ON `{name}`.* TO %s@'127.0.0.1'", (user,))
        return parts._replace(netloc=netloc, path=f"/{name}").geturl()

    try:
        yield make
    finally:
        if server.engine == "mysql":
            server.query("DROP USER IF EXISTS %s@'127.0.0.1'", (user,))


#: A statement that fails with an error quoting SENTINEL, built from pieces so that the file
#: does not hold it, and what the scrubbed error then says.
ECHO = {
    "postgresql": (
        "DO $$ BEGIN RAISE EXCEPTION 'echo %', 'Sentinel\"' || 'Pw\\7391'; END $$;\n",
        "echo ***",
    ),
    "mysql": (
        "INSERT INTO e (v) VALUES (CONCAT('Sentinel\"', 'Pw\\\\7391'));\n" * 2,
        "Duplicate entry '***'",
    ),
}


def test_json_logs_never_show_the_password(server, secret_url, tmp_path) -> None:
    """Real processes with SENTINEL in the URL, JSON logs: a run, a failing run whose
    database error quotes the password, ``wait`` on a closed port, ``create-database`` and
    ``drop-database --yes``: neither stdout nor stderr holds it, raw, URL-encoded or
    JSON-escaped, and every line still parses."""
    url = secret_url(urlsplit(server.url).path.lstrip("/"))
    folder = write_migrations(
        tmp_path / "m", {"0001_e.sql": "CREATE TABLE e (v VARCHAR(40) PRIMARY KEY);\n"}
    )
    json_logs = ("--log-format", "json", "-u")

    ok = process(*json_logs, url, "-d", folder, "up")
    assert ok.code == 0, ok.err
    assert of_event(assert_no_sentinel(ok), "migration_applied")

    failing, shown = ECHO[server.engine]
    write_migrations(folder, {"0002_echo.sql": failing})
    bad = process(*json_logs, url, "-d", folder, "up")
    assert bad.code == 1, bad.err
    logs = assert_no_sentinel(bad)
    # The password was in the server's error: scrubbed from the event and the last words.
    assert shown in of_event(logs, "migration_failed")[0]["error"]
    assert shown in logs[-1]["message"] and logs[-1]["exit_code"] == 1

    # (The wait outlasts the first attempt, which loads the driver, even on a busy machine.)
    closed = with_port(url, free_port())
    waited = process(*json_logs, closed, "wait", "--timeout", "10")
    assert waited.code == 2, waited.err
    logs = assert_no_sentinel(waited)
    assert of_event(logs, "waiting")[0]["database"] == redacted(closed)
    assert logs[-1]["event"] == "error" and logs[-1]["exit_code"] == 2

    fresh = new_name()
    fresh_url = secret_url(fresh)
    try:
        created = process(*json_logs, fresh_url, "create-database")
        assert created.code == 0, created.err
        assert of_event(assert_no_sentinel(created), "database_created")
        assert created.out == f"created database {redacted(fresh_url)}\n"
        dropped = process(*json_logs, fresh_url, "drop-database", "--yes")
        assert dropped.code == 0, dropped.err
        assert of_event(assert_no_sentinel(dropped), "database_dropped")
        assert dropped.out == f"dropped database {redacted(fresh_url)}\n"
    finally:
        (_pg_place() if server.engine == "postgresql" else _mysql_place()).drop(fresh)


def test_json_formatter_scrubs_before_encoding() -> None:
    """What the JSON formatter is given with the password in it (the message, its arguments,
    nested fields, the extra fields of every line) comes out scrubbed: the scrub runs on the
    strings before they are encoded, where the escaped form could no longer be found."""
    url = with_password("postgresql://postgres@127.0.0.1:5432/app", SENTINEL)
    formatter = JsonLogFormatter(parse_url(url).scrub, lambda: {"target": f"t {SENTINEL}"})
    record = logging.LogRecord(
        "migrata", logging.ERROR, __file__, 1, "failed on %s", (SENTINEL,), None
    )
    setattr(record, EVENT, "migration_failed")
    setattr(
        record,
        FIELDS,
        {"error": f"echo {SENTINEL}", "nested": {"list": [SENTINEL, 1]}, "url": url},
    )
    line = formatter.format(record)
    assert "\n" not in line
    for form in forms(SENTINEL):
        assert form not in line, line
    document = json.loads(line)
    assert document["event"] == "migration_failed" and document["level"] == "error"
    assert document["message"] == "failed on ***"
    assert document["error"] == "echo ***"
    assert document["nested"] == {"list": ["***", 1]}
    assert document["target"] == "t ***"
    assert document["url"] == "postgresql://postgres:***@127.0.0.1:5432/app"


# -- 3. wait ------------------------------------------------------------------------------------

CLOSED = {
    "postgresql": "postgresql://postgres@127.0.0.1:{port}/app",
    "mysql": "mysql://app:app-pw-4417@127.0.0.1:{port}/app",
}


@pytest.mark.parametrize("engine", list(CLOSED))
def test_wait_for_a_closed_port_gives_up_after_the_timeout(run_cli, engine) -> None:
    """Exit 2 once the time is up; the progress line on stderr by default, not with -q. (The
    first wait outlasts the first attempt even on a busy machine.)"""
    url = CLOSED[engine].format(port=free_port())
    shown = redacted(url)
    result = run_cli("-u", url, "wait", "--timeout", "4")
    assert result.code == 2
    assert result.out == ""
    waiting = rf"migrata: waiting for {re.escape(shown)}: .+ \(attempt 1, \d+\.\ds of 4s\)"
    assert re.search(waiting, result.err), result.err
    assert f"{shown} did not accept connections within 4s" in result.err
    quiet = run_cli("-q", "-u", url, "wait", "--timeout", "1")
    assert quiet.code == 2
    assert "waiting for" not in quiet.err
    assert "did not accept connections within 1s" in quiet.err


def test_wait_for_a_live_server(run_cli, server) -> None:
    shown = redacted(server.url)
    result = run_cli("-u", server.url, "wait", "--timeout", "5")
    assert result.code == 0, result.err
    assert result.out == f"{shown}: accepting connections\n"
    assert result.err == ""
    as_json = run_cli("-u", server.url, "wait", "--json")
    assert as_json.code == 0, as_json.err
    document = json.loads(as_json.out)
    assert document["database"] == shown and document["attempts"] == 1
    assert is_number(document["waited_s"]) and document["waited_s"] >= 0


@pytest.mark.parametrize(
    "engine, problem",
    [("mysql", "wrong password"), ("mysql", "missing database"), ("postgresql", "missing")],
)
def test_wait_fails_at_once_when_waiting_cannot_help(run_cli, engine, problem, tmp_path) -> None:
    """A wrong password or a missing database is not retried: exit 2 long before the 30 s
    timeout (the bound is the feature, with a wide margin)."""
    require_server(engine)
    base = urlsplit(MYSQL_ADMIN_URL if engine == "mysql" else POSTGRES_ADMIN_URL)
    if problem == "wrong password":
        host = base.netloc.rsplit("@", 1)[-1]
        url = base._replace(netloc=f"{base.username}:not-the-password@{host}")
        expected = "Access denied"
    else:
        url = base._replace(path=f"/{new_name()}")
        expected = "pass --create-database"
    folder = write_migrations(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    for command in (["wait", "--timeout", "30"], ["up", "--wait", "30"]):
        started = time.monotonic()
        result = run_cli("-u", url.geturl(), "-d", folder, *command)
        elapsed = time.monotonic() - started
        assert result.code == 2, result.err
        assert expected in result.err
        assert "waiting for" not in result.err
        assert elapsed < 5, f"{command[0]} took {elapsed:.1f}s to give up"


# -- 4. create-database, drop-database, up --create-database ------------------------------------


def test_create_and_drop_database(run_cli, place, tmp_path, monkeypatch) -> None:
    e = place.engine
    name = place.fresh()
    url, shown = place.url(name), place.shown(name)

    created = run_cli("-u", url, "create-database")
    assert created.code == 0, created.err
    assert created.out == f"created database {shown}\n"
    assert "created" not in created.err  # said once, on stdout
    assert place.exists(name)
    again = run_cli("-u", url, "create-database")
    assert again.code == 0, again.err
    assert again.out == f"database {shown} exists already\n"
    assert "created" not in again.err
    as_json = run_cli("-u", url, "create-database", "--json")
    assert json.loads(as_json.out) == {"database": shown, "created": False}

    # Not on a terminal and no --yes: refused, nothing dropped.
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    refused = run_cli("-u", url, "drop-database")
    assert refused.code == 2
    assert f"refusing to drop {shown} without --yes" in refused.err
    assert place.exists(name)
    dropped = run_cli("-u", url, "drop-database", "--yes")
    assert dropped.code == 0, dropped.err
    assert dropped.out == f"dropped database {shown}\n"
    assert "dropped" not in dropped.err
    assert not place.exists(name)
    gone = run_cli("-u", url, "drop-database", "--yes", "--json")
    assert gone.code == 0, gone.err
    assert json.loads(gone.out) == {"database": shown, "dropped": False}

    # up --create-database: created, then migrated.
    other = place.fresh()
    folder = write_migrations(
        tmp_path / "m",
        {"0001_a.sql": f"{create_table(e, 'a')};\n", "0002_b.sql": f"{create_table(e, 'b')};\n"},
    )
    if e != "clickhouse":  # chdb, in-process, creates the database it is pointed at
        missing = run_cli("-u", place.url(other), "-d", folder, "up")
        assert missing.code == 2
        assert "pass --create-database" in missing.err
        assert not place.exists(other)
    up = run_cli("-u", place.url(other), "-d", folder, "up", "--create-database")
    assert up.code == 0, up.err
    assert f"migrata: created database {place.shown(other)}" in up.err
    assert place.exists(other)
    assert versions(Database(e, place.url(other))) == ["0001", "0002"]
    quiet = run_cli("-q", "-u", place.url(other), "drop-database", "--yes", "--json")
    assert quiet.code == 0 and quiet.err == ""
    assert not place.exists(other)

    # -q: no progress line; created all the same.
    third = place.fresh()
    silent = run_cli("-q", "-u", place.url(third), "create-database")
    assert silent.code == 0, silent.err
    assert silent.err == "" and silent.out == ""
    assert place.exists(third)

    if place.protected is not None:
        own = run_cli("-u", place.url(place.protected), "drop-database", "--yes")
        assert own.code == 2
        assert f"refusing to drop {place.protected!r}" in own.err
        assert place.exists(place.protected)


def test_drop_database_force_ends_other_sessions(run_cli, pg_place) -> None:
    name = pg_place.fresh()
    url = pg_place.url(name)
    assert run_cli("-u", url, "create-database").code == 0
    holder = psycopg.connect(url, autocommit=True)
    try:
        busy = run_cli("-u", url, "drop-database", "--yes")
        assert busy.code != 0
        assert "--force" in busy.err and "being accessed by other users" in busy.err
        assert pg_place.exists(name)
        forced = run_cli("-u", url, "drop-database", "--yes", "--force")
        assert forced.code == 0, forced.err
        assert forced.out == f"dropped database {url}\n"
        assert not pg_place.exists(name)
        with pytest.raises(psycopg.OperationalError):
            holder.execute("SELECT 1")  # its session was ended
    finally:
        holder.close()


def test_two_runs_creating_the_same_database_at_once(pg_place, tmp_path) -> None:
    """Two ``up --create-database`` at once on a missing database: both succeed, one creates
    it, one applies the migrations, each migration is applied once."""
    name = pg_place.fresh()
    url = pg_place.url(name)
    folder = write_migrations(
        tmp_path / "m", {f"000{i}_t{i}.sql": f"CREATE TABLE t{i} (id int);\n" for i in (1, 2, 3)}
    )
    command = [CONSOLE_SCRIPT, "-u", url, "-d", str(folder), "up", "--create-database"]
    procs = [
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=base_env(),
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    outs = sorted(out.splitlines()[-1] for out, _ in outputs)
    assert outs[0].startswith("applied 3 migration(s) in ")
    assert outs[1] == "nothing to apply: the database is up to date"
    assert sum(err.count(f"created database {url}") for _, err in outputs) == 1
    db = Database("postgresql", url)
    assert versions(db) == ["0001", "0002", "0003"]
    applied = db.query(
        "SELECT version, count(*) FROM migrata_history_audit WHERE event = 'applied' "
        "GROUP BY version ORDER BY version"
    )
    assert applied == [("0001", 1), ("0002", 1), ("0003", 1)]


# -- 5. prompts only on a terminal ---------------------------------------------------------------


@pytest.mark.parametrize("right", [True, False], ids=["right-name", "wrong-name"])
def test_drop_database_prompts_on_a_terminal(pg_place, right) -> None:
    """stdin a terminal, no --yes: the prompt (on stderr, the terminal here) asks for the
    database's name; the right one drops it (the result on stdout, a pipe here), a wrong one
    drops nothing."""
    name = pg_place.fresh()
    url = pg_place.url(name)
    Database("postgresql", POSTGRES_ADMIN_URL).query(f'CREATE DATABASE "{name}"')
    run = run_on_terminal(
        "-u",
        url,
        "drop-database",
        stdout_tty=False,
        answer=name if right else f"{name}x",
        prompt="to confirm",
    )
    assert f"This drops {url} and everything in it." in run.terminal
    assert f"Type the database's name ({name}) to confirm" in run.terminal
    assert "to confirm" not in run.out
    if right:
        assert run.code == 0, run.terminal
        assert run.out == f"dropped database {url}\n"
        assert not pg_place.exists(name)
    else:
        assert run.code == 2, run.terminal
        assert "does not match: nothing was dropped" in run.terminal
        assert run.out == ""
        assert pg_place.exists(name)


# -- 6. progress for people ----------------------------------------------------------------------

APPLIED_LINE = r"applied {} \({} statement\(s\), \d+ ms\)"


def test_live_progress_bar_on_a_terminal_only(tmp_path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_a.sql": "CREATE TABLE a (id int);\n",
            "0002_b.sql": "CREATE TABLE b (id int);\nCREATE TABLE c (id int);\n",
            "0003_d.sql": "CREATE TABLE d (id int);\n",
        },
    )
    lines = [("0001_a", 1), ("0002_b", 2), ("0003_d", 1)]

    # stdout a terminal: the rich bar (escape sequences, "M/N"), finished migrations above.
    live = run_on_terminal(
        "-u", f"sqlite:///{tmp_path / 'live.db'}", "-d", folder, "up", stderr_tty=False
    )
    assert live.code == 0, live.err
    assert "\x1b[" in live.terminal and "0/3" in live.terminal
    for name, count in lines:
        assert re.search(APPLIED_LINE.format(name, count), live.terminal), live.terminal
    assert "applied 3 migration(s) in " in live.terminal
    assert "\x1b" not in live.err

    # stdout a pipe: the same lines, plain.
    piped = process("-u", f"sqlite:///{tmp_path / 'piped.db'}", "-d", folder, "up")
    assert piped.code == 0, piped.err
    assert "\x1b" not in piped.out + piped.err and "\r" not in piped.out
    expected = [APPLIED_LINE.format(name, count) for name, count in lines]
    expected.append(r"applied 3 migration\(s\) in \d+ ms")
    out = piped.out.splitlines()
    assert len(out) == len(expected), piped.out
    for line, pattern in zip(out, expected, strict=True):
        assert re.fullmatch(pattern, line), line

    # A run of one migration on a terminal: the plain line, no bar.
    one = write_migrations(tmp_path / "one", {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    single = run_on_terminal("-u", f"sqlite:///{tmp_path / 'one.db'}", "-d", one, "up")
    assert single.code == 0, single.terminal
    assert "\x1b" not in single.terminal
    out = [line.rstrip("\r") for line in single.terminal.splitlines()]
    assert len(out) == 2, single.terminal
    assert re.fullmatch(APPLIED_LINE.format("0001_a", 1), out[0]), out
    assert re.fullmatch(r"applied 1 migration\(s\) in \d+ ms", out[1]), out

    # JSON logs on a terminal: no bar and no progress lines, the summary alone on stdout.
    logged = run_on_terminal(
        "--log-format",
        "json",
        "-u",
        f"sqlite:///{tmp_path / 'logged.db'}",
        "-d",
        folder,
        "up",
        stderr_tty=False,
    )
    assert logged.code == 0, logged.err
    assert "\x1b" not in logged.terminal
    assert re.fullmatch(r"applied 3 migration\(s\) in \d+ ms\r?\n", logged.terminal)
    assert len(of_event(json_lines(logged.err), "migration_applied")) == 3


# -- 7. status --exit-code as a health check ------------------------------------------------------


def test_status_exit_code(run_cli, sqlite_db, tmp_path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {"0001_a.sql": "CREATE TABLE a (id int);\n", "0002_b.sql": "CREATE TABLE b (id int);\n"},
    )
    base = ("-u", sqlite_db.url, "-d", folder)

    def health() -> int:
        return run_cli(*base, "status", "--exit-code").code

    assert health() == 5
    assert run_cli(*base, "up").code == 0
    assert health() == 0
    # A changed applied migration is a problem.
    original = (folder / "0001_a.sql").read_text()
    (folder / "0001_a.sql").write_text("CREATE TABLE a (id bigint);\n")
    assert health() == 3
    (folder / "0001_a.sql").write_text(original)
    assert health() == 0
    # So is a failed one (outside a transaction, it leaves a failed row).
    write_migrations(
        folder,
        {"0003_bad.sql": "-- migrata: no-transaction\nCREATE TABLE c (id int);\nSELECT nope;\n"},
    )
    assert health() == 5
    assert run_cli(*base, "up").code == 1
    assert health() == 3


def test_status_exit_code_ignores_migrations_of_other_environments(
    run_cli, sqlite_db, tmp_path
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_a.sql": "CREATE TABLE a (id int);\n",
            "0002_seed.sql": "-- migrata: environments=dev\nCREATE TABLE seed (id int);\n",
        },
    )
    base = ("-u", sqlite_db.url, "-d", folder)
    production = (*base, "--env", "production")
    assert run_cli(*production, "status", "--exit-code").code == 5
    assert run_cli(*production, "up").code == 0
    assert versions(sqlite_db) == ["0001"]
    assert run_cli(*production, "status", "--exit-code").code == 0
    assert run_cli(*base, "status", "--exit-code").code == 0  # no environment set
    text = run_cli(*production, "status").out
    assert re.search(
        r"0002\s+not-applicable seed\s+\(environments: dev; this is production\)", text
    ), text
    document = json.loads(run_cli(*production, "status", "--json").out)
    assert document["environment"] == "production"
    seed = next(m for m in document["migrations"] if m["version"] == "0002")
    assert seed["state"] == "not-applicable" and seed["environments"] == ["dev"]
    assert document["counts"]["not-applicable"] == 1 and document["counts"]["pending"] == 0

    dev = (*base, "--env", "dev")
    assert run_cli(*dev, "status", "--exit-code").code == 5
    assert run_cli(*dev, "up").code == 0
    assert run_cli(*dev, "status", "--exit-code").code == 0
    assert versions(sqlite_db) == ["0001", "0002"]
    assert sqlite_db.table_exists("seed")
    # Once applied, the history decides: healthy in production too, shown as applied.
    assert run_cli(*production, "status", "--exit-code").code == 0
    document = json.loads(run_cli(*production, "status", "--json").out)
    assert [m["state"] for m in document["migrations"]] == ["applied", "applied"]
