"""migrata: database schema migrations that are safe when replicas start at once, cheap in
round trips, and the same from the CLI and from an app's start-up.

>>> import migrata
>>> migrata.migrate("sqlite:///app.db", directory="migrations")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Where each name of the public API lives. They are imported when first used, so that
#: `migrata --help` and the reading commands load only the modules they run.
_SOURCES = {
    "Applied": "models",
    "AuditEvent": "models",
    "ConfigError": "errors",
    "ConnectionFailed": "errors",
    "Direction": "models",
    "DiscoveryError": "errors",
    "ExecutionError": "errors",
    "ExitCode": "exitcodes",
    "LockError": "errors",
    "LockTimeout": "errors",
    "MigrataError": "errors",
    "Migration": "models",
    "MigrationFailed": "errors",
    "Migrator": "migrator",
    "Plan": "models",
    "PlanError": "errors",
    "PlannedStatements": "migrator",
    "Problem": "models",
    "Repair": "migrator",
    "RunReport": "models",
    "Settings": "settings",
    "State": "models",
    "StatusEntry": "models",
    "Step": "models",
    "StepEvent": "models",
    "StepResult": "models",
    "Target": "targets",
    "TargetOutcome": "targets",
    "TargetsFailed": "targets",
    "Timeouts": "models",
    "Validation": "models",
    "ValidationFailed": "errors",
    "Version": "models",
    "WaitTimeout": "errors",
    "create_database": "embedded",
    "drop_database": "embedded",
    "load_targets": "targets",
    "migrate": "embedded",
    "wait_for_database": "embedded",
}

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


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
