"""The Docker tier's checks that only the template can make; every check a user's
project can make for itself is the generated project's own `scripts/check_image.py`
(run here through `image_check`), so each mutation test proves the tool users get.

Each function returns a list of problems: empty means pass, and each problem is
a sentence naming what is wrong.
"""

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

from .engine import (
    docker,
    docker_cli,
    free_port,
    http_get,
    image_config,
    image_snapshot,
    run_container,
    saved_image,
    wait_for_http,
)

PORT = 8000


def image_check(
    project: Path, tag: str, *names: str, quick: bool = True
) -> subprocess.CompletedProcess:
    """The project's `scripts/check_image.py` on `tag` (only the named checks, if any)."""
    command = [sys.executable, "scripts/check_image.py", tag, "--port", str(PORT)]
    command += [f"--check={name}" for name in names] + (["--quick"] if quick else [])
    return subprocess.run(
        command,
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, "DOCKER": shlex.join(docker_cli())},
    )


def project_checker(project: Path) -> ModuleType:
    """A rendered project's scripts/check_image.py as a module, so template tests use
    its probes instead of copies of them."""
    spec = importlib.util.spec_from_file_location("check_image", project / "scripts/check_image.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def image_check_problems(project: Path, tag: str, *names: str, quick: bool = True) -> list[str]:
    """The checker's report when it fails; empty when every check passed."""
    result = image_check(project, tag, *names, quick=quick)
    if result.returncode == 0 and " 0 failed" in result.stdout:
        return []
    return [f"check_image.py exited {result.returncode}:\n{result.stdout}{result.stderr}"]


def fastapi_import_problems(tag: str, expected_version: str) -> list[str]:
    """The article's own check: the locked version of a package is what imports at run time."""
    result = run_container(tag, ["python", "-c", "import fastapi; print(fastapi.__version__)"])
    if result.returncode != 0:
        return [f"import fastapi failed: {result.stderr[-1500:]}"]
    if result.stdout.strip() != expected_version:
        return [f"fastapi {result.stdout.strip()} in the image, {expected_version} in the lock"]
    return []


# The minimal runtime has none of these: no shell, no package manager, no pip.
NOT_IN_MINIMAL = re.compile(
    r"^(usr/)?(local/)?s?bin/(sh|dash|bash|apt|apt-get|dpkg|pip3?)$|/site-packages/pip(/|$)"
)


def minimal_problems(tag: str) -> list[str]:
    """A minimal image: no shell, no package manager, no pip (and still a passwd entry)."""
    files, texts = image_snapshot(tag, read=("etc/passwd",))
    problems = [
        f"{name} is in a minimal image" for name in sorted(files) if NOT_IN_MINIMAL.search(name)
    ]
    user = (image_config(tag).get("User") or "").split(":")[0]
    passwd = texts["etc/passwd"] or ""
    if f":{user}:" not in passwd:
        problems.append(f"no /etc/passwd entry for UID {user}")
    return problems


# ------------------------------------------------------------------ builds ---


def secret_leak_problems(tag: str, canary: str) -> list[str]:
    """The canary must appear in no layer, no config and no history entry."""
    problems = []
    if canary.encode() in saved_image(tag):
        problems.append("the credential is in `docker save` output (a layer or the config)")
    history = docker("history", "--no-trunc", tag).stdout
    if canary in history:
        problems.append("the credential is in `docker history`")
    if canary in docker("image", "inspect", tag).stdout:
        problems.append("the credential is in the image config")
    return problems


def strip_hashes(lock: str) -> str:
    """The same lock without its --hash lines (what a careless re-lock produces)."""
    return re.sub(r" \\\n\s+--hash=\S+", "", lock)


def build_failure_problems(result: subprocess.CompletedProcess, expected: str) -> list[str]:
    """A build that must fail: it failed, and for the expected reason."""
    output = result.stdout + result.stderr
    if result.returncode == 0:
        return [f"the build succeeded, but it must fail ({expected})"]
    if expected not in output:
        return [f"the build failed, but not with {expected!r}:\n{output[-2000:]}"]
    return []


def readiness_with_database_problems(tag: str, server, prefix: str) -> list[str]:
    """/readyz follows a real PostgreSQL server: 200 while it runs, 503 naming the
    database once it stops, 200 again after it is back. /healthz stays 200."""
    port = free_port()
    # Host networking: the container reaches the server on the host's loopback.
    started = docker(
        "run",
        "--detach",
        "--network",
        "host",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--env",
        f"{prefix}PORT={port}",
        "--env",
        f"{prefix}DATABASE_URL={server.url}",
        "--env",
        f"{prefix}DATABASE_CHECK_TIMEOUT=1",
        tag,
    )
    if started.returncode != 0:
        return [f"container did not start: {started.stderr[-500:]}"]
    container = started.stdout.strip()
    base = f"http://127.0.0.1:{port}"
    problems = []
    try:
        if wait_for_http(f"{base}/healthz") is None:
            return ["the service never answered /healthz"]
        steps = [
            ("database up", None, 200),
            ("database stopped", server.stop, 503),
            ("database back", server.start, 200),
        ]
        for label, action, expected in steps:
            if action:
                action()
            status, body = wait_for_status(f"{base}/readyz", expected)
            if status != expected:
                problems.append(
                    f"{label}: /readyz answered {status}, expected {expected}: {body[:300]!r}"
                )
            elif expected == 503 and b"database" not in body:
                problems.append(f"{label}: /readyz 503 does not name the database: {body!r}")
            if http_get(f"{base}/healthz")[0] != 200:
                problems.append(f"{label}: /healthz is not 200")
    finally:
        docker("rm", "--force", container)
    return problems


def wait_for_status(url: str, expected: int, timeout: float = 15) -> tuple[int, bytes]:
    """Poll until `url` answers `expected` (the pool needs a moment to notice)."""
    deadline = time.monotonic() + timeout
    status, body = 0, b""
    while time.monotonic() < deadline:
        try:
            status, body = http_get(url, timeout=5)
        except OSError as error:
            status, body = 0, str(error).encode()
        if status == expected:
            break
        time.sleep(0.3)
    return status, body
