"""Directives for environments and time limits, and the durations they (and the settings) take."""

from __future__ import annotations

import pytest

from migrata.errors import UnknownDirective
from migrata.layouts.base import script_from_text
from migrata.models import Timeouts
from migrata.sqltext import parse_directives, parse_duration, parse_environments


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30.0),
        ("1.5", 1.5),
        (".5", 0.5),
        ("500ms", 0.5),
        ("30s", 30.0),
        ("30 s", 30.0),
        ("2sec", 2.0),
        ("10min", 600.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1.5H", 5400.0),
        ("0", 0.0),
        (7, 7.0),
        (0.25, 0.25),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5 parsecs", "-1", "1d", "10mins", "nan", True, "1e3"])
def test_bad_durations_name_the_accepted_forms(text: object) -> None:
    with pytest.raises(ValueError, match=r"not a duration|zero or more"):
        parse_duration(text)


def test_negative_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="zero or more"):
        parse_duration(-3)


def test_environment_lists() -> None:
    assert parse_environments("dev,test") == ("dev", "test")
    assert parse_environments(" dev , staging-eu ,") == ("dev", "staging-eu")
    for bad in ["", " , ", "dev,prod uction", "dev,no-transaction", "-x"]:
        with pytest.raises(ValueError):
            parse_environments(bad)


@pytest.mark.parametrize(
    ("header", "environments"),
    [
        ("-- migrata: environments=dev,test", ("dev", "test")),
        ("-- migrata: environments = dev, test", ("dev", "test")),
        ("-- migrata: environment=dev", ("dev",)),
        ("-- migrata: env=test", ("test",)),
        ("-- MIGRATA: Environments=Dev", ("Dev",)),
        ("/* seed data */\n-- migrata: environments=dev", ("dev",)),
        ("-- just a comment", None),
    ],
)
def test_environments_directive(header: str, environments: tuple[str, ...] | None) -> None:
    directives = parse_directives(f"{header}\nINSERT INTO t VALUES (1);\n", "m.sql")
    assert directives.environments == environments
    assert directives.transactional is True  # an environment says nothing about transactions


def test_several_directives_on_one_line_and_on_several() -> None:
    text = (
        "-- migrata: environments=dev,test no-transaction\n"
        "-- migrata: statement-timeout=10min, migration-timeout=1h ddl-lock-timeout=500ms\n"
        "CREATE INDEX CONCURRENTLY i ON t (x);\n"
    )
    directives = parse_directives(text, "m.sql")
    assert directives.environments == ("dev", "test")
    assert directives.transactional is False and directives.explicit is True
    assert directives.timeouts == Timeouts(statement=600.0, migration=3600.0, lock=0.5)


def test_a_directive_after_the_first_statement_is_only_a_comment() -> None:
    directives = parse_directives("SELECT 1;\n-- migrata: environments=dev\n", "m.sql")
    assert directives.environments is None


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("-- migrata: environments=", "needs a value"),
        ("-- migrata: statement-timeout", "needs a value"),
        ("-- migrata: statement-timeout=soon", "not a duration"),
        ("-- migrata: ddl-lock-timeout=-1s", "not a duration"),
        ("-- migrata: environments=dev, no-transaction", "is a directive, not an environment"),
        ("-- migrata: environments=de v", "unknown directive"),
        ("-- migrata: colour=red", "unknown directive `-- migrata: colour=`"),
    ],
)
def test_bad_directives_name_the_file_and_line(line: str, fragment: str) -> None:
    with pytest.raises(UnknownDirective) as info:
        parse_directives(f"-- header\n{line}\nSELECT 1;\n", "db/0007_x.sql")
    assert info.value.path == "db/0007_x.sql"
    assert info.value.line == 2
    assert str(info.value).startswith("db/0007_x.sql:2: ")
    assert fragment in str(info.value)


def test_unknown_directive_lists_the_known_ones() -> None:
    with pytest.raises(UnknownDirective) as info:
        parse_directives("-- migrata: frobnicate\nSELECT 1;", "m.sql")
    for known in ("no-transaction", "environments=", "statement-timeout=", "ddl-lock-timeout="):
        assert known in str(info.value)


def test_scripts_carry_environments_and_limits() -> None:
    script = script_from_text(
        "m/0001_seed.sql",
        "-- migrata: environments=dev statement-timeout=2s\nINSERT INTO t VALUES (1);\n",
    )
    assert script.environments == ("dev",)
    assert script.timeouts == Timeouts(statement=2.0)
    plain = script_from_text("m/0002_x.sql", "SELECT 1;\n")
    assert plain.environments is None and plain.timeouts == Timeouts()


def test_timeouts_layer_over_each_other() -> None:
    run = Timeouts(statement=30.0, migration=None, lock=5.0)
    assert Timeouts().over(run) == run
    assert Timeouts(statement=0.0).over(run) == Timeouts(statement=0.0, lock=5.0)
    assert Timeouts(migration=60.0, lock=1.0).over(run) == Timeouts(30.0, 60.0, 1.0)
