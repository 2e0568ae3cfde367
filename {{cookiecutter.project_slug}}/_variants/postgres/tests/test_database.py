"""Readiness follows the database: 503 with a reason while it is unreachable,
200 when it answers. The second test needs a real PostgreSQL server, named by
the environment variable below (CI sets it; compose.yaml starts a server)."""

import os
import socket

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app

# A test-only variable, not a setting of the service, so it has no prefix.
TEST_DATABASE_VARIABLE = "TEST_DATABASE_URL"
TEST_DATABASE_URL = os.environ.get(TEST_DATABASE_VARIABLE)
needs_database = pytest.mark.skipif(
    not TEST_DATABASE_URL,
    reason=f"needs a PostgreSQL server: set {TEST_DATABASE_VARIABLE}",
)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_readyz_is_503_with_a_reason_while_the_database_is_down(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql://nobody@127.0.0.1:{unused_port()}/nothing?connect_timeout=1"
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}DATABASE_URL", url)
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}DATABASE_CHECK_TIMEOUT", "1")

    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        liveness = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "not ready"
    assert response.json()["reasons"][0].startswith("database: ")
    assert liveness.status_code == 200  # a database outage is no reason to restart


@needs_database
def test_readyz_is_200_when_the_database_answers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable = "{{ cookiecutter.__env_prefix }}DATABASE_URL"
    monkeypatch.setenv(variable, str(TEST_DATABASE_URL))

    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
