"""The deployment example of examples/app: a FastAPI app that migrates its database at start-up,
its Dockerfile, and the compose file whose one-shot ``migrate`` service runs ``migrata up``.

The app runs for real (uvicorn in a subprocess, started the way the Dockerfile's CMD starts it)
against fresh PostgreSQL databases; the compose file and the Dockerfile are checked with real
linters (dclint validates against the Compose specification's JSON schema; dockerfile-utils
parses and lints Dockerfiles), and the ``migrate`` service's command runs against the local
server. Docker itself cannot run here.

The linters are npm packages, installed by scripts/test in the same command as dbmate (a
later ``npm install --no-save`` into the same folder removes what an earlier one installed)::

    npm install --no-save --prefix .ci/node dbmate@2.36.0 dclint@3.1.0 dockerfile-utils@0.16.3

``MIGRATA_TEST_DCLINT`` / ``MIGRATA_TEST_DOCKERFILE_UTILS`` may name them elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from dockerfile_parse import DockerfileParser

from conftest import POSTGRES_ADMIN_URL, Database, _with_dbname, require_postgres

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "examples" / "app"
COMPOSE_FILE = APP_DIR / "compose.yaml"
DOCKERFILE = APP_DIR / "Dockerfile"

PYTHON = sys.executable
MIGRATA = str(Path(sys.executable).with_name("migrata"))
NODE_BIN = ROOT / ".ci" / "node" / "node_modules" / ".bin"
DCLINT = os.environ.get("MIGRATA_TEST_DCLINT") or str(NODE_BIN / "dclint")
DOCKERFILE_UTILS = os.environ.get("MIGRATA_TEST_DOCKERFILE_UTILS") or str(
    NODE_BIN / "dockerfile-utils"
)

SCHEMA_VERSIONS = ["0001", "0002", "0003"]
SEED_VERSION = "0100"
SEED_TITLES = ["Welcome", "Second note"]  # pinned first
START_TIMEOUT = 30.0


# -- helpers ----------------------------------------------------------------------------------


def base_env(**extra: str) -> dict[str, str]:
    """A clean environment for a child process: no MIGRATA_*, DATABASE_URL or proxy
    variables of the test run leak in."""
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL"}}
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave no __pycache__ in examples/app
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


#: urllib without proxies: every request here goes to 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """``(status, decoded JSON body)`` of one request to the app on ``port``."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with _OPENER.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def dockerfile() -> DockerfileParser:
    return DockerfileParser(str(DOCKERFILE))


def dockerfile_steps() -> list[tuple[str, str]]:
    """``(instruction, value)`` of each instruction of the Dockerfile, comments left out."""
    return [
        (i["instruction"], i["value"])
        for i in dockerfile().structure
        if i["instruction"] != "COMMENT"
    ]


def dockerfile_workdir() -> str:
    return [value for name, value in dockerfile_steps() if name == "WORKDIR"][-1]


def dockerfile_cmd() -> list[str]:
    """The Dockerfile's CMD, which must be the exec (JSON) form."""
    cmd = json.loads(dockerfile().cmd)
    assert isinstance(cmd, list) and all(isinstance(a, str) for a in cmd), cmd
    return cmd


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` (the forms the file
    uses), with ``variables`` as the environment compose runs in."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        if variables.get(name):
            return variables[name]
        if op == ":-":
            return arg
        raise AssertionError(f"compose would refuse to start: {name} is not set ({arg})")

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


class AppExited(Exception):
    def __init__(self, code: int, log: str) -> None:
        super().__init__(f"the app exited with code {code}; its log:\n{log}")
        self.log = log


class App:
    """examples/app in a uvicorn process, started the way the Dockerfile's CMD starts it (with
    this venv's Python), on a free port of 127.0.0.1 given through UVICORN_PORT as the image's
    ENV gives it."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.starts = 0
        self.start()

    def start(self) -> None:
        self.starts += 1
        self.port = free_port()
        self.log_path = self.tmp_path / f"app-{uuid.uuid4().hex[:8]}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [PYTHON, "-m", *dockerfile_cmd()],
                cwd=APP_DIR,
                env=base_env(UVICORN_HOST="127.0.0.1", UVICORN_PORT=str(self.port), **self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return http(self.port, method, path, body)

    def wait_serving(self, timeout: float = START_TIMEOUT) -> tuple[int, Any]:
        """Poll /health until the app answers at all; returns that first answer. Raises
        AppExited when the app exits (after starting it again on another port when someone
        took its port in the meantime), fails when it does not answer in time."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                log = self.log()
                if "address already in use" in log.lower() and self.starts < 3:
                    self.start()
                    continue
                raise AppExited(self.process.returncode, log)
            try:
                return self.request("GET", "/health")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer within {timeout}s; its log:\n{self.log()}")
            time.sleep(0.1)

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> Any:
        """Poll /health until it answers 200; returns its body."""
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.wait_serving(max(deadline - time.monotonic(), 0.1))
            if status == 200:
                return body
            if time.monotonic() > deadline:
                pytest.fail(f"/health still answers {status} {body}; the log:\n{self.log()}")
            time.sleep(0.1)


@contextmanager
def running_app(tmp_path: Path, database_url: str, **env: str) -> Iterator[App]:
    """examples/app serving ``database_url``, stopped at the end (not waited for: see
    :meth:`App.wait_serving` and :meth:`App.wait_healthy`)."""
    app = App(tmp_path, {"DATABASE_URL": database_url, **env})
    try:
        yield app
    finally:
        app.stop()


def history_versions(db: Database) -> list[str]:
    return [v for (v,) in db.query("SELECT version FROM migrata_history ORDER BY version")]


def applied_events(db: Database) -> dict[str, int]:
    """How many times the audit log says each version was applied."""
    rows = db.query(
        "SELECT version, count(*) FROM migrata_history_audit WHERE event = 'applied' "
        "GROUP BY version ORDER BY version"
    )
    return dict(rows)


def run(command: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command),
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def require_tool(path: str, package: str) -> None:
    """The linters are part of the test environment: a missing one fails (no skip)."""
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"{path} is missing: scripts/test installs it ({package}) with "
            "npm install --no-save --prefix .ci/node dbmate@2.36.0 dclint@3.1.0 "
            "dockerfile-utils@0.16.3"
        )


# -- the app migrates its database at start-up ------------------------------------------------


@pytest.mark.parametrize("environment", [None, "production", "dev"])
def test_app_migrates_a_fresh_database_at_start_up(
    postgres_db: Database, tmp_path: Path, environment: str | None
) -> None:
    env = {"MIGRATA_ENV": environment} if environment else {}
    seeded = environment == "dev"
    assert not postgres_db.table_exists("notes")

    with running_app(tmp_path, postgres_db.url, **env) as app:
        assert app.wait_healthy() == {"status": "ok", "migrations": "up to date"}

        # The schema is there, each migration recorded once; the seed only in dev.
        expected = SCHEMA_VERSIONS + ([SEED_VERSION] if seeded else [])
        assert history_versions(postgres_db) == expected
        assert applied_events(postgres_db) == dict.fromkeys(expected, 1)
        assert postgres_db.query(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'notes_listing_idx'::regclass"
        ) == [(True,)]
        assert f"applied migrations {', '.join(expected)}" in app.log()

        # The endpoints work on the migrated table.
        status, notes = app.request("GET", "/notes")
        assert status == 200
        assert [n["title"] for n in notes] == (SEED_TITLES if seeded else [])
        status, created = app.request("POST", "/notes", {"title": "from the test", "body": "b"})
        assert status == 201, created
        assert created["title"] == "from the test" and created["pinned"] is False
        status, notes = app.request("GET", "/notes")
        assert status == 200
        # Pinned first, then the newest.
        expected_titles = (
            ["Welcome", "from the test", "Second note"] if seeded else ["from the test"]
        )
        assert [n["title"] for n in notes] == expected_titles
        status, _ = app.request("POST", "/notes", {"title": ""})
        assert status == 422

    # migrata.toml describes the same migrations and seeds to the `migrata` command: it finds
    # the database up to date in the same environment.
    status_run = run(
        [MIGRATA, "status", "--exit-code"],
        base_env(DATABASE_URL=postgres_db.url, **env),
    )
    assert status_run.returncode == 0, status_run.stdout + status_run.stderr
    if not seeded:
        assert re.search(r"0100\s+not-applicable", status_run.stdout), status_run.stdout


def test_three_replicas_started_at_once_apply_each_migration_once(
    postgres_db: Database, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        # All three start before any is waited for: they race for the migration lock.
        apps = [
            stack.enter_context(running_app(tmp_path, postgres_db.url, MIGRATA_ENV="test"))
            for _ in range(3)
        ]
        for app in apps:
            assert app.wait_healthy() == {"status": "ok", "migrations": "up to date"}
        logs = [app.log() for app in apps]

    expected = [*SCHEMA_VERSIONS, SEED_VERSION]
    assert history_versions(postgres_db) == expected
    assert applied_events(postgres_db) == dict.fromkeys(expected, 1)
    # The seed data was inserted once, not once per replica.
    assert postgres_db.query("SELECT count(*) FROM notes") == [(len(SEED_TITLES),)]
    # One replica applied everything while holding the lock; the others found nothing to do.
    applied = [log for log in logs if "applied migrations 0001, 0002, 0003, 0100" in log]
    up_to_date = [log for log in logs if "the database is up to date" in log]
    assert (len(applied), len(up_to_date)) == (1, 2), "\n----\n".join(logs)


def test_with_migrata_disable_the_app_starts_without_migrating(
    postgres_db: Database, tmp_path: Path
) -> None:
    with running_app(tmp_path, postgres_db.url, MIGRATA_DISABLE="1") as app:
        status, body = app.wait_serving()
        assert (status, body) == (503, {"status": "unavailable", "migrations": "not up to date"})
        assert "migrations at start-up are turned off" in app.log()
        # The compose file's healthcheck of the app says unhealthy too.
        assert run_app_healthcheck(app.port).returncode != 0
    assert postgres_db.user_tables() == set()


def test_health_answers_503_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    with running_app(tmp_path, unreachable, MIGRATA_DISABLE="1") as app:
        assert app.wait_serving() == (
            503,
            {"status": "unavailable", "migrations": "unknown", "error": "ConnectionFailed"},
        )
        assert "health check failed: cannot connect to" in app.log()


def test_the_app_does_not_start_when_it_cannot_migrate(tmp_path: Path) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    with (
        running_app(tmp_path, unreachable, MIGRATA_WAIT="0.5") as app,
        pytest.raises(AppExited) as exited,
    ):
        app.wait_serving()
    assert app.process.returncode == 3  # uvicorn's exit code for a failed start-up
    assert "did not accept connections within" in exited.value.log
    assert "Application startup failed" in exited.value.log


# -- the compose file -------------------------------------------------------------------------


def test_compose_file_starts_db_then_migrate_then_app() -> None:
    services = compose()["services"]
    assert list(services) == ["db", "migrate", "app"]
    db, migrate, app = services["db"], services["migrate"], services["app"]

    assert db["image"] == "postgres:15"
    assert "pg_isready" in db["healthcheck"]["test"]

    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert migrate["restart"] == "no"  # the string: a bare `no` in YAML would be false
    assert migrate["build"] == app["build"] == "."
    command = migrate["command"]
    assert command[0] == "migrata"
    assert command[command.index("--log-format") + 1] == "json"
    assert command.index("--log-format") < command.index("up")  # global options go first
    assert {"--wait", "--create-database"} <= set(command[command.index("up") :])
    assert migrate["working_dir"] == dockerfile_workdir()
    assert set(migrate["environment"]) == {"DATABASE_URL", "MIGRATA_ENV"}

    assert app["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert app["environment"]["MIGRATA_DISABLE"] == "1"
    assert app["environment"]["DATABASE_URL"] == migrate["environment"]["DATABASE_URL"]
    assert app["environment"]["MIGRATA_ENV"] == migrate["environment"]["MIGRATA_ENV"]
    assert "/health" in " ".join(app["healthcheck"]["test"])

    # Both URLs name the db service's user, database and port.
    password = "pw123"
    url = interpolate(migrate["environment"]["DATABASE_URL"], {"POSTGRES_PASSWORD": password})
    env = {k: interpolate(v, {"POSTGRES_PASSWORD": password}) for k, v in db["environment"].items()}
    user, db_name = env["POSTGRES_USER"], env["POSTGRES_DB"]
    assert url == f"postgresql://{user}:{password}@db:5432/{db_name}"
    assert env["POSTGRES_PASSWORD"] == password


def test_compose_file_holds_no_secret() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    services = compose()["services"]
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN", key):
                # Required from the environment or .env: compose refuses to start without it.
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), (name, key, value)
    # Every password inside a URL is a variable, too.
    for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", text):
        assert re.fullmatch(r"\$\{\w+(:\?[^}]*)?\}", password), password
    # Without the variable, compose refuses to start rather than using an empty password.
    with pytest.raises(AssertionError, match="POSTGRES_PASSWORD is not set"):
        interpolate(services["db"]["environment"]["POSTGRES_PASSWORD"], {})
    # .env holds the real one and stays out of git and out of the image.
    assert ".env" in (APP_DIR / ".gitignore").read_text().split()
    assert ".env" in (APP_DIR / ".dockerignore").read_text().split()
    example = dict(
        line.split("=", 1)
        for line in (APP_DIR / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert example["POSTGRES_PASSWORD"] == ""


def dclint(path: Path) -> tuple[int, list[dict[str, Any]]]:
    """dclint's exit code and its messages for ``path`` (JSON formatter). Services are kept in
    start order (db, migrate, app) rather than in the alphabetical order its style rule wants."""
    require_tool(DCLINT, "dclint@3.1.0")
    proc = subprocess.run(
        [DCLINT, str(path), "-f", "json", "--disable-rule", "services-alphabetical-order"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout.strip(), proc.stderr
    reports = json.loads(proc.stdout)
    return proc.returncode, [m for report in reports for m in report["messages"]]


def test_compose_file_is_valid_against_the_compose_specification(tmp_path: Path) -> None:
    code, messages = dclint(COMPOSE_FILE)
    assert (code, messages) == (0, [])

    # The check has teeth: a condition the specification does not know is a schema error.
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        COMPOSE_FILE.read_text().replace("service_completed_successfully", "service_finished")
    )
    code, messages = dclint(broken)
    assert code == 1
    assert [m["rule"] for m in messages] == ["invalid-schema"]


# -- the Dockerfile ---------------------------------------------------------------------------


def dockerfile_lint(path: Path) -> tuple[int, list[dict[str, Any]]]:
    require_tool(DOCKERFILE_UTILS, "dockerfile-utils@0.16.3")
    proc = subprocess.run(
        [DOCKERFILE_UTILS, "lint", "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode, json.loads(proc.stdout)


def test_dockerfile_is_valid(tmp_path: Path) -> None:
    assert dockerfile_lint(DOCKERFILE) == (0, [])
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text().replace("USER ", "USR "))
    code, problems = dockerfile_lint(broken)
    assert code == 1 and [p["message"] for p in problems] == ["Unknown instruction: USR"]


def test_dockerfile_builds_the_app_image_as_expected() -> None:
    parsed = dockerfile()
    steps = dockerfile_steps()
    instructions = [name for name, _ in steps]

    assert steps[0] == ("FROM", "python:3.11-slim")
    assert instructions.count("FROM") == 1
    assert parsed.envs["PYTHONUNBUFFERED"] == "1"

    # The requirements are copied and installed before the code, without a pip cache.
    install = instructions.index("RUN")
    assert steps[install - 1] == ("COPY", "requirements.txt ./")
    assert re.fullmatch(r"pip install --no-cache-dir -r requirements\.txt", steps[install][1])
    requirements = (APP_DIR / "requirements.txt").read_text().split()
    for needed in ("migrata[postgres]", "fastapi", "uvicorn"):
        assert any(r.startswith(needed) for r in requirements), needed

    # Every file the image copies exists here (else `docker build` fails).
    for name, value in steps:
        if name == "COPY":
            *sources, _destination = value.split()
            for source in sources:
                assert (APP_DIR / source).exists(), source

    # It runs as a user that is not root, from the code's folder, with exec-form CMD.
    users = [value for name, value in steps if name == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert instructions.index("USER") > max(
        i for i, name in enumerate(instructions) if name in {"RUN", "COPY"}
    )
    assert dockerfile_cmd() == ["uvicorn", "app:app"]
    assert parsed.envs["UVICORN_PORT"] == "8000"
    assert [v for n, v in steps if n == "EXPOSE"] == ["8000"]


# -- the migrate service's command against the real database -----------------------------------


def run_app_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """The app service's healthcheck command (CMD form) as compose runs it in the container."""
    test = compose()["services"]["app"]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python"
    return run([PYTHON, *test[2:]], base_env(UVICORN_PORT=str(port)))


@pytest.fixture
def absent_database() -> Iterator[str]:
    """The URL of a PostgreSQL database that does not exist yet; dropped afterwards if
    something created it."""
    require_postgres()
    name = f"migrata_t_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    try:
        yield _with_dbname(POSTGRES_ADMIN_URL, name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def database_exists(url: str) -> bool:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        return (
            admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def json_events(stderr: str) -> list[dict[str, Any]]:
    """Every line of stderr, each of which must be one JSON object of migrata's log format."""
    lines = stderr.splitlines()
    assert lines, "no log lines on stderr"
    events = [json.loads(line) for line in lines]
    for event in events:
        assert isinstance(event, dict)
        assert {"time", "level", "event", "message"} <= set(event), event
    return events


def test_migrate_service_command_creates_and_migrates_the_database(
    absent_database: str, tmp_path: Path
) -> None:
    migrate = compose()["services"]["migrate"]
    command = [MIGRATA, *migrate["command"][1:]]
    # The service's environment as compose gives it (no MIGRATA_ENV set: its default), with the
    # local server's URL instead of the db service's.
    env = {
        k: interpolate(v, {"POSTGRES_PASSWORD": "unused"})
        for k, v in migrate["environment"].items()
    }
    env["DATABASE_URL"] = absent_database
    assert env["MIGRATA_ENV"] == "production"
    assert not database_exists(absent_database)

    first = run(command, base_env(**env))
    assert first.returncode == 0, first.stdout + first.stderr
    assert database_exists(absent_database)
    db = Database("postgresql", absent_database)
    assert history_versions(db) == SCHEMA_VERSIONS  # the seed is not for production
    assert db.table_exists("notes")
    events = json_events(first.stderr)
    names = [e["event"] for e in events]
    assert "database_created" in names
    assert [e["version"] for e in events if e["event"] == "migration_applied"] == SCHEMA_VERSIONS
    plan = next(e for e in events if e["event"] == "plan")
    assert (plan["environment"], plan["not_applicable"]) == ("production", [SEED_VERSION])
    assert "applying" not in first.stdout  # no progress lines on stdout with JSON logs

    second = run(command, base_env(**env))
    assert second.returncode == 0, second.stdout + second.stderr
    events = json_events(second.stderr)
    names = [e["event"] for e in events]
    assert "database_exists" in names and "database_created" not in names
    assert "migration_applied" not in names
    assert next(e for e in events if e["event"] == "plan")["versions"] == []
    assert applied_events(db) == dict.fromkeys(SCHEMA_VERSIONS, 1)

    # Then compose starts the app, with MIGRATA_DISABLE=1 as its service says, and its
    # healthcheck passes; `migrata status --exit-code` agrees.
    app_env = compose()["services"]["app"]["environment"]
    assert app_env["MIGRATA_DISABLE"] == "1"
    with running_app(
        tmp_path, absent_database, MIGRATA_DISABLE="1", MIGRATA_ENV="production"
    ) as app:
        assert app.wait_healthy() == {"status": "ok", "migrations": "up to date"}
        check = run_app_healthcheck(app.port)
        assert check.returncode == 0, check.stderr
        assert "turned off" in app.log()
    status = run([MIGRATA, "status", "--exit-code"], base_env(**env))
    assert status.returncode == 0, status.stdout + status.stderr
