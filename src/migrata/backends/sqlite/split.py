"""SQLite statements, split with SQLite's own tokenizer (``sqlite3.complete_statement``).

A candidate ends at each ``;``; it is a statement once SQLite says it is complete, which keeps
semicolons inside strings, comments and ``CREATE TRIGGER … BEGIN … END`` bodies together.
"""

from __future__ import annotations

import re
import sqlite3

from ...errors import SQLSyntaxError
from ...models import Script, Statement
from ...sqltext import LineIndex

_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)


def split_sqlite(script: Script) -> tuple[Statement, ...]:
    text = script.text
    index = LineIndex(text, script.first_line)
    statements: list[Statement] = []
    start = 0
    position = text.find(";")
    while position != -1:
        candidate = text[start : position + 1]
        if sqlite3.complete_statement(candidate):
            _append(statements, text, start, position + 1, index)
            start = position + 1
        position = text.find(";", position + 1)
    rest = text[start:]
    if _content_start(rest) < len(rest):
        if not sqlite3.complete_statement(rest + "\n;"):
            line, column = index.position(start + _content_start(rest))
            raise SQLSyntaxError(
                "unterminated statement (an open string, comment or BEGIN … END block); "
                "fix the SQL (nothing was run)",
                path=script.path,
                line=line,
                column=column,
            )
        _append(statements, text, start, len(text), index)
    return tuple(statements)


def _content_start(chunk: str) -> int:
    match = _LEADING_NOISE.match(chunk)
    return match.end() if match else 0


def _append(statements: list[Statement], text: str, start: int, end: int, index: LineIndex) -> None:
    chunk = text[start:end]
    skip = _content_start(chunk)
    body = chunk[skip:].rstrip()
    if body.endswith(";"):
        body = body[:-1].rstrip()
    if not body:
        return
    line, column = index.position(start + skip)
    statements.append(Statement(body, line, column, start + skip))
