"""Request ids and the log lines: JSON for the container, text for a terminal."""

import io
import json
import logging
import logging.config
import re
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.logging_config import logging_config
from app.main import create_app

LOGGERS = ("app", "uvicorn", "uvicorn.access", "")


@pytest.fixture
def log_output() -> Iterator[Callable[[str], io.StringIO]]:
    """Apply the app's logging config with its stream captured; restore logging after."""
    saved = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level)
        for name in LOGGERS
    }
    propagate = {name: logging.getLogger(name).propagate for name in LOGGERS}

    def configure(log_format: str) -> io.StringIO:
        stream = io.StringIO()
        config = logging_config("info", log_format)
        config["handlers"]["stdout"]["stream"] = stream
        logging.config.dictConfig(config)
        return stream

    yield configure
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate[name]


def logging_app(settings: Settings) -> FastAPI:
    """The service with access log on and one extra route that logs."""
    app = create_app(settings.model_copy(update={"access_log": True}))

    @app.get("/logs")
    async def logs() -> dict[str, str]:
        logging.getLogger("app.example").warning("inside a request")
        return {}

    return app


def test_a_request_id_is_generated_without_one(client: TestClient) -> None:
    response = client.get("/healthz")

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_a_valid_incoming_request_id_is_kept(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "Root=1-67a2b3c4.d:e+f/g_h"})

    assert response.headers["x-request-id"] == "Root=1-67a2b3c4.d:e+f/g_h"


@pytest.mark.parametrize(
    "unsafe", [b"", b"a" * 129, b"two words", b'quote"', b"semi;colon", "caf\u00e9".encode()]
)
def test_an_unsafe_incoming_request_id_is_replaced(client: TestClient, unsafe: bytes) -> None:
    response = client.get("/healthz", headers=[(b"x-request-id", unsafe)])

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_errors_from_the_limits_carry_the_request_id(settings: Settings) -> None:
    small = settings.model_copy(update={"max_request_bytes": 4})

    with TestClient(create_app(small)) as client:
        response = client.post(
            "/api/v1/greetings", content=b"12345", headers={"X-Request-ID": "r1"}
        )

    assert response.status_code == 413
    assert response.headers["x-request-id"] == "r1"


def log_of_one_request(
    settings: Settings, log_output: Callable[[str], io.StringIO], log_format: str
) -> str:
    """Everything logged while the app starts, serves GET /logs and stops."""
    stream = log_output(log_format)

    with TestClient(logging_app(settings)) as client:
        client.get("/logs", headers={"X-Request-ID": "abc-123"})

    return stream.getvalue()


def test_json_lines_have_the_request_id_and_the_access_fields(
    settings: Settings, log_output: Callable[[str], io.StringIO]
) -> None:
    log = log_of_one_request(settings, log_output, "json")

    lines = [json.loads(line) for line in log.splitlines()]
    inside, access = (line for line in lines if line["request_id"] == "abc-123")
    for line in lines:  # every line, start-up and shutdown included
        assert datetime.fromisoformat(line.pop("time")).utcoffset() is not None
    assert inside == {
        "level": "WARNING",
        "logger": "app.example",
        "message": "inside a request",
        "request_id": "abc-123",
    }
    duration = access.pop("duration_ms")
    assert access == {
        "level": "INFO",
        "logger": "app.access",
        "message": f"GET /logs 200 {duration:.2f} ms",
        "request_id": "abc-123",
        "method": "GET",
        "path": "/logs",
        "status": 200,
    }
    assert lines[0] == {
        "level": "INFO",
        "logger": "app.main",
        "message": "starting {{ cookiecutter.project_slug }} 0.1.0",
        "request_id": None,
    }


def test_access_log_is_off_by_default(
    client: TestClient, log_output: Callable[[str], io.StringIO]
) -> None:
    stream = log_output("json")

    client.get("/healthz")

    assert stream.getvalue() == ""


def test_text_lines_are_readable(
    settings: Settings, log_output: Callable[[str], io.StringIO]
) -> None:
    log = log_of_one_request(settings, log_output, "text")

    inside, access = (line for line in log.splitlines() if "[abc-123]" in line)
    assert re.fullmatch(r"\S+ \S+ WARNING app\.example \[abc-123\] inside a request", inside)
    assert re.fullmatch(r"\S+ \S+ INFO app\.access \[abc-123\] GET /logs 200 [0-9.]+ ms", access)


def test_an_exception_is_one_json_line(log_output: Callable[[str], io.StringIO]) -> None:
    stream = log_output("json")

    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("app.example").exception("failed")

    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["message"] == "failed"
    assert record["exception"].endswith("ValueError: broken")
