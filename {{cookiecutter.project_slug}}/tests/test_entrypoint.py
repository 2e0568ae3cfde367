"""`python -m app` hands the settings to uvicorn, and the health probe works."""

import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app import __main__ as entrypoint
from app import healthcheck
from app.config import get_settings
from app.server import HeaderLimitsProtocol


def test_main_passes_settings_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    handlers: dict[int, object] = {}
    monkeypatch.setattr("signal.signal", handlers.__setitem__)
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}PORT", "9001")
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}WORKERS", "2")
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: calls.append(kwargs))
    get_settings.cache_clear()

    entrypoint.main([])
    get_settings.cache_clear()

    assert len(calls) == 1
    assert calls[0]["port"] == 9001
    assert calls[0]["workers"] == 2
    assert calls[0]["factory"] is True
    assert calls[0]["access_log"] is False  # the app writes its own (with request ids)
    assert calls[0]["reload"] is False
    assert calls[0]["http"] is HeaderLimitsProtocol
    assert calls[0]["timeout_keep_alive"] == 5
    assert calls[0]["timeout_graceful_shutdown"] == 5
    assert calls[0]["log_config"]["handlers"]["stdout"]["formatter"] == "json"
    # A completed graceful shutdown must exit 0, also when not PID 1.
    assert list(handlers) == [signal.SIGTERM]


def test_reload_and_text_logs_for_development(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("signal.signal", lambda *args: None)
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}LOG_FORMAT", "text")
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: calls.append(kwargs))
    get_settings.cache_clear()

    entrypoint.main(["--reload"])
    get_settings.cache_clear()

    assert calls[0]["reload"] is True
    assert calls[0]["log_config"]["handlers"]["stdout"]["formatter"] == "text"


def test_healthcheck_fails_when_healthz_is_not_200(monkeypatch: pytest.MonkeyPatch) -> None:
    server = _start_fake_service(status=500)
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}PORT", str(server.server_port))

    try:
        assert healthcheck.main() == 1
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_passes_when_healthz_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    server = _start_fake_service(status=200)
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}PORT", str(server.server_port))

    try:
        assert healthcheck.main() == 0
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_fails_when_nothing_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a free port, closed again: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}PORT", str(port))

    assert healthcheck.main() == 1
    assert f"http://127.0.0.1:{port}/healthz" in capsys.readouterr().err


def _start_fake_service(status: int) -> ThreadingHTTPServer:
    """A stand-in service on a free loopback port that answers every GET with `status`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
