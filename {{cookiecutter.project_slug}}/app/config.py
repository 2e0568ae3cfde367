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
LogFormat = Literal["json", "text"]


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
    # json: one JSON object per line, for log pipelines (the container's default).
    # text: readable lines for a terminal (`make run` sets it).
    log_format: LogFormat = "json"
    # Off by default: a load balancer or ingress usually logs requests already,
    # and one log line per request costs measurable throughput.
    access_log: bool = False
    # Seconds uvicorn waits for in-flight requests after SIGTERM. Keep it below
    # the orchestrator's grace period (docker stop: 10 s, Kubernetes: 30 s).
    graceful_shutdown_timeout: int = Field(default=5, ge=1)

    # Protective limits; docs/operations.md explains each one and what a proxy
    # in front should still add.
    # Largest request body accepted, in bytes; larger ones get 413 before they
    # are read into memory.
    max_request_bytes: int = Field(default=1024 * 1024, ge=0)
    # Requests handled at once by one worker; more get 503 at once instead of
    # waiting in the event loop. /healthz and /readyz are always answered.
    max_concurrent_requests: int = Field(default=64, ge=1)
    # Seconds a client gets to send a request's line and headers; then the
    # connection is closed (slow or stalled clients hold no connection longer).
    header_timeout: float = Field(default=10.0, gt=0)
    # Largest request line plus headers, in bytes; more gets 431.
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    # Seconds an idle keep-alive connection stays open between requests.
    keep_alive_timeout: int = Field(default=5, ge=1)


@lru_cache
def get_settings() -> Settings:
    """Read the settings once per process."""
    return Settings()
