"""Shared resources: what the app opens at start-up, closes at shutdown, and
checks for readiness.

This service has none yet. Database pools and HTTP clients belong here: open
them in `open_resources`, put them on `app.state`, and report in
`readiness_problems` whatever keeps the service from taking traffic.
(The template's `database=postgres` option generates a connection pool here.)
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic_settings import BaseSettings


class ResourceSettings(BaseSettings):
    """Settings of the resources below (none yet). They are fields of the app's
    Settings (app/config.py), which reads them with the same prefix."""


@asynccontextmanager
async def open_resources(app: FastAPI) -> AsyncIterator[None]:
    """Open shared resources for the app's lifetime (none yet)."""
    yield


async def readiness_problems(app: FastAPI) -> list[str]:
    """Why the service cannot take traffic now: an empty list means ready."""
    return []
