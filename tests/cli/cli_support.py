"""Helpers shared by the CLI tests (not a conftest: ``tests/conftest.py`` is imported by name).

Import the fixtures into a test module (``from cli_support import ...``) so that pytest finds
them; ``clean_cli_state`` is autouse there.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from migrata.cli import main
from migrata.config import ENV_VARS

PYTHON = sys.executable
CONSOLE_SCRIPT = str(Path(sys.executable).with_name("migrata"))
if not os.path.exists(CONSOLE_SCRIPT):  # pragma: no cover - run from another interpreter
    CONSOLE_SCRIPT = "/work/venv/bin/migrata"


@dataclass
class Result:
    """What one ``migrata`` invocation produced."""

    code: int
    out: str
    err: str
    #: The MigrataError (or other exception) that main() turned into the exit code, if any.
    exc: BaseException | None = None

    @property
    def output(self) -> str:
        return self.out + self.err


def exception_texts(exc: BaseException | None) -> str:
    """Everything an exception shows: str, repr and args of each exception of the chain that
    a traceback displays (``raise ... from None`` hides the context, as Python does), the
    structured fields of migrata's own errors, and the formatted traceback."""
    from migrata.errors import MigrataError

    parts: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts += [str(exc), repr(exc), *(repr(a) for a in exc.args)]
        if isinstance(exc, MigrataError):
            parts += [repr(v) for v in vars(exc).values()]
        parts.append("".join(traceback.format_exception(exc)))
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return "\n".join(parts)


def _reset_logging() -> None:
    log = logging.getLogger("migrata")
    for handler in list(log.handlers):
        if getattr(handler, "_migrata", False):
            log.removeHandler(handler)
    log.propagate = True
    log.setLevel(logging.NOTSET)


@pytest.fixture(autouse=True)
def clean_cli_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test starts in an empty folder with no MIGRATA_*/DATABASE_URL variables and with
    none of the process-global state (log handler, remembered secrets) of an earlier main()."""
    for variables in ENV_VARS.values():
        for variable in variables:
            monkeypatch.delenv(variable, raising=False)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    _reset_logging()
    yield
    _reset_logging()


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``migrata.cli.main([...])`` in-process; returns the exit code and captured output."""

    def run(*args: object) -> Result:
        capsys.readouterr()
        exc: BaseException | None = None
        try:
            main([str(a) for a in args])
        except SystemExit as stop:
            code = stop.code
            exc = stop.__context__
        else:  # pragma: no cover - main() always exits
            pytest.fail("main() returned instead of exiting")
        out, err = capsys.readouterr()
        if code is None:
            code = 0
        assert isinstance(code, int), f"exit code {code!r} is not an int"
        return Result(int(code), out, err, exc)

    return run


def run_process(
    *args: object,
    script: bool = False,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60,
) -> Result:
    """Run migrata as a real process: ``python -m migrata`` or (``script=True``) the console
    script. Only the variables in ``env`` (plus PATH/HOME) are passed: no MIGRATA_* leaks in."""
    command = [CONSOLE_SCRIPT] if script else [PYTHON, "-m", "migrata"]
    base = {
        k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    }
    base["PYTHONIOENCODING"] = "utf-8"
    base.update(env or {})
    proc = subprocess.run(
        [*command, *(str(a) for a in args)],
        check=False,
        capture_output=True,
        text=True,
        env=base,
        cwd=cwd,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` (URL-encoded) in its user info."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{parts.username or 'postgres'}:{quote(password, safe='')}@{host}{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def with_port(url: str, port: int, dbname: str | None = None) -> str:
    parts = urlsplit(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    host = hostport.rsplit(":", 1)[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    path = f"/{dbname}" if dbname is not None else parts.path
    return urlunsplit(parts._replace(netloc=netloc, path=path))


@pytest.fixture
def migrata_caplog(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at DEBUG that also sees the ``migrata`` logger (the CLI turns off its
    propagation to the root logger, where caplog listens)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="migrata")
    log = logging.getLogger("migrata")
    log.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        log.removeHandler(caplog.handler)
