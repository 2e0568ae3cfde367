"""What the stand-in modules share: constants of the recipe, errors, logging,
running commands, the Docker CLI and the scratch/cache directories.

Part of the offline test support (see README.md in this folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

# --------------------------------------------------------------------------

#: Debian release the official images of this generation are built on.
SUITE = "bookworm"

#: Seconds we give ``docker pull`` before falling back to the stand-in.
PULL_TIMEOUT = 60

#: Where the stand-in's CPython is installed, as in the official image.
PREFIX = "/usr/local"

#: Where the official image built CPython; build-dir paths in sysconfig point here.
OFFICIAL_SRCDIR = "/usr/src/python"

#: Packages of the root filesystem: what ``debian:bookworm-slim`` has plus the
#: shared libraries CPython's extension modules link against (the official
#: Dockerfile keeps exactly those via its ``ldd | dpkg-query --search`` step).
#: ``libnsl2`` is there because the ``nis`` module (3.11, 3.12) links libnsl.
ROOTFS_PACKAGES = (
    "ca-certificates",
    "netbase",
    "tzdata",
    "libssl3",
    "libffi8",
    "libsqlite3-0",
    "zlib1g",
    "libbz2-1.0",
    "liblzma5",
    "libreadline8",
    "libncursesw6",
    "libuuid1",
    "libgdbm6",
    "libexpat1",
    "libnsl2",
)

#: Bump when the root filesystem recipe changes (it is cached separately from
#: the images because debootstrap is the slow part).
ROOTFS_RECIPE = 2

#: A representative subset of ``buildpack-deps:bookworm`` for the full stand-in.
#: What ``debian:*-slim`` deletes and keeps out (dpkg ``path-exclude``) ...
SLIM_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/groff/*",
    "/usr/share/info/*",
    "/usr/share/linda/*",
    "/usr/share/lintian/overrides/*",
    "/usr/share/locale/*",
    "/usr/share/man/*",
)
#: ... and what it keeps anyway (copyright files must stay for legal reasons).
SLIM_INCLUDES = (
    "/usr/share/doc/*/copyright",
    "/usr/share/locale/locale.alias",
)

#: Modules whose import proves the runtime libraries are all there.
VERIFY_IMPORTS = "ssl, sqlite3, ctypes, lzma, bz2, readline, uuid, zlib, decimal, sysconfig"

#: Environment for commands run inside the chroot: nothing of the host leaks in
#: (the host shell sets pip and bytecode variables we must not inherit).
CHROOT_ENV = {
    "PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "PYTHONDONTWRITEBYTECODE": "1",
    "DEBIAN_FRONTEND": "noninteractive",
}


class StandInError(RuntimeError):
    """Raised when no real image is available and building the stand-in failed."""


class StandInUnavailable(StandInError):
    """This machine lacks what a stand-in build needs (root, debootstrap, a pyenv CPython).

    A separate class so tests can skip on it instead of failing.
    """


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def _log(message: str) -> None:
    """Progress goes to stderr so that stdout carries only image references."""
    print(f"[base_images] {message}", file=sys.stderr, flush=True)


def docker_cli() -> list[str]:
    """The Docker CLI command, from env ``DOCKER`` (default ``docker``).

    Some machines have several docker clients (e.g. one without buildx), so the
    caller picks one with ``DOCKER=/usr/bin/docker``; shlex allows extra flags
    such as ``DOCKER="docker --context ci"``.
    """
    return shlex.split(os.environ.get("DOCKER", "docker")) or ["docker"]


def cache_dir() -> Path:
    """Cache root shared by all runs on this machine (env ``SLIM_PYTHON_CACHE``)."""
    path = Path(os.environ.get("SLIM_PYTHON_CACHE", "/var/cache/slim-python"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    timeout: float | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a command, capture its output, and fail loudly with its tail.

    Captured (not streamed) so that stdout of the CLI stays clean; on failure
    the last lines are in the exception, which is what one needs to debug.
    """
    try:
        proc = subprocess.run(
            list(cmd),
            env=env,
            cwd=cwd,
            input=input,
            timeout=timeout,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except OSError as exc:  # e.g. the docker CLI or tar is not installed
        raise StandInError(f"cannot run {cmd[0]}: {exc}") from exc
    out = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0:
        tail = "\n".join(out.splitlines()[-40:])
        raise StandInError(f"command failed ({proc.returncode}): {shlex.join(cmd)}\n{tail}")
    return out


def _docker_ok(*args: str, timeout: float | None = 30) -> bool:
    """True when ``docker ARGS`` exits 0 (output discarded)."""
    try:
        proc = subprocess.run(
            [*docker_cli(), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def image_exists(ref: str) -> bool:
    """Is the image present in the local Docker engine?"""
    return _docker_ok("image", "inspect", ref)


def image_labels(ref: str) -> dict[str, str]:
    """Labels of a local image ({} if the image is missing or has none)."""
    try:
        proc = subprocess.run(
            [*docker_cli(), "image", "inspect", "--format", "{{json .Config.Labels}}", ref],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return {}
    if proc.returncode != 0:
        return {}
    return json.loads(proc.stdout or b"null") or {}


def try_pull(ref: str, timeout: float = PULL_TIMEOUT) -> bool:
    """Try ``docker pull``; False (not an exception) when no registry answers."""
    return _docker_ok("pull", "--quiet", ref, timeout=timeout)


@contextlib.contextmanager
def _workdir(prefix: str, machine: str | None = None) -> Iterator[Path]:
    """Scratch directory on the cache filesystem, removed afterwards.

    We never mount anything inside it, so removing it cannot touch the host.
    A foreign architecture's builds have their own scratch root (and lock):
    a long cross build must not hold up, or be cleaned away by, the others.
    """
    work_root = scratch_root(machine)
    work_root.mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=work_root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def scratch_root(machine: str | None = None) -> Path:
    """Where builds for ``machine`` (None: this machine) keep their scratch directories."""
    return cache_dir() / ("work" if machine in (None, os.uname().machine) else f"work-{machine}")


def _chroot(root: Path, *cmd: str) -> str:
    """Run a command inside the root filesystem with a clean environment."""
    return _run(["chroot", str(root), *cmd], env=CHROOT_ENV)


def import_rootfs(root: Path, tag: str, changes: Sequence[str], platform: str | None) -> None:
    """Make the root file system an image; ``changes`` are Dockerfile lines (ENV, CMD ...).

    ``docker import`` for this machine's architecture. Its ``--platform`` is
    ignored by engines without experimental features, so a foreign root is
    built FROM scratch by BuildKit instead, which records the architecture
    that ``FROM --platform`` and ``docker run --platform`` look for.
    """
    # /dev, /proc and /sys are provided by the container runtime.
    excludes = ["--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*"]
    if platform:
        # The build context sits beside the root, in the same scratch directory.
        context = root.parent / "context"
        context.mkdir()
        tarball = context / "rootfs.tar"
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), *excludes, "."])
        (context / "Dockerfile").write_text(
            "\n".join(["FROM scratch", "ADD rootfs.tar /", *changes, ""])
        )
        build = [*docker_cli(), "build", "--quiet", "--platform", platform, "--tag", tag]
        _run([*build, str(context)], env={**os.environ, "DOCKER_BUILDKIT": "1"})
        return
    tar_cmd = ["tar", "--numeric-owner", "-C", str(root), "-cf", "-", *excludes, "."]
    import_cmd = [*docker_cli(), "import"]
    for change in changes:
        import_cmd += ["--change", change]
    with subprocess.Popen(tar_cmd, stdout=subprocess.PIPE) as tar:
        imported = subprocess.run(
            [*import_cmd, "-", tag], stdin=tar.stdout, capture_output=True, text=True
        )
        tar.stdout.close()
    if tar.returncode != 0 or imported.returncode != 0:
        raise StandInError(f"docker import of {tag} failed: {imported.stderr.strip()}")
