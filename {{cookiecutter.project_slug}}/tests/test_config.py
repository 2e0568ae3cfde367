"""Settings come from prefixed environment variables."""

import pytest
from pydantic import ValidationError

from app.config import Settings


def test_defaults_are_safe_for_a_laptop() -> None:
    settings = Settings(_env_file=None)

    assert settings.host == "127.0.0.1"
    assert settings.port == {{ cookiecutter.http_port }}
    assert settings.access_log is False


def test_limits_have_their_documented_defaults() -> None:
    # docs/operations.md, compose.yaml and deploy/k8s/ state the same values.
    settings = Settings(_env_file=None)

    assert settings.max_request_bytes == 1_048_576
    assert settings.max_concurrent_requests == 64
    assert settings.header_timeout == 10
    assert settings.max_header_bytes == 65_536
    assert settings.keep_alive_timeout == 5
    assert settings.graceful_shutdown_timeout == 5
    assert settings.log_format == "json"


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}PORT", "9123")
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}LOG_LEVEL", "debug")

    settings = Settings(_env_file=None)

    assert settings.port == 9123
    assert settings.log_level == "debug"


def test_out_of_range_port_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}PORT", "70000")

    with pytest.raises(ValidationError):
        Settings(_env_file=None)
