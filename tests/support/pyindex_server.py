"""The serving half of pyindex.py: a PEP 503 index root on 127.0.0.1, with
optional HTTP Basic auth, in a background thread.

Part of the offline test support (see README.md in this folder).
"""

from __future__ import annotations

import base64
import hmac
import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _IndexHandler(SimpleHTTPRequestHandler):
    """Static files from the index root, behind optional HTTP Basic auth."""

    server: _IndexHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: pip makes many requests and test output should stay readable."""

    def _authorized(self) -> bool:
        """Check the Authorization header; answer 401 and count a rejection if wrong."""
        owner = self.server.owner
        expected = owner.expected_auth_header
        given = self.headers.get("Authorization", "")
        if expected is None or hmac.compare_digest(given.encode(), expected.encode()):
            owner._count(authorized=True)
            return True
        owner._count(authorized=False)
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="slim-python local index"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_GET(self) -> None:
        if self._authorized():
            super().do_GET()

    def do_HEAD(self) -> None:
        if self._authorized():
            super().do_HEAD()


class _IndexHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its :class:`IndexServer` (for auth and counters)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, owner: IndexServer) -> None:
        self.owner = owner
        super().__init__(address, handler)


class IndexServer:
    """A running local index: ``.url``, ``.port``, ``.stop()``, request counters.

    ``authorized_requests`` counts requests that were served (credentials
    right, or no auth configured); ``rejected_requests`` counts 401 answers.
    Tests use them to prove credentials really reached the server.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        basic_auth: tuple[str, str] | None = None,
    ) -> None:
        self.root = Path(root)
        self.host = host
        self.expected_auth_header = None
        if basic_auth is not None:
            token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
            self.expected_auth_header = f"Basic {token}"
        self.authorized_requests = 0
        self.rejected_requests = 0
        self._lock = threading.Lock()
        handler = partial(_IndexHandler, directory=str(self.root))
        self._httpd = _IndexHTTPServer((host, port), handler, self)
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://{host}:{self.port}/simple/"
        # A short poll interval makes stop() return quickly.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="pyindex",
            daemon=True,
        )
        self._thread.start()

    def _count(self, *, authorized: bool) -> None:
        """Requests are handled in threads, so counters are updated under a lock."""
        with self._lock:
            if authorized:
                self.authorized_requests += 1
            else:
                self.rejected_requests += 1

    def stop(self) -> None:
        """Stop serving and free the port (safe to call twice)."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def __enter__(self) -> IndexServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    root: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    basic_auth: tuple[str, str] | None = None,
) -> IndexServer:
    """Serve ``root`` (containing ``simple/`` and ``files/``) in a daemon thread.

    ``port=0`` lets the OS pick a free port (read it from ``.port``/``.url``).
    With ``basic_auth=(user, password)`` every request without those
    credentials gets ``401`` with ``WWW-Authenticate: Basic``.
    """
    return IndexServer(root, host=host, port=port, basic_auth=basic_auth)
