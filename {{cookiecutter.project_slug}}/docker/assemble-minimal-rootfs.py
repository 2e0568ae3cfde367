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
  them (with the dynamic loader), plus a linker cache so they are found, and
  ldconfig, which ctypes.util.find_library asks. Libraries inside the venv
  (wheels bundle them, e.g. numpy.libs) are left where they are: the venv's
  own layer ships them, and a copy here would store them twice;
- what the C library and OpenSSL read at run time, so the service behaves as
  in the slim runtime: the CA bundle where OpenSSL looks for it by default,
  the C.UTF-8 locale (LANG), time-zone data, /etc/services and /etc/protocols,
  /etc/nsswitch.conf, and /etc/passwd and /etc/group entries for root and the
  service's numeric user;
- an empty /tmp.

A standard-library extension module whose library the builder lacks (the base
image ships some that way, e.g. nis) is left out with a note. A missing library
of anything else stops the build with the fix.

No shell, no package manager, no pip: the Dockerfile copies this folder into an
empty image, then the packages, bytecode and app as in the slim runtime.

    python assemble-minimal-rootfs.py /rootfs 10001
"""

import shutil
import ssl
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
    "/usr/lib/ssl/openssl.cnf",  # OpenSSL's configuration
    "/usr/lib/locale/C.utf8",  # the C.UTF-8 locale that LANG names
    "/usr/share/zoneinfo",  # time zones (zoneinfo, logging with local times)
    "/etc/services",  # service names and ports (socket.getservbyname)
    "/etc/protocols",  # protocol names (socket.getprotobyname)
    "/etc/ld.so.conf",  # where the loader looks: used to build the cache below
    "/etc/ld.so.conf.d",
    "/sbin/ldconfig",  # lists the loader's cache for ctypes.util.find_library
]
# The venv is copied into the image as a layer of its own.
VENV = Path("/opt/venv")


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


def linked_libraries(binaries: list[Path]) -> tuple[set[Path], dict[Path, list[str]]]:
    """Every library (and the loader) that `ldd` resolves for the binaries, except
    those inside the venv; and, per binary, the libraries it needs but ldd cannot find
    (nothing of such a binary is copied: it is left out or the build stops)."""
    libraries: set[Path] = set()
    missing: dict[Path, list[str]] = {}
    for binary in binaries:
        # Arguments are files of this build; no shell is involved.
        command = ["/usr/bin/ldd", str(binary)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        found = set()
        for line in result.stdout.splitlines():
            if "not found" in line:  # "\tlibnsl.so.2 => not found"
                missing.setdefault(binary, []).append(line.split()[0])
            found |= {Path(word) for word in line.split() if word.startswith("/")}
        if binary not in missing:
            libraries |= {path for path in found if not path.resolve().is_relative_to(VENV)}
    return libraries, missing


def drop_unusable_stdlib_modules(missing: dict[Path, list[str]], rootfs: Path) -> None:
    """Leave out standard-library extension modules whose libraries the builder lacks;
    stop the build if anything else lacks a library."""
    problems = []
    for binary, names in sorted(missing.items()):
        module = binary.name.split(".", 1)[0]
        if binary.parent.name == "lib-dynload" and binary.is_relative_to(rootfs):
            binary.unlink()
            print(
                f"assemble: left out the standard-library module {module}: it needs "
                f"{', '.join(names)}, which the builder lacks (the base image ships {module} "
                "without it). To keep it, add the package that provides it to "
                "docker/build-packages.txt."
            )
        else:
            problems.append(f"{binary} needs {', '.join(names)}")
    if problems:
        raise SystemExit(
            "ERROR: libraries not found in the builder stage:\n  "
            + "\n  ".join(problems)
            + "\nTry: add the Debian package that provides each one to docker/build-packages.txt."
            " The minimal runtime copies the libraries the builder has;"
            " docker/runtime-packages.txt only installs into runtime-slim."
        )


def copy_ca_bundle(rootfs: Path) -> None:
    """The CA bundle, where this OpenSSL looks by default: a file (/usr/lib/ssl/cert.pem)
    and a directory (/usr/lib/ssl/certs), which Debian links to /etc/ssl. The directory
    only gets its link: its per-certificate files repeat the bundle one by one."""
    defaults = ssl.get_default_verify_paths()
    copy(Path(defaults.openssl_cafile), rootfs)  # the link and the bundle it points to
    capath = Path(defaults.openssl_capath)
    (rootfs / capath.resolve().relative_to("/")).mkdir(parents=True, exist_ok=True)
    if capath.is_symlink():
        (rootfs / capath.relative_to("/")).symlink_to(capath.readlink())


def write_users(rootfs: Path, uid: int) -> None:
    etc = rootfs / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/sbin/nologin\n"
        f"app:x:{uid}:{uid}:service:/nonexistent:/sbin/nologin\n"
    )
    (etc / "group").write_text(f"root:x:0:\napp:x:{uid}:\n")
    # Name lookups: local files (hosts: then DNS), as in the slim runtime.
    (etc / "nsswitch.conf").write_text(
        "passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\n"
        "protocols: files\nservices: files\n"
    )


def main() -> int:
    rootfs, uid = Path(sys.argv[1]), int(sys.argv[2])
    rootfs.mkdir(parents=True)
    link_merged_usr(rootfs)
    copy_interpreter(rootfs)
    # The interpreter, its extension modules and the packages' (in the venv).
    binaries = elf_files(rootfs, VENV)
    libraries, missing = linked_libraries(binaries)
    drop_unusable_stdlib_modules(missing, rootfs)
    for library in sorted(libraries):
        copy(library, rootfs)
    for name in SYSTEM_FILES:
        copy(Path(name), rootfs)
    copy_ca_bundle(rootfs)
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
