"""Container health probe: exit 0 when the service answers `GET /healthz` with 200.

The Dockerfile's HEALTHCHECK runs `python -m app.healthcheck`, so the image
needs no curl or wget. Standard library only: it runs every few seconds.
"""

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    """Probe the service on the port it was configured with."""
    port = os.environ.get("{{ cookiecutter.__env_prefix }}PORT", "{{ cookiecutter.http_port }}")
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status = response.status
    except urllib.error.HTTPError as error:  # an answer, but not a 2xx one
        status = error.code
        error.close()
    except OSError as error:  # refused, timed out, reset: no answer at all
        print(f"healthcheck: {url}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"healthcheck: {url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
