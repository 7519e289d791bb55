"""Settings: one frozen object, written once, named one way everywhere.

A setting is one field of one of four groups (:class:`SourceSettings`: where migrations come
from and which apply; :class:`HistorySettings`: where migrata keeps its records;
:class:`RunSettings`: how a run behaves; :class:`ConnectSettings`: how the database is
reached). Its field carries a :class:`Spec` with its help text and type, from which come, by
rule, its command-line flag (``--`` + the name in kebab case), its environment variable
(``MIGRATA_`` + the name in upper case), its config key (the name) and its library keyword
(the name). Older spellings stay accepted as declared aliases (``--dir``, ``MIGRATA_ENV``,
``url =``); nothing else spells a setting.

:class:`Settings` holds the four groups. It is built once — by :func:`migrata.config.
load_settings` from flags > environment > config file > defaults, or by :meth:`Settings.of`
from library keywords — and passed down unchanged. This module reads no file and no variable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigError

if TYPE_CHECKING:
    from .models import Timeouts

__all__ = [
    "SPECS",
    "ConnectSettings",
    "HistorySettings",
    "RunSettings",
    "Settings",
    "SourceSettings",
    "Spec",
    "coerce_setting",
    "spec",
]

#: How a setting's value is read from text (a flag, a variable, a config value).
Kind = Literal[
    "text",  # a string
    "path",  # a file or folder; relative to the config file when written there
    "flag",  # true or false (1/0, yes/no, on/off)
    "duration",  # seconds, or 500ms, 30s, 10min, 1h
    "seconds",  # a plain number of seconds, zero or more
    "count",  # a whole number, zero or more
    "names",  # a list: a TOML array or a comma-separated string
    "environments",  # a list of environment names
    "environment",  # one environment name
    "choice",  # one of the spec's choices
]

Group = Literal["source", "history", "run", "connect"]


@dataclass(frozen=True, slots=True)
class Spec:
    """What a setting is, beyond its name and default: everything the CLI, the environment
    and the config file need to read it."""

    help: str
    kind: Kind = "text"
    #: Flags, variables and config keys that also mean this setting (older spellings).
    flag_aliases: tuple[str, ...] = ()
    env_aliases: tuple[str, ...] = ()
    key_aliases: tuple[str, ...] = ()
    #: The commands whose flag it is; None: a global flag (``migrata --flag command``);
    #: (): no flag at all (config and environment only).
    commands: tuple[str, ...] | None = None
    metavar: str | None = None
    #: The values a "choice" setting takes.
    choices: tuple[str, ...] = ()
    #: It names one database: with several targets, set per target only (see
    #: :mod:`migrata.targets`).
    per_database: bool = False
    #: Read from an environment variable too (``MIGRATA_`` + the name).
    environ: bool = True
    #: Shown in help when the default is not self-explaining.
    default_text: str | None = None
    #: Values that turn a "path" setting off rather than name a path (never made relative
    #: to the config file).
    off_values: tuple[str, ...] = ()
    #: Filled in by :data:`SPECS`.
    name: str = ""
    group: Group = "run"
    default: Any = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def flag_text(self) -> str:
        """How help and messages name the flag: ``-d/--directory``."""
        shorts = [a for a in self.flag_aliases if not a.startswith("--")]
        return "/".join([*shorts, self.flag])

    @property
    def env(self) -> tuple[str, ...]:
        """Its environment variables, the first found winning."""
        if not self.environ:
            return ()
        return ("MIGRATA_" + self.name.upper(), *self.env_aliases)

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.name, *self.key_aliases)


def spec(default: Any, help: str, kind: Kind = "text", **options: Any) -> Any:
    """A settings field with its :class:`Spec` (the dataclass ``field`` of one setting)."""
    if isinstance(default, list | dict | set):
        raise TypeError("a setting's default must be immutable")
    return field(default=default, metadata={"spec": Spec(help, kind, **options)})


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """Where the migrations come from, and which of them apply here."""

    directory: str = spec(
        "migrations",
        "Migrations folder.",
        "path",
        flag_aliases=("-d", "--dir"),
        env_aliases=("MIGRATA_DIR",),
        key_aliases=("dir",),
        metavar="DIR",
        per_database=True,
    )
    package: str | None = spec(
        None,
        "Read migrations from a Python package's resources instead of a folder.",
        per_database=True,
    )
    layout: str | None = spec(
        None,
        "Folder layout: migrata, sqlx, diesel, dbmate, golang-migrate, goose, flyway, drizzle, "
        "dotted, suffix.",
        default_text="detected",
    )
    environment: str | None = spec(
        None,
        "The current environment: migrations limited to others (seed data) are not applicable.",
        "environment",
        flag_aliases=("--env",),
        env_aliases=("MIGRATA_ENV",),
        key_aliases=("env",),
        metavar="NAME",
        default_text="none",
    )
    seeds_dir: str | None = spec(
        None,
        "A folder of seed migrations, applied only in the seed environments.",
        "path",
        key_aliases=("seeds",),
        metavar="DIR",
        per_database=True,
    )
    dump_schema: str | None = spec(
        None,
        "After a run that changed the database, write its schema (`migrata dump`) to this file.",
        "path",
        metavar="FILE",
        per_database=True,
    )
    seeds_environments: tuple[str, ...] = spec(
        ("dev", "test"),
        "The environments in which the seeds folder applies.",
        "environments",
        commands=(),
    )


@dataclass(frozen=True, slots=True)
class HistorySettings:
    """Where and how migrata records what it did."""

    table: str = spec("migrata_history", "History table name.")
    schema: str | None = spec(None, "Schema of the history tables (PostgreSQL, MySQL).")
    service: str = spec(
        "default",
        "Service name: keeps several services apart in one history table.",
        per_database=True,
    )
    cluster: str | None = spec(None, "ClickHouse: the cluster migrata's own tables are created ON.")
    history_engine: str | None = spec(None, "ClickHouse: the table engine of migrata's own tables.")


@dataclass(frozen=True, slots=True)
class RunSettings:
    """How a run behaves: the lock, the order, the transactions and the time limits."""

    lock_timeout: float = spec(60.0, "Seconds to wait for the migration lock.", "seconds")
    require_lock: bool = spec(
        False,
        "Refuse to run where the engine offers no migration lock, instead of warning.",
        "flag",
    )
    allow_out_of_order: bool = spec(
        False,
        "Apply pending migrations older than the newest applied one.",
        "flag",
        commands=("up",),
    )
    single_transaction: bool = spec(
        False, "Run the whole plan in one transaction.", "flag", commands=("up",)
    )
    statement_timeout: float | None = spec(
        None,
        "Limit of each statement of a migration (30, 500ms, 10min, 1h; 0: none).",
        "duration",
        metavar="DURATION",
        default_text="the server's",
    )
    migration_timeout: float | None = spec(
        None,
        "Limit of each migration as a whole; cancelled when it is up.",
        "duration",
        metavar="DURATION",
        default_text="none",
    )
    ddl_lock_timeout: float = spec(
        5.0,
        "How long a statement may wait for a table lock before it gives way and the migration "
        "is retried (PostgreSQL lock_timeout, MySQL lock_wait_timeout; 0: forever).",
        "duration",
        metavar="DURATION",
        default_text="5s",
    )
    ddl_lock_retries: int = spec(
        5, "Retries of a migration that gave way to a lock, with growing pauses.", "count"
    )
    lint: str = spec(
        "warn",
        "Lint what `up` is about to run: warn prints the findings, error refuses to run when "
        "there is one at error level, off skips it.",
        "choice",
        choices=("warn", "error", "off"),
        commands=("up",),
    )
    extensions: tuple[str, ...] = spec(
        (),
        "PostgreSQL: CREATE EXTENSION IF NOT EXISTS NAME before migrating (repeatable).",
        "names",
        flag_aliases=("--extension",),
        commands=("up",),
        metavar="NAME",
        default_text="none",
    )
    split_cache: str | None = spec(
        None,
        "A folder where the statements of each script are cached by the hash of its exact "
        "text, so a run splits only what changed (safe to delete; off: no cache).",
        "path",
        flag_aliases=("--cache-dir",),
        env_aliases=("MIGRATA_CACHE_DIR",),
        metavar="DIR",
        default_text="$XDG_CACHE_HOME/migrata, else ~/.cache/migrata",
        off_values=("off", ""),
    )
    session_sql: str | None = spec(
        # (No variable: MIGRATA_SESSION_SQL names a file, see session_sql_file.)
        None,
        "SQL run on the migration connection when it opens.",
        commands=(),
        environ=False,
    )
    session_sql_file: str | None = spec(
        None,
        "A file of SQL run on the connection before migrating (e.g. SET search_path).",
        "path",
        flag_aliases=("--session-sql",),
        env_aliases=("MIGRATA_SESSION_SQL",),
        metavar="FILE",
        per_database=True,
    )


@dataclass(frozen=True, slots=True)
class ConnectSettings:
    """How the database is reached."""

    database_url: str | None = spec(
        None,
        "Database URL.",
        flag_aliases=("-u",),
        env_aliases=("DATABASE_URL",),
        key_aliases=("url",),
        metavar="URL",
        per_database=True,
    )
    wait: float = spec(
        0.0,
        "Wait up to this long for the database to accept connections (refused, not yet in "
        "DNS, starting up), with progress on stderr.",
        "duration",
        commands=("up", "create-database", "drop-database"),
        metavar="SECONDS",
        default_text="try once",
    )
    create_database: bool = spec(
        False,
        "Create the database named in the URL when it does not exist.",
        "flag",
        commands=("up",),
    )
    connect_timeout: float = spec(10.0, "Seconds one connection attempt may take.", "seconds")
    dev_url: str | None = spec(
        None,
        "A development database server where `check` may create and drop scratch databases "
        "(never production); a file-based engine needs none.",
        metavar="URL",
        per_database=True,
    )


_GROUPS: dict[Group, type[Any]] = {
    "source": SourceSettings,
    "history": HistorySettings,
    "run": RunSettings,
    "connect": ConnectSettings,
}


def _specs() -> dict[str, Spec]:
    found: dict[str, Spec] = {}
    for group, cls in _GROUPS.items():
        for f in fields(cls):
            default = f.default if f.default is not MISSING else None
            found[f.name] = replace(f.metadata["spec"], name=f.name, group=group, default=default)
    return found


#: Every setting's :class:`Spec`, by name, in declaration order.
SPECS: Mapping[str, Spec] = _specs()
#: Config keys (and library keywords) that are aliases: ``{alias: setting}``.
KEY_ALIASES: Mapping[str, str] = {a: s.name for s in SPECS.values() for a in s.key_aliases}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of a run, in four groups; build with :meth:`of` or
    :func:`migrata.config.load_settings`, change with :meth:`with_values`."""

    source: SourceSettings = field(default_factory=SourceSettings)
    history: HistorySettings = field(default_factory=HistorySettings)
    run: RunSettings = field(default_factory=RunSettings)
    connect: ConnectSettings = field(default_factory=ConnectSettings)
    #: The config file the settings were read from, if any (for messages).
    config_file: str | None = None

    @classmethod
    def of(cls, **values: Any) -> Settings:
        """Settings from keywords named as the settings are (``database_url=``,
        ``directory=``, ``ddl_lock_timeout=``…; config-key aliases such as ``url=`` too),
        each checked as a config value would be. Raises ConfigError for an unknown name or a
        bad value."""
        return cls().with_values(values)

    def with_values(self, values: Mapping[str, Any], *, source: str | None = None) -> Settings:
        """These settings with ``values`` (by setting name or alias) replacing theirs, each
        checked and converted (:func:`coerce_setting`); a None value is not given. ``source``
        names where they come from in messages."""
        grouped: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            if value is None:
                continue
            name = KEY_ALIASES.get(key, key)
            if name not in SPECS:
                raise ConfigError(f"unknown setting {key!r}; known: {', '.join(SPECS)}")
            grouped.setdefault(SPECS[name].group, {})[name] = coerce_setting(name, value, source)
        changed = {g: replace(getattr(self, g), **v) for g, v in grouped.items()}
        return replace(self, **changed)

    def get(self, name: str) -> Any:
        """The value of setting ``name``."""
        return getattr(getattr(self, SPECS[name].group), name)

    def items(self) -> Iterator[tuple[str, Any]]:
        """Every setting as ``(name, value)``, in declaration order."""
        for name in SPECS:
            yield name, self.get(name)

    @property
    def timeouts(self) -> Timeouts:
        """The run's time limits (a file's directive wins over them)."""
        from .models import Timeouts

        return Timeouts(
            statement=self.run.statement_timeout,
            migration=self.run.migration_timeout,
            lock=self.run.ddl_lock_timeout,
        )


def coerce_setting(name: str, value: Any, source: str | None = None) -> Any:
    """``value`` (text from a flag, variable or file, or a library value) as the type of
    setting ``name``; raises ConfigError naming the setting and ``source``."""
    where = f" (from {source})" if source else ""
    kind = SPECS[name].kind
    # (Imported here: building the settings, and `migrata --help`, need none of it.)
    from .sqltext import ENVIRONMENT_NAME, parse_duration, parse_environments

    if kind == "duration":
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}{where}") from None
    if kind == "count":
        try:
            count = int(str(value).strip()) if not isinstance(value, bool) else -1
        except ValueError:
            count = -1
        if count < 0:
            raise ConfigError(f"{name} must be a whole number, zero or more, got {value!r}{where}")
        return count
    if kind == "seconds":
        try:
            number = float(value) if not isinstance(value, bool) else -1.0
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number of seconds, got {value!r}{where}") from None
        if number < 0:
            raise ConfigError(f"{name} must be zero or more, got {value!r}{where}")
        return number
    if kind in {"names", "environments"}:
        items = _names(name, value, where)
        if kind == "environments":
            try:
                return parse_environments(",".join(items))
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}{where}") from None
        return items
    if kind == "environment":
        if not isinstance(value, str) or not ENVIRONMENT_NAME.match(value.strip()):
            raise ConfigError(
                f"{name} must be a name (letters, digits, '_', '.', '-'), got {value!r}{where}"
            )
        return value.strip()
    if kind == "choice":
        choices = SPECS[name].choices
        if not isinstance(value, str) or value.strip().lower() not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}{where}")
        return value.strip().lower()
    if kind == "flag":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{name} must be true or false, got {value!r}{where}")
    if kind == "path" and isinstance(value, os.PathLike):
        return os.fspath(value)
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}{where}")
    return value


def _names(name: str, value: Any, where: str) -> tuple[str, ...]:
    """A list setting written as a TOML array or a comma-separated string."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    raise ConfigError(
        f"{name} must be a list of names or a comma-separated string, got {value!r}{where}"
    )
