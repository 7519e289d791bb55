"""Statement splitting per SQL dialect.

Every script is split before the first statement of a run executes, so a syntax error in the
last pending file fails the run while the database is still untouched.
"""

from __future__ import annotations

from ..models import Script, Statement


def split_script(script: Script, dialect: str) -> tuple[Statement, ...]:
    """Split a script into statements for ``dialect`` (``postgresql``, ``sqlite``, ``mysql`` or
    ``clickhouse``).

    Raises :class:`migrata.errors.SQLSyntaxError` with ``file:line:col`` when the text cannot
    be split.
    """
    if dialect == "postgresql":
        from .postgres import split_postgres

        return split_postgres(script)
    if dialect == "sqlite":
        from .sqlite import split_sqlite

        return split_sqlite(script)
    if dialect == "mysql":
        from .mysql import split_mysql

        return split_mysql(script)
    if dialect == "clickhouse":
        from .clickhouse import split_clickhouse

        return split_clickhouse(script)
    raise ValueError(f"no statement splitter for dialect {dialect!r}")


__all__ = ["split_script"]
