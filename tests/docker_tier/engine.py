"""Thin helpers around the Docker CLI for the Docker tier.

The CLI comes from the DOCKER variable (default `docker`), split like a shell
word list, so a machine whose first `docker` lacks BuildKit can point at
another client (here: DOCKER=/usr/bin/docker). Builds always use BuildKit
and `--network host`, so that a package index on 127.0.0.1 is reachable.
"""

import io
import json
import os
import re
import shlex
import socket
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

BUILD_TIMEOUT = 900


def docker_cli() -> list[str]:
    return shlex.split(os.environ.get("DOCKER", "docker"))


def docker(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run a docker command; never raises on a non-zero exit."""
    return subprocess.run(
        [*docker_cli(), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        **kwargs,
    )


def run_container(
    tag: str, command: list[str], options: list[str] = (), timeout: float = 120
) -> subprocess.CompletedProcess:
    return docker("run", "--rm", *options, tag, *command, timeout=timeout)


def engine_problem() -> str | None:
    """None when an engine answers; otherwise why not."""
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"cannot run {docker_cli()}: {error}"
    if info.returncode != 0:
        return f"no Docker engine answers {docker_cli()}: {info.stderr.strip()[:300]}"
    return None


def build(
    context: Path,
    tag: str,
    *,
    build_args: dict[str, str] | None = None,
    secrets: dict[str, Path] | None = None,
    dockerfile: str | None = None,
    target: str | None = None,
) -> subprocess.CompletedProcess:
    """`docker build` with BuildKit and host networking; output kept for assertions."""
    command = ["build", "--progress=plain", "--network", "host", "--tag", tag]
    for key, value in (build_args or {}).items():
        command += ["--build-arg", f"{key}={value}"]
    for key, path in (secrets or {}).items():
        command += ["--secret", f"id={key},src={path}"]
    if target:
        command += ["--target", target]
    if dockerfile is not None:
        command += ["--file", "-"]
    return docker(*command, str(context), timeout=BUILD_TIMEOUT, input=dockerfile)


_STEP_NAME = re.compile(r"^#(\d+) (\[.*)$")
_STEP_DONE = re.compile(r"^#(\d+) (DONE ([\d.]+)s|CACHED)$")


def parse_steps(progress: str) -> list[dict]:
    """Step names and durations from BuildKit's --progress=plain output."""
    names: dict[str, str] = {}
    done: dict[str, float | None] = {}
    for line in progress.splitlines():
        if m := _STEP_NAME.match(line):
            names.setdefault(m.group(1), m.group(2)[:120])
        elif m := _STEP_DONE.match(line):
            done[m.group(1)] = float(m.group(3)) if m.group(3) else None
    return [
        {"step": names[n], "seconds": done[n], "cached": done[n] is None}
        for n in names
        if n in done
    ]


def image_config(tag: str) -> dict:
    inspected = docker("image", "inspect", tag)
    assert inspected.returncode == 0, inspected.stderr
    return json.loads(inspected.stdout)[0]["Config"]


def export_filesystem(tag: str) -> bytes:
    """The image's merged file system as a tar stream (works without a shell)."""
    created = docker("create", tag, "never-run")
    assert created.returncode == 0, created.stderr
    container = created.stdout.strip()
    try:
        exported = subprocess.run(
            [*docker_cli(), "export", container], capture_output=True, check=True, timeout=120
        )
        return exported.stdout
    finally:
        docker("rm", "-f", container)


def image_snapshot(
    tag: str, read: tuple[str, ...] = ()
) -> tuple[dict[str, tarfile.TarInfo], dict[str, str | None]]:
    """One export of the image: its file list, and the text of the files in `read`
    (None for a file that is not there)."""
    with tarfile.open(fileobj=io.BytesIO(export_filesystem(tag))) as archive:
        members = {member.name.rstrip("/"): member for member in archive.getmembers()}
        texts: dict[str, str | None] = {}
        for path in read:
            member = members.get(path)
            handle = archive.extractfile(member) if member and member.isfile() else None
            texts[path] = handle.read().decode() if handle else None
    return members, texts


def saved_image(tag: str) -> bytes:
    """`docker save`: every layer, the config and the history, as bytes."""
    return subprocess.run(
        [*docker_cli(), "save", tag], capture_output=True, check=True, timeout=300
    ).stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(url: str, timeout: float = 2) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
        error.close()
        return error.code, body


def wait_for_http(url: str, timeout: float = 30) -> tuple[int, bytes] | None:
    """Poll until something answers `url`; None if nothing did in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return http_get(url, timeout=1)
        except OSError:
            time.sleep(0.1)
    return None


def container_state(container: str) -> dict:
    inspected = docker("inspect", container)
    assert inspected.returncode == 0, inspected.stderr
    return json.loads(inspected.stdout)[0]["State"]
