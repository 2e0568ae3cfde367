"""Settings come from prefixed environment variables."""

import re
from pathlib import Path

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


PROJECT = Path(__file__).resolve().parents[1]
# `NAME: "value"` in compose.yaml; `- name: "NAME"` + `value: "..."` in Kubernetes.
PREFIX = "{{ cookiecutter.__env_prefix }}"
COMPOSE_VARIABLE = re.compile(rf'^ +{PREFIX}(\w+): "([^"]*)"', re.M)
KUBERNETES_VARIABLE = re.compile(rf'- name: "{PREFIX}(\w+)"\n +value: "([^"]*)"', re.M)


def deployment_settings() -> dict[str, dict[str, str]]:
    """The settings compose.yaml and the Kubernetes manifests (if any) set, per file."""
    found = {"compose.yaml": dict(COMPOSE_VARIABLE.findall((PROJECT / "compose.yaml").read_text()))}
    manifest = PROJECT / "deploy/k8s/deployment.yaml"
    if manifest.is_file():
        found[manifest.name] = dict(KUBERNETES_VARIABLE.findall(manifest.read_text()))
    return found


def test_compose_and_kubernetes_set_the_limits_to_their_defaults() -> None:
    defaults = Settings(_env_file=None)
    limits = {"MAX_REQUEST_BYTES", "MAX_CONCURRENT_REQUESTS", "HEADER_TIMEOUT", "MAX_HEADER_BYTES"}

    for file, variables in deployment_settings().items():
        assert limits <= set(variables), file
        for name, value in variables.items():
            field = name.lower()
            if field in Settings.model_fields and field not in ("host", "port"):
                parsed = Settings.model_validate({field: value})
                assert getattr(parsed, field) == getattr(defaults, field), (file, name)
