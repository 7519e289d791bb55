"""sqltext: checksum normalisation, directives, decoding and offset -> line:column."""

from __future__ import annotations

import re

import pytest

from migrata.errors import DiscoveryError, InvalidEncoding, UnknownDirective
from migrata.sqltext import (
    CHECKSUM_SCHEME,
    LineIndex,
    checksum,
    checksums_match,
    decode,
    normalize,
    parse_directives,
)

LF_TEXT = "-- create users\nCREATE TABLE users (\n  id int\n);\n\nSELECT 'é';\n"


def _variants(text: str) -> dict[str, str]:
    assert "\r" not in text
    return {
        "lf": text,
        "crlf": text.replace("\n", "\r\n"),
        "cr": text.replace("\n", "\r"),
        "bom-lf": "\ufeff" + text,
        "bom-crlf": "\ufeff" + text.replace("\n", "\r\n"),
        "mixed": _mixed_endings(text),
    }


def _mixed_endings(text: str) -> str:
    """Each line break replaced in turn by CRLF, CR and LF."""
    lines = text.split("\n")
    endings = ["\r\n", "\r", "\n"]
    out = lines[0]
    for i, line in enumerate(lines[1:]):
        out += endings[i % 3] + line
    return out


# --------------------------------------------------------------------------- checksums


@pytest.mark.parametrize("variant", sorted(_variants(LF_TEXT)))
def test_checksum_is_the_same_for_line_ending_and_bom_variants(variant: str) -> None:
    text = _variants(LF_TEXT)[variant]
    assert checksum(text) == checksum(LF_TEXT)


@pytest.mark.parametrize("variant", sorted(_variants(LF_TEXT)))
def test_checksum_of_decoded_utf8_bytes_matches_lf_text(variant: str) -> None:
    data = _variants(LF_TEXT)[variant].encode("utf-8")
    assert checksum(decode(data, "m.sql")) == checksum(LF_TEXT)


@pytest.mark.parametrize(
    "changed",
    [
        LF_TEXT.replace("users", "user"),
        LF_TEXT.replace("id int", "id  int"),  # whitespace inside a line is content
        LF_TEXT + "\n",  # an extra line is content
        LF_TEXT.replace("é", "e"),
        LF_TEXT.rstrip("\n"),
    ],
)
def test_checksum_changes_for_a_real_content_change(changed: str) -> None:
    assert checksum(changed) != checksum(LF_TEXT)


def test_checksum_has_the_scheme_prefix_and_a_sha256_hex_digest() -> None:
    value = checksum(LF_TEXT)
    assert CHECKSUM_SCHEME == "sha256-lf"
    assert value.startswith("sha256-lf:")
    assert re.fullmatch(r"sha256-lf:[0-9a-f]{64}", value)


def test_checksum_is_deterministic_and_known_for_empty_text() -> None:
    # sha256 of the empty string: pins the scheme, so a silent change of algorithm fails here.
    assert checksum("") == (
        "sha256-lf:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert checksum("\ufeff") == checksum("")


def test_checksum_of_several_parts_separates_them() -> None:
    assert checksum("ab", "c") != checksum("a", "bc")
    assert checksum("a", "b") != checksum("ab")
    assert checksum("a\r\n", "b") == checksum("a\n", "b")


def test_normalize_drops_bom_and_turns_every_line_ending_into_lf() -> None:
    assert normalize("\ufeffa\r\nb\rc\nd") == "a\nb\nc\nd"
    # only a leading BOM is dropped: one in the middle is content
    assert normalize("a\ufeffb") == "a\ufeffb"


def test_checksums_match_compares_with_the_stored_value() -> None:
    fresh = checksum(LF_TEXT)
    assert checksums_match(fresh, fresh)
    assert checksums_match(f"  {fresh}\n", fresh)
    assert not checksums_match(checksum("other"), fresh)
    # a value of another scheme never matches, even with the same digest
    assert not checksums_match(fresh.replace("sha256-lf:", "sha256:"), fresh)


# --------------------------------------------------------------------------- directives


@pytest.mark.parametrize(
    "text",
    [
        "-- migrata: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);\n",
        "-- a header comment\n\n-- migrata: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);",
        "--migrata:no-transaction\nSELECT 1;",
        "-- MIGRATA: No-Transaction\nSELECT 1;",
        "   -- migrata: no-transaction   \nSELECT 1;",
        "\ufeff-- migrata: no-transaction\r\nSELECT 1;",
        "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);",
        "-- no-transaction\r\nSELECT 1;",
    ],
)
def test_no_transaction_directive_in_leading_comments(text: str) -> None:
    assert parse_directives(text, "m.sql").transactional is False


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SELECT 1;",
        "-- just a comment\nSELECT 1;",
        # after the first statement a directive is only a comment
        "SELECT 1;\n-- migrata: no-transaction\nSELECT 2;",
        # the sqlx form counts on the first line only
        "-- header\n-- no-transaction\nSELECT 1;",
        # a comment that mentions the word is not a directive
        "-- this file needs no-transaction? no.\nSELECT 1;",
        # a later directive turns it back on
        "-- migrata: no-transaction\n-- migrata: transaction\nSELECT 1;",
    ],
)
def test_transactional_by_default(text: str) -> None:
    assert parse_directives(text, "m.sql").transactional is True


def test_unknown_directive_raises_naming_path_and_line() -> None:
    text = "-- header\n\n-- migrata: frobnicate\nSELECT 1;"
    with pytest.raises(UnknownDirective) as info:
        parse_directives(text, "db/0001_x.sql")
    err = info.value
    assert isinstance(err, DiscoveryError)
    assert err.path == "db/0001_x.sql"
    assert err.line == 3
    assert "frobnicate" in str(err)
    assert str(err).startswith("db/0001_x.sql:3: ")
    assert "no-transaction" in str(err)  # the message lists what is known


def test_unknown_directive_among_known_ones_raises() -> None:
    with pytest.raises(UnknownDirective) as info:
        parse_directives("-- migrata: no-transaction, frobnicate\nSELECT 1;", "m.sql")
    assert info.value.line == 1
    assert "frobnicate" in str(info.value)


def test_unknown_directive_line_counts_crlf_and_cr_lines() -> None:
    with pytest.raises(UnknownDirective) as info:
        parse_directives("-- a\r\n-- b\r-- migrata: frobnicate\r\nSELECT 1;", "m.sql")
    assert info.value.line == 3


def test_unknown_directive_after_first_statement_is_ignored() -> None:
    directives = parse_directives("SELECT 1;\n-- migrata: frobnicate\n", "m.sql")
    assert directives.transactional is True


# --------------------------------------------------------------------------- decoding


def test_decode_utf8_keeps_the_text() -> None:
    assert decode("SELECT 'é';\n".encode(), "m.sql") == "SELECT 'é';\n"


def test_decode_non_utf8_raises_invalid_encoding_naming_the_path() -> None:
    data = "SELECT 1;\nSELECT 'café';\n".encode("latin-1")
    with pytest.raises(InvalidEncoding) as info:
        decode(data, "migrations/0001_x.sql")
    err = info.value
    assert isinstance(err, DiscoveryError)
    assert err.path == "migrations/0001_x.sql"
    assert err.line == 2
    assert "migrations/0001_x.sql" in str(err)
    assert "0xe9" in str(err)
    assert "UTF-8" in str(err)
    assert isinstance(err.__cause__, UnicodeDecodeError)


def test_decode_utf16_is_rejected() -> None:
    with pytest.raises(InvalidEncoding) as info:
        decode("SELECT 1;".encode("utf-16"), "m.sql")
    assert info.value.line == 1


# --------------------------------------------------------------------------- LineIndex


# "ab\nde\r\ng\ri\n": a0 b1 \n2 d3 e4 \r5 \n6 g7 \r8 i9 \n10
@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (0, (1, 1)),
        (2, (1, 3)),  # the "\n" still belongs to line 1
        (3, (2, 1)),  # "d"
        (5, (2, 3)),  # "\r" of "\r\n"
        (6, (2, 4)),  # "\n" of "\r\n": CRLF is one line break, not two
        (7, (3, 1)),  # "g" after CRLF
        (9, (4, 1)),  # "i" after a lone CR
        (10, (4, 2)),
        (11, (5, 1)),  # end of text, after the final LF
    ],
)
def test_line_index_positions(offset: int, expected: tuple[int, int]) -> None:
    assert LineIndex("ab\nde\r\ng\ri\n").position(offset) == expected


def test_line_index_end_of_text_and_first_line() -> None:
    text = "x\ny"
    assert LineIndex(text).position(len(text)) == (2, 2)
    assert LineIndex(text, first_line=10).position(0) == (10, 1)
    assert LineIndex(text, first_line=10).position(2) == (11, 1)


def test_line_index_counts_characters_not_bytes() -> None:
    text = "é日😀x\n😀y"
    assert LineIndex(text).position(text.index("x")) == (1, 4)
    assert LineIndex(text).position(text.index("y")) == (2, 2)


def test_line_index_empty_text() -> None:
    assert LineIndex("").position(0) == (1, 1)


def test_directive_after_a_block_comment_header_is_read() -> None:
    text = "/*\n * Adds an index.\n */\n-- migrata: no-transaction\nCREATE INDEX i ON t (x);\n"
    assert parse_directives(text, "m.sql").transactional is False


def test_directive_after_a_one_line_block_comment_is_read() -> None:
    text = "/* header */\n-- migrata: no-transaction\nSELECT 1;\n"
    assert parse_directives(text, "m.sql").transactional is False


def test_statement_after_block_comment_ends_the_header() -> None:
    text = "/* c */ SELECT 1;\n-- migrata: no-transaction\n"
    assert parse_directives(text, "m.sql").transactional is True
