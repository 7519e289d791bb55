"""Where the corpora are, what MANIFEST.tsv says about them, and the accepted differences.

The corpora folder is ``MIGRATA_CORPORA`` (a relative path is taken from the project root),
by default ``../shared/corpora`` from the project root. The suite never copies a corpus file:
every test reads the corpus in place.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXPECTED_DIFFERENCES = Path(__file__).with_name("expected_differences.toml")

#: The phases of a corpus's run, in order; also the ``phase`` values of expected differences.
PHASES = ("up", "down", "re-up")

REQUIRE_CORPORA = os.environ.get("MIGRATA_REQUIRE_CORPORA", "") not in {"", "0", "false"}


def corpora_dir() -> Path:
    """The corpora folder (it may not exist)."""
    configured = Path(os.environ.get("MIGRATA_CORPORA", "../shared/corpora"))
    return (PROJECT_ROOT / configured).resolve()


@dataclass(frozen=True, slots=True)
class Corpus:
    """One line of MANIFEST.tsv."""

    name: str
    dialect: str
    layout: str
    repo: str
    commit: str
    path: str
    license: str
    migrations_count: int
    folder: Path


def load_manifest(folder: Path) -> list[Corpus]:
    """The corpora listed in ``folder/MANIFEST.tsv`` (``#`` lines are comments)."""
    corpora = []
    text = (folder / "MANIFEST.tsv").read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 8:
            raise ValueError(f"MANIFEST.tsv line {number}: {len(fields)} columns, expected 8")
        name, dialect, layout, repo, commit, path, license_, count = fields
        corpora.append(
            Corpus(name, dialect, layout, repo, commit, path, license_, int(count), folder / name)
        )
    return corpora


@dataclass(frozen=True, slots=True)
class ExpectedDifference:
    """A difference between migrata and a corpus's tool with a known upstream cause."""

    corpus: str
    phase: str
    cause: str


def load_expected_differences(path: Path = EXPECTED_DIFFERENCES) -> list[ExpectedDifference]:
    """The ``[[difference]]`` entries of ``expected_differences.toml``; raises ValueError for
    an entry that is not well formed (unknown key, unknown phase, empty cause, duplicate)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(data) - {"difference"}
    if unknown:
        raise ValueError(f"{path.name}: unknown top-level keys {sorted(unknown)}")
    entries = []
    seen = set()
    for number, entry in enumerate(data.get("difference", []), 1):
        if set(entry) != {"corpus", "phase", "cause"}:
            raise ValueError(
                f"{path.name}: entry {number} needs exactly corpus, phase and cause; "
                f"has {sorted(entry)}"
            )
        if entry["phase"] not in PHASES:
            raise ValueError(f"{path.name}: entry {number}: phase must be one of {PHASES}")
        if not str(entry["cause"]).strip():
            raise ValueError(f"{path.name}: entry {number}: the cause is empty")
        key = (entry["corpus"], entry["phase"])
        if key in seen:
            raise ValueError(f"{path.name}: entry {number} repeats {key}")
        seen.add(key)
        entries.append(ExpectedDifference(entry["corpus"], entry["phase"], entry["cause"]))
    return entries
