"""Settings: flags > environment > config file > defaults.

The config file is ``migrata.toml`` (keys at the top level) or the ``[tool.migrata]`` table of
``pyproject.toml``, looked up in the current folder unless ``--config`` names one. A value
written ``env:NAME`` is read from the environment variable NAME, so no secret has to sit in a
file. A relative ``dir`` in a config file is relative to that file's folder.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError, setting
from .models import Timeouts
from .sqltext import ENVIRONMENT_NAME, parse_duration, parse_environments

__all__ = [
    "ENV_VARS",
    "PATH_SETTINGS",
    "Settings",
    "coerce_setting",
    "file_entries",
    "load_settings",
    "migrator_options",
    "read_config_table",
]


#: Defaults of the deployment settings (documented in the README, "Deploying").
DEFAULT_SEEDS_ENVIRONMENTS: tuple[str, ...] = ("dev", "test")
DEFAULT_DDL_LOCK_TIMEOUT = 5.0
DEFAULT_DDL_LOCK_RETRIES = 5


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    dir: str = "migrations"
    package: str | None = None
    table: str = "migrata_history"
    schema: str | None = None
    service: str = "default"
    lock_timeout: float = 60.0
    allow_out_of_order: bool = False
    #: Folder layout (migrata, sqlx, diesel, dbmate, golang-migrate, goose, flyway, drizzle,
    #: dotted, suffix); None detects it from the folder's contents.
    layout: str | None = None
    #: SQL run on the migration connection when it opens and before each migration.
    session_sql: str | None = None
    #: A file holding that SQL (``--session-sql FILE``); relative to the config file.
    session_sql_file: str | None = None
    #: Refuse to run where the engine offers no migration lock, instead of warning.
    require_lock: bool = False
    #: ClickHouse: the cluster migrata's own tables are created ON.
    cluster: str | None = None
    #: ClickHouse: the table engine of migrata's own tables.
    history_engine: str | None = None
    #: The current environment (``--env``): migrations limited to other environments (seed
    #: data) are not applicable. None: no environment, so no such migration runs.
    environment: str | None = None
    #: A folder of seed migrations, merged with the main ones but only for ``seeds_environments``.
    seeds_dir: str | None = None
    seeds_environments: tuple[str, ...] = DEFAULT_SEEDS_ENVIRONMENTS
    #: Time limits per migration, in seconds (0: none; None: the server's own setting); a
    #: file's directive wins.
    statement_timeout: float | None = None
    migration_timeout: float | None = None
    #: How long a statement may wait for a table lock before it gives way (0: forever), and
    #: how many times a migration that gave way is tried again.
    ddl_lock_timeout: float = DEFAULT_DDL_LOCK_TIMEOUT
    ddl_lock_retries: int = DEFAULT_DDL_LOCK_RETRIES
    #: Seconds to wait for the database to accept connections (0: try once).
    wait: float = 0.0
    #: Create the database named in the URL when it does not exist (``up``).
    create_database: bool = False
    #: PostgreSQL extensions created (IF NOT EXISTS) before migrations run.
    extensions: tuple[str, ...] = ()
    #: The config file the settings were read from, if any (for messages).
    config_file: str | None = None


#: Environment variables per setting, first found wins.
ENV_VARS: dict[str, tuple[str, ...]] = {
    "database_url": ("MIGRATA_DATABASE_URL", "DATABASE_URL"),
    "dir": ("MIGRATA_DIR",),
    "package": ("MIGRATA_PACKAGE",),
    "table": ("MIGRATA_TABLE",),
    "schema": ("MIGRATA_SCHEMA",),
    "service": ("MIGRATA_SERVICE",),
    "lock_timeout": ("MIGRATA_LOCK_TIMEOUT",),
    "allow_out_of_order": ("MIGRATA_ALLOW_OUT_OF_ORDER",),
    "layout": ("MIGRATA_LAYOUT",),
    "session_sql_file": ("MIGRATA_SESSION_SQL",),
    "require_lock": ("MIGRATA_REQUIRE_LOCK",),
    "cluster": ("MIGRATA_CLUSTER",),
    "history_engine": ("MIGRATA_HISTORY_ENGINE",),
    "environment": ("MIGRATA_ENV",),
    "seeds_dir": ("MIGRATA_SEEDS_DIR",),
    "seeds_environments": ("MIGRATA_SEEDS_ENVIRONMENTS",),
    "statement_timeout": ("MIGRATA_STATEMENT_TIMEOUT",),
    "migration_timeout": ("MIGRATA_MIGRATION_TIMEOUT",),
    "ddl_lock_timeout": ("MIGRATA_DDL_LOCK_TIMEOUT",),
    "ddl_lock_retries": ("MIGRATA_DDL_LOCK_RETRIES",),
    "wait": ("MIGRATA_WAIT",),
    "create_database": ("MIGRATA_CREATE_DATABASE",),
    "extensions": ("MIGRATA_EXTENSIONS",),
}

_FILE_KEYS = {f.name for f in fields(Settings)} - {"config_file"} | {
    "url",
    "directory",
    "env",
    "seeds",
}
_ALIASES = {"url": "database_url", "directory": "dir", "env": "environment", "seeds": "seeds_dir"}
#: Settings holding a path, relative to the config file when written there.
PATH_SETTINGS = frozenset({"dir", "session_sql_file", "seeds_dir"})


def load_settings(
    flags: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    config_path: str | os.PathLike[str] | None = None,
) -> Settings:
    """Merge the layers; ``flags`` holds only what was given on the command line (None = not
    given). Raises ConfigError naming the file and key for a bad config file."""
    env = os.environ if environ is None else environ
    folder = Path(cwd) if cwd is not None else Path.cwd()
    settings = Settings()
    # A value the flags or the environment override is not read from the file, so its
    # ``env:NAME`` need not be set (``-u URL`` beats ``database_url = "env:DATABASE_URL"``).
    overridden = {k for k, v in flags.items() if v is not None} | {
        name for name, variables in ENV_VARS.items() if any(env.get(v) for v in variables)
    }
    values, source = _read_file(folder, config_path, env, overridden)
    if source is not None:
        settings = replace(settings, config_file=source)
    merged: dict[str, Any] = dict(values)
    for name, variables in ENV_VARS.items():
        for variable in variables:
            if env.get(variable):
                merged[name] = env[variable]
                break
    for name, value in flags.items():
        if value is not None:
            merged[name] = value
    return replace(settings, **{k: coerce_setting(k, v, source) for k, v in merged.items()})


def read_config_table(
    folder: Path, explicit: str | os.PathLike[str] | None
) -> tuple[Mapping[str, Any], Path] | None:
    """The migrata table of the config file and the file's path: ``explicit``, else
    ``migrata.toml`` then ``pyproject.toml`` (with a ``[tool.migrata]`` table) in ``folder``;
    None when there is none. Raises ConfigError for a missing explicit file or invalid TOML."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        candidates = [path]
    else:
        candidates = [folder / "migrata.toml", folder / "pyproject.toml"]
    for path in candidates:
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        if path.name == "pyproject.toml":
            table = data.get("tool", {}).get("migrata")
            if table is None:
                if explicit is not None:
                    raise ConfigError(f"{path}: has no [tool.migrata] table")
                continue
        else:
            table = data
        return table, path
    return None


def _read_file(
    folder: Path,
    explicit: str | os.PathLike[str] | None,
    env: Mapping[str, str],
    overridden: set[str],
) -> tuple[dict[str, Any], str | None]:
    found = read_config_table(folder, explicit)
    if found is None:
        return {}, None
    table, path = found
    values = _validate_file(table, path, env, relative_to=explicit is not None, skip=overridden)
    return values, str(path)


def file_entries(table: Mapping[str, Any], path: Path) -> dict[str, tuple[str, Any]]:
    """The top-level settings of a config table as ``{setting: (key as written, value)}``,
    ``env:`` values not yet read; the ``targets`` table is left out (see
    :mod:`migrata.targets`). Raises ConfigError naming the file and an unknown key."""
    entries: dict[str, tuple[str, Any]] = {}
    for key, value in table.items():
        if key in {"targets"}:
            continue  # several databases in one run: migrata.targets reads them
        normal = key.replace("-", "_")
        if normal not in _FILE_KEYS:
            raise ConfigError(
                f"{path}: unknown setting {key!r}; known: {', '.join(sorted(_FILE_KEYS))}"
            )
        entries[_ALIASES.get(normal, normal)] = (key, value)
    return entries


def _validate_file(
    table: Mapping[str, Any],
    path: Path,
    env: Mapping[str, str],
    *,
    relative_to: bool,
    skip: Collection[str] = (),
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for normal, (key, value) in file_entries(table, path).items():
        if normal in skip:
            continue
        if isinstance(value, str) and value.startswith("env:"):
            variable = value[4:]
            if variable not in env:
                raise ConfigError(
                    f"{path}: {key} = {value!r} but the environment variable {variable} is not set"
                )
            value = env[variable]
        relative = normal in PATH_SETTINGS and relative_to
        if relative and isinstance(value, str) and not os.path.isabs(value):
            value = str(path.parent / value)
        values[normal] = value
    return values


def coerce_setting(name: str, value: Any, source: str | None) -> Any:
    """``value`` as the type of setting ``name``; raises ConfigError mentioning ``source``."""
    where = f" (from {source})" if source else ""
    if name in _DURATIONS:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}{where}") from None
    if name == "ddl_lock_retries":
        try:
            count = int(str(value).strip()) if not isinstance(value, bool) else -1
        except ValueError:
            count = -1
        if count < 0:
            raise ConfigError(f"{name} must be a whole number, zero or more, got {value!r}{where}")
        return count
    if name in {"seeds_environments", "extensions"}:
        items = _list(name, value, where)
        if name == "seeds_environments":
            try:
                return parse_environments(",".join(items))
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}{where}") from None
        return items
    if name == "environment" and value is not None:
        if not isinstance(value, str) or not ENVIRONMENT_NAME.match(value.strip()):
            raise ConfigError(
                f"environment must be a name (letters, digits, '_', '.', '-'), got {value!r}{where}"
            )
        return value.strip()
    if name == "lock_timeout":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"lock_timeout must be a number of seconds, got {value!r}{where}"
            ) from None
        if number < 0:
            raise ConfigError(f"lock_timeout must be zero or more, got {value!r}{where}")
        return number
    if name in {"allow_out_of_order", "require_lock", "create_database"}:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{name} must be true or false, got {value!r}{where}")
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}{where}")
    return value


_DURATIONS = frozenset({"statement_timeout", "migration_timeout", "ddl_lock_timeout", "wait"})


def _list(name: str, value: Any, where: str) -> tuple[str, ...]:
    """A list setting written as a TOML array or a comma-separated string."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    raise ConfigError(
        f"{name} must be a list of names or a comma-separated string, got {value!r}{where}"
    )


def migrator_options(settings: Settings) -> dict[str, Any]:
    """The keywords of ``Migrator(**options)`` for ``settings`` (the session SQL file is read
    here, once). Raises ConfigError when there is no database URL or that file cannot be read."""
    if not settings.database_url:
        raise ConfigError(f"no database URL: pass {setting('database_url')}")
    options: dict[str, Any] = {
        "url": settings.database_url,
        "table": settings.table,
        "schema": settings.schema,
        "service": settings.service,
        "lock_timeout": settings.lock_timeout,
        "allow_out_of_order": settings.allow_out_of_order,
        "layout": settings.layout,
        "require_lock": settings.require_lock,
        "cluster": settings.cluster,
        "history_engine": settings.history_engine,
        "environment": settings.environment,
        "timeouts": Timeouts(
            statement=settings.statement_timeout,
            migration=settings.migration_timeout,
            lock=settings.ddl_lock_timeout,
        ),
        "lock_retries": settings.ddl_lock_retries,
        "wait": settings.wait,
        "create_database": settings.create_database,
        "extensions": settings.extensions,
    }
    if settings.seeds_dir:
        options["seeds"] = (settings.seeds_dir, settings.seeds_environments)
    if settings.package:
        options["package"] = settings.package
    else:
        options["directory"] = settings.dir
    options.update(_session_sql_options(settings))
    return options


def _session_sql_options(settings: Settings) -> dict[str, Any]:
    if settings.session_sql_file:
        try:
            with open(settings.session_sql_file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise ConfigError(
                f"session SQL file {settings.session_sql_file!r} cannot be read: {exc.strerror}"
            ) from None
        return {"session_sql": text, "session_sql_path": settings.session_sql_file}
    if settings.session_sql:
        where = f"{settings.config_file}: session_sql" if settings.config_file else "session_sql"
        return {"session_sql": settings.session_sql, "session_sql_path": where}
    return {}
