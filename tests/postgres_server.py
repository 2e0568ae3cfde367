"""A throwaway PostgreSQL server on 127.0.0.1 for tests, from Debian's packages.

Each server is its own cluster (initdb) in a temporary folder, on a free port,
with trust authentication for loopback only. PostgreSQL refuses to run as
root, so when the tests run as root the server runs as the `postgres` user
that Debian's package creates. .ci/run installs the package.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """This machine cannot start a PostgreSQL server (package not installed)."""


def server_binaries() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not candidates:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (Debian: apt-get install postgresql)"
        )
    return candidates[-1].parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """Start with `start()`, stop with `stop()`; `url` is a libpq connection string."""

    def __init__(self) -> None:
        self.bin = server_binaries()
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="slim-python-pg-"))
        self.data = self.folder / "data"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--no-sync",
            "--encoding",
            "UTF8",
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [*self.as_postgres, str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stdout}{result.stderr}")

    def start(self) -> "PostgresServer":
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.folder} -c fsync=off"
        )
        self._run(
            "pg_ctl",
            "--pgdata",
            str(self.data),
            "--options",
            options,
            "--log",
            str(self.folder / "server.log"),
            "--wait",
            "start",
        )
        return self

    def query(self, sql: str) -> str:
        """Run one statement with psql: its rows, one per line, columns joined by `|`."""
        result = subprocess.run(
            [str(self.bin / "psql"), self.url, "--tuples-only", "--no-align", "--command", sql],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout.strip()

    def stop(self) -> None:
        self._run("pg_ctl", "--pgdata", str(self.data), "--mode", "fast", "--wait", "stop")

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
