"""Process entry points for the concurrency tests (spawned: importable, migrata only)."""

from __future__ import annotations

import sys
import traceback
from typing import Any


def run_up(url: str, directory: str, barrier: Any, results: Any, lock_timeout: float = 60) -> None:
    """Wait for every sibling, then ``Migrator.up()``; report the applied versions.

    Exits 0 on success, 1 (after printing the traceback) on any exception.
    """
    from migrata import Migrator

    migrator = Migrator(url, directory=directory, lock_timeout=lock_timeout)
    migrator.discover()  # read the files before the start line, as an app would at import
    barrier.wait(timeout=60)
    try:
        report = migrator.up()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        traceback.print_exc()
        results.put(("error", f"{type(exc).__name__}: {exc}"))
        sys.stdout.flush()
        sys.stderr.flush()
        raise SystemExit(1) from None
    results.put(("ok", list(report.versions)))
