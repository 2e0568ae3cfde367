"""Smoke test for the production container image, run inside it as it will run in production:

    docker run --rm --read-only --tmpfs /tmp IMAGE python scripts/smoke_test.py

Standard library only (the runtime image has nothing else: no shell, no pip, no compiler), and
it writes nothing, so it works as the image's non-root user on a read-only root file system.
Each check catches a mistake that tests in the builder stage never see, because the builder
has everything. One line per check, PASS or FAIL, then each problem indented; exit code 0
only if every check passed.

non-root          not root, and the application code is not writable by the user running it
no-compiler       no compiler and no -dev package: they belong to the builder stage
imports           the top-level modules of every installed distribution import
shared-libraries  the dynamic loader loads every extension module (*.so): else it names the file
tls-ca-store      the default TLS context trusts the image's CA bundle
tls-handshake     a TLS handshake on 127.0.0.1 verifies (against the check's own test CA)
locale            the locale in LANG works (C.UTF-8)
time-zone         a time zone loads (zoneinfo)
services          a service name resolves (/etc/services)
find-library      ctypes.util.find_library finds the C library
http              `python -m app` answers /healthz and /readyz, and exits 0 on SIGTERM
Options (see --help): --url to check a running service, --skip-http, --quiet.
"""

import argparse
import collections
import datetime
import importlib.machinery
import importlib.metadata
import json
import locale
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zoneinfo
from pathlib import Path

# The service reads its settings from environment variables with this prefix.
PORT_VARIABLE = "{{ cookiecutter.__env_prefix }}PORT"
HOST_VARIABLE = "{{ cookiecutter.__env_prefix }}HOST"
MAX_PROBLEMS = 50  # a thousand writable files are cut to this many lines

# A check returns (summary, problems): what it saw, one line per problem. None is a PASS.
Result = tuple[str, list[str]]


def first_line(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


# ------------------------------------------------------------------------------- non-root ---
def check_non_root() -> Result:
    identity = f"uid={os.getuid()} euid={os.geteuid()} gid={os.getgid()}"
    problems = []
    if os.getuid() == 0 or os.geteuid() == 0:
        problems.append(f"running as root ({identity}): the image needs a numeric non-root USER")
    # `python -m app` finds the package with the working directory first on sys.path.
    spec = importlib.machinery.PathFinder.find_spec("app", [str(Path.cwd()), *sys.path])
    if spec is None or not spec.submodule_search_locations:
        return identity, [*problems, "package 'app' not found: its permissions are unknown"]
    app_directory = Path(next(iter(spec.submodule_search_locations)))
    for folder, _subfolders, files in os.walk(app_directory):
        for path in [Path(folder), *(Path(folder) / name for name in files)]:
            if permits_writing(path):
                problems.append(f"{path} is writable")
    return f"{identity}, code in {app_directory} is read-only", problems


def permits_writing(path: Path) -> bool:
    """From owner and mode, not os.access(), which says no to all on a read-only file system."""
    if os.geteuid() == 0:
        return True  # root may write anything (and running as root fails anyway)
    info = path.stat()
    if info.st_uid == os.geteuid():
        return bool(info.st_mode & stat.S_IWUSR)
    if info.st_gid in {os.getegid(), *os.getgroups()}:
        return bool(info.st_mode & stat.S_IWGRP)
    return bool(info.st_mode & stat.S_IWOTH)


# ---------------------------------------------------------------------------- no-compiler ---
COMPILER_NAMES = ("gcc", "cc", "c++", "g++", "clang")
# Debian also installs versioned and target-prefixed names (gcc-12, x86_64-linux-gnu-gcc-12).
COMPILER_FILE_NAME = re.compile(r"^(?:[\w.-]+-)?(?:gcc|g\+\+|c\+\+|cc|clang)(?:-[\d.]+)?$")
DPKG_STATUS = Path("/var/lib/dpkg/status")  # what Debian installed; absent in minimal


def check_no_compiler() -> Result:
    on_path = [Path(found) for found in map(shutil.which, COMPILER_NAMES) if found]
    candidates = [*on_path, *Path("/usr/bin").glob("*"), *Path("/usr/local/bin").glob("*")]
    # is_file() follows links: a dangling link (to a removed compiler) is no compiler.
    found = {str(p) for p in candidates if COMPILER_FILE_NAME.match(p.name) and p.is_file()}
    problems = [f"compiler {path}" for path in sorted(found)]
    if not DPKG_STATUS.exists():
        return f"no compiler on PATH; no dpkg database at {DPKG_STATUS}", problems
    pattern = r"^Package: (\S+)\n(?:.+\n)*?Status: install ok installed"
    packages = re.findall(pattern, DPKG_STATUS.read_text(errors="replace"), re.MULTILINE)
    dev = sorted(name for name in packages if name.endswith("-dev"))
    if dev:  # often dozens at once (build-essential): one line names them all
        problems.append(f"{len(dev)} -dev package(s): {', '.join(dev)}")
    return f"no compiler on PATH; no -dev package among {len(packages)} Debian packages", problems


# -------------------------------------------------------------------------------- imports ---
def check_imports() -> Result:
    # From top_level.txt or RECORD; numpy.libs and __editable__ hooks are no modules.
    modules = {
        module: f"{names[0]} {importlib.metadata.version(names[0])}"
        for module, names in importlib.metadata.packages_distributions().items()
        if module.isidentifier() and not module.startswith("__")
    }
    problems = []
    with warnings.catch_warnings():  # deprecation warnings are not failures
        warnings.simplefilter("ignore")
        # pip last: on Python < 3.12 it moves setuptools' distutils shim aside.
        for module, label in sorted(modules.items(), key=lambda item: (item[0] == "pip", item)):
            try:
                importlib.import_module(module)
            except (Exception, SystemExit) as error:  # whatever goes wrong is the finding
                problems.append(f"{module} (from {label}): {first_line(error)}")
    return f"{len(set(modules.values()))} distributions, {len(modules)} modules", problems


# ----------------------------------------------------------------------- shared-libraries ---
# ctypes.CDLL is dlopen(): the loader, search rules and error of an import, without running
# the module. One child process per package: no package's libraries hide another's gaps.
LOADER = """import ctypes, json, sys
errors = {}
for path in sys.argv[1:]:
    try:
        ctypes.CDLL(path)
    except OSError as error:
        errors[path] = str(error).removeprefix(path + ": ")
print(json.dumps(errors))"""


def check_shared_libraries() -> Result:
    packages = collections.defaultdict(dict)  # site-packages/numpy: {path: label}
    for path, label in find_extension_modules().items():
        parts = label.split("/")
        packages["/".join(parts[:2]) if len(parts) > 2 else parts[0]][path] = label
    failed = collections.defaultdict(list)  # the loader's error: labels of the modules
    for package, files in packages.items():
        command = [sys.executable, "-c", LOADER, *files]  # this interpreter, files found above
        child = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if child.returncode != 0:
            last = (child.stderr.strip().splitlines() or [f"exit code {child.returncode}"])[-1]
            failed[f"the loader process failed: {last}"].append(package)
            continue
        for path, error in json.loads(child.stdout).items():
            failed[error].append(files[path])
    problems = [
        f"{error} (loading {', '.join(sorted(labels)[:3])}{', ...' * (len(labels) > 3)})"
        for error, labels in sorted(failed.items())
    ]
    count = sum(len(files) for files in packages.values())
    return f"{count} extension modules in {len(packages)} packages", problems


def find_extension_modules() -> dict[str, str]:
    """{real path: label} of each ELF *.so below sys.path (site-packages/psycopg2/_psycopg...)."""
    roots = {Path(entry or ".").resolve() for entry in sys.path}  # "" is the working dir
    found = {}
    for root in sorted((r for r in roots if r.is_dir()), key=lambda r: -len(r.parts)):
        for path in root.rglob("*.so"):
            # The official slim images leave out Tcl/Tk on purpose: services never use tkinter.
            if path.parent.name == "lib-dynload" and path.name.startswith("_tkinter."):
                continue
            with path.open("rb") as file:  # a linker script named .so is no library
                if file.read(4) == b"\x7fELF":
                    found.setdefault(str(path.resolve()), f"{root.name}/{path.relative_to(root)}")
    return found


# ------------------------------------------------------------------ tls-ca-store, handshake ---
def check_tls_ca_store() -> Result:
    import ssl  # needs _ssl and libssl: an ImportError here is a finding too

    paths = ssl.get_default_verify_paths()  # cafile and capath are None if they do not exist
    problems = []
    for kind, path in [("cafile", paths.cafile), ("capath", paths.capath)]:
        if path is None:
            default = getattr(paths, f"openssl_{kind}")
            problems.append(f"{kind} {default} does not exist (where OpenSSL looks by default)")
        elif not os.access(path, os.R_OK):
            problems.append(f"{kind} {path} is not readable by uid {os.getuid()}")
    count = ssl.create_default_context().cert_store_stats()["x509_ca"]
    if count == 0:
        problems.append("the default TLS context trusts no CA certificate")
    bundle = f"{paths.cafile} ({Path(paths.cafile or '.').resolve()}), {paths.capath}"
    return f"{count} CA certificates from {bundle}", problems


# TEST ONLY, published on purpose: a throwaway CA and a server certificate it signed for
# localhost and 127.0.0.1 (EC P-256, valid 2000-9999), with the server's key. Nothing trusts
# this CA but the client context in check_tls_handshake (cadata= loads it instead of the
# image's store), so its key opens nothing; it lets the check verify a chain without network.
TEST_CA = """-----BEGIN CERTIFICATE-----
MIIBZTCCAQqgAwIBAgIBATAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAx0ZXN0LW9u
bHkgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPOTk5OTEyMzEyMzU5NTlaMBcxFTATBgNV
BAMMDHRlc3Qtb25seSBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABMeu62zt
twl92ag9MPxbB7MU9X4DZ/fz4+tukyGtu//KLsKcZ1ncj5rdfei+5RdMrGralB9r
8A1Hh7D89ND/+lGjRTBDMBIGA1UdEwEB/wQIMAYBAf8CAQAwDgYDVR0PAQH/BAQD
AgEGMB0GA1UdDgQWBBTaUg+3o3fOAUUI7DoXWEDiRChovTAKBggqhkjOPQQDAgNJ
ADBGAiEAruFfHGz02Zk6sqMKjT0DJxLlKSinXH3WBuPPp/YxhScCIQDWLjcA0+XE
vevtXuzhndq6IPXnE7Eu52n9tm+8cnRLBQ==
-----END CERTIFICATE-----"""
TEST_SERVER_KEY_AND_CERTIFICATE = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgWol57pgd6nlrokqG
q0hveap9buFhBjT0aLs89iJkcTWhRANCAATYToUqRIXJYtkgtI+TvBh+DDZ0PAZi
2uJ9BYZWsfOtJV+mRs/72I6cJ+4nemdNZ7U2f2WHAWEAxY+fg5Ev2XJ0
-----END PRIVATE KEY-----
-----BEGIN CERTIFICATE-----
MIIBfjCCASOgAwIBAgIBAjAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAx0ZXN0LW9u
bHkgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPOTk5OTEyMzEyMzU5NTlaMAAwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAATYToUqRIXJYtkgtI+TvBh+DDZ0PAZi2uJ9BYZW
sfOtJV+mRs/72I6cJ+4nemdNZ7U2f2WHAWEAxY+fg5Ev2XJ0o3UwczAMBgNVHRMB
Af8EAjAAMA4GA1UdDwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNV
HREBAf8EEzARgglsb2NhbGhvc3SHBH8AAAEwHwYDVR0jBBgwFoAU2lIPt6N3zgFF
COw6F1hA4kQoaL0wCgYIKoZIzj0EAwIDSQAwRgIhAJaJD4rDxkEGugQWqH9ftAE9
iN/yUXm68eAFuNUQ8gC2AiEA7qcZnL3l72wlKvjz9C9ACx54zvX1KfQQ2x107mM/
30M=
-----END CERTIFICATE-----"""


def check_tls_handshake() -> Result:
    import ssl

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain() reads only files: an in-memory file keeps the image unwritten.
    memory_file = os.memfd_create("smoke-test-server.pem")
    try:
        os.write(memory_file, TEST_SERVER_KEY_AND_CERTIFICATE.encode())
        server_context.load_cert_chain(f"/proc/self/fd/{memory_file}")
    finally:
        os.close(memory_file)
    client_context = ssl.create_default_context(cadata=TEST_CA)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)
        server = threading.Thread(target=serve_once, args=(listener, server_context), daemon=True)
        server.start()
        try:  # wrap_socket() makes the handshake, verifying the server's certificate
            with (
                socket.create_connection(listener.getsockname(), timeout=5) as connection,
                client_context.wrap_socket(connection, server_hostname="localhost") as tls,
            ):
                version = tls.version()
        except OSError as error:  # ssl.SSLError included: a failed verification, say
            return "TLS handshake on 127.0.0.1", [first_line(error)]
        finally:
            server.join(5)
    return f"{version} on 127.0.0.1, verified against the check's test CA", []


def serve_once(listener: socket.socket, context) -> None:
    try:
        connection, _address = listener.accept()
        context.wrap_socket(connection, server_side=True).close()  # the handshake, then bye
    except OSError:
        pass  # the client reports a failed handshake, which is the finding


# --------------------------------------------- locale, time-zone, services, find-library ---
def check_locale() -> Result:
    lang = os.environ.get("LC_ALL") or os.environ.get("LANG") or "(unset)"
    try:
        name = locale.setlocale(locale.LC_ALL, "")  # what C code does with LANG
    except locale.Error as error:
        return f"LANG={lang}", [f"setlocale(LC_ALL, '') failed: {error}: its data is missing"]
    encoding = locale.getencoding()
    problems = [] if encoding == "UTF-8" else [f"locale {name} encodes {encoding}, not UTF-8"]
    return f"LANG={lang}: locale {name}, encoding {encoding}", problems


def check_time_zone() -> Result:
    try:
        offset = zoneinfo.ZoneInfo("Europe/Berlin").utcoffset(datetime.datetime(2025, 7, 1))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        searched = f"searched {', '.join(zoneinfo.TZPATH) or 'no directory'} and package tzdata"
        return "time zone Europe/Berlin", [first_line(error), searched]
    source = next((p for p in zoneinfo.TZPATH if Path(p, "Europe/Berlin").is_file()), "tzdata")
    return f"Europe/Berlin (UTC+{offset} in summer) from {source}", []


def check_services() -> Result:
    try:
        port = socket.getservbyname("http", "tcp")  # /etc/services, as /etc/nsswitch.conf says
    except OSError as error:
        files = [Path("/etc/services"), Path("/etc/nsswitch.conf")]
        missing = [f"{file} is missing" for file in files if not file.exists()]
        return "getservbyname('http')", [str(error), *missing]
    return f"getservbyname('http') = {port}", []


def check_find_library() -> Result:
    import ctypes.util  # needs _ctypes and libffi: an ImportError here is a finding too

    name = ctypes.util.find_library("c")  # asks `/sbin/ldconfig -p`: the loader's cache
    if name is None:
        return "ctypes.util.find_library('c')", ["found nothing: is /sbin/ldconfig there?"]
    ctypes.CDLL(name)
    return f"ctypes.util.find_library('c') = {name}, and it loads", []


# ----------------------------------------------------------------------------------- http ---
# urllib honours HTTP_PROXY and friends; requests to the service itself must not use a proxy.
URL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 2) -> tuple[int, str]:
    """(status, body); an error status such as 503 is an answer too, not an exception."""
    try:
        with URL_OPENER.open(url, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode(errors="replace")


def probe(base_url: str, server: subprocess.Popen | None) -> tuple[str, str]:
    """(problem, note): /healthz 200 with JSON; /readyz 200, or 503 naming what is missing."""
    deadline = time.monotonic() + 15
    while True:  # the server may still be starting
        if server is not None and server.poll() is not None:
            return f"server exited with code {server.returncode} before answering", ""
        try:
            status, body = http_get(f"{base_url}/healthz")
            break
        except OSError as error:
            if time.monotonic() > deadline:
                reason = first_line(getattr(error, "reason", error))  # URLError wraps it
                return f"no answer from {base_url}/healthz within 15 s: {reason}", ""
            time.sleep(0.1)
    try:
        json.loads(body)
    except ValueError:
        status = f"{status} without JSON"
    if status != 200:
        return f"/healthz answered {status}: {body[:200]!r}", ""
    try:  # a database check has its own timeout (2 s by default): give it time
        status, body = http_get(f"{base_url}/readyz", timeout=15)
    except OSError as error:
        return f"/readyz gave no answer within 15 s: {first_line(error)}", ""
    if status not in (200, 503):
        return f"/readyz answered {status}: {body[:500]}", ""
    readiness = "/readyz 200" if status == 200 else f"/readyz 503 without: {body[:300]}"
    return "", f"/healthz 200 with JSON, {readiness}"


def check_http(base_url: str | None) -> Result:
    if base_url is not None:
        problem, readiness = probe(base_url, None)
        return f"{base_url}: {readiness or 'not healthy'}", [problem] * bool(problem)
    with socket.socket() as free:  # a port nobody listens on: the kernel chooses
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    # The image's CMD, without a shell (there may be none).
    server = subprocess.Popen(
        [sys.executable, "-m", "app"],
        env={**os.environ, PORT_VARIABLE: str(port), HOST_VARIABLE: "127.0.0.1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output = collections.deque(maxlen=20)  # its last lines; reading keeps the pipe from filling
    reader = threading.Thread(target=output.extend, args=(server.stdout,), daemon=True)
    reader.start()
    try:
        problem, readiness = probe(f"http://127.0.0.1:{port}", server)
        stopped = stop_with_sigterm(server) if server.poll() is None else ""
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
    if not problem and stopped.startswith("exit 0"):
        return f"{readiness}, {stopped}", []
    reader.join(timeout=1)
    tail = [f"| {line.decode(errors='replace').rstrip()}" for line in output] or ["| (none)"]
    problems = [text for text in (problem, stopped) if text and not text.startswith("exit 0")]
    return f"python -m app on port {port}", [*problems, "its last output:", *tail]


def stop_with_sigterm(server: subprocess.Popen) -> str:
    """`docker stop` sends SIGTERM: the server must finish its requests and exit with 0."""
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    try:
        code = server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        return "still running 10 s after SIGTERM"
    seconds = time.monotonic() - started
    if code != 0:  # -15: the signal's default action killed it instead of a shutdown
        return f"exit code {code} {seconds:.1f} s after SIGTERM, instead of exiting with 0"
    return f"exit 0 on SIGTERM in {seconds:.1f} s"


# ------------------------------------------------------------------------ running the checks ---
CHECKS = [check_non_root, check_no_compiler, check_imports, check_shared_libraries]
CHECKS += [check_tls_ca_store, check_tls_handshake, check_locale, check_time_zone]
CHECKS += [check_services, check_find_library, check_http]


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check this container image: see the docstring.")
    parser.add_argument("--url", help="check the service running at this http(s) base URL")
    parser.add_argument("--skip-http", action="store_true", help="skip the http check")
    parser.add_argument("--quiet", action="store_true", help="print only failures and summary")
    options = parser.parse_args(arguments)
    if options.url and urllib.parse.urlsplit(options.url).scheme not in ("http", "https"):
        parser.error(f"--url needs an http:// or https:// URL, not {options.url!r}")
    base_url = options.url.rstrip("/") if options.url else None
    counts = collections.Counter()
    for check in CHECKS:
        name = check.__name__.removeprefix("check_").replace("_", "-")  # check_non_root: non-root
        if check is check_http and options.skip_http:
            counts["skipped"] += 1
            print("" if options.quiet else f"SKIP  {name}  --skip-http given\n", end="")
            continue
        try:
            summary, problems = check(base_url) if check is check_http else check()
        except Exception as error:  # a crash fails this check and must not stop the others
            frame = traceback.extract_tb(error.__traceback__)[-1]
            summary = f"check crashed: {first_line(error)}"
            problems = [f"at {frame.filename}:{frame.lineno} in {frame.name}()"]
        counts["failed" if problems else "passed"] += 1
        if problems or not options.quiet:
            print(f"{'FAIL' if problems else 'PASS'}  {name}  {summary}")
        if len(problems) > MAX_PROBLEMS:
            problems[MAX_PROBLEMS:] = [f"... and {len(problems) - MAX_PROBLEMS} more"]
        print("".join(f"      {problem}\n" for problem in problems), end="", flush=True)
    summary = f"smoke test: {counts['passed']} passed, {counts['failed']} failed"
    print(summary + (f", {counts['skipped']} skipped" if counts["skipped"] else ""), flush=True)
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
