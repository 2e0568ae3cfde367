"""Shared test fixtures."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app


@pytest.fixture
def settings() -> Settings:
    """Settings for tests: defaults only, never the developer's `.env` file."""
    return Settings(_env_file=None)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client whose `with` block runs the app's lifespan, as a real server does."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client
