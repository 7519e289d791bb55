"""Every speed scenario of migrata on PostgreSQL against a baseline measured in the same run.

One run prints, for each scenario, the median of ``--repeat`` timings of migrata and of its
baseline (on the same server, moments apart) and their ratio, then a table with the goals:

=====================  ==============================================  =========
scenario               baseline                                        goal
=====================  ==============================================  =========
apply-1000             ``psql -X -q -1 -f all.sql`` (same SQL)          <= 1.3x
apply-100              the same                                        <= 2.5x
apply-100-link         the same, both through a 10 ms RTT proxy        <= 0.5x
status-1000            python: import psycopg, connect, SELECT 1       <= 1.2x
up-noop-1000           the same floor                                  <= 1.2x
help                   (absolute; ``python -c pass`` shown)            <= 0.08 s
cpu-per-migration      (absolute)                                      <= 0.15 ms
fresh-10/300/1000      CREATE DATABASE + Migrator.up() + DROP          <= 0.3 s
=====================  ==============================================  =========

Every CLI run is a subprocess of the ``migrata`` console script next to ``sys.executable`` (or
``python -m migrata``), so interpreter start and imports count. ``PYTHONPATH=/other/src``
measures another build of migrata with the same tool. Databases are named
``bench_speed_<pid>_<n>`` and dropped on every exit path.

Usage::

    python bench/bench_speed.py [--repeat 3] [--url URL] [--only apply,status]
        [--json FILE] [--compare BEFORE.json]
    python bench/bench_speed.py --compare BEFORE.json AFTER.json   # print only, run nothing

See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

try:
    import psycopg
except ImportError:  # pragma: no cover
    sys.exit("psycopg 3 is required: run with the project's venv (.venv/bin/python)")

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LINK_DELAY = 0.005  # seconds each way: a 10 ms round trip
FRESH_CREATES = 10  # timed create()+drop() pairs after the template is built

# (key, label, baseline label, goal kind, goal). Goal kinds: "ratio" (migrata / baseline),
# "s" (migrata's seconds), "ms" (migrata's milliseconds).
SCENARIOS: list[tuple[str, str, str, str, float]] = [
    ("apply-1000", "apply 1,000 migrations (CLI up)", "psql -1", "ratio", 1.3),
    ("apply-100", "apply 100 migrations (CLI up)", "psql -1", "ratio", 2.5),
    ("apply-100-link", "apply 100 through a 10 ms RTT link", "psql -1, same link", "ratio", 0.5),
    ("status-1000", "status, 1,000 applied", "python+psycopg SELECT 1", "ratio", 1.2),
    (
        "up-noop-1000",
        "up with nothing to do, 1,000 applied",
        "python+psycopg SELECT 1",
        "ratio",
        1.2,
    ),
    ("help", "migrata --help, cold process", "python -c pass", "s", 0.08),
    ("cpu-per-migration", "client CPU per migration (library)", "-", "ms", 0.15),
    ("fresh-10", "fresh migrated test database, N=10", "create DB + up + drop", "s", 0.3),
    ("fresh-300", "fresh migrated test database, N=300", "create DB + up + drop", "s", 0.3),
    ("fresh-1000", "fresh migrated test database, N=1000", "create DB + up + drop", "s", 0.3),
]
KEYS = [s[0] for s in SCENARIOS]


class BenchError(Exception):
    """A contender failed or the databases differ: the run stops with exit status 1."""


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """One scenario's result. ``value`` is seconds, or milliseconds for goal kind "ms"."""

    key: str
    label: str
    baseline_label: str
    goal_kind: str
    goal: float
    baseline: float | None = None
    value: float | None = None
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.value is None or self.goal_kind == "ms":
            return None
        return self.value / self.baseline if self.baseline > 0 else None

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        if self.goal_kind == "ratio":
            return None if self.ratio is None else self.ratio <= self.goal
        return self.value <= self.goal

    def goal_text(self) -> str:
        return goal_text(self.goal_kind, self.goal)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["met"] = self.met
        return data


def goal_text(kind: str, goal: float) -> str:
    if kind == "ratio":
        return f"<= {goal:g}x"
    return f"<= {goal:g} {kind}"


def fmt_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def fmt_met(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: "-"}[met]


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    print(line(header))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def print_results(rows: list[Row]) -> None:
    table = []
    for r in rows:
        if r.value is None:
            migrata = r.note or "n/a"
        elif r.goal_kind == "ms":
            migrata = f"{r.value:.3f} ms"
        else:
            migrata = fmt_seconds(r.value)
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        table.append(
            [r.label, fmt_seconds(r.baseline), migrata, ratio, r.goal_text(), fmt_met(r.met)]
        )
    print_table(["scenario", "baseline (s)", "migrata (s)", "ratio", "goal", "met?"], table)


def headline(data: dict[str, Any]) -> float | None:
    """The number a goal is about: the ratio, or the absolute value."""
    if data.get("value") is None:
        return None
    return data["ratio"] if data["goal_kind"] == "ratio" else data["value"]


def fmt_headline(data: dict[str, Any] | None) -> str:
    if data is None:
        return "-"
    value = headline(data)
    if value is None:
        return "n/a"
    unit = {"ratio": "x", "s": " s", "ms": " ms"}[data["goal_kind"]]
    return f"{value:.3f}{unit}" if unit != "x" else f"{value:.2f}x"


def print_compare(before: dict[str, Any], after: dict[str, Any]) -> None:
    """scenario | before | after | goal | met? before -> after."""
    print(f"before: {describe_build(before.get('migrata', {}))}")
    print(f"after:  {describe_build(after.get('migrata', {}))}")
    b_rows = {r["key"]: r for r in before.get("rows", [])}
    a_rows = {r["key"]: r for r in after.get("rows", [])}
    table = []
    for key, label, _, kind, goal in SCENARIOS:
        b, a = b_rows.get(key), a_rows.get(key)
        if b is None and a is None:
            continue
        met = f"{fmt_met(b['met'] if b else None)} -> {fmt_met(a['met'] if a else None)}"
        table.append([label, fmt_headline(b), fmt_headline(a), goal_text(kind, goal), met])
    print_table(["scenario", "before", "after", "goal", "met?"], table)


def describe_build(info: dict[str, Any]) -> str:
    commit = info.get("commit") or "no git commit"
    if info.get("dirty"):
        commit += " (with uncommitted changes)"
    return f"migrata {info.get('version', '?')} from {info.get('path', '?')}, {commit}"


# ---------------------------------------------------------------------------------------------
# The workload
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expected:
    """What applying N migrations leaves in the database (migrata's own tables left out)."""

    tables: int
    functions: int
    indexes: int
    rows: int


def migration_sql(i: int) -> str:
    """Migration i: a table with an index, a column added, a plpgsql function and two rows."""
    return (
        f"CREATE TABLE item_{i} (\n"
        "    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n"
        "    code text NOT NULL,\n"
        "    qty integer NOT NULL DEFAULT 0,\n"
        "    created_at timestamptz NOT NULL DEFAULT now()\n"
        ");\n"
        f"CREATE INDEX item_{i}_code_idx ON item_{i} (code);\n"
        f"ALTER TABLE item_{i} ADD COLUMN note text;\n"
        f"CREATE FUNCTION item_{i}_total(p_min integer) RETURNS bigint\n"
        "LANGUAGE plpgsql STABLE AS $$\n"
        "DECLARE\n"
        "    v_total bigint;\n"
        "BEGIN\n"
        f"    SELECT coalesce(sum(qty), 0) INTO v_total FROM item_{i} WHERE qty >= p_min;\n"
        "    RETURN v_total;\n"
        "END;\n"
        "$$;\n"
        f"INSERT INTO item_{i} (code, qty, note) VALUES ('a-{i};x', {i % 97}, 'first'),"
        f" ('b-{i}', 1, NULL);\n"
    )


def write_workload(root: Path, count: int) -> tuple[Path, Path, Expected]:
    """N migrations in migrata's native layout under ``root/migrations_N`` and ``all.sql``."""
    folder = root / f"migrations_{count}"
    folder.mkdir(parents=True)
    width = max(4, len(str(count)))
    texts = []
    for i in range(1, count + 1):
        text = migration_sql(i)
        (folder / f"{i:0{width}d}_create_item_{i}.sql").write_text(text, encoding="utf-8")
        texts.append(text)
    all_sql = root / f"all_{count}.sql"
    all_sql.write_text("\n".join(texts), encoding="utf-8")
    return (
        folder,
        all_sql,
        Expected(tables=count, functions=count, indexes=2 * count, rows=2 * count),
    )


# ---------------------------------------------------------------------------------------------
# URLs and databases
# ---------------------------------------------------------------------------------------------


def with_netloc(
    url: str,
    *,
    dbname: str | None = None,
    host: str | None = None,
    port: int | None = None,
    password: bool = True,
) -> str:
    """``url`` with another database, host:port, or without its password."""
    parts = urlsplit(url)
    user = parts.username or ""
    secret = parts.password if password else None
    auth = user + (":" + (secret or "") if secret is not None else "")
    hostname = host or parts.hostname or ""
    if ":" in hostname:
        hostname = f"[{hostname}]"
    netport = port if port is not None else parts.port
    netloc = (auth + "@" if auth else "") + hostname + (f":{netport}" if netport else "")
    path = "/" + dbname if dbname is not None else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Databases:
    """Creates databases named ``bench_speed_<pid>_<n>`` and drops every one still there on
    ``drop_all()``."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []
        self._seq = 0
        self._warned = False

    def _admin(self) -> Any:
        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10)

    def create(self) -> str:
        self._seq += 1
        name = f"bench_speed_{os.getpid()}_{self._seq}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return with_netloc(self.admin_url, dbname=name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def checkpoint(self) -> None:
        """Flush dirty buffers so that no run pays for the previous one's writes. Best effort:
        CHECKPOINT needs superuser or pg_checkpoint."""
        try:
            with self._admin() as conn:
                conn.execute("CHECKPOINT")
        except psycopg.Error as exc:
            if not self._warned:
                print(
                    f"note: CHECKPOINT is not possible ({exc}); runs may pay for each "
                    "other's writes"
                )
                self._warned = True

    def drop_all(self) -> None:
        while self.created:
            name = self.created.pop()
            try:
                with self._admin() as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001 - keep dropping the others
                print(f"WARNING: could not drop database {name}: {exc}", file=sys.stderr)


COUNTS_SQL = """
SELECT
  (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT LIKE 'migrata%'),
  (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proname NOT LIKE 'migrata%'),
  (SELECT count(*) FROM pg_indexes
    WHERE schemaname = 'public' AND tablename NOT LIKE 'migrata%'),
  (SELECT coalesce(sum((xpath('/row/c/text()', query_to_xml(
       format('SELECT count(*) AS c FROM %I.%I', schemaname, tablename), false, true, ''))
     )[1]::text::bigint), 0)
    FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'migrata%')
"""


def read_counts(url: str) -> Expected:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(COUNTS_SQL).fetchone()
    assert row is not None
    return Expected(*(int(v) for v in row))


def verify(label: str, urls: dict[str, str], expected: Expected) -> None:
    """Every database in ``urls`` holds what the workload creates; raise BenchError if not."""
    problems = []
    for who, url in urls.items():
        got = read_counts(url)
        if got != expected:
            problems.append(f"{who}: {got} (expected {expected})")
    if problems:
        raise BenchError(f"{label}: the databases differ:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------------------------------------
# The 10 ms link
# ---------------------------------------------------------------------------------------------


class DelayLink:
    """A TCP proxy on 127.0.0.1 that delays every chunk by ``delay`` seconds in each direction.

    Per connection and direction, a reader thread queues (due time, bytes) and a sender thread
    sends each chunk at its due time: order is kept and a slow chunk does not hold back the
    reading of the next ones. A round trip is counted each time the client sends after the
    server did (the idea of CountingProxy in tests/contract/test_round_trips.py).
    """

    def __init__(self, upstream: tuple[str, int], delay: float = LINK_DELAY) -> None:
        self.upstream = upstream
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.connections = 0
        self.round_trips = 0
        self._active = 0
        self._closed = False
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def reset(self) -> None:
        self.wait_idle()
        with self._lock:
            self.connections = 0
            self.round_trips = 0

    def counts(self) -> tuple[int, int]:
        """(connections, round trips) since the last reset, once every connection closed."""
        self.wait_idle()
        with self._lock:
            return self.connections, self.round_trips

    def wait_idle(self, timeout: float = 30) -> None:
        with self._idle:
            if not self._idle.wait_for(lambda: self._active == 0, timeout):
                raise BenchError("a connection through the delay proxy did not close")

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):  # wakes accept(): closing the socket alone does not
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        self._accepter.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self._closed:
                client.close()
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._active += 1
            _Pair(self, client, server).start()


class _Pair:
    """One proxied connection: two readers, two senders."""

    def __init__(self, link: DelayLink, client: socket.socket, server: socket.socket) -> None:
        self.link = link
        self.client = client
        self.server = server
        self.last_from_client: bool | None = None
        self._lock = threading.Lock()
        self._senders_left = 2

    def start(self) -> None:
        for source, dest, from_client in (
            (self.client, self.server, True),
            (self.server, self.client, False),
        ):
            chunks: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
            threading.Thread(
                target=self._read, args=(source, chunks, from_client), daemon=True
            ).start()
            threading.Thread(target=self._send, args=(dest, chunks), daemon=True).start()

    def _read(
        self,
        source: socket.socket,
        chunks: queue.Queue[tuple[float, bytes] | None],
        from_client: bool,
    ) -> None:
        while True:
            try:
                data = source.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                chunks.put(None)
                return
            with self._lock:
                if from_client and self.last_from_client is False:
                    with self.link._lock:
                        self.link.round_trips += 1
                self.last_from_client = from_client
            chunks.put((time.monotonic() + self.link.delay, data))

    def _send(self, dest: socket.socket, chunks: queue.Queue[tuple[float, bytes] | None]) -> None:
        broken = False
        while (item := chunks.get()) is not None:
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not broken:
                try:
                    dest.sendall(data)
                except OSError:
                    broken = True
        with contextlib.suppress(OSError):
            dest.shutdown(socket.SHUT_WR)
        with self._lock:
            self._senders_left -= 1
            done = self._senders_left == 0
        if done:
            for s in (self.client, self.server):
                with contextlib.suppress(OSError):
                    s.close()
            with self.link._idle:
                self.link._active -= 1
                self.link._idle.notify_all()


# ---------------------------------------------------------------------------------------------
# Running things
# ---------------------------------------------------------------------------------------------


def migrata_command() -> list[str]:
    """The console script next to the interpreter, else ``python -m migrata``."""
    script = Path(sys.executable).parent / "migrata"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "migrata"]


class Runner:
    """Subprocesses with the password in PGPASSWORD (never on a command line), no MIGRATA_*
    settings from the caller's environment, in a folder without a config file."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATA_")}
        password = urlsplit(url).password
        if password is not None:
            self.env["PGPASSWORD"] = password
        self.migrata = migrata_command()

    def run(self, argv: list[str], what: str, *, env: dict[str, str] | None = None) -> float:
        """Seconds from start to exit of ``argv``; BenchError when it fails."""
        start = time.perf_counter()
        proc = subprocess.run(
            argv,
            cwd=self.workdir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise BenchError(f"{what} exited with {proc.returncode}:\n{tail}")
        return elapsed

    def cli(self, url: str, folder: Path, *args: str) -> float:
        # -u URL as written; the password travels in PGPASSWORD
        argv = [*self.migrata, "-u", with_netloc(url, password=False), "-d", str(folder), *args]
        return self.run(argv, "migrata " + " ".join(args))

    def psql(self, url: str, all_sql: Path) -> float:
        argv = [
            "psql",
            "-X",
            "-q",
            "-1",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            with_netloc(url, password=False),
            "-f",
            str(all_sql),
        ]
        return self.run(argv, "psql -1")

    def floor(self, url: str) -> float:
        code = (
            "import os, psycopg; c = psycopg.connect(os.environ['BENCH_SPEED_URL']); "
            "c.execute('SELECT 1').fetchone(); c.close()"
        )
        return self.run(
            [sys.executable, "-c", code],
            "python: connect, SELECT 1",
            env={"BENCH_SPEED_URL": with_netloc(url, password=False)},
        )


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass(frozen=True, slots=True)
class Build:
    """Which migrata the subprocesses (and the in-process library runs) load."""

    path: str
    version: str
    commit: str | None
    dirty: bool


def find_build(runner: Runner) -> Build:
    code = "import migrata; print(migrata.__file__); print(getattr(migrata, '__version__', '?'))"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=runner.env,
        cwd=runner.workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError("migrata is not importable:\n" + proc.stderr.strip())
    path, version = proc.stdout.split("\n")[:2]
    package = str(Path(path).parent)
    commit = None
    dirty = False
    git = shutil.which("git")
    if git:
        head = subprocess.run(
            [git, "-C", package, "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        )
        if head.returncode == 0:
            commit = head.stdout.strip()
            status = subprocess.run(
                [git, "-C", package, "status", "--porcelain", "--", "."],
                capture_output=True,
                text=True,
                check=False,
            )
            dirty = bool(status.stdout.strip())
    return Build(path=package, version=version, commit=commit, dirty=dirty)


# ---------------------------------------------------------------------------------------------
# The scenarios
# ---------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, root: Path, dbs: Databases) -> None:
        self.args = args
        self.repeat: int = args.repeat
        self.root = root
        self.dbs = dbs
        self.url: str = args.url
        self.runner = Runner(args.url, root)
        self.workloads: dict[int, tuple[Path, Path, Expected]] = {}
        self.applied_1000: str | None = None  # a database with the 1,000 migrations applied
        self.extra: dict[str, Any] = {}

    def workload(self, count: int) -> tuple[Path, Path, Expected]:
        if count not in self.workloads:
            self.workloads[count] = write_workload(self.root, count)
        return self.workloads[count]

    def row(self, key: str) -> Row:
        _, label, baseline_label, kind, goal = SCENARIOS[KEYS.index(key)]
        return Row(key=key, label=label, baseline_label=baseline_label, goal_kind=kind, goal=goal)

    # -- apply --------------------------------------------------------------------------------

    def apply(self, key: str, count: int, *, link: DelayLink | None = None) -> Row:
        row = self.row(key)
        folder, all_sql, expected = self.workload(count)
        times: dict[str, list[float]] = {"migrata": [], "psql": []}
        trips: dict[str, tuple[int, int]] = {}
        # An even number of repeats: each contender goes first as often as second. On this
        # server whichever applies first after the previous repeat's databases were dropped is
        # slower (1,000 migrations: about 7.8 s, then 4.4 s and 4.0 s for the same SQL), so an
        # odd count would favour one of them.
        repeats = self.repeat + self.repeat % 2
        for rep in range(repeats):
            order = ["migrata", "psql"] if rep % 2 == 0 else ["psql", "migrata"]
            urls = {}
            for who in order:
                url = self.dbs.create()
                urls[who] = url
                self.dbs.checkpoint()
                target = url
                if link is not None:
                    target = with_netloc(url, host="127.0.0.1", port=link.port)
                    link.reset()
                if who == "migrata":
                    elapsed = self.runner.cli(target, folder, "up")
                else:
                    elapsed = self.runner.psql(target, all_sql)
                if link is not None:
                    trips[who] = link.counts()
                times[who].append(elapsed)
            verify(row.label, urls, expected)
            line = (
                f"  {key} {rep + 1}/{repeats}: migrata {times['migrata'][-1]:.3f} s, "
                f"psql -1 {times['psql'][-1]:.3f} s"
            )
            if trips:
                line += (
                    f"; round trips (connections): migrata {trips['migrata'][1]}"
                    f" ({trips['migrata'][0]}), psql {trips['psql'][1]}"
                    f" ({trips['psql'][0]})"
                )
            print(line, flush=True)
            if count == 1000 and link is None and self.applied_1000 is None:
                self.applied_1000 = urls["migrata"]  # kept for status and up-noop
                del urls["migrata"]
            for url in urls.values():
                self.dbs.drop(url)
        row.samples = times
        row.baseline = median(times["psql"])
        row.value = median(times["migrata"])
        if trips:
            row.note = f"round trips: migrata {trips['migrata'][1]}, psql {trips['psql'][1]}"
            self.extra["round_trips_link_100"] = {
                who: {"connections": c, "round_trips": r} for who, (c, r) in trips.items()
            }
        return row

    def apply_link(self) -> Row:
        parts = urlsplit(self.url)
        link = DelayLink((parts.hostname or "127.0.0.1", parts.port or 5432))
        try:
            return self.apply("apply-100-link", 100, link=link)
        finally:
            link.close()

    # -- reading commands on 1,000 applied ------------------------------------------------------

    def ensure_applied_1000(self) -> str:
        if self.applied_1000 is None:
            folder, _, expected = self.workload(1000)
            url = self.dbs.create()
            self.runner.cli(url, folder, "up")
            verify("1,000 applied", {"migrata": url}, expected)
            self.applied_1000 = url
        return self.applied_1000

    def on_applied(self, key: str, args: list[str]) -> Row:
        row = self.row(key)
        url = self.ensure_applied_1000()
        folder, _, _ = self.workload(1000)
        # untimed warm-up: the first run of a build writes its .pyc files
        self.runner.cli(url, folder, *args)
        self.runner.floor(url)
        times: dict[str, list[float]] = {"migrata": [], "floor": []}
        for rep in range(self.repeat):
            order = ["migrata", "floor"] if rep % 2 == 0 else ["floor", "migrata"]
            for who in order:
                if who == "migrata":
                    times[who].append(self.runner.cli(url, folder, *args))
                else:
                    times[who].append(self.runner.floor(url))
            print(
                f"  {key} {rep + 1}/{self.repeat}: migrata {times['migrata'][-1]:.3f} s, "
                f"floor {times['floor'][-1]:.3f} s",
                flush=True,
            )
        row.samples = times
        row.baseline = median(times["floor"])
        row.value = median(times["migrata"])
        return row

    # -- help ---------------------------------------------------------------------------------

    def help(self) -> Row:
        row = self.row("help")
        argv = [*self.runner.migrata, "--help"]
        self.runner.run(argv, "migrata --help")  # untimed: .pyc files written
        times: dict[str, list[float]] = {"migrata": [], "python": []}
        for rep in range(self.repeat):
            times["migrata"].append(self.runner.run(argv, "migrata --help"))
            times["python"].append(
                self.runner.run([sys.executable, "-c", "pass"], "python -c pass")
            )
            print(
                f"  help {rep + 1}/{self.repeat}: migrata --help {times['migrata'][-1]:.3f} s,"
                f" python -c pass {times['python'][-1]:.3f} s",
                flush=True,
            )
        row.samples = times
        row.baseline = median(times["python"])
        row.value = median(times["migrata"])
        return row

    # -- client CPU ---------------------------------------------------------------------------

    def cpu(self) -> Row:
        from migrata import Migrator

        row = self.row("cpu-per-migration")
        # untimed warm-up on 10 migrations: the lazily imported parser is loaded once
        folder10, _, expected10 = self.workload(10)
        url = self.dbs.create()
        Migrator(url, directory=str(folder10)).up()
        verify("warm-up", {"library": url}, expected10)
        self.dbs.drop(url)

        count = 1000
        folder, _, expected = self.workload(count)
        cpu: list[float] = []
        wall: list[float] = []
        for rep in range(self.repeat):
            url = self.dbs.create()
            self.dbs.checkpoint()
            start_wall = time.perf_counter()
            start_cpu = time.process_time()
            Migrator(url, directory=str(folder)).up()
            cpu.append(time.process_time() - start_cpu)
            wall.append(time.perf_counter() - start_wall)
            verify(row.label, {"library": url}, expected)
            self.dbs.drop(url)
            print(
                f"  cpu {rep + 1}/{self.repeat}: {cpu[-1]:.3f} s CPU in {wall[-1]:.3f} s wall "
                f"= {cpu[-1] * 1000 / count:.3f} ms per migration",
                flush=True,
            )
        row.samples = {"cpu": cpu, "wall": wall}
        row.value = median(cpu) * 1000 / count
        row.note = f"{median(cpu):.3f} s CPU in {median(wall):.3f} s wall"
        return row

    # -- fresh test databases -------------------------------------------------------------------

    def fresh(self, key: str, count: int) -> Row:
        row = self.row(key)
        try:
            from migrata.testing.fresh import FreshDatabases
        except ImportError:
            row.note = "n/a (migrata.testing.fresh not available)"
            print(f"  {key}: {row.note}", flush=True)
            return row
        from migrata import Migrator

        folder, _, expected = self.workload(count)
        baseline: list[float] = []
        for rep in range(self.repeat):
            self.dbs.checkpoint()
            start = time.perf_counter()
            url = self.dbs.create()
            Migrator(url, directory=str(folder)).up()
            elapsed = time.perf_counter() - start
            verify(row.label, {"library": url}, expected)
            start = time.perf_counter()
            self.dbs.drop(url)
            baseline.append(elapsed + time.perf_counter() - start)
            print(f"  {key} baseline {rep + 1}/{self.repeat}: {baseline[-1]:.3f} s", flush=True)

        pairs: list[float] = []
        with FreshDatabases(self.url, directory=str(folder)) as fresh:
            self.dbs.checkpoint()
            start = time.perf_counter()
            url = fresh.create()
            first = time.perf_counter() - start
            verify(row.label, {"FreshDatabases": url}, expected)
            fresh.drop(url)
            for _ in range(FRESH_CREATES):
                self.dbs.checkpoint()
                start = time.perf_counter()
                url = fresh.create()
                elapsed = time.perf_counter() - start
                verify(row.label, {"FreshDatabases": url}, expected)
                start = time.perf_counter()
                fresh.drop(url)
                pairs.append(elapsed + time.perf_counter() - start)
            print(
                f"  {key}: first create() {first:.3f} s, then create()+drop() "
                + ", ".join(f"{p:.3f}" for p in pairs)
                + " s",
                flush=True,
            )
        # Without databases made ahead: what cloning the template itself costs a test.
        clones: list[float] = []
        with FreshDatabases(self.url, directory=str(folder), ahead=0) as alone:
            alone.drop(alone.create())
            for _ in range(FRESH_CREATES):
                start = time.perf_counter()
                url = alone.create()
                clones.append(time.perf_counter() - start)
                alone.drop(url)
        # The workload's folder is a temporary one: its template would never be used again.
        FreshDatabases(self.url, directory=str(folder)).drop_templates()
        row.samples = {
            "baseline": baseline,
            "create_drop": pairs,
            "first_create": [first],
            "clone_alone": clones,
        }
        row.baseline = median(baseline)
        # The mean, not the median: a test that finds no database made ahead waits for one.
        row.value = sum(pairs) / len(pairs)
        row.note = (
            f"mean wait of a test (the worst {max(pairs):.3f} s); without databases made "
            f"ahead a clone takes {median(clones):.3f} s; the template is built once in "
            f"{first:.3f} s"
        )
        return row

    # -- all ----------------------------------------------------------------------------------

    def plan(self) -> list[tuple[str, Callable[[], Row]]]:
        return [
            ("apply-1000", lambda: self.apply("apply-1000", 1000)),
            ("apply-100", lambda: self.apply("apply-100", 100)),
            ("apply-100-link", self.apply_link),
            ("status-1000", lambda: self.on_applied("status-1000", ["status"])),
            ("up-noop-1000", lambda: self.on_applied("up-noop-1000", ["up"])),
            ("help", self.help),
            ("cpu-per-migration", self.cpu),
            ("fresh-10", lambda: self.fresh("fresh-10", 10)),
            ("fresh-300", lambda: self.fresh("fresh-300", 300)),
            ("fresh-1000", lambda: self.fresh("fresh-1000", 1000)),
        ]


def select(only: str | None) -> list[str]:
    """Scenario keys picked by --only: a key, or a prefix that ends before a dash
    (``apply`` picks apply-1000, apply-100 and apply-100-link)."""
    if not only:
        return list(KEYS)
    picked = []
    for word in (w.strip() for w in only.split(",")):
        if not word:
            continue
        matches = [k for k in KEYS if k == word or k.startswith(word + "-")]
        if not matches:
            raise SystemExit(f"--only: unknown scenario {word!r}; choose from {', '.join(KEYS)}")
        picked += [k for k in matches if k not in picked]
    return [k for k in KEYS if k in picked]


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so the finally blocks drop the databases."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="migrata's speed scenarios against baselines measured in the same run.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="scenarios: " + ", ".join(KEYS),
    )
    parser.add_argument("--repeat", type=int, default=3, help="repeats; medians (3)")
    parser.add_argument(
        "--url",
        default=os.environ.get("MIGRATA_BENCH_URL", DEFAULT_URL),
        help=f"server to create the databases on ($MIGRATA_BENCH_URL, default {DEFAULT_URL})",
    )
    parser.add_argument(
        "--only",
        metavar="SCENARIO[,...]",
        help="run these scenarios only (a name or its prefix, e.g. apply)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument(
        "--compare",
        metavar="JSON",
        nargs="+",
        help="BEFORE.json: print before/after after this run; "
        "BEFORE.json AFTER.json: print that table only, run nothing",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.compare and len(args.compare) > 2:
        parser.error("--compare takes BEFORE.json and optionally AFTER.json")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare and len(args.compare) == 2:
        before, after = (json.loads(Path(p).read_text(encoding="utf-8")) for p in args.compare)
        print_compare(before, after)
        return 0
    keys = select(args.only)
    if shutil.which("psql") is None and any(k.startswith("apply") for k in keys):
        print("psql is not on PATH", file=sys.stderr)
        return 1

    root = Path(tempfile.mkdtemp(prefix="bench_speed_"))
    dbs = Databases(args.url)
    rows: list[Row] = []
    status = 0
    try:
        with terminate_as_interrupt():
            bench = Bench(args, root, dbs)
            build = find_build(bench.runner)
            print(f"measuring {describe_build(asdict(build))}")
            print(
                f"CLI: {' '.join(bench.runner.migrata)}; server {redact(args.url)}; "
                f"median of {args.repeat}"
            )
            for key, measure in bench.plan():
                if key not in keys:
                    continue
                print(f"{key}:", flush=True)
                rows.append(measure())
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = 130
    except Exception:  # noqa: BLE001 - show it, then still drop the databases
        traceback.print_exc()
        status = 1
    finally:
        dbs.drop_all()
        shutil.rmtree(root, ignore_errors=True)

    if not rows:
        return status
    print()
    print_results(rows)
    for r in rows:
        if r.note and r.value is not None:
            print(f"  {r.key}: {r.note}")
    result = {
        "migrata": asdict(build),
        "url": redact(args.url),
        "repeat": args.repeat,
        "python": sys.version.split()[0],
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "complete": status == 0,
        "rows": [r.to_json() for r in rows],
        "extra": bench.extra,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")
    if args.compare:
        print()
        print_compare(json.loads(Path(args.compare[0]).read_text(encoding="utf-8")), result)
    return status


if __name__ == "__main__":
    sys.exit(main())
