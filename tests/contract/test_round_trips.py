"""Round trips are the budget (PostgreSQL): measured with a counting TCP proxy, not by
reading the code.

A *round trip* is counted each time the client starts sending again after the server has
sent something (a client→server direction switch on one connection).
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from _contract_support import extra_postgres_database, with_port

from conftest import write_migrations
from migrata import Migrator, State

UPSTREAM = ("127.0.0.1", 5432)


class CountingProxy:
    """Forward 127.0.0.1:<port> to PostgreSQL, counting connections and direction switches.

    One thread per connection reads both sockets with a selector, so the order in which
    the two directions are seen is the order in which the bytes reached the proxy.
    """

    def __init__(self, upstream: tuple[str, int] = UPSTREAM) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.connections = 0
        self.round_trips = 0
        self._active = 0
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def reset(self) -> None:
        self.wait_idle()
        with self._lock:
            self.connections = 0
            self.round_trips = 0

    def counts(self) -> tuple[int, int]:
        """(connections, round trips) since the last reset, once every connection closed."""
        self.wait_idle()
        with self._lock:
            return self.connections, self.round_trips

    def wait_idle(self, timeout: float = 10) -> None:
        with self._idle:
            if not self._idle.wait_for(lambda: self._active == 0, timeout):
                raise AssertionError("a proxied connection is still open")

    def close(self) -> None:
        self._closed = True
        try:  # wake the accept() call: closing the socket alone does not
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self._accepter.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self._closed:
                client.close()
                return
            server = socket.create_connection(self.upstream)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._active += 1
            thread = threading.Thread(target=self._pump, args=(client, server), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, server)
        selector.register(server, selectors.EVENT_READ, client)
        last_sender: socket.socket | None = None
        try:
            while True:
                for key, _ in selector.select():
                    source: socket.socket = key.fileobj
                    try:
                        data = source.recv(1 << 16)
                    except OSError:
                        data = b""
                    if not data:
                        return
                    if source is client and last_sender is server:
                        with self._lock:
                            self.round_trips += 1
                    last_sender = source
                    key.data.sendall(data)
        finally:
            selector.close()
            for s in (client, server):
                try:
                    s.close()
                except OSError:
                    pass
            with self._idle:
                self._active -= 1
                self._idle.notify_all()


@pytest.fixture
def proxy() -> Iterator[CountingProxy]:
    p = CountingProxy()
    try:
        yield p
    finally:
        p.close()


def transactional_folder(root: Path, count: int) -> Path:
    return write_migrations(
        root,
        {
            f"{n:04d}_table_{n}.sql": (
                f"CREATE TABLE rt_{n} (id INTEGER PRIMARY KEY, label TEXT);\n"
                f"CREATE INDEX rt_{n}_label ON rt_{n} (label);\n"
                f"INSERT INTO rt_{n} (id, label) VALUES (1, 'x');\n"
            )
            for n in range(1, count + 1)
        },
    )


def measure(proxy: CountingProxy, action) -> tuple[int, int]:
    """(connections, round trips) of ``action``."""
    proxy.reset()
    action()
    return proxy.counts()


def measure_handshake(proxy: CountingProxy, url: str) -> int:
    """Round trips of a bare connect + close through the proxy."""
    import psycopg

    connections, handshake = measure(proxy, lambda: psycopg.connect(url).close())
    assert connections == 1
    return handshake


N = 20


def up_round_trips(postgres_db, proxy: CountingProxy, tmp_path: Path) -> dict[str, int]:
    many = transactional_folder(tmp_path / "many", N)
    one = transactional_folder(tmp_path / "one", 1)
    url_many = with_port(postgres_db.url, proxy.port)
    with extra_postgres_database(postgres_db.url) as other:
        c1, rt_one = measure(
            proxy, lambda: Migrator(with_port(other, proxy.port), directory=one).up()
        )
    c20, rt_many = measure(proxy, lambda: Migrator(url_many, directory=many).up())
    assert [e.state for e in Migrator(postgres_db.url, directory=many).status()] == [
        State.APPLIED
    ] * N
    _, rt_noop = measure(proxy, lambda: Migrator(url_many, directory=many).up())
    numbers = {
        "handshake": measure_handshake(proxy, url_many),
        "one": rt_one,
        "many": rt_many,
        "connections_one": c1,
        "connections_many": c20,
        "noop": rt_noop,
    }
    print(
        "\nround trips of up() (client->server switches through the proxy):"
        f"\n  connect+close alone           {numbers['handshake']}"
        f"\n  up() of 1 migration           {rt_one} ({c1} connection(s))"
        f"\n  up() of {N} migrations         {rt_many} ({c20} connection(s))"
        f"\n  difference, {N - 1} migrations     {rt_many - rt_one} "
        f"= {(rt_many - rt_one) / (N - 1):.2f} per migration"
        f"\n  up() with nothing to do       {rt_noop}"
    )
    return numbers


def test_up_costs_at_most_two_round_trips_per_migration_on_one_connection(
    postgres_db, proxy: CountingProxy, tmp_path: Path
) -> None:
    numbers = up_round_trips(postgres_db, proxy, tmp_path)
    assert numbers["connections_one"] == 1, "a whole up() uses exactly one connection"
    assert numbers["connections_many"] == 1, "a whole up() uses exactly one connection"
    assert numbers["many"] - numbers["one"] <= 2 * (N - 1)


def test_up_costs_one_round_trip_per_migration(
    postgres_db, proxy: CountingProxy, tmp_path: Path
) -> None:
    """ARCHITECTURE.md's budget: a migration's SQL, history row and commit in one round trip
    (regression: an explicit pipeline.sync() before the pipeline's own exit Sync once made
    every batch cost two)."""
    numbers = up_round_trips(postgres_db, proxy, tmp_path)
    # 1 per migration, with room for a stray switch or two of the instrument (at 2 per
    # migration the difference is 38)
    assert numbers["many"] - numbers["one"] <= N - 1 + 3


def test_status_costs_one_query_round_trip(
    postgres_db, proxy: CountingProxy, tmp_path: Path
) -> None:
    folder = transactional_folder(tmp_path / "m", 3)
    Migrator(postgres_db.url, directory=folder).up()
    url = with_port(postgres_db.url, proxy.port)
    handshake = measure_handshake(proxy, url)
    m = Migrator(url, directory=folder)
    # the least of three runs: a stray switch of the instrument is not a round trip
    runs = [measure(proxy, m.status) for _ in range(3)]
    connections, applied = max(c for c, _ in runs), min(rt for _, rt in runs)
    fresh = min(
        measure(proxy, Migrator(url, directory=folder, table="never_created").status)[1]
        for _ in range(3)
    )
    print(
        "\nround trips of status():"
        f"\n  connect+close alone           {handshake}"
        f"\n  status(), history present     {applied} ({applied - handshake} beyond the handshake)"
        f"\n  status(), no history table    {fresh} ({fresh - handshake} beyond the handshake)"
    )
    assert connections == 1
    assert [e.state for e in m.status()] == [State.APPLIED] * 3
    assert applied - handshake <= 1
    assert fresh - handshake <= 1


def test_proxy_counts_what_it_should(postgres_db, proxy: CountingProxy) -> None:
    """The instrument itself: k sequential queries cost k round trips more than none; a
    pipeline of k queries, one."""
    import psycopg

    url = with_port(postgres_db.url, proxy.port)

    def queries(k: int):
        def run() -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                for _ in range(k):
                    conn.execute("SELECT 1").fetchall()

        return run

    connections, zero = measure(proxy, queries(0))
    assert connections == 1
    assert zero == measure_handshake(proxy, url)
    _, five = measure(proxy, queries(5))
    assert five - zero == 5

    def pipelined() -> None:
        with psycopg.connect(url, autocommit=True) as conn, conn.pipeline():
            for _ in range(5):
                conn.execute("SELECT 1")

    _, batch = measure(proxy, pipelined)
    assert batch - zero == 1
