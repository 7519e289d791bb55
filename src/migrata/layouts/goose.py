"""goose's layout: ``<version>_<name>.sql`` files with annotations, and Go migrations.

- The version is the digits before the first ``_``, sequential (``00001``) or a timestamp
  (``20230101120000``), above zero; they compare as numbers.
- Annotations are ``--`` comment lines holding ``+goose`` at the start of the line, in any letter
  case: ``Up`` opens the up section, ``Down`` the down section; ``StatementBegin`` /
  ``StatementEnd`` pair up inside a section and stay in the text as comments; ``NO TRANSACTION``
  anywhere runs both sections outside a transaction; ``ENVSUB OFF`` changes nothing.
- A missing down section gives no down script; an empty or comment-only one is a down
  without statements, which ``down`` refuses unless ``--allow-empty-down`` (goose runs it as
  a no-op).
- A ``<version>_<name>.go`` file (not ``_test.go``) is a Go migration: listed, skipped, warned
  about, since migrata cannot run Go code.

Rejected, each error naming the file and line: a ``.sql`` file without ``-- +goose Up``, SQL
before it, a second ``Up`` or ``Down``, ``Down`` before ``Up``, a ``StatementBegin`` without its
``StatementEnd`` (or the reverse), an unknown or indented annotation, and ``ENVSUB ON`` (goose
would substitute environment variables; migrata does not). Other files are ignored.
"""

from __future__ import annotations

import re

from ..errors import DiscoveryError, DuplicateVersion
from ..models import Migration, Script, Version
from .base import DISTINCTIVE, NO, Entry, Findings, ReadResult, make_migration, script_from_text
from .dbmate import has_sql, split_lines

NAME = "goose"

SKIP_REASON = "a goose Go migration: migrata cannot run Go code"
# goose's NumericComponent: the digits before the first `_` (provider_collect.go).
FILE_RE = re.compile(r"(?P<version>\d+)_(?P<name>.*)\.(?P<kind>sql|go)")
# goose's own spellings, matched case-insensitively (internal/sqlparser/parser.go).
ANNOTATIONS = ("Up", "Down", "StatementBegin", "StatementEnd", "NO TRANSACTION", "ENVSUB OFF")
_KNOWN = {a.upper(): a for a in ANNOTATIONS}


def detect(entries: list[Entry]) -> int:
    """DISTINCTIVE when a ``.sql`` file has a ``-- +goose Up`` line or a numbered ``.go`` file
    uses goose; NO otherwise."""
    for entry in _migration_files(entries):
        text = entry.read_text()
        if entry.name.endswith(".go"):
            if "goose." in text or "AddMigration" in text:
                return DISTINCTIVE
        elif "+goose" in text and any(_annotation_word(ln) == "UP" for ln in text.splitlines()):
            return DISTINCTIVE
    return NO


def read(entries: list[Entry]) -> ReadResult:
    """The migrations of a goose folder, sorted by version; Go migrations come back skipped.

    Raises DiscoveryError (or DuplicateVersion, InvalidEncoding) naming the file and line.
    """
    by_version: dict[Version, Migration] = {}
    migration_files = _migration_files(entries)
    found = Findings()
    for entry in sorted(entries, key=lambda e: e.name):
        if entry not in migration_files:
            if not entry.is_dir and entry.name.endswith(".sql"):
                # goose collects every *.sql file and refuses one whose name has no version
                # (NumericComponent: "no filename separator", "greater than zero").
                raise DiscoveryError(
                    "goose refuses a .sql file whose name is not <version>_<name>.sql with a "
                    "version above 0; rename it, or move it out of the folder",
                    path=entry.path,
                )
            found.ignore(entry.path)
            continue
        match = FILE_RE.fullmatch(entry.name)
        assert match is not None
        version = Version.parse(match["version"])
        if version in by_version:
            raise DuplicateVersion(
                f"version {version} is also used by {by_version[version].up.path}; give each "
                "migration its own version",
                path=entry.path,
            )
        if match["kind"] == "go":
            source = Script(path=entry.path, text=entry.read_text())
            migration = make_migration(version, match["name"], source, skip_reason=SKIP_REASON)
            found.warn(
                f"{entry.path}: a goose Go migration: migrata cannot run Go code and skips it; "
                "it must be applied another way (goose built with it)"
            )
        else:
            up, down, refusal = _read_sections(entry)
            migration = make_migration(version, match["name"], up, down, down_refusal=refusal)
        by_version[version] = migration
    migrations = tuple(by_version[v] for v in sorted(by_version))
    return found.result(NAME, migrations)


def _migration_files(entries: list[Entry]) -> list[Entry]:
    found = []
    for entry in entries:
        match = None if entry.is_dir else FILE_RE.fullmatch(entry.name)
        if match and int(match["version"]) > 0 and not entry.name.endswith("_test.go"):
            found.append(entry)
    return found


def _annotation_word(line: str) -> str | None:
    """The upper-cased annotation of ``line`` when goose reads it as one, else None.

    goose takes any ``--`` line that contains ``+goose`` for an annotation, drops every ``--``
    and the first ``+goose``, and compares the rest case-insensitively.
    """
    if not line.strip().startswith("--") or "+goose" not in line:
        return None
    return line.replace("--", "").replace("+goose", "", 1).strip().upper()


def _read_sections(entry: Entry) -> tuple[Script, Script | None, str | None]:
    """The up and down sections of a goose file, and why its down section cannot be used (a
    statement goose would refuse as unfinished) when it has SQL."""
    path = entry.path
    lines = split_lines(entry.read_text())
    starts: dict[str, int] = {}  # "UP"/"DOWN" -> 0-based index of the annotation line
    block_at: int | None = None  # the open StatementBegin's 0-based line index
    no_transaction: int | None = None  # line of `-- +goose NO TRANSACTION`
    sql_before = 0  # line of the first SQL above `-- +goose Up`
    for index, raw in enumerate(lines):
        line, number = raw.rstrip("\r\n"), index + 1
        word = _annotation_word(line)
        if word is None:
            # goose allows only blank lines and `--` comments above `-- +goose Up`.
            if not starts and line.strip() and not line.lstrip().startswith("--"):
                sql_before = sql_before or number
            continue
        if sql_before and word in {"UP", "DOWN"}:
            raise DiscoveryError(
                "SQL before `-- +goose Up`: goose rejects it; move it below the annotation",
                path=path,
                line=sql_before,
            )
        problem = _check_annotation(line, word, starts, block_at)
        if problem:
            raise DiscoveryError(problem, path=path, line=number)
        if word in {"UP", "DOWN"}:
            starts[word] = index
        elif word == "STATEMENTBEGIN":
            block_at = index
        elif word == "STATEMENTEND":
            block_at = None
        elif word == "NO TRANSACTION":
            no_transaction = no_transaction or number
    if block_at is not None:
        raise DiscoveryError(
            "`-- +goose StatementBegin` is never closed: add `-- +goose StatementEnd` after the "
            "statement",
            path=path,
            line=block_at + 1,
        )
    if "UP" not in starts:
        raise DiscoveryError(
            "no `-- +goose Up` annotation: goose needs one; add `-- +goose Up` above the "
            "migration's SQL (and `-- +goose Down` above the SQL that undoes it)",
            path=path,
        )
    down_at = starts.get("DOWN", len(lines))
    unfinished = _unfinished(lines, starts["UP"] + 1, down_at)
    if unfinished is not None:
        raise DiscoveryError(
            f"{UNFINISHED}: end it with `;` (goose refuses the migration)",
            path=path,
            line=unfinished,
        )
    up = _section(path, lines, starts["UP"], down_at, no_transaction)
    if "DOWN" not in starts:
        return up, None, None
    down = _section(path, lines, down_at, len(lines), no_transaction)
    if not has_sql(down.text):
        # goose runs an empty Down section as a no-op; migrata refuses to revert it unless
        # told to (--allow-empty-down), as for any down without statements.
        return up, down, None
    unfinished = _unfinished(lines, down_at + 1, len(lines))
    if unfinished is not None:
        # goose parses a direction only when it runs it: `up` works, reverting is refused.
        return up, None, f"{UNFINISHED} at {path}:{unfinished} (goose refuses it)"
    return up, down, None


UNFINISHED = "a statement of the section has no `;` at the end of its last line"


def _unfinished(lines: list[str], start: int, end: int) -> int | None:
    """The line (1-based) where a statement of ``lines[start:end]`` begins that goose would
    call unfinished: SQL after the last line ending a statement, outside StatementBegin/End.

    goose's parser ends a statement at a line whose last word before any ``--`` comment ends
    in ``;``, drops blank and comment lines before a statement, and refuses text left over at
    the end of a section ("unexpected unfinished SQL query … missing semicolon?").
    """
    begun: int | None = None
    in_block = False
    for index in range(start, end):
        line = lines[index].rstrip("\r\n")
        word = _annotation_word(line)
        if word == "STATEMENTBEGIN":
            in_block = True
            continue
        if word == "STATEMENTEND":
            in_block, begun = False, None
            continue
        if in_block or word is not None:
            continue
        if begun is None and (not line.strip() or line.strip().startswith("--")):
            continue
        if begun is None:
            begun = index + 1
        if _ends_statement(line):
            begun = None
    return begun


def _ends_statement(line: str) -> bool:
    """goose's ``endsWithSemicolon``: the last word before a word starting with ``--``."""
    last = ""
    for word in line.split():
        if word.startswith("--"):
            break
        last = word
    return last.endswith(";")


def _check_annotation(
    line: str, word: str, starts: dict[str, int], block_at: int | None
) -> str | None:
    """Why goose would refuse this annotation here, or None."""
    if line[:1].isspace():
        return "a goose annotation must start at the beginning of the line: remove the indent"
    if "+goose" in line.replace("+goose", "", 1):
        return "two `+goose` annotations on one line: put each on its own line"
    if word == "ENVSUB ON":
        return (
            "`-- +goose ENVSUB ON` is not supported: goose would substitute environment "
            "variables into the SQL and migrata does not; write the values into the file"
        )
    if word not in _KNOWN:
        return f"unknown goose annotation `{line.strip()}`; known: " + ", ".join(ANNOTATIONS)
    if word in {"UP", "DOWN"} and word in starts:
        first = starts[word] + 1
        return f"a second `-- +goose {_KNOWN[word]}` (the first is at line {first}): remove one"
    if word == "DOWN" and "UP" not in starts:
        return "`-- +goose Down` comes before `-- +goose Up`; put the up section first"
    if word in {"UP", "DOWN"} and block_at is not None:
        return (
            f"`-- +goose StatementBegin` at line {block_at + 1} is still open: add "
            "`-- +goose StatementEnd` before this annotation"
        )
    if word == "STATEMENTBEGIN" and (not starts or block_at is not None):
        return (
            "`-- +goose StatementBegin` must follow `-- +goose Up` or `-- +goose Down` and "
            "close its previous block first"
        )
    if word == "STATEMENTEND" and block_at is None:
        return "`-- +goose StatementEnd` without a `-- +goose StatementBegin` before it"
    return None


def _section(
    path: str, lines: list[str], marker_at: int, end: int, no_transaction: int | None
) -> Script:
    # The text starts below the annotation line, so the checksum covers the SQL only.
    text = "".join(lines[marker_at + 1 : end])
    note = None if no_transaction is None else f"marked NO TRANSACTION at line {no_transaction}"
    return script_from_text(
        path,
        text,
        first_line=marker_at + 2,
        transactional=None if no_transaction is None else False,
        note=note,
    )
