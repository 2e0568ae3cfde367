"""`python -m app.migrate`, run as the image runs it: from an empty database to
the newest revision, then again as a no-op, then the service is ready. Each
test gets an empty schema of its own on the server named by TEST_DATABASE_URL."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import make_conninfo

from app.config import Settings
from app.main import create_app
from app.migrate import MIGRATION_LOCK
from tests.test_database import TEST_DATABASE_URL, needs_database, unreachable_database_url

URL_VARIABLE = "{{ cookiecutter.__env_prefix }}DATABASE_URL"


def migrate(database_url: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """The image's command, with the service's settings from the environment."""
    environment = {**os.environ, URL_VARIABLE: database_url}
    environment.pop(f"{URL_VARIABLE}_FILE", None)
    environment.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "app.migrate"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A connection string whose only schema is a new, empty one."""
    schema = f"test_{uuid.uuid4().hex}"
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield make_conninfo(TEST_DATABASE_URL, options=f"-c search_path={schema}")
    finally:
        with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def tables_and_revision(database_url: str) -> tuple[list[str], list[str]]:
    with psycopg.connect(database_url) as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() ORDER BY table_name"
        ).fetchall()
        revisions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    return [name for (name,) in tables], [revision for (revision,) in revisions]


@needs_database
def test_migrations_apply_to_an_empty_database_then_again_as_a_no_op(
    empty_database_url: str,
) -> None:
    first = migrate(empty_database_url)
    assert first.returncode == 0, first.stderr
    assert "Running upgrade  -> 0001" in first.stdout + first.stderr
    assert tables_and_revision(empty_database_url) == (["alembic_version", "notes"], ["0001"])

    again = migrate(empty_database_url)
    assert again.returncode == 0, again.stderr
    assert "Running upgrade" not in again.stdout + again.stderr
    assert "database schema is up to date" in again.stdout
    assert tables_and_revision(empty_database_url) == (["alembic_version", "notes"], ["0001"])

    settings = Settings(_env_file=None, database_url=empty_database_url)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200


@needs_database
def test_a_second_copy_waits_for_the_first(empty_database_url: str) -> None:
    """Pods that start together take turns: while the lock is held (here by the
    test, as by a first copy), another copy waits, then finishes."""
    with psycopg.connect(empty_database_url, autocommit=True) as first_copy:
        first_copy.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        environment = {**os.environ, URL_VARIABLE: empty_database_url}
        second_copy = subprocess.Popen(
            [sys.executable, "-m", "app.migrate"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with pytest.raises(subprocess.TimeoutExpired):
            second_copy.wait(timeout=3)
        first_copy.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        _, errors = second_copy.communicate(timeout=60)

    assert second_copy.returncode == 0, errors
    assert tables_and_revision(empty_database_url) == (["alembic_version", "notes"], ["0001"])


def test_migrate_without_a_database_fails_with_a_hint() -> None:
    result = migrate(unreachable_database_url())

    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: cannot reach the database: ")
    assert f"Try: check {URL_VARIABLE}" in result.stderr


def test_migrate_with_invalid_settings_fails_with_a_hint(tmp_path: Path) -> None:
    url_file = tmp_path / "url"
    url_file.write_text("postgresql://db/app", encoding="utf-8")

    result = migrate("postgresql://db/other", **{f"{URL_VARIABLE}_FILE": str(url_file)})

    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: invalid settings: ")
    assert "not both" in result.stderr
