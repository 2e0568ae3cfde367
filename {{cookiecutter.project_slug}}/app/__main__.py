"""Entry point of the container: `python -m app` serves the app with uvicorn.

Running uvicorn from Python (not from its command line) means one settings
object configures everything, with the same environment variables as the app.
"""

import argparse
import signal

import uvicorn

from app.config import get_settings
from app.logging_config import logging_config
from app.server import HeaderLimitsProtocol


def main(arguments: list[str] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then let in-flight requests finish."""
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument(
        "--reload", action="store_true", help="restart on code changes (development only)"
    )
    options = parser.parse_args(arguments)
    settings = get_settings()
    # uvicorn drains requests on SIGTERM, then re-raises the signal so that the
    # process dies "killed by SIGTERM" (status 143). As PID 1 in a container the
    # kernel drops that second signal and the exit status is 0, but under an init
    # process (`docker run --init`, the smoke test) it would not be. A do-nothing
    # handler makes a completed graceful shutdown exit 0 everywhere.
    signal.signal(signal.SIGTERM, lambda _signal, _frame: None)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        reload=options.reload,
        log_config=logging_config(settings.log_level, settings.log_format),
        # The app writes the access log itself (app/request_context.py), with
        # the request id and the duration that uvicorn's lacks.
        access_log=False,
        # uvicorn's HTTP protocol with a deadline and a size limit for headers.
        http=HeaderLimitsProtocol,
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=settings.graceful_shutdown_timeout,
        server_header=False,
    )


if __name__ == "__main__":
    main()
