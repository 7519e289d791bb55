"""Process exit codes of the ``migrata`` command: the one place they are defined.

====  =========================================================================
code  meaning
====  =========================================================================
0     success (for ``status --exit-code``: nothing pending, nothing wrong)
1     a migration failed while running (the message has file:line:col)
2     usage or configuration error: bad flag, URL, config, unreachable database
3     validation problem: the folder or the history stops the run (drift,
      missing file, failed row, out-of-order file, bad file name, syntax error)
4     lock timeout: another run holds the migration lock
5     pending migrations (``status --exit-code`` only)
6     lint findings at or above ``--fail-on`` (``lint``), or ``up --lint=error``
      refusing to run a migration with an error-level finding
====  =========================================================================
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    MIGRATION_FAILED = 1
    USAGE = 2
    VALIDATION = 3
    LOCK_TIMEOUT = 4
    PENDING = 5
    LINT = 6
