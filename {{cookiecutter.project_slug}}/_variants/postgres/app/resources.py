"""Shared resources: a PostgreSQL connection pool, opened at start-up, closed
at shutdown, and checked by `/readyz`.

The pool opens without waiting for the database: the service starts (and
`/healthz` answers) even while PostgreSQL is down, and `/readyz` says 503
with the reason until the database answers. Restarting a healthy process
because its database is away would not bring the database back.

Settings, from environment variables named
`{{ cookiecutter.__env_prefix }}DATABASE_<FIELD>`:
- URL: a libpq connection string, e.g. `postgresql://app:secret@db:5432/app`
  (pass it at run time, never bake it into the image);
- POOL_MIN_SIZE, POOL_MAX_SIZE: connections per process (defaults 1 and 10);
- CHECK_TIMEOUT: seconds `/readyz` waits for the database (default 2).
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    """Database settings, with the same prefix as the app's other settings."""

    model_config = SettingsConfigDict(
        env_prefix="{{ cookiecutter.__env_prefix }}DATABASE_",
        env_file=".env",
        extra="ignore",
    )

    url: str = "postgresql://127.0.0.1:5432/{{ cookiecutter.project_slug }}"
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    check_timeout: float = Field(default=2.0, gt=0)


@asynccontextmanager
async def open_resources(app: FastAPI) -> AsyncIterator[None]:
    """Open the pool for the app's lifetime; `app.state.db_pool` hands out connections."""
    settings = DatabaseSettings()
    pool = AsyncConnectionPool(
        settings.url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        open=False,
    )
    await pool.open(wait=False)
    app.state.db_pool = pool
    app.state.db_settings = settings
    try:
        yield
    finally:
        await pool.close()


async def readiness_problems(app: FastAPI) -> list[str]:
    """The database must answer `SELECT 1` within the check timeout."""
    pool: AsyncConnectionPool = app.state.db_pool
    timeout = app.state.db_settings.check_timeout
    try:
        async with asyncio.timeout(timeout), pool.connection(timeout=timeout) as connection:
            await connection.execute("SELECT 1")
    except Exception as error:  # any failure means "not ready"; the reason is reported
        return [f"database: {type(error).__name__}: {error}".strip()]
    return []
