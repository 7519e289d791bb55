"""tests/netsupport.py against the real servers: LateProxy refuses connections until its delay
has passed and then forwards PostgreSQL and MariaDB connections unchanged; StartingUpPostgres
and StartingUpMySQL turn clients away with the errors a starting (or full) server sends, and
forward afterwards; stop() resets what is open and frees the port."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from conftest import MYSQL_ADMIN_URL, POSTGRES_ADMIN_URL, require_mysql, require_postgres
from netsupport import (
    LOCALHOST,
    PG_GSSENC_REQUEST,
    PG_SSL_REQUEST,
    LateProxy,
    StartingUpMySQL,
    StartingUpPostgres,
    free_port,
)

DELAY = 1.5  # LateProxy's delay and the starting-up window, in seconds
PG_PROTOCOL_3_0 = 196608


@dataclass(frozen=True)
class Server:
    """A real database server the stand-ins forward to, and how to log in to it."""

    target: tuple[str, int]
    user: str
    password: str
    dbname: str


def _server(url: str, default_port: int) -> Server:
    parts = urlsplit(url)
    return Server(
        target=(parts.hostname or LOCALHOST, parts.port or default_port),
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        dbname=parts.path.lstrip("/"),
    )


@pytest.fixture(scope="module")
def pg() -> Server:
    """The PostgreSQL server of MIGRATA_TEST_POSTGRES_URL; skipped when unreachable."""
    require_postgres()
    return _server(POSTGRES_ADMIN_URL, 5432)


@pytest.fixture(scope="module")
def mysql() -> Server:
    """The MariaDB/MySQL server of MIGRATA_TEST_MYSQL_URL; skipped when unreachable."""
    require_mysql()
    return _server(MYSQL_ADMIN_URL, 3306)


def _pg_connect(server: Server, port: int, **kwargs: Any) -> Any:
    import psycopg

    return psycopg.connect(
        f"postgresql://{server.user}@{LOCALHOST}:{port}/{server.dbname}",
        password=server.password or None,
        connect_timeout=2,
        **kwargs,
    )


def _mysql_connect(server: Server, port: int, host: str = LOCALHOST) -> Any:
    import pymysql

    return pymysql.connect(
        host=host,
        port=port,
        user=server.user,
        password=server.password,
        connect_timeout=2,
    )


def _mysql_query(conn: Any, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()


def _refused(port: int) -> bool:
    """Whether a TCP connection to 127.0.0.1:port is refused."""
    try:
        socket.create_connection((LOCALHOST, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def _port_is_free(port: int, reuse: bool = False) -> bool:
    """Whether a new socket can bind 127.0.0.1:port and listen there (with SO_REUSEADDR, as
    servers do, when ``reuse``: then TIME_WAIT leftovers on the port do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(reuse))
        try:
            sock.bind((LOCALHOST, port))
            sock.listen()
        except OSError:
            return False
    return True


# -- free_port ------------------------------------------------------------------------------


def test_free_port_can_be_bound() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    assert _port_is_free(port)


# -- LateProxy ------------------------------------------------------------------------------


def test_late_proxy_refuses_postgres_until_the_delay_then_forwards(pg: Server) -> None:
    import psycopg

    begun = time.monotonic()
    with LateProxy(target=pg.target, delay=DELAY) as proxy:
        assert proxy.listening_at is None
        assert _refused(proxy.port)
        with pytest.raises(psycopg.OperationalError, match="Connection refused"):
            _pg_connect(pg, proxy.port)
        assert proxy.connections == 0

        # What the feature under test does: try again until the server answers.
        deadline = begun + DELAY + 10
        while True:
            try:
                conn = _pg_connect(pg, proxy.port)
                break
            except psycopg.OperationalError:
                assert time.monotonic() < deadline, "the proxy never started listening"
                time.sleep(0.05)
        connected = time.monotonic()
        with conn:
            assert proxy.listening_at is not None
            assert proxy.listening_at - begun >= DELAY
            assert connected >= proxy.listening_at
            assert conn.execute("SELECT 1").fetchone() == (1,)
            # It really went through the proxy to the real server, through SSLRequest
            # negotiation (sslmode=prefer sends one) and all.
            assert conn.info.port == proxy.port
            assert conn.execute("SELECT current_setting('port')::int").fetchone() == (pg.target[1],)
        assert proxy.connections == 1


def test_late_proxy_forwards_large_payloads_both_ways(pg: Server) -> None:
    payload = os.urandom(3_000_000).hex()  # 6 MB up, as one query parameter
    with LateProxy(target=pg.target, delay=0) as proxy, _pg_connect(pg, proxy.port) as conn:
        digest = conn.execute("SELECT md5(%s)", [payload]).fetchone()
        assert digest == (hashlib.md5(payload.encode()).hexdigest(),)
        # ... and 8 MB down.
        (text,) = conn.execute("SELECT repeat('migrata!', 1000000)").fetchone()
        assert text == "migrata!" * 1_000_000


def test_late_proxy_counts_concurrent_connections(pg: Server) -> None:
    with LateProxy(target=pg.target, delay=0) as proxy:
        conns = [_pg_connect(pg, proxy.port) for _ in range(3)]
        try:
            pids = {conn.execute("SELECT pg_backend_pid()").fetchone()[0] for conn in conns}
            assert len(pids) == 3
            assert proxy.connections == 3
        finally:
            for conn in conns:
                conn.close()


def test_late_proxy_refuses_mysql_until_the_delay_then_forwards(mysql: Server) -> None:
    import pymysql

    begun = time.monotonic()
    with LateProxy(target=mysql.target, delay=DELAY) as proxy:
        with pytest.raises(pymysql.err.OperationalError) as refused:
            _mysql_connect(mysql, proxy.port)
        assert refused.value.args[0] == 2003  # CR_CONN_HOST_ERROR: connection refused
        assert proxy.connections == 0

        _sleep_until(begun + DELAY + 0.1)
        assert proxy.listening_at is not None
        conn = _mysql_connect(mysql, proxy.port)
        try:
            assert _mysql_query(conn, "SELECT 1") == (1,)
            assert _mysql_query(conn, "SELECT @@port") == (mysql.target[1],)
            assert _mysql_query(conn, "SELECT LENGTH(REPEAT('x', 2000000))") == (2_000_000,)
        finally:
            conn.close()
        assert proxy.connections == 1


def test_late_proxy_listens_when_opened_before_its_delay(pg: Server) -> None:
    with LateProxy(target=pg.target, delay=600) as proxy:
        assert _refused(proxy.port)
        proxy.open()
        deadline = time.monotonic() + 10
        while proxy.listening_at is None:
            assert time.monotonic() < deadline, "open() did not make the proxy listen"
            time.sleep(0.01)
        with _pg_connect(pg, proxy.port) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        proxy.open()  # already listening: nothing changes
        assert proxy.connections == 1


def test_late_proxy_holds_its_port_while_waiting() -> None:
    port = free_port()
    with LateProxy(delay=DELAY, port=port) as proxy:
        assert proxy.port == port
        assert _refused(port)
        for reuse in (0, 1):  # not even with SO_REUSEADDR
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
                other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, reuse)
                with pytest.raises(OSError, match="in use"):
                    other.bind((LOCALHOST, port))


def test_stop_before_the_delay_never_listens_and_frees_the_port() -> None:
    proxy = LateProxy(delay=DELAY).start()
    begun = time.monotonic()
    proxy.stop()
    assert time.monotonic() - begun < 1.0
    assert proxy.listening_at is None
    assert _refused(proxy.port)
    assert _port_is_free(proxy.port)


def test_stop_resets_open_connections_and_frees_the_port(pg: Server, mysql: Server) -> None:
    import psycopg
    import pymysql

    pg_proxy = LateProxy(target=pg.target, delay=0).start()
    mysql_proxy = LateProxy(target=mysql.target, delay=0).start()
    try:
        pg_conn = _pg_connect(pg, pg_proxy.port)
        assert pg_conn.execute("SELECT 1").fetchone() == (1,)
        mysql_conn = _mysql_connect(mysql, mysql_proxy.port)
        assert _mysql_query(mysql_conn, "SELECT 1") == (1,)
        begun = time.monotonic()
    finally:
        pg_proxy.stop()
        mysql_proxy.stop()
    assert time.monotonic() - begun < 1.0  # no waiting for the idle clients to hang up
    try:
        with pytest.raises(psycopg.OperationalError):
            pg_conn.execute("SELECT 1")
        with pytest.raises(pymysql.err.OperationalError):
            _mysql_query(mysql_conn, "SELECT 1")
    finally:
        pg_conn.close()
        mysql_conn.close()
    for proxy in (pg_proxy, mysql_proxy):
        assert _refused(proxy.port)
        assert _port_is_free(proxy.port)  # reset, not closed: no TIME_WAIT, even without reuse


def test_port_can_be_reused_after_connections_closed_normally(pg: Server, mysql: Server) -> None:
    """Whichever side closed first, the port takes a new server: the target may close before
    the client (PostgreSQL on Terminate, MariaDB on COM_QUIT), and then the FIN the proxy
    passes on leaves the port in TIME_WAIT, which only a bind without SO_REUSEADDR minds."""
    with LateProxy(target=pg.target, delay=0) as proxy, _pg_connect(pg, proxy.port) as conn:
        conn.execute("SELECT 1")
    assert _port_is_free(proxy.port, reuse=True)
    with LateProxy(target=mysql.target, delay=0, port=proxy.port) as again:
        _mysql_connect(mysql, again.port).close()
    assert _port_is_free(again.port, reuse=True)
    with LateProxy(target=pg.target, delay=0, port=again.port) as third:
        with _pg_connect(pg, third.port) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert third.connections == 1


def test_start_twice_or_on_a_busy_port_fails() -> None:
    with LateProxy(delay=DELAY) as proxy:
        with pytest.raises(RuntimeError):
            proxy.start()
        with pytest.raises(OSError):
            LateProxy(delay=0, port=proxy.port).start()


# -- StartingUpPostgres ---------------------------------------------------------------------


def test_starting_up_postgres_turns_clients_away_then_forwards(pg: Server) -> None:
    import psycopg

    with StartingUpPostgres(target=pg.target, duration=DELAY) as server:
        assert server.ready_at is not None
        with pytest.raises(psycopg.OperationalError, match="the database system is starting up"):
            _pg_connect(pg, server.port)  # sslmode=prefer: SSLRequest first, declined
        assert (server.connections, server.refused) == (1, 1)
        with pytest.raises(psycopg.OperationalError, match="the database system is starting up"):
            _pg_connect(pg, server.port, sslmode="disable")  # StartupMessage straight away
        assert (server.connections, server.refused) == (2, 2)
        assert time.monotonic() < server.ready_at, "the test was too slow for its window"

        _sleep_until(server.ready_at + 0.05)
        with _pg_connect(pg, server.port) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert (server.connections, server.refused) == (3, 2)


def test_starting_up_postgres_wait_loop(pg: Server) -> None:
    """A client that retries on 57P03 gets in once the window is over, not before."""
    import psycopg

    with StartingUpPostgres(target=pg.target, duration=1.0) as server:
        assert server.ready_at is not None
        attempts = 0
        while True:
            attempts += 1
            try:
                conn = _pg_connect(pg, server.port)
                break
            except psycopg.OperationalError as exc:
                assert "the database system is starting up" in str(exc)
                assert time.monotonic() < server.ready_at + 10
                time.sleep(0.1)
        with conn:
            assert time.monotonic() >= server.ready_at
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert server.refused == attempts - 1 >= 2
        assert server.connections == attempts


def _read_pg_message(sock: socket.socket) -> tuple[bytes, bytes]:
    """One typed backend message: (type byte, body)."""
    head = sock.recv(5, socket.MSG_WAITALL)
    kind, length = head[:1], struct.unpack("!i", head[1:])[0]
    return kind, sock.recv(length - 4, socket.MSG_WAITALL)


def _pg_untyped(payload: bytes) -> bytes:
    return struct.pack("!i", len(payload) + 4) + payload


def test_starting_up_postgres_forwards_once_ready_before_its_duration(pg: Server) -> None:
    import psycopg

    with StartingUpPostgres(target=pg.target, duration=600) as server:
        with pytest.raises(psycopg.OperationalError, match="the database system is starting up"):
            _pg_connect(pg, server.port)
        assert server.refused == 1
        server.ready()
        assert server.ready_at is not None and server.ready_at <= time.monotonic()
        with _pg_connect(pg, server.port) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert (server.connections, server.refused) == (2, 1)


def test_starting_up_postgres_wire_format() -> None:
    with StartingUpPostgres(duration=30) as server:
        with socket.create_connection((LOCALHOST, server.port), timeout=5) as sock:
            sock.sendall(_pg_untyped(struct.pack("!i", PG_GSSENC_REQUEST)))
            assert sock.recv(1) == b"N"
            sock.sendall(_pg_untyped(struct.pack("!i", PG_SSL_REQUEST)))
            assert sock.recv(1) == b"N"
            sock.sendall(_pg_untyped(struct.pack("!i", PG_PROTOCOL_3_0) + b"user\0postgres\0\0"))
            kind, body = _read_pg_message(sock)
        assert kind == b"E"
        assert body.endswith(b"\0\0")
        fields = {item[:1]: item[1:].decode() for item in body[:-1].split(b"\0") if item}
        assert fields == {
            b"S": "FATAL",
            b"V": "FATAL",
            b"C": "57P03",
            b"M": "the database system is starting up",
        }
        # A client that hangs up at once is not counted as refused.
        socket.create_connection((LOCALHOST, server.port), timeout=5).close()
        deadline = time.monotonic() + 5
        while server.connections < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (server.connections, server.refused) == (2, 1)


# -- StartingUpMySQL ------------------------------------------------------------------------


def test_starting_up_mysql_turns_clients_away_then_forwards(mysql: Server) -> None:
    import pymysql

    with StartingUpMySQL(target=mysql.target, duration=DELAY) as server:
        assert server.ready_at is not None
        with pytest.raises(pymysql.err.OperationalError) as refused:
            _mysql_connect(mysql, server.port)
        assert refused.value.args == (1040, "Too many connections")
        assert (server.connections, server.refused) == (1, 1)
        assert time.monotonic() < server.ready_at, "the test was too slow for its window"

        _sleep_until(server.ready_at + 0.05)
        conn = _mysql_connect(mysql, server.port)
        try:
            assert _mysql_query(conn, "SELECT 1") == (1,)
        finally:
            conn.close()
        assert (server.connections, server.refused) == (2, 1)


def test_starting_up_mysql_wire_format() -> None:
    with StartingUpMySQL(duration=30) as server:
        with socket.create_connection((LOCALHOST, server.port), timeout=5) as sock:
            header = sock.recv(4, socket.MSG_WAITALL)
            length = int.from_bytes(header[:3], "little")
            assert header[3] == 0  # sequence id
            payload = sock.recv(length, socket.MSG_WAITALL)
        assert payload == b"\xff" + (1040).to_bytes(2, "little") + b"Too many connections"
        assert server.refused == 1


def test_stop_does_not_wait_for_refused_clients_to_hang_up() -> None:
    """A refused client that keeps its connection open is reset by stop(), at once."""
    with StartingUpMySQL(duration=30) as mysql_server, StartingUpPostgres(duration=30) as pg_server:
        lingering = socket.create_connection((LOCALHOST, mysql_server.port), timeout=5)
        assert lingering.recv(4, socket.MSG_WAITALL)[3] == 0  # the ERR packet's header
        half_way = socket.create_connection((LOCALHOST, pg_server.port), timeout=5)
        half_way.sendall(_pg_untyped(struct.pack("!i", PG_SSL_REQUEST)))
        assert half_way.recv(1) == b"N"  # ... and no StartupMessage follows
        begun = time.monotonic()
    assert time.monotonic() - begun < 1.0
    for sock, server in ((lingering, mysql_server), (half_way, pg_server)):
        with sock, pytest.raises(ConnectionResetError):
            while sock.recv(4096):
                pass
        assert _port_is_free(server.port)
