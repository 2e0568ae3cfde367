"""One bad client must not take the service down: the default image's limits, tested
under the container's own limits (--memory 256m --pids-limit 128 and the usual
hardening; docs/operations.md in the generated project states each limit).

- a 300 MB body, declared and chunked, gets 413; memory stays under half the
  limit; another client's ordinary requests keep succeeding;
- 3,000 half-open requests are closed within the header deadline plus a
  margin, while /healthz answers 200 throughout;
- a burst above the concurrency limit gets prompt 503s, and service resumes at once;
- the logs are JSON lines with a request id, and X-Request-ID round-trips.

Loopback only: the container shares the host's network namespace and listens
on 127.0.0.1. Every load is bounded in count and time. The probe functions
return problem lists, so test_mutations.py can prove each limit's removal is
caught.
"""

import asyncio
import json
import selectors
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from .checks import project_checker
from .engine import container_state, docker, free_port, http_get, wait_for_http

pytestmark = pytest.mark.docker

PREFIX = "MY_SERVICE_"
# The defaults of app/config.py (and docs/operations.md).
HEADER_TIMEOUT = 10.0
CONCURRENCY_LIMIT = 64
MEMORY_LIMIT = 256 * 1024 * 1024
# How much later than the deadline a half-open connection may be closed.
DEADLINE_MARGIN = 2.0
HUGE_BODY = 300_000_000


@contextmanager
def running_service(item: Any, tag: str) -> Iterator[tuple[str, str]]:
    """Run the image hardened (the project checker's options), listening on a free port
    of the host's loopback; yield (container id, base URL). The access log is on, as it
    may be in production."""
    hardening = project_checker(item.project).HARDENING
    port = free_port()
    started = docker(
        "run",
        "--detach",
        "--network",
        "host",
        *hardening,
        "--env",
        f"{PREFIX}HOST=127.0.0.1",
        "--env",
        f"{PREFIX}PORT={port}",
        "--env",
        f"{PREFIX}ACCESS_LOG=true",
        tag,
    )
    assert started.returncode == 0, started.stderr
    container = started.stdout.strip()
    base_url = f"http://127.0.0.1:{port}"
    try:
        answer = wait_for_http(f"{base_url}/healthz")
        assert answer is not None and answer[0] == 200, docker("logs", container).stdout[-2000:]
        yield container, base_url
    finally:
        docker("rm", "--force", container)


def address(base_url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


# ------------------------------------------------------------- body limit ---


def timed_post(base_url: str, size: int, *, chunked: bool) -> tuple[str, float]:
    """The project checker's body probe on the greetings route, and how long it took."""
    began = time.monotonic()
    status = CHECKER["module"].post_body(f"{base_url}/api/v1/greetings", size, chunked=chunked)
    return status, time.monotonic() - began


def peak_memory(container: str) -> int:
    """The container's peak memory use in bytes, from its cgroup (v2 or v1)."""
    read = docker(
        "exec",
        container,
        "python",
        "-c",
        "import pathlib\n"
        "for name in ('memory.peak', 'memory/memory.max_usage_in_bytes'):\n"
        "    path = pathlib.Path('/sys/fs/cgroup', name)\n"
        "    if path.exists(): print(path.read_text()); break\n",
    )
    assert read.returncode == 0 and read.stdout.strip(), read.stderr
    return int(read.stdout)


class OrdinaryClient:
    """Another client, sending ordinary requests in the background; remembers failures."""

    def __init__(self, base_url: str) -> None:
        self.url = f"{base_url}/api/v1/greetings/Ada"
        self.answered = 0
        self.failures: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                status, _ = http_get(self.url, timeout=5)
                self.answered += 1
                if status != 200:
                    self.failures.append(f"HTTP {status}")
            except OSError as error:
                self.failures.append(repr(error))
            time.sleep(0.02)

    def __enter__(self) -> "OrdinaryClient":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)


# The rendered project's scripts/check_image.py, loaded by the `service` fixture.
CHECKER: dict[str, Any] = {}


@pytest.fixture(scope="module")
def service(built: Callable[[str], Any]) -> Iterator[tuple[str, str]]:
    """One hardened container of the default image for this file's tests."""
    item = built("default")
    CHECKER["module"] = project_checker(item.project)
    with running_service(item, item.tag) as running:
        yield running


def test_huge_bodies_get_413_without_memory_growth(service: tuple[str, str]) -> None:
    container, base_url = service

    with OrdinaryClient(base_url) as other:
        declared, declared_seconds = timed_post(base_url, HUGE_BODY, chunked=False)
        chunked, chunked_seconds = timed_post(base_url, HUGE_BODY, chunked=True)
        time.sleep(0.5)  # the other client goes on afterwards too

    state = container_state(container)
    peak = peak_memory(container)
    print(  # measured numbers, shown with pytest -s
        f"413 after {declared_seconds * 1000:.1f} ms (declared), {chunked_seconds * 1000:.1f} ms"
        f" (chunked); peak memory {peak / 2**20:.1f} MiB"
    )
    assert declared.startswith("HTTP/1.1 413"), declared
    assert chunked.startswith("HTTP/1.1 413"), chunked
    assert declared_seconds < 2 and chunked_seconds < 2
    assert state["Running"] and not state["OOMKilled"]
    assert peak < MEMORY_LIMIT / 2, f"peak memory {peak / 2**20:.0f} MiB"
    assert other.failures == []
    assert other.answered > 10


# --------------------------------------------------------- header deadline ---


def half_open_problems(
    base_url: str, count: int, deadline: float, margin: float = DEADLINE_MARGIN
) -> tuple[list[str], float]:
    """Open `count` connections that send half a request line and stop. Each must
    be closed within `deadline` + `margin` seconds, while /healthz answers 200
    throughout. Returns the problems and the slowest close, in seconds."""
    opened: dict[socket.socket, float] = {}
    closed_after: list[float] = []
    selector = selectors.DefaultSelector()
    problems: list[str] = []
    probes: list[int | str] = []
    flooding = threading.Event()

    def probe_health() -> None:
        while flooding.is_set():
            try:
                probes.append(http_get(f"{base_url}/healthz", timeout=2)[0])
            except OSError as error:
                probes.append(repr(error))
            time.sleep(0.25)

    flooding.set()
    prober = threading.Thread(target=probe_health, daemon=True)
    prober.start()
    try:
        for _ in range(count):
            connection = socket.create_connection(address(base_url), timeout=5)
            connection.sendall(b"GET /api/v1/greetings/slow HTTP/1.1\r\nHo")
            connection.setblocking(False)
            opened[connection] = time.monotonic()
            selector.register(connection, selectors.EVENT_READ)
        give_up = time.monotonic() + deadline + margin + 5
        while opened and time.monotonic() < give_up:
            for key, _ in selector.select(timeout=0.1):
                connection = key.fileobj
                assert isinstance(connection, socket.socket)
                try:
                    data = connection.recv(4096)
                except ConnectionError:
                    data = b""
                if data:
                    problems.append(f"a half-open request got an answer: {data[:80]!r}")
                selector.unregister(connection)
                closed_after.append(time.monotonic() - opened.pop(connection))
                connection.close()
    finally:
        flooding.clear()
        prober.join(timeout=5)
        for connection in opened:
            connection.close()
        selector.close()
    if opened:
        problems.append(f"{len(opened)} of {count} half-open connections still open")
    slowest = max(closed_after, default=0.0)
    if slowest > deadline + margin:
        problems.append(f"the slowest half-open connection was closed after {slowest:.1f} s")
    failed = [probe for probe in probes if probe != 200]
    if failed or len(probes) < 4:
        problems.append(f"/healthz during the flood: {len(failed)} failures of {len(probes)}")
    return problems, slowest


def test_half_open_requests_are_cut_at_the_deadline(service: tuple[str, str]) -> None:
    container, base_url = service

    problems, slowest = half_open_problems(base_url, 3000, HEADER_TIMEOUT)

    print(f"slowest half-open connection closed after {slowest:.2f} s")
    assert problems == []
    assert container_state(container)["Running"]


# ------------------------------------------------------- concurrency limit ---


async def timed_requests(
    host: str, port: int, path: str, count: int, clients: int
) -> list[tuple[int, float]]:
    """`count` GETs from `clients` concurrent clients, each request on a new
    connection: (status, seconds from connecting to the status line) of each."""
    gate = asyncio.Semaphore(clients)

    async def one() -> tuple[int, float]:
        async with gate:
            began = time.monotonic()
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: burst\r\nConnection: close\r\n\r\n".encode()
            )
            status_line = await reader.readline()
            seconds = time.monotonic() - began
            writer.close()
            return int(status_line.split()[1]), seconds

    return await asyncio.gather(*(one() for _ in range(count)))


def overload_problems(
    base_url: str, limit: int, burst: int = 400, clients: int = 16
) -> tuple[list[str], float]:
    """Hold `limit` requests in progress (POSTs whose body has not arrived), then send
    a burst of `burst` more from `clients` concurrent clients: each must get 503
    promptly (p99 under 100 ms),
    /healthz 200; once the held requests finish, service resumes at once.
    Returns the problems and the p99 of the rejections, in seconds."""
    host, port = address(base_url)
    body = b'{"name": "held"}'
    held = []
    for _ in range(limit):
        connection = socket.create_connection((host, port), timeout=10)
        connection.sendall(
            b"POST /api/v1/greetings HTTP/1.1\r\nHost: held\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        )
        held.append(connection)
    problems: list[str] = []
    try:
        # The limit is reached once the server has started all of them.
        deadline = time.monotonic() + 10
        while http_get(f"{base_url}/api/v1/greetings/x", timeout=5)[0] != 503:
            if time.monotonic() > deadline:
                return [f"{limit} requests in progress, yet no 503"], 0.0
            time.sleep(0.05)
        answers = asyncio.run(timed_requests(host, port, "/api/v1/greetings/burst", burst, clients))
        if http_get(f"{base_url}/healthz")[0] != 200:
            problems.append("/healthz is not 200 at the concurrency limit")
    finally:
        for connection in held:
            connection.sendall(body)
        released = time.monotonic()
        for connection in held:
            connection.recv(4096)
            connection.close()
    resumed = None
    while time.monotonic() - released < 2:
        if http_get(f"{base_url}/api/v1/greetings/x", timeout=2)[0] == 200:
            resumed = time.monotonic() - released
            break
        time.sleep(0.02)
    statuses = sorted({status for status, _ in answers})
    if statuses != [503]:
        problems.append(f"the burst over the limit got {statuses}, not only 503")
    seconds = sorted(seconds for _, seconds in answers)
    p99 = seconds[int(len(seconds) * 0.99) - 1]
    if p99 >= 0.1:
        problems.append(f"p99 of the 503s is {p99 * 1000:.0f} ms (limit 100 ms)")
    if resumed is None:
        problems.append("no 200 within 2 s after the held requests finished")
    return problems, p99


def test_burst_over_the_concurrency_limit_gets_prompt_503s(service: tuple[str, str]) -> None:
    _, base_url = service

    problems, p99 = overload_problems(base_url, CONCURRENCY_LIMIT)

    print(f"p99 of the 503s: {p99 * 1000:.1f} ms")
    assert problems == []


# -------------------------------------------------------------------- logs ---


def test_logs_are_json_lines_and_the_request_id_round_trips(service: tuple[str, str]) -> None:
    container, base_url = service
    request = urllib.request.Request(
        f"{base_url}/api/v1/greetings/Ada", headers={"X-Request-ID": "limits-test-42"}
    )

    with urllib.request.urlopen(request, timeout=5) as response:
        echoed = response.headers["X-Request-ID"]
    time.sleep(0.2)
    logs = docker("logs", container)

    lines = [json.loads(line) for line in logs.stdout.splitlines()]
    assert echoed == "limits-test-42"
    assert logs.stderr == ""
    assert all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    ours = [line for line in lines if line["request_id"] == "limits-test-42"]
    assert [(line["logger"], line["path"], line["status"]) for line in ours] == [
        ("app.access", "/api/v1/greetings/Ada", 200)
    ]
    access = [line for line in lines if line["logger"] == "app.access"]
    generated = [line["request_id"] for line in access if line not in ours]
    assert all(len(request_id) == 32 for request_id in generated)
    assert all(isinstance(line["duration_ms"], float) for line in access)


# ----------------------------------------------- checks for the mutation tests ---


def header_deadline_check(item: Any, tag: str) -> list[str]:
    """A few half-open requests against a container of `tag` must be cut at the deadline."""
    with running_service(item, tag) as (_, base_url):
        return half_open_problems(base_url, 20, HEADER_TIMEOUT)[0]
