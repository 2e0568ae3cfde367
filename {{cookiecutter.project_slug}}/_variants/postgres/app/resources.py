"""Shared resources: a PostgreSQL connection pool, opened at start-up, closed
at shutdown, and checked by `/readyz`.

The pool opens without waiting for the database: the service starts (and
`/healthz` answers) even while PostgreSQL is down, and `/readyz` says 503
with the reason until the database answers. Restarting a healthy process
because its database is away would not bring the database back.

The schema is not created here: `python -m app.migrate` applies the
migrations in app/migrations/ before the service starts (compose.yaml and the
Kubernetes manifests run it first).
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Self

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from pydantic import Field, FilePath, model_validator
from pydantic_settings import BaseSettings


class ResourceSettings(BaseSettings):
    """Database settings. They are fields of the app's Settings (app/config.py),
    read like every other setting: database_url from
    `{{ cookiecutter.__env_prefix }}DATABASE_URL`, and so on."""

    # A libpq connection string, e.g. postgresql://app:secret@db:5432/app. Pass
    # it at run time, never bake it into the image.
    database_url: str = "postgresql://127.0.0.1:5432/{{ cookiecutter.project_slug }}"
    # Or a file that holds it: a mounted Kubernetes Secret or a Compose secret,
    # so the password never appears in the environment or `docker inspect`.
    database_url_file: FilePath | None = None
    # Connections per process.
    database_pool_min_size: int = Field(default=1, ge=0)
    database_pool_max_size: int = Field(default=10, ge=1)
    # Seconds `/readyz` waits for the database.
    database_check_timeout: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def read_database_url_file(self) -> Self:
        """Take the URL from `database_url_file` when one is given (not both)."""
        if self.database_url_file is None:
            return self
        if "database_url" in self.model_fields_set:
            raise ValueError("set database_url or database_url_file, not both")
        self.database_url = self.database_url_file.read_text(encoding="utf-8").strip()
        return self


@asynccontextmanager
async def open_resources(app: FastAPI) -> AsyncIterator[None]:
    """Open the pool for the app's lifetime; `app.state.db_pool` hands out connections."""
    settings: ResourceSettings = app.state.settings
    pool: AsyncConnectionPool = AsyncConnectionPool(
        settings.database_url,
        min_size=settings.database_pool_min_size,
        max_size=settings.database_pool_max_size,
        open=False,
    )
    await pool.open(wait=False)
    app.state.db_pool = pool
    try:
        yield
    finally:
        await pool.close()


async def readiness_problems(app: FastAPI) -> list[str]:
    """The database must answer `SELECT 1` within the check timeout."""
    pool: AsyncConnectionPool = app.state.db_pool
    timeout: float = app.state.settings.database_check_timeout
    try:
        async with asyncio.timeout(timeout), pool.connection(timeout=timeout) as connection:
            await connection.execute("SELECT 1")
    except Exception as error:  # any failure means "not ready"; the reason is reported
        return [f"database: {type(error).__name__}: {error}".strip()]
    return []
