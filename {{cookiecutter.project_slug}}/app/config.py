"""Settings, read from environment variables (twelve-factor style).

Every setting can be overridden with an environment variable: the prefix
`{{ cookiecutter.__env_prefix }}` and the field's name in capitals, e.g.
`{{ cookiecutter.__env_prefix }}LOG_LEVEL=debug`.
During development a `.env` file in the working directory is read too; the
image never contains one (see .dockerignore).
"""

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from app.resources import ResourceSettings

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class Settings(ResourceSettings):
    """Runtime configuration of the service, including its resources' settings
    (ResourceSettings in app/resources.py): one prefix, one `.env`, one object."""

    model_config = SettingsConfigDict(
        env_prefix="{{ cookiecutter.__env_prefix }}",
        env_file=".env",
        extra="ignore",
    )

    # Loopback by default so a laptop run is not reachable from the network;
    # the Dockerfile sets 0.0.0.0 because inside a container that is required.
    host: str = "127.0.0.1"
    port: int = Field(default={{ cookiecutter.http_port }}, ge=1, le=65535)
    # One worker per container is the norm: scale with more containers.
    workers: int = Field(default=1, ge=1)
    log_level: LogLevel = "info"
    # Off by default: a load balancer or ingress usually logs requests already,
    # and one log line per request costs measurable throughput.
    access_log: bool = False
    # Seconds uvicorn waits for in-flight requests after SIGTERM. Keep it below
    # the orchestrator's grace period (docker stop: 10 s, Kubernetes: 30 s).
    graceful_shutdown_timeout: float = Field(default=5.0, gt=0)


@lru_cache
def get_settings() -> Settings:
    """Read the settings once per process."""
    return Settings()
