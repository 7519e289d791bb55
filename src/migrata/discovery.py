"""Find migrations in a folder or a Python package, and create new migration files.

Discovery reads files only; it never opens a database.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import AmbiguousLayout, ConfigError, DiscoveryError, DuplicateVersion, setting
from .layouts.base import DISTINCTIVE, FITS, NO, Entry, ReadResult
from .models import Migration, Script, Timeouts, Version

__all__ = ["CreatedMigration", "create_migration", "discover_migrations"]


def discover_migrations(
    directory: str | os.PathLike[str] | None = None,
    *,
    package: str | None = None,
    layout: str | None = None,
    seeds: tuple[str | os.PathLike[str], Sequence[str]] | None = None,
    cache: str | None = None,
) -> ReadResult:
    """Read every migration of a folder (or of a package's resources), sorted by version.

    The layout is detected from the folder's contents unless ``layout`` names one. ``seeds``
    is ``(folder, environments)``: a second folder whose migrations join the others, each
    limited to those environments unless its file names its own (``-- migrata:
    environments=…``). Raises ConfigError when a folder or package does not exist or the
    layout is unknown, AmbiguousLayout when the folder fits layouts that read it differently,
    DuplicateVersion when a seed has the version of a migration, and a DiscoveryError subclass
    naming the file for any file that cannot be read as a migration.

    ``cache`` is a folder (see :mod:`migrata.cache`) where the reading of a folder on disk is
    kept under the hash of everything in it (each name, and each file's bytes) and of the code
    that reads it: the files are still read and hashed every time, only what is made of them
    comes from the cache when nothing changed.
    """
    result = _discover(directory, package, layout, cache)
    if seeds is None:
        return result
    folder, environments = seeds
    if not Path(folder).is_dir():
        raise ConfigError(
            f"seeds folder {str(folder)!r} does not exist: create it, or remove seeds_dir "
            "from the settings"
        )
    seeded = _discover(folder, None, None, cache)
    return _merge_seeds(result, seeded, tuple(environments))


def _merge_seeds(main: ReadResult, seeds: ReadResult, environments: tuple[str, ...]) -> ReadResult:
    by_version = {m.version: m for m in main.migrations}
    merged = list(main.migrations)
    for seed in seeds.migrations:
        clash = by_version.get(seed.version)
        if clash is not None:
            raise DuplicateVersion(
                f"version {seed.version} is also used by {clash.up.path}; give the seed a "
                "version of its own",
                path=seed.up.path,
            )
        if seed.up.environments is None:
            seed = replace(seed, up=replace(seed.up, environments=environments))
        merged.append(seed)
    return replace(
        main,
        migrations=tuple(sorted(merged, key=lambda m: m.version)),
        ignored=main.ignored + seeds.ignored,
        warnings=main.warnings + seeds.warnings,
    )


def _discover(
    directory: str | os.PathLike[str] | None,
    package: str | None,
    layout: str | None,
    cache: str | None = None,
) -> ReadResult:
    if cache is None or package is not None:
        return _read_source(directory, package, layout)
    folder = str(Path(directory if directory is not None else "migrations"))
    key = _folder_key(folder, layout)
    if key is None:
        return _read_source(directory, package, layout)
    path = os.path.join(cache, f"folders-{_READING_FORMAT}", key + ".json")
    known = _cached_reading(path, key)
    if known is not None:
        return known
    result = _read_source(directory, package, layout)
    _store_reading(path, key, result)
    return result


def _read_source(
    directory: str | os.PathLike[str] | None, package: str | None, layout: str | None
) -> ReadResult:
    from .layouts import READERS

    base, entries = _entries(directory, package)
    if layout is not None:
        reader = READERS.get(layout)
        if reader is None:
            raise ConfigError(f"unknown layout {layout!r}; known: {', '.join(READERS)}")
        result: ReadResult = reader.read(entries)
        return result
    return detect_layout(base, entries)


def detect_layout(base: str, entries: list[Entry]) -> ReadResult:
    """Read ``entries`` with the layout they show.

    A layout with distinctive evidence (a marker line, a journal, its own naming) wins over
    those whose names merely fit. Among several distinctive ones, they must all read the folder
    the same way, or the folder is ambiguous. When names merely fit, migrata's own layout reads
    the folder (sqlx, golang-migrate and diesel folders without their special files use the
    same names and mean the same thing), and the others are listed in ``also``.
    """
    from .layouts import READERS, native

    scores = {name: int(reader.detect(entries)) for name, reader in READERS.items()}
    best = max(scores.values(), default=NO)
    if best == NO:
        return native.read(entries)
    claimants = [name for name, score in scores.items() if score == best]
    if best == FITS:
        first = native.NAME if native.NAME in claimants else claimants[0]
        result: ReadResult = READERS[first].read(entries)
        others = tuple(n for n in claimants if n != first)
        return replace(
            result, also=others, warnings=result.warnings + _order_notes(result, others, entries)
        )
    assert best == DISTINCTIVE
    readings: dict[str, ReadResult] = {}
    errors: list[tuple[str, DiscoveryError]] = []
    for name in claimants:
        try:
            readings[name] = READERS[name].read(entries)
        except DiscoveryError as exc:
            errors.append((name, exc))
    if not readings:
        if len(errors) == 1:
            raise errors[0][1]
        raise AmbiguousLayout(base, claimants, [f"{name}: {exc}" for name, exc in errors])
    rivals = [n for n, score in scores.items() if score != NO and n not in readings]
    skipping = [(n, r) for n, r in readings.items() if r.skipped]
    if rivals and skipping:
        # A layout reads the folder only by skipping files that look like migrations (its
        # tool would skip them), while another layout claims the folder: which one wrote it
        # is for its owner to say, never for migrata to guess by leaving migrations out.
        raise AmbiguousLayout(
            base,
            [*(n for n, _ in skipping), *rivals],
            differences=[
                f"{name} would run {_few([m.up.path for m in r.migrations])} and skip "
                f"{_few(list(r.skipped))}"
                for name, r in skipping
            ]
            + [f"{name}: {exc}" for name, exc in errors],
        )
    names = list(readings)
    first_reading = readings[names[0]]
    differing = [n for n in names[1:] if _shape(readings[n]) != _shape(first_reading)]
    if differing:
        raise AmbiguousLayout(base, [names[0], *differing])
    return replace(first_reading, also=tuple(names[1:]))


def _few(paths: list[str]) -> str:
    """Up to three file names, and how many more."""
    names = [p.rsplit("/", 1)[-1] for p in paths]
    shown = ", ".join(names[:3]) or "nothing"
    return shown + (f" (and {len(names) - 3} more)" if len(names) > 3 else "")


def _order_notes(
    result: ReadResult, others: tuple[str, ...], entries: list[Entry]
) -> tuple[str, ...]:
    """A warning when a layout the folder also fits would run its migrations in another order
    (diesel orders versions as text: ``10`` before ``9``)."""
    from .layouts import READERS

    notes = []
    for name in others:
        if name != "diesel":
            continue  # the others order by number, as the reading chosen does
        try:
            theirs = READERS[name].read(entries)
        except DiscoveryError:
            continue
        mine = [m.version.text for m in result.migrations]
        order = [m.version.text for m in theirs.migrations]
        if sorted(mine) == sorted(order) and mine != order:
            first = next(a for a, b in zip(mine, order, strict=True) if a != b)
            notes.append(
                f"this folder also fits {name}'s layout, which orders versions as text and "
                f"would run them in another order (from {first}); migrata reads it as its own "
                f"layout, by number: pass --layout {name} if {name} wrote it"
            )
    return tuple(notes)


def _shape(result: ReadResult) -> tuple[object, ...]:
    """What two readings must share to be the same reading."""
    return tuple(
        (
            m.version.text,
            m.name,
            m.checksum,
            m.up.transactional,
            m.down.text if m.down else None,
            m.skip_reason,
        )
        for m in result.migrations
    )


def _entries(
    directory: str | os.PathLike[str] | None, package: str | None
) -> tuple[str, list[Entry]]:
    if package is not None:
        import importlib.resources  # (only for a package: it imports much)

        try:
            root = importlib.resources.files(package)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"migrations package {package!r} cannot be imported: check the name and that "
                "the package is installed (it needs an __init__.py)"
            ) from exc
        base = Entry(root, package.replace(".", "/"))
    else:
        path = Path(directory if directory is not None else "migrations")
        if not path.is_dir():
            raise ConfigError(
                f"migrations folder {str(path)!r} does not exist: pass {setting('directory')}, or create it "
                "with `migrata new NAME`"
            )
        base = Entry(path, str(path))
    return base.path, list(base.children())


# -- the cache of folder readings ------------------------------------------------------------

#: The layout of a cached reading; a later layout gets a new number (and a new folder).
_READING_FORMAT = 2
#: How many readings the cache keeps (each folder state is one; the least used go first).
KEPT_READINGS = 32
#: How deep a folder is hashed; a deeper one (a link to itself?) is read without the cache.
_DEPTH = 16


def _folder_key(folder: str, layout: str | None) -> str | None:
    """The hash of everything a reader can see in ``folder`` — each entry's path and kind and
    each file's bytes, hidden entries aside as :meth:`Entry.children` leaves them — with the
    folder as named, the layout asked for and the code that reads it; None when the folder
    cannot be walked (it is then read without the cache, which reports why)."""
    from .cache import code_fingerprint

    digest = hashlib.sha256()
    head = f"{_READING_FORMAT}\0{code_fingerprint()}\0{folder}\0{layout}\0"
    digest.update(head.encode("utf-8", "surrogateescape"))

    def walk(path: str, depth: int) -> bool:
        if depth > _DEPTH:
            return False
        with os.scandir(path) as scan:
            found = sorted((e.name, e.is_dir()) for e in scan)
        for name, is_dir in found:
            if name.startswith(".") or name in {"__pycache__", "__init__.py"}:
                continue
            child = os.path.join(path, name)
            digest.update(f"{'d' if is_dir else 'f'}\0{name}\0".encode("utf-8", "surrogateescape"))
            if is_dir:
                if not walk(child, depth + 1):
                    return False
                digest.update(b"\0end\0")
            else:
                data = _read_whole(child)
                digest.update(f"{len(data)}\0".encode())
                digest.update(data)
        return True

    try:
        if not os.path.isdir(folder) or not walk(folder, 0):
            return None
    except OSError:
        return None
    return digest.hexdigest()


#: Windows translates line ends of files opened without it.
_BINARY = getattr(os, "O_BINARY", 0)


def _read_whole(path: str) -> bytes:
    """The bytes of the file at ``path``. (Without a file object: a thousand files are read
    in half the time ``open().read()`` takes.) Raises OSError."""
    fd = os.open(path, os.O_RDONLY | _BINARY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _cached_reading(path: str, key: str) -> ReadResult | None:
    """The reading stored at ``path`` for ``key``; None when there is none, or when the file
    is not exactly what :func:`_store_reading` wrote (its digest of the reading differs)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    body = _stored_body(data, key)
    if body is None:
        return None  # missing, or damaged: read the folder, and write it again
    try:
        result = _decoded(json.loads(body))
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    try:
        os.utime(path)  # (the least used readings are dropped first)
    except OSError:
        pass
    return result


def _stored_body(data: bytes, key: str) -> bytes | None:
    """The reading's JSON text of a file :func:`_store_reading` wrote for ``key``, when its
    SHA-256 is the one written before it; else None. A reading that passes was written whole
    by this code for these bytes (the key holds the code's fingerprint), so it is decoded
    without checking each field again."""
    head = b'{"key":"' + key.encode("ascii") + b'","digest":"'
    if not data.startswith(head) or not data.endswith(b"}"):
        return None
    digest = data[len(head) : len(head) + 64]
    rest = len(head) + 64
    if data[rest : rest + len(_BODY)] != _BODY:
        return None
    body = data[rest + len(_BODY) : -1]
    if hashlib.sha256(body).hexdigest().encode("ascii") != digest:
        return None
    return body


#: What stands between the digest and the reading in a stored file.
_BODY = b'","reading":'


def _store_reading(path: str, key: str, result: ReadResult) -> None:
    from .cache import write_whole

    body = json.dumps(_encoded(result), separators=(",", ":")).encode("ascii")
    digest = hashlib.sha256(body).hexdigest()
    data = b'{"key":"' + key.encode("ascii") + b'","digest":"' + digest.encode() + _BODY
    if not write_whole(path, data + body + b"}"):
        return
    folder = os.path.dirname(path)
    try:
        with os.scandir(folder) as scan:
            kept = [(e.stat().st_mtime, e.path) for e in scan if e.name.endswith(".json")]
        for _, old in sorted(kept)[: max(0, len(kept) - KEPT_READINGS)]:
            os.unlink(old)
    except OSError:
        pass  # (another run pruned it first)


def _encoded(result: ReadResult) -> dict[str, Any]:
    def version(v: Version) -> list[Any]:
        return [v.text, list(v.key), v.is_repeatable, v.textual, _list(v.rank)]

    def script(s: Script | None) -> list[Any] | None:
        if s is None:
            return None
        t = s.timeouts
        return [
            s.path,
            s.text,
            s.transactional,
            s.first_line,
            s.explicit_transaction,
            s.transaction_note,
            _list(s.environments),
            [t.statement, t.migration, t.lock],
            _list(s.squashes),
        ]

    return {
        "layout": result.layout,
        "migrations": [
            [
                version(m.version),
                m.name,
                script(m.up),
                script(m.down),
                m.checksum,
                m.skip_reason,
                [list(pair) for pair in m.source_info],
                m.down_refusal,
            ]
            for m in result.migrations
        ],
        "ignored": list(result.ignored),
        "warnings": list(result.warnings),
        "also": list(result.also),
        "skipped": list(result.skipped),
    }


def _decoded(data: dict[str, Any]) -> ReadResult:
    """The reading :func:`_encoded` wrote (as JSON: lists where it had tuples). The caller
    checked that the text is the one written (see :func:`_stored_body`): nothing is checked
    here but the shape; raises TypeError, ValueError, KeyError or IndexError when it is not
    the shape written."""
    no_limits = Timeouts()

    def version(v: list[Any]) -> Version:
        text, key, repeatable, textual, rank = v
        return Version(text, tuple(key), repeatable, textual, None if rank is None else tuple(rank))

    def script(s: list[Any] | None) -> Script | None:
        if s is None:
            return None
        path, body, transactional, first_line, explicit, note, envs, limits, squashes = s
        statement, migration, lock = limits
        if statement is None and migration is None and lock is None:
            timeouts = no_limits  # (the same value: one object for every script without)
        else:
            timeouts = Timeouts(statement, migration, lock)
        return Script(
            path,
            body,
            transactional,
            first_line,
            explicit,
            note,
            None if envs is None else tuple(envs),
            timeouts,
            None if squashes is None else (squashes[0], squashes[1]),
        )

    migrations = []
    for v, name, up, down, checksum_, skip, info, refusal in data["migrations"]:
        up_script = script(up)
        if up_script is None:
            raise ValueError("no up script")
        migrations.append(
            Migration(
                version(v),
                name,
                up_script,
                script(down),
                checksum_,
                skip,
                tuple((p[0], p[1]) for p in info),
                refusal,
            )
        )
    return ReadResult(
        layout=data["layout"],
        migrations=tuple(migrations),
        ignored=tuple(data["ignored"]),
        warnings=tuple(data["warnings"]),
        also=tuple(data["also"]),
        skipped=tuple(data["skipped"]),
    )


def _list(value: tuple[Any, ...] | None) -> list[Any] | None:
    return None if value is None else list(value)


@dataclass(frozen=True, slots=True)
class CreatedMigration:
    version: str
    paths: tuple[str, ...]


_TEMPLATE_UP = "-- {name}: up\n"
_TEMPLATE_DOWN = (
    "-- {name}: down. Write the SQL that undoes up; until then `migrata down` refuses to\n"
    "-- revert this migration (--allow-empty-down if there is really nothing to undo).\n"
)
#: Single-file layouts get both sections; an empty down section means "no down".
_SECTIONED = {
    "dbmate": "-- migrate:up\n\n\n-- migrate:down\n\n",
    "goose": "-- +goose Up\n\n\n-- +goose Down\n\n",
}


def create_migration(
    directory: str | os.PathLike[str],
    name: str,
    *,
    sequential: bool | None = None,
    down: bool = False,
    now: datetime | None = None,
) -> CreatedMigration:
    """Write the file(s) of a new migration, following the folder's existing style.

    ``sequential=None`` continues what the folder does (timestamps for an empty folder).
    Never overwrites: an existing version or file raises DiscoveryError.
    """
    from .layouts import native

    slug = re.sub(r"[^A-Za-z0-9]+", "_", name.strip()).strip("_").lower()
    if not slug:
        raise ConfigError(f"migration name {name!r} has no letters or digits")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    layout = discover_migrations(folder).layout
    template = _SECTIONED.get(layout)
    if template is None and layout != native.NAME:
        raise ConfigError(
            f"{folder} is a {layout} folder: name its new migrations the way {layout} does "
            "(`migrata new` writes migrata, dbmate and goose files)"
        )
    existing: Sequence[Migration] = discover_migrations(folder, layout=layout).migrations
    style = _style(folder, existing)
    use_sequential = style.sequential if sequential is None else sequential
    taken = {m.version.number for m in existing}
    if use_sequential:
        if existing and not style.sequential:
            raise ConfigError(
                f"{folder} numbers its migrations with timestamps: a sequential version would "
                "sort before all of them; drop --sequential"
            )
        numbers = [m.version.number or 0 for m in existing]
        width = max((len(m.version.text) for m in existing), default=4)
        version = str((max(numbers) if numbers else 0) + 1).zfill(width)
    else:
        moment = (now or datetime.now(UTC)).replace(microsecond=0)
        fmt = "%Y-%m-%d-%H%M%S" if style.dashed else "%Y%m%d%H%M%S"
        while True:
            version = moment.strftime(fmt)
            if int(version.replace("-", "")) not in taken:
                break
            moment += timedelta(seconds=1)
    with_down = down or style.always_down
    stem = f"{version}_{slug}"
    if template is not None:
        files = [(folder / f"{stem}.sql", template)]
    elif style.shape == "folder":
        target = folder / stem
        files = [(target / "up.sql", _TEMPLATE_UP)]
        if with_down:
            files.append((target / "down.sql", _TEMPLATE_DOWN))
    elif with_down:
        files = [
            (folder / f"{stem}.up.sql", _TEMPLATE_UP),
            (folder / f"{stem}.down.sql", _TEMPLATE_DOWN),
        ]
    else:
        files = [(folder / f"{stem}.sql", _TEMPLATE_UP)]
    for path, _ in files:
        if path.exists():
            raise DiscoveryError("already exists; migrata never overwrites", path=str(path))
    for path, template in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8", newline="\n") as handle:
            handle.write(template.format(name=stem))
    return CreatedMigration(version=version, paths=tuple(str(p) for p, _ in files))


@dataclass(frozen=True, slots=True)
class _Style:
    sequential: bool
    dashed: bool
    shape: str  # file | pair | folder
    always_down: bool


def _style(folder: Path, existing: Sequence[Migration]) -> _Style:
    if not existing:
        return _Style(sequential=False, dashed=False, shape="file", always_down=False)
    latest = existing[-1]
    sequential = (latest.version.number or 0) < 10**8
    dashed = "-" in latest.version.text
    up_path = Path(latest.up.path)
    if up_path.name == "up.sql":
        shape = "folder"
    elif up_path.name.endswith(".up.sql"):
        shape = "pair"
    else:
        shape = "file"
    always_down = shape == "pair" or (shape == "folder" and latest.down is not None)
    return _Style(sequential=sequential, dashed=dashed, shape=shape, always_down=always_down)
