"""Application factory: builds the FastAPI app and its lifespan."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.config import Settings, get_settings
from app.limits import BodySizeLimit, ConcurrencyLimit
from app.request_context import RequestContext
from app.resources import open_resources
from app.routers import greetings, health

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open shared resources before the first request and close them after the last.

    The resources themselves live in app/resources.py. `/readyz` reports ready
    only between the end of start-up and the beginning of shutdown.
    """
    logger.info("starting %s %s", app.title, __version__)
    async with open_resources(app):
        app.state.ready = True
        yield
        app.state.ready = False
    logger.info("stopped")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Tests pass their own settings; production reads the environment."""
    app = FastAPI(
        title="{{ cookiecutter.project_slug }}",
        version=__version__,
        lifespan=lifespan,
    )
    settings = settings or get_settings()
    app.state.settings = settings
    app.state.ready = False
    app.include_router(health.router)
    app.include_router(greetings.router, prefix="/api/v1")
    # Each request passes these from the last added to the first: it gets its
    # id, then the concurrency limit, then the body limit (app/limits.py).
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(
        ConcurrencyLimit,
        limit=settings.max_concurrent_requests,
        always_allowed=frozenset({"/healthz", "/readyz"}),
    )
    app.add_middleware(RequestContext, access_log=settings.access_log)
    return app
