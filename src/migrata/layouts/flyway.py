"""Flyway's layout (SQL migrations with the default prefixes, separator and suffix).

- ``V<version>__<description>.sql`` — a versioned migration; the version is digits in parts
  separated by ``.`` or ``_`` (``1``, ``001``, ``1.2``, ``1_1``, ``2.0.1``), ordered as numbers
  part by part; ``1_1`` is ``1.1`` and ``1.0`` is ``1``, so such pairs are one version;
- ``U<version>__<description>.sql`` — the undo of that version (its down script);
- ``R__<description>.sql`` — a repeatable migration, re-applied when its checksum changes,
  after every versioned one, in the order of their descriptions;
- ``<script>.sql.conf`` beside a script — Flyway's script config file:
  ``executeInTransaction=false`` runs that script outside a transaction.

Flyway scans a location recursively, so sub-folders are read too. Prefixes are case-sensitive,
as in Flyway by default. The version is shown with ``.`` separators (Flyway stores ``1.1`` for
``V1_1__x.sql``); the name is the description as written in the file name, and
``source_info`` holds Flyway's own ``description`` (underscores as spaces) and ``script`` (the
path below the location) for adopting an existing ``flyway_schema_history``.

``detect`` answers DISTINCTIVE as soon as one file has a Flyway name: no other layout uses
them. Every other ``.sql`` file in such a folder is skipped, as Flyway skips files it cannot
parse (``validateMigrationNaming`` is off by default), and warned about, naming it, so a
migration that never runs is never silent. Flyway's callbacks (``afterMigrate.sql``…) and
baseline migrations (``B5__x.sql``), which migrata does not run, are ignored and warned about
too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

from ..errors import DiscoveryError, DuplicateVersion
from ..models import Migration, Script, Version
from .base import DISTINCTIVE, NO, Entry, Findings, ReadResult, load_script, make_migration

NAME = "flyway"

EXPECTED_FORMS = (
    "expected V<version>__<description>.sql, U<version>__<description>.sql or "
    "R__<description>.sql (two underscores between version and description)"
)
SEPARATOR = "__"
SUFFIX = ".sql"
CONF_SUFFIX = ".sql.conf"

_VERSION = re.compile(r"\d+(?:[._]\d+)*")
_CALLBACK = re.compile(r"(?:(?:before|after)[A-Z][A-Za-z]*|createSchema)(?:__.*)?\.sql")
_BASELINE = re.compile(r"B(?P<version>\d+(?:[._]\d+)*)__.+\.sql")
_PLACEHOLDER = re.compile(r"\$\{[^}\s]+\}")
_CONF_LINE = re.compile(r"(?P<key>[^=:\s]+)(?:\s*[=:]\s*|\s+|$)(?P<value>.*)")

K = TypeVar("K", Version, str)


@dataclass(frozen=True, slots=True)
class _File:
    entry: Entry
    #: Path below the location, with "/" (what Flyway records as the script).
    script: str


@dataclass(frozen=True, slots=True)
class _Named:
    kind: str  # "V", "U" or "R"
    version: Version
    description: str  # as written in the file name
    file: _File


@dataclass(frozen=True, slots=True)
class _Config:
    transactional: bool | None = None
    should_execute: bool = True
    placeholders: bool = True


def detect(entries: list[Entry]) -> int:
    """DISTINCTIVE when any file (in any sub-folder) has a Flyway migration name."""
    return DISTINCTIVE if any(_name_of(f) for f in _walk(entries, "")) else NO


def read(entries: list[Entry]) -> ReadResult:
    """The Flyway migrations of a location, versioned ones by version, then repeatables.

    Raises InvalidMigrationName (a ``.sql`` file without a Flyway name, a wrong prefix case,
    a missing ``__``), DuplicateVersion (two scripts for one version, two repeatables with one
    description), DiscoveryError (an undo without its versioned migration, a bad line in a
    script config file), InvalidEncoding or UnknownDirective, each naming the file.
    """
    files = _walk(entries, "")
    found = Findings()
    confs: dict[str, Entry] = {}
    named: list[_Named] = []
    for file in files:
        entry = file.entry
        if entry.name.endswith(CONF_SUFFIX):
            confs[entry.path] = entry
            continue
        if not entry.name.lower().endswith(SUFFIX):
            found.ignore(entry.path)
            continue
        if _CALLBACK.fullmatch(entry.name):
            found.ignore(entry.path)
            found.warn(
                f"{entry.path}: a Flyway callback; migrata does not run callbacks: turn it into "
                "a migration or run it yourself"
            )
            continue
        baseline = _BASELINE.fullmatch(entry.name)
        if baseline is not None:
            found.ignore(entry.path)
            found.warn(
                f"{entry.path}: a Flyway baseline migration; migrata runs the versioned "
                f"migrations up to {baseline['version'].replace('_', '.')} instead: keep them "
                "in the folder"
            )
            continue
        parsed = _name_of(file)
        if parsed is None:
            # Flyway skips a file it cannot parse (validateMigrationNaming is off by default).
            found.skip(
                entry.path, f"{_problem(entry.name, files)}: Flyway skips it, and so does migrata"
            )
            continue
        named.append(parsed)

    versioned: dict[Version, _Named] = {}
    undos: dict[Version, _Named] = {}
    repeatables: dict[str, _Named] = {}
    for item in named:
        if item.kind == "R":
            _claim(repeatables, _spaced(item.description), item, "description")
        else:
            _claim(versioned if item.kind == "V" else undos, item.version, item, "version")
    for version, orphan in undos.items():
        if version not in versioned:
            raise DiscoveryError(
                f"undo migration without a versioned migration {version}; add "
                f"V{orphan.file.entry.name[1:]} or remove the undo file",
                path=orphan.file.entry.path,
            )

    def script(item: _Named) -> tuple[Script, _Config]:
        config = _Config()
        conf = confs.pop(item.file.entry.path + ".conf", None)
        if conf is not None:
            config = _read_config(conf)
        loaded = load_script(item.file.entry, transactional=config.transactional)
        if config.placeholders and _PLACEHOLDER.search(loaded.text):
            found.warn(
                f"{item.file.entry.path}: holds Flyway placeholders (${{...}}), which migrata "
                "does not replace; write the values into the script"
            )
        return loaded, config

    migrations: list[Migration] = []
    for item in [*versioned.values(), *repeatables.values()]:
        up, config = script(item)
        down = None
        undo = undos.get(item.version) if item.kind == "V" else None
        if undo is not None:
            down, undo_config = script(undo)
            if not undo_config.should_execute:
                down = None  # Flyway would not run this undo
        migrations.append(
            make_migration(
                item.version,
                item.description,
                up,
                down,
                skip_reason=None
                if config.should_execute
                else "its script config file sets shouldExecute=false",
                source_info=(
                    ("description", _spaced(item.description)),
                    ("script", item.file.script),
                ),
            )
        )
    for path in sorted(confs):
        found.ignore(path)
        if path.removesuffix(".conf") not in found.ignored:  # a callback's config goes with it
            found.warn(
                f"{path}: a script config file for a script that does not exist; rename it "
                "to <script>.sql.conf or remove it"
            )
    migrations.sort(key=lambda m: m.version)
    return found.result(NAME, migrations)


def _claim(table: dict[K, _Named], key: K, item: _Named, unit: str) -> None:
    """Add ``item`` under ``key``, or raise DuplicateVersion naming both files."""
    other = table.get(key)
    if other is not None:
        what = {"V": "version", "U": "undo of version", "R": "repeatable migration"}[item.kind]
        if item.kind == "R":
            shown, why = repr(_spaced(item.description)), " (Flyway's description)"
        else:
            shown, why = str(item.version), " (Flyway reads `1_1` as `1.1` and `1.0` as `1`)"
        raise DuplicateVersion(
            f"{what} {shown} is also claimed by {other.file.entry.path}{why}; give each "
            f"script its own {unit}",
            path=item.file.entry.path,
        )
    table[key] = item


def _walk(entries: list[Entry], below: str) -> list[_File]:
    """Every file under ``entries``, sub-folders included, in name order."""
    files: list[_File] = []
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.is_dir:
            files.extend(_walk(list(entry.children()), f"{below}{entry.name}/"))
        else:
            files.append(_File(entry, below + entry.name))
    return files


def _name_of(file: _File) -> _Named | None:
    """The parts of a Flyway migration file name, or None when it is not one."""
    name = file.entry.name
    if not name.endswith(SUFFIX) or name[:1] not in {"V", "U", "R"}:
        return None
    head, separator, description = name[1 : -len(SUFFIX)].partition(SEPARATOR)
    if not separator or not description:
        return None
    if name[0] == "R":
        if head:
            return None
        return _Named("R", Version.repeatable(description), description, file)
    if not _VERSION.fullmatch(head):
        return None
    return _Named(name[0], Version.parse(head.replace("_", ".")), description, file)


def _problem(name: str, files: list[_File]) -> str:
    """What is wrong with a ``.sql`` file name in a Flyway location, and what to do."""
    stem, _, _ = name.rpartition(".")
    if name[:1] in {"V", "U", "R"} and not name.endswith(SUFFIX):
        return f"Flyway reads only the lowercase suffix .sql; rename it to {stem}.sql"
    if name[:1] in {"v", "u", "r"} and SEPARATOR in name:
        return f"Flyway prefixes are case-sensitive; rename it to {name[0].upper()}{name[1:]}"
    if name[:1] == "R":
        return (
            "a repeatable migration has no version and needs a description: "
            f"R__<description>.sql; {EXPECTED_FORMS}"
        )
    if name[:1] in {"V", "U"}:
        head, separator, description = name[1 : -len(SUFFIX)].partition(SEPARATOR)
        if not separator:
            return f"no `__` between version and description; {EXPECTED_FORMS}"
        if not description:
            return f"the description after `__` is empty; {EXPECTED_FORMS}"
        return (
            f"{head!r} is not a Flyway version (digits separated by `.` or `_`); {EXPECTED_FORMS}"
        )
    example = next((f.entry.name for f in files if _name_of(f)), None)
    return (
        f"not a Flyway migration name; {EXPECTED_FORMS}; this folder holds Flyway migrations "
        f"({example}), so rename it or move it out of the folder"
    )


def _read_config(entry: Entry) -> _Config:
    """Read a Flyway script config file (Java properties: ``key=value``, ``#`` comments).

    Flyway refuses keys it does not know (``ConfigUtils.checkConfigurationForUnrecognised
    Properties``); so does this, with the line.
    """
    transactional: bool | None = None
    should_execute = True
    placeholders = True
    for number, raw in enumerate(entry.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = _CONF_LINE.fullmatch(line)
        if match is None:
            raise DiscoveryError(
                "not a `key=value` line; write e.g. `executeInTransaction=false`",
                path=entry.path,
                line=number,
            )
        key, value = match["key"], match["value"].strip()
        if key == "executeInTransaction":
            # Only `false` is a marker; `true` is Flyway's default and says nothing new.
            transactional = None if _boolean(value, entry, number, key) else False
        elif key == "shouldExecute":
            if value.lower() not in {"true", "false"}:
                raise DiscoveryError(
                    f"shouldExecute={value}: migrata cannot evaluate expressions; write true "
                    "or false",
                    path=entry.path,
                    line=number,
                )
            should_execute = value.lower() == "true"
        elif key == "placeholderReplacement":
            placeholders = _boolean(value, entry, number, key)
        elif key == "encoding":
            if value.upper().replace("_", "-") not in {"UTF-8", "UTF8"}:
                raise DiscoveryError(
                    f"encoding={value}: migrata reads scripts as UTF-8 only; re-save the "
                    "script as UTF-8 and remove this line",
                    path=entry.path,
                    line=number,
                )
        else:
            raise DiscoveryError(
                f"unknown setting `{key}` in a Flyway script config file; known: encoding, "
                "executeInTransaction, placeholderReplacement, shouldExecute; remove it",
                path=entry.path,
                line=number,
            )
    return _Config(
        transactional=transactional, should_execute=should_execute, placeholders=placeholders
    )


def _boolean(value: str, entry: Entry, line: int, key: str) -> bool:
    lowered = value.lower()
    if lowered not in {"true", "false"}:
        raise DiscoveryError(
            f"{key} must be true or false, not {value!r}; fix the value",
            path=entry.path,
            line=line,
        )
    return lowered == "true"


def _spaced(description: str) -> str:
    return description.replace("_", " ")
