"""dbmate's layout: one ``<version><name>.sql`` file per migration, in sections.

- The version is the file name's leading digits (dbmate's ``new`` writes a timestamp such as
  ``20151129054053``); the name is what follows, without a leading ``_``.
- The up section starts at a line ``-- migrate:up`` and the down section at ``-- migrate:down``,
  both lower case at the very start of the line (the space after ``--`` is optional); only blank
  lines and ``--`` comments may precede ``-- migrate:up``.
- Options follow the marker: ``transaction:false`` runs that section outside a transaction
  (``transaction:true`` is the default, stated).
- The down section may be empty (dbmate's ``new`` leaves it so): a down without statements,
  which ``down`` refuses unless ``--allow-empty-down`` (dbmate runs it as a no-op).

Rejected, each error naming the file and line: a file without ``-- migrate:up``, SQL before it,
a second up or down marker, down before up, an option other than ``transaction:true|false``, and
a line that looks like a marker but that dbmate would read as a plain comment. Other files are
ignored; a ``.sql`` file whose name does not start with digits is reported, as dbmate skips it.
"""

from __future__ import annotations

import re

from ..errors import DiscoveryError, DuplicateVersion
from ..models import Migration, Script, Version
from .base import (
    DISTINCTIVE,
    NO,
    Entry,
    Findings,
    ReadResult,
    make_migration,
    script_from_text,
    sql_files,
)

NAME = "dbmate"

# dbmate matches `^(\d+).*\.sql$` on the file name and `^--\s*migrate:up(\s*$|\s+\S+)` on lines
# (pkg/dbmate/db.go, migration.go).
FILE_RE = re.compile(r"(?P<version>\d+)_?(?P<name>.*)\.sql")
MARKER_RE = re.compile(r"--\s*migrate:(?P<direction>up|down)(?:\s+(?P<options>.*?))?\s*")
_NEAR_MARKER_RE = re.compile(r"\s*--\s*migrate\s*:\s*(up|down)\b", re.IGNORECASE)
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(text: str) -> list[str]:
    """``text`` as lines that keep their endings (CRLF, CR or LF), so joining them gives it back."""
    return _LINE_RE.findall(text)


def has_sql(text: str) -> bool:
    """True when ``text`` holds anything but whitespace, ``--`` and (nested) ``/* */`` comments."""
    position, depth = 0, 0
    while position < len(text):
        if depth:
            if text.startswith("/*", position):
                depth, position = depth + 1, position + 2
            elif text.startswith("*/", position):
                depth, position = depth - 1, position + 2
            else:
                position += 1
        elif text[position].isspace():
            position += 1
        elif text.startswith("--", position):
            end = text.find("\n", position)
            position = len(text) if end == -1 else end + 1
        elif text.startswith("/*", position):
            depth, position = 1, position + 2
        else:
            return True
    return False


def detect(entries: list[Entry]) -> int:
    """DISTINCTIVE when a ``.sql`` file has a ``-- migrate:up`` line; NO otherwise."""
    for entry in sql_files(entries):
        text = entry.read_text()
        if "migrate:" not in text:
            continue  # (every marker holds it: a file without it is not read line by line)
        for line in split_lines(text):
            marker = _marker(line.rstrip("\r\n"))
            if marker is not None and marker[0] == "up":
                return DISTINCTIVE
    return NO


def read(entries: list[Entry]) -> ReadResult:
    """The migrations of a dbmate folder, sorted by version.

    Raises DiscoveryError (or DuplicateVersion, InvalidEncoding) naming the file and line.
    """
    by_version: dict[Version, Migration] = {}
    found = Findings()
    for entry in sorted(entries, key=lambda e: e.name):
        match = None if entry.is_dir else FILE_RE.fullmatch(entry.name)
        if match is None:
            if not entry.is_dir and entry.name.lower().endswith(".sql"):
                found.warn(
                    f"{entry.path}: the name does not start with a version: dbmate skips it, "
                    "and so does migrata; rename it to <version>_<name>.sql if it is a migration"
                )
            else:
                found.ignore(entry.path)
            continue
        # dbmate keeps the version as written (`01` and `1` differ) and runs the files in
        # the order of their names.
        version = Version.parse_text(match["version"], rank=tuple(map(ord, entry.name)))
        if version in by_version:
            raise DuplicateVersion(
                f"version {version} is also used by {by_version[version].up.path}; give each "
                "migration its own version",
                path=entry.path,
            )
        up, down = _read_sections(entry, found)
        by_version[version] = make_migration(version, match["name"], up, down)
    migrations = tuple(by_version[v] for v in sorted(by_version))
    return found.result(NAME, migrations)


def _marker(line: str) -> tuple[str, str] | None:
    """(direction, options) when ``line`` (without its ending) is a dbmate marker."""
    match = MARKER_RE.fullmatch(line)
    if match is None:
        return None
    return match["direction"], match["options"] or ""


def _read_sections(entry: Entry, found: Findings) -> tuple[Script, Script | None]:
    path = entry.path
    lines = split_lines(entry.read_text())
    starts: dict[str, int] = {}  # direction -> 0-based index of its marker line
    options: dict[str, bool | None] = {}
    sql_before = 0  # line of the first SQL above any marker
    for index, raw in enumerate(lines):
        line = raw.rstrip("\r\n")
        marker = _marker(line)
        number = index + 1
        if marker is None:
            if _NEAR_MARKER_RE.match(line):
                raise DiscoveryError(
                    f"`{line.strip()}` looks like a section marker, but dbmate reads it as a "
                    "plain comment: write `-- migrate:up` or `-- migrate:down` in lower case at "
                    "the start of the line",
                    path=path,
                    line=number,
                )
            # dbmate allows only blank lines and `--` comments above the up marker.
            if not starts and line.strip() and not line.lstrip().startswith("--"):
                sql_before = sql_before or number
            continue
        if sql_before:
            raise DiscoveryError(
                "SQL before `-- migrate:up`: dbmate does not run it; move it below the marker",
                path=path,
                line=sql_before,
            )
        direction, words = marker
        if direction in starts:
            raise DiscoveryError(
                f"a second `-- migrate:{direction}` (the first is at line "
                f"{starts[direction] + 1}): migrata reads one up and one down section per file "
                "(dbmate records a multi-section file's version twice and fails, "
                "amacneil/dbmate#820); move this section into a migration file of its own",
                path=path,
                line=number,
            )
        if direction == "down" and "up" not in starts:
            raise DiscoveryError(
                "`-- migrate:down` comes before `-- migrate:up`; put the up section first",
                path=path,
                line=number,
            )
        starts[direction] = index
        options[direction] = _transactional(words, path, number, found)
    if "up" not in starts:
        raise DiscoveryError(
            "no `-- migrate:up` line: dbmate needs one; add `-- migrate:up` above the "
            "migration's SQL (and `-- migrate:down` above the SQL that undoes it)",
            path=path,
        )
    if "down" not in starts:
        raise DiscoveryError(
            "no `-- migrate:down` line: dbmate refuses a migration without one (it may be "
            "empty); add `-- migrate:down` below the up section",
            path=path,
        )
    down_at = starts["down"]
    up = _section(path, lines, starts["up"], down_at, options["up"])
    down = _section(path, lines, down_at, len(lines), options["down"])
    # An empty down section (dbmate's `new` leaves one) is a down without statements: dbmate
    # runs it as a no-op, migrata refuses to revert it unless told to (--allow-empty-down).
    return up, down


def _section(
    path: str, lines: list[str], marker_at: int, end: int, transactional: bool | None
) -> Script:
    # The text starts below the marker line, so the checksum covers the SQL only.
    text = "".join(lines[marker_at + 1 : end])
    note = f"marked transaction:false at line {marker_at + 1}" if transactional is False else None
    return script_from_text(
        path, text, first_line=marker_at + 2, transactional=transactional, note=note
    )


def _transactional(words: str, path: str, line: int, found: Findings) -> bool | None:
    """What a marker's options say about the transaction (None: nothing). dbmate runs a
    section outside a transaction only for ``transaction:false`` and ignores other options;
    so does migrata, warning about them."""
    chosen: bool | None = None
    for word in words.split():
        key, colon, value = word.partition(":")
        if not colon or value.count(":"):
            continue  # dbmate ignores words that are not key:value pairs
        if key == "transaction":
            chosen = value != "false"
            if value in {"false", "true"}:
                continue
        found.warn(
            f"{path}:{line}: dbmate option `{word}` means nothing to dbmate"
            + (" (a transaction is used)" if key == "transaction" else "")
            + ": the only option is transaction:false (or transaction:true); fix or remove it"
        )
    return chosen
