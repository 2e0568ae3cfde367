"""The checks of the Docker tier. Each returns a list of problems: empty means
pass, and each problem is a sentence naming what is wrong.

Scenario tests (test_image.py) assert that a list is empty; mutation tests
(test_mutations.py) break one protective line and assert that the matching
check reports it. A check that could never fail would show up there.
"""

import json
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

from .engine import (
    build,
    container_state,
    docker,
    free_port,
    http_get,
    image_config,
    image_files,
    image_snapshot,
    saved_image,
    wait_for_health,
    wait_for_http,
)

HARDENING = [
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--memory",
    "256m",
    "--pids-limit",
    "128",
]
# What the build context may contain: what the Dockerfile copies or mounts.
CONTEXT_ALLOWED = re.compile(
    r"(app|docker)(/.*)?|requirements\.txt|pyproject\.toml|uv\.lock"
    r"|scripts|scripts/(smoke_test|compile_bytecode)\.py"
)
# Never inside the image (paths relative to the image root).
FORBIDDEN_IN_IMAGE = re.compile(
    r"(^|/)(\.git|\.env[^/]*|\.venv|tests|Dockerfile[^/]*|compose\.ya?ml|docs|\.idea|\.vscode"
    r"|\.pytest_cache|\.DS_Store|planted[^/]*|\.cache/pip)(/|$)"
)
COMPILERS = re.compile(r"^(usr/)?(local/)?bin/(gcc|cc|c\+\+|g\+\+|clang)(-[0-9.]+)?$")


def run_container(
    tag: str, command: list[str], options: list[str] = (), timeout: float = 120
) -> subprocess.CompletedProcess:
    return docker("run", "--rm", *options, tag, *command, timeout=timeout)


# ------------------------------------------------------------------ config ---


def config_problems(tag: str, port: int) -> list[str]:
    """Numeric non-root USER, an exec-form HEALTHCHECK, exec-form CMD, the port exposed."""
    config = image_config(tag)
    problems = []
    user = config.get("User") or ""
    if not re.fullmatch(r"[0-9]+(:[0-9]+)?", user):
        problems.append(f"USER must be a numeric UID[:GID], got {user!r}")
    elif user.split(":")[0] == "0":
        problems.append("USER is root (UID 0)")
    health = (config.get("Healthcheck") or {}).get("Test") or []
    if not health or health[0] == "NONE":
        problems.append("no HEALTHCHECK in the image")
    elif health[0] != "CMD":
        problems.append(f"HEALTHCHECK is not exec form (needs a shell): {health}")
    command = config.get("Cmd") or []
    entrypoint = config.get("Entrypoint") or []
    if command[:2] == ["/bin/sh", "-c"] or entrypoint[:2] == ["/bin/sh", "-c"]:
        problems.append(f"CMD is shell form, so /bin/sh is PID 1: {command}")
    if not command and not entrypoint:
        problems.append("no CMD")
    if f"{port}/tcp" not in (config.get("ExposedPorts") or {}):
        problems.append(f"port {port} is not exposed: {config.get('ExposedPorts')}")
    return problems


# ----------------------------------------------------------------- content ---


def content_problems(tag: str) -> list[str]:
    """No planted or development files, no compiler, no -dev package in the image."""
    files, texts = image_snapshot(tag, read=("var/lib/dpkg/status",))
    # The app's folder must hold only the app; anywhere else, no pip cache and
    # nothing planted. (The base image's own files, e.g. pip's vendored tests,
    # are not ours to judge.)
    problems = [
        f"{name} must not be in the image"
        for name in sorted(files)
        if (name.startswith("app/") and FORBIDDEN_IN_IMAGE.search(name))
        or re.search(r"(^|/)(\.cache/pip|planted[^/]*)(/|$)", name)
    ]
    problems += [
        f"compiler {name} is in the image" for name in sorted(files) if COMPILERS.match(name)
    ]
    status = texts["var/lib/dpkg/status"] or ""
    installed = re.findall(r"^Package: (\S+)\n(?:.+\n)*?Status: install ok installed", status, re.M)
    problems += [f"-dev package {name} is installed" for name in installed if name.endswith("-dev")]
    return problems


def bytecode_problems(tag: str) -> list[str]:
    """Start-up bytecode is in the image: the standard library's and the packages' .pyc
    for modules the service imports when it starts (typing, asyncio, fastapi...)."""
    files = image_files(tag)
    wanted = [
        r"usr/local/lib/python3\.\d+/__pycache__/typing\.cpython-3\d+\.pyc",
        r"usr/local/lib/python3\.\d+/asyncio/__pycache__/base_events\.cpython-3\d+\.pyc",
        r"opt/venv/lib/python3\.\d+/site-packages/fastapi/__pycache__/routing\.cpython-3\d+\.pyc",
    ]
    return [
        f"no start-up bytecode matching {pattern} in the image"
        for pattern in wanted
        if not any(re.fullmatch(pattern, name) for name in files)
    ]


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


def context_problems(project: Path, tag: str) -> list[str]:
    """What `docker build` sends: only what the Dockerfile uses (the .dockerignore allowlist)."""
    probe = build(project, tag, dockerfile="FROM scratch\nCOPY . /context/\n")
    if probe.returncode != 0:
        return [f"context probe build failed: {probe.stderr[-1000:]}"]
    try:
        names = [
            name.removeprefix("context/")
            for name in image_files(tag)
            if name.startswith("context/")
        ]
    finally:
        docker("image", "rm", "-f", tag)
    return [
        f"{name} is sent to the builder"
        for name in sorted(names)
        if not CONTEXT_ALLOWED.fullmatch(name) or FORBIDDEN_IN_IMAGE.search(name)
    ]


# -------------------------------------------------------------------- runs ---


def smoke_problems(tag: str) -> list[str]:
    """scripts/smoke_test.py inside the container, as the image's own user."""
    result = run_container(
        tag, ["python", "scripts/smoke_test.py"], options=["--read-only", "--tmpfs", "/tmp"]
    )
    if result.returncode == 0 and "0 failed" in result.stdout:
        return []
    return [f"smoke test failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"]


def fastapi_import_problems(tag: str, expected_version: str) -> list[str]:
    """The article's own check: the installed packages are found at run time."""
    result = run_container(tag, ["python", "-c", "import fastapi; print(fastapi.__version__)"])
    if result.returncode != 0:
        return [f"import fastapi failed: {result.stderr[-1500:]}"]
    if result.stdout.strip() != expected_version:
        return [f"fastapi {result.stdout.strip()} in the image, {expected_version} in the lock"]
    return []


def hardened_run_problems(tag: str, port: int) -> list[str]:
    """Read-only, no capabilities, no privilege gain, memory and PID limits: serves and is
    healthy. Also starts under an arbitrary UID with GID 0 (OpenShift style)."""
    problems = []
    for label, extra in [("hardened", []), ("arbitrary UID 123456:0", ["--user", "123456:0"])]:
        host_port = free_port()
        # --health-interval only makes Docker run the image's own probe sooner.
        started = docker(
            "run",
            "--detach",
            *HARDENING,
            *extra,
            "--health-interval",
            "1s",
            "--publish",
            f"127.0.0.1:{host_port}:{port}",
            tag,
        )
        if started.returncode != 0:
            problems.append(f"{label}: container did not start: {started.stderr[-500:]}")
            continue
        container = started.stdout.strip()
        try:
            answer = wait_for_http(f"http://127.0.0.1:{host_port}/healthz")
            if answer is None or answer[0] != 200:
                logs = docker("logs", container).stdout[-1500:]
                problems.append(f"{label}: /healthz did not answer 200 ({answer}):\n{logs}")
                continue
            health = wait_for_health(container)
            if health != "healthy":
                problems.append(f"{label}: Docker reports health {health!r}, not 'healthy'")
        finally:
            docker("rm", "--force", container)
    return problems


def graceful_stop_problems(tag: str, port: int, *, init: bool = False) -> list[str]:
    """`docker stop` with a request in flight: the request completes with 200 and the
    container exits within 6 s, with status 0 (or 143 under --init)."""
    host_port = free_port()
    started = docker(
        "run",
        "--detach",
        *(["--init"] if init else []),
        "--publish",
        f"127.0.0.1:{host_port}:{port}",
        tag,
    )
    if started.returncode != 0:
        return [f"container did not start: {started.stderr[-500:]}"]
    container = started.stdout.strip()
    try:
        if wait_for_http(f"http://127.0.0.1:{host_port}/healthz") is None:
            return ["the service never answered before the stop"]
        body = json.dumps({"name": "in-flight"}).encode()
        connection = socket.create_connection(("127.0.0.1", host_port), timeout=10)
        # Headers and half of the body: the app is now waiting for the rest.
        connection.sendall(
            b"POST /api/v1/greetings HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body[:5]
        )
        time.sleep(0.5)
        stop_result: dict = {}

        def stop() -> None:
            began = time.monotonic()
            stop_result["process"] = docker("stop", "--time", "10", container, timeout=30)
            stop_result["seconds"] = time.monotonic() - began

        stopper = threading.Thread(target=stop)
        stopper.start()
        time.sleep(1.0)  # SIGTERM is delivered; the server is draining
        connection.sendall(body[5:])
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
        connection.close()
        stopper.join()
        state = container_state(container)
    finally:
        docker("rm", "--force", container)
    problems = []
    status_line = response.split(b"\r\n", 1)[0].decode(errors="replace")
    if not status_line.endswith("200 OK"):
        problems.append(f"in-flight request got {status_line!r} instead of 200")
    if stop_result["seconds"] > 6:
        problems.append(f"docker stop took {stop_result['seconds']:.1f} s (limit 6 s)")
    allowed = (0, 143) if init else (0,)
    if state["ExitCode"] not in allowed:
        problems.append(f"exit status {state['ExitCode']} after docker stop, expected {allowed}")
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
        *HARDENING,
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
