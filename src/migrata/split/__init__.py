"""Statement splitting per SQL dialect.

Every script is split before the first statement of a run executes, so a syntax error in the
last pending file fails the run while the database is still untouched. Each engine's splitter
lives in its package (``migrata.backends.<engine>.split``), found through
:mod:`migrata.engines`; this is the entry point.
"""

from __future__ import annotations

from ..engines import engine_named
from ..models import Script, Statement


def split_script(script: Script, dialect: str) -> tuple[Statement, ...]:
    """Split a script into statements for ``dialect`` (an engine's name: ``postgresql``,
    ``sqlite``, ``mysql``, ``clickhouse``…).

    Raises :class:`migrata.errors.SQLSyntaxError` with ``file:line:col`` when the text cannot
    be split, ValueError for an unknown dialect.
    """
    try:
        engine = engine_named(dialect)
    except LookupError:
        raise ValueError(f"no statement splitter for dialect {dialect!r}") from None
    return engine.split(script)


__all__ = ["split_script"]
