"""Two protective middlewares: a request body limit and a concurrency limit.

Both are plain ASGI middlewares: they see each request before FastAPI does,
and answer it themselves (413 or 503) without running any route. They are
added in app/main.py; their limits are settings (app/config.py), explained in
docs/operations.md.
"""

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def send_error(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]
) -> None:
    """Answer with FastAPI's error shape, `{"detail": ...}`."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyTooLargeError(Exception):
    """Raised from `receive` once the body passes the limit: the app stops reading."""


class BodySizeLimit:
    """Answer 413 to a request whose body is larger than `max_bytes`.

    A declared `Content-Length` over the limit is refused before the app runs,
    without reading a byte of the body. A body without one (chunked) or with a
    wrong one is counted while the app reads it, and cut off at the limit.
    Either way the 413 closes the connection, so the rest of the body is never
    read, let alone buffered.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self.refuse(send)
            return

        received = 0
        too_large = False
        response_started = False

        async def receive_within_limit() -> Message:
            nonlocal received, too_large
            if too_large:  # the app tried again: never read past the limit
                raise BodyTooLargeError
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise BodyTooLargeError
            return message

        async def send_unless_too_large(message: Message) -> None:
            nonlocal response_started
            if too_large:  # whatever the app answers to a cut-off body, the answer is 413
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive_within_limit, send_unless_too_large)
        except Exception:
            # The app may let the error through or turn it into an error of its
            # own (FastAPI answers 400); only a cut-off body is handled here.
            if not too_large or response_started:
                raise
        if too_large and not response_started:
            await self.refuse(send)

    async def refuse(self, send: Send) -> None:
        detail = f"Request body is larger than {self.max_bytes} bytes"
        await send_error(send, 413, detail, [(b"connection", b"close")])


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length header as a number, or None without one."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


class ConcurrencyLimit:
    """Answer 503 at once while `limit` requests are already being handled.

    Without a limit, every request that arrives is started, and under overload
    all of them slow down together until clients time out. With one, the
    requests within the limit keep their normal latency and the rest are told
    to retry (`Retry-After`), which a load balancer can act on.

    The paths in `always_allowed` (the health probes) are never refused: an
    overloaded service is still alive, and must not be restarted for it.
    One counter per worker process: the event loop runs one callback at a
    time, so the check and the increment cannot interleave.
    """

    def __init__(self, app: ASGIApp, limit: int, always_allowed: frozenset[str]) -> None:
        self.app = app
        self.limit = limit
        self.always_allowed = always_allowed
        self.in_progress = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.always_allowed:
            await self.app(scope, receive, send)
            return
        if self.in_progress >= self.limit:
            detail = "Too many requests in progress, retry shortly"
            await send_error(send, 503, detail, [(b"retry-after", b"1")])
            return
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1
