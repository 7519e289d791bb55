"""The parts of the MySQL/MariaDB backend that need no server: URLs, lock names, versions,
error positions."""

from __future__ import annotations

import pytest

from migrata.backends.mysql.connection import (
    DEFAULT_SOCKET,
    MySQLBackend,
    _position,
    connect_arguments,
    lock_name,
    parse_server_version,
)
from migrata.errors import ConfigError
from migrata.urls import parse_url

SENTINEL = "Sntnl-9f3a"


@pytest.mark.parametrize("scheme", ["mysql", "mariadb", "MySQL"])
def test_both_schemes_are_mysql(scheme: str) -> None:
    assert parse_url(f"{scheme}://u@db.example:3307/app").engine == "mysql"


def test_tcp_url() -> None:
    url = parse_url(f"mysql://app:{SENTINEL}@db.example:3307/shop")
    assert connect_arguments(url) == {
        "user": "app",
        "password": SENTINEL,
        "database": "shop",
        "host": "db.example",
        "port": 3307,
        "charset": "utf8mb4",
    }


def test_default_port_and_encoded_password() -> None:
    args = connect_arguments(parse_url("mariadb://app:p%40ss%2Fw@db/shop"))
    assert (args["port"], args["password"]) == (3306, "p@ss/w")


def test_no_host_means_the_local_socket() -> None:
    args = connect_arguments(parse_url("mysql://root@/shop"))
    assert args["unix_socket"] == DEFAULT_SOCKET
    assert "host" not in args


def test_socket_option() -> None:
    args = connect_arguments(parse_url("mysql://root@localhost/shop?unix_socket=/tmp/my.sock"))
    assert args["unix_socket"] == "/tmp/my.sock"
    assert "host" not in args
    assert connect_arguments(parse_url("mysql://root@/x?socket=/s"))["unix_socket"] == "/s"


def test_password_in_the_query_string() -> None:
    args = connect_arguments(parse_url(f"mysql://app@db/shop?password={SENTINEL}&charset=latin1"))
    assert args["password"] == SENTINEL
    assert args["charset"] == "latin1"


def test_unknown_option_is_named_without_the_password() -> None:
    with pytest.raises(ConfigError) as error:
        connect_arguments(parse_url(f"mysql://app:{SENTINEL}@db/shop?sslmode=require"))
    assert "unknown option 'sslmode'" in str(error.value)
    assert "unix_socket" in str(error.value)
    assert SENTINEL not in str(error.value)


def test_a_bad_port_or_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="port"):
        connect_arguments(parse_url(f"mysql://app:{SENTINEL}@db:port/shop"))
    with pytest.raises(ConfigError, match="one database name"):
        connect_arguments(parse_url("mysql://app@db/shop/extra"))


def test_lock_names_fit_mysqls_limit_and_differ_per_database() -> None:
    assert lock_name("migrata:.migrata_history", "shop") == "migrata:.migrata_history@shop"
    long = lock_name("migrata:" + "s" * 60 + ".migrata_history", "shop")
    assert len(long) <= 64 and long.startswith("migrata:")
    assert long != lock_name("migrata:" + "s" * 60 + ".migrata_history", "shop2")


@pytest.mark.parametrize(
    "text, number",
    [
        ("5.5.5-10.11.19-MariaDB-0+deb12u1", 101119),
        ("10.6.4-MariaDB", 100604),
        ("8.0.36", 80036),
        ("8.4.0-commercial", 80400),
        ("weird", None),
    ],
)
def test_server_version(text: str, number: int | None) -> None:
    assert parse_server_version(text) == number


def test_the_near_text_of_a_syntax_error_becomes_a_position() -> None:
    sql = "CREATE TABLE t (\n  a INT,\n  b INT DEFAULT,\n  c INT\n)"
    position = _position(sql, ",\n  c INT\n)", 3)
    assert position is not None
    assert sql[position - 1 :].startswith(",\n  c INT")
    assert _position(sql, "nothing like it", 1) is None
    assert _position(sql, "x", 99) is None


def test_upserts_and_quoting_are_mysqls() -> None:
    backend = MySQLBackend.__new__(MySQLBackend)
    assert backend.quote_identifier("we`ird") == "`we``ird`"
    assert backend.upsert_sql(["key"], []) == "ON DUPLICATE KEY UPDATE `key` = `key`"
    assert backend.upsert_sql(["service", "version"], ["name", "error"]) == (
        "ON DUPLICATE KEY UPDATE `name` = VALUES(`name`), `error` = VALUES(`error`)"
    )
