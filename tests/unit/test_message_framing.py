"""What migrata adds to a message (BEGIN, time limits, history writes, COMMIT) never merges
with user text: a property over generated files whose statements end in line comments, block
comments, no semicolon at all, and strings holding ``;`` and ``--``.

The message migrata sends, split again by the engine's own rules (PostgreSQL's parser, the
mysql client's splitter), is exactly the user's statements followed by migrata's, in order.
Engines that take one statement per request (SQLite, ClickHouse) get each statement alone,
and each is exactly one statement.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framing import user_files
from migrata.backends.base import STATEMENT_SEPARATOR, compose_message
from migrata.models import Script
from migrata.split import split_script

#: migrata's own statements, with the characters that could confuse a splitter in their
#: literals (as rendered values of the history writes are).
OWN_BEFORE = ["BEGIN", "SET LOCAL statement_timeout = '1s'"]
OWN_AFTER = [
    "INSERT INTO migrata_history (service, version, name) VALUES ('s;--', '0001', 'a -- b; /*')",
    "INSERT INTO migrata_history_audit (detail) VALUES ('# not a comment; -- x')",
    "COMMIT",
]


def _split(text: str, dialect: str) -> list[str]:
    return [s.sql for s in split_script(Script(path="m.sql", text=text), dialect)]


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_message_splits_back_into_the_user_statements_then_migratas(
    dialect: str, data: st.DataObject
) -> None:
    user = data.draw(user_files(dialect, "t"))
    statements = _split(user.text, dialect)
    assert len(statements) == len(user.values)
    message, starts = compose_message([*OWN_BEFORE, *statements, *OWN_AFTER])
    assert _split(message, dialect) == [*OWN_BEFORE, *statements, *OWN_AFTER]
    # Each statement starts where compose_message says, so a server's error position maps
    # back to the right statement.
    for start, text in zip(starts, [*OWN_BEFORE, *statements, *OWN_AFTER], strict=True):
        assert message[start : start + len(text)] == text


@pytest.mark.parametrize("dialect", ["sqlite", "clickhouse", "postgresql", "mysql"])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_each_statement_sent_alone_is_exactly_one_statement(
    dialect: str, data: st.DataObject
) -> None:
    user = data.draw(user_files(dialect, "t"))
    statements = _split(user.text, dialect)
    assert len(statements) == len(user.values)
    for text in statements:
        again = _split(text, dialect)
        # One statement; a trailing line comment may lose a `;` it holds, nothing else.
        assert len(again) == 1
        assert text.startswith(again[0])


def test_the_separator_starts_with_a_newline() -> None:
    # A `;` on the line of a trailing `-- note` would be part of the comment.
    assert STATEMENT_SEPARATOR.startswith("\n")
    message, _ = compose_message(["SELECT 1 -- note", "SELECT 2"])
    assert _split(message, "postgresql") == ["SELECT 1 -- note", "SELECT 2"]
