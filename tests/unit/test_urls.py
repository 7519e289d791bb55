"""URL parsing and redaction."""

from __future__ import annotations

import pytest

from migrata.errors import ConfigError
from migrata.urls import parse_url, redact


@pytest.mark.parametrize(
    ("url", "password", "shown"),
    [
        ("postgresql://u:pw@h:5432/db", "pw", "postgresql://u:***@h:5432/db"),
        (
            "postgres://u:p%40ss@h/db?sslmode=require",
            "p@ss",
            "postgres://u:***@h/db?sslmode=require",
        ),
        ("postgresql://u:Sentinel#Pw@h/db", "Sentinel#Pw", "postgresql://u:***@h/db"),
        ("postgresql://u:a?b:c@h/db", "a?b:c", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", None, "postgresql://u@h/db"),
        (
            "postgresql://h/db?user=u&password=abc&x=1",
            "abc",
            "postgresql://h/db?user=u&password=***&x=1",
        ),
    ],
)
def test_password_is_found_and_redacted(url: str, password: str | None, shown: str) -> None:
    parsed = parse_url(url)
    assert parsed.password == password
    assert redact(url) == shown
    assert str(parsed) == shown and shown in repr(parsed)


def test_unencoded_at_sign_is_refused_without_showing_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        parse_url("postgresql://u:Sentinel@Pw@h/db")
    assert "Sentinel" not in str(info.value) and "Pw@" not in str(info.value)
    assert "%40" in str(info.value)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative.db", "relative.db"),
        ("sqlite:////abs/path.db", "/abs/path.db"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_paths(url: str, path: str) -> None:
    parsed = parse_url(url)
    assert (parsed.engine, parsed.path) == ("sqlite", path)


@pytest.mark.parametrize(
    "url", ["", "nonsense", "mysql2://x/y", "sqlite://relative.db", "sqlite:///"]
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_url(url)


def test_scrub_removes_raw_and_encoded_forms() -> None:
    parsed = parse_url("postgresql://u:p%40ss%2Fx@h/db")
    text = "failed for p@ss/x and p%40ss%2Fx in postgresql://u:p%40ss%2Fx@h/db"
    clean = parsed.scrub(text)
    assert "p@ss" not in clean and "p%40ss" not in clean
