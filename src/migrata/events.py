"""Structured log events: what a run did, for people and for machines alike.

The core never prints. It logs to ``logging.getLogger("migrata")``; a record made by
:func:`log_event` also carries an event name and fields, so ``migrata --log-format json``
(see :class:`migrata.output.JsonLogFormatter`) writes one JSON object per event, and an app can
format them its own way. The names and fields of the events are listed in the README
("Output for machines"); they are part of the interface.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["EVENT", "FIELDS", "PROGRESS", "log_event", "logger"]

logger = logging.getLogger("migrata")

#: Attribute of a LogRecord holding the event name (``migration_applied``…).
EVENT = "migrata_event"
#: Attribute of a LogRecord holding the event's fields (a dict of JSON values).
FIELDS = "migrata_fields"
#: Attribute marking a record that people should see at the default verbosity even though it
#: is informational (waiting for the database, a lock-timeout retry, a database created).
PROGRESS = "migrata_progress"


def log_event(
    event: str,
    message: str,
    *args: object,
    level: int = logging.INFO,
    progress: bool = False,
    raised: bool = False,
    **fields: Any,
) -> None:
    """Log ``message % args`` as the event ``event`` with ``fields``.

    ``progress`` makes the CLI show it by default; ``raised`` marks the record of an error
    that is also raised (the CLI prints the exception itself, so its text output skips it).
    """
    if not logger.isEnabledFor(level):
        return
    extra: dict[str, Any] = {EVENT: event, FIELDS: fields}
    if progress:
        extra[PROGRESS] = True
    if raised:
        extra["migrata_raised"] = True
    logger.log(level, message, *args, extra=extra)
