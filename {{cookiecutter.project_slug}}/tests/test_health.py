"""Probes: exact status codes and bodies, because orchestrators rely on them."""

from collections.abc import Awaitable, Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.routers import health


def resources_report(*problems: str) -> Callable[[FastAPI], Awaitable[list[str]]]:
    """A stand-in for app.resources.readiness_problems that reports `problems`."""

    async def readiness_problems(app: FastAPI) -> list[str]:
        return list(problems)

    return readiness_problems


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_after_startup(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every resource answers (resources have tests of their own).
    monkeypatch.setattr(health, "readiness_problems", resources_report())

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_readyz_is_503_with_reasons_when_a_resource_fails(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "readiness_problems", resources_report("cache: timed out"))

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "reasons": ["cache: timed out"]}


def test_readyz_is_503_before_startup(settings: Settings) -> None:
    # Without `with`, the lifespan never runs: the app has not started up.
    client = TestClient(create_app(settings))

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "not ready"}
