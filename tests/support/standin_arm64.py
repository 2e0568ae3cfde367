#!/usr/bin/env python3
"""An arm64 stand-in for ``python:3.11-slim``, for builds under QEMU.

No registry this machine reaches serves an arm64 Python image, so the stand-in
is made from what the package registries do serve (see README.md here for the
trade-offs): Debian's source package of Python 3.11 (its upstream tarball),
cross-compiled on the host with Debian's ``gcc-aarch64-linux-gnu`` against an
arm64 bookworm root with the ``-dev`` packages, then installed into
``/usr/local`` of a slim arm64 root by the same code as the amd64 stand-in and
finished inside it under emulation (ldconfig, ensurepip, the checks).

Every step is cached by content key under ``$SLIM_PYTHON_CACHE/arm64`` and in
the engine (the image's key label), so only a changed recipe is rebuilt::

    python tests/support/standin_arm64.py          # prints the image reference

Needs root, debootstrap, ``gcc-aarch64-linux-gnu``, the QEMU binfmt handler
for aarch64 (qemu-user-static, binfmt-support) and pyenv's CPython 3.11 (the
cross build runs it to generate code).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import base_images
from standin_common import (
    SUITE,
    StandInError,
    StandInUnavailable,
    _log,
    _run,
    _workdir,
    cache_dir,
    image_labels,
    scratch_root,
)
from standin_rootfs import rootfs_tarball

VERSION = "3.11"
MACHINE = "aarch64"
TRIPLET = "aarch64-linux-gnu"
#: Debian's source package: its upstream tarball is the CPython source.
SOURCE_PACKAGE = f"python{VERSION}"
#: The -dev packages CPython's configure looks for (the official image's list,
#: without Tk and Berkeley DB, which the slim image does not ship either).
SYSROOT_PACKAGES = (
    "libc6-dev",
    "libssl-dev",
    "libffi-dev",
    "zlib1g-dev",
    "libbz2-dev",
    "liblzma-dev",
    "libsqlite3-dev",
    "libreadline-dev",
    "libncurses-dev",
    "uuid-dev",
    "libgdbm-dev",
    "libexpat1-dev",
    "libnsl-dev",
    "libtirpc-dev",
)
#: The official image's configure options that apply to a cross build (PGO
#: and LTO need to run the target's code, so they are left out).
CONFIGURE_OPTIONS = (
    "--enable-shared",
    "--enable-loadable-sqlite-extensions",
    "--with-system-expat",
    "--without-ensurepip",
    "LDFLAGS=-Wl,--strip-all",
    # Answers configure cannot find out by running the target's code.
    "ac_cv_file__dev_ptmx=yes",
    "ac_cv_file__dev_ptc=no",
    "ac_cv_buggy_getaddrinfo=no",
)
#: Bump when the cross build's procedure changes (its cache is keyed by it).
CROSS_RECIPE = 1


def image_name() -> str:
    return f"{base_images.STANDIN_REPO}-arm64:{VERSION}-slim"


def problem() -> str | None:
    """Why an arm64 stand-in cannot be built or run here (None: it can)."""
    handler = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if not handler.is_file() or not handler.read_text().startswith("enabled"):
        return (
            "no QEMU handler for aarch64 binaries (apt-get install qemu-user-static "
            "binfmt-support; update-binfmts --enable qemu-aarch64)"
        )
    if shutil.which(f"{TRIPLET}-gcc") is None:
        return f"no cross compiler {TRIPLET}-gcc (apt-get install gcc-{TRIPLET})"
    if shutil.which("apt-get") is None or shutil.which("debootstrap") is None:
        return "apt-get and debootstrap are needed (Debian's source package, the arm64 root)"
    return None


def source_tarball() -> Path:
    """CPython's source, as Debian's source package ships it (cached).

    apt reads a private source list and state directory, so the host's own
    apt configuration is neither needed nor changed. The mirror is the one the
    host's apt already uses (never named here).
    """
    directory = cache_dir() / "arm64" / "source"
    found = sorted(directory.glob(f"{SOURCE_PACKAGE}_*.orig.tar.*"))
    if found:
        return found[-1]
    uri = _host_mirror()
    with tempfile.TemporaryDirectory(dir=cache_dir()) as scratch:
        state = Path(scratch)
        (state / "lists" / "partial").mkdir(parents=True)
        (state / "sources.list").write_text(f"deb-src {uri} {SUITE} main\n")
        options = [
            "-o", f"Dir::Etc::SourceList={state / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", f"Dir::State::Lists={state / 'lists'}",
        ]  # fmt: skip
        _run(["apt-get", *options, "update", "-qq"])
        download = state / "download"
        download.mkdir()
        _run(
            ["apt-get", *options, "source", "--download-only", "-qq", SOURCE_PACKAGE], cwd=download
        )
        tarballs = sorted(download.glob(f"{SOURCE_PACKAGE}_*.orig.tar.*"))
        if not tarballs:
            raise StandInError(f"apt-get source {SOURCE_PACKAGE} gave no upstream tarball")
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / tarballs[-1].name
        shutil.move(tarballs[-1], target)
    return target


def _host_mirror() -> str:
    """The Debian mirror URI the host's apt uses (deb822 or one-line format)."""
    for path in sorted(Path("/etc/apt").rglob("*.sources")) + sorted(
        Path("/etc/apt").rglob("*.list")
    ):
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and len(words) > 1 and words[1].endswith("/debian"):
                return words[1]
            if words[:1] == ["deb"] and len(words) > 2 and words[1].endswith("/debian"):
                return words[1]
    raise StandInUnavailable("no Debian mirror in the host's apt sources")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cross_key(source: Path) -> str:
    """What the cross build depends on: source, sysroot, options, recipe number.

    Not this file's whole content (as for the root file system), so that
    editing the image part does not cost another half hour of compiling.
    """
    digest = hashlib.sha256()
    parts = (_sha256(source), SUITE, TRIPLET, str(CROSS_RECIPE), *SYSROOT_PACKAGES)
    for part in (*parts, *CONFIGURE_OPTIONS):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


def recipe_key(source: Path) -> str:
    """The image's key: all of the stand-in code and the cross build's key."""
    digest = hashlib.sha256(cross_key(source).encode())
    for name in (*base_images.RECIPE_MODULES, Path(__file__).name):
        digest.update(Path(__file__).with_name(name).read_bytes())
    return digest.hexdigest()


def cross_build(source: Path) -> tuple[Path, list[tuple[str, str]]]:
    """``make install`` of CPython for aarch64 into a cached DESTDIR.

    Returns its ``usr/local`` and the text rewrites that make its sysconfig
    data name the compiler the image has (gcc), not the host's cross tools.
    """
    done = cache_dir() / "arm64" / f"cpython-{cross_key(source)[:16]}"
    if not (done / "usr" / "local" / "bin" / f"python{VERSION}").exists():
        sysroot_tar = rootfs_tarball(machine=MACHINE, extra_packages=SYSROOT_PACKAGES)
        build_python = base_images.find_cpython(VERSION) / "bin" / f"python{VERSION}"
        started = time.monotonic()
        _log(f"cross-compiling CPython from {source.name} for {MACHINE} ...")
        with _workdir("cross-", MACHINE) as work:
            sysroot = work / "sysroot"
            sysroot.mkdir()
            _run(["tar", "--numeric-owner", "-C", str(sysroot), "-xpf", str(sysroot_tar)])
            _relative_library_links(sysroot)
            _libffi_headers_where_configure_looks(sysroot)
            _run(["tar", "-C", str(work), "-xf", str(source)])
            (src_dir,) = [p for p in work.iterdir() if p.name.startswith("Python-")]
            build = work / "build"
            build.mkdir()
            env = {**_cross_env(sysroot), "PATH": os.environ["PATH"], "HOME": str(work)}
            _run(
                [
                    str(src_dir / "configure"),
                    f"--build={os.uname().machine}-linux-gnu",
                    f"--host={TRIPLET}",
                    "--prefix=/usr/local",
                    f"--with-build-python={build_python}",
                    *CONFIGURE_OPTIONS,
                ],
                env=env,
                cwd=build,
            )
            _run(["make", f"-j{os.cpu_count() or 2}"], env=env, cwd=build)
            destdir = work / "destdir"
            _run(["make", "install", f"DESTDIR={destdir}"], env=env, cwd=build)
            # Paths of this scratch build that sysconfig recorded, and where
            # the official image has them.
            rewrites = _cross_rewrites(sysroot, src_dir, build_python)
            (destdir / "rewrites").write_text("".join(f"{old}\t{new}\n" for old, new in rewrites))
            tmp = done.with_suffix(".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.move(destdir, tmp)
            tmp.rename(done)
        _log(f"cross build cached in {done} ({time.monotonic() - started:.0f} s)")
    rewrites = [
        tuple(line.split("\t", 1)) for line in (done / "rewrites").read_text().splitlines() if line
    ]
    return done / "usr" / "local", rewrites


def _relative_library_links(sysroot: Path) -> None:
    """Make the sysroot's absolute library links point inside it.

    Debian links some development names absolutely (libtinfo.so ->
    /lib/aarch64-linux-gnu/libtinfo.so.6); seen from the host they dangle,
    and the linker silently takes the static archive, which cannot go into a
    shared extension module (curses and readline would fail to build).
    """
    for link in (sysroot / "usr" / "lib").rglob("*"):
        if link.is_symlink() and os.readlink(link).startswith("/"):
            target = sysroot / os.readlink(link).lstrip("/")
            link.unlink()
            link.symlink_to(os.path.relpath(target, link.parent))


def _libffi_headers_where_configure_looks(sysroot: Path) -> None:
    """Link ffi.h into the sysroot's plain include directory.

    Debian keeps it in include/aarch64-linux-gnu/. Natively pkg-config's
    answer (/usr/include) is a system directory and dropped, so setup.py
    searches the multiarch one; with a sysroot the answer is kept, ffi.h is
    not there, and _ctypes is built without libffi (undefined ffi_type_void).
    """
    for name in ("ffi.h", "ffitarget.h"):
        (sysroot / "usr" / "include" / name).symlink_to(f"{TRIPLET}/{name}")


def _cross_env(sysroot: Path) -> dict[str, str]:
    return {
        "CC": f"{TRIPLET}-gcc --sysroot={sysroot}",
        "CXX": f"{TRIPLET}-g++ --sysroot={sysroot}",
        "AR": f"{TRIPLET}-ar",
        "READELF": f"{TRIPLET}-readelf",
        "PKG_CONFIG_SYSROOT_DIR": str(sysroot),
        "PKG_CONFIG_LIBDIR": f"{sysroot}/usr/lib/{TRIPLET}/pkgconfig:{sysroot}/usr/share/pkgconfig",
    }


def _cross_rewrites(sysroot: Path, src_dir: Path, build_python: Path) -> list[tuple[str, str]]:
    """Host paths and cross tool names in sysconfig become the image's own.

    Longest first, so that no replacement cuts another one short.
    """
    return [
        (f"{TRIPLET}-gcc --sysroot={sysroot}", "gcc"),
        (f"{TRIPLET}-g++ --sysroot={sysroot}", "g++"),
        (f"--sysroot={sysroot}", ""),
        (str(sysroot), ""),
        (f"{TRIPLET}-readelf", "readelf"),
        (f"{TRIPLET}-ar", "ar"),
        (str(src_dir), "/usr/src/python"),
        (str(build_python), f"/usr/local/bin/python{VERSION}"),
    ]


@contextlib.contextmanager
def arm64_lock() -> Iterator[None]:
    """One arm64 build at a time; its own lock, so amd64 stand-ins never wait for it."""
    locks = cache_dir() / "locks"
    locks.mkdir(exist_ok=True)
    with open(locks / "standin-arm64-build.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            # Under the lock, any scratch directory left is a killed build's.
            for stale in scratch_root(MACHINE).glob("*"):
                shutil.rmtree(stale, ignore_errors=True)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_arm64_image(*, rebuild: bool = False) -> str:
    """The arm64 stand-in's reference, built (and cached) when needed."""
    reason = problem()
    if reason:
        raise StandInUnavailable(reason)
    tag = image_name()
    with arm64_lock():
        source = source_tarball()
        key = recipe_key(source)
        if not rebuild and image_labels(tag).get(base_images.KEY_LABEL) == key:
            return tag
        started = time.monotonic()
        prefix, rewrites = cross_build(source)
        patch = source.name.split("_")[1].split(".orig")[0]
        base_images._build_slim(
            VERSION,
            prefix,
            tag,
            key,
            patch=patch,
            machine=MACHINE,
            origin=f"cross-compiled from Debian's {SOURCE_PACKAGE} source",
            rewrites=rewrites,
        )
        _log(f"built {tag} in {time.monotonic() - started:.0f} s")
    return tag


if __name__ == "__main__":
    try:
        print(ensure_arm64_image(rebuild="--rebuild" in sys.argv[1:]))
    except StandInError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        sys.exit(1)
