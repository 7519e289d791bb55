"""A private, throw-away PostgreSQL cluster for tests that kill or restart the server.

The shared server is never touched: :class:`Cluster` runs ``initdb`` into a temporary folder
and starts ``postgres`` on a free port (as the ``postgres`` OS user when the tests run as root,
since the server refuses to run as root). ``crash()`` is ``kill -9`` of the postmaster and
every backend at once (the shared memory with its WAL buffers goes with them, as in a power
cut for whatever had not been written out); ``start()`` again runs crash recovery.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self


def binaries() -> Path | None:
    """The folder of ``initdb`` and ``postgres``, or None when PostgreSQL's server is not
    installed here."""
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        folder = Path(out.stdout.strip())
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Cluster:
    """``with Cluster(settings) as cluster:`` — ``cluster.url`` is a database ``test`` on it
    (user ``postgres``, trust authentication on 127.0.0.1). Its files live in a folder of its
    own under the system's temporary folder (pytest's is private to root, where the server's
    user could not reach it), removed at the end."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        folder = binaries()
        if folder is None:
            raise RuntimeError("PostgreSQL's server binaries (initdb, postgres) are not installed")
        self.bin = folder
        self.root = Path(tempfile.mkdtemp(prefix="migrata-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "fsync": "on",
            "shared_buffers": "16MB",
            "max_connections": "20",
            **(settings or {}),
        }
        self._user = self._os_user()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/test"

    @staticmethod
    def _os_user() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        return pwd.getpwnam("postgres")

    def _as_server_user(self) -> dict[str, object]:
        user = self._user
        if user is None:
            return {}
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def __enter__(self) -> Self:
        if self._user is not None:
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
             "--no-sync", "-E", "UTF8", "--locale", "C"],
            check=True,
            capture_output=True,
            **self._as_server_user(),  # type: ignore[arg-type]
        )
        self.start()
        import psycopg

        with psycopg.connect(self.url.replace("/test", "/postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE test")
        return self

    def start(self) -> None:
        """Start the server (crash recovery first, after :meth:`crash`) and wait for it."""
        command = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        for name, value in self.settings.items():
            command += ["-c", f"{name}={value}"]
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - the server keeps it
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=log,
            start_new_session=True,
            **self._as_server_user(),  # type: ignore[arg-type]
        )
        log.close()
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(self.url.replace("/test", "/postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "the private PostgreSQL did not start: "
                        + (self.root / "server.log").read_text(errors="replace")[-2000:]
                    ) from None
                time.sleep(0.1)

    def processes(self) -> list[int]:
        """The postmaster and all its children."""
        if self.process is None:
            return []
        postmaster = self.process.pid
        found = [postmaster]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path("/proc", entry, "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == postmaster:
                found.append(int(entry))
        return found

    def pause(self, role: str) -> None:
        """Stop (SIGSTOP) the server's background process ``role`` (``walwriter``…): what it
        would have done is left undone until the crash, which kills it all the same."""
        for pid in self.processes()[1:]:
            try:
                title = Path("/proc", str(pid), "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if title.decode(errors="replace").strip().endswith(role):
                os.kill(pid, signal.SIGSTOP)
                return
        raise AssertionError(f"no {role} process in the private cluster")

    def crash(self) -> None:
        """kill -9 of the server and every backend, then wait until they are gone."""
        doomed = self.processes()
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert self.process is not None
        self.process.wait(30)
        deadline = time.monotonic() + 30
        while any(Path("/proc", str(pid)).exists() for pid in doomed[1:]):
            assert time.monotonic() < deadline, "backends survived kill -9"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.crash()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
