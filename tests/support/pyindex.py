#!/usr/bin/env python3
"""A local PEP 503 package index for Docker builds that cannot reach the real one.

Why: some machines (CI sandboxes) let containers reach no Python package
index, while the host can.  We download, on the host, the *exact* files the
real index publishes (so the ``--hash`` lines of the project's lock file still
verify), lay them out as a PEP 503 "simple" index, and serve it on 127.0.0.1.
Builds then run with ``docker build --network host`` and
``pip install --index-url http://127.0.0.1:PORT/simple/``.

Module use::

    from pyindex import build_index, serve
    root = build_index(["requirements.txt"], "/tmp/idx", "3.12")
    with serve(root, basic_auth=("user", "secret")) as server:
        print(server.url)            # http://127.0.0.1:PORT/simple/

CLI::

    python tests/support/pyindex.py build --python 3.12 -r requirements.txt --dest /tmp/idx \
        [--source psycopg2] [--extra-wheel 'uv==0.5.0']
    python tests/support/pyindex.py serve --root /tmp/idx [--port N] [--auth user:password]

Standard library only.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import html
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

from pyindex_server import IndexServer, serve

__all__ = ["IndexServer", "build_index", "default_platform_tags", "serve", "write_simple_index"]

#: Highest glibc the images have (Debian bookworm ships glibc 2.36): wheels
#: needing a newer one would not run in them, so we never ask for those.
GLIBC_MAX = (2, 36)

#: Build backends a source package (``--source``) needs inside the build.
BUILD_BACKENDS = ("setuptools", "wheel")

_WHEEL_RE = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(?:-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_SDIST_RE = re.compile(
    r"^(?P<name>.+?)-(?P<version>\d[^-]*)\.(?:tar\.gz|tar\.bz2|tar\.xz|tgz|zip)$"
)


# --------------------------------------------------------------------------
# Names and tags
# --------------------------------------------------------------------------


def normalize(name: str) -> str:
    """PEP 503 name normalization: runs of ``-``, ``_`` and ``.`` become ``-``, lower case.

    pip asks for ``/simple/<normalized>/``, so the directory must use this form.
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def project_name(filename: str) -> str | None:
    """Normalized project name of a wheel or sdist file name (None if neither)."""
    match = _WHEEL_RE.match(filename) or _SDIST_RE.match(filename)
    return normalize(match.group("name")) if match else None


def default_platform_tags(
    machine: str | None = None, glibc_max: tuple[int, int] = GLIBC_MAX
) -> list[str]:
    """Platform tags a glibc-based container on this architecture accepts, best first.

    pip only considers the tags we pass with ``--platform`` (no expansion), so
    we list every ``manylinux_2_N`` up to the images' glibc, the legacy aliases
    (manylinux2014 = 2.17, manylinux2010 = 2.12, manylinux1 = 2.5) and plain
    ``linux_<arch>``.  Order matters: pip downloads the wheel whose tag comes
    first, and newest-glibc-first is also the order pip inside the container
    prefers.
    """
    arch = machine or platform.machine()
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags = []
    for minor in range(glibc_max[1], 4, -1):
        tags.append(f"manylinux_{glibc_max[0]}_{minor}_{arch}")
        if minor in legacy and (minor == 17 or arch in ("x86_64", "i686")):
            tags.append(f"{legacy[minor]}_{arch}")
    tags.append(f"linux_{arch}")
    return tags


# --------------------------------------------------------------------------
# Building the index
# --------------------------------------------------------------------------


def _cache_dir() -> Path:
    """pip's download cache, shared by all runs on this machine (env SLIM_PYTHON_CACHE)."""
    path = Path(os.environ.get("SLIM_PYTHON_CACHE", "/var/cache/slim-python")) / "pip-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pip_download_cmd(
    python_version: str, tags: Sequence[str], files_dir: Path, *, deps: bool = False
) -> list[str]:
    """Common part of every host ``pip download``: target interpreter, platforms, cache.

    ``--isolated`` keeps the host's pip environment variables and user config
    (extra indexes, find-links directories) out, so only files published on the
    default index are used.  ``--no-deps`` for lock files (they list
    everything already); ``deps=True`` for loose requirements such as the
    build backends, whose own dependencies must be served too.
    """
    major, minor = python_version.split(".")[:2]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "--isolated",
        "download",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        *([] if deps else ["--no-deps"]),
        "--only-binary=:all:",
        "--python-version",
        f"{major}.{minor}",
        "--implementation",
        "cp",
        "--abi",
        f"cp{major}{minor}",
        "--cache-dir",
        str(_cache_dir()),
        "--dest",
        str(files_dir),
    ]
    for tag in tags:
        cmd += ["--platform", tag]
    return cmd


def _run_pip(cmd: list[str]) -> None:
    """Run pip, showing its output only when it fails (then it is the useful part)."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-30:])
        raise RuntimeError(f"pip download failed ({proc.returncode}):\n{tail}")


def build_index(
    requirement_files: Iterable[str | os.PathLike[str]],
    dest: str | os.PathLike[str],
    python_version: str,
    *,
    platform_tags: Sequence[str] | None = None,
    machine: str | None = None,
    source_packages: Iterable[str] = (),
    extra_wheels: Iterable[str] = (),
) -> Path:
    """Download what the requirement files pin for CPython ``python_version`` and index it.

    * Binary wheels for this machine's Linux architecture, or for
      ``machine`` (``uname -m`` style, e.g. ``aarch64`` for an arm64 image
      built under emulation; see :func:`default_platform_tags`), verified by pip against the files'
      ``--hash`` lines; environment markers are evaluated for the target Python.
    * ``source_packages`` are fetched as sdists instead (their sdist hash must
      be in the file too), plus the build backends (setuptools, wheel) as
      wheels, because pip needs those in the container to build them.
    * ``extra_wheels``: extra requirement strings, binary wheels without
      hashes, with their dependencies.

    Files land in ``dest/files``; ``dest/simple`` is (re)written.  A stamp
    makes a repeated call with the same inputs skip pip entirely.  Returns
    ``dest``, the directory to give to :func:`serve`.
    """
    dest = Path(dest)
    files_dir = dest / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    req_files = [Path(p).resolve() for p in requirement_files]
    tags = list(platform_tags or default_platform_tags(machine))
    sources = sorted(normalize(s) for s in source_packages)
    extras = list(extra_wheels)

    # Same inputs (and same version of this script) as a previous successful
    # run, and its files still there: skip pip.
    stamp_key = hashlib.sha256(
        json.dumps(
            {
                "script": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
                "requirements": [p.read_text() for p in req_files],
                "python": python_version,
                "tags": tags,
                "sources": sources,
                "extras": extras,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:24]
    stamp = dest / ".stamps" / f"{stamp_key}.json"
    if stamp.exists() and all((files_dir / f).exists() for f in json.loads(stamp.read_text())):
        write_simple_index(dest)
        return dest

    if req_files:
        cmd = _pip_download_cmd(python_version, tags, files_dir)
        for name in sources:
            # Given after --only-binary=:all:, this carves these names out of it.
            cmd += ["--no-binary", name]
        for path in req_files:
            cmd += ["-r", str(path)]
        _run_pip(cmd)
    # Unhashed extras go in a separate pip run: one unhashed requirement
    # would make pip reject a hash-checked run. Their dependencies come along
    # (e.g. wheel needs packaging), since no lock file lists those.
    unhashed = (list(BUILD_BACKENDS) if sources else []) + extras
    if unhashed:
        _run_pip(_pip_download_cmd(python_version, tags, files_dir, deps=True) + unhashed)

    write_simple_index(dest)
    stamp.parent.mkdir(exist_ok=True)
    # Record the files present now (a superset of what this run needed) for the next skip check.
    stamp.write_text(json.dumps(sorted(os.listdir(files_dir))))
    return dest


def _requires_python(path: Path) -> str | None:
    """``Requires-Python`` from a wheel's METADATA or an sdist's PKG-INFO (optional data).

    Served as ``data-requires-python`` so pip can skip files for other Pythons
    without downloading them.
    """
    try:
        if path.name.endswith(".whl"):
            with zipfile.ZipFile(path) as zf:
                meta = next(
                    (
                        n
                        for n in zf.namelist()
                        if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
                    ),
                    None,
                )
                text = zf.read(meta).decode("utf-8", "replace") if meta else ""
        elif path.name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
            with tarfile.open(path) as tf:
                member = next(
                    (
                        m
                        for m in tf.getmembers()
                        if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
                    ),
                    None,
                )
                fh = tf.extractfile(member) if member else None
                text = fh.read().decode("utf-8", "replace") if fh else ""
        else:
            return None
    except (OSError, zipfile.BadZipFile, tarfile.TarError, KeyError):
        return None
    value = email.parser.HeaderParser().parsestr(text).get("Requires-Python")
    return value.strip() if value else None


def _sha256(path: Path) -> str:
    """Hex sha256 of a file, for the ``#sha256=`` URL fragment pip verifies."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(partial(fh.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_simple_index(root: str | os.PathLike[str]) -> Path:
    """(Re)write ``root/simple`` (PEP 503) for every wheel/sdist in ``root/files``.

    ``simple/index.html`` lists the projects; ``simple/<normalized-name>/index.html``
    links each file as ``../../files/<file>#sha256=<hex>``.  Returns the
    ``simple`` directory.
    """
    root = Path(root)
    files_dir = root / "files"
    simple = root / "simple"
    projects: dict[str, list[Path]] = {}
    for path in sorted(files_dir.iterdir()) if files_dir.is_dir() else ():
        name = project_name(path.name)
        if name and path.is_file():
            projects.setdefault(name, []).append(path)

    if simple.exists():
        shutil.rmtree(simple)
    simple.mkdir(parents=True)
    head = (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta name="pypi:repository-version" content="1.0">\n'
        "<title>{title}</title>\n</head>\n<body>\n"
    )
    links = [f'<a href="{name}/">{name}</a><br>' for name in sorted(projects)]
    (simple / "index.html").write_text(
        head.format(title="Simple index") + "\n".join(links) + "\n</body>\n</html>\n"
    )
    for name, paths in projects.items():
        lines = []
        for path in paths:
            attrs = ""
            requires = _requires_python(path)
            if requires:
                attrs = f' data-requires-python="{html.escape(requires, quote=True)}"'
            href = f"../../files/{path.name}#sha256={_sha256(path)}"
            lines.append(
                f'<a href="{html.escape(href, quote=True)}"{attrs}>{html.escape(path.name)}</a><br>'
            )
        (simple / name).mkdir()
        (simple / name / "index.html").write_text(
            head.format(title=f"Links for {name}")
            + f"<h1>Links for {name}</h1>\n"
            + "\n".join(lines)
            + "\n</body>\n</html>\n"
        )
    return simple


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``build`` downloads and indexes; ``serve`` runs the server until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Local PEP 503 index for offline Docker builds.")
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="download the pinned files and write the index")
    build.add_argument("--python", required=True, help="target CPython minor version, e.g. 3.12")
    build.add_argument(
        "-r",
        "--requirement",
        action="append",
        default=[],
        required=True,
        help="requirement file with --hash lines (repeatable)",
    )
    build.add_argument("--dest", required=True, help="index root directory")
    build.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME",
        help="download this package as an sdist (repeatable)",
    )
    build.add_argument(
        "--extra-wheel",
        action="append",
        default=[],
        metavar="REQ",
        help="extra requirement downloaded as a wheel, unhashed (repeatable)",
    )

    build.add_argument(
        "--machine",
        metavar="ARCH",
        help="architecture of the image, uname -m style (default: this machine's), e.g. aarch64",
    )

    srv = sub.add_parser("serve", help="serve an index root on 127.0.0.1")
    srv.add_argument("--root", required=True)
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=0)
    srv.add_argument("--auth", metavar="USER:PASSWORD", help="require HTTP Basic auth")

    args = parser.parse_args(argv)
    if args.command == "build":
        try:
            root = build_index(
                args.requirement,
                args.dest,
                args.python,
                machine=args.machine,
                source_packages=args.source,
                extra_wheels=args.extra_wheel,
            )
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        count = len(list((root / "files").iterdir()))
        print(f"{root} ({count} files)")
        return 0

    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep:
            parser.error("--auth must be USER:PASSWORD")
        auth = (user, password)
    server = serve(args.root, host=args.host, port=args.port, basic_auth=auth)
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
