r"""MySQL and MariaDB statements, split the way the ``mysql`` command-line client splits them.

Files meant for MySQL are written for (or dumped by) the ``mysql`` client, and that client
splits its input itself before sending the server one statement at a time: at ``;``, or at
the string a ``DELIMITER`` line chose, but never inside ``'…'`` or ``"…"`` strings (backslash
escapes and doubled quotes), backtick-quoted identifiers, or ``#``, ``-- `` and ``/* */``
comments. ``DELIMITER`` lines belong to the client and never reach the server, the server's
grammar offers no way to split a script, and no driver or parser library reproduces the
client, so the scan is hand-written. Compiled regular expressions drive it: one ``match``
runs over a whole ordinary statement, so a megabyte of SQL splits in a fraction of a second.

What we keep from the client, so files written for it run unchanged:

* ``DELIMITER xyz`` at the start of a statement switches the delimiter to ``xyz`` (quotes
  around it are dropped, as the client drops them) until the next ``DELIMITER`` line; the
  line itself is no statement. While a delimiter other than ``;`` is active, only it splits.
* ``--`` starts a comment only when a space, a control character or the end of the input
  follows it (``SELECT 1--1`` is one expression).
* ``/*! … */`` and ``/*M! … */`` executable comments are statement content: mysqldump files
  are full of statements that are nothing else (``/*!40101 SET NAMES utf8 */;``).

Where we differ from it, always towards splitting fewer files wrongly: a delimiter inside an
executable comment does not end the statement (the client cuts there, which breaks the
statement), and with the default ``;`` a stored program whose body is a compound statement
stays one statement without any ``DELIMITER`` line: ``CREATE [OR REPLACE] [DEFINER = user]
[AGGREGATE] PROCEDURE | FUNCTION | TRIGGER | EVENT``, ``ALTER EVENT``, and MariaDB's compound
statements outside programs (``BEGIN NOT ATOMIC``, ``IF``, ``CASE``, ``LOOP``, ``WHILE``,
``REPEAT``). For those the scan tracks block nesting and ends the statement at the first
``;`` outside every block:

* ``BEGIN`` and ``CASE`` open a block; ``IF``, ``LOOP``, ``WHILE`` and ``REPEAT`` only where
  a statement of the body starts (after ``;``, BEGIN, THEN, ELSE, DO, a label or ``FOR EACH
  ROW``), so ``IF(a, b, c)`` and ``DROP TABLE IF EXISTS`` open nothing;
* ``END`` closes one block where a statement starts, or right after a CASE expression or a
  REPEAT's UNTIL condition, and takes the ``IF``/``CASE``/… that follows it;
* ``begin`` and ``end`` are not reserved words: a ``begin`` after an operator, ``(``, ``,``
  or a word such as SELECT, IN or DECLARE, or before an operator, is a name, as is an
  ``end`` elsewhere than those places.

Not supported: the client's backslash commands (``\g``, ``\G``, ``\d`` for DELIMITER),
the ``NO_BACKSLASH_ESCAPES`` SQL mode, and a procedure or function whose whole body is a
bare IF/CASE/LOOP/WHILE/REPEAT (no BEGIN, no label) without DELIMITER lines: such a statement is
cut at its first ``;`` and the server reports the syntax error.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ...errors import SQLSyntaxError
from ...models import Script, Statement
from ...sqltext import LineIndex

_FIX = "; fix the SQL (nothing was run)"

#: What MySQL's lexer counts as white space (not Unicode's wider set).
_WHITESPACE = " \t\n\r\f\v"
_SPACE = r"[ \t\n\r\f\v]"

# Possessive loops everywhere: no pattern may backtrack into a quoted string, so an
# unterminated one fails at its opening quote instead of matching a shorter string.
_SQ = r"'(?:[^'\\]++|\\[\s\S]|'')*+'"
_DQ = r'"(?:[^"\\]++|\\[\s\S]|"")*+"'
_BQ = r"`(?:[^`]++|``)*+`"
_LINE_COMMENT = r"#[^\n]*+|--(?=[\x00-\x20\x7f]|\Z)[^\n]*+"
_BLOCK_COMMENT = r"/\*(?!M?!)(?:[^*]++|\*(?!/))*+\*/"  # not /*! or /*M!: those are SQL
_NOISE_UNIT = rf"{_SPACE}++|{_LINE_COMMENT}|{_BLOCK_COMMENT}"
_OPT = rf"(?:{_NOISE_UNIT})*+"
_SEP = rf"(?:{_NOISE_UNIT})++"

#: An executable comment up to (not including) its ``*/``; strings inside are skipped whole.
_EXECUTABLE = re.compile(rf"/\*M?!(?:[^'\"`*]++|{_SQ}|{_DQ}|{_BQ}|\*(?!/))*+")

#: The client's ``DELIMITER`` command: the keyword, then the rest of its line.
_DELIMITER_COMMAND = re.compile(r"delimiter(?=[ \t\r\f\v\n]|\Z)([^\n]*+)", re.IGNORECASE)
_FIRST_TOKEN = re.compile(r"[^ \t\r\f\v]*+")

_USER_PART = rf"(?:{_BQ}|{_SQ}|{_DQ}|[\w$.%-]++)"
_USER = rf"(?:CURRENT_USER(?:{_OPT}\({_OPT}\))?|{_USER_PART}(?:{_OPT}@{_OPT}{_USER_PART})?)"
_DEFINER = rf"(?:DEFINER{_OPT}={_OPT}{_USER}{_OPT})?"

#: Statements whose body may hold ``;`` inside BEGIN … END (only looked for with ``;``).
_COMPOUND_START = re.compile(
    rf"(?:CREATE{_SEP}(?:OR{_SEP}REPLACE{_SEP})?{_DEFINER}(?:AGGREGATE{_SEP})?"
    r"(?:PROCEDURE|FUNCTION|TRIGGER|EVENT)"
    rf"|ALTER{_SEP}{_DEFINER}EVENT"
    rf"|BEGIN{_SEP}NOT{_SEP}ATOMIC"
    r"|IF|CASE|LOOP|WHILE|REPEAT)(?![\w$])",
    re.IGNORECASE,
)

#: The tokens of a compound statement; anything else (``.``, ``@``, ``:``…) is skipped.
#: A word led by ``.`` or ``@`` is a column or a variable, never a keyword.
_COMPOUND_TOKEN = re.compile(
    rf"(?P<semi>;)|(?P<label>[\w$]++{_SPACE}*+:(?!=))|(?P<word>[.@]*+[\w$]++)"
    rf"|(?P<quoted>{_SQ}|{_DQ}|{_BQ})|(?P<comment>{_LINE_COMMENT}|{_BLOCK_COMMENT})"
    r"|(?P<open>['\"`]|/\*)|(?P<punct>[(),=<>!+\-*/%|&^~])"
)
#: After BEGIN: a transaction (``BEGIN WORK``, ``BEGIN;``) or a column named ``begin``.
_NOT_A_BLOCK = re.compile(rf"{_SPACE}*+(?:WORK(?![\w$])|[,);=<>!+%|&^.])", re.IGNORECASE)
#: What, just before ``begin``, makes it a column, variable or parameter, not a block.
_BEFORE_NAME = frozenset(
    {"(", ",", "=", "<", ">", "!", "+", "-", "*", "/", "%", "|", "&", "^", "~"}
    | {"SELECT", "DISTINCT", "WHERE", "AND", "OR", "XOR", "NOT", "BY", "ON", "SET", "AS"}
    | {"IN", "OUT", "INOUT", "DECLARE", "INTO", "FROM", "JOIN", "USING", "HAVING", "WHEN"}
    | {"RETURN", "IS", "LIKE", "BETWEEN", "UPDATE", "TABLE"}
)
_END_SUFFIX = re.compile(rf"{_OPT}(?:IF|CASE|LOOP|WHILE|REPEAT)(?![\w$])", re.IGNORECASE)
_TRIGGER_ORDER = re.compile(rf"{_OPT}(?:FOLLOWS|PRECEDES){_SEP}(?:{_BQ}|[\w$]++)", re.IGNORECASE)

#: Blocks that open only where a statement starts (elsewhere ``IF(`` is a function, and
#: ``IF EXISTS`` part of DROP).
_STATEMENT_BLOCKS = frozenset({"IF", "LOOP", "WHILE", "REPEAT"})
#: Blocks whose END follows an expression rather than a ``;``.
_EXPRESSION_END = frozenset({"CASE_EXPR", "UNTIL"})
_BLOCK_NAMES = {
    "BEGIN": "BEGIN has no END",
    "IF": "IF has no END IF",
    "CASE": "CASE has no END CASE",
    "CASE_EXPR": "CASE has no END",
    "LOOP": "LOOP has no END LOOP",
    "WHILE": "WHILE has no END WHILE",
    "REPEAT": "REPEAT has no END REPEAT",
    "UNTIL": "REPEAT has no END REPEAT",
}


def split_mysql(script: Script) -> tuple[Statement, ...]:
    """Split ``script`` as the ``mysql`` client would, keeping compound bodies whole.

    Raises :class:`SQLSyntaxError` (``path:line:col`` of the open string, comment or
    statement) for what cannot be split: nothing has run by then.
    """
    text = script.text
    size = len(text)
    index = LineIndex(text, script.first_line)
    statements: list[Statement] = []
    delimiter = ";"
    noise, body = _patterns(delimiter)
    position = 0
    while True:
        start = _end(noise.match(text, position))
        if start >= size:
            return tuple(statements)
        if text.startswith(delimiter, start):  # an empty statement
            position = start + len(delimiter)
            continue
        command = _DELIMITER_COMMAND.match(text, start)
        if command is not None:
            delimiter = _new_delimiter(script, index, start, command.group(1))
            noise, body = _patterns(delimiter)
            position = command.end()
            continue
        if delimiter == ";" and _COMPOUND_START.match(text, start):
            stop, position = _scan_compound(script, index, start)
        else:
            stop, position = _scan_plain(script, index, body, delimiter, start)
        line, column = index.position(start)
        statements.append(Statement(text[start:stop].rstrip(_WHITESPACE), line, column, start))


@lru_cache(maxsize=32)
def _patterns(delimiter: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(leading noise, statement body) for ``delimiter``; both stop where it starts.

    The body pattern consumes runs of ordinary characters, whole strings, identifiers and
    comments; it stops at the delimiter, at the end of the text, or at what needs a look:
    an executable comment or an unterminated quote or comment.
    """
    guard = f"(?!{re.escape(delimiter)})"
    special = "".join(sorted({re.escape(c) for c in "'\"`#/-" + delimiter[0]}))
    noise = re.compile(rf"(?:{guard}(?:{_NOISE_UNIT}))*+")
    body = re.compile(
        rf"(?:{guard}(?:[^{special}]++|{_SQ}|{_DQ}|{_BQ}|{_LINE_COMMENT}|{_BLOCK_COMMENT}"
        rf"|(?!['\"`]|/\*)[{special}]))*+"
    )
    return noise, body


def _end(match: re.Match[str] | None) -> int:
    assert match is not None  # the patterns given here match the empty string
    return match.end()


def _scan_plain(
    script: Script, index: LineIndex, body: re.Pattern[str], delimiter: str, start: int
) -> tuple[int, int]:
    """(end of the statement's text, where scanning resumes) for an ordinary statement."""
    text = script.text
    position = start
    while True:
        position = _end(body.match(text, position))
        if position >= len(text):
            return position, position
        if text.startswith(delimiter, position):
            return position, position + len(delimiter)
        position = _skip_executable(script, index, position)


def _scan_compound(script: Script, index: LineIndex, start: int) -> tuple[int, int]:
    """(end, resume) for a statement that may hold a compound body, delimited by ``;``.

    Blocks nest on a stack of (kind, offset). ``at_start`` is True where a statement of the
    body may start: after ``;``, BEGIN, THEN, ELSE, DO, a label or ``FOR EACH ROW``.
    """
    text = script.text
    stack: list[tuple[str, int]] = []
    at_start = True
    previous = before = ""  # the last two words or operators, upper-cased
    position = start
    search = _COMPOUND_TOKEN.search
    while (token := search(text, position)) is not None:
        kind = token.lastgroup
        position = token.end()
        if kind == "semi":
            if not stack:
                return token.start(), position
            at_start = True
            continue
        if kind == "comment":
            continue
        if kind == "open":  # an executable comment (neutral), or an unterminated literal
            position = _skip_executable(script, index, token.start())
            continue
        word = token.group() if kind in ("word", "punct") else ""
        upper = word.upper() if word[:1] not in ("", ".", "@") else ""
        last, second_last = previous, before
        before, previous = previous, upper
        if kind == "label":
            at_start = True
        elif upper == "BEGIN":  # a block, unless a name (begin DATE, SELECT begin, begin = 1)
            at_start = last not in _BEFORE_NAME and _NOT_A_BLOCK.match(text, position) is None
            if at_start:
                stack.append(("BEGIN", token.start()))
        elif upper == "END":
            if stack and (at_start or stack[-1][0] in _EXPRESSION_END):
                stack.pop()
                suffix = _END_SUFFIX.match(text, position)
                if suffix is not None:
                    position = suffix.end()
            at_start = False
        elif upper == "CASE":
            stack.append(("CASE" if at_start else "CASE_EXPR", token.start()))
            at_start = False
        elif upper in _STATEMENT_BLOCKS and at_start:
            stack.append((upper, token.start()))
            at_start = False
        elif upper in ("THEN", "ELSE"):
            at_start = not stack or stack[-1][0] != "CASE_EXPR"
        elif upper == "DO":  # WHILE … DO or an event's DO; the DO statement is not a block
            at_start = not at_start
        elif upper == "UNTIL" and stack and stack[-1][0] == "REPEAT":
            stack[-1] = ("UNTIL", stack[-1][1])
            at_start = False
        elif upper == "ROW" and last == "EACH" and second_last == "FOR":  # a trigger's body
            at_start = True
            order = _TRIGGER_ORDER.match(text, position)  # FOLLOWS | PRECEDES other_trigger
            if order is not None:
                position = order.end()
        else:
            at_start = False
    if stack:
        kind, offset = stack[-1]
        line, column = index.position(offset)
        raise _error(
            script,
            index,
            start,
            f"unterminated compound statement: the {_BLOCK_NAMES[kind]} (opened at line "
            f"{line}, column {column}; {len(stack)} block(s) still open at the end of the "
            "script); close every BEGIN, IF, CASE, LOOP, WHILE and REPEAT with its END, or "
            "put the statement between DELIMITER lines",
        )
    return len(text), len(text)


def _skip_executable(script: Script, index: LineIndex, position: int) -> int:
    """Where scanning resumes after the executable comment at ``position``.

    Raises for what else can stop a scan there: an unterminated quote or comment.
    """
    text = script.text
    match = _EXECUTABLE.match(text, position)
    if match is None:
        raise _unterminated(script, index, position)
    end = match.end()
    if text.startswith("*/", end):
        return end + 2
    if end < len(text):  # stopped at an unterminated quote inside the comment
        raise _unterminated(script, index, end)
    opener = "/*M!" if text.startswith("/*M!", position) else "/*!"
    raise _error(
        script, index, position, f"unterminated executable comment: the {opener} here has no */"
    )


def _unterminated(script: Script, index: LineIndex, position: int) -> SQLSyntaxError:
    """The error for the quote or ``/*`` at ``position`` that is never closed."""
    char = script.text[position]
    if char == "`":
        message = "unterminated quoted identifier: the ` here is never closed"
    elif char in "'\"":
        message = f"unterminated string: the {char} here is never closed"
    else:
        message = "unterminated comment: the /* here has no */"
    return _error(script, index, position, message)


def _new_delimiter(script: Script, index: LineIndex, start: int, rest: str) -> str:
    """The delimiter a ``DELIMITER`` line sets, as the client reads its argument."""
    argument = rest.strip(_WHITESPACE)
    if argument[:1] in ("'", '"', "`"):
        close = argument.find(argument[0], 1)
        value = argument[1:close] if close != -1 else argument[1:]
    else:
        value = argument[: _end(_FIRST_TOKEN.match(argument))]
    if not value:
        message = "DELIMITER must be followed by the delimiter to use, such as $$ or //"
    elif "\\" in value:
        message = f"DELIMITER cannot contain a backslash (got {value!r})"
    elif any(c in _WHITESPACE for c in value):
        message = f"DELIMITER cannot contain white space (got {value!r})"
    else:
        return value
    raise _error(script, index, start, message)


def _error(script: Script, index: LineIndex, offset: int, message: str) -> SQLSyntaxError:
    line, column = index.position(offset)
    return SQLSyntaxError(message + _FIX, path=script.path, line=line, column=column)
