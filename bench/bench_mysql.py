#!/usr/bin/env python
"""Benchmark: ``migrata up`` against the ``mysql`` client on MariaDB/MySQL.

Generates N migrations in migrata's native layout and applies them, each to a fresh database,
with migrata (in-process: ``Migrator(url, directory=...).up()``, and ``python -m migrata up``)
and with ``mysql --batch --silent DB < all.sql`` (the same SQL concatenated; autocommit, as
the client runs it). Repeats with the order alternated and prints medians and the ratios
migrata / mysql. One extra, untimed run counts migrata's round trips (COM_QUERY packets) on a
borrowed PyMySQL connection. Every database is verified, and every database the run created
is dropped on the way out (success, failure, Ctrl-C, SIGTERM).

Usage::

    /work/venv/bin/python bench/bench_mysql.py [--count 300] [--repeat 3] [--url URL]

See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

try:
    import pymysql
    from pymysql.constants import CLIENT

    import migrata
    from migrata.backends.mysql import connect_arguments
    from migrata.urls import parse_url, redact, scrub
except ImportError as exc:  # pragma: no cover
    sys.exit(f"{exc}: run with the project's venv (/work/venv/bin/python)")

DEFAULT_URL = "mysql://migrata:mt-pw-4417@127.0.0.1:3306/mysql"
MYSQL = "/usr/bin/mysql"
HISTORY = "migrata_history"  # migrata's tables (and _audit, _meta): left out of the comparison
LIB, CLIENT_RUN, CLI = "migrata up (library)", "mysql < all.sql", "migrata up (CLI)"


class Failed(Exception):
    pass


# -- generating migrations --------------------------------------------------------------------

_ADDED = {"note": "TEXT NULL", "flag": "TINYINT(1) NOT NULL DEFAULT 0"}
_ADDED |= {"weight": "DECIMAL(8, 3) NULL", "label": "VARCHAR(32) NOT NULL DEFAULT 'n/a'"}


@dataclass
class _Table:
    name: str
    columns: list[str] = field(default_factory=lambda: ["id", "code", "qty", "price", "created"])
    indexable: list[str] = field(default_factory=lambda: ["qty", "price", "created"])
    rows: int = 0
    qty: int = 0  # the SUM(qty) that the generated INSERTs and UPDATEs leave


@dataclass
class Workload:
    files: list[tuple[str, str, str]]  # (file name, migration, the same for the mysql client)
    statements: int
    data_only: int  # migrations of INSERTs and UPDATEs only: one transaction each in migrata
    tables: dict[str, _Table]
    indexes: set[tuple[str, str]]  # (table, index name)
    routines: set[tuple[str, str]]  # (name, PROCEDURE | FUNCTION)
    count: int


class Generator:
    """A seeded mix of MySQL DDL, DML and stored routines, 2–4 statements a migration."""

    def __init__(self, count: int, seed: int) -> None:
        self.count, self.rng, self.width = count, random.Random(seed), max(4, len(str(count)))
        self.tables: list[_Table] = []
        self.indexes: set[tuple[str, str]] = set()
        self.routines: set[tuple[str, str]] = set()
        self.tag = ""

    def create_table(self) -> str:
        t = _Table(f"t{self.tag}")
        cols = ["id INT AUTO_INCREMENT PRIMARY KEY", "code VARCHAR(64) NOT NULL"]
        cols += ["qty INT NOT NULL DEFAULT 0", "price DECIMAL(12, 2) NULL"]
        cols += ["created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP"]
        keys = [f"UNIQUE KEY {t.name}_code_key (code)"]
        self.indexes |= {(t.name, "PRIMARY"), (t.name, f"{t.name}_code_key")}
        if self.tables and self.rng.random() < 0.5:
            parent = self.rng.choice(self.tables[-20:]).name
            col = f"{parent}_id"
            cols.append(f"{col} INT NULL")
            keys.append(f"KEY {t.name}_{col}_idx ({col})")
            keys.append(f"CONSTRAINT {t.name}_fk FOREIGN KEY ({col}) REFERENCES {parent} (id)")
            t.columns.append(col)
            self.indexes.add((t.name, f"{t.name}_{col}_idx"))
        if self.rng.random() < 0.4:
            cols.append("status VARCHAR(8) NOT NULL DEFAULT 'new'")
            t.columns.append("status")
            t.indexable.append("status")
        self.tables.append(t)
        return f"CREATE TABLE {t.name} (\n    " + ",\n    ".join(cols + keys) + "\n) ENGINE=InnoDB;"

    def create_index(self, t: _Table) -> str:
        column = self.rng.choice(t.indexable)
        name = f"{t.name}_{column}_{self.tag}_idx"
        self.indexes.add((t.name, name))
        return f"CREATE INDEX {name} ON {t.name} ({column});"

    def add_column(self, t: _Table) -> str:
        kind = self.rng.choice(list(_ADDED))
        name = f"{kind}_{self.tag}"
        while name in t.columns:
            name += "x"
        t.columns.append(name)
        if kind != "note":
            t.indexable.append(name)
        return f"ALTER TABLE {t.name} ADD COLUMN {name} {_ADDED[kind]};"

    def insert(self, t: _Table) -> str:
        values = []
        for k in range(self.rng.randint(2, 5)):
            code = f"{t.name}-{self.tag}-{t.rows + k}" + (";a" if k == 0 else "")  # ';' in a string
            qty = self.rng.randint(0, 500)
            price = f"{self.rng.randint(1, 99999) / 100:.2f}" if k % 3 else "NULL"
            values.append(f"    ('{code}', {qty}, {price})")
            t.qty += qty
        t.rows += len(values)
        return f"INSERT INTO {t.name} (code, qty, price) VALUES\n" + ",\n".join(values) + ";"

    def update(self, t: _Table) -> str:
        delta = self.rng.randint(1, 9)
        t.qty += delta * t.rows
        return f"UPDATE {t.name} SET qty = qty + {delta} WHERE code NOT LIKE '%;skip%';"

    def routine(self, t: _Table) -> tuple[str, str]:
        """(migration text, client text): between DELIMITER lines in both, or in the migration a
        bare BEGIN … END body (migrata keeps it whole; the client needs DELIMITER)."""
        kind = self.rng.choice(["PROCEDURE", "FUNCTION"])
        name = f"{kind[0].lower()}{self.tag}_{len(self.routines)}"
        self.routines.add((name, kind))
        if kind == "PROCEDURE":
            body = (
                f"CREATE PROCEDURE {name}(IN p_by INT)\nMODIFIES SQL DATA\nBEGIN\n"
                f"    UPDATE {t.name} SET qty = qty + p_by WHERE qty >= 0;\n"
                f"    INSERT INTO {t.name} (code, qty) VALUES (CONCAT('{name};', UUID()), p_by);\n"
                "END"
            )
        else:
            body = (
                f"CREATE FUNCTION {name}(p_min INT) RETURNS DECIMAL(14, 2)\nREADS SQL DATA\nBEGIN\n"
                "    DECLARE v_total DECIMAL(14, 2) DEFAULT 0;\n"
                "    SELECT COALESCE(SUM(COALESCE(price, 0) * qty), 0) INTO v_total\n"
                f"        FROM {t.name} WHERE qty >= p_min;\n"
                "    IF v_total < 0 THEN\n"
                "        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'negative total; check it';\n"
                "    END IF;\n    RETURN v_total;\nEND"
            )
        wrapped = f"DELIMITER $$\n{body}$$\nDELIMITER ;"
        return (wrapped, wrapped) if self.rng.random() < 0.5 else (body + ";", wrapped)

    def migration(self) -> tuple[str, list[str | tuple[str, str]]]:
        kinds, weights = ["table", "data", "alter", "routine", "mixed"], [30, 25, 20, 15, 10]
        kind = self.rng.choices(kinds, weights)[0] if self.tables else "table"
        pool = self.tables[-10:] if self.rng.random() < 0.8 else self.tables
        t = self.rng.choice(pool) if pool else _Table("")
        out: list[str | tuple[str, str]] = []
        if kind in ("table", "mixed"):
            out.append(self.create_table())
            t = self.tables[-1]
            if kind == "mixed":
                out += [self.insert(t), self.routine(t)]
            elif self.rng.random() < 0.6:
                out.append(self.insert(t))
            out.append(self.create_index(t))
        elif kind == "data":
            out += [self.insert(self.rng.choice(pool)) for _ in range(self.rng.randint(1, 3))]
            return "seed_rows", [*out, self.update(t)]
        elif kind == "alter":
            out += [self.add_column(t), self.add_column(t)]
            out.append(self.create_index(t) if self.rng.random() < 0.5 else self.insert(t))
        else:
            out += [self.routine(t) for _ in range(self.rng.randint(1, 2))] + [self.create_index(t)]
        label = {"table": "create", "mixed": "create_with_routine"}.get(kind, kind)
        return f"{label}_{t.name}", out

    def generate(self) -> Workload:
        files, statements, data_only = [], 0, 0
        for n in range(1, self.count + 1):
            self.tag = str(n).zfill(self.width)
            name, stmts = self.migration()
            pairs = [s if isinstance(s, tuple) else (s, s) for s in stmts]
            data_only += name == "seed_rows"
            statements += len(pairs)
            file_name = f"{self.tag}_{name}.sql"
            head = f"-- {file_name}: generated by bench/bench_mysql.py\n\n"
            texts = (head + "\n\n".join(p[i] for p in pairs) + "\n" for i in (0, 1))
            files.append((file_name, *texts))
        tables = {t.name: t for t in self.tables}
        return Workload(files, statements, data_only, tables, self.indexes, self.routines, n)


# -- databases --------------------------------------------------------------------------------


def connect(url: str, **extra: Any) -> Any:
    return pymysql.connect(**connect_arguments(parse_url(url)), connect_timeout=10, **extra)


class Databases:
    """Creates ``bench_migrata_<pid>_…`` databases and drops every one of them."""

    def __init__(self, url: str) -> None:
        self.url, self.created, self.made = url, [], 0
        self.prefix = f"bench_migrata_{os.getpid()}_"

    def create(self, label: str) -> str:
        self.made += 1
        name = f"{self.prefix}{self.made}_{label}"
        self.created.append(name)  # before CREATE: an interrupt right after it still drops it
        with connect(self.url) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        p = urlsplit(self.url)
        return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))

    def drop_all(self) -> None:
        """Ctrl-C and SIGTERM wait until every database is dropped."""
        signals = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
        signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        try:
            while self.created:
                name = self.created.pop()
                try:
                    with connect(self.url) as conn, conn.cursor() as cur:
                        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                except pymysql.MySQLError as exc:
                    print(f"WARNING: could not drop database {name}: {exc}", file=sys.stderr)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)


# -- contenders -------------------------------------------------------------------------------


def run_library(url: str, migrations: Path, w: Workload) -> tuple[float, float]:
    """(wall seconds of Migrator(...) and up(), client CPU seconds of up())."""
    started = time.perf_counter()
    migrator = migrata.Migrator(url, directory=migrations)
    cpu = time.process_time()
    try:
        report = migrator.up()
    except Exception as exc:
        raise Failed(f"migrata (library): {type(exc).__name__}: {exc}") from exc
    cpu, elapsed = time.process_time() - cpu, time.perf_counter() - started
    ran, in_transaction = (
        sum(getattr(s, a) for s in report.steps) for a in ("statements", "transactional")
    )
    if (ran, in_transaction) != (w.statements, w.data_only):
        raise Failed(
            f"migrata ran {ran} statements, {in_transaction} migrations in a transaction; the "
            f"generator wrote {w.statements}, {w.data_only} migrations data-only"
        )
    return elapsed, cpu


def run_command(what: str, command: list[str], env: dict[str, str], stdin: Path, cwd: str) -> float:
    with open(stdin, "rb") as source:
        started = time.perf_counter()
        done = subprocess.run(
            command, check=False, stdin=source, env=env, cwd=cwd, capture_output=True, text=True
        )
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-12:]
        raise Failed(f"{what} exited with {done.returncode}:\n    " + "\n    ".join(tail))
    return elapsed


def client_command(url: str) -> tuple[list[str], dict[str, str]]:
    a = connect_arguments(parse_url(url))
    where = (
        ["-S", a["unix_socket"]] if "unix_socket" in a else ["-h", a["host"], "-P", str(a["port"])]
    )
    env = dict(os.environ) | ({"MYSQL_PWD": a["password"]} if "password" in a else {})
    return [MYSQL, "--batch", "--silent", *where, "-u", a.get("user", ""), a["database"]], env


def count_round_trips(url: str, migrations: Path) -> tuple[int, int, int]:
    """COM_QUERY packets of one up(): (in all, inside DDL migrations, inside data-only ones)."""
    conn = connect(url, client_flag=CLIENT.MULTI_STATEMENTS, autocommit=True)
    calls, original, inside, step = [0], conn.query, {"ddl": 0, "data": 0}, {"at": 0, "kind": ""}

    def query(sql: Any, unbuffered: bool = False) -> Any:
        calls[0] += 1
        return original(sql, unbuffered)

    def on_step(event: Any) -> None:
        # only a migration that runs statement by statement (one with DDL) reports statements
        if event.kind == "started":
            step.update(at=calls[0], kind="data")
        elif event.kind == "statement":
            step["kind"] = "ddl"
        elif event.kind == "done":
            inside[str(step["kind"])] += calls[0] - int(step["at"])

    conn.query = query
    try:
        migrata.Migrator(connection=conn, directory=migrations, on_step=on_step).up()
    finally:
        conn.close()
    return calls[0], inside["ddl"], inside["data"]


# -- verification -----------------------------------------------------------------------------


def fingerprint(url: str) -> dict[str, Any]:
    db = urlsplit(url).path.lstrip("/")
    ours = f"TABLE_SCHEMA = '{db}' AND TABLE_NAME NOT LIKE 'migrata\\_history%'"
    tables = "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'"
    with connect(url) as conn, conn.cursor() as cur:

        def rows(sql: str) -> list[tuple[Any, ...]]:
            cur.execute(sql)
            return sorted(cur.fetchall(), key=repr)

        fp: dict[str, Any] = {
            "tables": [r[0] for r in rows(f"{tables} AND {ours}")],
            "columns": rows(
                "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, "
                f"COLUMN_DEFAULT, EXTRA FROM information_schema.COLUMNS WHERE {ours}"
            ),
            "indexes": rows(
                "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME "
                f"FROM information_schema.STATISTICS WHERE {ours}"
            ),
            "routines": rows(
                "SELECT ROUTINE_NAME, ROUTINE_TYPE, DTD_IDENTIFIER, SQL_DATA_ACCESS, SQL_MODE, "
                "MD5(ROUTINE_DEFINITION) FROM information_schema.ROUTINES "
                f"WHERE ROUTINE_SCHEMA = '{db}'"
            ),
            "rows": {},
            "history": None,
        }
        for table in fp["tables"]:
            fp["rows"][table] = rows(
                f"SELECT COUNT(*), CAST(COALESCE(SUM(qty), 0) AS SIGNED) FROM `{table}`"
            )[0]
        if rows(f"{tables} AND TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{HISTORY}'"):
            fp["history"] = rows(
                "SELECT CAST(SUM(success) AS SIGNED), COUNT(*), "
                f"CAST(SUM(statements_total) AS SIGNED) FROM {HISTORY}"
            )[0]
    return fp


def verify(fps: dict[str, dict[str, Any]], w: Workload) -> str:
    """Raise Failed with the first differences; the first database is the reference."""
    expected = {
        "tables": set(w.tables),
        "columns": {(t.name, c) for t in w.tables.values() for c in t.columns},
        "indexes": w.indexes,
        "routines": w.routines,
        "rows": {(t.name, (t.rows, t.qty)) for t in w.tables.values()},
    }
    (ref_name, ref), problems = next(iter(fps.items())), []
    for name, fp in fps.items():
        for key, want in expected.items():
            got = set(fp[key].items()) if key == "rows" else {_key(r) for r in fp[key]}
            if got != want:
                problems.append(f"{name}: {key} differ from the generator's: {_diff(got, want)}")
            if key != "tables" and fp[key] != ref[key]:
                problems.append(f"{name} vs {ref_name}: {key}: {_diff(fp[key], ref[key])}")
        if name != CLIENT_RUN and fp["history"] != (w.count, w.count, w.statements):
            problems.append(
                f"{name}: {HISTORY} (successful, rows, statements) = {fp['history']}, "
                f"expected {(w.count, w.count, w.statements)}"
            )
    if problems:
        raise Failed("databases differ:\n  " + "\n  ".join(problems[:10]))
    return (
        f"{len(ref['tables'])} tables, {len(ref['columns'])} columns, "
        f"{len(expected['indexes'])} indexes, {len(ref['routines'])} routines, "
        f"{sum(r[0] for r in ref['rows'].values())} rows"
    )


def _key(row: Any) -> Any:
    return row[:2] if isinstance(row, tuple) else row


def _diff(a: Any, b: Any) -> str:
    a, b = (set(x.items()) if isinstance(x, dict) else set(x) for x in (a, b))
    return f"{len(a)} vs {len(b)}; first: {sorted(map(repr, a ^ b))[:4]}"


# -- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description="Time `migrata up` against `mysql < all.sql`.")
    parser.add_argument("--count", type=int, default=300, help="migrations to generate (300)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats; medians reported (3)")
    parser.add_argument("--seed", type=int, default=20250108, help="generator seed")
    parser.add_argument(
        "--url",
        default=os.environ.get("MIGRATA_BENCH_MYSQL_URL", DEFAULT_URL),
        help="server to CREATE/DROP DATABASE on (default: $MIGRATA_BENCH_MYSQL_URL, or local)",
    )
    parser.add_argument("--no-cli", action="store_true", help="do not time `python -m migrata`")
    args = parser.parse_args()
    if args.count < 1 or args.repeat < 1:
        parser.error("--count and --repeat must be at least 1")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    w = Generator(args.count, args.seed).generate()
    contenders = [LIB, CLIENT_RUN] + ([] if args.no_cli else [CLI])
    times: dict[str, list[float]] = {c: [] for c in contenders}
    cpu: list[float] = []
    dbs = Databases(args.url)

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # SIGINT too, in case it was inherited ignored (a background job): Ctrl-C must clean up
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, interrupt)
    with tempfile.TemporaryDirectory(prefix="migrata-bench-") as root:
        migrations, all_sql = Path(root, "migrations"), Path(root, "all.sql")
        migrations.mkdir()
        for name, text, _ in w.files:
            (migrations / name).write_text(text, encoding="utf-8")
        all_sql.write_text("\n".join(client for *_, client in w.files), encoding="utf-8")
        try:
            with connect(args.url) as conn, conn.cursor() as cur:
                cur.execute("SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@log_bin")
                version, flush, log_bin = cur.fetchone()
            print(
                f"migrata {migrata.__version__} (Python {sys.version.split()[0]}, PyMySQL "
                f"{pymysql.__version__}), server {version} at {redact(args.url)} "
                f"(innodb_flush_log_at_trx_commit={flush}, log_bin={log_bin})"
            )
            print(
                f"workload: {w.count} migrations ({w.count - w.data_only} with DDL, "
                f"{w.data_only} data-only), {w.statements} statements, "
                f"{sum(len(t.encode()) for _, t, _ in w.files) / 1024:.0f} KiB of SQL"
            )
            for repeat in range(args.repeat):
                fps, line = {}, []
                for name in contenders if repeat % 2 == 0 else contenders[::-1]:
                    url = dbs.create({LIB: "lib", CLIENT_RUN: "client", CLI: "cli"}[name])
                    if name == LIB:
                        elapsed, used = run_library(url, migrations, w)
                        cpu.append(used)
                    elif name == CLI:  # the URL in the environment: no password in argv
                        env = dict(os.environ, MIGRATA_DATABASE_URL=url)
                        command = [sys.executable, "-m", "migrata", "-d", str(migrations), "up"]
                        elapsed = run_command(
                            "python -m migrata up", command, env, Path(os.devnull), root
                        )
                    else:
                        elapsed = run_command("mysql", *client_command(url), all_sql, root)
                    times[name].append(elapsed)
                    line.append(f"{name}: {elapsed:.3f} s")
                    fps[name] = fingerprint(url)
                print(f"repeat {repeat + 1}/{args.repeat}: " + "   ".join(line))
                summary = verify({CLIENT_RUN: fps.pop(CLIENT_RUN), **fps}, w)
                if repeat == 0:
                    print(f"  verified: every database has {summary}")
                dbs.drop_all()
            url = dbs.create("roundtrips")
            trips, in_ddl, in_data = count_round_trips(url, migrations)
            verify({f"{LIB}, counting round trips": fingerprint(url)}, w)
        except KeyboardInterrupt as exc:
            print(f"\ninterrupted ({exc or 'Ctrl-C'}); dropping the benchmark databases")
            return 130
        except (Failed, pymysql.MySQLError, migrata.MigrataError) as exc:
            print(f"\nFAILED: {scrub(str(exc), parse_url(args.url).password, args.url)}")
            return 1
        finally:
            dbs.drop_all()

    n, ddl, med = (
        w.count,
        w.count - w.data_only,
        {k: statistics.median(v) for k, v in times.items()},
    )
    base = med[CLIENT_RUN]
    print(f"\nmedian of {args.repeat} repeat(s), {n} migrations, {w.statements} statements:")
    for name in (LIB, CLI) if CLI in med else (LIB,):
        print(
            f"{name + ':':<22}{med[name]:.3f} s   {CLIENT_RUN}: {base:.3f} s   "
            f"ratio migrata/mysql {med[name] / base:.2f}x"
        )
    used = statistics.median(cpu)
    print(
        f"migrata client CPU (library, in-process): {used:.3f} s = {used / med[LIB]:.0%} of its "
        f"wall time, {used / n * 1000:.3f} ms per migration; the rest is waiting for the server"
    )
    print(
        f"round trips: {trips} for {n} migrations ({ddl} DDL migrations, {w.data_only} "
        f"data-only), {trips / n:.2f} per migration"
    )
    print(
        f"  {in_ddl} inside DDL migrations ({in_ddl / max(ddl, 1):.2f} each), {in_data} inside "
        f"data-only ones ({in_data / max(w.data_only, 1):.2f} each), {trips - in_ddl - in_data} "
        f"around them; the mysql client sends {w.statements}, one per statement"
    )
    print("per migration (mean):")
    for name in contenders:
        print(
            f"  {name:<24} {med[name] / n * 1000:8.3f} ms   "
            f"({med[name] / w.statements * 1000:.3f} ms per statement)"
        )
    print(f"  migrata overhead over mysql {(med[LIB] - base) / n * 1000:8.3f} ms per migration")
    return 0


if __name__ == "__main__":
    sys.exit(main())
