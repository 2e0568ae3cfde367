"""The header deadline and size limit (app/server.py), in a real uvicorn.

These run uvicorn itself with the protocol, on a loopback port, and talk to it
over raw sockets: a uvicorn upgrade that stops calling the methods the
protocol overrides makes them fail.
"""

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn

from app.config import get_settings
from app.main import create_app
from app.server import HeaderLimitsProtocol

PREFIX = "{{ cookiecutter.__env_prefix }}"
HEADER_TIMEOUT = 0.5
GET = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"

Connect = Callable[[], socket.socket]


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[Connect]:
    """Serve the app with the protocol on a free loopback port; connect() opens a socket."""
    monkeypatch.setenv(f"{PREFIX}HEADER_TIMEOUT", str(HEADER_TIMEOUT))
    monkeypatch.setenv(f"{PREFIX}MAX_HEADER_BYTES", "4096")
    get_settings.cache_clear()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        create_app, factory=True, http=HeaderLimitsProtocol, log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    sockets: list[socket.socket] = []

    def open_socket() -> socket.socket:
        sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        return sockets[-1]

    yield open_socket
    for opened in sockets:
        opened.close()
    server.should_exit = True
    thread.join(timeout=5)
    listener.close()
    get_settings.cache_clear()


def read_until_closed(connection: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    began = time.monotonic()
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received, time.monotonic() - began


def test_stalled_request_line_is_closed_after_the_deadline(connect: Connect) -> None:
    connection = connect()
    connection.sendall(b"GET /heal")

    received, seconds = read_until_closed(connection)

    assert received == b""
    assert HEADER_TIMEOUT - 0.1 < seconds < HEADER_TIMEOUT + 0.5


def test_silent_connection_is_closed_after_the_deadline(connect: Connect) -> None:
    received, seconds = read_until_closed(connect())

    assert received == b""
    assert seconds < HEADER_TIMEOUT + 0.5


def test_stalled_second_request_on_a_kept_alive_connection_is_closed(connect: Connect) -> None:
    connection = connect()
    connection.sendall(GET)
    first = connection.recv(65536)
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHo")

    received, seconds = read_until_closed(connection)

    assert first.startswith(b"HTTP/1.1 200 OK")
    assert received == b""
    assert seconds < HEADER_TIMEOUT + 0.5


def test_headers_in_time_then_a_slow_body_are_served(connect: Connect) -> None:
    # The deadline covers the headers only: the app's body read is not cut.
    connection = connect()
    connection.sendall(
        b"POST /api/v1/greetings HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 15\r\nConnection: close\r\n\r\n"
    )
    time.sleep(HEADER_TIMEOUT + 0.3)
    connection.sendall(b'{"name": "Ada"}')

    received, _ = read_until_closed(connection)

    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.endswith(b'{"message":"Hello, Ada!"}')


def test_oversized_headers_get_431(connect: Connect) -> None:
    connection = connect()
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 8192)

    received, seconds = read_until_closed(connection)

    assert received.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert seconds < HEADER_TIMEOUT  # at once, not at the deadline


def test_requests_within_the_limits_are_served(connect: Connect) -> None:
    connection = connect()
    connection.sendall(GET + GET)  # pipelined: two requests in one packet

    time.sleep(0.2)
    received = connection.recv(65536)

    assert received.count(b"HTTP/1.1 200 OK") == 2
