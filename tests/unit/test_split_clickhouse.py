"""Statement splitting for ClickHouse: the server lexer's strings, heredocs and comments."""

from __future__ import annotations

import subprocess
import sys

import pytest

from migrata.errors import DiscoveryError, SQLSyntaxError
from migrata.models import Script, Statement
from migrata.split import split_script

PATH = "migrations/0001_init.sql"
FIX = "; fix the SQL (nothing was run)"


def ch(text: str, *, first_line: int = 1) -> tuple[Statement, ...]:
    return split_script(Script(path=PATH, text=text, first_line=first_line), "clickhouse")


def sqls(statements: tuple[Statement, ...]) -> list[str]:
    return [s.sql for s in statements]


def assert_positions_consistent(text: str, statements: tuple[Statement, ...]) -> None:
    """offset points at the statement's text, and line/column agree with offset."""
    for st in statements:
        assert text[st.offset : st.offset + len(st.sql)] == st.sql
        before = text[: st.offset].replace("\r\n", "\n").replace("\r", "\n")
        assert st.line == before.count("\n") + 1
        assert st.column == len(before) - (before.rfind("\n") + 1) + 1


def error_of(text: str, *, first_line: int = 1) -> SQLSyntaxError:
    with pytest.raises(SQLSyntaxError) as info:
        ch(text, first_line=first_line)
    err = info.value
    assert isinstance(err, DiscoveryError)
    assert err.path == PATH
    assert str(err).startswith(f"{PATH}:{err.line}:{err.column}: ")
    assert str(err).endswith(FIX)
    return err


def test_the_splitter_is_imported_only_when_a_script_is_split() -> None:
    code = (
        "import sys\n"
        "from migrata.models import Script\n"
        "from migrata.split import split_script\n"
        "print('migrata.backends.clickhouse.split' in sys.modules)\n"
        "split_script(Script(path='x.sql', text='SELECT 1;'), 'clickhouse')\n"
        "print('migrata.backends.clickhouse.split' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


# =========================================================================== basics


def test_simple_statements_and_a_final_one_without_semicolon() -> None:
    text = "CREATE TABLE t (id UInt8) ENGINE = Memory;\nINSERT INTO t VALUES (1);\nSELECT 1"
    result = ch(text)
    assert sqls(result) == [
        "CREATE TABLE t (id UInt8) ENGINE = Memory",
        "INSERT INTO t VALUES (1)",
        "SELECT 1",
    ]
    assert [(s.line, s.column, s.offset) for s in result] == [(1, 1, 0), (2, 1, 43), (3, 1, 69)]
    assert_positions_consistent(text, result)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t\n",
        ";",
        ";;\n ;",
        "-- only a comment",
        "--no space; needed",
        "// a; b",
        "# a; b",
        "#!/usr/bin/env clickhouse-local --queries-file\n",
        "/* a; */",
        "/* a /* b; */ c; */\n;",
        "/* /* /* ; */ */ */",
        "/**/",
        "--",
        "-- a; b\n# c; d\n// e; f\n/* g; */\n;",
        "\ufeff",
        "\u00a0\u3000;\u2003\n",
    ],
)
def test_empty_or_comment_only_scripts_give_no_statements(text: str) -> None:
    assert ch(text) == ()


def test_empty_statements_are_dropped_and_whitespace_trimmed() -> None:
    text = "SELECT 1 ;; \n ;\t SELECT 2\t\n;\n"
    result = ch(text)
    assert sqls(result) == ["SELECT 1", "SELECT 2"]
    assert (result[1].line, result[1].column) == (2, 5)
    assert_positions_consistent(text, result)


# =========================================================================== quotes


@pytest.mark.parametrize(
    "first",
    [
        "SELECT 'a;b'",
        r"SELECT 'it\'s; fine'",
        "SELECT 'it''s; fine'",
        r"SELECT 'backslash at the end\\', ';'",
        "SELECT '', ';', ''''",
        "SELECT 'a\nb;\nc'",
        'SELECT 1 AS "a;b"',
        r'SELECT 1 AS "say \"hi\"; ok"',
        'SELECT 1 AS "x"";y"',
        r'SELECT 1 AS "\\", ";"',
        "SELECT `a;b` FROM t",
        "SELECT `a``;b` FROM t",
        r"SELECT `a\`;b` FROM t",
        'SELECT `it\'s; "odd"` FROM t',
        "SELECT \u2018a;b\u2019, \u2018it's; \\\u2019",
        "SELECT 1 AS \u201ca;b\u201d",
        "SELECT '-- not; a comment', \"# nor; this\", `/* nor; that */`, '$$;'",
    ],
)
def test_semicolon_inside_quotes_does_not_split(first: str) -> None:
    text = f"{first}; SELECT 2;"
    result = ch(text)
    assert sqls(result) == [first, "SELECT 2"]
    assert_positions_consistent(text, result)


# =========================================================================== heredocs


@pytest.mark.parametrize(
    "first",
    [
        "SELECT $$a;b$$",
        'SELECT $$it\'s; "odd" -- no comment; /* nor this$$',
        "SELECT $body$a; $$ ; $$ b$body$",
        "SELECT $a$ $b$;$b$ $a$",
        "SELECT $1$;$1$",
        "SELECT $_x_9$\n;\n$_x_9$",
        "SELECT $$$$, ';'",
        "SELECT $x$ $X$; $x$",
        "SELECT 1$$;$$",
        "SELECT 'a'$$;$$",
    ],
)
def test_semicolon_inside_heredocs_does_not_split(first: str) -> None:
    text = f"{first};\nSELECT 2"
    result = ch(text)
    assert sqls(result) == [first, "SELECT 2"]
    assert_positions_consistent(text, result)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "SELECT 1 AS a$b$c; SELECT 2; SELECT 3 AS x$b$",
            ["SELECT 1 AS a$b$c", "SELECT 2", "SELECT 3 AS x$b$"],
        ),
        ("SELECT col1$x$; SELECT 2", ["SELECT col1$x$", "SELECT 2"]),
        ("SELECT 1 AS $a; SELECT 2 AS $a", ["SELECT 1 AS $a", "SELECT 2 AS $a"]),
        ("SELECT $ 1; SELECT 2", ["SELECT $ 1", "SELECT 2"]),
        ("SELECT $a b$; SELECT 2; $a b$", ["SELECT $a b$", "SELECT 2", "$a b$"]),
    ],
)
def test_dollars_that_open_no_heredoc(text: str, expected: list[str]) -> None:
    assert sqls(ch(text)) == expected


# =========================================================================== comments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT 1 -- a; b\n, 2; SELECT 3", ["SELECT 1 -- a; b\n, 2", "SELECT 3"]),
        ("SELECT 1 --a; b\n, 2; SELECT 3", ["SELECT 1 --a; b\n, 2", "SELECT 3"]),
        ("SELECT 1 -->; b\n, 2; SELECT 3", ["SELECT 1 -->; b\n, 2", "SELECT 3"]),
        ("SELECT 1 // a; b\n, 2; SELECT 3", ["SELECT 1 // a; b\n, 2", "SELECT 3"]),
        ("SELECT 1 # a; b\n, 2; SELECT 3", ["SELECT 1 # a; b\n, 2", "SELECT 3"]),
        ("SELECT 1 #! a; b\n, 2; SELECT 3", ["SELECT 1 #! a; b\n, 2", "SELECT 3"]),
        ("SELECT 1 /* a; b */ + 1; SELECT 3", ["SELECT 1 /* a; b */ + 1", "SELECT 3"]),
        ("SELECT 1 /* a;\n * b; **/ + 1; SELECT 3", ["SELECT 1 /* a;\n * b; **/ + 1", "SELECT 3"]),
        (
            "SELECT 1 /* a /* b; */ c; */ + 1; SELECT 3",
            ["SELECT 1 /* a /* b; */ c; */ + 1", "SELECT 3"],
        ),
        (
            "SELECT 1 /* /* /* ; */ ; */ ; */; SELECT 3",
            ["SELECT 1 /* /* /* ; */ ; */ ; */", "SELECT 3"],
        ),
        ("SELECT 1 /*/ ; */; SELECT 3", ["SELECT 1 /*/ ; */", "SELECT 3"]),
        ("SELECT 1 /* '; */; SELECT 3", ["SELECT 1 /* '; */", "SELECT 3"]),
        ("SELECT 1 -- it's; fine\n; SELECT 3", ["SELECT 1 -- it's; fine", "SELECT 3"]),
    ],
)
def test_semicolon_inside_comments_does_not_split(text: str, expected: list[str]) -> None:
    result = ch(text)
    assert sqls(result) == expected
    assert_positions_consistent(text, result)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT 1 #x; SELECT 2", ["SELECT 1 #x", "SELECT 2"]),
        ("SELECT 1 #\tx; SELECT 2", ["SELECT 1 #\tx", "SELECT 2"]),
        ("SELECT 4 - -1; SELECT 2", ["SELECT 4 - -1", "SELECT 2"]),
        ("SELECT 4 / 2; SELECT 2", ["SELECT 4 / 2", "SELECT 2"]),
        (
            "SELECT arrayMap(x -> x * 2, [1]); SELECT 2",
            ["SELECT arrayMap(x -> x * 2, [1])", "SELECT 2"],
        ),
    ],
)
def test_what_opens_no_comment(text: str, expected: list[str]) -> None:
    assert sqls(ch(text)) == expected


def test_comments_before_a_statement_are_not_part_of_it() -> None:
    text = (
        "#!/usr/bin/env clickhouse-local --queries-file\n"
        "-- first\n"
        "/* outer /* inner; */ still outer; */ // more\n"
        "# and more\n"
        "  SELECT 1;"
    )
    result = ch(text)
    assert sqls(result) == ["SELECT 1"]
    assert (result[0].line, result[0].column, result[0].offset) == (5, 3, text.index("SELECT"))


# =========================================================================== realistic DDL

MIGRATION = """\
-- migrata: no-transaction
CREATE TABLE IF NOT EXISTS events
(
    id UInt64,
    kind LowCardinality(String) DEFAULT 'a;b',
    payload String COMMENT 'raw JSON; may be empty' CODEC(ZSTD(3)),
    `user;id` UInt32,
    created_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (kind, created_at, id)
SETTINGS index_granularity = 8192
COMMENT 'events; one row per event';

CREATE TABLE events_daily (day Date, kind String, n UInt64)
ENGINE = SummingMergeTree ORDER BY (day, kind);

CREATE MATERIALIZED VIEW events_daily_mv TO events_daily AS
SELECT toDate(created_at) AS day, kind, count() AS n -- counted; per day
FROM events
GROUP BY day, kind;

ALTER TABLE events ADD COLUMN IF NOT EXISTS source String DEFAULT 'web;app' AFTER kind;

INSERT INTO events (id, kind, payload, `user;id`) VALUES
    (1, 'click', '{"a": ";"}', 7),
    (2, 'it\\'s;', 'x''y;', 8),
    (3, 'heredoc', $$multi;
line$$, 9);

CREATE FUNCTION IF NOT EXISTS migrata_clamp AS (x, lo, hi) -> greatest(lo, least(x, hi));

/* trailing; notes */
"""


def test_realistic_clickhouse_migration() -> None:
    result = ch(MIGRATION)
    assert [s.sql.split(None, 3)[:3] for s in result] == [
        ["CREATE", "TABLE", "IF"],
        ["CREATE", "TABLE", "events_daily"],
        ["CREATE", "MATERIALIZED", "VIEW"],
        ["ALTER", "TABLE", "events"],
        ["INSERT", "INTO", "events"],
        ["CREATE", "FUNCTION", "IF"],
    ]
    assert result[0].sql.endswith("COMMENT 'events; one row per event'")
    assert result[2].sql.endswith("GROUP BY day, kind")
    assert result[3].sql == (
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS source String DEFAULT 'web;app' AFTER kind"
    )
    assert result[4].sql.endswith("$$multi;\nline$$, 9)")
    assert result[5].sql == (
        "CREATE FUNCTION IF NOT EXISTS migrata_clamp AS (x, lo, hi) -> greatest(lo, least(x, hi))"
    )
    assert [s.line for s in result] == [2, 16, 19, 24, 26, 32]
    assert all(s.column == 1 for s in result)
    assert_positions_consistent(MIGRATION, result)


# =========================================================================== positions


def test_positions_after_crlf_and_non_ascii() -> None:
    text = "SELECT 'é日😀';\r\n  SELECT 'ß'; -- ü\r\n\r\n SELECT 3;"
    result = ch(text)
    assert sqls(result) == ["SELECT 'é日😀'", "SELECT 'ß'", "SELECT 3"]
    assert [(s.line, s.column) for s in result] == [(1, 1), (2, 3), (4, 2)]
    assert_positions_consistent(text, result)


def test_crlf_is_never_part_of_a_statement() -> None:
    text = "SELECT 1\r\n;\r\nSELECT 2 -- c\r\n;\r\nSELECT $$a\r\n$$\r\n;\r\nSELECT 3\r\n"
    assert sqls(ch(text)) == ["SELECT 1", "SELECT 2 -- c", "SELECT $$a\r\n$$", "SELECT 3"]


def test_unicode_white_space_is_skipped_like_ascii() -> None:
    text = "\ufeffSELECT 1\u00a0;\u3000\u2003SELECT 2\u202f"
    result = ch(text)
    assert sqls(result) == ["SELECT 1", "SELECT 2"]
    assert [s.offset for s in result] == [1, 13]


def test_first_line_shifts_lines() -> None:
    text = "SELECT 1;\r\n/* a\r\n /* b */ */ SELECT 2;\n\n  SELECT 3"
    result = ch(text, first_line=20)
    assert [(s.line, s.column) for s in result] == [(20, 1), (22, 13), (24, 3)]
    assert [s.offset for s in result] == [0, text.index("SELECT 2"), text.index("SELECT 3")]


# =========================================================================== errors


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("SELECT 1;\n  SELECT 'abc; SELECT 2;", 2, 10, "unterminated string: the '"),
        ("SELECT 'it\\'s", 1, 8, "unterminated string"),
        ("SELECT 'abc''", 1, 8, "unterminated string"),
        ("SELECT 'abc\\", 1, 8, "unterminated string"),
        ('SELECT 1;\nSELECT "abc;\n\nSELECT 2;', 2, 8, 'unterminated quoted identifier: the "'),
        ("SELECT `abc; SELECT 2", 1, 8, "unterminated quoted identifier: the `"),
        ("SELECT `a\\`", 1, 8, "unterminated quoted identifier"),
        ("SELECT \u2018abc; SELECT 2", 1, 8, "unterminated string: the \u2018"),
        ("SELECT \u201cabc; SELECT 2", 1, 8, "unterminated quoted identifier: the \u201c"),
        ("SELECT 1;\n  SELECT $$abc; SELECT 2;", 2, 10, "unterminated heredoc: the $$"),
        ("SELECT $body$ a; $$ b $$; $bod$", 1, 8, "unterminated heredoc: the $body$"),
        ("SELECT $x$ a; $X$", 1, 8, "the $x$ here is never followed by another $x$"),
        ("SELECT 1;\n/* never closed; SELECT 2;", 2, 1, "unterminated comment: the /*"),
        ("SELECT 1 /* never closed;", 1, 10, "unterminated comment"),
        ("SELECT 1 /* a /* b */ c; SELECT 2", 1, 10, "ClickHouse nests /* */ comments"),
        ("  /* a /* b */\nSELECT 2;", 1, 3, "1 still open at the end of the script"),
        ("SELECT 1 /* /* /* */", 1, 10, "2 still open"),
        ("SELECT '/*', 1 /* '", 1, 16, "unterminated comment"),
        ("SELECT 1 /* a */ 'b", 1, 18, "unterminated string"),
    ],
)
def test_unterminated_constructs_point_at_where_they_open(
    text: str, line: int, column: int, words: str
) -> None:
    err = error_of(text)
    assert (err.line, err.column) == (line, column)
    assert words in str(err)


def test_errors_respect_first_line_and_crlf() -> None:
    err = error_of("SELECT 1;\r\n-- ß\r\n  SELECT 'open", first_line=7)
    assert (err.line, err.column) == (9, 10)
    assert str(err).startswith(f"{PATH}:9:10: unterminated string")


# =========================================================================== size


def test_a_megabyte_of_statements() -> None:
    row = "INSERT INTO t (id, name, note) VALUES ({0}, 'name;{0}', \"it\\'s\"); -- row {0}\n"
    other = "/* {0} /* ; */ */ ALTER TABLE t UPDATE s = $$a;b$$ WHERE id = {0} # done\n;\n"
    parts = []
    size = 0
    count = 0
    while size < 1_000_000:
        for template in (row, other):
            part = template.format(count)
            parts.append(part)
            size += len(part)
        count += 1
    result = ch("".join(parts))
    assert len(result) == 2 * count
