"""The parts of the ClickHouse backend that need no engine: URLs and the history's SQL."""

from __future__ import annotations

import pytest

from migrata.backends.clickhouse.connection import ClickHouseBackend, connect_arguments
from migrata.errors import ConfigError
from migrata.urls import parse_url

SENTINEL = "Sntnl-7c1e"


@pytest.mark.parametrize("scheme", ["clickhouse", "clickhouses", "chdb"])
def test_schemes_are_clickhouse(scheme: str) -> None:
    assert parse_url(f"{scheme}://u@h/db").engine == "clickhouse"


def test_http_url() -> None:
    assert connect_arguments(parse_url(f"clickhouse://app:{SENTINEL}@ch.example/events")) == {
        "host": "ch.example",
        "port": 8123,
        "secure": False,
        "username": "app",
        "password": SENTINEL,
        "database": "events",
    }


def test_https_url_and_options() -> None:
    args = connect_arguments(
        parse_url("clickhouses://app@ch.example:9443/events?verify=false&ca_cert=/ca.pem")
    )
    assert (args["port"], args["secure"], args["verify"], args["ca_cert"]) == (
        9443,
        True,
        False,
        "/ca.pem",
    )
    assert connect_arguments(parse_url("clickhouses://app@ch.example/e"))["port"] == 8443
    assert connect_arguments(parse_url("clickhouse://ch.example/"))["username"] == "default"


def test_chdb_url() -> None:
    assert connect_arguments(parse_url("chdb:///var/lib/app/chdb?database=events")) == {
        "dsn": "chdb:///var/lib/app/chdb",
        "database": "events",
    }
    assert connect_arguments(parse_url("chdb://")) == {"dsn": "chdb://"}


def test_unknown_options_are_named_without_the_password() -> None:
    with pytest.raises(ConfigError) as error:
        connect_arguments(parse_url(f"clickhouse://app:{SENTINEL}@h/db?timeout=3"))
    assert "unknown option 'timeout'" in str(error.value)
    assert SENTINEL not in str(error.value)
    with pytest.raises(ConfigError, match="three slashes"):
        connect_arguments(parse_url("chdb://data/chdb"))
    with pytest.raises(ConfigError, match="take only database"):
        connect_arguments(parse_url("chdb:///x?engine=y"))


def test_identifiers_are_quoted_with_backticks() -> None:
    backend = ClickHouseBackend.__new__(ClickHouseBackend)
    assert backend.quote_identifier("we`ird") == "`we\\`ird`"
    assert backend.qualified("t", "db") == "`db`.`t`"
