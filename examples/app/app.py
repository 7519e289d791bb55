"""A small notes service that brings its PostgreSQL database up to date when it starts.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/notes uvicorn app:app

Settings (environment variables):

- ``DATABASE_URL``: the database (required).
- ``MIGRATA_WAIT``: how long to wait at start-up for the database to accept connections
  (``30``, ``1min``; default 30 s from migrata.toml), for a replica started together with its
  database.
- ``MIGRATA_ENV``: the environment (``dev``, ``test``, ``production``…). The demo notes of
  ``seeds/`` load only in dev and test; unset counts as production.
- ``MIGRATA_DISABLE=1``: do not migrate at start-up (something else does it, such as the
  ``migrate`` service of compose.yaml).

Endpoints: ``GET /health`` (200 when the schema is up to date, 503 otherwise),
``GET /notes`` and ``POST /notes``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import psycopg
from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

import migrata

HERE = Path(__file__).resolve().parent
#: The settings the `migrata` command reads in this folder: the migrations folder, the seeds
#: and their environments, the URL (env:DATABASE_URL), how long to wait for the database.
#: The app reads the same file, so the command, the start-up and the health check agree.
#: MIGRATA_* variables (MIGRATA_ENV, MIGRATA_WAIT…) win over it, as for the command.
CONFIG = HERE / "migrata.toml"

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logger = logging.getLogger("notes")


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        raise RuntimeError("set DATABASE_URL, e.g. postgresql://app:secret@db:5432/notes")
    return url


def migrate() -> None:
    """Bring the database up to date; raises when that fails (and the app does not start).

    Every replica of the app may run this at the same moment: migrata holds a migration lock
    (a PostgreSQL advisory lock) for the whole run, so the first replica applies the pending
    migrations while the others wait for the lock, then find nothing left to do. Each migration
    is applied exactly once. A replica waits for the lock up to 60 seconds (migrata's
    ``lock_timeout``) and then fails to start: with migrations that take longer, raise it
    (``lock_timeout = 600`` in migrata.toml) or run them once before the rollout instead
    (compose.yaml's ``migrate`` service, a Kubernetes Job or init container).
    """
    reports = migrata.migrate(config=CONFIG)
    if reports is None:
        # MIGRATA_DISABLE=1 (or DISABLE_EMBEDDED_MIGRATIONS=true): migrata did not connect.
        logger.info("migrations at start-up are turned off (MIGRATA_DISABLE=1)")
        return
    versions = [v for report in reports.values() for v in report.versions]
    if versions:
        logger.info("applied migrations %s", ", ".join(versions))
    else:
        logger.info("the database is up to date")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # migrate() is blocking code: network round trips, the wait for the migration lock, and
    # pauses while the database is still starting (MIGRATA_WAIT). Run in the event loop's own
    # thread it would freeze the loop and everything else on it for that long; a worker thread
    # keeps the loop free. Uvicorn opens its port only once this start-up has finished, so no
    # request reaches the app before its schema is ready. If migrate() raises, the start-up
    # fails and uvicorn exits with an error (exit code 3) instead of serving on a schema the
    # code does not expect: in a rolling update the new version never gets traffic and the old
    # one keeps serving.
    await anyio.to_thread.run_sync(migrate)
    # One Migrator for the health checks, with the same settings (a seed applied in dev must
    # be known to the check too, or it would count as a file that went missing); it reads the
    # migration files once. No waiting: a health check answers at once.
    app.state.migrator = migrata.Migrator.from_config(CONFIG, wait=0, connect_timeout=5)
    yield


app = FastAPI(title="notes", lifespan=lifespan)


@app.get("/health")
def health() -> JSONResponse:
    """200 when every migration is applied and nothing is wrong; 503 when migrations are
    pending or failed, or the database cannot be reached. One connection, one query, no lock.

    A plain ``def``: FastAPI runs it in its thread pool, so the blocking check does not hold up
    the event loop (the same goes for the endpoints below)."""
    migrator: migrata.Migrator = app.state.migrator
    try:
        up_to_date = migrator.is_up_to_date()
    except (migrata.MigrataError, psycopg.Error) as exc:
        # The details go to the log (migrata leaves the password out of its messages); the
        # answer, which anyone who can reach the port sees, names only the kind of error.
        logger.warning("health check failed: %s", exc)
        return JSONResponse(
            {"status": "unavailable", "migrations": "unknown", "error": type(exc).__name__},
            status_code=503,
        )
    if not up_to_date:
        return JSONResponse(
            {"status": "unavailable", "migrations": "not up to date"}, status_code=503
        )
    return JSONResponse({"status": "ok", "migrations": "up to date"})


class NoteIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = ""
    pinned: bool = False


class Note(NoteIn):
    id: int
    created_at: datetime


_COLUMNS = "id, title, body, pinned, created_at"


def _connect() -> psycopg.Connection[dict[str, Any]]:
    # One connection per request keeps the example short; a real service would keep a pool
    # (psycopg_pool.ConnectionPool, opened in the lifespan above).
    return psycopg.connect(database_url(), row_factory=dict_row, connect_timeout=5)


@app.get("/notes")
def list_notes(limit: int = Query(50, ge=1, le=500)) -> list[Note]:
    """Pinned notes first, then the newest (the index of migrations/0003 serves this order)."""
    with _connect() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM notes ORDER BY pinned DESC, created_at DESC, id DESC LIMIT %s",
            (limit,),
        ).fetchall()
    return [Note(**row) for row in rows]


@app.post("/notes", status_code=201)
def create_note(note: NoteIn) -> Note:
    with _connect() as conn:
        row = conn.execute(
            f"INSERT INTO notes (title, body, pinned) VALUES (%s, %s, %s) RETURNING {_COLUMNS}",
            (note.title, note.body, note.pinned),
        ).fetchone()
    assert row is not None
    return Note(**row)
