"""Getting a database ready to migrate: waiting until it accepts connections, creating it when
it is missing, dropping it on request.

A deploy starts the database and the migration job together (Docker Compose, Kubernetes), so
the first connection often finds nothing listening yet, a host name not yet in DNS, or a
server still starting up. Those failures are retried, with growing pauses, until ``wait``
seconds are spent; a failure that waiting cannot mend (a wrong password, a database that does
not exist) is raised at once. Progress is logged as events (``waiting``, ``database_ready``,
``database_created``…), never printed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from . import backends
from .backends.base import Backend
from .errors import ConnectionFailed, WaitTimeout
from .events import log_event
from .urls import DatabaseURL

__all__ = [
    "Patience",
    "Waited",
    "create_database",
    "drop_database",
    "open_when_ready",
    "wait_for_database",
]

T = TypeVar("T")

#: The first pause between attempts, the longest one, and how often the same reason is
#: logged again while waiting.
FIRST_PAUSE = 0.25
LONGEST_PAUSE = 2.0
REPEAT_AFTER = 5.0


@dataclass(frozen=True, slots=True)
class Waited:
    """How long the database took to accept a connection."""

    database: str
    attempts: int
    waited_s: float


class Patience:
    """A budget of ``wait`` seconds shared by the steps of one start-up (create the database,
    then connect), and the loop that retries a connection within it."""

    def __init__(
        self,
        wait: float,
        *,
        connect_timeout: float = 10,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.wait = max(0.0, wait)
        self.connect_timeout = connect_timeout
        self._sleep = sleep
        self._clock = clock
        self._started = clock()

    def attempt(self, database: str, action: Callable[[float], T]) -> tuple[T, Waited]:
        """``action(connect_timeout)`` until it does not raise a transient ConnectionFailed or
        the budget is spent (then WaitTimeout, with the last reason). Other errors, and any
        error when no waiting was asked for, are raised as they are."""
        attempts, pause = 0, FIRST_PAUSE
        last_reason, last_logged = "", float("-inf")
        while True:
            attempts += 1
            remaining = self._started + self.wait - self._clock()
            timeout = self.connect_timeout
            if self.wait > 0:
                timeout = max(1.0, min(timeout, remaining))
            try:
                result = action(timeout)
            except ConnectionFailed as exc:
                if not exc.transient or self.wait <= 0:
                    raise
                now = self._clock()
                elapsed, remaining = now - self._started, self._started + self.wait - now
                if remaining <= 0:
                    raise WaitTimeout(database, self.wait, attempts, exc.reason) from None
                if exc.reason != last_reason or now - last_logged >= REPEAT_AFTER:
                    log_event(
                        "waiting",
                        "waiting for %s: %s (attempt %d, %.1fs of %gs)",
                        database,
                        exc.reason,
                        attempts,
                        elapsed,
                        self.wait,
                        progress=True,
                        database=database,
                        attempt=attempts,
                        elapsed_s=round(elapsed, 3),
                        timeout_s=self.wait,
                        reason=exc.reason,
                    )
                    last_reason, last_logged = exc.reason, now
                self._sleep(min(pause, remaining))
                pause = min(pause * 2, LONGEST_PAUSE)
                continue
            waited = Waited(database, attempts, self._clock() - self._started)
            if attempts > 1:
                log_event(
                    "database_ready",
                    "%s accepts connections after %.1fs (%d attempts)",
                    database,
                    waited.waited_s,
                    attempts,
                    progress=True,
                    database=database,
                    attempts=attempts,
                    waited_ms=round(waited.waited_s * 1000),
                )
            return result, waited


def open_when_ready(url: DatabaseURL, patience: Patience) -> Backend:
    """A connection to ``url``, retried within ``patience``'s budget."""
    backend, _ = patience.attempt(
        url.redacted, lambda timeout: backends.open_backend(url, connect_timeout=timeout)
    )
    return backend


def wait_for_database(url: DatabaseURL, *, timeout: float, connect_timeout: float = 10) -> Waited:
    """Wait until the database ``url`` names accepts a connection (``migrata wait``).

    Raises WaitTimeout when it does not within ``timeout`` seconds, and ConnectionFailed at
    once for what waiting cannot mend (authentication, a missing database: its message says
    how to create it).
    """
    patience = Patience(timeout, connect_timeout=connect_timeout)
    backend, waited = patience.attempt(
        url.redacted, lambda limit: backends.open_backend(url, connect_timeout=limit)
    )
    backend.close()
    return waited


def create_database(url: DatabaseURL, patience: Patience) -> bool:
    """Create the database ``url`` names unless it exists, waiting for its server within
    ``patience``; True when it was created. Logs ``database_created`` or ``database_exists``."""
    created, _ = patience.attempt(
        url.redacted, lambda limit: backends.create_database(url, connect_timeout=limit)
    )
    if created:
        log_event(
            "database_created",
            "created database %s",
            url.redacted,
            progress=True,
            database=url.redacted,
        )
    else:
        log_event("database_exists", "database %s exists", url.redacted, database=url.redacted)
    return created


def drop_database(url: DatabaseURL, patience: Patience, *, force: bool = False) -> bool:
    """Drop the database ``url`` names, waiting for its server within ``patience``; True
    when it existed. Logs ``database_dropped`` or ``database_absent``."""
    dropped, _ = patience.attempt(
        url.redacted,
        lambda limit: backends.drop_database(url, force=force, connect_timeout=limit),
    )
    event, text = ("database_dropped", "dropped") if dropped else ("database_absent", "no")
    log_event(
        event,
        "%s database %s",
        text,
        url.redacted,
        level=logging.INFO,
        progress=dropped,
        database=url.redacted,
    )
    return dropped
