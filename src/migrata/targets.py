"""Several databases in one run: the ``targets`` a config file declares.

::

    [tool.migrata.targets.main]          # pyproject.toml; [targets.main] in migrata.toml
    url = "env:DATABASE_URL"
    dir = "migrations/postgres"

    [tool.migrata.targets.events]
    url = "env:CLICKHOUSE_URL"
    dir = "migrations/clickhouse"

Targets run in the order the file declares them. Each target's settings, lowest first: the
defaults, the file's top-level settings (every target inherits them, ``url`` included), the
target's own keys, the ``MIGRATA_*`` environment variables, the command-line flags. The settings
that name one database (:data:`PER_DATABASE`: url, dir, package, service, session SQL file) are
the exception: no environment variable sets them for every target at once (``DATABASE_URL`` is
what a target's ``url = "env:DATABASE_URL"`` reads, not an override), and a flag sets them only
when exactly one target is selected.

An ``env:NAME`` value is read when its target is used, so ``--target main`` works while the
variable of another target is unset. A relative ``dir`` or ``session_sql_file`` is relative to
the config file's folder. Everything else about the file (unknown keys, a target without url,
a value of the wrong type) is checked for every target, used or not.

This module reads settings; it opens no database. :func:`run_targets` calls a function per
target and collects the outcomes, so the CLI and :func:`migrata.migrate` share one loop.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from .config import ENV_VARS, PATH_SETTINGS, file_entries, read_config_table
from .errors import ConfigError, MigrataError, MigrationFailed, setting
from .exitcodes import ExitCode
from .models import RunReport
from .settings import KEY_ALIASES, SPECS, Settings, coerce_setting
from .urls import redact

__all__ = [
    "PER_DATABASE",
    "TARGET_KEYS",
    "Target",
    "TargetOutcome",
    "TargetsFailed",
    "load_targets",
    "run_targets",
    "select_targets",
    "target_names",
    "worst_exit_code",
]

#: The keys a target's table may hold: every setting, by its name or an alias (``-`` may
#: stand for ``_``).
TARGET_KEYS: tuple[str, ...] = tuple(sorted(k for s in SPECS.values() for k in s.keys))

#: Settings that name one database: set per target, never for several targets at once.
PER_DATABASE_ORDER: tuple[str, ...] = tuple(n for n, s in SPECS.items() if s.per_database)
PER_DATABASE: frozenset[str] = frozenset(PER_DATABASE_ORDER)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Target:
    """One database of a run: its name in the config file and its settings."""

    name: str
    settings: Settings
    #: False for the one database of settings that declare no targets.
    declared: bool = True

    @property
    def database(self) -> str:
        """The database URL without its password."""
        return redact(self.settings.connect.database_url or "")


@dataclass(frozen=True, slots=True)
class TargetOutcome(Generic[T]):
    """What became of one target in a run over several: ``ok`` with the ``result`` of the
    function run on it, ``failed`` with the ``error`` it raised, or ``not_run`` (an earlier
    target failed)."""

    name: str
    database: str
    service: str
    state: Literal["ok", "failed", "not_run"]
    result: T | None = None
    error: MigrataError | None = None

    @property
    def exit_code(self) -> int:
        return int(self.error.exit_code) if self.error is not None else int(ExitCode.OK)


class TargetsFailed(MigrataError):
    """One or more targets of a run over several failed; ``outcomes`` holds every target's
    outcome, ``failed`` the names of those that failed. The exit code is the worst of theirs."""

    def __init__(self, outcomes: Sequence[TargetOutcome[Any]], *, at_least: int = 0) -> None:
        failed = [o for o in outcomes if o.error is not None]
        if len(failed) == 1:
            head = f"target {failed[0].name} failed: {failed[0].error}"
        else:
            head = f"{len(failed)} of {len(outcomes)} targets failed:" + "".join(
                f"\n- target {o.name}: {o.error}" for o in failed
            )
        summary = ", ".join(f"{o.name} {_describe(o)}" for o in outcomes)
        super().__init__(f"{head}\ntargets: {summary}")
        self.outcomes = tuple(outcomes)
        self.failed = tuple(o.name for o in failed)
        #: The worst of the failed targets' codes and ``at_least`` (what the others found).
        self.exit_code = worst_exit_code([at_least, *(o.exit_code for o in failed)])


def _describe(outcome: TargetOutcome[Any]) -> str:
    if outcome.state == "failed":
        if isinstance(outcome.error, MigrationFailed) and outcome.error.applied:
            # The migrations before the failing one in that run stay applied.
            return f"failed (after applying {', '.join(outcome.error.applied)})"
        return "failed"
    if outcome.state == "not_run":
        return "not run"
    report = outcome.result
    if isinstance(report, RunReport):
        verb = "applied" if report.direction.value == "up" else "reverted"
        if report.dry_run:
            return f"would have {verb} {len(report.steps)} migration(s) (dry run)"
        if not report.steps:
            return "up to date" if verb == "applied" else "had nothing to revert"
        return f"{verb} {len(report.steps)} migration(s)"
    return "ok"


#: Exit codes from least to most severe: pending is news, a lock timeout passes, a config or
#: validation problem needs a fix, a failed migration may have left a database half-changed.
_SEVERITY = (
    ExitCode.OK,
    ExitCode.PENDING,
    ExitCode.LOCK_TIMEOUT,
    ExitCode.LINT,
    ExitCode.USAGE,
    ExitCode.VALIDATION,
    ExitCode.MIGRATION_FAILED,
)


def worst_exit_code(codes: Iterable[int]) -> int:
    """The most severe of ``codes`` (0 for none): 1 > 3 > 2 > 6 > 4 > 5 > 0."""
    rank = {int(code): index for index, code in enumerate(_SEVERITY)}
    return max(codes, key=lambda code: rank.get(code, len(_SEVERITY)), default=int(ExitCode.OK))


def run_targets(
    targets: Sequence[Target], run: Callable[[Target], T], *, keep_going: bool = False
) -> tuple[TargetOutcome[T], ...]:
    """Call ``run`` on each target in turn and return every target's outcome.

    A MigrataError raised by ``run`` is recorded and stops the loop, the later targets being ``not_run``, unless ``keep_going``. Raises nothing of its own;
    any other exception is a bug and propagates."""
    outcomes: list[TargetOutcome[T]] = []
    stopped = False
    for target in targets:
        service = target.settings.history.service
        if stopped:
            outcomes.append(TargetOutcome(target.name, target.database, service, "not_run"))
            continue
        try:
            result = run(target)
        except MigrataError as exc:
            outcomes.append(
                TargetOutcome(target.name, target.database, service, "failed", error=exc)
            )
            stopped = not keep_going
        else:
            outcomes.append(TargetOutcome(target.name, target.database, service, "ok", result))
    return tuple(outcomes)


# -- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Declared:
    path: Path
    #: Top-level settings and each target's keys: ``{setting: (key as written, value)}``.
    defaults: dict[str, tuple[str, Any]]
    tables: dict[str, dict[str, tuple[str, Any]]]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.tables)

    def section(self, name: str) -> str:
        prefix = "tool.migrata." if self.path.name == "pyproject.toml" else ""
        return f"[{prefix}targets.{name}]"


def target_names(
    *,
    cwd: str | os.PathLike[str] | None = None,
    config_path: str | os.PathLike[str] | None = None,
) -> tuple[str, ...]:
    """The names of the targets the config file declares, in order; () when it declares none
    (or there is no config file). Reads no environment variable. Raises ConfigError for a bad
    file, naming the file, the target and the key."""
    declared = _declare(cwd, config_path)
    return declared.names if declared is not None else ()


def select_targets(
    flags: Mapping[str, Any] | None = None,
    *,
    names: Sequence[str] | None = None,
    one: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    config_path: str | os.PathLike[str] | None = None,
) -> tuple[Target, ...]:
    """What a command runs on: the targets of the config file (those in ``names``, or all,
    see :func:`load_targets`), or, when it declares none, the one database the settings name
    (a Target that is not ``declared``). ``one`` says why exactly one target is needed (a
    version of one database): several selected targets are then an error.

    Raises ConfigError as :func:`load_targets` does, and for several targets where ``one``
    asks for one."""
    declared = target_names(cwd=cwd, config_path=config_path)
    if not declared and not names:
        from .config import load_settings

        settings = load_settings(flags or {}, environ=environ, cwd=cwd, config_path=config_path)
        return (Target("default", settings, declared=False),)
    wanted = set(names or declared)
    if one is not None and len(wanted) != 1 and not wanted - set(declared):
        raise ConfigError(
            f"{one}: pick one with {setting('target')} (declared: {', '.join(declared)})"
        )
    return load_targets(flags, names=names, environ=environ, cwd=cwd, config_path=config_path)


def load_targets(
    flags: Mapping[str, Any] | None = None,
    *,
    names: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    config_path: str | os.PathLike[str] | None = None,
) -> tuple[Target, ...]:
    """The targets of the config file (those in ``names``, or all), in declared order, with
    their settings merged (see the module docstring); () when the file declares none.

    ``flags`` holds what was given on the command line (None = not given); a flag of
    :data:`PER_DATABASE` needs exactly one selected target. Raises ConfigError for a bad file,
    an unknown name, such a flag with several targets, or an ``env:`` variable of a selected
    target that is not set; no message carries a password.
    """
    env = os.environ if environ is None else environ
    declared = _declare(cwd, config_path)
    if declared is None:
        if names:
            where = f"{config_path}" if config_path is not None else "the config file"
            raise ConfigError(
                f"no targets are declared in {where}, so --target {', '.join(names)} names "
                "nothing: declare them as [targets.NAME] tables (migrata.toml) or "
                "[tool.migrata.targets.NAME] (pyproject.toml)"
            )
        return ()
    wanted = list(dict.fromkeys(names)) if names else list(declared.names)
    unknown = [n for n in wanted if n not in declared.tables]
    if unknown:
        raise ConfigError(
            f"{declared.path}: no target named {', '.join(map(repr, unknown))}; declared: "
            f"{', '.join(declared.names)}"
        )
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    # (Flags come from the command line: they are named as it spells them.)
    one_database = [SPECS[k].flag_text for k in PER_DATABASE_ORDER if k in given]
    if one_database and len(wanted) != 1:
        raise ConfigError(
            f"{', '.join(one_database)} names one database but {len(wanted)} targets are "
            f"selected: pick one with --target NAME (declared: {', '.join(declared.names)})"
        )
    return tuple(_resolve(declared, n, given, env) for n in declared.names if n in wanted)


def _declare(
    cwd: str | os.PathLike[str] | None, config_path: str | os.PathLike[str] | None
) -> _Declared | None:
    folder = Path(cwd) if cwd is not None else Path.cwd()
    found = read_config_table(folder, config_path)
    if found is None:
        return None
    table, path = found
    raw = table.get("targets")
    if raw is None:
        return None
    shape = "[tool.migrata.targets.NAME]" if path.name == "pyproject.toml" else "[targets.NAME]"
    if not isinstance(raw, Mapping) or not all(isinstance(v, Mapping) for v in raw.values()):
        raise ConfigError(
            f"{path}: `targets` must hold one table per target: write {shape} with "
            'url = "env:NAME" and dir = "..."'
        )
    defaults = file_entries(table, path)
    declared = _Declared(path, defaults, {})
    for name, keys in raw.items():
        if not _NAME.match(name):
            raise ConfigError(
                f"{path}: target name {name!r} is not usable with --target: use letters, "
                "digits, '_', '-' and '.', starting with a letter or digit"
            )
        declared.tables[name] = _target_entries(declared, name, keys)
    return declared


def _target_entries(
    declared: _Declared, name: str, keys: Mapping[str, Any]
) -> dict[str, tuple[str, Any]]:
    path, section = declared.path, declared.section(name)
    entries: dict[str, tuple[str, Any]] = {}
    for key, value in keys.items():
        normal = key.replace("-", "_")
        if normal not in TARGET_KEYS:
            raise ConfigError(
                f"{path}: target {name!r} ({section}) has an unknown key {key!r}; known keys: "
                f"{', '.join(TARGET_KEYS)}"
            )
        setting = KEY_ALIASES.get(normal, normal)
        if setting in entries:
            raise ConfigError(
                f"{path}: target {name!r} ({section}) sets {setting} twice ({entries[setting][0]}"
                f" and {key}): keep one"
            )
        listed = isinstance(value, list) and SPECS[setting].kind in {"names", "environments"}
        if not (isinstance(value, str | bool | int | float) or listed):
            raise ConfigError(
                f"{path}: target {name!r} ({section}): {key} must be a string, number or "
                f"boolean, not a {type(value).__name__}"
            )
        # Values written in the file are checked for every target, used or not; ``env:``
        # values only when the target is used.
        if not (isinstance(value, str) and value.startswith("env:")):
            coerce_setting(setting, value, _source(declared, name))
        entries[setting] = (key, value)
    if "database_url" not in entries and "database_url" not in declared.defaults:
        raise ConfigError(
            f'{path}: target {name!r} has no url: set url = "env:NAME" in {section}, NAME being '
            "the environment variable that holds its database URL"
        )
    return entries


def _source(declared: _Declared, name: str) -> str:
    return f"{declared.path}, target {name!r}"


def _resolve(
    declared: _Declared, name: str, flags: Mapping[str, Any], env: Mapping[str, str]
) -> Target:
    """One target's settings: file values (top level, then the target's), then environment,
    then flags; ``env:`` read and relative paths anchored only for values that are used."""
    from_env: dict[str, Any] = {}
    for option, variables in ENV_VARS.items():
        if option in PER_DATABASE:
            continue
        for variable in variables:
            if env.get(variable):
                from_env[option] = env[variable]
                break
    merged: dict[str, Any] = {}
    own = declared.tables[name]
    for option, (key, value) in {**declared.defaults, **own}.items():
        if option in flags or option in from_env:
            continue  # overridden: its env: variable need not be set
        inherited = option not in own
        merged[option] = _read_value(declared, name, option, key, value, env, inherited)
    merged.update(from_env)
    merged.update(flags)
    source = _source(declared, name)
    settings = Settings(config_file=str(declared.path)).with_values(merged, source=source)
    return Target(name, settings)


def _read_value(
    declared: _Declared,
    name: str,
    setting: str,
    key: str,
    value: Any,
    env: Mapping[str, str],
    inherited: bool,
) -> Any:
    if isinstance(value, str) and value.startswith("env:"):
        variable = value[4:]
        if variable not in env:
            origin = " (inherited from the top level)" if inherited else ""
            raise ConfigError(
                f"{declared.path}: target {name!r}: {key} = {value!r}{origin} but the "
                f"environment variable {variable} is not set: set it, or leave this target "
                f"out with --target NAME (declared: {', '.join(declared.names)})"
            )
        value = env[variable]
    if setting in PATH_SETTINGS and isinstance(value, str) and not os.path.isabs(value):
        value = str(declared.path.parent / value)
    return value
