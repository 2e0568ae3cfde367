"""Request ids and the access log.

Every request gets an id: the client's `X-Request-ID` when it is a safe one
(a proxy or the calling service usually sets it), a new random one otherwise.
The id is echoed in the response's `X-Request-ID` and added to every log line
written while the request is handled (see app/logging_config.py), so one
request can be followed across services and log lines.
"""

import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The current request's id; None outside a request (start-up, shutdown).
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Ids that are safe to log and to send back: bounded length, no spaces, quotes
# or control characters. UUIDs, hex and base64 ids all fit.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")

access_logger = logging.getLogger("app.access")


def incoming_request_id(scope: Scope) -> str | None:
    """The client's X-Request-ID, if it has a valid one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if VALID_REQUEST_ID.fullmatch(text) else None
    return None


class RequestContext:
    """Give each request an id, echo it, and write the access log line if `access_log`."""

    def __init__(self, app: ASGIApp, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        current = incoming_request_id(scope) or uuid.uuid4().hex
        # Not reset afterwards: each request runs in an asyncio task of its own,
        # whose context ends with it. Until then even uvicorn's report of an
        # unhandled error carries the id.
        request_id.set(current)
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", current.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log:
                duration_ms = round((time.perf_counter() - started) * 1000, 2)
                method, path = scope["method"], scope["path"]
                access_logger.info(
                    "%s %s %d %.2f ms",
                    method,
                    path,
                    status,
                    duration_ms,
                    extra={
                        "method": method,
                        "path": path,
                        "status": status,
                        "duration_ms": duration_ms,
                    },
                )
