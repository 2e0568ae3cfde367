"""Readiness follows the database: 503 with a reason while it is unreachable,
200 when it answers. The database URL can come from a file (a mounted secret).
Tests marked `needs_database` need a real PostgreSQL server, named by the
environment variable below (CI sets it; compose.yaml starts a server)."""

import os
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.config import Settings
from app.main import create_app

# A test-only variable, not a setting of the service, so it has no prefix.
TEST_DATABASE_VARIABLE = "TEST_DATABASE_URL"
TEST_DATABASE_URL = os.environ.get(TEST_DATABASE_VARIABLE, "")
needs_database = pytest.mark.skipif(
    not TEST_DATABASE_URL,
    reason=f"needs a PostgreSQL server: set {TEST_DATABASE_VARIABLE}",
)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def unreachable_database_url() -> str:
    return f"postgresql://nobody@127.0.0.1:{unused_port()}/nothing?connect_timeout=1"


def test_readyz_is_503_with_a_reason_while_the_database_is_down() -> None:
    settings = Settings(
        _env_file=None, database_url=unreachable_database_url(), database_check_timeout=1
    )

    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        liveness = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "not ready"
    assert response.json()["reasons"][0].startswith("database: ")
    assert liveness.status_code == 200  # a database outage is no reason to restart


def test_database_url_can_come_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "database-url"
    secret.write_text("postgresql://app:from-a-file@db:5432/app\n", encoding="utf-8")
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}DATABASE_URL_FILE", str(secret))

    settings = Settings(_env_file=None)

    assert settings.database_url == "postgresql://app:from-a-file@db:5432/app"


def test_database_url_and_its_file_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "database-url"
    secret.write_text("postgresql://db/app", encoding="utf-8")

    with pytest.raises(ValidationError, match="not both"):
        Settings(_env_file=None, database_url="postgresql://db/other", database_url_file=secret)


def test_a_missing_database_url_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="database_url_file"):
        Settings(_env_file=None, database_url_file=tmp_path / "missing")


@needs_database
def test_readyz_is_200_when_the_database_answers() -> None:
    settings = Settings(_env_file=None, database_url=TEST_DATABASE_URL)

    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
