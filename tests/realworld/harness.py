"""One corpus, run twice: by the plain client in its tool's order (the baseline) and by the
``migrata`` command, on two fresh databases; each phase's outcome is judged here.

Phases: ``up`` (every migration), ``down`` (``migrata down --all`` against every down in reverse
order) and ``re-up`` (``migrata up`` again against the ups of what was reverted). After each
phase both schemas are dumped and compared. A phase is accepted when:

- both sides succeed and the schemas are identical ("ok");
- both fail at the same migration V (the client exits non-zero on V; migrata exits 1 and names
  V) and the schemas after the failure are identical ("failed at V (both)"); the later phases
  are not run;
- (``down`` only) migrata refuses before running anything (exit 3, schema unchanged) while some
  migration of the phase has no usable down: no down file or section, one without SQL, or a
  down the client fails on. The newest such migration is V; then ``migrata down --to V`` runs
  against the baseline reverting only what is above V, and ``re-up`` follows. If migrata
  refuses that too (exit 3, schema unchanged), the refusal is accepted and ``re-up`` skipped.

The baseline's downs: a missing down file or section stops it (there is nothing to run); a down
file or section without SQL is run as the tools run it, as a no-op that succeeds.

Anything else is a difference. Before ``up``, migrata's reading of the folder (``migrata status
--json``) is checked too: the layout it detects, the order of the migrations (matched by file)
and their transaction flags; a disagreement is a difference of the ``up`` phase.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .baseline import BaselineMigration
from .corpora import Corpus
from .engines import Database

#: The layout migrata reads a folder with when several tools' names merely fit it.
NATIVE_LAYOUT = "migrata"

#: Exit codes of the ``migrata`` command (documented in migrata.exitcodes).
EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 3

MIGRATA_TIMEOUT = 600
DIFF_LINES = 80


def shorten(message: str, width: int = 40) -> str:
    """``message`` without migrata's ``migrata: error:`` prefix, cut to ``width`` characters."""
    text = message.removeprefix("migrata: error:").strip()
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True, slots=True)
class MigrataRun:
    """One ``migrata`` command and what it printed (password already removed)."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def message(self) -> str:
        """migrata's error line, else the first line it printed on stderr (or stdout)."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        for line in lines:
            if "error:" in line:
                return line
        lines += [line.strip() for line in self.stdout.splitlines() if line.strip()]
        return lines[0] if lines else ""

    def describe(self) -> str:
        return f"`migrata {' '.join(self.args)}` exited {self.returncode}: {self.message}"


@dataclass(frozen=True, slots=True)
class BaselineStop:
    """Where the baseline stopped: the client failed on ``migration`` ("failed"), or the
    migration has no down SQL ("no down")."""

    migration: BaselineMigration
    reason: str
    output: str = ""

    def describe(self, direction: str) -> str:
        if self.reason == "no down":
            return f"the baseline has no down for {self.migration.version}"
        last = self.output.strip().splitlines()[-1:] or [""]
        return f"the client fails on the {direction} of {self.migration.version}: {last[0]}"


@dataclass(frozen=True, slots=True)
class Difference:
    """A phase whose outcome is not one of the accepted ones."""

    phase: str
    summary: str
    detail: str = ""

    def render(self) -> str:
        text = f"[{self.phase}] {self.summary}"
        return f"{text}\n{self.detail}" if self.detail else text


class Baseline:
    """The plain client applying and reverting a corpus in its tool's order."""

    def __init__(self, db: Database, migrations: list[BaselineMigration]) -> None:
        self.db = db
        self.migrations = migrations
        #: The applied migrations, in the tool's order.
        self.applied: list[BaselineMigration] = []

    def up(self) -> BaselineStop | None:
        """Apply every migration not applied yet, in the tool's order; stop at a failure."""
        done = {id(m) for m in self.applied}
        for migration in self.migrations:
            if id(migration) in done:
                continue
            run = self.db.run_sql(migration.up_sql, transactional=migration.transactional)
            if not run.ok:
                return BaselineStop(migration, "failed", run.output)
            self.applied.append(migration)
        return None

    def down(self, keep: BaselineMigration | None = None) -> BaselineStop | None:
        """Revert the applied migrations newest first, down to (not including) ``keep``; stop
        at a migration without a down file or section, or whose down fails. A down without
        SQL sends nothing, as the tools do."""
        while self.applied and self.applied[-1] is not keep:
            migration = self.applied[-1]
            if not migration.has_down:
                return BaselineStop(migration, "no down")
            if migration.down_sql is not None:
                run = self.db.run_sql(
                    migration.down_sql, transactional=migration.down_transactional
                )
                if not run.ok:
                    return BaselineStop(migration, "failed", run.output)
            self.applied.pop()
        return None

    def rebuild(self, keep: BaselineMigration) -> None:
        """Start again on an empty database: apply everything, then revert what is above
        ``keep`` (the old one went past ``keep``, or a failed down may have left part of its
        work behind)."""
        self.db.recreate()
        self.applied.clear()
        stop = self.up()
        if stop is None:
            stop = self.down(keep)
        if stop is not None:
            raise AssertionError(f"rebuilding the baseline: {stop.describe('migration')}")


class CorpusRun:
    """Both sides of one corpus, phase by phase; fills ``cells`` and ``differences``."""

    def __init__(
        self,
        corpus: Corpus,
        migrations: list[BaselineMigration],
        baseline_db: Database,
        migrata_db: Database,
        workdir: Path,
    ) -> None:
        self.corpus = corpus
        self.migrations = migrations
        self.baseline = Baseline(baseline_db, migrations)
        self.baseline_db = baseline_db
        self.migrata_db = migrata_db
        self.workdir = workdir
        #: migrata's version of each migration, by the resolved path of its up file.
        self.versions: dict[Path, str] = {}
        #: How migrata reads the folder, when it is not simply the MANIFEST's layout.
        self.layout_note = ""
        self.cells: dict[str, str] = {}
        self.differences: list[Difference] = []

    # --- running -------------------------------------------------------------------------------

    def migrata(self, *args: str) -> MigrataRun:
        """Run the ``migrata`` command on this corpus and migrata's database, as a user would.

        The URL goes in MIGRATA_DATABASE_URL rather than ``-u`` so that a password is never on
        a command line; other MIGRATA_* settings of the caller's environment are left out, and
        the working directory holds no config file.
        """
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("MIGRATA_") and k != "DATABASE_URL"
        }
        env["MIGRATA_DATABASE_URL"] = self.migrata_db.url
        command = [sys.executable, "-m", "migrata", "-d", str(self.corpus.folder), *args]
        done = subprocess.run(
            command,
            env=env,
            cwd=self.workdir,
            capture_output=True,
            timeout=MIGRATA_TIMEOUT,
            check=False,
        )
        scrub = self.migrata_db.scrub
        return MigrataRun(
            tuple(args),
            done.returncode,
            scrub(done.stdout.decode("utf-8", "replace")),
            scrub(done.stderr.decode("utf-8", "replace")),
        )

    def run(self) -> None:
        """Every phase, until one ends the run."""
        for phase in (self.phase_up, self.phase_down, self.phase_re_up):
            if not phase():
                return

    # --- judging -------------------------------------------------------------------------------

    def compare(self) -> str | None:
        """None when both schemas are identical, else a unified diff (baseline → migrata)
        trimmed to DIFF_LINES lines."""
        theirs = self.baseline_db.dump_schema()
        ours = self.migrata_db.dump_schema()
        if theirs == ours:
            return None
        diff = list(
            difflib.unified_diff(
                theirs.splitlines(), ours.splitlines(), "baseline", "migrata", lineterm="", n=2
            )
        )
        if len(diff) > DIFF_LINES:
            diff = diff[:DIFF_LINES] + [f"... ({len(diff) - DIFF_LINES} more lines of diff)"]
        return "\n".join(diff)

    def differ(self, phase: str, summary: str, detail: str = "") -> bool:
        """Record a difference; returns False (the run stops)."""
        self.differences.append(Difference(phase, summary, detail))
        self.cells.setdefault(phase, f"DIFF: {summary}")
        return False

    def settle(self, phase: str, label: str) -> bool:
        """Both sides ended the same way: the schemas must be identical too."""
        diff = self.compare()
        if diff is not None:
            return self.differ(phase, f"{label}, but the schemas differ", diff)
        self.cells.setdefault(phase, label)
        return True

    def version_of(self, migration: BaselineMigration) -> str:
        """migrata's version of ``migration`` (as ``status`` shows it)."""
        return self.versions.get(migration.up_path.resolve(), migration.version)

    def names(self, run: MigrataRun, migration: BaselineMigration) -> bool:
        """Whether migrata's stderr names ``migration`` (its version or one of its files);
        stdout is left out, as it lists the migrations that did succeed."""
        for name in {*migration.names, self.version_of(migration)}:
            if re.search(rf"(?<![\w.\-]){re.escape(name)}(?![\w\-]|\.\w)", run.stderr):
                return True
        return False

    def outcomes(self, stop: BaselineStop | None, run: MigrataRun, direction: str) -> str:
        theirs = "the baseline succeeds" if stop is None else stop.describe(direction)
        return f"{theirs}; {run.describe()}"

    # --- reading -------------------------------------------------------------------------------

    @staticmethod
    def reading(status: dict[str, Any]) -> list[tuple[str, str, bool]]:
        """(version, resolved up path, transactional) of each migration, in migrata's order."""
        return [
            (str(m["version"]), str(Path(m["path"]).resolve()), bool(m["transactional"]))
            for m in status["migrations"]
        ]

    def check_reading(self) -> None:
        """migrata's reading of the folder against the tool's: layout, order, transactions."""
        run = self.migrata("status", "--json")
        if run.returncode != EXIT_OK:
            self.differ("up", f"migrata cannot read the folder: {run.describe()}")
            return
        status = json.loads(run.stdout)
        ours = self.reading(status)
        layout = status.get("layout")
        if layout != self.corpus.layout:
            if layout == NATIVE_LAYOUT and self.corpus.layout in status.get("layout_also", []):
                # The names fit several layouts and migrata reads them as its own: that must be
                # exactly the reading of the MANIFEST's layout.
                explicit = self.migrata("--layout", self.corpus.layout, "status", "--json")
                if explicit.returncode != EXIT_OK:
                    self.differ("up", f"--layout {self.corpus.layout}: {explicit.describe()}")
                elif self.reading(json.loads(explicit.stdout)) != ours:
                    self.differ(
                        "up",
                        f"read as {layout!r}, which differs from --layout {self.corpus.layout}",
                    )
                else:
                    self.layout_note = f"read as {layout}"
            else:
                self.differ(
                    "up", f"migrata detects layout {layout!r}, MANIFEST says {self.corpus.layout!r}"
                )
        self.versions = {Path(path): version for version, path, _ in ours}
        tool = [str(m.up_path.resolve()) for m in self.migrations]
        mine = [path for _, path, _ in ours]
        if tool != mine:
            at = next(
                (i for i, (a, b) in enumerate(zip(tool, mine, strict=False)) if a != b),
                min(len(tool), len(mine)),
            )
            self.differ(
                "up",
                f"migrata's order differs from the tool's at position {at + 1}",
                f"tool:    {[Path(p).name for p in tool[at : at + 3]]}\n"
                f"migrata: {[Path(p).name for p in mine[at : at + 3]]}\n"
                f"({len(tool)} migrations for the tool, {len(mine)} for migrata)",
            )
        flags = {path: transactional for _, path, transactional in ours}
        wrong = [
            f"{m.version}: tool {m.transactional}, migrata {flags[str(m.up_path.resolve())]}"
            for m in self.migrations
            if flags.get(str(m.up_path.resolve()), m.transactional) != m.transactional
        ]
        if wrong:
            self.differ("up", "transaction flags differ", "\n".join(wrong))

    # --- phases --------------------------------------------------------------------------------

    def apply(self, phase: str) -> bool:
        """``up`` and ``re-up``: the pending ups on both sides."""
        stop = self.baseline.up()
        run = self.migrata("up")
        if stop is None and run.returncode == EXIT_OK:
            return self.settle(phase, "ok")
        if (
            stop is not None
            and stop.reason == "failed"
            and run.returncode == EXIT_FAILED
            and self.names(run, stop.migration)
        ):
            self.settle(phase, f"failed at {stop.migration.version} (both)")
            return False
        return self.differ(phase, "the outcomes differ", self.outcomes(stop, run, "up"))

    def phase_up(self) -> bool:
        self.check_reading()
        return self.apply("up")

    def phase_re_up(self) -> bool:
        return self.apply("re-up")

    def phase_down(self) -> bool:
        before = self.migrata_db.dump_schema()
        applied = list(self.baseline.applied)
        stop = self.baseline.down()
        run = self.migrata("down", "--all")
        if stop is None and run.returncode == EXIT_OK:
            return self.settle("down", "ok")
        if (
            stop is not None
            and stop.reason == "failed"
            and run.returncode == EXIT_FAILED
            and self.names(run, stop.migration)
        ):
            self.settle("down", f"failed at {stop.migration.version} (both)")
            return False
        keep = self.newest_unusable(applied, stop)
        if keep is not None and run.returncode == EXIT_REFUSED:
            if self.migrata_db.dump_schema() != before:
                return self.differ(
                    "down", "migrata refused (exit 3) but changed the schema", run.describe()
                )
            if not (stop is not None and stop.reason == "no down" and stop.migration is keep):
                # The baseline went past ``keep`` (a down without SQL) or failed on it.
                self.baseline.rebuild(keep)
            return self.partial_down(keep, f"refused: {shorten(run.message)}")
        return self.differ("down", "the outcomes differ", self.outcomes(stop, run, "down"))

    @staticmethod
    def newest_unusable(
        applied: list[BaselineMigration], stop: BaselineStop | None
    ) -> BaselineMigration | None:
        """The newest of ``applied`` without a usable down: no down SQL, or the one the
        baseline's down stopped at."""
        for migration in reversed(applied):
            if migration.down_sql is None or (stop is not None and migration is stop.migration):
                return migration
        return None

    def partial_down(self, keep: BaselineMigration, refused: str) -> bool:
        """Revert what can be reverted: everything above ``keep``, the newest migration without
        a usable down, on both sides (the baseline is there already)."""
        before = self.migrata_db.dump_schema()
        target = self.version_of(keep)
        run = self.migrata("down", "--to", target)
        label = f"{refused} | --to {keep.version}"
        if run.returncode == EXIT_OK:
            return self.settle("down", f"{label}: ok")
        if run.returncode == EXIT_REFUSED and self.migrata_db.dump_schema() == before:
            self.cells["down"] = f"{label}: refused: {shorten(run.message)}"
            self.cells["re-up"] = "skipped (down --to refused)"
            return False
        return self.differ(
            "down",
            f"`down --to {target}` differs",
            f"the baseline reverts what is above {keep.version}; {run.describe()}",
        )
