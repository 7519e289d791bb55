"""diesel's layout (``diesel migration generate``), read by diesel's own rules
(``migrations_internals``: ``version_from_string``, ``valid_sql_migration_directory``;
``diesel_migrations``: ``FileBasedMigrations``, ``TomlMetadata``).

- Every folder (hidden ones aside) is a migration and must hold ``up.sql``; ``down.sql`` is
  optional (needed only to revert). A folder without ``up.sql`` makes diesel refuse the whole
  folder, and migrata too.
- The version is the folder name up to its first ``_``, every ``-`` dropped, and it is **text**:
  diesel stores it so (``2017-03-05-095748`` → ``20170305095748``) and runs pending
  migrations in text order (``10`` before ``9``, ``20240313`` after ``20240306170000``).
  Current diesel CLI names carry a counter after the time (``2025-11-19-091444-0000_add_x``,
  stored as ``202511190914440000``); the first version of ``diesel setup`` is
  ``00000000000000_diesel_initial_setup``. The stored form is kept in ``source_info`` under
  ``"version"``.
- ``metadata.toml`` in a migration folder holds ``run_in_transaction``. diesel reads it with a
  field default of ``false``: a ``metadata.toml`` that does not set it runs the migration
  outside a transaction, one that sets ``true`` inside; without the file, inside. A file diesel
  cannot read (not TOML, a value that is not a boolean) is ignored by diesel, which then uses a
  transaction: migrata warns about it and decides from the statements, as for a folder without
  the file. The setting applies to running and reverting alike.
- Files at the top level are not migrations to diesel: ignored and listed; a ``.sql`` file
  there is also warned about, since diesel would never run it.
- Two folders with the same version (``2024-01-01-000000_a`` and ``20240101000000_b``): diesel
  keeps one of them and silently never runs the other; migrata refuses the folder instead.

Folders whose names migrata's own layout also reads (``<digits>_<name>/``,
``<yyyy-mm-dd-hhmmss>_<name>/``) and nothing diesel-specific: ``detect`` answers FITS and
migrata's own reader reads the folder (ordering by number, which agrees with diesel's text
order whenever the versions have the same width; where it does not, a warning says so). It
answers DISTINCTIVE on what only diesel reads: a ``metadata.toml``, the initial-setup
folder, or a folder name only diesel's rule parses.
"""

from __future__ import annotations

import re
import tomllib

from ..errors import DuplicateVersion, InvalidMigrationName
from ..models import Version
from .base import DISTINCTIVE, FITS, NO, Entry, Findings, ReadResult, load_script, make_migration
from .native import FOLDER_RE, holds_up_sql, read_folder

NAME = "diesel"

EXPECTED_FORMS = (
    "expected a folder <version>_<name>/ holding up.sql (and optionally down.sql and "
    "metadata.toml), with a version such as 2017-03-05-095748 or 20170305095748"
)
METADATA = "metadata.toml"
INITIAL_SETUP = "00000000000000_diesel_initial_setup"


def detect(entries: list[Entry]) -> int:
    """DISTINCTIVE on a ``metadata.toml``, diesel's initial-setup folder, or a migration folder
    name only diesel reads; FITS when the folder holds migration folders that migrata's own
    layout reads too, and no top-level ``.sql`` file; NO otherwise."""
    folders = [e for e in entries if e.is_dir and holds_up_sql(e)]
    if not folders:
        return NO
    if any(e.name == INITIAL_SETUP for e in folders) or any(
        child.name == METADATA for e in folders for child in e.children()
    ):
        return DISTINCTIVE
    if any(not e.is_dir and e.name.lower().endswith(".sql") for e in entries):
        return NO
    if any(FOLDER_RE.match(e.name) is None and _version_text(e.name) for e in folders):
        return DISTINCTIVE
    return FITS


def read(entries: list[Entry]) -> ReadResult:
    """The diesel migrations of a folder, in diesel's order (text order of the versions).

    Raises InvalidMigrationName (a folder without up.sql, or whose name has no version),
    DuplicateVersion, InvalidEncoding or UnknownDirective, each naming the file.
    """
    found = Findings()
    by_version: dict[Version, tuple[Entry, str, Entry, Entry | None, dict[str, Entry]]] = {}
    for entry in sorted(entries, key=lambda e: e.name):
        if not entry.is_dir:
            if entry.name.lower().endswith(".sql"):
                found.skip(
                    entry.path,
                    "diesel runs only migration folders, never a .sql file at the top level, "
                    "and neither does migrata; move it to <version>_<name>/up.sql if it is a "
                    "migration",
                )
            else:
                found.ignore(entry.path)
            continue
        text = _version_text(entry.name)
        if not text:
            raise InvalidMigrationName(
                f"folder name does not start with a version; {EXPECTED_FORMS}; rename it",
                path=entry.path,
            )
        up_file, down_file, others = read_folder(entry, EXPECTED_FORMS)
        version = Version.parse_text(text)
        clash = by_version.get(version)
        if clash is not None:
            raise DuplicateVersion(
                f"version {version.text} is also used by {clash[0].path} (diesel reads both as "
                f"{text.replace('-', '')} and would silently run only one); give each "
                "migration its own version",
                path=entry.path,
            )
        name = entry.name.partition("_")[2]
        by_version[version] = (entry, name, up_file, down_file, others)

    migrations = []
    for version in sorted(by_version):
        _, name, up_file, down_file, others = by_version[version]
        metadata = others.pop(METADATA, None)
        marker, note = _run_in_transaction(metadata, found) if metadata else (None, None)
        for child in others.values():
            found.ignore(child.path)
        # diesel applies the folder's metadata to running and to reverting alike.
        up = load_script(up_file, transactional=marker, note=note)
        down = load_script(down_file, transactional=marker, note=note) if down_file else None
        stored = version.text.replace("-", "")
        migrations.append(
            make_migration(version, name, up, down, source_info=(("version", stored),))
        )
    return found.result(NAME, migrations)


def _version_text(folder_name: str) -> str:
    """diesel's version of a folder (``version_from_string``): up to the first ``_``."""
    return folder_name.split("_", 1)[0]


def _run_in_transaction(entry: Entry, findings: Findings) -> tuple[bool | None, str | None]:
    """What diesel makes of ``metadata.toml``, and why: False (outside a transaction) unless
    it says ``run_in_transaction = true`` (then None: the default, a transaction). A file
    diesel cannot read is ignored by diesel (a transaction); migrata warns and says nothing."""
    text = entry.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        where = f"{entry.path}:{found[1]}" if found else entry.path
        findings.warn(
            f"{where}: not valid TOML ({exc}): diesel ignores the file and runs the migration "
            "in a transaction; fix it (run_in_transaction = false or true)"
        )
        return None, None
    if "run_in_transaction" not in data:
        return False, (
            f"{entry.path} does not set run_in_transaction, which diesel then reads as false, "
            "so it runs outside a transaction"
        )
    value = data["run_in_transaction"]
    if value is True:
        return None, None
    if value is False:
        return False, f"{entry.path} says run_in_transaction = false"
    line = next(
        (
            number
            for number, raw in enumerate(text.splitlines(), start=1)
            if raw.strip().startswith("run_in_transaction")
        ),
        None,
    )
    findings.warn(
        f"{entry.path}{f':{line}' if line else ''}: run_in_transaction = {value!r} is not a "
        "boolean: diesel ignores the file and runs the migration in a transaction; write true "
        "or false"
    )
    return None, None
