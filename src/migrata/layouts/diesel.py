"""diesel's layout (``diesel migration generate``).

- a folder ``<version>_<name>/`` per migration holding ``up.sql`` (required) and ``down.sql``
  (optional, needed only to revert);
- an optional ``metadata.toml`` in that folder: ``run_in_transaction = false`` runs both
  scripts outside a transaction.

Versions come in several forms in one folder: ``2017-03-05-095748`` (diesel's default),
``20170305095748``, ``00000000000000_diesel_initial_setup`` (version 0, written by
``diesel setup`` on PostgreSQL) and short ones (``1_x``). diesel stores the version with its
dashes removed (``migrations_internals`` ``version_from_string``), so ``2017-03-05-095748`` and
``20170305095748`` are one version; the stored form is kept in ``source_info`` under
``"version"``. diesel compares versions as strings; migrata orders them as numbers, which
agrees whenever the versions have the same width.

Files at the top level are not migrations to diesel: README and the like are ignored and
listed (``.keep`` is hidden), but a top-level ``.sql`` file is an error naming it, because
diesel would never run it.

Without ``metadata.toml`` these folders are also migrata's own folder form and mean the same
thing: ``detect`` answers FITS and migrata's own reader reads the folder. It answers
DISTINCTIVE only on what only diesel has: a ``metadata.toml`` in a migration folder, or the
``00000000000000_diesel_initial_setup`` folder.
"""

from __future__ import annotations

import re
import tomllib

from ..errors import DiscoveryError, InvalidMigrationName
from ..models import Version
from .base import DISTINCTIVE, FITS, NO, Entry, ReadResult, load_script, make_migration
from .native import FOLDER_RE, Grouping, holds_up_sql, read_folder

NAME = "diesel"

EXPECTED_FORMS = (
    "expected a folder <version>_<name>/ holding up.sql (and optionally down.sql and "
    "metadata.toml), with a version such as 2017-03-05-095748 or 20170305095748"
)
METADATA = "metadata.toml"
INITIAL_SETUP = "00000000000000_diesel_initial_setup"


def detect(entries: list[Entry]) -> int:
    """DISTINCTIVE on a ``metadata.toml`` or diesel's initial-setup folder; FITS when the folder
    holds migration folders and no top-level ``.sql`` file; NO otherwise."""
    folders = [e for e in entries if e.is_dir and (FOLDER_RE.match(e.name) or holds_up_sql(e))]
    if any(e.name == INITIAL_SETUP for e in folders) or any(
        child.name == METADATA for e in folders for child in e.children()
    ):
        return DISTINCTIVE
    if not folders or any(not FOLDER_RE.match(e.name) for e in folders):
        return NO
    if any(not e.is_dir and e.name.lower().endswith(".sql") for e in entries):
        return NO
    return FITS


def read(entries: list[Entry]) -> ReadResult:
    """The diesel migrations of a folder, sorted by version.

    Raises InvalidMigrationName (a folder holding up.sql whose name does not parse, a
    migration folder without up.sql, a top-level ``.sql`` file), DuplicateVersion,
    DiscoveryError (a metadata.toml that is not valid TOML or whose ``run_in_transaction`` is
    not a boolean), InvalidEncoding or UnknownDirective, each naming the file.
    """
    grouping = Grouping(lambda parts: f"{parts.version}_{parts.name}/up.sql")
    ignored: list[str] = []
    transactional: dict[Version, bool | None] = {}
    for entry in sorted(entries, key=lambda e: e.name):
        if not entry.is_dir:
            if entry.name.lower().endswith(".sql"):
                raise InvalidMigrationName(
                    "diesel runs only migration folders, never a .sql file at the top level; "
                    f"{EXPECTED_FORMS}; move it to <version>_<name>/up.sql",
                    path=entry.path,
                )
            ignored.append(entry.path)
            continue
        folder = FOLDER_RE.match(entry.name)
        if folder is None:
            if holds_up_sql(entry):
                raise InvalidMigrationName(
                    f"folder name does not parse as a diesel migration; {EXPECTED_FORMS}; "
                    "rename it",
                    path=entry.path,
                )
            ignored.append(entry.path)
            continue
        up_file, down_file, others = read_folder(entry, EXPECTED_FORMS)
        version = Version.parse(folder["version"])
        grouping.add_folder(version, folder["name"], entry, up_file, down_file)
        metadata = others.pop(METADATA, None)
        transactional[version] = _run_in_transaction(metadata) if metadata else None
        ignored.extend(child.path for child in others.values())

    migrations = []
    for parts in grouping.parts():
        assert parts.up is not None
        # diesel applies the folder's metadata to running and to reverting alike.
        marker = transactional[parts.version]
        up = load_script(parts.up, transactional=marker)
        down = load_script(parts.down, transactional=marker) if parts.down is not None else None
        stored = parts.version.text.replace("-", "")
        migrations.append(
            make_migration(parts.version, parts.name, up, down, source_info=(("version", stored),))
        )
    return ReadResult(layout=NAME, migrations=tuple(migrations), ignored=tuple(ignored))


def _run_in_transaction(entry: Entry) -> bool | None:
    """False when ``metadata.toml`` says ``run_in_transaction = false``; None when it says
    ``true`` or nothing (the default, which is a transaction)."""
    text = entry.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # diesel falls back to its defaults on a file it cannot parse (`unwrap_or_default`),
        # which would silently run a `run_in_transaction = false` migration inside one.
        found = re.search(r"at line (\d+)", str(exc))
        raise DiscoveryError(
            f"not valid TOML ({exc}); fix the file (diesel reads `run_in_transaction = false`)",
            path=entry.path,
            line=int(found[1]) if found else None,
        ) from exc
    value = data.get("run_in_transaction")
    if value is None or value is True:
        return None
    if value is False:
        return False
    line = next(
        (
            number
            for number, raw in enumerate(text.splitlines(), start=1)
            if raw.strip().startswith("run_in_transaction")
        ),
        None,
    )
    raise DiscoveryError(
        f"run_in_transaction must be true or false, not {value!r}; fix the value",
        path=entry.path,
        line=line,
    )
