"""migrata: database schema migrations that are safe when replicas start at once, cheap in
round trips, and the same from the CLI and from an app's start-up.

>>> import migrata
>>> migrata.migrate("sqlite:///app.db", directory="migrations")  # doctest: +SKIP
"""

from __future__ import annotations

from .embedded import create_database, drop_database, migrate, wait_for_database
from .errors import (
    ConfigError,
    ConnectionFailed,
    DiscoveryError,
    ExecutionError,
    LockError,
    LockTimeout,
    MigrataError,
    MigrationFailed,
    PlanError,
    ValidationFailed,
    WaitTimeout,
)
from .exitcodes import ExitCode
from .migrator import Migrator, PlannedStatements, Repair
from .models import (
    Applied,
    AuditEvent,
    Direction,
    Migration,
    Plan,
    Problem,
    RunReport,
    State,
    StatusEntry,
    Step,
    StepEvent,
    StepResult,
    Timeouts,
    Validation,
    Version,
)
from .settings import Settings
from .targets import Target, TargetOutcome, TargetsFailed, load_targets

__version__ = "0.1.0"

__all__ = [
    "Applied",
    "AuditEvent",
    "ConfigError",
    "ConnectionFailed",
    "Direction",
    "DiscoveryError",
    "ExecutionError",
    "ExitCode",
    "LockError",
    "LockTimeout",
    "MigrataError",
    "Migration",
    "MigrationFailed",
    "Migrator",
    "Plan",
    "PlanError",
    "PlannedStatements",
    "Problem",
    "Repair",
    "RunReport",
    "Settings",
    "State",
    "StatusEntry",
    "Step",
    "StepEvent",
    "StepResult",
    "Target",
    "TargetOutcome",
    "TargetsFailed",
    "Timeouts",
    "Validation",
    "ValidationFailed",
    "Version",
    "WaitTimeout",
    "__version__",
    "create_database",
    "drop_database",
    "load_targets",
    "migrate",
    "wait_for_database",
]
