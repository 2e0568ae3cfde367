"""uvicorn's HTTP protocol, plus a deadline and a size limit for request headers.

uvicorn bounds the idle time between two requests (the keep-alive timeout) but
not the time a client takes to send a request's line and headers, nor their
size. A client that sends half a request line and stops would hold its
connection forever, and one that sends an endless header would be buffered
until the container runs out of memory.

This subclass of uvicorn's httptools protocol (the one the image uses) closes
a connection whose headers are not complete within `header_timeout` seconds,
and answers 431 when they grow past `max_header_bytes`. Both settings are in
app/config.py. `python -m app` selects it with uvicorn's `http=` option.
tests/test_server.py runs it in a real uvicorn, so an upgrade that changes the
methods overridden here fails the tests instead of silently dropping the limits.
"""

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.config import get_settings

HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-length: 0\r\n"
    b"connection: close\r\n\r\n"
)


class HeaderLimitsProtocol(HttpToolsProtocol):
    """One HTTP connection, whose request headers must arrive in time and fit.

    The deadline starts when the connection opens, and again when a later
    request on a kept-alive connection begins; complete headers cancel it.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = get_settings()
        self.header_timeout = settings.header_timeout
        self.max_header_bytes = settings.max_header_bytes
        # Set while the current request's headers are incomplete.
        self.header_deadline: asyncio.TimerHandle | None = None
        self.header_bytes = 0

    # The same signature as uvicorn's, whose own override carries this ignore.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.start_header_deadline()

    def data_received(self, data: bytes) -> None:
        if self.header_deadline is not None:
            self.header_bytes += len(data)
        super().data_received(data)
        # Still no complete headers after this chunk, and already too many bytes:
        # the parser would otherwise keep buffering them.
        if self.header_deadline is not None and self.header_bytes > self.max_header_bytes:
            self.stop_header_deadline()
            if not self.transport.is_closing():
                self.transport.write(HEADERS_TOO_LARGE)
                self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.header_deadline is None:  # a later request on a kept-alive connection
            self.start_header_deadline()

    def on_headers_complete(self) -> None:
        self.stop_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_header_deadline()
        super().connection_lost(exc)

    def start_header_deadline(self) -> None:
        self.header_bytes = 0
        self.header_deadline = self.loop.call_later(self.header_timeout, self.headers_too_late)

    def stop_header_deadline(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def headers_too_late(self) -> None:
        """The deadline passed before the headers were complete: drop the connection."""
        self.header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
