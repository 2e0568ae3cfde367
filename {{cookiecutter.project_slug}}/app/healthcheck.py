"""Container health probe: exit 0 when the service answers `GET /healthz` with 200.

The Dockerfile's HEALTHCHECK runs `python -m app.healthcheck`, so the image
needs no curl or wget. Standard library only, and http.client rather than
urllib.request: it runs every few seconds, and the server stack has already
loaded (and compiled) http.client, while urllib.request would pull in a dozen
more modules (cookies, FTP, proxies) per probe.
"""

import http.client
import os
import sys


def main() -> int:
    """Probe the service on the port it was configured with."""
    port = int(os.environ.get("{{ cookiecutter.__env_prefix }}PORT", "{{ cookiecutter.http_port }}"))
    url = f"http://127.0.0.1:{port}/healthz"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
    # Refused, timed out, reset, or not HTTP: no answer at all.
    except (OSError, http.client.HTTPException) as error:
        print(f"healthcheck: {url}: {error}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if status != 200:
        print(f"healthcheck: {url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
