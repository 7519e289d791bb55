"""drizzle-kit's layout: ``meta/_journal.json`` lists the migrations, each a ``<tag>.sql`` file.

- The journal (``{"entries": [{"idx": 0, "when": 1700000000000, "tag": "0000_init", ...}]}``)
  decides which files are migrations and their order; the files sit at the folder root.
- The version is the tag's leading digits (``0000_init`` → ``0000``, name ``init``; drizzle's
  timestamp prefixes are digits too), else ``idx`` padded to 4 digits, the whole tag being the
  name. Migrations run in journal order, which is not always the order of those numbers
  (drizzle-kit's timestamp prefixes can go back when branches merge).
- ``--> statement-breakpoint`` lines are SQL comments and stay in the text. drizzle has no down
  migrations and no per-migration transaction marker.
- Each migration keeps ``when``, ``tag`` and ``hash`` (drizzle's sha256 hex of the file, line
  endings made LF) in ``source_info``: drizzle's history table records ``created_at = when`` and
  that hash.
- A root ``.sql`` file that the journal does not list is not a migration (drizzle would not run
  it) and is reported; snapshots and other files are ignored.

Rejected, naming ``meta/_journal.json``: invalid JSON, a wrong shape, a tag whose ``.sql`` file
is missing, and two tags with one version.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from typing import Any

from ..errors import DiscoveryError, DuplicateVersion
from ..models import Migration, Version
from .base import DISTINCTIVE, NO, Entry, ReadResult, load_script, make_migration, sql_files

NAME = "drizzle"

JOURNAL = "meta/_journal.json"
_TAG_RE = re.compile(r"(?P<version>\d+)_?(?P<name>.*)")


def detect(entries: list[Entry]) -> int:
    """DISTINCTIVE when a ``meta`` folder holds ``_journal.json``; NO otherwise."""
    return DISTINCTIVE if _journal(entries) is not None else NO


def read(entries: list[Entry]) -> ReadResult:
    """The migrations the journal lists, in its order.

    Raises DiscoveryError naming the journal (DuplicateVersion for a repeated version), or
    InvalidEncoding naming a file.
    """
    journal = _journal(entries)
    if journal is None:
        raise DiscoveryError(f"no {JOURNAL}: this is not a drizzle migrations folder")
    files = {e.name: e for e in sql_files(entries)}
    migrations: list[Migration] = []
    for position, item in enumerate(_journal_entries(journal)):
        where = f"journal entry {position}"
        tag, when, idx = _fields(item, position, journal.path)
        entry = files.pop(f"{tag}.sql", None)
        if entry is None:
            raise DiscoveryError(
                f"{where} names tag {tag!r}, but {tag}.sql is not in the folder: restore the "
                "file or remove the entry",
                path=journal.path,
            )
        digits = _TAG_RE.fullmatch(tag)
        if digits is not None:
            version, name = Version.parse(digits["version"]), digits["name"] or tag
        else:
            version, name = Version.parse(f"{idx:04d}"), tag
        # drizzle runs the journal in its own order, whatever the tags' numbers say.
        version = replace(version, rank=(position,))
        clash = next((m for m in migrations if m.version == version), None)
        if clash is not None:
            raise DuplicateVersion(
                f"{where} (tag {tag!r}) has version {version}, like tag "
                f"{clash.info('tag')!r}: give each migration its own tag prefix",
                path=journal.path,
            )
        up = load_script(entry)
        # drizzle hashes the file as read, BOM included, with only CRLF made LF (migrator.ts).
        digest = hashlib.sha256(entry.read_bytes().replace(b"\r\n", b"\n")).hexdigest()
        info = (("when", str(when)), ("tag", tag), ("hash", digest))
        migrations.append(make_migration(version, name, up, source_info=info))
    warnings = tuple(
        f"{entry.path}: the file is not in {JOURNAL}: drizzle would not run it, and neither "
        "does migrata; add it to the journal or remove it"
        for entry in files.values()
    )
    listed = {m.up.path for m in migrations} | {e.path for e in files.values()}
    ignored = [e.path for e in entries if not e.is_dir and e.path not in listed]
    for folder in (e for e in entries if e.is_dir):
        ignored += [c.path for c in _walk(folder) if c.path != journal.path]
    return ReadResult(NAME, tuple(migrations), ignored=tuple(sorted(ignored)), warnings=warnings)


def _journal(entries: list[Entry]) -> Entry | None:
    for entry in entries:
        if entry.is_dir and entry.name == "meta":
            return next((c for c in entry.children() if c.name == "_journal.json"), None)
    return None


def _journal_entries(journal: Entry) -> list[Any]:
    try:
        data = json.loads(journal.read_text())
    except json.JSONDecodeError as exc:
        raise DiscoveryError(
            f"not valid JSON ({exc.msg}): fix the file, or regenerate it with drizzle-kit",
            path=journal.path,
            line=exc.lineno,
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise DiscoveryError(
            'expected an object with an "entries" list, as drizzle-kit writes it: fix the file',
            path=journal.path,
        )
    entries: list[Any] = data["entries"]
    return entries


def _fields(item: Any, position: int, path: str) -> tuple[str, int, int]:
    """(tag, when, idx) of one journal entry, checked."""
    problem = None
    if not isinstance(item, dict):
        problem = "is not an object"
    else:
        tag, when, idx = item.get("tag"), item.get("when"), item.get("idx", position)
        if not isinstance(tag, str) or not tag or re.search(r"[/\\]|^\.\.?$", tag):
            problem = 'has no "tag" naming a .sql file at the folder root'
        elif not isinstance(when, int) or isinstance(when, bool):
            problem = 'has no "when" timestamp (milliseconds, a number)'
        elif not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            problem = 'has an "idx" that is not a non-negative number'
        else:
            return tag, when, idx
    raise DiscoveryError(
        f"entry {position} {problem}: fix the entry, or regenerate the journal with drizzle-kit",
        path=path,
    )


def _walk(folder: Entry) -> list[Entry]:
    found = []
    for child in folder.children():
        found += _walk(child) if child.is_dir else [child]
    return found
