"""Settings: flags > environment > config file > defaults.

The config file is ``migrata.toml`` (keys at the top level) or the ``[tool.migrata]`` table of
``pyproject.toml``, looked up in the current folder unless ``--config`` names one. A value
written ``env:NAME`` is read from the environment variable NAME, so no secret has to sit in a
file. A relative ``dir`` in a config file is relative to that file's folder.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError, setting
from .settings import KEY_ALIASES, SPECS, Settings, coerce_setting

__all__ = [
    "ENV_VARS",
    "PATH_SETTINGS",
    "Settings",
    "coerce_setting",
    "file_entries",
    "lint_table",
    "load_settings",
    "migrator_options",
    "read_config_table",
    "session_sql_text",
]


#: Environment variables per setting, first found wins (from the settings' specs).
ENV_VARS: dict[str, tuple[str, ...]] = {name: s.env for name, s in SPECS.items() if s.env}
#: Settings holding a path, relative to the config file when written there.
PATH_SETTINGS = frozenset(name for name, s in SPECS.items() if s.kind == "path")


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
    # A value the flags or the environment override is not read from the file, so its
    # ``env:NAME`` need not be set (``-u URL`` beats ``database_url = "env:DATABASE_URL"``).
    overridden = {k for k, v in flags.items() if v is not None} | {
        name for name, variables in ENV_VARS.items() if any(env.get(v) for v in variables)
    }
    values, source = _read_file(folder, config_path, env, overridden)
    # Layer by layer, so that a bad value is reported where it was written.
    settings = Settings(config_file=source).with_values(values, source=source)
    for name, variables in ENV_VARS.items():
        variable = next((v for v in variables if env.get(v)), None)
        if variable is not None:
            settings = settings.with_values({name: env[variable]}, source=variable)
    for name, value in flags.items():
        if value is not None:
            settings = settings.with_values({name: value}, source=SPECS[name].flag)
    return settings


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
        import tomllib  # (only when there is a file to read)

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
        if key == "targets":
            continue  # several databases in one run: migrata.targets reads them
        if key == "lint" and isinstance(value, Mapping):
            # The linter's table (lint_table); its `up` key is the setting `lint`.
            if "up" in value:
                entries["lint"] = ("lint.up", value["up"])
            continue
        normal = key.replace("-", "_")
        name = KEY_ALIASES.get(normal, normal)
        if name not in SPECS:
            known = sorted(k for s in SPECS.values() for k in s.keys)
            raise ConfigError(f"{path}: unknown setting {key!r}; known: {', '.join(known)}")
        if name in entries:
            raise ConfigError(
                f"{path}: {name} is set twice ({entries[name][0]} and {key}): keep one"
            )
        entries[name] = (key, value)
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
        if (
            relative
            and isinstance(value, str)
            and value.strip().lower() in SPECS[normal].off_values
        ):
            relative = False  # (`off` turns the setting off: it is not a relative path)
        if relative and isinstance(value, str) and not os.path.isabs(value):
            value = str(path.parent / value)
        values[normal] = value
    return values


def lint_table(
    *,
    cwd: str | os.PathLike[str] | None = None,
    config_path: str | os.PathLike[str] | None = None,
) -> tuple[Mapping[str, Any], str] | None:
    """The ``lint`` table of the config file and the file's path; None when there is none.
    Raises ConfigError when it is not a table."""
    folder = Path(cwd) if cwd is not None else Path.cwd()
    found = read_config_table(folder, config_path)
    if found is None or "lint" not in found[0]:
        return None
    table, path = found
    if not isinstance(table["lint"], Mapping):
        raise ConfigError(f"{path}: `lint` must be a table ([lint] or [tool.migrata.lint])")
    return table["lint"], str(path)


def session_sql_text(settings: Settings) -> tuple[str, str] | None:
    """The session SQL of ``settings`` and where it comes from (for messages): the file of
    ``session_sql_file`` (read here), else the ``session_sql`` text; None when there is none.
    Raises ConfigError when the file cannot be read."""
    run = settings.run
    if run.session_sql_file:
        try:
            with open(run.session_sql_file, encoding="utf-8") as handle:
                return handle.read(), run.session_sql_file
        except OSError as exc:
            raise ConfigError(
                f"session SQL file {run.session_sql_file!r} cannot be read: {exc.strerror}"
            ) from None
    if run.session_sql:
        where = f"{settings.config_file}: session_sql" if settings.config_file else "session_sql"
        return run.session_sql, where
    return None


def migrator_options(settings: Settings) -> dict[str, Any]:
    """Deprecated: pass ``settings`` to ``Migrator(settings)``. The keywords of
    ``Migrator(**options)`` for ``settings``; raises ConfigError when there is no URL."""
    warnings.warn(
        "migrator_options() is deprecated: pass the settings to Migrator(settings)",
        DeprecationWarning,
        stacklevel=2,
    )
    if not settings.connect.database_url:
        raise ConfigError(f"no database URL: pass {setting('database_url')}")
    return {name: value for name, value in settings.items() if value is not None}
