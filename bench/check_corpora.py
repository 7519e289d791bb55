"""`migrata check` over the public projects' folders in ``../shared/corpora``: which of their
downs do not restore the schema their up found (a report, not a test).

    .venv/bin/python bench/check_corpora.py [--corpora ../shared/corpora]
        [--postgres URL] [--mysql URL]

Each corpus whose layout migrata reads and which has down files is checked in a scratch
database on the server of its engine (SQLite: a temporary file). Prints one block per corpus:
the downs checked, and for each that does not restore its schema the first lines of the
difference.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from migrata.check import check_migrations
from migrata.errors import MigrataError
from migrata.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = {"diesel", "sqlx", "golang-migrate", "goose", "flyway", "drizzle", "dbmate"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--mysql", default="mysql://migrata:mt-pw-4417@127.0.0.1:3306/mysql")
    parser.add_argument("--lines", type=int, default=4, help="difference lines shown per down")
    args = parser.parse_args()
    servers = {"pg": args.postgres, "mysql": args.mysql, "sqlite": "sqlite:///unused.db"}
    rows = list(csv.reader((args.corpora / "MANIFEST.tsv").open(), delimiter="\t"))
    header = [h.lstrip("# ") for h in rows[0]]
    for row in rows[1:]:
        entry = dict(zip(header, row, strict=False))
        if entry.get("layout") not in SUPPORTED:
            continue
        folder = args.corpora / entry["name"]
        settings = Settings.of(directory=str(folder), database_url=servers[entry["dialect"]])
        started = time.perf_counter()
        try:
            report = check_migrations(settings, dev_url=servers[entry["dialect"]])
        except MigrataError as exc:
            print(f"{entry['name']}: not checked: {str(exc).splitlines()[0]}")
            continue
        seconds = time.perf_counter() - started
        checked = [s for s in report.steps if s.outcome != "no-down"]
        differing = [s for s in report.steps if s.outcome in {"differs", "failed"}]
        print(
            f"{entry['name']}: {len(report.applied)} applied, {len(checked)} downs checked, "
            f"{len(differing)} do not restore their schema ({seconds:.1f} s)"
            + (f"; failed on the way up: {report.failed_up}" if report.failed_up else "")
        )
        for step in differing:
            print(f"  {step.version}_{step.name}: {step.outcome}")
            for line in step.difference[: args.lines] or [(step.error or "")[:200]]:
                print(f"      {line[:160]}")
            if len(step.difference) > args.lines:
                print(f"      … {len(step.difference) - args.lines} more line(s)")
        if report.steps and report.steps[-1].outcome == "no-down":
            stop = report.steps[-1]
            print(f"  (no down for {stop.version}_{stop.name}: the older downs are not reached)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
