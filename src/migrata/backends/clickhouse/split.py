r"""ClickHouse statements, split by the rules of ClickHouse's own lexer.

ClickHouse refuses a query that holds more than one statement, so migrata sends a file one
statement at a time and must find its ``;`` exactly. ClickHouse has no client-side
delimiter command and no ``BEGIN … END`` bodies: a statement ends at the first ``;`` that is
not inside a literal or a comment, as the server's lexer (``src/Parsers/Lexer.cpp``) reads
them. This module follows that lexer (checked against ClickHouse 26.9 through chdb); one
compiled pattern consumes a whole ordinary statement, so a megabyte of SQL splits in a
fraction of a second.

What the lexer reads, and so does the scan:

* ``'…'`` strings, and identifiers quoted with ``"`` or backticks: a backslash escapes the
  next character and a doubled quote stands for itself (``'it\'s'``, ``'it''s'``, ``"a""b"``).
* ``‘…’`` strings and ``“…”`` identifiers (Unicode quotes): no escapes, they end at the first
  closing quote.
* Heredocs ``$$ … $$`` and ``$tag$ … $tag$`` (a tag of ASCII letters, digits and ``_``): raw
  text up to the first repeat of the opening tag, so ``$$`` inside ``$body$`` is content. A
  ``$`` inside a bare word (``a$b``, ``col1$x``) opens nothing; one right after a number or a
  literal does (``1$$…$$``), as in the lexer.
* Comments: ``--`` and ``//`` to the end of the line (no space needed after them), ``#``
  followed by a space or ``!`` (``# note``, a ``#!`` shebang line; ``#x`` is no comment), and
  ``/* … */``, which nests: ``/* a /* b */ c */`` is one comment.
* White space: ASCII's, plus the Unicode spaces the lexer skips (no-break space, the BOM,
  U+2000…U+200D, U+3000…). None of it, nor any comment before a statement, is part of it.

Where we differ from it, towards refusing rather than splitting wrongly: a ``$$`` or
``$tag$`` that is never repeated is an error here (the lexer reads ``$tag$`` as a bare word,
a legal but unheard-of name; quote such a name with backticks), since the usual cause is a
heredoc whose closing tag is missing or misspelt.

Not supported: inline data of ``INSERT … FORMAT CSV`` (or any format but ``Values``), which
``clickhouse-client`` ends at a blank line but which is read here as SQL, so a quote or ``;``
in the data cuts or fails the file; use ``VALUES``, ``INSERT … SELECT`` or a table function
instead. The client's ``\G`` ends nothing here (the server rejects it).
"""

from __future__ import annotations

import re

from ...errors import SQLSyntaxError
from ...models import Script, Statement
from ...sqltext import LineIndex

_FIX = "; fix the SQL (nothing was run)"

#: What the lexer skips as white space: ASCII's and, in UTF-8, these Unicode spaces.
_WHITESPACE = (
    " \t\n\r\f\v\u0085\u00a0\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u200b\u200c\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
)
_SPACE = f"[{_WHITESPACE}]"

# Possessive loops everywhere: no pattern may backtrack into a quoted string, so an
# unterminated one fails at its opening quote instead of matching a shorter string.
_SQ = r"'(?:[^'\\]++|\\[\s\S]|'')*+'"
_DQ = r'"(?:[^"\\]++|\\[\s\S]|"")*+"'
_BQ = r"`(?:[^`\\]++|\\[\s\S]|``)*+`"
_UNICODE_SQ = "\u2018[^\u2019]*+\u2019"  # ‘…’
_UNICODE_DQ = "\u201c[^\u201d]*+\u201d"  # “…”
_LINE_COMMENT = r"(?:--|//|\#[ !])[^\n]*+"
#: A block comment with no ``/*`` inside; nested ones are left to :func:`_skip_comment`.
_BLOCK_COMMENT = r"/\*(?:[^*/]++|\*(?!/)|/(?!\*))*+\*/"
_TAG = r"[A-Za-z0-9_]*+"
_HEREDOC = rf"\$(?P<tag>{_TAG})\$(?:[^$]++|\$(?!(?P=tag)\$))*+\$(?P=tag)\$"

#: Leading white space and comments (stops at a nested ``/*`` too).
_NOISE = re.compile(rf"(?:{_SPACE}++|{_LINE_COMMENT}|{_BLOCK_COMMENT})*+")

#: A statement's text up to its ``;``: runs of plain characters, bare words (a ``$`` inside
#: one is part of it), numbers (a ``$`` after one starts a token), whole literals, heredocs
#: and comments, and the characters that open none of these (``-``, ``/``, ``#``, a ``$``
#: that is no heredoc tag). It stops at ``;``, at the end of the text, or at what needs a
#: look: a nested or unterminated comment, or an unterminated literal or heredoc.
_BODY = re.compile(
    r"(?:[^'\"`$;\-/#\u2018\u201cA-Za-z0-9_]++"
    r"|[A-Za-z_][A-Za-z0-9_$]*+"
    r"|[0-9][A-Za-z0-9_]*+"
    rf"|{_SQ}|{_DQ}|{_BQ}|{_UNICODE_SQ}|{_UNICODE_DQ}"
    rf"|{_LINE_COMMENT}|{_BLOCK_COMMENT}|{_HEREDOC}"
    rf"|\$(?!{_TAG}\$)[A-Za-z0-9_$]*+"
    r"|-(?!-)|/(?![/*])|\#(?![ !]))*+"
)
_COMMENT_MARK = re.compile(r"/\*|\*/")
_HEREDOC_OPENER = re.compile(rf"\${_TAG}\$")


def split_clickhouse(script: Script) -> tuple[Statement, ...]:
    """Split ``script`` into statements at every ``;`` ClickHouse's lexer would see.

    Raises :class:`SQLSyntaxError` (``path:line:col`` of the open string, identifier,
    heredoc or comment) for what cannot be split: nothing has run by then.
    """
    text = script.text
    size = len(text)
    index = LineIndex(text, script.first_line)
    statements: list[Statement] = []
    position = 0
    while True:
        start = _end(_NOISE.match(text, position))
        if text.startswith("/*", start):  # a nested comment
            position = _skip_comment(script, index, start)
            continue
        if start >= size:
            return tuple(statements)
        if text[start] == ";":  # an empty statement
            position = start + 1
            continue
        stop = _scan(script, index, start)
        line, column = index.position(start)
        statements.append(Statement(text[start:stop].rstrip(_WHITESPACE), line, column, start))
        if stop >= size:
            return tuple(statements)
        position = stop + 1


def _end(match: re.Match[str] | None) -> int:
    assert match is not None  # the patterns given here match the empty string
    return match.end()


def _scan(script: Script, index: LineIndex, start: int) -> int:
    """Where the statement at ``start`` ends: its ``;``, or the end of the text."""
    text = script.text
    position = start
    while True:
        position = _end(_BODY.match(text, position))
        if position >= len(text) or text[position] == ";":
            return position
        if text.startswith("/*", position):
            position = _skip_comment(script, index, position)
            continue
        raise _unterminated(script, index, position)


def _skip_comment(script: Script, index: LineIndex, start: int) -> int:
    """The end of the block comment at ``start``, counting nested ``/*`` as the lexer does."""
    depth = 0
    nested = False
    for mark in _COMMENT_MARK.finditer(script.text, start):
        if mark.group() == "/*":
            depth += 1
            nested = nested or depth > 1
        else:
            depth -= 1
            if depth == 0:
                return mark.end()
    message = "unterminated comment: the /* here has no */"
    if nested:
        message += (
            " (ClickHouse nests /* */ comments, so each /* inside it needs its own */; "
            f"{depth} still open at the end of the script)"
        )
    raise _error(script, index, start, message)


def _unterminated(script: Script, index: LineIndex, position: int) -> SQLSyntaxError:
    """The error for the quote or heredoc at ``position`` that is never closed."""
    text = script.text
    char = text[position]
    if char == "$":
        opener = _HEREDOC_OPENER.match(text, position)
        assert opener is not None  # any other $ is part of the statement
        tag = opener.group()
        message = f"unterminated heredoc: the {tag} here is never followed by another {tag}"
    elif char == "'":
        message = "unterminated string: the ' here is never closed"
    elif char == "\u2018":
        message = "unterminated string: the \u2018 here has no closing \u2019"
    elif char == "\u201c":
        message = "unterminated quoted identifier: the \u201c here has no closing \u201d"
    else:
        assert char in '"`', char
        message = f"unterminated quoted identifier: the {char} here is never closed"
    return _error(script, index, position, message)


def _error(script: Script, index: LineIndex, offset: int, message: str) -> SQLSyntaxError:
    line, column = index.position(offset)
    return SQLSyntaxError(message + _FIX, path=script.path, line=line, column=column)
