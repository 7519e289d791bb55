"""Round trips are the budget (PostgreSQL and MySQL/MariaDB): measured with a counting TCP
proxy, not by reading the code.

A *round trip* is counted each time the client starts sending again after the server has
sent something (a client→server direction switch on one connection).

Where DDL commits implicitly (MySQL/MariaDB) a migration with DDL runs statement by statement,
so the budget of one round trip per migration is measured there with data-only migrations,
and DDL migrations have a budget of their own: one round trip per statement.

ClickHouse (at the end): chdb runs in-process, with no network for the proxy. Every call of a
clickhouse-connect client's request methods is one HTTP request to a server, so there the
requests are counted on the client instead; migrata makes the same calls on chdb.
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _contract_support import extra_database, mysql_connect, with_port

from conftest import Database, create_index, write_migrations
from migrata import Migrator, State
from migrata.backends import open_backend
from migrata.urls import parse_url

UPSTREAM = ("127.0.0.1", 5432)
DEFAULT_PORT = {"postgresql": 5432, "mysql": 3306}


class CountingProxy:
    """Forward 127.0.0.1:<port> to a database server (``upstream``), counting connections and
    direction switches.

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


@pytest.fixture(params=["postgresql", "mysql"])
def server(request: pytest.FixtureRequest) -> Database:
    """A fresh database on each server engine in turn (SQLite has no network to count)."""
    fixture = "mysql_db" if request.param == "mysql" else "postgres_db"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


@pytest.fixture
def proxy(server: Database) -> Iterator[CountingProxy]:
    port = urlsplit(server.url).port or DEFAULT_PORT[server.engine]
    p = CountingProxy(("127.0.0.1", port))
    try:
        yield p
    finally:
        p.close()


def ddl_folder(root: Path, count: int, engine: str = "postgresql") -> Path:
    """``count`` migrations of three statements each: CREATE TABLE, CREATE INDEX, INSERT."""
    return write_migrations(
        root,
        {
            f"{n:04d}_table_{n}.sql": (
                f"CREATE TABLE rt_{n} (id INTEGER PRIMARY KEY, label VARCHAR(20));\n"
                f"{create_index(engine, f'rt_{n}_label', f'rt_{n}', 'label')};\n"
                f"INSERT INTO rt_{n} (id, label) VALUES (1, 'x');\n"
            )
            for n in range(1, count + 1)
        },
    )


def data_folder(root: Path, count: int) -> Path:
    """One migration creating a table, then ``count - 1`` data-only ones of three statements."""
    files = {"0001_table.sql": "CREATE TABLE rt (id INTEGER PRIMARY KEY, label VARCHAR(20));\n"}
    for n in range(2, count + 1):
        files[f"{n:04d}_rows_{n}.sql"] = (
            f"INSERT INTO rt (id, label) VALUES ({n}, 'x');\n"
            f"UPDATE rt SET label = 'y' WHERE id = {n};\n"
            f"DELETE FROM rt WHERE id = {n} AND label = 'z';\n"
        )
    return write_migrations(root, files)


def transactional_folder(db: Database, root: Path, count: int) -> Path:
    """Migrations that each run in one transaction on ``db``'s engine: the DDL ones where DDL
    is transactional, else (after the one creating the table) data-only ones."""
    return (ddl_folder if db.transactional_ddl else data_folder)(root, count)


def measure(proxy: CountingProxy, action) -> tuple[int, int]:
    """(connections, round trips) of ``action``."""
    proxy.reset()
    action()
    return proxy.counts()


def connect(db: Database, url: str):  # type: ignore[no-untyped-def]
    """A driver connection to ``url`` (autocommit), opened as migrata opens its own."""
    if db.engine == "mysql":
        return mysql_connect(url, multi_statements=True)
    import psycopg

    return psycopg.connect(url, autocommit=True)


def measure_handshake(proxy: CountingProxy, db: Database, url: str) -> int:
    """Round trips of a bare connect + close through the proxy."""
    connections, handshake = measure(proxy, lambda: connect(db, url).close())
    assert connections == 1
    return handshake


N = 20


def up_round_trips(
    db: Database,
    proxy: CountingProxy,
    tmp_path: Path,
    make_folder: Callable[[Path, int], Path],
) -> dict[str, int]:
    many = make_folder(tmp_path / "many", N)
    one = make_folder(tmp_path / "one", 1)
    url_many = with_port(db.url, proxy.port)
    with extra_database(db.engine, db.url) as other:
        c1, rt_one = measure(
            proxy, lambda: Migrator(with_port(other, proxy.port), directory=one).up()
        )
    c20, rt_many = measure(proxy, lambda: Migrator(url_many, directory=many).up())
    assert [e.state for e in Migrator(db.url, directory=many).status()] == [State.APPLIED] * N
    _, rt_noop = measure(proxy, lambda: Migrator(url_many, directory=many).up())
    numbers = {
        "handshake": measure_handshake(proxy, db, url_many),
        "one": rt_one,
        "many": rt_many,
        "connections_one": c1,
        "connections_many": c20,
        "noop": rt_noop,
    }
    print(
        f"\nround trips of up() on {db.engine} (client->server switches through the proxy):"
        f"\n  connect+close alone           {numbers['handshake']}"
        f"\n  up() of 1 migration           {rt_one} ({c1} connection(s))"
        f"\n  up() of {N} migrations         {rt_many} ({c20} connection(s))"
        f"\n  difference, {N - 1} migrations     {rt_many - rt_one} "
        f"= {(rt_many - rt_one) / (N - 1):.2f} per migration"
        f"\n  up() with nothing to do       {rt_noop}"
    )
    return numbers


def test_up_costs_at_most_two_round_trips_per_migration_on_one_connection(
    server: Database, proxy: CountingProxy, tmp_path: Path
) -> None:
    numbers = up_round_trips(server, proxy, tmp_path, partial(transactional_folder, server))
    assert numbers["connections_one"] == 1, "a whole up() uses exactly one connection"
    assert numbers["connections_many"] == 1, "a whole up() uses exactly one connection"
    assert numbers["many"] - numbers["one"] <= 2 * (N - 1)


def test_up_costs_one_round_trip_per_migration(
    server: Database, proxy: CountingProxy, tmp_path: Path
) -> None:
    """ARCHITECTURE.md's budget: a migration's SQL, history row and commit in one round trip
    (regression: an explicit pipeline.sync() before the pipeline's own exit Sync once made
    every batch cost two)."""
    numbers = up_round_trips(server, proxy, tmp_path, partial(transactional_folder, server))
    # 1 per migration, with room for a stray switch or two of the instrument (at 2 per
    # migration the difference is 38)
    assert numbers["many"] - numbers["one"] <= N - 1 + 3


def test_ddl_up_costs_one_round_trip_per_migration_or_per_statement(
    server: Database, proxy: CountingProxy, tmp_path: Path
) -> None:
    """DDL migrations of three statements: one round trip each where DDL is transactional;
    where it commits implicitly (MySQL/MariaDB) they run statement by statement, and each
    statement travels with the history write after it: one round trip per statement."""
    numbers = up_round_trips(server, proxy, tmp_path, ddl_folder)
    assert numbers["connections_many"] == 1, "a whole up() uses exactly one connection"
    per_migration = 1 if server.transactional_ddl else 3
    difference = numbers["many"] - numbers["one"]
    assert difference <= per_migration * (N - 1) + 3
    if not server.transactional_ddl:  # at 2 per statement the difference would be 114
        assert difference >= per_migration * (N - 1)


def test_status_costs_one_query_round_trip(
    server: Database, proxy: CountingProxy, tmp_path: Path
) -> None:
    folder = transactional_folder(server, tmp_path / "m", 3)
    Migrator(server.url, directory=folder).up()
    url = with_port(server.url, proxy.port)
    handshake = measure_handshake(proxy, server, url)
    m = Migrator(url, directory=folder)
    # the least of three runs: a stray switch of the instrument is not a round trip
    runs = [measure(proxy, m.status) for _ in range(3)]
    connections, applied = max(c for c, _ in runs), min(rt for _, rt in runs)
    fresh = min(
        measure(proxy, Migrator(url, directory=folder, table="never_created").status)[1]
        for _ in range(3)
    )
    print(
        f"\nround trips of status() on {server.engine}:"
        f"\n  connect+close alone           {handshake}"
        f"\n  status(), history present     {applied} ({applied - handshake} beyond the handshake)"
        f"\n  status(), no history table    {fresh} ({fresh - handshake} beyond the handshake)"
    )
    assert connections == 1
    assert [e.state for e in m.status()] == [State.APPLIED] * 3
    assert applied - handshake <= 1
    # Without the history table the batch fails at its first query: psycopg's pipeline may
    # read that error before it has sent the batch's Sync, which then travels on its own.
    assert fresh - handshake <= 2


def test_proxy_counts_what_it_should(server: Database, proxy: CountingProxy) -> None:
    """The instrument itself: k sequential queries cost k round trips more than none; a
    pipeline (PostgreSQL) or one multi-statement packet (MySQL/MariaDB) of k queries, one."""
    url = with_port(server.url, proxy.port)

    def queries(k: int):
        def run() -> None:
            conn = connect(server, url)
            try:
                for _ in range(k):
                    if server.engine == "mysql":
                        with conn.cursor() as cur:
                            cur.execute("SELECT 1")
                            cur.fetchall()
                    else:
                        conn.execute("SELECT 1").fetchall()
            finally:
                conn.close()

        return run

    connections, zero = measure(proxy, queries(0))
    assert connections == 1
    assert zero == measure_handshake(proxy, server, url)
    _, five = measure(proxy, queries(5))
    assert five - zero == 5

    def batched() -> None:
        conn = connect(server, url)
        try:
            if server.engine == "mysql":
                with conn.cursor() as cur:
                    cur.execute(";".join(["SELECT 1"] * 5))
                    results = [cur.fetchall()]
                    while cur.nextset():
                        results.append(cur.fetchall())
                assert len(results) == 5
            else:
                with conn.pipeline():
                    for _ in range(5):
                        conn.execute("SELECT 1")
        finally:
            conn.close()

    _, batch = measure(proxy, batched)
    assert batch - zero == 1


# ------------------------------------------------------------------ ClickHouse: requests

#: The methods of a clickhouse-connect client that send a request (the others build contexts
#: or settings); one called by another is still the one request.
REQUEST_METHODS = (
    "command",
    "query",
    "raw_query",
    "raw_stream",
    "raw_insert",
    "insert",
    "data_insert",
    "ping",
    "query_arrow",
    "query_df",
    "query_np",
)


class CountingRequests:
    """Counts the requests of every clickhouse-connect client of ``client_type``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, client_type: type) -> None:
        self.requests = 0
        self._depth = 0
        for name in REQUEST_METHODS:
            monkeypatch.setattr(client_type, name, self._counted(getattr(client_type, name)))

    def _counted(self, original: Callable[..., object]) -> Callable[..., object]:
        def call(client: object, *args: object, **kwargs: object) -> object:
            if self._depth == 0:
                self.requests += 1
            self._depth += 1
            try:
                return original(client, *args, **kwargs)
            finally:
                self._depth -= 1

        return call

    def measure(self, action: Callable[[], object]) -> int:
        before = self.requests
        action()
        return self.requests - before


@pytest.fixture
def requests(clickhouse_db: Database, monkeypatch: pytest.MonkeyPatch) -> CountingRequests:
    client = clickhouse_db.connect()
    return CountingRequests(monkeypatch, type(client))


def clickhouse_handshake(requests: CountingRequests, url: str) -> int:
    """Requests of a bare connect + close, as migrata connects."""
    return requests.measure(lambda: open_backend(parse_url(url)).close())


#: Statements per migration of ``ddl_folder``.
K = 3


def test_clickhouse_up_costs_each_statement_and_its_progress_row(
    clickhouse_db: Database, requests: CountingRequests, tmp_path: Path
) -> None:
    """No transactions and no multi-statement requests: each statement is its own request,
    followed by its progress row; per migration four history writes besides (the "started"
    row and event, the "applied" row and event)."""
    db = clickhouse_db
    many = ddl_folder(tmp_path / "many", N, db.engine)
    one = ddl_folder(tmp_path / "one", 1, db.engine)
    with extra_database(db.engine, db.url) as other:
        rt_one = requests.measure(lambda: Migrator(other, directory=one).up())
    rt_many = requests.measure(lambda: Migrator(db.url, directory=many).up())
    assert [e.state for e in Migrator(db.url, directory=many).status()] == [State.APPLIED] * N
    noop = requests.measure(lambda: Migrator(db.url, directory=many).up())
    handshake = clickhouse_handshake(requests, db.url)
    difference = rt_many - rt_one
    print(
        f"\nrequests of up() on clickhouse (calls of the client):"
        f"\n  connect+close alone           {handshake}"
        f"\n  up() of 1 migration           {rt_one}"
        f"\n  up() of {N} migrations         {rt_many}"
        f"\n  difference, {N - 1} migrations     {difference} "
        f"= {difference / (N - 1):.2f} per migration of {K} statements"
        f"\n  up() with nothing to do       {noop}"
    )
    assert (N - 1) * K <= difference <= (N - 1) * (2 * K + 4)
    # Nothing to do: the history read (the layout row, then the rows) and nothing else.
    assert noop - handshake <= 2


def test_clickhouse_status_costs_two_requests_whatever_the_history(
    clickhouse_db: Database, requests: CountingRequests, tmp_path: Path
) -> None:
    db = clickhouse_db
    small = ddl_folder(tmp_path / "small", 1, db.engine)
    big = ddl_folder(tmp_path / "big", N, db.engine)
    with extra_database(db.engine, db.url) as other:
        Migrator(other, directory=small).up()
        status_small = requests.measure(Migrator(other, directory=small).status)
    Migrator(db.url, directory=big).up()
    handshake = clickhouse_handshake(requests, db.url)
    status_big = requests.measure(Migrator(db.url, directory=big).status)
    fresh = requests.measure(Migrator(db.url, directory=big, table="never_created").status)
    print(
        f"\nrequests of status() on clickhouse:"
        f"\n  connect+close alone           {handshake}"
        f"\n  status(), 1 applied           {status_small}"
        f"\n  status(), {N} applied          {status_big}"
        f"\n  status(), no history table    {fresh}"
    )
    assert status_big == status_small
    assert status_big - handshake <= 2
    assert fresh - handshake <= 2
    assert [e.state for e in Migrator(db.url, directory=big).status()] == [State.APPLIED] * N


def test_clickhouse_counting_counts_what_it_should(
    clickhouse_db: Database, requests: CountingRequests
) -> None:
    """The instrument itself: k queries on one client are k requests, and a method that calls
    another (insert calls data_insert) is still one."""
    client = clickhouse_db.connect()
    assert requests.measure(lambda: [client.query("SELECT 1") for _ in range(5)]) == 5
    assert (
        requests.measure(lambda: client.command("CREATE TABLE counted (a Int32) ENGINE = Memory"))
        == 1
    )
    assert requests.measure(lambda: client.insert("counted", [[1], [2]], column_names=["a"])) == 1
    assert client.query("SELECT count() FROM counted").result_rows == [(2,)]


def test_up_sends_a_hundred_transactional_migrations_in_a_handful_of_round_trips(
    server: Database, proxy: CountingProxy, tmp_path: Path
) -> None:
    """Every pending migration that runs in a transaction travels in one message (each in its
    own transaction, with its history row): the round trips of a run do not grow with the
    number of migrations. (MySQL/MariaDB: the table is created by a DDL migration first, one
    round trip for its one statement.)"""
    folder = transactional_folder(server, tmp_path / "m", 100)
    two = transactional_folder(server, tmp_path / "two", 2)
    url = with_port(server.url, proxy.port)
    # Connecting costs 3 or 4 switches from one time to the next (the instrument sees how the
    # handshake's packets happen to fall): the most of three is what a connection may cost.
    handshake = max(measure_handshake(proxy, server, url) for _ in range(3))
    connections, trips = measure(proxy, lambda: Migrator(url, directory=folder).up())

    def fresh_run(migrations: Path) -> int:
        with extra_database(server.engine, server.url) as other:
            _, counted = measure(
                proxy, lambda: Migrator(with_port(other, proxy.port), directory=migrations).up()
            )
        return counted

    # The least of two more runs each: a stray switch of the instrument is not a round trip.
    trips = min(trips, fresh_run(folder))
    trips_two = min(fresh_run(two) for _ in range(2))
    print(
        f"\nround trips of up() on {server.engine} after connecting: 100 migrations "
        f"{trips - handshake}, 2 migrations {trips_two - handshake}"
    )
    assert connections == 1
    assert trips - trips_two <= 1  # 98 more migrations: at most a stray switch more
    # The lock, the history read, creating the tracking tables, the flight, the unlock (and on
    # MySQL/MariaDB reading the connection's database and the DDL migration's statement): 5.
    # On a database without the tracking tables psycopg's pipeline may send the failing
    # history read's Sync after the server's error came back: one switch more, no wait more.
    assert trips - handshake <= (5 if server.transactional_ddl else 7) + 1
    assert [e.state for e in Migrator(server.url, directory=folder).status()] == (
        [State.APPLIED] * 100
    )
