#!/usr/bin/env python
"""Benchmark: a fresh migrated database per test, cloned from a template
(``migrata.testing.fresh.FreshDatabases``), against running the migrations each time.

For each N, generates N migrations (a table every third one, a column and an index in the
others, a seed row in the first table), then measures on each engine: the template's build
(once), ``create()`` + ``drop()`` of a fresh database (median of ``--repeat``), and one
``Migrator(...).up()`` into a new empty database + its drop (what a test would pay without a
template). Prints one line per engine and N with the ratio. Then what a test *waits* for its
database as the pytest fixture uses it (``create()`` with databases made ahead, the test body,
``drop()`` behind): median of ``--tests`` tests in a row, with a body of 0.05 s and of 0 s,
and the time ``close()`` then takes (the drops still queued). The templates are dropped after.

    .venv/bin/python bench/bench_fresh.py [--counts 10,300,1000] [--repeat 9] [--tests 20]
        [--engines sqlite,postgresql,mysql] [--postgres URL] [--mysql URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from migrata import Migrator
from migrata.testing.fresh import FreshDatabases


def write_migrations(folder: Path, count: int) -> None:
    tables = 0
    for i in range(1, count + 1):
        if i % 3 == 1:
            tables += 1
            sql = f"CREATE TABLE t{tables} (id INTEGER PRIMARY KEY, name VARCHAR(50));\n"
            if tables == 1:
                sql += "INSERT INTO t1 (id, name) VALUES (1, 'seed');\n"
        elif i % 3 == 2:
            sql = f"ALTER TABLE t{tables} ADD COLUMN c{i} INTEGER;\n"
        else:
            sql = f"CREATE INDEX i{i} ON t{tables} (name);\n"
        (folder / f"{i:05d}_m{i}.sql").write_text(sql)


def measure_waits(url: str, folder: Path, tests: int, body: float) -> tuple[float, float, float]:
    """(median wait s, worst wait s, close s) of ``tests`` tests in a row, each a ``body``
    seconds long, ahead=1 (the template already built)."""
    fresh = FreshDatabases(url, directory=folder, cache_dir=folder.parent / "cache", ahead=1)
    fresh.ensure_template()
    waits = []
    for _ in range(tests):
        start = time.perf_counter()
        database = fresh.create()
        waits.append(time.perf_counter() - start)
        time.sleep(body)
        fresh.drop(database)
    start = time.perf_counter()
    fresh.close()
    return statistics.median(waits), max(waits), time.perf_counter() - start


def measure(url: str, folder: Path, repeat: int) -> tuple[float, float, float]:
    """(template build s, fresh database s, migrations each time s) on ``url``'s server:
    nothing made ahead, each drop waited for."""
    fresh = FreshDatabases(url, directory=folder, cache_dir=folder.parent / "cache", ahead=0)
    with fresh:
        fresh.drop_templates()
        start = time.perf_counter()
        fresh.ensure_template()
        build = time.perf_counter() - start
        clones = []
        for _ in range(repeat):
            start = time.perf_counter()
            fresh.drop(fresh.create())
            fresh.close()  # waits for the drop
            clones.append(time.perf_counter() - start)
        # Without a template: an empty database (the template's clone of nothing) + up().
        empty = FreshDatabases(
            url, directory=folder.parent / "empty", cache_dir=folder.parent, ahead=0
        )
        with empty:
            runs = []
            for _ in range(max(1, repeat // 3)):
                start = time.perf_counter()
                database = empty.create()
                Migrator(database, directory=folder, lint="off").up()
                empty.drop(database)
                empty.close()
                runs.append(time.perf_counter() - start)
            empty.drop_templates()
    return build, statistics.median(clones), statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10,300,1000")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--tests", type=int, default=20)
    parser.add_argument("--engines", default="sqlite,postgresql,mysql")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MIGRATA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--mysql",
        default=os.environ.get(
            "MIGRATA_TEST_MYSQL_URL", "mysql://migrata:mt-pw-4417@127.0.0.1:3306/mysql"
        ),
    )
    args = parser.parse_args()
    servers = {"sqlite": "sqlite:///unused.db", "postgresql": args.postgres, "mysql": args.mysql}
    servers = {e: servers[e] for e in args.engines.split(",")}
    print(
        f"{'engine':<11} {'N':>5} {'build s':>8} {'fresh s':>8} {'up each s':>10} {'ratio':>7}"
        f"  {'wait@0.05 s':>11} {'worst':>6} {'wait@0 s':>9} {'worst':>6} {'close s':>8}"
    )
    for count in (int(c) for c in args.counts.split(",")):
        with tempfile.TemporaryDirectory(prefix="migrata-bench-fresh-") as tmp:
            folder = Path(tmp) / f"m{count}"
            folder.mkdir()
            (Path(tmp) / "empty").mkdir()
            write_migrations(folder, count)
            for engine, url in servers.items():
                build, fresh, each = measure(url, folder, args.repeat)
                busy, busy_worst, _ = measure_waits(url, folder, args.tests, 0.05)
                idle, idle_worst, close = measure_waits(url, folder, args.tests, 0.0)
                templates = FreshDatabases(url, directory=folder, cache_dir=Path(tmp) / "cache")
                templates.drop_templates()
                print(
                    f"{engine:<11} {count:>5} {build:>8.3f} {fresh:>8.4f} {each:>10.3f} "
                    f"{each / fresh:>6.0f}x  {busy:>11.4f} {busy_worst:>6.3f} {idle:>9.4f} "
                    f"{idle_worst:>6.3f} {close:>8.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
