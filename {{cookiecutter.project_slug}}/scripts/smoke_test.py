"""Smoke test for the production container image.

Run it inside the image that is about to ship, exactly as it will run in production:

    docker run --rm IMAGE python scripts/smoke_test.py

It uses the standard library only, because the runtime image deliberately contains nothing
else: no shell, no pip, no compiler, and in a minimal image not even ldd or a dpkg database.
It works as the image's non-root user and on a read-only root filesystem: it writes nothing.

Each check guards against a mistake that is easy to make in a multi-stage Dockerfile and that
tests run in the builder stage never see, because the builder has everything:

non-root
    The process must not run as root, and the application code must not be writable by the
    user that runs it: whoever takes over the process must not be able to change the code.
no-compiler
    Compilers and ``-dev`` packages belong to the builder stage. In the runtime image they are
    dead weight, and a convenience for an attacker.
imports
    The top-level modules of every installed distribution are imported. This catches a
    package whose own dependencies (another package, a shared library) were left behind.
shared-libraries
    Every compiled extension module (``*.so``) is read as an ELF file, and each library it
    needs is looked up the way the dynamic loader does. The classic failure: psycopg2 was
    compiled in the builder against libpq, and the runtime stage lacks libpq5. This finds it
    even for extension modules that the imports check does not load.
http
    The service is started the way the image starts it (``python -m app``). It must answer
    /healthz with 200, /readyz with 200 (or 503 naming a dependency that is absent here, such
    as a database), and exit with code 0 soon after SIGTERM, which ``docker stop`` sends.

Every check prints one line, PASS or FAIL with a short detail; a failure then lists each
culprit on its own indented line. The exit code is 0 only if every check passed.

Options:
    --url URL     check a service that is already running at URL instead of starting one,
                  e.g. docker exec CONTAINER python scripts/smoke_test.py --url URL
    --skip-http   skip the http check (useful in a ``RUN`` step of the Dockerfile)
    --quiet       print only failures and the summary line
"""

import argparse
import collections
import http.client
import importlib
import importlib.machinery
import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

try:
    import ctypes
except ImportError:  # _ctypes needs libffi; the shared-libraries check then reports it missing
    ctypes = None

# The service reads its settings from environment variables with this prefix.
PORT_VARIABLE = "{{ cookiecutter.__env_prefix }}PORT"
HOST_VARIABLE = "{{ cookiecutter.__env_prefix }}HOST"

# Pathologically long lists of culprits (a thousand writable files) are cut after this many
# lines; the number of lines left out is shown.
MAX_CULPRITS = 50


@dataclass
class CheckResult:
    """What one check found: a one-line summary and, on failure, one line per culprit."""

    passed: bool
    summary: str
    culprits: list[str] = field(default_factory=list)


def is_readable_file(path: Path) -> bool:
    """Like Path.is_file(), but False where this user may not look (e.g. an RPATH into /root)."""
    try:
        return path.is_file() and os.access(path, os.R_OK)
    except OSError:
        return False


def pass_with(summary: str) -> CheckResult:
    return CheckResult(passed=True, summary=summary)


def fail_with(summary: str, culprits: Iterable[str] = ()) -> CheckResult:
    culprits = list(culprits)
    if len(culprits) > MAX_CULPRITS:
        hidden = len(culprits) - MAX_CULPRITS
        culprits = [*culprits[:MAX_CULPRITS], f"... and {hidden} more"]
    return CheckResult(passed=False, summary=summary, culprits=culprits)


def first_line(error: BaseException) -> str:
    """Exception type and the first line of its message, short enough for a report line."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


# --------------------------------------------------------------------------------------------
# non-root
# --------------------------------------------------------------------------------------------


def check_non_root() -> CheckResult:
    identity = f"uid={os.getuid()} euid={os.geteuid()} gid={os.getgid()}"
    problems = []
    if os.getuid() == 0 or os.geteuid() == 0:
        problems.append(f"running as root ({identity}): the image needs a numeric non-root USER")

    app_directory = find_app_directory()
    if app_directory is None:
        problems.append("package 'app' not found, so its permissions cannot be checked")
    else:
        # The code is meant to be owned by root and only readable by the service user.
        # (As root everything is writable, so running as root fails this part too.)
        problems.extend(f"{path} is writable" for path in writable_paths(app_directory))

    if problems:
        return fail_with(f"{identity}, {len(problems)} problem(s)", problems)
    return pass_with(f"{identity}, code in {app_directory} is read-only")


def find_app_directory() -> Path | None:
    """Directory of the service package, which is always named ``app``.

    ``python -m app`` finds it with the working directory first on sys.path; so does this.
    """
    spec = importlib.machinery.PathFinder.find_spec("app", [str(Path.cwd()), *sys.path])
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def writable_paths(directory: Path) -> Iterator[Path]:
    for folder, _subfolders, files in os.walk(directory):
        for path in [Path(folder), *(Path(folder) / name for name in files)]:
            if permits_writing(path):
                yield path


def permits_writing(path: Path) -> bool:
    """Whether the file's owner and mode let this user write it.

    Judged from ownership and permission bits rather than os.access(): on a
    read-only root file system access() says "no" for everything, which would
    hide code owned by the service user until someone runs it writable.
    """
    if os.geteuid() == 0:
        return True
    info = path.stat()
    if info.st_uid == os.geteuid():
        return bool(info.st_mode & stat.S_IWUSR)
    if info.st_gid in {os.getegid(), *os.getgroups()}:
        return bool(info.st_mode & stat.S_IWGRP)
    return bool(info.st_mode & stat.S_IWOTH)


# --------------------------------------------------------------------------------------------
# no-compiler
# --------------------------------------------------------------------------------------------

COMPILER_NAMES = ("gcc", "cc", "c++", "g++", "clang")
# Debian also installs versioned and target-prefixed names (gcc-12, x86_64-linux-gnu-gcc-12);
# they remain when a plain name such as cc is only a dangling alternatives link.
COMPILER_FILE_NAME = re.compile(r"^(?:[\w.-]+-)?(?:gcc|g\+\+|c\+\+|cc|clang)(?:-[\d.]+)?$")
BINARY_DIRECTORIES = (Path("/usr/bin"), Path("/usr/local/bin"))
DPKG_STATUS_FILE = Path("/var/lib/dpkg/status")


def check_no_compiler() -> CheckResult:
    culprits = [f"compiler {path}" for path in find_compilers()]
    if DPKG_STATUS_FILE.exists():
        packages = installed_debian_packages(DPKG_STATUS_FILE.read_text(errors="replace"))
        dev_packages = sorted(name for name in packages if name.endswith("-dev"))
        if dev_packages:
            # Often dozens at once (a build-essential install); a compact list names them all.
            listing = f"{len(dev_packages)} -dev package(s): {', '.join(dev_packages)}"
            culprits += textwrap.wrap(listing, 90, subsequent_indent="  ", break_on_hyphens=False)
        package_note = f"no -dev package among {len(packages)} Debian packages"
    else:
        # A minimal (distroless-style) image ships files without dpkg's bookkeeping.
        package_note = f"no dpkg database at {DPKG_STATUS_FILE} (minimal image)"

    if culprits:
        return fail_with("build tools in the runtime image", culprits)
    return pass_with(f"no compiler on PATH or in /usr/bin, /usr/local/bin; {package_note}")


def find_compilers() -> list[str]:
    found = {shutil.which(name) for name in COMPILER_NAMES} - {None}
    for directory in BINARY_DIRECTORIES:
        if directory.is_dir():
            found.update(
                str(path)
                for path in directory.iterdir()
                # is_file() follows links, so a dangling link to a removed compiler is ignored.
                if COMPILER_FILE_NAME.match(path.name) and path.is_file()
            )
    return sorted(found)


def installed_debian_packages(status_text: str) -> set[str]:
    """Names of the packages that the dpkg status file lists as installed."""
    installed = set()
    for stanza in re.split(r"\n\s*\n", status_text):
        fields = dict(
            line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[0] != " "
        )
        if fields.get("Status", "").strip() == "install ok installed":
            installed.add(fields.get("Package", "").strip())
    return installed - {""}


# --------------------------------------------------------------------------------------------
# imports
# --------------------------------------------------------------------------------------------

# Top-level entries in a distribution's file list that are never importable modules.
NOT_MODULE_SUFFIXES = (".dist-info", ".egg-info", ".data")
EXTENSION_MODULE_NAME = re.compile(r"^(\w+)\.(?:[\w-]+\.)?(?:so|pyd)$")


def check_imports() -> CheckResult:
    modules: dict[str, str] = {}  # module name -> the distribution that provides it
    distributions = 0
    for distribution in unique_distributions():
        distributions += 1
        label = f"{distribution.name} {distribution.version}"
        for module in top_level_modules(distribution):
            modules.setdefault(module, label)

    failures = []
    # Imports may emit deprecation warnings; they are not failures and would clutter the report.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # pip goes last: on Python < 3.12, importing pip makes setuptools' distutils shim step
        # aside, and a later `import setuptools` then fails although nothing is broken.
        for module, label in sorted(modules.items(), key=lambda item: (item[0] == "pip", item)):
            try:
                importlib.import_module(module)
            except (Exception, SystemExit) as error:  # whatever goes wrong is the finding
                failures.append(f"{module} (from {label}): {first_line(error)}")

    if failures:
        return fail_with(f"{len(failures)} of {len(modules)} modules failed to import", failures)
    return pass_with(f"{distributions} distributions, {len(modules)} modules")


def unique_distributions() -> Iterator[importlib.metadata.Distribution]:
    """Installed distributions; of two with the same name, the one found first on sys.path."""
    seen = set()
    for distribution in importlib.metadata.distributions():
        name = distribution.name
        if not name:
            continue  # broken metadata: nothing to attribute modules to
        normalized = re.sub(r"[-_.]+", "-", name).lower()
        if normalized not in seen:
            seen.add(normalized)
            yield distribution


def top_level_modules(distribution: importlib.metadata.Distribution) -> set[str]:
    """The names that ``import`` can use for what this distribution installed."""
    # setuptools writes top_level.txt; wheels built by other tools only have RECORD, the list
    # of installed files. top_level.txt can name things that were never installed (Debian's
    # setuptools lists "debian"), so when both exist only names with files count.
    top_level = distribution.read_text("top_level.txt") or ""
    listed = {name.strip() for name in top_level.splitlines() if name.strip().isidentifier()}
    files = distribution.files
    if files is None:
        return listed
    installed = modules_from_file_list(files)
    return (listed & installed) or installed


def modules_from_file_list(files: Iterable[importlib.metadata.PackagePath]) -> set[str]:
    modules = set()
    for file in files:
        parts = file.parts
        if not parts or parts[0] in ("..", "bin") or parts[0].endswith(NOT_MODULE_SUFFIXES):
            continue  # scripts (recorded as ../../../bin/... in a venv) and metadata
        if len(parts) == 1:
            name = module_name_of_file(parts[0])
        elif module_name_of_file(parts[-1]):
            # A regular package (X/__init__.py) or a namespace package (X/sub/mod.py).
            name = parts[0]
        else:
            name = None
        # Dunder names are import hooks (__editable__*) or package files, not modules.
        if name and name.isidentifier() and not name.startswith("__"):
            modules.add(name)
    return modules


def module_name_of_file(file_name: str) -> str | None:
    """``x.py`` and ``x.cpython-312-x86_64-linux-gnu.so`` are both module ``x``."""
    if file_name.endswith(".py"):
        return file_name.removesuffix(".py")
    match = EXTENSION_MODULE_NAME.match(file_name)
    return match.group(1) if match else None


# --------------------------------------------------------------------------------------------
# shared-libraries
# --------------------------------------------------------------------------------------------

ELF_MAGIC = b"\x7fELF"
PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_RPATH, DT_RUNPATH = 0, 1, 5, 10, 15, 29


@dataclass(frozen=True)
class ElfDynamicInfo:
    """The parts of an ELF file's dynamic section that decide which libraries it loads."""

    word_size: int  # 32 or 64 bits; the loader only accepts libraries that match the needer
    machine: int  # e_machine, the CPU architecture: another one is just as unusable
    needed: tuple[str, ...]  # DT_NEEDED: the library names it was linked against
    rpath: tuple[str, ...]  # DT_RPATH: old-style search path, searched before LD_LIBRARY_PATH
    runpath: tuple[str, ...]  # DT_RUNPATH: newer search path, searched after LD_LIBRARY_PATH


def read_elf_dynamic_info(path: Path) -> ElfDynamicInfo | None:
    """Parse what the dynamic loader reads from ``path``; None if it is not an ELF file.

    The loader works from the program headers, not from the optional section headers: the
    PT_DYNAMIC segment lists (tag, value) pairs, and string values such as DT_NEEDED are
    offsets into the dynamic string table, whose address DT_STRTAB gives in memory terms.
    """
    with path.open("rb") as file:
        identification = file.read(16)
        if len(identification) < 16 or identification[:4] != ELF_MAGIC:
            return None
        is_64_bit = identification[4] == 2  # EI_CLASS: 1 is 32-bit, 2 is 64-bit
        byte_order = "<" if identification[5] == 1 else ">"  # EI_DATA: 1 is little-endian

        # The rest of the ELF header, then the program header table it points to.
        header_format = byte_order + ("HHIQQQIHHHHHH" if is_64_bit else "HHIIIIIHHHHHH")
        header = struct.unpack(header_format, file.read(struct.calcsize(header_format)))
        machine, program_header_offset = header[1], header[4]
        program_header_size, program_header_count = header[8], header[9]
        segment_format = byte_order + ("IIQQQQQQ" if is_64_bit else "IIIIIIII")
        segments = []
        for index in range(program_header_count):
            file.seek(program_header_offset + index * program_header_size)
            fields = struct.unpack(segment_format, file.read(struct.calcsize(segment_format)))
            if is_64_bit:  # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, ...
                segment_type, offset, address, size = fields[0], fields[2], fields[3], fields[5]
            else:  # p_type, p_offset, p_vaddr, p_paddr, p_filesz, ...
                segment_type, offset, address, size = fields[0], fields[1], fields[2], fields[4]
            segments.append((segment_type, offset, address, size))

        # A file without a PT_DYNAMIC segment is statically linked: it needs no library.
        entries = []
        for segment_type, offset, _address, size in segments:
            if segment_type == PT_DYNAMIC:
                file.seek(offset)
                entry_format = byte_order + ("qQ" if is_64_bit else "iI")
                for tag, value in struct.iter_unpack(entry_format, file.read(size)):
                    if tag == DT_NULL:
                        break
                    entries.append((tag, value))

        # DT_STRTAB is a memory address; the PT_LOAD segment containing it maps it to a file
        # offset, just as the loader maps the file into memory.
        tags = dict(entries)
        string_table = b""
        if DT_STRTAB in tags:
            string_table_address = tags[DT_STRTAB]
            for segment_type, offset, address, size in segments:
                if segment_type == PT_LOAD and address <= string_table_address < address + size:
                    file.seek(string_table_address - address + offset)
                    string_table = file.read(tags.get(DT_STRSZ, 0))
                    break

    def string_at(offset: int) -> str:
        return string_table[offset : string_table.index(b"\0", offset)].decode(errors="replace")

    def strings_for(tag: int) -> tuple[str, ...]:
        return tuple(string_at(value) for entry_tag, value in entries if entry_tag == tag)

    def search_path_for(tag: int) -> tuple[str, ...]:
        return tuple(part for text in strings_for(tag) for part in text.split(":") if part)

    return ElfDynamicInfo(
        word_size=64 if is_64_bit else 32,
        machine=machine,
        needed=strings_for(DT_NEEDED),
        rpath=search_path_for(DT_RPATH),
        runpath=search_path_for(DT_RUNPATH),
    )


def standard_library_directories() -> list[Path]:
    """Where the loader looks after the search paths: /etc/ld.so.conf and the trusted dirs."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or f"{os.uname().machine}-linux-gnu"
    directories = [Path(line) for line in ld_so_conf_lines(Path("/etc/ld.so.conf"))]
    for prefix in ("/lib", "/usr/lib"):
        directories += [Path(prefix) / multiarch, Path(prefix), Path(f"{prefix}64")]
    directories.append(Path("/usr/local/lib"))
    return [directory for directory in dict.fromkeys(directories) if directory.is_dir()]


def ld_so_conf_lines(conf_file: Path, depth: int = 0) -> list[str]:
    """Directories listed in an ld.so.conf file, following its ``include`` lines."""
    if depth > 5 or not is_readable_file(conf_file):
        return []
    directories = []
    for raw_line in conf_file.read_text(errors="replace").splitlines():
        line = raw_line.split("#", 1)[0].strip()
        if line.startswith("include "):
            pattern = line.removeprefix("include ").strip()
            pattern_path = conf_file.parent / pattern  # an absolute pattern replaces the parent
            for included in sorted(pattern_path.parent.glob(pattern_path.name)):
                directories += ld_so_conf_lines(included, depth + 1)
        elif line.startswith("/"):
            directories.append(line)
    return directories


@dataclass(frozen=True)
class MissingLibrary:
    name: str  # the DT_NEEDED entry nobody could satisfy
    needed_by: Path  # the extension module or library that lists it
    hint: str = ""


class LibraryResolver:
    """Resolves DT_NEEDED names like the dynamic loader, remembering every answer it found."""

    def __init__(self) -> None:
        self.standard_directories = standard_library_directories()
        self.ld_library_path = [
            part for part in os.environ.get("LD_LIBRARY_PATH", "").split(":") if part
        ]
        self.resolved_names: set[str] = set()
        self._elf_info: dict[Path, ElfDynamicInfo | None] = {}
        self._loadable: dict[str, bool] = {}
        self._missing: dict[Path, list[MissingLibrary]] = {}

    def elf_info(self, path: Path) -> ElfDynamicInfo | None:
        if path not in self._elf_info:
            try:
                self._elf_info[path] = read_elf_dynamic_info(path)
            except (OSError, struct.error, ValueError):
                self._elf_info[path] = None  # unreadable or truncated: treated as not ELF
        return self._elf_info[path]

    def missing_libraries(
        self, path: Path, inherited_rpath: tuple[str, ...] = ()
    ) -> list[MissingLibrary]:
        """Libraries that ``path`` needs, directly or through its own libraries, and lacks."""
        if path in self._missing:
            return self._missing[path]
        self._missing[path] = []  # a dependency cycle ends here instead of looping forever
        info = self.elf_info(path)
        if info is None:
            return []
        # DT_RPATH is inherited by the libraries loaded on its behalf, unless they have a
        # DT_RUNPATH (which disables RPATH). Results are cached by file, not by chain: a
        # simplification that only matters for unusual mixes of RPATH-linked libraries.
        rpath = () if info.runpath else (*info.rpath, *inherited_rpath)
        missing = []
        for name in info.needed:
            found, library_path = self.locate(name, path, info, rpath)
            if not found:
                missing.append(MissingLibrary(name, path, self.cache_hint(name, info)))
                continue
            self.resolved_names.add(name)
            if library_path is not None:
                missing.extend(self.missing_libraries(library_path, rpath))
        self._missing[path] = missing
        return missing

    def locate(
        self, name: str, needer: Path, info: ElfDynamicInfo, rpath: tuple[str, ...]
    ) -> tuple[bool, Path | None]:
        """Whether the loader would find library ``name``, and its file if we can tell."""
        if "/" in name:  # a path, not a name: used as it is
            path = Path(name)
            return (is_readable_file(path), path if is_readable_file(path) else None)

        # Search order of the loader: RPATH, LD_LIBRARY_PATH, RUNPATH, then its cache and the
        # default directories. $ORIGIN is the directory of the file that needs the library.
        origin = str(needer.parent)
        search_path = [*rpath, *self.ld_library_path, *info.runpath]
        for directory in search_path:
            expanded = directory.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
            candidate = self.compatible_file(Path(expanded) / name, info)
            if candidate:
                return True, candidate

        if ctypes is None:  # no way to ask the real loader: rely on the default directories
            candidate = self.in_standard_directories(name, info)
            return candidate is not None, candidate

        # Let the real loader decide, with its ld.so.cache: a file that exists in a directory
        # the cache does not list (copied in without running ldconfig) is not found either.
        if name not in self._loadable:
            try:
                ctypes.CDLL(name)
                self._loadable[name] = True
            except OSError:
                self._loadable[name] = False
        if not self._loadable[name]:
            return False, None
        return True, self.in_standard_directories(name, info)

    def in_standard_directories(self, name: str, info: ElfDynamicInfo) -> Path | None:
        for directory in self.standard_directories:
            candidate = self.compatible_file(directory / name, info)
            if candidate:
                return candidate
        return None

    def compatible_file(self, path: Path, needer: ElfDynamicInfo) -> Path | None:
        """``path`` if it is a library the needer can use: ELF, same word size and CPU."""
        info = self.elf_info(path) if is_readable_file(path) else None
        if info is None or (info.word_size, info.machine) != (needer.word_size, needer.machine):
            return None
        return path

    def cache_hint(self, name: str, info: ElfDynamicInfo) -> str:
        copy = self.in_standard_directories(name, info)
        if copy is None:
            return ""
        return f"; {copy} exists but the loader's cache does not list it: run ldconfig"


# Standard-library extensions the official python:*-slim images ship broken on
# purpose, with the reason. A web service never imports them; anything else that
# cannot find its libraries is a failure.
DELIBERATELY_BROKEN_EXTENSIONS = {
    "_tkinter": "slim images leave out Tcl/Tk, which only GUI programs need",
}


def check_shared_libraries() -> CheckResult:
    resolver = LibraryResolver()
    # Files named .so that are not ELF (a linker script, say) are nothing the loader loads.
    extensions = {
        path: label
        for path, label in find_extension_modules().items()
        if resolver.elf_info(path) is not None and not is_deliberately_broken(path)
    }
    # missing library (and a hint) -> who needs it; a dict keeps them in order, without repeats
    missing_by_library: dict[tuple[str, str], dict[str, None]] = collections.defaultdict(dict)
    refused = []
    for extension, label in extensions.items():
        missing = resolver.missing_libraries(extension)
        for library in missing:
            needer = label
            if library.needed_by != extension:  # needed by one of the extension's libraries
                needer = f"{label} through {library.needed_by.name}"
            missing_by_library[library.name, library.hint][needer] = None
        # The last word belongs to the real loader, which also checks symbol versions.
        if ctypes is not None and not missing:
            try:
                ctypes.CDLL(str(extension))
            except OSError as error:
                refused.append(f"{label}: the dynamic loader refuses it: {error}")

    problems = [
        f"{name} not found (needed by {', '.join(needers)}{hint})"
        for (name, hint), needers in sorted(missing_by_library.items())
    ]
    if ctypes is None:
        problems.append("ctypes cannot be imported, so the real loader could not be asked")
    problems += refused
    counts = f"{len(extensions)} extensions, {len(resolver.resolved_names)} libraries resolved"
    if problems:
        return fail_with(f"{counts}, {len(problems)} problem(s)", problems)
    return pass_with(counts)


def is_deliberately_broken(extension: Path) -> bool:
    """A standard-library extension listed in DELIBERATELY_BROKEN_EXTENSIONS."""
    module = extension.name.split(".", 1)[0]
    return module in DELIBERATELY_BROKEN_EXTENSIONS and extension.parent.name == "lib-dynload"


def find_extension_modules() -> dict[Path, str]:
    """Every ``*.so`` under the sys.path directories, with a short label for the report."""
    # An empty entry means the working directory.
    entries = [Path(entry or ".") for entry in sys.path]
    roots = list(dict.fromkeys(entry.resolve() for entry in entries if entry.is_dir()))
    extensions: dict[Path, str] = {}
    for root in roots:
        for folder, subfolders, files in os.walk(root):
            folder_path = Path(folder)
            # Other sys.path entries are walked on their own; a site-packages directory that
            # is not on sys.path (the base interpreter's, seen from a venv) is invisible.
            subfolders[:] = [
                name
                for name in subfolders
                if (folder_path / name) not in roots
                and name not in ("site-packages", "dist-packages", "__pycache__")
            ]
            for name in files:
                if name.endswith(".so"):
                    path = folder_path / name
                    label = f"{root.name}/{path.relative_to(root)}"
                    extensions.setdefault(path.resolve(), label)
    return extensions


# --------------------------------------------------------------------------------------------
# http
# --------------------------------------------------------------------------------------------

STARTUP_TIMEOUT_SECONDS = 15
SHUTDOWN_TIMEOUT_SECONDS = 10
REQUEST_TIMEOUT_SECONDS = 2
# /readyz may wait for a dependency before it answers 503 (a database check has
# its own timeout, 2 s by default), so it gets longer.
READINESS_TIMEOUT_SECONDS = 15
SERVER_OUTPUT_LINES = 20

# urllib honours HTTP_PROXY and friends; a request to the service itself must not use a proxy.
URL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class HttpAnswer:
    status: int
    body: str


def http_get(url: str, timeout: float = REQUEST_TIMEOUT_SECONDS) -> HttpAnswer:
    """GET ``url``; an error status such as 503 is an answer too, not an exception."""
    try:
        with URL_OPENER.open(url, timeout=timeout) as response:
            return HttpAnswer(response.status, response.read().decode(errors="replace"))
    except urllib.error.HTTPError as error:
        with error:
            return HttpAnswer(error.code, error.read().decode(errors="replace"))


def wait_for_answer(url: str, server: subprocess.Popen | None) -> HttpAnswer:
    """Poll ``url`` until the service answers at all; the server may still be starting."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        if server is not None and server.poll() is not None:
            raise RuntimeError(f"server exited with code {server.returncode} before answering")
        try:
            return http_get(url)
        except (OSError, http.client.HTTPException) as error:  # not listening (yet)
            if time.monotonic() > deadline:
                reason = first_line(getattr(error, "reason", error))  # URLError wraps the cause
                raise RuntimeError(
                    f"no answer from {url} within {STARTUP_TIMEOUT_SECONDS} s: {reason}"
                ) from error
        time.sleep(0.1)


def probe_endpoints(base_url: str, server: subprocess.Popen | None) -> tuple[list[str], str]:
    """Problems found on /healthz (must be 200 with JSON) and /readyz, plus a readiness note.

    /readyz may answer 503: the smoke test runs without the service's
    dependencies (a database, say), and reporting that is /readyz's job. Any
    other answer than 200 or 503 is a problem.
    """
    health = wait_for_answer(f"{base_url}/healthz", server)
    if health.status != 200:
        return [f"/healthz answered {health.status}: {health.body[:200]}"], ""
    try:
        json.loads(health.body)
    except ValueError:
        return [f"/healthz answered 200 but not with JSON: {health.body[:200]!r}"], ""
    try:
        readiness = http_get(f"{base_url}/readyz", timeout=READINESS_TIMEOUT_SECONDS)
    except (OSError, http.client.HTTPException) as error:
        return [f"/readyz gave no answer within {READINESS_TIMEOUT_SECONDS} s: {error}"], ""
    if readiness.status == 200:
        return [], "/readyz 200"
    if readiness.status == 503:
        # The body says which dependency is not ready, so it is the useful part.
        return [], f"/readyz 503 without its dependencies: {readiness.body[:300]}"
    return [f"/readyz answered {readiness.status}: {readiness.body[:500]}"], ""


def check_http(base_url: str | None) -> CheckResult:
    if base_url is not None:
        try:
            problems, readiness = probe_endpoints(base_url, server=None)
        except RuntimeError as error:
            problems, readiness = [str(error)], ""
        if problems:
            return fail_with(f"service at {base_url} is not healthy", problems)
        return pass_with(f"{base_url}: /healthz 200 with JSON, {readiness}")

    port = free_local_port()
    environment = {**os.environ, PORT_VARIABLE: str(port), HOST_VARIABLE: "127.0.0.1"}
    # The same command as the image's CMD; no shell is involved (and none may exist).
    server = subprocess.Popen(
        [sys.executable, "-m", "app"],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output = ServerOutput(server)
    readiness = ""
    try:
        problems, readiness = probe_endpoints(f"http://127.0.0.1:{port}", server)
        shutdown = stop_with_sigterm(server)
    except RuntimeError as error:
        problems, shutdown = [str(error)], None
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    if shutdown is not None and not shutdown.passed:
        problems.append(shutdown.summary)

    if problems:
        tail = [f"| {line}" for line in output.last_lines()]
        return fail_with(
            f"python -m app on port {port} failed",
            [*problems, "last lines of the server's output:", *tail],
        )
    return pass_with(f"/healthz 200 with JSON, {readiness}, {shutdown.summary}")


def stop_with_sigterm(server: subprocess.Popen) -> CheckResult:
    """``docker stop`` sends SIGTERM: the server must finish its requests and exit with 0."""
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    try:
        code = server.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return fail_with(f"still running {SHUTDOWN_TIMEOUT_SECONDS} s after SIGTERM")
    seconds = time.monotonic() - started
    if code == -signal.SIGTERM:
        # Default SIGTERM handling kills the process instead of shutting it down; uvicorn
        # also re-raises the signal after its own graceful shutdown unless the app handles it.
        return fail_with(f"killed by SIGTERM after {seconds:.1f} s instead of exiting with 0")
    if code != 0:
        return fail_with(f"exited with code {code} after SIGTERM, expected 0")
    return pass_with(f"exit 0 on SIGTERM in {seconds:.1f} s")


def free_local_port() -> int:
    """A port nobody listens on: bind to port 0 and let the kernel choose."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerOutput:
    """Keeps the last lines of the server's output; reading also keeps the pipe from filling."""

    def __init__(self, server: subprocess.Popen) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=SERVER_OUTPUT_LINES)
        self._reader = threading.Thread(target=self._read, args=(server.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream) -> None:
        for raw_line in stream:
            self._lines.append(raw_line.decode(errors="replace").rstrip())

    def last_lines(self) -> list[str]:
        self._reader.join(timeout=1)  # the server has exited: let the reader catch up
        return list(self._lines) or ["(no output)"]


# --------------------------------------------------------------------------------------------
# running the checks
# --------------------------------------------------------------------------------------------


def run_check(check: Callable[[], CheckResult]) -> CheckResult:
    """Run one check; a crash is that check's failure and must not stop the others."""
    try:
        return check()
    except Exception as error:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        return fail_with(
            f"check crashed: {first_line(error)}",
            [f"at {frame.filename}:{frame.lineno} in {frame.name}()"],
        )


def http_url(text: str) -> str:
    """argparse type for --url: an http(s) base URL, without a trailing slash."""
    if urllib.parse.urlsplit(text).scheme not in ("http", "https"):
        raise argparse.ArgumentTypeError(f"not an http:// or https:// URL: {text}")
    return text.rstrip("/")


def parse_arguments(arguments: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Check that this container image works: see the module docstring."
    )
    parser.add_argument(
        "--url", type=http_url, help="check the service already running at this base URL"
    )
    parser.add_argument("--skip-http", action="store_true", help="skip the http check")
    parser.add_argument("--quiet", action="store_true", help="print only failures and summary")
    return parser.parse_args(arguments)


def main(arguments: list[str] | None = None) -> int:
    options = parse_arguments(arguments)
    checks: list[tuple[str, Callable[[], CheckResult] | None]] = [
        ("non-root", check_non_root),
        ("no-compiler", check_no_compiler),
        ("imports", check_imports),
        ("shared-libraries", check_shared_libraries),
        ("http", None if options.skip_http else lambda: check_http(options.url)),
    ]
    counts = collections.Counter()
    for name, check in checks:
        if check is None:
            counts["skipped"] += 1
            if not options.quiet:
                print(f"SKIP  {name}  --skip-http given", flush=True)
            continue
        result = run_check(check)
        counts["passed" if result.passed else "failed"] += 1
        if result.passed and options.quiet:
            continue
        print(f"{'PASS' if result.passed else 'FAIL'}  {name}  {result.summary}", flush=True)
        for culprit in result.culprits:
            print(f"      {culprit}", flush=True)

    summary = f"smoke test: {counts['passed']} passed, {counts['failed']} failed"
    if counts["skipped"]:
        summary += f", {counts['skipped']} skipped"
    print(summary, flush=True)
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
