"""Network stand-ins for tests of "wait until the database accepts connections".

Everything here listens on 127.0.0.1 only and uses nothing but the standard library:

- :func:`free_port` picks a free TCP port.
- :class:`LateProxy` starts listening only after a delay, or when told to (before that,
  connecting is refused), then forwards every connection byte for byte to a real server.
- :class:`StartingUpPostgres` answers every connection for a while the way a PostgreSQL server
  that is still starting up does (FATAL 57P03 "the database system is starting up"), then
  (after a while, or when told to) forwards to a real server.
- :class:`StartingUpMySQL` does the same for MariaDB/MySQL, with the ERR packet 1040 "Too many
  connections" as the server's first packet.

Each one is started with ``start()`` (which returns at once) and torn down with ``stop()``, or
used as a context manager: ``with LateProxy(delay=1.5) as proxy: ...``. A test that must not
depend on how fast its client starts gives a long delay and calls ``open()`` (LateProxy) or
``ready()`` (the starting-up servers) once it has seen the client turned away. ``stop()`` closes the
listening socket and every forwarded connection (abortively, so the port is left without
TIME_WAIT leftovers from them) and joins the threads; a bug in a connection thread is raised
from ``stop()`` rather than lost.

Forwarding is protocol-blind: the PostgreSQL SSLRequest/GSSENCRequest negotiation, TLS and the
MySQL handshake are all just bytes to it.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from types import TracebackType
from typing import Self

LOCALHOST = "127.0.0.1"

Address = tuple[str, int]
"""A TCP address: (host, port)."""

_ACCEPT_POLL = 0.05  # seconds between checks for stop() while waiting in accept()
_CONNECT_TIMEOUT = 5.0  # for the forwarder's own connection to the target
_CLIENT_TIMEOUT = 5.0  # how long a fake server waits for the client to speak or to hang up
_CHUNK = 65536
_JOIN_TIMEOUT = 10.0
_ABORT_GRACE = 1.0  # how long stop() lets threads notice the reset before shutting all down


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is bound to right now.

    The port is released before this returns, so something else could take it before the
    caller binds it; the classes here bind it straight away when they start."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _reserve(port: int) -> socket.socket:
    """A socket bound to 127.0.0.1:``port`` but not listening: connecting to the port is
    refused, and nobody else can bind it until the socket is closed.

    SO_REUSEADDR is on while binding, so TIME_WAIT leftovers of earlier connections on the port
    do not block it, and off afterwards: on Linux another SO_REUSEADDR socket could otherwise
    bind the same port as long as neither listens. :func:`_listen` turns it back on, without
    which listen() itself fails over those TIME_WAIT leftovers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOCALHOST, port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    except OSError:
        sock.close()
        raise
    return sock


def _listen(sock: socket.socket) -> None:
    """Start listening on a socket from :func:`_reserve`."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.listen(128)
    sock.settimeout(_ACCEPT_POLL)


def _shutdown(sock: socket.socket) -> None:
    """Shut both directions of a socket down, which wakes any thread blocked on it; errors
    (not connected, already closed) are of no interest."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _abort(sock: socket.socket) -> None:
    """Make the coming close() reset the connection (SO_LINGER 0) instead of closing it
    gracefully, and wake a thread blocked reading the socket (its recv() returns b"").

    Nothing is sent before that reset: shutdown(SHUT_RD) sends nothing, where SHUT_WR would
    send a FIN, and a FIN answered by the peer's leaves our side in TIME_WAIT, holding the port
    for a minute against any bind without SO_REUSEADDR."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    """Exactly ``size`` bytes from ``sock``, or None when the peer hangs up first."""
    chunks: list[bytes] = []
    missing = size
    while missing:
        chunk = sock.recv(missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _wait_for_hangup(sock: socket.socket, timeout: float = _CLIENT_TIMEOUT) -> None:
    """Read and drop whatever the client still sends until it closes the connection, for at
    most ``timeout`` seconds.

    A fake server that has sent its error waits for the client to go first: closing while the
    client is still writing can reset the connection before the client has read the error, and
    the side that closes first keeps the port busy in TIME_WAIT."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(_CHUNK):
                return
        except TimeoutError:
            return


class _TcpServer:
    """What the classes here share: a listening socket on 127.0.0.1, an accept thread, one
    thread per connection (see :meth:`_handle`), and a ``stop()`` that tears it all down."""

    def __init__(self, target: Address, port: int | None, delay: float) -> None:
        self.target: Address = target
        """Where connections are forwarded to."""
        self.port: int = free_port() if port is None else port
        """The port this listens on (127.0.0.1)."""
        self.delay = delay
        """Seconds between start() and listening."""
        self.listening_at: float | None = None
        """time.monotonic() when the port started listening; None until then."""
        self._open_now = threading.Event()
        self._connections = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._errors: list[BaseException] = []

    @property
    def connections(self) -> int:
        """How many connections were accepted so far."""
        return self._connections

    def start(self) -> Self:
        """Bind the port (connecting is refused until it listens), and listen after ``delay``
        seconds in the background (at once when ``delay`` is 0). Returns at once, with self.

        Raises OSError when the port cannot be bound, RuntimeError when started twice."""
        if self._listener is not None or self._stopping.is_set():
            raise RuntimeError(f"{type(self).__name__} can only be started once")
        self._listener = _reserve(self.port)
        if self.delay <= 0:
            self._start_listening()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"{type(self).__name__}-{self.port}", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, reset every open connection (both the client's and the one to the
        target), and join all threads. Safe to call twice.

        The port is free afterwards: nothing listens there and nothing this closed is left in
        TIME_WAIT, except a forwarded connection that the target closed before the client did
        (its FIN was passed on to the client first), which still lets a socket bind the port
        with SO_REUSEADDR, as servers (and these classes) do, but not without it.

        Raises RuntimeError when a connection thread failed with something other than a
        network error (a bug here, not a client that went away)."""
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(_JOIN_TIMEOUT)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                _abort(sock)
            threads = list(self._threads)
        deadline = time.monotonic() + _ABORT_GRACE
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in threads):
            # Threads blocked in sendall() to a peer that does not read, say: wake them all.
            with self._lock:
                for sock in self._sockets:
                    _shutdown(sock)
            for thread in threads:
                thread.join(_JOIN_TIMEOUT)
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()
            errors, self._errors = self._errors, []
        if errors:
            raise RuntimeError(f"{type(self).__name__} on port {self.port} failed") from errors[0]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- for subclasses ----------------------------------------------------------------------

    def _handle(self, conn: socket.socket, accepted_at: float) -> None:
        """Serve one accepted connection (closed afterwards by the caller)."""
        raise NotImplementedError

    def _forward(self, client: socket.socket) -> None:
        """Connect to the target and copy bytes both ways until both sides have closed (each
        end-of-stream is passed on as a half-close) or either side fails. When the target
        cannot be reached the client connection is just closed."""
        try:
            upstream = socket.create_connection(self.target, timeout=_CONNECT_TIMEOUT)
        except OSError:
            return
        if not self._track(upstream):
            return
        try:
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            back = threading.Thread(
                target=self._pump, args=(upstream, client), name=f"{self.port}-back", daemon=True
            )
            back.start()
            self._pump(client, upstream)
            back.join()
        finally:
            self._untrack(upstream)

    # -- internals ---------------------------------------------------------------------------

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        """Copy ``source`` to ``sink`` until ``source`` ends, then half-close ``sink``. A
        network error (a reset) tears down both sockets, so that the other direction ends as
        well. Under stop() it just returns: stop() resets the sockets itself."""
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
            if not self._stopping.is_set():
                sink.shutdown(socket.SHUT_WR)
        except OSError:
            if not self._stopping.is_set():
                _shutdown(source)
                _shutdown(sink)

    def _start_listening(self) -> None:
        assert self._listener is not None
        _listen(self._listener)
        self.listening_at = time.monotonic()

    def _accept_loop(self) -> None:
        if self.listening_at is None:
            deadline = time.monotonic() + self.delay
            while not self._open_now.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.wait(min(remaining, _ACCEPT_POLL)):
                    break
            if self._stopping.is_set():
                return
            try:
                self._start_listening()
            except OSError as exc:  # we hold the bound port: this is not supposed to happen
                with self._lock:
                    self._errors.append(exc)
                return
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if not self._stopping.is_set():
                    with self._lock:
                        self._errors.append(exc)
                return
            accepted_at = time.monotonic()
            conn.settimeout(None)
            with self._lock:
                self._connections += 1
            if not self._track(conn):
                return
            thread = threading.Thread(
                target=self._serve, args=(conn, accepted_at), name=f"{self.port}-conn", daemon=True
            )
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, accepted_at: float) -> None:
        try:
            self._handle(conn, accepted_at)
        except OSError:
            pass  # the client went away, or stop() shut the socket down
        except Exception as exc:  # noqa: BLE001 - a bug here: stop() raises it
            with self._lock:
                self._errors.append(exc)
        finally:
            self._untrack(conn)

    def _track(self, sock: socket.socket) -> bool:
        """Register a socket for stop() to reset; when stop() has begun, close it instead and
        return False."""
        with self._lock:
            if not self._stopping.is_set():
                self._sockets.add(sock)
                return True
        _abort(sock)
        sock.close()
        return False

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        sock.close()


class LateProxy(_TcpServer):
    """A TCP forwarder to ``target`` that starts listening on 127.0.0.1:``port`` only
    ``delay`` seconds after ``start()``: a database that is not up yet, then is.

    Before the delay connecting is refused (the port is bound but not listening, so nothing
    else can take it meanwhile); afterwards every connection is forwarded byte for byte in both
    directions until both sides have closed. With ``port=None`` a free port is chosen when the
    proxy is created (see ``.port``). ``.listening_at`` is the monotonic time it started
    listening, ``.connections`` the number of connections accepted."""

    def __init__(
        self,
        target: Address = (LOCALHOST, 5432),
        delay: float = 3.0,
        port: int | None = None,
    ) -> None:
        super().__init__(target, port, delay)

    def open(self) -> None:
        """Listen from now on, whatever is left of the delay (at once when already
        listening). Returns before the port listens: a client retrying gets in shortly."""
        self._open_now.set()

    def _handle(self, conn: socket.socket, accepted_at: float) -> None:
        self._forward(conn)


class _StartingUpServer(_TcpServer):
    """Listens at once; for the first ``duration`` seconds after that, answers every connection
    with the server's "not ready" error (:meth:`_refusal`), then forwards like LateProxy."""

    def __init__(self, target: Address, duration: float, port: int | None) -> None:
        super().__init__(target, port, delay=0.0)
        self.duration = duration
        """Seconds, from start(), during which connections are refused (see also ready())."""
        self._ready_now: float | None = None
        self._refused = 0

    @property
    def refused(self) -> int:
        """How many connections were answered with the starting-up error."""
        return self._refused

    @property
    def ready_at(self) -> float | None:
        """time.monotonic() from which connections are forwarded; None before start()."""
        if self.listening_at is None:
            return None
        at = self.listening_at + self.duration
        return at if self._ready_now is None else min(at, self._ready_now)

    def ready(self) -> None:
        """Forward every connection accepted from now on, whatever is left of ``duration``."""
        with self._lock:
            if self._ready_now is None:
                self._ready_now = time.monotonic()

    def _handle(self, conn: socket.socket, accepted_at: float) -> None:
        ready_at = self.ready_at
        if ready_at is not None and accepted_at >= ready_at:
            self._forward(conn)
            return
        conn.settimeout(_CLIENT_TIMEOUT)
        answer = self._refusal(conn)
        if answer is None:
            return
        with self._lock:  # counted before the client can see the error
            self._refused += 1
        conn.sendall(answer)
        _wait_for_hangup(conn)

    def _refusal(self, conn: socket.socket) -> bytes | None:
        """Talk to the client up to the point where the server refuses it, and return the
        refusal to send; None when the client went away (or asked for nothing) first."""
        raise NotImplementedError


# PostgreSQL frontend/backend protocol: the codes of the untyped first messages.
PG_SSL_REQUEST = 80877103
PG_GSSENC_REQUEST = 80877104
PG_CANCEL_REQUEST = 80877102
_PG_MAX_STARTUP_LENGTH = 10000  # the server's own limit (MAX_STARTUP_PACKET_LENGTH)


def pg_error_response(fields: list[tuple[str, str]]) -> bytes:
    """A PostgreSQL ErrorResponse message: b"E", an int32 length (counting itself), each field
    as its type byte and a NUL-terminated string, then a NUL."""
    body = b"".join(code.encode("ascii") + text.encode() + b"\0" for code, text in fields) + b"\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


PG_STARTING_UP = pg_error_response(
    [("S", "FATAL"), ("V", "FATAL"), ("C", "57P03"), ("M", "the database system is starting up")]
)
"""What a starting PostgreSQL server answers a StartupMessage with (SQLSTATE 57P03,
cannot_connect_now)."""


def _read_pg_startup_packet(sock: socket.socket) -> bytes | None:
    """One untyped first-phase message (an int32 length counting itself, then the body), its
    body returned; None when the client hangs up or the length is out of bounds."""
    header = _recv_exact(sock, 4)
    if header is None:
        return None
    (length,) = struct.unpack("!i", header)
    if not 8 <= length <= _PG_MAX_STARTUP_LENGTH:
        return None
    return _recv_exact(sock, length - 4)


class StartingUpPostgres(_StartingUpServer):
    """A PostgreSQL server that is still starting up for the first ``duration`` seconds after
    ``start()``, and then a forwarder to a real one (``target``).

    During the window each connection gets what the postmaster sends while it starts: an
    SSLRequest or GSSENCRequest is declined with b"N" (the client goes on in plain text), the
    StartupMessage is answered with ErrorResponse FATAL 57P03 "the database system is starting
    up", and the connection is closed once the client has hung up. ``.refused`` counts those
    connections, ``.connections`` all accepted ones; ``.port``, ``.listening_at`` and
    ``.ready_at`` as their docstrings say."""

    def __init__(
        self,
        target: Address = (LOCALHOST, 5432),
        duration: float = 3.0,
        port: int | None = None,
    ) -> None:
        super().__init__(target, duration, port)

    def _refusal(self, conn: socket.socket) -> bytes | None:
        # At most one SSLRequest and one GSSENCRequest come before the StartupMessage.
        for _ in range(3):
            body = _read_pg_startup_packet(conn)
            if body is None:
                return None
            (code,) = struct.unpack("!i", body[:4])
            if code in (PG_SSL_REQUEST, PG_GSSENC_REQUEST):
                conn.sendall(b"N")
                continue
            if code == PG_CANCEL_REQUEST:  # nothing to cancel; the server just hangs up
                return None
            return PG_STARTING_UP
        return None


MYSQL_TOO_MANY_CONNECTIONS = 1040  # ER_CON_COUNT_ERROR


def mysql_err_packet(code: int, message: str, sequence: int = 0) -> bytes:
    """A MySQL protocol ERR packet: the 3-byte little-endian payload length, the sequence id,
    then the payload 0xFF, the error code (2 bytes, little-endian) and the message. No
    "#" + SQLSTATE marker: before the handshake the client has not said it speaks protocol 4.1,
    and servers leave it out there."""
    payload = b"\xff" + struct.pack("<H", code) + message.encode()
    return struct.pack("<I", len(payload))[:3] + bytes([sequence]) + payload


MYSQL_TOO_MANY = mysql_err_packet(MYSQL_TOO_MANY_CONNECTIONS, "Too many connections")
"""The ERR packet a MySQL/MariaDB server sends instead of its greeting when it is full."""


class StartingUpMySQL(_StartingUpServer):
    """A MariaDB/MySQL server that turns every connection away for the first ``duration``
    seconds after ``start()``, and then a forwarder to a real one (``target``).

    During the window each connection gets, as the server's first packet (where the handshake
    greeting would be), the ERR packet 1040 "Too many connections" with sequence id 0, and is
    closed once the client has hung up. ``.refused`` counts those connections,
    ``.connections`` all accepted ones; ``.port``, ``.listening_at`` and ``.ready_at`` as their
    docstrings say."""

    def __init__(
        self,
        target: Address = (LOCALHOST, 3306),
        duration: float = 3.0,
        port: int | None = None,
    ) -> None:
        super().__init__(target, duration, port)

    def _refusal(self, conn: socket.socket) -> bytes | None:
        return MYSQL_TOO_MANY  # the server speaks first: no need to read anything
