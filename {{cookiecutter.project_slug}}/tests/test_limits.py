"""The body size limit and the concurrency limit (app/limits.py)."""

import asyncio
import json

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from app.config import Settings
from app.limits import BodySizeLimit, ConcurrencyLimit
from app.main import create_app
from app.request_context import RequestContext


class BodyReader:
    """A stand-in app that reads the whole body, remembers each chunk, answers 200."""

    def __init__(self) -> None:
        self.chunks: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        more_body = True
        while more_body:
            message = await receive()
            self.chunks.append(len(message.get("body", b"")))
            more_body = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})


def post(app: BodySizeLimit, headers: list[tuple[bytes, bytes]], *chunks: int) -> list[Message]:
    """Send a body in chunks of the given sizes straight to `app`, as a server
    does; return what it answered. (TestClient joins chunks into one.)"""
    messages: list[Message] = [
        {"type": "http.request", "body": b"x" * size, "more_body": number < len(chunks)}
        for number, size in enumerate(chunks, start=1)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent


def test_declared_body_over_the_limit_is_refused_before_the_app_runs() -> None:
    reader = BodyReader()
    client = TestClient(BodySizeLimit(reader, max_bytes=10))

    response = client.post("/", content=b"x" * 11)

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is larger than 10 bytes"}
    assert response.headers["connection"] == "close"
    assert reader.chunks == []


def test_body_at_the_limit_reaches_the_app() -> None:
    reader = BodyReader()
    client = TestClient(BodySizeLimit(reader, max_bytes=10))

    response = client.post("/", content=b"x" * 10)

    assert response.status_code == 200
    assert sum(reader.chunks) == 10


def test_streamed_body_is_cut_off_at_the_limit() -> None:
    reader = BodyReader()

    sent = post(BodySizeLimit(reader, max_bytes=10), [], 6, 6, 1000)

    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"]) == {"detail": "Request body is larger than 10 bytes"}
    # The app got the first chunk; the second passed the limit and was never
    # handed over, and the third was never read.
    assert reader.chunks == [6]


def test_body_longer_than_its_content_length_is_cut_off() -> None:
    """A lying client: Content-Length 5 (within the limit), then 20 bytes."""
    reader = BodyReader()

    sent = post(BodySizeLimit(reader, max_bytes=10), [(b"content-length", b"5")], 8, 12)

    assert sent[0]["status"] == 413
    assert reader.chunks == [8]


def test_service_answers_413_to_an_oversized_json_body(settings: Settings) -> None:
    # FastAPI itself would answer 400 to a body cut off while it parses it.
    small = settings.model_copy(update={"max_request_bytes": 100})
    body = json.dumps({"name": "x" * 200}).encode()

    with TestClient(create_app(small)) as client:
        declared = client.post("/api/v1/greetings", content=body)
        streamed = client.post("/api/v1/greetings", content=iter([body[:60], body[60:]]))
        within = client.post("/api/v1/greetings", json={"name": "Ada"})

    assert (declared.status_code, streamed.status_code, within.status_code) == (413, 413, 200)
    assert streamed.json() == {"detail": "Request body is larger than 100 bytes"}


class Gate:
    """A stand-in app whose requests stay in progress until the gate opens."""

    def __init__(self) -> None:
        self.open = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.open.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})


async def call(app: ConcurrencyLimit, path: str) -> list[Message]:
    """One request to `app`; the messages it sent back."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "http", "method": "GET", "path": path, "headers": []}, receive, send)
    return sent


def test_requests_over_the_concurrency_limit_get_503_at_once() -> None:
    async def scenario() -> None:
        gate = Gate()
        limited = ConcurrencyLimit(gate, limit=2, always_allowed=frozenset({"/healthz"}))
        in_progress = [asyncio.create_task(call(limited, "/work")) for _ in range(2)]
        await asyncio.sleep(0)  # both are now waiting at the gate

        # The gate is still closed: only an answer from the limit can come back.
        refused = await asyncio.wait_for(call(limited, "/work"), timeout=1)
        probe = asyncio.create_task(call(limited, "/healthz"))
        await asyncio.sleep(0)
        gate.open.set()
        finished = await asyncio.gather(*in_progress, probe)
        after = await call(limited, "/work")

        assert refused[0]["status"] == 503
        assert (b"retry-after", b"1") in refused[0]["headers"]
        body = json.loads(refused[1]["body"])
        assert body == {"detail": "Too many requests in progress, retry shortly"}
        # The probe was let through although the limit was reached.
        assert [messages[0]["status"] for messages in finished] == [200, 200, 200]
        assert after[0]["status"] == 200
        assert limited.in_progress == 0

    asyncio.run(scenario())


def test_a_failed_request_frees_its_place() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        limited = ConcurrencyLimit(failing, limit=1, always_allowed=frozenset())
        with pytest.raises(RuntimeError, match="boom"):
            await call(limited, "/work")

        assert limited.in_progress == 0

    asyncio.run(scenario())


def test_service_has_the_concurrency_limit(settings: Settings) -> None:
    # The stack FastAPI builds from create_app's middlewares, outermost first.
    app = create_app(settings)

    layers: list[object] = [middleware.cls for middleware in app.user_middleware]

    assert layers == [RequestContext, ConcurrencyLimit, BodySizeLimit]
    assert app.user_middleware[1].kwargs == {
        "limit": 64,
        "always_allowed": frozenset({"/healthz", "/readyz"}),
    }
