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

Used as a module (``from base_images import ensure_python_image``) or as
a CLI::

    python tests/support/base_images.py 3.12                 # prints the image reference
    python tests/support/base_images.py 3.12 --variant full
    python tests/support/base_images.py --all                # slim for 3.11, 3.12 and 3.13
    python tests/support/base_images.py 3.12 --rebuild       # force a fresh stand-in

Standard library only; needs Python 3.11+.  Building a stand-in needs root,
``debootstrap``, ``chroot`` and a pyenv-built CPython of the wanted minor version
(``$(pyenv root)/versions/X.Y.Z``, configured with ``--enable-shared``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from standin_common import (
    PREFIX,
    SUITE,
    StandInError,
    StandInUnavailable,
    _docker_ok,
    _log,
    _run,
    _workdir,
    cache_dir,
    docker_cli,
    image_exists,
    image_labels,
    import_rootfs,
    try_pull,
)
from standin_cpython import (
    _build_dir_of,
    _finish_in_chroot,
    _install_cpython,
    _rewrite_prefix,
    _strip_binaries,
)
from standin_rootfs import rootfs_tarball

# --------------------------------------------------------------------------
# Constants (change one of them, or any stand-in module, and every cached
# stand-in is rebuilt: their content is part of the stand-in key).
# --------------------------------------------------------------------------

#: Minor versions ensured by ``--all``.
DEFAULT_VERSIONS = ("3.11", "3.12", "3.13")

#: Repository part of the stand-in tags.
# SLIM_PYTHON_STANDIN_REPO keeps two checkouts whose recipes differ (e.g. two
# branches) from rebuilding each other's stand-ins on one Docker engine.
STANDIN_REPO = os.environ.get("SLIM_PYTHON_STANDIN_REPO", "slim-python-standin/python")

#: Label holding the cache key of a stand-in (see :func:`standin_key`).
KEY_LABEL = "org.slim-python.standin.key"

#: Label that marks an image as a stand-in (value: a human readable description).
STANDIN_LABEL = "org.slim-python.standin"

#: Label of the full stand-in: ID of the slim stand-in it was built FROM.
BASE_LABEL = "org.slim-python.standin.base"

#: The modules whose code is the stand-in recipe (all part of its key).
RECIPE_MODULES = ("base_images.py", "standin_common.py", "standin_cpython.py", "standin_rootfs.py")

#: True once this process made a fresh root filesystem (see _build_slim).
_rootfs_refreshed = False


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
    """Cache key of a stand-in: the recipe's code + CPython patch version + suite.

    Any edit of a recipe module changes the key, so a stand-in is never reused
    after its recipe changed.
    """
    h = hashlib.sha256()
    for name in RECIPE_MODULES:
        h.update(Path(__file__).with_name(name).read_bytes())
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
# Building the images
# --------------------------------------------------------------------------


def _build_slim(
    version: str,
    src: Path,
    tag: str,
    key: str,
    *,
    refresh_rootfs: bool = False,
    patch: str | None = None,
    machine: str | None = None,
    origin: str = "from pyenv",
    rewrites: Sequence[tuple[str, str]] = (),
) -> None:
    """Root filesystem + CPython, verified in a chroot, then ``docker import``-ed.

    ``src`` is an installed CPython prefix (pyenv's, or a cross build's
    ``DESTDIR/usr/local``); ``machine`` the architecture of a foreign stand-in
    (its binaries are already stripped, and run under QEMU); ``rewrites``
    further text replacements, e.g. a cross compiler's name in sysconfig.
    """
    patch = patch or src.name
    platform = {"aarch64": "linux/arm64"}.get(machine or "")
    # A forced rebuild also refreshes the Debian packages, once per process
    # (so "--all --rebuild" runs debootstrap once, not three times).
    global _rootfs_refreshed
    refresh = refresh_rootfs and not _rootfs_refreshed
    tarball = rootfs_tarball(refresh=refresh, machine=machine)
    _rootfs_refreshed = _rootfs_refreshed or refresh
    with _workdir(f"python{version}-", machine) as work:
        root = work / "rootfs"
        root.mkdir()
        _run(["tar", "--numeric-owner", "-C", str(root), "-xpf", str(tarball)])
        _install_cpython(root, src, version)
        local = root / PREFIX.lstrip("/")
        stripped = 0 if machine else _strip_binaries(local)
        build_dir = _build_dir_of(src, version)
        rewritten = _rewrite_prefix(local, str(src), build_dir, rewrites)
        _log(f"stripped {stripped} ELF files; rewrote the build paths in {len(rewritten)} files")
        _finish_in_chroot(root, version)

        leftovers = _rewrite_prefix(local, str(src), None)  # should be a no-op now
        if leftovers:
            raise StandInError(f"pyenv prefix still present in {leftovers}")

        description = (
            f"local stand-in for {official_name(version, 'slim')} "
            f"(CPython {patch} {origin} on Debian {SUITE})"
        )
        changes = [
            "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            f"ENV PYTHON_VERSION={patch}",
            'CMD ["python3"]',
            f"LABEL {KEY_LABEL}={key}",
            f'LABEL {STANDIN_LABEL}="{description}"',
        ]
        import_rootfs(root, tag, changes, platform)

    # Last check through Docker itself, the way the tests will use the image.
    out = _run(
        [
            *docker_cli(),
            "run",
            "--rm",
            *(["--platform", platform] if platform else []),
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
