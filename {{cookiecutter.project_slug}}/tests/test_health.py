"""Probes: exact status codes and bodies, because orchestrators rely on them."""

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_after_startup(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_readyz_is_503_before_startup(settings: Settings) -> None:
    # Without `with`, the lifespan never runs: the app has not started up.
    client = TestClient(create_app(settings))

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "not ready"}
