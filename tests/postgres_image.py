"""The PostgreSQL image that compose.yaml's `db` service runs, for the tests
that bring a postgres project up with a real Docker Compose.

The real `postgres:16-bookworm` is used when the engine has it or can pull it.
Without a registry, a small stand-in is built instead: Debian's postgresql
package on the Debian base of the python stand-in (apt reaches Debian's
mirrors from a build with host networking), with an entrypoint that honours
the official image's interface as compose.yaml uses it: POSTGRES_USER,
POSTGRES_PASSWORD and POSTGRES_DB on first start, data in
/var/lib/postgresql/data, `pg_isready` on PATH, password authentication over
TCP. It is tagged by a digest of its recipe, so it is built once per machine.
"""

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import base_images

OFFICIAL = "postgres:16-bookworm"
STANDIN = "slim-python-standin/postgres"

ENTRYPOINT = r"""#!/bin/sh
# First start: a cluster owned by POSTGRES_USER, with POSTGRES_DB, like the
# official image. Later starts reuse the volume's data.
set -eu
data=/var/lib/postgresql/data
if [ ! -s "$data/PG_VERSION" ]; then
    user="${POSTGRES_USER:-postgres}"
    printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/password
    initdb --pgdata "$data" --username "$user" --pwfile /tmp/password \
        --auth-local trust --auth-host scram-sha-256 --no-sync --encoding UTF8 >/dev/null
    rm /tmp/password
    echo "host all all all scram-sha-256" >> "$data/pg_hba.conf"
    if [ "${POSTGRES_DB:-$user}" != postgres ]; then
        pg_ctl --pgdata "$data" --options "-c listen_addresses=''" --wait start >/dev/null
        createdb --username "$user" "${POSTGRES_DB:-$user}"
        pg_ctl --pgdata "$data" --mode fast --wait stop >/dev/null
    fi
fi
exec postgres -D "$data" -c listen_addresses='*'
"""

DOCKERFILE = """\
FROM {base}
RUN apt-get update -qq \\
    && apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \\
    && rm -rf /var/lib/apt/lists/* \\
    && install -d -o postgres -g postgres -m 700 /var/lib/postgresql/data \\
    && install -d -o postgres -g postgres -m 2775 /var/run/postgresql
COPY --chmod=755 entrypoint.sh /usr/local/bin/postgres-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:$PATH
USER postgres
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]
"""


def ensure_postgres_image(python_version: str = "3.12") -> str:
    """The reference of a PostgreSQL image for compose.yaml's `db` service."""
    if base_images.image_exists(OFFICIAL) or base_images.try_pull(OFFICIAL):
        return OFFICIAL
    base = base_images.ensure_python_image(python_version, "slim")
    dockerfile = DOCKERFILE.format(base=base)
    key = hashlib.sha256((dockerfile + ENTRYPOINT).encode()).hexdigest()[:12]
    tag = f"{STANDIN}:15-{key}"
    if base_images.image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="postgres-standin-") as folder:
        context = Path(folder)
        (context / "Dockerfile").write_text(dockerfile)
        (context / "entrypoint.sh").write_text(ENTRYPOINT)
        command = ["build", "--quiet", "--network", "host", "--tag", tag, str(context)]
        built = subprocess.run(
            [*base_images.docker_cli(), *command],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
            env={**os.environ, "DOCKER_BUILDKIT": "1"},
        )
    if built.returncode != 0:
        raise RuntimeError(f"building the PostgreSQL stand-in failed: {built.stderr[-2000:]}")
    return tag
