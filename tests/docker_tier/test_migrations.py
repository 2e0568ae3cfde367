"""database=postgres: `python -m app.migrate` in the built production image, under
the same restrictions as the service, against a real PostgreSQL server: from an
empty database to the newest revision, again as a no-op, with the URL from a
mounted file (as Kubernetes mounts its Secret), then the service is ready."""

import pytest
from postgres_server import PostgresServer

from .checks import project_checker, wait_for_status
from .engine import docker, free_port, http_get, run_container

pytestmark = pytest.mark.docker

PREFIX = "MY_SERVICE_"
MIGRATE = ["python", "-m", "app.migrate"]
URL_FILE = "/run/secrets/database/url"


@pytest.fixture
def server():
    started = PostgresServer().start()
    yield started
    started.remove()


def hardening(item) -> list[str]:
    """The restrictions `make docker-check` runs the service under."""
    return project_checker(item.project).HARDENING


def test_migrations_apply_in_the_image_then_again_as_a_no_op(built, server, tmp_path):
    item = built("database:postgres")
    tag, restrictions = item.tag, hardening(item)
    options = ["--network", "host", *restrictions, "--env", f"{PREFIX}DATABASE_URL={server.url}"]

    first = run_container(tag, MIGRATE, options)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Running upgrade  -> 0001" in first.stdout, first.stdout
    assert server.query("SELECT version_num FROM alembic_version") == "0001"
    assert server.query("SELECT count(*) FROM notes") == "0"

    # The URL from a file: a read-only mount, as the Kubernetes Secret is.
    secret = tmp_path / "url"
    secret.write_text(server.url + "\n")
    secret.chmod(0o444)
    from_file = [
        *("--network", "host", *restrictions),
        *("--volume", f"{secret}:{URL_FILE}:ro", "--env", f"{PREFIX}DATABASE_URL_FILE={URL_FILE}"),
    ]
    again = run_container(tag, MIGRATE, from_file)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Running upgrade" not in again.stdout + again.stderr
    assert "database schema is up to date" in again.stdout

    port = free_port()
    started = docker("run", "--detach", *from_file, "--env", f"{PREFIX}PORT={port}", tag)
    assert started.returncode == 0, started.stderr
    try:
        status, body = wait_for_status(f"http://127.0.0.1:{port}/readyz", 200, timeout=30)
        assert (status, body) == (200, b'{"status":"ready"}')
        assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        docker("rm", "--force", started.stdout.strip())


def test_migrate_without_a_database_fails_with_one_clear_line(built):
    item = built("database:postgres")
    tag, restrictions = item.tag, hardening(item)
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing?connect_timeout=2"

    result = run_container(
        tag, MIGRATE, ["--network", "host", *restrictions, "--env", f"{PREFIX}DATABASE_URL={url}"]
    )

    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: cannot reach the database: "), result.stderr
    assert f"Try: check {PREFIX}DATABASE_URL" in result.stderr
