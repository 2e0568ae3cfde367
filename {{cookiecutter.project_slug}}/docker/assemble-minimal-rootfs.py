"""Build step of the "minimal" runtime: assemble a root file system that holds
only what the service needs to run, for an image built FROM scratch.

It runs in the builder stage, which is the official python:X.Y-slim image plus
the build packages, so the interpreter copied here is exactly the one the
dependencies were installed and tested with (any Python version works, unlike
a distroless image that ships Debian's own Python). What it copies:

- the interpreter and libpython, from /usr/local;
- the standard library, minus what no service imports: the test suite, IDLE,
  Tk, turtle demos, lib2to3, ensurepip's bundled wheels, pydoc's topic data
  and the base image's pip;
- every shared library that the interpreter, the standard library's extension
  modules and the installed packages' extension modules link, as `ldd` resolves
  them (with the dynamic loader), plus a linker cache so they are found;
- CA certificates, time-zone data, and /etc/passwd and /etc/group entries for
  root and the service's numeric user;
- an empty /tmp.

No shell, no package manager, no pip: the Dockerfile copies this folder into an
empty image, then the packages, bytecode and app as in the slim runtime.

    python assemble-minimal-rootfs.py /rootfs 10001
"""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

# Standard-library folders a service never imports (relative to the stdlib).
STDLIB_SKIP = {
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "lib2to3",
    "ensurepip",
    "pydoc_data",
    "site-packages",
    "__pycache__",
    "venv",
}
# Extension modules whose libraries the official slim images leave out on
# purpose (Tcl/Tk), or that only interactive terminals use.
DYNLOAD_SKIP_PREFIXES = ("_tkinter", "_curses", "readline")
SYSTEM_FILES = [
    "/etc/ssl/certs/ca-certificates.crt",  # CA bundle for outgoing TLS
    "/usr/lib/ssl/openssl.cnf",  # OpenSSL's configuration
    "/usr/share/zoneinfo",  # time zones (zoneinfo, logging with local times)
    "/etc/ld.so.conf",  # where the loader looks: used to build the cache below
    "/etc/ld.so.conf.d",
]


def link_merged_usr(rootfs: Path) -> None:
    """Recreate the base's top-level links (Debian's merged /usr: /lib -> usr/lib).

    Library paths that ldd prints go through them (/lib64/ld-linux-x86-64.so.2),
    so the new root needs the same links. Only relative links are copied: an
    absolute one would make later copies write into the builder's own /usr.
    """
    for entry in Path("/").iterdir():
        if entry.is_symlink() and not entry.readlink().is_absolute():
            (rootfs / entry.readlink()).mkdir(parents=True, exist_ok=True)
            (rootfs / entry.name).symlink_to(entry.readlink())


def copy(source: Path, rootfs: Path) -> None:
    """Copy a file, link or folder to the same path under rootfs (links kept as links)."""
    target = rootfs / source.relative_to("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_symlink():
        if not target.exists() and not target.is_symlink():
            target.symlink_to(source.readlink())
        copy(source.resolve(), rootfs)  # and what it points to
    elif source.is_dir():
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)


def copy_interpreter(rootfs: Path) -> None:
    version = sysconfig.get_python_version()
    bindir = Path(sys.base_prefix) / "bin"
    for name in (f"python{version}", "python3", "python"):
        if (bindir / name).exists() or (bindir / name).is_symlink():
            copy(bindir / name, rootfs)
    libdir = Path(sysconfig.get_config_var("LIBDIR"))
    for library in libdir.glob(f"libpython{version}*.so*"):
        copy(library, rootfs)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    target = rootfs / stdlib.relative_to("/")
    shutil.copytree(
        stdlib,
        target,
        symlinks=True,
        ignore=lambda folder, names: [
            name
            for name in names
            if name in STDLIB_SKIP
            or name.startswith("config-")
            or (Path(folder).name == "lib-dynload" and name.startswith(DYNLOAD_SKIP_PREFIXES))
        ],
    )


def elf_files(*roots: Path) -> list[Path]:
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                with path.open("rb") as handle:
                    if handle.read(4) == b"\x7fELF":
                        found.append(path)
    return found


def linked_libraries(binaries: list[Path]) -> set[Path]:
    """Every library (and the loader) that `ldd` resolves for the binaries."""
    libraries: set[Path] = set()
    for binary in binaries:
        # Arguments are files of this build; no shell is involved.
        command = ["/usr/bin/ldd", str(binary)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        output = result.stdout
        for line in output.splitlines():
            if "not found" in line:
                raise SystemExit(f"assemble: {binary} needs a missing library: {line.strip()}")
            for word in line.split():
                if word.startswith("/"):
                    libraries.add(Path(word))
    return libraries


def write_users(rootfs: Path, uid: int) -> None:
    etc = rootfs / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/sbin/nologin\n"
        f"app:x:{uid}:{uid}:service:/nonexistent:/sbin/nologin\n"
    )
    (etc / "group").write_text(f"root:x:0:\napp:x:{uid}:\n")
    # Name lookups: local files first, then DNS (glibc's default is the same).
    (etc / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files dns\n")


def main() -> int:
    rootfs, uid = Path(sys.argv[1]), int(sys.argv[2])
    rootfs.mkdir(parents=True)
    link_merged_usr(rootfs)
    copy_interpreter(rootfs)
    # The interpreter, its extension modules and the packages' (in the venv).
    binaries = elf_files(rootfs, Path("/opt/venv"))
    for library in sorted(linked_libraries(binaries)):
        copy(library, rootfs)
    for name in SYSTEM_FILES:
        copy(Path(name), rootfs)
    # The loader's cache (/etc/ld.so.cache), built for the new root: without it
    # libpython in /usr/local/lib would not be found.
    subprocess.run(["/sbin/ldconfig", "-r", str(rootfs)], check=True)  # noqa: S603
    write_users(rootfs, uid)
    (rootfs / "tmp").mkdir(mode=0o1777)
    (rootfs / "tmp").chmod(0o1777)
    size = sum(p.stat().st_size for p in rootfs.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"assemble: {len(binaries)} ELF files, {size / 1e6:.1f} MB in {rootfs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
