#!/usr/bin/env python3
"""Provide the ``python:X.Y-slim`` / ``python:X.Y`` base images the tests and benchmarks need.

The template's Docker test tier and benchmarks build FROM the official Python
images.  On a normal machine those are already present or can be pulled.  On a
machine without a container registry (CI sandboxes, air-gapped hosts) this
module builds a *faithful local stand-in* instead and caches it:

* slim stand-in (``slim-python-standin/python:X.Y-slim``): a Debian bookworm
  minbase root filesystem, slimmed the way ``debian:bookworm-slim`` is, with a
  CPython built ``--enable-shared`` installed in ``/usr/local`` exactly where
  the official image has it (interpreter, ``libpython``, standard library
  without tests/bytecode, headers, pip from ``ensurepip``).
* full stand-in (``slim-python-standin/python:X.Y``): the slim stand-in plus a
  representative subset of ``buildpack-deps`` (compilers, ``-dev`` packages),
  which is what the upstream non-slim image is built on.

Order of preference in :func:`ensure_python_image`: real image present locally,
then ``docker pull``, then the cached or freshly built stand-in.

Used as a module (``from tools.base_images import ensure_python_image``) or as
a CLI::

    python tools/base_images.py 3.12                 # prints the image reference
    python tools/base_images.py 3.12 --variant full
    python tools/base_images.py --all                # slim for 3.11, 3.12 and 3.13
    python tools/base_images.py 3.12 --rebuild       # force a fresh stand-in

Standard library only; needs Python 3.11+.  Building a stand-in needs root,
``debootstrap``, ``chroot`` and a pyenv-built CPython of the wanted minor version
(``$(pyenv root)/versions/X.Y.Z``, configured with ``--enable-shared``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

# --------------------------------------------------------------------------
# Constants (change one of them and every cached stand-in is rebuilt, because
# the content of this file is part of the stand-in key).
# --------------------------------------------------------------------------

#: Debian release the official images of this generation are built on.
SUITE = "bookworm"

#: Minor versions ensured by ``--all``.
DEFAULT_VERSIONS = ("3.11", "3.12", "3.13")

#: Repository part of the stand-in tags.
STANDIN_REPO = "slim-python-standin/python"

#: Label holding the cache key of a stand-in (see :func:`standin_key`).
KEY_LABEL = "org.slim-python.standin.key"

#: Label that marks an image as a stand-in (value: a human readable description).
STANDIN_LABEL = "org.slim-python.standin"

#: Label of the full stand-in: ID of the slim stand-in it was built FROM.
BASE_LABEL = "org.slim-python.standin.base"

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
FULL_PACKAGES = (
    "build-essential",
    "pkg-config",
    "git",
    "curl",
    "wget",
    "xz-utils",
    "libpq-dev",
    "libssl-dev",
    "libffi-dev",
    "zlib1g-dev",
    "libbz2-dev",
    "liblzma-dev",
    "libsqlite3-dev",
    "libreadline-dev",
    "libncursesw5-dev",
    "libxml2-dev",
    "libxslt1-dev",
    "libjpeg-dev",
    "libyaml-dev",
)

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
) -> str:
    """Run a command, capture its output, and fail loudly with its tail.

    Captured (not streamed) so that stdout of the CLI stays clean; on failure
    the last lines are in the exception, which is what one needs to debug.
    """
    try:
        proc = subprocess.run(
            list(cmd),
            env=env,
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


def official_name(version: str, variant: str = "slim") -> str:
    """``python:3.12-slim`` or ``python:3.12``: the image we stand in for."""
    return f"python:{version}-slim" if variant == "slim" else f"python:{version}"


def standin_name(version: str, variant: str = "slim") -> str:
    """Tag of the local stand-in for :func:`official_name`."""
    return f"{STANDIN_REPO}:{version}-slim" if variant == "slim" else f"{STANDIN_REPO}:{version}"


def _check_args(version: str, variant: str) -> None:
    """Reject typos early: the version ends up in tags and file names."""
    if not re.fullmatch(r"3\.\d+", version):
        raise ValueError(f"version must look like '3.12', got {version!r}")
    if variant not in ("slim", "full"):
        raise ValueError(f"variant must be 'slim' or 'full', got {variant!r}")


# --------------------------------------------------------------------------
# Locating the CPython build and computing the cache key
# --------------------------------------------------------------------------


def pyenv_root() -> Path:
    """Root of pyenv (``$PYENV_ROOT``, else ``pyenv root``, else ``~/.pyenv``)."""
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pyenv", "root"], check=True, capture_output=True, text=True)
        if out.stdout.strip():
            return Path(out.stdout.strip())
    return Path.home() / ".pyenv"


def find_cpython(version: str) -> Path:
    """Newest final release ``X.Y.Z`` of this minor version installed by pyenv.

    It must be a shared-library build (``--enable-shared``), like the official
    image's, so that ``libpythonX.Y.so`` can be shipped next to the interpreter.
    """
    versions = pyenv_root() / "versions"
    pattern = re.compile(rf"{re.escape(version)}\.(\d+)")
    found = sorted(
        (int(m.group(1)), p)
        for p in (versions.iterdir() if versions.is_dir() else ())
        if (m := pattern.fullmatch(p.name))
    )
    if not found:
        raise StandInUnavailable(
            f"no CPython {version}.* under {versions} (install one with pyenv)"
        )
    src = found[-1][1]
    if not (src / "lib" / f"libpython{version}.so.1.0").exists():
        raise StandInUnavailable(
            f"{src} is not an --enable-shared build (no libpython{version}.so.1.0)"
        )
    return src


def standin_key(patch_version: str, variant: str = "slim") -> str:
    """Cache key of a stand-in: this script's content + CPython patch version + suite.

    Any edit of this file changes the key, so a stand-in is never reused after
    its recipe changed.
    """
    h = hashlib.sha256()
    h.update(Path(__file__).read_bytes())
    for part in (patch_version, SUITE, variant):
        h.update(b"\0" + part.encode())
    return h.hexdigest()


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """Serialise stand-in builds across processes (test workers, benchmark runs).

    One lock for everything keeps it simple: a build takes a minute or two and
    the machine has few cores anyway.  Callers inside the lock must not take it
    again (flock on a second file descriptor would wait for ourselves).
    """
    lock_dir = cache_dir() / "locks"
    lock_dir.mkdir(exist_ok=True)
    with open(lock_dir / "standin-build.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _log("another process is building a stand-in; waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            # Builds only happen under this lock, so any scratch directory left
            # now belongs to a build that was killed: remove it.
            stale_root = cache_dir() / "work"
            for stale in stale_root.iterdir() if stale_root.is_dir() else ():
                shutil.rmtree(stale, ignore_errors=True)
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------


def ensure_python_image(version: str, variant: str = "slim", *, rebuild: bool = False) -> str:
    """Return an image reference usable in ``FROM`` for ``python:X.Y[-slim]``.

    Prefers the real image (present, then pulled) and falls back to a cached
    local stand-in, (re)building it when its key label does not match.
    ``rebuild=True`` forces a fresh stand-in (the real image still wins).
    """
    _check_args(version, variant)
    official = official_name(version, variant)
    if image_exists(official):
        _log(f"using real {official}")
        return official
    if try_pull(official):
        _log(f"using real {official} (pulled)")
        return official

    src = find_cpython(version)
    patch = src.name
    tag = standin_name(version, variant)
    with build_lock():
        _ensure_standin_locked(version, variant, src, rebuild=rebuild)
    _log(f"no registry reachable: using local stand-in {tag} (CPython {patch} on Debian {SUITE})")
    return tag


def _ensure_standin_locked(version: str, variant: str, src: Path, *, rebuild: bool) -> None:
    """Build the stand-in (and, for ``full``, its slim base) unless cached. Lock held."""
    tag = standin_name(version, variant)
    key = standin_key(src.name, variant)
    base_id = None
    if variant == "full":
        # The full image is built FROM the slim stand-in: make sure that is
        # current, and rebuild the full one whenever the slim one changed.
        # A forced rebuild of the full image reuses a current slim one.
        _ensure_standin_locked(version, "slim", src, rebuild=False)
        base_id = _image_id(standin_name(version, "slim"))
    labels = image_labels(tag)
    if not rebuild and labels.get(KEY_LABEL) == key and labels.get(BASE_LABEL) == base_id:
        return
    started = time.monotonic()
    old_id = _image_id(tag)
    _log(f"building stand-in {tag} (CPython {src.name} on Debian {SUITE}) ...")
    if variant == "slim":
        _build_slim(version, src, tag, key, refresh_rootfs=rebuild)
    else:
        _build_full(version, src, tag, key, base_id)
    _log(f"built {tag} in {time.monotonic() - started:.0f} s")
    # Replaced images would linger as untagged <none> images: remove them
    # (for the full image also the old slim one it was built FROM).
    for old in (old_id, labels.get(BASE_LABEL)):
        if old and old not in (_image_id(tag), base_id):
            _remove_if_untagged(old)


def _remove_if_untagged(image_id: str) -> None:
    """Delete an old stand-in image if nothing tags it any more.

    Fails harmlessly (and silently) while a container or a child image uses it.
    """
    try:
        proc = subprocess.run(
            [*docker_cli(), "image", "inspect", "--format", "{{len .RepoTags}}", image_id],
            capture_output=True,
            text=True,
        )
    except OSError:
        return
    if proc.returncode == 0 and proc.stdout.strip() == "0":
        _docker_ok("image", "rm", image_id)


def _image_id(ref: str) -> str | None:
    """Image ID behind a tag, None if there is no such image."""
    try:
        proc = subprocess.run(
            [*docker_cli(), "image", "inspect", "--format", "{{.Id}}", ref],
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


# --------------------------------------------------------------------------
# Root filesystem (debootstrap + slimming), cached as a tarball
# --------------------------------------------------------------------------


#: True once this process made a fresh root filesystem (see _build_slim).
_rootfs_refreshed = False


def _rootfs_tarball(*, refresh: bool = False) -> Path:
    """Cached Debian root filesystem tarball, made with debootstrap on first use.

    Keyed by suite, package list and recipe number (not by this whole file) so
    that editing the CPython part does not cost another debootstrap.
    ``refresh=True`` makes a new one (newer Debian updates).
    """
    arch = os.uname().machine
    key = hashlib.sha256(
        f"{SUITE}|{arch}|{','.join(ROOTFS_PACKAGES)}|{ROOTFS_RECIPE}".encode()
    ).hexdigest()[:16]
    rootfs_dir = cache_dir() / "rootfs"
    rootfs_dir.mkdir(exist_ok=True)
    tarball = rootfs_dir / f"{SUITE}-{arch}-{key}.tar"
    if tarball.exists() and not refresh:
        return tarball
    if shutil.which("debootstrap") is None:
        raise StandInUnavailable(
            "debootstrap is needed to build a stand-in (apt-get install debootstrap)"
        )
    if os.geteuid() != 0:
        raise StandInUnavailable("building a stand-in needs root (debootstrap, chroot)")

    started = time.monotonic()
    _log(f"debootstrap {SUITE} (minbase) into the cache; takes a minute or two ...")
    with _workdir("rootfs-") as work:
        root = work / "rootfs"
        # No mirror argument: debootstrap's default mirror is the right one.
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(ROOTFS_PACKAGES)}",
                SUITE,
                str(root),
            ]
        )
        _write_apt_sources(root)
        _write_minimizing_config(root)
        _slimify(root)
        # debootstrap installs the suite's last point release; the Debian images
        # also carry the security and stable updates published since.
        _chroot(root, "apt-get", "update", "-qq")
        _chroot(root, "apt-get", "dist-upgrade", "-y", "-qq")
        _clean_rootfs(root)
        tmp = tarball.with_suffix(".tmp")
        _run(["tar", "--numeric-owner", "-C", str(root), "-cpf", str(tmp), "."])
        tmp.rename(tarball)
    # Older recipes' tarballs are dead weight now.
    for stale in rootfs_dir.glob(f"{SUITE}-{arch}-*.tar"):
        if stale != tarball:
            stale.unlink()
    _log(f"root filesystem cached as {tarball} ({time.monotonic() - started:.0f} s)")
    return tarball


@contextlib.contextmanager
def _workdir(prefix: str) -> Iterator[Path]:
    """Scratch directory on the cache filesystem, removed afterwards.

    We never mount anything inside it, so removing it cannot touch the host.
    """
    work_root = cache_dir() / "work"
    work_root.mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=work_root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _write_apt_sources(root: Path) -> None:
    """Point apt at bookworm, bookworm-updates and bookworm-security, like debian:bookworm.

    debootstrap wrote a one-line sources.list with its default mirror; we reuse
    that mirror URI (we never name a mirror host ourselves) in the deb822
    ``debian.sources`` file the official Debian image ships.
    """
    legacy = root / "etc/apt/sources.list"
    uri = None
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb":
                uri = parts[1]
                break
    if uri is None:
        return  # keep whatever debootstrap did
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    stanzas = [
        f"Types: deb\nURIs: {uri}\nSuites: {SUITE} {SUITE}-updates\n"
        f"Components: main\nSigned-By: {keyring}\n"
    ]
    if uri.rstrip("/").endswith("/debian"):
        stanzas.append(
            f"Types: deb\nURIs: {uri.rstrip('/')}-security\nSuites: {SUITE}-security\n"
            f"Components: main\nSigned-By: {keyring}\n"
        )
    (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text("\n".join(stanzas))
    legacy.unlink()


def _write_minimizing_config(root: Path) -> None:
    """Container-friendly apt/dpkg settings, as the Debian Docker images have them.

    No services start during installs, dpkg skips fsync, apt keeps no package
    caches and downloads no translations.
    """
    files = {
        "usr/sbin/policy-rc.d": (
            "#!/bin/sh\n# Containers do not run services during package installs.\nexit 101\n"
        ),
        "etc/dpkg/dpkg.cfg.d/docker-apt-speedup": (
            "# Image builds do not survive power loss anyway: skip fsync.\nforce-unsafe-io\n"
        ),
        "etc/apt/apt.conf.d/docker-autoremove-suggests": (
            "# Remove packages that were only kept because something suggested them.\n"
            'Apt::AutoRemove::SuggestsImportant "false";\n'
        ),
        "etc/apt/apt.conf.d/docker-clean": (
            "# Keep image layers small: behave as if 'apt-get clean' ran after every install.\n"
            'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
            '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
            'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
            '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
            'Dir::Cache::pkgcache "";\n'
            'Dir::Cache::srcpkgcache "";\n'
        ),
        "etc/apt/apt.conf.d/docker-gzip-indexes": (
            '# Keep downloaded package lists compressed on disk.\nAcquire::GzipIndexes "true";\n'
        ),
        "etc/apt/apt.conf.d/docker-no-languages": (
            '# No translated package descriptions.\nAcquire::Languages "none";\n'
        ),
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755 if rel.startswith("usr/sbin/") else 0o644)


def _slimify(root: Path) -> None:
    """Delete docs, man pages and locales, and tell dpkg to keep them out.

    This is what makes ``debian:bookworm-slim`` slim: files matching
    SLIM_EXCLUDES (but not SLIM_INCLUDES) are removed, then dangling symlinks
    and empty directories, and /etc/dpkg/dpkg.cfg.d/docker keeps later
    ``apt-get install`` runs from bringing them back.
    """

    def excluded(rel: str) -> bool:
        return any(fnmatch.fnmatchcase(rel, p) for p in SLIM_EXCLUDES) and not any(
            fnmatch.fnmatchcase(rel, p) for p in SLIM_INCLUDES
        )

    for base in sorted({os.path.dirname(p) for p in SLIM_EXCLUDES}):
        top = root / base.lstrip("/")
        if not top.is_dir():
            continue
        # Pass 1: regular files (not directories, not symlinks) that are excluded.
        for dirpath, _dirs, files in os.walk(top):
            for name in files:
                path = Path(dirpath) / name
                rel = "/" + str(path.relative_to(root))
                if not path.is_symlink() and excluded(rel):
                    path.unlink()
        # Pass 2: repeatedly drop dangling symlinks and empty directories.
        changed = True
        while changed:
            changed = False
            for dirpath, dirs, files in os.walk(top, topdown=False):
                for name in files + dirs:
                    path = Path(dirpath) / name
                    if path.is_symlink() and not path.exists():
                        path.unlink()
                        changed = True
                    elif path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
                        path.rmdir()
                        changed = True

    lines = [
        '# This is the "slim" variant of the Debian base image.',
        "# Many files which are normally unnecessary in containers are excluded,",
        "# and this configuration file keeps them that way.",
        "",
    ]
    lines += [f"path-exclude {p}" for p in SLIM_EXCLUDES]
    lines += [""] + [f"path-include {p}" for p in SLIM_INCLUDES]
    cfg = root / "etc/dpkg/dpkg.cfg.d/docker"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("\n".join(lines) + "\n")
    cfg.chmod(0o644)


def _clean_rootfs(root: Path) -> None:
    """Remove caches, logs and host-specific files debootstrap left behind.

    debootstrap copies the host's /etc/hosts, /etc/hostname and
    /etc/resolv.conf; Docker provides these at run time, so the image must not
    carry the build host's.
    """
    for pattern in (
        "var/cache/apt/archives/*.deb",
        "var/cache/apt/archives/partial/*",
        "var/cache/apt/*.bin",
        "var/lib/apt/lists/*",
        "var/log/dpkg.log",
        "var/log/bootstrap.log",
        "var/log/alternatives.log",
        "var/log/apt/*.log",
        "var/cache/ldconfig/aux-cache",
        "etc/hostname",
    ):
        for path in root.glob(pattern):
            if path.is_file() or path.is_symlink():
                path.unlink()
    (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (root / "etc/resolv.conf").write_text("")
    (root / "etc/hosts").write_text(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    )


# --------------------------------------------------------------------------
# Installing CPython into /usr/local of the root filesystem
# --------------------------------------------------------------------------


def _is_elf(path: Path) -> bool:
    """ELF binaries are stripped, never text-rewritten."""
    with open(path, "rb") as fh:
        return fh.read(4) == b"\x7fELF"


def _is_linked_elf(path: Path) -> bool:
    """ELF program or shared library (what ldd can check), not an object file like python.o."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    # e_type (little-endian on the architectures we build for): 2 = program, 3 = shared object.
    return head[:4] == b"\x7fELF" and int.from_bytes(head[16:18], "little") in (2, 3)


def _install_cpython(root: Path, src: Path, version: str) -> None:
    """Copy a pyenv CPython into ROOT/usr/local the way ``make install`` lays it out.

    Only the pieces the official slim image has: interpreter, libpython, the
    standard library without tests, bytecode and the static library, headers
    (kept so the builder stage can compile C extensions) and pkg-config files.
    site-packages starts empty: pip (and for 3.11 setuptools) comes from
    ``ensurepip`` later, like in the official build, so nothing the host
    installed into its own Python (or its .pth hooks) leaks into the image.
    """
    dest = root / PREFIX.lstrip("/")
    for sub in ("bin", "lib", "include", "lib/pkgconfig"):
        (dest / sub).mkdir(parents=True, exist_ok=True)

    # bin/: the versioned programs make install creates ...
    for name in (
        f"python{version}",
        f"python{version}-config",
        f"idle{version}",
        f"pydoc{version}",
        f"2to3-{version}",
    ):
        if (src / "bin" / name).is_file():
            shutil.copy2(src / "bin" / name, dest / "bin" / name)
    # ... and its unversioned python3 symlinks.
    for link, target in (
        ("python3", f"python{version}"),
        ("python3-config", f"python{version}-config"),
        ("idle3", f"idle{version}"),
        ("pydoc3", f"pydoc{version}"),
        ("2to3", f"2to3-{version}"),
    ):
        if (dest / "bin" / target).exists():
            (dest / "bin" / link).symlink_to(target)

    # lib/: the shared libraries (libpythonX.Y.so is a symlink in pyenv too).
    for name in (f"libpython{version}.so.1.0", f"libpython{version}.so", "libpython3.so"):
        path = src / "lib" / name
        if path.is_symlink():
            (dest / "lib" / name).symlink_to(os.readlink(path))
        elif path.is_file():
            shutil.copy2(path, dest / "lib" / name)
    for pc in (src / "lib" / "pkgconfig").glob("python*.pc"):
        if pc.is_symlink():
            (dest / "lib/pkgconfig" / pc.name).symlink_to(os.readlink(pc))
        else:
            shutil.copy2(pc, dest / "lib/pkgconfig" / pc.name)

    # lib/pythonX.Y: the official Dockerfile deletes test/tests/idle_test
    # directories, *.pyc/*.pyo and libpython*.a; we simply never copy them.
    stdlib_src = src / "lib" / f"python{version}"
    site_packages = stdlib_src / "site-packages"

    def skip(directory: str, names: list[str]) -> set[str]:
        drop = set()
        for name in names:
            full = os.path.join(directory, name)
            if os.path.isdir(full) and not os.path.islink(full):
                if name in ("test", "tests", "idle_test", "__pycache__"):
                    drop.add(name)
            elif name.endswith((".pyc", ".pyo")) or fnmatch.fnmatch(name, "libpython*.a"):
                drop.add(name)
        if Path(directory) == site_packages:
            drop |= {n for n in names if n != "README.txt"}
        return drop

    shutil.copytree(stdlib_src, dest / "lib" / f"python{version}", symlinks=True, ignore=skip)
    shutil.copytree(
        src / "include" / f"python{version}", dest / "include" / f"python{version}", symlinks=True
    )


def _strip_binaries(prefix_dir: Path) -> int:
    """Strip debug info from ELF files, as the official build does (``-Wl,--strip-all``).

    pyenv builds keep debug info, which would make libpython ~5x larger than
    the official one. Returns the number of files stripped (0 if no ``strip``).
    """
    strip = shutil.which("strip")
    if strip is None:
        _log("warning: no 'strip' on this machine (binutils); the stand-in will be larger")
        return 0
    elf_files = [
        p for p in prefix_dir.rglob("*") if p.is_file() and not p.is_symlink() and _is_elf(p)
    ]
    for path in elf_files:
        # --strip-unneeded keeps what dynamic linking needs, for programs and libraries alike.
        _run([strip, "--strip-unneeded", str(path)])
    return len(elf_files)


def _rewrite_prefix(prefix_dir: Path, old_prefix: str, build_dir: str | None) -> list[str]:
    """Replace the pyenv prefix by /usr/local in every text file (and shebang).

    Covers ``_sysconfigdata_*.py`` (setuptools reads INCLUDEPY/LIBDIR from it),
    the ``config-X.Y-*/Makefile``, ``pythonX.Y-config``, the pkg-config files
    and every ``#!`` line of the copied scripts. The build directory, which
    only appears in sysconfig data, becomes /usr/src/python as in the official
    image. ELF files are left alone: their stale RUNPATH only points at a
    directory that does not exist in the image, and ldconfig finds libpython.
    Returns the rewritten paths (relative to the prefix) for the log.
    """
    replacements = [(old_prefix.encode(), PREFIX.encode())]
    if build_dir:
        replacements.append((build_dir.encode(), OFFICIAL_SRCDIR.encode()))
    rewritten = []
    for path in sorted(prefix_dir.rglob("*")):
        if not path.is_file() or path.is_symlink() or _is_elf(path):
            continue
        data = path.read_bytes()
        new = data
        for old, repl in replacements:
            new = new.replace(old, repl)
        if new != data:
            mode = path.stat().st_mode
            path.write_bytes(new)
            path.chmod(mode)
            rewritten.append(str(path.relative_to(prefix_dir)))
    return rewritten


def _build_dir_of(src: Path, version: str) -> str | None:
    """The directory CPython was compiled in, as recorded in its sysconfig data."""
    for path in (src / "lib" / f"python{version}").glob("_sysconfigdata_*.py"):
        m = re.search(r"'abs_builddir': '([^']+)'", path.read_text())
        if m and m.group(1) not in ("", "."):
            return m.group(1)
    return None


def _chroot(root: Path, *cmd: str) -> str:
    """Run a command inside the root filesystem with a clean environment."""
    return _run(["chroot", str(root), *cmd], env=CHROOT_ENV)


def _finish_in_chroot(root: Path, version: str) -> None:
    """ldconfig, pip via ensurepip, the official symlinks, then verify everything.

    Done inside the chroot so it runs the image's own libraries, exactly as a
    container would.
    """
    _chroot(root, "ldconfig")
    # make install runs "python -m ensurepip --upgrade" (no --default-pip):
    # pip3 and pip3.X for 3.12+, plus setuptools for 3.11.
    _chroot(root, f"/usr/local/bin/python{version}", "-m", "ensurepip", "--upgrade")

    # Bytecode: the official image deletes every .pyc after installing.
    local = root / PREFIX.lstrip("/")
    for cache in list(local.rglob("__pycache__")):
        shutil.rmtree(cache)
    for pyc in list(local.rglob("*.py[co]")):
        pyc.unlink()

    # The official Dockerfile's loop: idle3 pip3 pydoc3 python3 python3-config -> name without "3".
    for name in ("idle3", "pip3", "pydoc3", "python3", "python3-config"):
        bin_dir = local / "bin"
        if (bin_dir / name).exists() and not (bin_dir / name.replace("3", "")).exists():
            (bin_dir / name.replace("3", "")).symlink_to(name)

    # Every ELF file must find its libraries (tkinter is dropped on purpose
    # upstream too: no Tk in a slim image).
    missing = []
    for path in sorted(local.rglob("*")):
        if (
            path.is_file()
            and not path.is_symlink()
            and _is_linked_elf(path)
            and "tkinter" not in path.name
        ):
            out = _chroot(root, "ldd", "/" + str(path.relative_to(root)))
            missing += [
                f"{path.name}: {line.strip()}" for line in out.splitlines() if "not found" in line
            ]
    if missing:
        raise StandInError("libraries missing in the stand-in:\n" + "\n".join(missing))

    includepy = _chroot(
        root,
        "python3",
        "-c",
        f"import {VERIFY_IMPORTS}; print(sysconfig.get_config_var('INCLUDEPY'))",
    ).strip()
    if includepy != f"{PREFIX}/include/python{version}":
        raise StandInError(f"INCLUDEPY is {includepy!r}, expected {PREFIX}/include/python{version}")
    prefix = _chroot(
        root, "python3", "-c", "import sys; print(sys.prefix, sys.exec_prefix)"
    ).split()
    if prefix != [PREFIX, PREFIX]:
        raise StandInError(f"sys.prefix/sys.exec_prefix are {prefix}, expected {PREFIX}")
    _chroot(root, "pip", "--version")
    # The checks above must not leave bytecode behind either.
    for cache in list(local.rglob("__pycache__")):
        shutil.rmtree(cache)


# --------------------------------------------------------------------------
# Building the images
# --------------------------------------------------------------------------


def _build_slim(
    version: str, src: Path, tag: str, key: str, *, refresh_rootfs: bool = False
) -> None:
    """Root filesystem + CPython, verified in a chroot, then ``docker import``-ed."""
    patch = src.name
    # A forced rebuild also refreshes the Debian packages, once per process
    # (so "--all --rebuild" runs debootstrap once, not three times).
    global _rootfs_refreshed
    refresh = refresh_rootfs and not _rootfs_refreshed
    tarball = _rootfs_tarball(refresh=refresh)
    _rootfs_refreshed = _rootfs_refreshed or refresh
    with _workdir(f"python{version}-") as work:
        root = work / "rootfs"
        root.mkdir()
        _run(["tar", "--numeric-owner", "-C", str(root), "-xpf", str(tarball)])
        _install_cpython(root, src, version)
        local = root / PREFIX.lstrip("/")
        stripped = _strip_binaries(local)
        rewritten = _rewrite_prefix(local, str(src), _build_dir_of(src, version))
        _log(f"stripped {stripped} ELF files; rewrote the pyenv prefix in {len(rewritten)} files")
        _finish_in_chroot(root, version)

        leftovers = _rewrite_prefix(local, str(src), None)  # should be a no-op now
        if leftovers:
            raise StandInError(f"pyenv prefix still present in {leftovers}")

        description = (
            f"local stand-in for {official_name(version, 'slim')} "
            f"(CPython {patch} from pyenv on Debian {SUITE})"
        )
        changes = [
            "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            f"ENV PYTHON_VERSION={patch}",
            'CMD ["python3"]',
            f"LABEL {KEY_LABEL}={key}",
            f'LABEL {STANDIN_LABEL}="{description}"',
        ]
        import_cmd = [*docker_cli(), "import"]
        for change in changes:
            import_cmd += ["--change", change]
        import_cmd += ["-", tag]
        # /dev, /proc and /sys are provided by the container runtime.
        tar_cmd = [
            "tar",
            "--numeric-owner",
            "-C",
            str(root),
            "-cf",
            "-",
            "--exclude=./dev/*",
            "--exclude=./proc/*",
            "--exclude=./sys/*",
            ".",
        ]
        with subprocess.Popen(tar_cmd, stdout=subprocess.PIPE) as tar:
            imported = subprocess.run(import_cmd, stdin=tar.stdout, capture_output=True, text=True)
            tar.stdout.close()
        if tar.returncode != 0 or imported.returncode != 0:
            raise StandInError(f"docker import of {tag} failed: {imported.stderr.strip()}")

    # Last check through Docker itself, the way the tests will use the image.
    out = _run(
        [
            *docker_cli(),
            "run",
            "--rm",
            "--network",
            "none",
            tag,
            "python3",
            "-c",
            "import ssl, sqlite3, sys; print(sys.version.split()[0])",
        ]
    ).strip()
    if out != patch:
        raise StandInError(f"{tag} runs Python {out!r}, expected {patch}")


def _build_full(version: str, src: Path, tag: str, key: str, base_id: str | None) -> None:
    """``docker build`` FROM the slim stand-in, adding buildpack-deps' usual packages.

    Upstream ``python:X.Y`` is built on ``buildpack-deps:bookworm``, a non-slim
    Debian with compilers and many ``-dev`` packages installed *with*
    recommends. So we drop the slim dpkg excludes first (docs come back, as in
    the real image) and install without ``--no-install-recommends``.
    """
    base = standin_name(version, "slim")
    description = (
        f"local stand-in for {official_name(version, 'full')} "
        f"(CPython {src.name} from pyenv on Debian {SUITE})"
    )
    dockerfile = "\n".join(
        [
            f"FROM {base}",
            "RUN set -eux; \\",
            "    rm -f /etc/dpkg/dpkg.cfg.d/docker; \\",
            "    apt-get update; \\",
            "    DEBIAN_FRONTEND=noninteractive apt-get install -y \\",
            *[f"        {pkg} \\" for pkg in FULL_PACKAGES],
            "    ; \\",
            "    rm -rf /var/lib/apt/lists/*",
            f"LABEL {KEY_LABEL}={key}",
            f'LABEL {STANDIN_LABEL}="{description}"',
            f"LABEL {BASE_LABEL}={base_id}",
            "",
        ]
    )
    _run([*docker_cli(), "build", "--tag", tag, "-"], input=dockerfile.encode())


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: print one image reference per requested version on stdout."""
    parser = argparse.ArgumentParser(
        description="Ensure python:X.Y[-slim] base images exist (real or local stand-in)."
    )
    parser.add_argument(
        "versions", nargs="*", metavar="X.Y", help="Python minor version(s), e.g. 3.12"
    )
    parser.add_argument(
        "--variant",
        choices=("slim", "full"),
        default="slim",
        help="slim = python:X.Y-slim (default), full = python:X.Y",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="rebuild the stand-in even if cached"
    )
    parser.add_argument(
        "--all", action="store_true", help=f"ensure the variant for {', '.join(DEFAULT_VERSIONS)}"
    )
    args = parser.parse_args(argv)
    versions = list(args.versions) or []
    if args.all:
        versions += [v for v in DEFAULT_VERSIONS if v not in versions]
    if not versions:
        parser.error("give a version such as 3.12, or --all")
    try:
        for version in versions:
            print(ensure_python_image(version, args.variant, rebuild=args.rebuild), flush=True)
    except (StandInError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
