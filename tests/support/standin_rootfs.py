"""The stand-ins' Debian root file system: debootstrap, slimmed the way
``debian:bookworm-slim`` is, cached as a tarball per architecture.

Part of the offline test support (see README.md in this folder).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import time
from pathlib import Path

from standin_common import (
    ROOTFS_PACKAGES,
    ROOTFS_RECIPE,
    SLIM_EXCLUDES,
    SLIM_INCLUDES,
    SUITE,
    StandInUnavailable,
    _chroot,
    _log,
    _run,
    _workdir,
    cache_dir,
)

#: Debian's architecture names for ``uname -m`` ones.
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def rootfs_tarball(
    *, refresh: bool = False, machine: str | None = None, extra_packages: tuple[str, ...] = ()
) -> Path:
    """Cached Debian root filesystem tarball, made with debootstrap on first use.

    Keyed by suite, architecture, package list and recipe number (not by this
    whole file) so that editing the CPython part does not cost another
    debootstrap. ``refresh=True`` makes a new one (newer Debian updates).
    ``machine`` (``uname -m`` style) other than this machine's makes a foreign
    root, which runs under QEMU through binfmt; ``extra_packages`` are
    installed too (the arm64 cross-compiler's sysroot needs the -dev packages).
    """
    arch = machine or os.uname().machine
    packages = ROOTFS_PACKAGES + tuple(extra_packages)
    key = hashlib.sha256(
        f"{SUITE}|{arch}|{','.join(packages)}|{ROOTFS_RECIPE}".encode()
    ).hexdigest()[:16]
    rootfs_dir = cache_dir() / "rootfs"
    rootfs_dir.mkdir(exist_ok=True)
    # A sysroot (extra packages) is cached beside the plain root, not instead of it.
    stem = f"{SUITE}-{arch}" + ("-sysroot" if extra_packages else "")
    tarball = rootfs_dir / f"{stem}-{key}.tar"
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
    with _workdir("rootfs-", machine) as work:
        root = work / "rootfs"
        # No mirror argument: debootstrap's default mirror is the right one.
        _run(
            [
                "debootstrap",
                f"--arch={DEBIAN_ARCH.get(arch, arch)}",
                "--variant=minbase",
                f"--include={','.join(packages)}",
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
    for stale in rootfs_dir.glob(f"{stem}-*.tar"):
        if stale != tarball and len(stale.name) == len(tarball.name):
            stale.unlink()
    _log(f"root filesystem cached as {tarball} ({time.monotonic() - started:.0f} s)")
    return tarball


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
