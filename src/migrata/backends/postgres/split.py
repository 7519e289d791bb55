"""PostgreSQL statements, split by PostgreSQL's own parser (pglast wraps libpg_query).

Dollar quotes with tags, ``E''`` strings, nested ``/* */`` comments and ``BEGIN ATOMIC`` bodies
are all handled by the real grammar, not by a hand-written scanner.
"""

from __future__ import annotations

from ...errors import MissingDriver, SQLSyntaxError
from ...models import Script, Statement
from ...sqltext import LineIndex


def split_postgres(script: Script) -> tuple[Statement, ...]:
    try:
        from pglast import parser  # heavy C extension: imported only when a script is split
    except ImportError as exc:
        raise MissingDriver("PostgreSQL statement splitting", "pglast", "postgres") from exc

    text = script.text
    try:
        slices = parser.split(text, only_slices=True)
    except parser.ParseError as exc:
        message, offset = _parse_error(exc)
        if offset < 0:
            offset = len(text.rstrip())
        line, column = LineIndex(text, script.first_line).position(min(offset, len(text)))
        raise SQLSyntaxError(
            f"{message}; fix the SQL (nothing was run)",
            path=script.path,
            line=line,
            column=column,
        ) from exc
    index = LineIndex(text, script.first_line)
    statements = []
    for piece in slices:
        line, column = index.position(piece.start)
        statements.append(Statement(text[piece], line, column, piece.start))
    return tuple(statements)


def _parse_error(exc: Exception) -> tuple[str, int]:
    args: tuple[object, ...] = tuple(getattr(exc, "args", ()))
    message = str(args[0]) if args else str(exc)
    if len(args) > 1 and isinstance(args[1], int):
        return message, max(args[1], 0)
    # "syntax error at end of input" comes without a position: it is at the end.
    return message, -1
