"""Running migrata from an application: :func:`migrate` at start-up, and the database
chores a deployment needs before it (wait for the server, create or drop the database)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, overload

from . import provision
from .errors import ConfigError
from .migrator import Migrator
from .models import RunReport
from .provision import Patience
from .settings import SPECS, Settings
from .urls import parse_url

__all__ = ["create_database", "drop_database", "migrate", "wait_for_database"]

logger = logging.getLogger("migrata")


@overload
def migrate(
    url: str | None = None,
    *,
    directory: str | os.PathLike[str] | None = None,
    package: str | None = None,
    connection: Any = None,
    config: None = None,
    targets: None = None,
    keep_going: bool = False,
    **options: Any,
) -> RunReport | None: ...


@overload
def migrate(
    url: None = None,
    *,
    config: str | os.PathLike[str],
    targets: Sequence[str] | None = None,
    keep_going: bool = False,
    **options: Any,
) -> dict[str, RunReport] | None: ...


@overload
def migrate(
    url: None = None,
    *,
    config: str | os.PathLike[str] | None = None,
    targets: Sequence[str],
    keep_going: bool = False,
    **options: Any,
) -> dict[str, RunReport] | None: ...


def migrate(
    url: str | None = None,
    *,
    directory: str | os.PathLike[str] | None = None,
    package: str | None = None,
    connection: Any = None,
    config: str | os.PathLike[str] | None = None,
    targets: Sequence[str] | None = None,
    keep_going: bool = False,
    **options: Any,
) -> RunReport | dict[str, RunReport] | None:
    """Apply every pending migration: the one call an app makes at start-up.

    Returns None without touching the database when ``MIGRATA_DISABLE=1`` (or
    ``DISABLE_EMBEDDED_MIGRATIONS=true``, the variable Diesel users already set). ``url``
    defaults to MIGRATA_DATABASE_URL, then DATABASE_URL.

    With ``config`` (a ``migrata.toml`` or ``pyproject.toml``) or ``targets``, runs the targets
    that file declares like ``migrata up`` (all of them, or those named in ``targets``, in the
    file's order; without ``config`` the file is looked up in the current folder) and returns
    ``{target name: RunReport}``; a file that declares no targets is one database, reported
    under the name ``"default"``. The first failure stops the run and is raised as it is (a
    note names the target); with ``keep_going`` every target runs and
    :class:`migrata.targets.TargetsFailed` carries each one's outcome. ``options`` (e.g.
    ``on_step``) go to every target's Migrator and win over the file.
    """
    if _disabled():
        logger.info("migrations disabled by MIGRATA_DISABLE / DISABLE_EMBEDDED_MIGRATIONS")
        return None
    if config is not None or targets is not None:
        from .targets import TargetsFailed, run_targets, select_targets

        if (
            url is not None
            or directory is not None
            or package is not None
            or connection is not None
        ):
            raise ConfigError(
                "give either config=/targets= or url/directory/package/connection, not both: "
                "the config file names each target's database and folder"
            )
        chosen = select_targets(names=targets, config_path=config)
        outcomes = run_targets(
            chosen,
            lambda target: Migrator(target.settings, **options).up(),
            keep_going=keep_going,
        )
        failed = [o for o in outcomes if o.error is not None]
        if failed and not keep_going:
            first = failed[0].error
            assert first is not None
            if chosen[0].declared:
                # Re-raised here, to the caller, with its target (PEP 678's note, added once).
                first.add_note(f"target: {failed[0].name}")
            raise first
        if failed:
            raise TargetsFailed(outcomes)
        return {o.name: o.result for o in outcomes if o.result is not None}
    if url is None and connection is None:
        url = os.environ.get("MIGRATA_DATABASE_URL") or os.environ.get("DATABASE_URL")
    settings = Settings().with_values(_from_environment(options), source="the environment")
    migrator = Migrator(
        settings,
        database_url=url,
        connection=connection,
        directory=directory,
        package=package,
        **options,
    )
    return migrator.up()


#: The settings an app's ``migrate()`` call reads from the environment when it does not give
#: them: those a container's environment sets for the CLI and the app alike.
_FROM_ENVIRONMENT = (
    "environment",
    "wait",
    "create_database",
    "statement_timeout",
    "migration_timeout",
    "ddl_lock_timeout",
    "ddl_lock_retries",
)


def _from_environment(given: dict[str, Any]) -> dict[str, str]:
    """The values of :data:`_FROM_ENVIRONMENT` set in the environment and not in ``given``."""
    found = {}
    for name in _FROM_ENVIRONMENT:
        if name in given or (name.endswith("_timeout") and "timeouts" in given):
            continue
        variable = next((v for v in SPECS[name].env if os.environ.get(v)), None)
        if variable is not None:
            found[name] = os.environ[variable]
    return found


def wait_for_database(
    url: str, *, timeout: float = 60, connect_timeout: float = 10
) -> provision.Waited:
    """Wait until the database ``url`` names accepts connections (``migrata wait``): a
    server not listening yet, a host name not yet resolvable or a server starting up are
    tried again, with growing pauses, for up to ``timeout`` seconds.

    Raises WaitTimeout, or ConnectionFailed at once for what waiting cannot mend (a wrong
    password, a database that does not exist).
    """
    return provision.wait_for_database(
        parse_url(url), timeout=timeout, connect_timeout=connect_timeout
    )


def create_database(url: str, *, wait: float = 0, connect_timeout: float = 10) -> bool:
    """Create the database ``url`` names when it does not exist (PostgreSQL, MySQL/MariaDB,
    ClickHouse; SQLite creates the file and its folder), waiting up to ``wait`` seconds for
    the server; True when it was created."""
    return provision.create_database(
        parse_url(url), Patience(wait, connect_timeout=connect_timeout)
    )


def drop_database(
    url: str, *, force: bool = False, wait: float = 0, connect_timeout: float = 10
) -> bool:
    """Drop the database ``url`` names; True when it existed. ``force`` ends the sessions
    still connected to it (PostgreSQL). Irreversible: the CLI asks for ``--yes``."""
    return provision.drop_database(
        parse_url(url), Patience(wait, connect_timeout=connect_timeout), force=force
    )


def _disabled() -> bool:
    truthy = {"1", "true", "yes", "on"}
    return (
        os.environ.get("MIGRATA_DISABLE", "").strip().lower() in truthy
        or os.environ.get("DISABLE_EMBEDDED_MIGRATIONS", "").strip().lower() in truthy
    )
