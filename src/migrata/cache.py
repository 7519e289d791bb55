"""A cache of what splitting a script found: its statements, and whether it must run outside a
transaction, keyed by the hash of the script's exact text. (:mod:`migrata.discovery` keeps the
reading of a whole folder in the same folder, the same way: see ``discover_migrations``.)

An entry's key is the SHA-256 of: the script's text exactly as read, its first line in the
file, the dialect, and the fingerprint of the code that split it (:func:`code_fingerprint`:
migrata's version, the files of its splitters, pglast's, SQLite's version). A file that
changes by one byte gets a new key, so an entry is never trusted over the file; a script that
does not split (a syntax error) is never cached, so its error is raised again, naming the
file, before anything runs.

Entries are kept in 16 shard files (by the key's first hex digit), each a JSON object of at
most :data:`SHARD_ENTRIES` entries, the oldest dropped first: creating a file costs far more
than splitting a small script, so a run writes at most 16 files, not one per script. A shard
is written whole to a temporary file that then replaces it (``os.replace``), merged with what
other runs wrote meanwhile, so concurrent runs never see a torn shard (at worst one run's new
entries are lost, and made again by the next run).

The folder is safe to delete at any time. A shard or an entry that cannot be read, does not
parse or is not what its key says is ignored, and written again; a folder that cannot be
created or written (read-only, full) only means nothing is cached: the run goes on.

Where: the ``split_cache`` setting (``--split-cache``/``--cache-dir``, ``MIGRATA_SPLIT_CACHE``/
``MIGRATA_CACHE_DIR``; ``off`` disables the cache), else ``$XDG_CACHE_HOME/migrata``, else
``~/.cache/migrata``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .models import Script, Statement
from .settings import SPECS
from .split import split_script
from .split.transactions import decide_transaction

__all__ = [
    "DISABLED",
    "SHARD_ENTRIES",
    "SplitCache",
    "cache_folder",
    "code_fingerprint",
    "write_whole",
]

#: Values of ``split_cache`` that turn the cache off.
DISABLED = frozenset(SPECS["split_cache"].off_values)

#: The layout of the shard files; a later layout gets a new number (and new files).
_FORMAT = 1
#: The most entries a shard keeps (16 shards: some 65,000 scripts, a few dozen megabytes).
SHARD_ENTRIES = 4096


def cache_folder(setting: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The folder of the cache for the ``split_cache`` setting ``setting``: itself, or (None)
    the user's cache folder; None when the setting turns the cache off, or when it is not
    set and there is no home folder."""
    if setting is not None:
        return None if setting.strip().lower() in DISABLED else setting
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME")
    if not base:
        home = os.path.expanduser("~")
        if home.startswith("~"):
            return None  # no home folder to keep it in (a container's nobody): no cache
        base = os.path.join(home, ".cache")
    return os.path.join(base, "migrata")


@functools.cache
def code_fingerprint() -> str:
    """What identifies the code that splits, decides and reads folders: the size and time of
    migrata's ``__init__.py`` (its version), of every file of its splitters, transaction
    rules, layout readers and discovery, of pglast's, and SQLite's version. Computed once per
    process, without importing pglast."""
    import importlib.util
    import sqlite3

    package = os.path.dirname(os.path.abspath(__file__))
    parts = [f"format {_FORMAT}", f"sqlite {sqlite3.sqlite_version}"]
    files = [
        os.path.join(package, n)
        for n in ("__init__.py", "models.py", "sqltext.py", "engines.py", "discovery.py")
    ]
    backends = os.path.join(package, "backends")
    for folder in [os.path.join(package, "split"), os.path.join(package, "layouts"), backends] + [
        os.path.join(backends, n) for n in _listing(backends)
    ]:
        files += [os.path.join(folder, n) for n in _listing(folder) if n.endswith(".py")]
    try:
        spec = importlib.util.find_spec("pglast")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        files.append(spec.origin)
    for path in files:
        try:
            st = os.stat(path)
        except OSError:
            continue
        parts.append(f"{os.path.relpath(path, package)} {st.st_size} {st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _listing(folder: str) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


class SplitCache:
    """Split results on disk under ``folder`` (None: nothing is cached, every script is
    split). Never raises for the cache itself: only splitting raises (SQLSyntaxError).
    What is new is written by :meth:`flush`."""

    def __init__(self, folder: str | None) -> None:
        self.folder = folder
        #: The shards read by this process, by name: ``{key: entry}``.
        self._shards: dict[str, dict[str, Any]] = {}
        #: What this process found that the files do not hold yet, by shard.
        self._new: dict[str, dict[str, Any]] = {}
        self._writable = folder is not None

    def key(self, script: Script, dialect: str) -> str:
        """The key of ``script``'s statements for ``dialect``."""
        digest = hashlib.sha256()
        head = f"{code_fingerprint()}\0{dialect}\0{script.first_line}\0"
        digest.update(head.encode())
        digest.update(script.text.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    def split(self, script: Script, dialect: str) -> tuple[Statement, ...]:
        """The statements of ``script``, exactly as :func:`migrata.split.split_script` splits
        them (which it calls when the cache does not know the text). Raises what it raises."""
        return self.prepare(script, dialect, server_version=None, decide=False)[0]

    def prepare(
        self,
        script: Script,
        dialect: str,
        *,
        server_version: int | None,
        decide: bool = True,
    ) -> tuple[tuple[Statement, ...], Script]:
        """The statements of ``script`` and the script with its transaction decided, exactly
        as :func:`migrata.split.split_script` and :func:`~migrata.split.transactions.
        decide_transaction` find them (called when the cache does not know the answer)."""
        if self.folder is None:
            statements = split_script(script, dialect)
            if not decide:
                return statements, script
            return statements, decide_transaction(
                script, statements, dialect, server_version=server_version
            )
        key = self.key(script, dialect)
        shard = self._shard(key[0])
        entry = shard.get(key)
        found = _statements(entry, script.text) if entry is not None else None
        if entry is None or found is None:
            found = split_script(script, dialect)
            entry = {"statements": _encoded(found), "decisions": {}}
            self._store(key, entry)
        decided = script
        if decide:
            decisions: dict[str, Any] = entry["decisions"]
            question = f"{int(script.transactional)}{int(script.explicit_transaction)}"
            question += f" {server_version}"
            answer = decisions.get(question, False)
            if answer is False or not (answer is None or isinstance(answer, str)):
                made = decide_transaction(script, found, dialect, server_version=server_version)
                answer = made.transaction_note if made is not script else None
                decisions[question] = answer
                self._store(key, entry)
            if answer is not None:
                decided = replace(script, transactional=False, transaction_note=answer)
        return found, decided

    def flush(self) -> None:
        """Write what this process found to the shards it belongs in, each merged with what
        the file holds now; a folder that cannot be written is left as it is."""
        new, self._new = self._new, {}
        for name, entries in new.items():
            if not self._writable:
                return
            merged = {**self._load(name), **entries}
            for old in list(merged)[: max(0, len(merged) - SHARD_ENTRIES)]:
                del merged[old]  # the oldest first (a dict keeps the order they were added in)
            self._shards[name] = merged
            self._write(name, {"format": _FORMAT, "entries": merged})

    # -- the files --------------------------------------------------------------------------

    def _store(self, key: str, entry: dict[str, Any]) -> None:
        name = key[0]
        self._shard(name)[key] = entry
        self._new.setdefault(name, {})[key] = entry

    def _shard(self, name: str) -> dict[str, Any]:
        shard = self._shards.get(name)
        if shard is None:
            shard = self._shards[name] = self._load(name)
        return shard

    def _path(self, name: str) -> str:
        assert self.folder is not None
        return os.path.join(self.folder, f"split-{_FORMAT}", f"{name}.json")

    def _load(self, name: str) -> dict[str, Any]:
        """The entries of a shard file that look right (a damaged one holds none)."""
        try:
            with open(self._path(name), "rb") as handle:
                data = json.loads(handle.read())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            return {}
        entries = data.get("entries")
        if not isinstance(entries, dict):
            return {}
        return {
            k: e
            for k, e in entries.items()
            if isinstance(k, str)
            and k.startswith(name)
            and isinstance(e, dict)
            and isinstance(e.get("statements"), list)
            and isinstance(e.get("decisions"), dict)
        }

    def _write(self, name: str, data: dict[str, Any]) -> None:
        if not write_whole(self._path(name), json.dumps(data, separators=(",", ":")).encode()):
            self._writable = False  # read-only or full: this run caches nothing more


def write_whole(path: str, data: bytes) -> bool:
    """Write ``data`` to ``path`` whole: to a temporary file beside it, then renamed over it,
    so a reader sees the old file or the new one, never a part. False when it cannot be
    written (the folder is read-only, a file stands where it should be, the disk is full)."""
    import tempfile  # (only when something is written)

    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        name = os.path.basename(path)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    except OSError:
        return False
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        return False
    return True


def _encoded(statements: Sequence[Statement]) -> list[list[Any]]:
    return [[s.sql, s.line, s.column, s.offset] for s in statements]


def _statements(entry: dict[str, Any], text: str) -> tuple[Statement, ...] | None:
    """The statements an entry holds; None when they are not what a split of ``text`` could
    be (a damaged entry)."""
    found = []
    for item in entry["statements"]:
        if not (isinstance(item, list) and len(item) == 4):
            return None
        sql, line, column, offset = item
        if not (
            isinstance(sql, str)
            and all(type(n) is int for n in (line, column, offset))
            and 0 <= offset <= len(text)
        ):
            return None
        found.append(Statement(sql, line, column, offset))
    return tuple(found)
