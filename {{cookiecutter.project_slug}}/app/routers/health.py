"""Probes for the container runtime and the orchestrator.

- `/healthz` (liveness): the process serves HTTP. No I/O, so a slow database
  never gets a healthy container restarted.
- `/readyz` (readiness): the service can take traffic now. 503 while starting
  or stopping, or while a resource it needs (see app/resources.py) fails,
  so load balancers route around it; the body says why.
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.resources import readiness_problems

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: answer as long as the event loop runs."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> dict[str, str] | JSONResponse:
    """Readiness: 200 once start-up has finished and every resource answers, 503 otherwise."""
    if not request.app.state.ready:
        return JSONResponse(status_code=503, content={"status": "not ready"})
    problems = await readiness_problems(request.app)
    if problems:
        return JSONResponse(status_code=503, content={"status": "not ready", "reasons": problems})
    return {"status": "ready"}
