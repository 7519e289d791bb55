"""The real-world suite's results table: one line per corpus.

Each ``test_corpus[...]`` records its row twice: as a user property of its test report (which
pytest-xdist carries to the controlling process, where the root conftest prints the table at
the end of the session) and in pytest's cache. To print the last results again::

    python tests/realworld/report.py

This file uses the standard library only, so that it runs as a script.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path

#: The name of the user property that carries a row.
ROW_PROPERTY = "realworld_row"
#: The pytest cache key prefix of the rows (``config.cache.set(f"{CACHE_PREFIX}/<corpus>")``).
CACHE_PREFIX = "realworld/rows"

COLUMNS = ("corpus", "layout", "migrations", "up", "down", "re-up", "seconds")
CELL_WIDTH = 80


def _cell(value: object) -> str:
    text = f"{value:.1f}" if isinstance(value, float) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def render_table(rows: Iterable[dict[str, object]]) -> list[str]:
    """The table's lines: a header, then one line per corpus in name order, then a total."""
    ordered = sorted(rows, key=lambda row: str(row.get("corpus", "")))
    cells = [[_cell(row.get(column, "")) for column in COLUMNS] for row in ordered]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(COLUMNS)]
    numeric = {"migrations", "seconds"}

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if c in numeric else v.ljust(w)
            for c, v, w in zip(COLUMNS, values, widths, strict=True)
        ).rstrip()

    lines = [line(list(COLUMNS)), line(["-" * w for w in widths])]
    lines += [line(r) for r in cells]
    total = sum(float(str(row.get("seconds") or 0)) for row in ordered)
    lines.append(f"{len(ordered)} corpora, {total:.1f} s in the corpus tests")
    return lines


def read_cached_rows(cache_dir: Path) -> list[dict[str, object]]:
    """The rows the last runs left in pytest's cache folder ``cache_dir``."""
    folder = cache_dir / "v" / CACHE_PREFIX
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*"))]


def main() -> int:
    root = Path(__file__).resolve().parents[2]
    rows = read_cached_rows(root / ".pytest_cache")
    if not rows:
        print("no results yet: run `pytest tests/realworld` first", file=sys.stderr)
        return 1
    print("\n".join(render_table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
