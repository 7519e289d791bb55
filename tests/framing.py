"""Hypothesis strategies for migration files whose statements end in every way a user may end
them: a ``;`` with a line comment after it, a line comment with the ``;`` on the next line,
block comments, no final ``;``, a last line comment without a newline, and string literals
(quoted or dollar-quoted) holding ``;``, ``--``, ``/*`` and ``#``.

Each file inserts known values into one table, so a test can check that the database received
exactly the statements of the file, in order, whatever migrata framed them with.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

#: Characters that end statements or start comments in one dialect or another, quotes, and
#: what a driver could take for a parameter.
_TRICKY = [
    ";",
    "--",
    "-- ",
    "/*",
    "*/",
    "#",
    "# ",
    "$$",
    "'",
    '"',
    "\n",
    " ",
    "x",
    "é",
    "%s",
    "{x}",
]


@dataclass(frozen=True)
class UserFile:
    """One generated migration file: its text, and the rows its statements insert."""

    text: str
    values: tuple[str, ...]
    #: 1-based line of each INSERT statement's first character.
    lines: tuple[int, ...]


def _literal(dialect: str, content: str, dollar: bool) -> str:
    if dollar and dialect == "postgresql" and "$q$" not in content and not content.endswith("$"):
        return f"$q${content}$q$"
    return "'" + content.replace("'", "''") + "'"


def _line_comment(dialect: str, text: str) -> str:
    """A comment running to the end of its line (never holding a newline)."""
    body = text.replace("\n", " ").replace("\r", " ")
    if dialect in {"mysql", "clickhouse"}:
        # MySQL's "--" needs a space after it; "# " is a comment for MySQL and ClickHouse.
        return f"# {body}" if body.startswith("#") else f"-- {body}"
    return f"-- {body}"


def _block_comment(text: str) -> str:
    return "/* " + text.replace("*/", "* /").replace("/*", "/ *") + " */"


_content = st.lists(st.sampled_from(_TRICKY), max_size=6).map("".join)
_comment_text = st.lists(
    st.sampled_from([";", "--", "x", " ", "'", "$$", "/", "*"]), max_size=5
).map("".join)


@st.composite
def user_files(
    draw: st.DrawFn, dialect: str, table: str, *, count: tuple[int, int] = (1, 6)
) -> UserFile:
    """A migration file of INSERTs into ``table`` (columns ``id`` and ``v``) for ``dialect``."""
    n = draw(st.integers(min_value=count[0], max_value=count[1]))
    parts: list[str] = []
    values: list[str] = []
    lines: list[int] = []
    if draw(st.booleans()):
        parts.append(_line_comment(dialect, draw(_comment_text)) + "\n")
    if draw(st.booleans()):
        parts.append(_block_comment(draw(_comment_text)) + "\n")
    for i in range(n):
        content = draw(_content)
        values.append(content)
        literal = _literal(dialect, content, draw(st.booleans()))
        if draw(st.booleans()):
            parts.append(_block_comment(draw(_comment_text)) + " ")
        lines.append("".join(parts).count("\n") + 1)
        parts.append(f"INSERT INTO {table} (id, v) VALUES ({i + 1}, {literal})")
        last = i == n - 1
        ending = draw(
            st.sampled_from(
                ["plain", "comment-after", "comment-before", "block", "none", "none-comment"]
                if last
                else ["plain", "comment-after", "comment-before", "block"]
            )
        )
        note = draw(_comment_text)
        if ending == "plain":
            parts.append(";\n")
        elif ending == "comment-after":
            parts.append("; " + _line_comment(dialect, note) + "\n")
        elif ending == "comment-before":
            # The terminator on the line after a comment: the statement's text ends in it.
            parts.append(" " + _line_comment(dialect, note) + "\n;\n")
        elif ending == "block":
            parts.append(" " + _block_comment(note) + ";\n")
        elif ending == "none":
            parts.append(draw(st.sampled_from(["", "\n", "\n\n"])))
        else:  # no terminator, and a line comment as the file's very last text
            parts.append(" " + _line_comment(dialect, note) + draw(st.sampled_from(["", "\n"])))
    return UserFile("".join(parts), tuple(values), tuple(lines))


def create_table(dialect: str, table: str) -> str:
    """The table the generated INSERTs write to."""
    if dialect == "clickhouse":
        return f"CREATE TABLE {table} (id Int32, v String) ENGINE = MergeTree ORDER BY id"
    return f"CREATE TABLE {table} (id INT PRIMARY KEY, v TEXT)"
