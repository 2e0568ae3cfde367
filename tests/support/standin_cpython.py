"""Installing a CPython build into ``/usr/local`` of a stand-in's root file
system, laid out, stripped and verified like the official image's.

Part of the offline test support (see README.md in this folder).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from standin_common import (
    OFFICIAL_SRCDIR,
    PREFIX,
    VERIFY_IMPORTS,
    StandInError,
    _chroot,
    _log,
    _run,
)


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


def _rewrite_prefix(
    prefix_dir: Path,
    old_prefix: str,
    build_dir: str | None,
    extra: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """Replace the pyenv prefix by /usr/local in every text file (and shebang).

    Covers ``_sysconfigdata_*.py`` (setuptools reads INCLUDEPY/LIBDIR from it),
    the ``config-X.Y-*/Makefile``, ``pythonX.Y-config``, the pkg-config files
    and every ``#!`` line of the copied scripts. The build directory, which
    only appears in sysconfig data, becomes /usr/src/python as in the official
    image. ELF files are left alone: their stale RUNPATH only points at a
    directory that does not exist in the image, and ldconfig finds libpython.
    Returns the rewritten paths (relative to the prefix) for the log.
    """
    replacements = [(old.encode(), new.encode()) for old, new in extra]
    replacements.append((old_prefix.encode(), PREFIX.encode()))
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
