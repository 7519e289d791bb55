"""``migrata squash --to VERSION``: the migrations up to VERSION replaced by one baseline file
holding the schema they build, made in a scratch database.

The baseline takes VERSION's place and says which versions it replaces
(``-- migrata: squashes=FIRST..VERSION``): a database that applied them sees the baseline as
applied (their history rows are its history), a new one runs it. Only migrata's own layout is
rewritten; the files are removed only once the baseline is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .check import scratch_migrator
from .errors import ConfigError, UnknownVersion
from .settings import Settings

__all__ = ["Squash", "squash_migrations"]


@dataclass(frozen=True, slots=True)
class Squash:
    """What ``squash`` wrote (or would write, with ``dry_run``): the baseline's path and
    text, and the files it replaced."""

    baseline: str
    text: str
    removed: tuple[str, ...]
    first: str
    last: str
    dry_run: bool = False


def squash_migrations(
    settings: Settings, to: str, *, dev_url: str | None = None, dry_run: bool = False
) -> Squash:
    """Replace the migrations up to ``to`` with one baseline (see the module docstring).

    Raises UnknownVersion for ``to``, ConfigError for a folder that is not migrata's own
    layout, a range holding seed migrations, repeatable ones or an earlier baseline, or an
    engine that cannot write its schema as SQL; nothing is changed then."""
    with scratch_migrator(settings, dev_url, "squash") as (migrator, _url):
        source = migrator.discover()
        if source.layout != "migrata":
            raise ConfigError(
                f"squash rewrites migrata's own layout; this folder is read as {source.layout}: "
                "keep its tool's files, or move to migrata's layout first"
            )
        versioned = [m for m in source.migrations if not m.repeatable]
        upto = [i for i, m in enumerate(versioned) if m.version.names(to)]
        if not upto:
            raise UnknownVersion(to)
        chosen = versioned[: upto[0] + 1]
        odd = [
            f"{m.version}_{m.name}"
            for m in chosen
            if m.environments is not None or m.up.squashes is not None
        ]
        if odd:
            raise ConfigError(
                f"squash --to {to} would take in {', '.join(odd)} (seed data, or an earlier "
                "baseline that is not the first file): squash up to the version before it"
            )
        migrator.up(to=chosen[-1].version.text)
        sql = migrator.schema_sql()
    first, last = chosen[0].version.text, chosen[-1].version.text
    folder = os.path.abspath(settings.source.directory)
    baseline = os.path.join(folder, f"{last}_squashed.sql")
    text = (
        f"-- migrata: squashes={first}..{last}\n"
        f"-- The schema that migrations {first} to {last} built, written by "
        f"`migrata squash --to {last}`.\n"
        "-- A database that applied them sees this file as applied; a new one runs it.\n\n" + sql
    )
    removed = tuple(
        path for m in chosen for path in (m.up.path, m.down.path if m.down else None) if path
    )
    if not dry_run:
        with open(baseline + ".tmp", "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        for path in removed:
            os.remove(path)
            holder = os.path.dirname(path)
            if os.path.abspath(holder) != folder and not os.listdir(holder):
                os.rmdir(holder)  # a migration's own folder (0001_x/up.sql)
        os.replace(baseline + ".tmp", baseline)
    return Squash(baseline, text, removed, first, last, dry_run)
