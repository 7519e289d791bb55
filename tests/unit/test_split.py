"""Statement splitting: PostgreSQL (pglast) and SQLite (sqlite3.complete_statement)."""

from __future__ import annotations

import pytest

from migrata.errors import DiscoveryError, SQLSyntaxError
from migrata.models import Script, Statement
from migrata.split import split_script

PATH = "migrations/0001_init.sql"


def pg(text: str, *, first_line: int = 1) -> tuple[Statement, ...]:
    return split_script(Script(path=PATH, text=text, first_line=first_line), "postgresql")


def lite(text: str, *, first_line: int = 1) -> tuple[Statement, ...]:
    return split_script(Script(path=PATH, text=text, first_line=first_line), "sqlite")


def sqls(statements: tuple[Statement, ...]) -> list[str]:
    return [s.sql for s in statements]


def assert_positions_consistent(text: str, statements: tuple[Statement, ...]) -> None:
    """offset points at the statement's text, and line/column agree with offset."""
    for st in statements:
        assert text[st.offset : st.offset + len(st.sql)] == st.sql
        before = text[: st.offset].replace("\r\n", "\n").replace("\r", "\n")
        assert st.line == before.count("\n") + 1
        assert st.column == len(before) - (before.rfind("\n") + 1) + 1


def test_unknown_dialect_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="oracle"):
        split_script(Script(path=PATH, text="SELECT 1;"), "oracle")


# =========================================================================== PostgreSQL


def test_pg_simple_statements_without_trailing_semicolons() -> None:
    text = "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\nSELECT 1"
    result = pg(text)
    assert sqls(result) == ["CREATE TABLE t (id int)", "INSERT INTO t VALUES (1)", "SELECT 1"]
    assert [(s.line, s.column) for s in result] == [(1, 1), (2, 1), (3, 1)]
    assert_positions_consistent(text, result)


def test_pg_dollar_quotes_with_tags_keep_semicolons_and_inner_double_dollars() -> None:
    body = (
        "CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $body$\n"
        "BEGIN\n"
        "  PERFORM 1;\n"
        "  RETURN $$x; y$$ || 'z;';\n"
        "END;\n"
        "$body$"
    )
    text = body + ";\nSELECT 2;"
    result = pg(text)
    assert sqls(result) == [body, "SELECT 2"]
    assert (result[1].line, result[1].column) == (7, 1)
    assert_positions_consistent(text, result)


def test_pg_dollar_quote_tag_with_underscore_and_digits() -> None:
    first = "SELECT $a_1$ ; $a$ ; $$ ; $a_1$"
    text = f"{first};SELECT 2"
    assert sqls(pg(text)) == [first, "SELECT 2"]


def test_pg_e_string_with_escaped_quote_and_semicolon() -> None:
    first = r"INSERT INTO t VALUES (E'it\'s; fine\\'), ('a'';b')"
    text = first + "; SELECT 2;"
    result = pg(text)
    assert sqls(result) == [first, "SELECT 2"]
    assert (result[1].line, result[1].column) == (1, len(first) + 3)
    assert_positions_consistent(text, result)


def test_pg_nested_block_comments_holding_semicolons() -> None:
    first = "SELECT 1 /* outer; /* inner; */ still comment; */ + 1"
    text = f"{first};\nSELECT 2;"
    result = pg(text)
    assert sqls(result) == [first, "SELECT 2"]
    assert result[1].line == 2


def test_pg_comment_holding_semicolon_between_statements() -> None:
    text = "SELECT 1; -- a; b\n/* c; /* d; */ */ SELECT 2;"
    result = pg(text)
    assert sqls(result) == ["SELECT 1", "SELECT 2"]
    assert (result[1].line, result[1].column) == (2, 19)
    assert_positions_consistent(text, result)


def test_pg_begin_atomic_body_is_one_statement() -> None:
    function = (
        "CREATE FUNCTION add_one(a int) RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n"
        "  SELECT 1;\n"
        "  SELECT CASE WHEN a > 0 THEN a + 1 ELSE 0 END;\n"
        "  INSERT INTO log VALUES (a);\n"
        "END"
    )
    text = f"{function};\nSELECT add_one(1);"
    result = pg(text)
    assert sqls(result) == [function, "SELECT add_one(1)"]
    assert result[1].line == 7
    assert_positions_consistent(text, result)


def test_pg_do_blocks() -> None:
    first = "DO $$ BEGIN RAISE NOTICE 'a;'; PERFORM 1; END $$"
    second = "DO LANGUAGE plpgsql $do$\nBEGIN\n  PERFORM 2;\nEND\n$do$"
    text = f"{first};\n{second};\n"
    result = pg(text)
    assert sqls(result) == [first, second]
    assert [(s.line, s.column) for s in result] == [(1, 1), (2, 1)]


@pytest.mark.parametrize(
    "text",
    ["", "   \n\n", "-- only a comment", "-- a;\n/* b; /* c; */ */\n", ";", ";;\n;"],
)
def test_pg_comment_only_or_empty_text_gives_no_statements(text: str) -> None:
    assert pg(text) == ()


def test_pg_empty_statements_are_dropped() -> None:
    result = pg("SELECT 1;;\n;SELECT 2")
    assert sqls(result) == ["SELECT 1", "SELECT 2"]
    assert (result[1].line, result[1].column) == (2, 2)


def test_pg_positions_after_leading_comments_and_indentation() -> None:
    text = "-- header\n/* block */\n\n    SELECT 1;   SELECT 2;"
    result = pg(text)
    assert sqls(result) == ["SELECT 1", "SELECT 2"]
    assert [(s.line, s.column, s.offset) for s in result] == [
        (4, 5, text.index("SELECT 1")),
        (4, 17, text.index("SELECT 2")),
    ]


def test_pg_positions_after_crlf_lines() -> None:
    text = "SELECT 1;\r\n-- comment\r\n  SELECT 2;\r\nSELECT\r\n  3;"
    result = pg(text)
    assert sqls(result) == ["SELECT 1", "SELECT 2", "SELECT\r\n  3"]
    assert [(s.line, s.column) for s in result] == [(1, 1), (3, 3), (4, 1)]
    assert [s.offset for s in result] == [0, text.index("SELECT 2"), text.index("SELECT\r\n")]
    assert_positions_consistent(text, result)


def test_pg_positions_count_characters_after_non_ascii_text() -> None:
    # multi-byte UTF-8 (é: 2 bytes, 日本: 3 bytes each, 😀: 4 bytes) before later statements
    text = "SELECT 'é日本😀'; SELECT 2;\n-- ünïcödé\n  SELECT 'ß'; SELECT 4;"
    result = pg(text)
    assert sqls(result) == ["SELECT 'é日本😀'", "SELECT 2", "SELECT 'ß'", "SELECT 4"]
    assert [(s.line, s.column) for s in result] == [(1, 1), (1, 16), (3, 3), (3, 15)]
    assert_positions_consistent(text, result)


def test_pg_first_line_shifts_lines() -> None:
    result = pg("SELECT 1;\nSELECT 2;", first_line=20)
    assert [(s.line, s.column) for s in result] == [(20, 1), (21, 1)]


def test_pg_syntax_error_has_line_column_and_path() -> None:
    text = "CREATE TABLE t (id int);\n\n  SELEC 1;\nSELECT 3;"
    with pytest.raises(SQLSyntaxError) as info:
        pg(text)
    err = info.value
    assert isinstance(err, DiscoveryError)
    assert (err.path, err.line, err.column) == (PATH, 3, 3)
    assert str(err).startswith(f"{PATH}:3:3: ")
    assert "SELEC" in str(err)
    assert "nothing was run" in str(err)


def test_pg_syntax_error_position_after_crlf_and_non_ascii() -> None:
    text = "SELECT 'é日😀';\r\n-- ß\r\nSELECT (1;"
    with pytest.raises(SQLSyntaxError) as info:
        pg(text)
    assert (info.value.line, info.value.column) == (3, 10)  # at the ";"


def test_pg_syntax_error_respects_first_line() -> None:
    with pytest.raises(SQLSyntaxError) as info:
        pg("SELECT 1;\nSELEC 2;", first_line=7)
    assert (info.value.line, info.value.column) == (8, 1)
    assert str(info.value).startswith(f"{PATH}:8:1: ")


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("SELECT 1;\n  SELECT 'abc", 2, 10),
        ("SELECT 1;\nSELECT $tag$ abc; $$", 2, 8),
        ("SELECT 1;\nSELECT 1 /* open /* nested */", 2, 10),
    ],
)
def test_pg_unterminated_literals_point_at_their_start(text: str, line: int, column: int) -> None:
    with pytest.raises(SQLSyntaxError) as info:
        pg(text)
    assert (info.value.line, info.value.column) == (line, column)


def test_pg_syntax_error_at_end_of_input_points_at_the_last_line() -> None:
    text = "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\nSELECT (1 +"
    with pytest.raises(SQLSyntaxError) as info:
        pg(text)
    assert "end of input" in str(info.value)
    assert info.value.line == 3


# =========================================================================== SQLite


def test_sqlite_simple_statements() -> None:
    text = "CREATE TABLE t (id INTEGER);\nINSERT INTO t VALUES (1);\n"
    result = lite(text)
    assert sqls(result) == ["CREATE TABLE t (id INTEGER)", "INSERT INTO t VALUES (1)"]
    assert [(s.line, s.column, s.offset) for s in result] == [(1, 1, 0), (2, 1, 29)]
    assert_positions_consistent(text, result)


def test_sqlite_strings_with_semicolons() -> None:
    first = "INSERT INTO t VALUES ('a;b', 'it''s; ok', \"odd;name\")"
    text = f"{first}; SELECT ';';"
    result = lite(text)
    assert sqls(result) == [first, "SELECT ';'"]
    assert result[1].column == len(first) + 3
    assert_positions_consistent(text, result)


def test_sqlite_comments_with_semicolons() -> None:
    text = (
        "-- header; with a semicolon\n"
        "SELECT 1 /* inline; */ + 1;\n"
        "/* block;\n   comment; */ SELECT 2; -- trailing; comment\n"
        "SELECT 3 -- before the end;\n;"
    )
    result = lite(text)
    assert sqls(result) == ["SELECT 1 /* inline; */ + 1", "SELECT 2", "SELECT 3 -- before the end;"]
    assert [(s.line, s.column) for s in result] == [(2, 1), (4, 16), (5, 1)]
    assert_positions_consistent(text, result)


def test_sqlite_create_trigger_body_is_one_statement() -> None:
    trigger = (
        "CREATE TRIGGER t_log AFTER INSERT ON t\n"
        "BEGIN\n"
        "  INSERT INTO log VALUES (new.id, 'x;y');\n"
        "  UPDATE t SET n = CASE WHEN n > 0 THEN n ELSE 1 END WHERE id = new.id;\n"
        "  DELETE FROM queue; -- inner comment; here\n"
        "END"
    )
    text = f"{trigger};\nSELECT 3;"
    result = lite(text)
    assert sqls(result) == [trigger, "SELECT 3"]
    assert result[1].line == 7
    assert_positions_consistent(text, result)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT 1;\nSELECT 2", ["SELECT 1", "SELECT 2"]),
        ("SELECT 1;\nSELECT 2\n\n", ["SELECT 1", "SELECT 2"]),
        (
            "SELECT 1;\nSELECT ';' -- no semicolon at the end",
            ["SELECT 1", "SELECT ';' -- no semicolon at the end"],
        ),
        ("SELECT 1", ["SELECT 1"]),
    ],
)
def test_sqlite_final_statement_without_semicolon(text: str, expected: list[str]) -> None:
    result = lite(text)
    assert sqls(result) == expected
    assert_positions_consistent(text, result)


@pytest.mark.parametrize(
    "text", ["", "  \n", "-- a; b\n", "/* a; */", "-- a\n/* b; */\n-- c", ";", ";\n;"]
)
def test_sqlite_comment_only_or_empty_text_gives_no_statements(text: str) -> None:
    assert lite(text) == ()


def test_sqlite_trailing_comment_after_last_statement_is_not_a_statement() -> None:
    assert sqls(lite("SELECT 1;\n-- the end; really\n/* bye; */\n")) == ["SELECT 1"]


def test_sqlite_positions_after_crlf_and_non_ascii() -> None:
    text = "SELECT 'é日😀';\r\n  SELECT 'ß';\r\n\r\n SELECT 3;"
    result = lite(text)
    assert sqls(result) == ["SELECT 'é日😀'", "SELECT 'ß'", "SELECT 3"]
    assert [(s.line, s.column) for s in result] == [(1, 1), (2, 3), (4, 2)]
    assert_positions_consistent(text, result)


def test_sqlite_first_line_shifts_lines() -> None:
    result = lite("SELECT 1;\nSELECT 2;", first_line=5)
    assert [s.line for s in result] == [5, 6]


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("SELECT 1;\n  INSERT INTO t VALUES ('abc);\n", 2, 3),
        ("SELECT 1;\n  SELECT 'abc; SELECT 2;", 2, 3),
        ("SELECT 'open", 1, 1),
        ("SELECT 1;\n-- fine\nCREATE TRIGGER x AFTER INSERT ON t BEGIN SELECT 1;", 3, 1),
        ("SELECT 1;\n/* never closed; SELECT 2;", 2, 1),
    ],
)
def test_sqlite_unterminated_statement_raises_with_position(
    text: str, line: int, column: int
) -> None:
    with pytest.raises(SQLSyntaxError) as info:
        lite(text)
    err = info.value
    assert isinstance(err, DiscoveryError)
    assert (err.path, err.line, err.column) == (PATH, line, column)
    assert str(err).startswith(f"{PATH}:{line}:{column}: ")
    assert "unterminated" in str(err)
