"""Check the built production image from the outside: what only the host can see.

    python3 scripts/check_image.py IMAGE [--port PORT] [--quick] [--check NAME ...]
    make docker-check               # builds the image first, then runs every check

scripts/smoke_test.py is the inside view (imports, shared libraries, user, no
compiler, the service answering in the container); this script runs it as its
last check. Everything else here needs the engine: the image's configuration,
the build context, its layers, a run with the hardening options, `docker stop`,
a port published to the host. Standard library only; it drives the Docker CLI
named by the DOCKER variable (default `docker`) and never needs a shell in the
image, so it works for the minimal runtime too.

Checks (each prints one PASS or FAIL line; a failure lists its culprits):

config    numeric non-root USER (UID and GID), exec-form CMD, ENTRYPOINT and
          HEALTHCHECK, the port in EXPOSE, no secret-looking ENV, no credential
          in the history (build arguments are recorded there in clear text)
context   canary files planted in a copy of the build context (.env, .git, a
          virtualenv, tests, caches, the Dockerfile) must not reach the builder,
          and nothing of the kind may be in the image's working directory
layers    no file stored twice: the same path or the same content in two layers
hardened  --read-only, no capabilities, no privilege gain, memory and PID limits,
          as the image's user and as -u 123456:0: /healthz answers 200 through
          a port published on the host, and the engine reports `healthy`; and
          without --tmpfs, the image's own /tmp takes a temporary file
stop      `docker stop` with a slow request in flight (a route the checker
          injects; the shipped app has none): the request gets 200 and the
          container exits 0 well within the stop timeout, also under --init
limits    a body over the size limit gets 413: a declared Content-Length before
          any of it is sent, a chunked one while it streams
startup   every module the service loads at start-up has its bytecode in the
          image; prints the time from `docker run` to the first 200
stripped  no compiled extension in the venv still carries debug information
smoke     scripts/smoke_test.py inside the container, read-only
"""

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = {{ cookiecutter.http_port }}
# A writable /tmp in memory inside the container (not the host's /tmp).
READ_ONLY = ["--read-only", "--tmpfs", "/tmp"]  # noqa: S108
HARDENING = [
    *READ_ONLY,
    *("--cap-drop", "ALL"),
    *("--security-opt", "no-new-privileges", "--memory", "256m", "--pids-limit", "128"),
]
VENV = "/opt/venv"  # where the Dockerfile installs the locked packages
STOP_TIMEOUT_SECONDS = 10  # docker stop's default grace period
STOP_LIMIT_SECONDS = 6  # "well within": the service must not need the whole grace period
SLOW_REQUEST_SECONDS = 2
# urllib honours HTTP_PROXY; requests to the container must not go through a proxy.
URL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Result:
    passed: bool
    summary: str
    culprits: list[str] = field(default_factory=list)


def verdict(problems: list[str], summary: str) -> Result:
    """PASS with `summary` when there are no problems, else FAIL listing them."""
    if problems:
        return Result(False, f"{len(problems)} problem(s)", problems)
    return Result(True, summary)


# ------------------------------------------------------------------ Docker ---


def docker_cli() -> list[str]:
    return shlex.split(os.environ.get("DOCKER", "docker"))


def docker(
    *args: str, timeout: float = 120, text: bool = True, **kwargs
) -> subprocess.CompletedProcess:
    """Run a Docker command with BuildKit; never raises on a non-zero exit."""
    # The Docker CLI with this script's own arguments; no shell is involved.
    return subprocess.run(  # noqa: S603
        [*docker_cli(), *args],
        capture_output=True,
        text=text,
        check=False,
        timeout=timeout,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        **kwargs,
    )


def inspect(image: str) -> dict:
    return json.loads(docker("image", "inspect", image).stdout)[0]


def image_files(image: str) -> list[str]:
    """Paths in the image's merged file system (exported, so no shell is needed)."""
    container = docker("create", image, "never-run").stdout.strip()
    try:
        exported = docker("export", container, text=False, timeout=300).stdout
    finally:
        docker("rm", "--force", container)
    with tempfile.TemporaryFile() as handle:
        handle.write(exported)
        handle.seek(0)
        with tarfile.open(fileobj=handle) as archive:
            return [member.name.rstrip("/") for member in archive]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(url: str, timeout: float = 5) -> int:
    """The HTTP status of GET url (an error status is an answer too)."""
    try:
        with URL_OPENER.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def wait_for_200(url: str, timeout: float = 30) -> float | None:
    """Seconds until `url` answers 200, or None if it did not in time."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if http_get(url, timeout=1) == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.05)
    return None


@contextmanager
def running(image: str, port: int, *options: str) -> Iterator[tuple[str, str]]:
    """A detached container with the service port published on 127.0.0.1:
    yields (container id, base URL); the container is removed afterwards."""
    host_port = free_port()
    started = docker(
        "run", "--detach", "--publish", f"127.0.0.1:{host_port}:{port}", *options, image
    )
    if started.returncode != 0:
        raise RuntimeError(
            f"docker run {' '.join(options)} failed: {started.stderr.strip()[-300:]}"
        )
    container = started.stdout.strip()
    try:
        yield container, f"http://127.0.0.1:{host_port}"
    finally:
        docker("rm", "--force", container)


def state(container: str) -> dict:
    return json.loads(docker("inspect", container).stdout)[0]["State"]


def logs(container: str) -> list[str]:
    output = docker("logs", "--tail", "8", container)
    return [f"| {line}" for line in (output.stdout + output.stderr).splitlines()]


# ------------------------------------------------------------------ config ---

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|CREDENTIAL", re.I)
CREDENTIAL_IN_TEXT = re.compile(
    r"://[^/\s:@]+:[^/\s@]+@"  # a URL with user:password@
    r"|\b\w*(?:PASSWORD|SECRET|TOKEN)\w*=\S+",
    re.I,
)


def is_shell_form(command: list[str]) -> bool:
    return command[:2] in (["/bin/sh", "-c"], ["sh", "-c"])


def check_config(image: str, port: int) -> Result:
    config = inspect(image)["Config"]
    problems = []
    user = config.get("User") or ""
    if not re.fullmatch(r"[0-9]+:[0-9]+", user):
        shown = user or "not set, so root"
        problems.append(f"USER is {shown!r}: use a numeric UID:GID, e.g. USER 10001:10001")
    elif "0" in user.split(":"):
        problems.append(f"USER {user} runs as root (UID or GID 0)")
    for name in ("Cmd", "Entrypoint"):
        if is_shell_form(config.get(name) or []):
            problems.append(f"{name.upper()} is shell form: /bin/sh is PID 1, SIGTERM stops there")
    if not (config.get("Cmd") or config.get("Entrypoint")):
        problems.append("no CMD")
    health = (config.get("Healthcheck") or {}).get("Test") or ["NONE"]
    if health[0] == "NONE":
        problems.append("no HEALTHCHECK")
    elif health[0] != "CMD":
        problems.append(f"HEALTHCHECK is shell form ({health[0]}): it needs a shell in the image")
    if f"{port}/tcp" not in (config.get("ExposedPorts") or {}):
        problems.append(f"port {port} is not in EXPOSE {sorted(config.get('ExposedPorts') or [])}")
    for variable in config.get("Env") or []:
        name, _, value = variable.partition("=")
        if value and (SECRET_NAME.search(name) or CREDENTIAL_IN_TEXT.search(value)):
            problems.append(f"ENV {name} looks like a secret: pass it at run time instead")
    history = docker("history", "--no-trunc", image).stdout
    for match in CREDENTIAL_IN_TEXT.finditer(history):
        shown = match.group(0)[:12]
        problems.append(f"a credential is in the image history ({shown}...): use a BuildKit secret")
    return verdict(problems, f"USER {user}, exec-form CMD and HEALTHCHECK, EXPOSE {port}")


# ----------------------------------------------------------------- context ---

# Files every working copy has and no image may contain: path -> content.
CANARIES = {
    ".env": "API_KEY=canary\n",
    "app/.env.local": "API_KEY=canary\n",
    ".git/config": "[remote]\nurl = https://canary-token@example.invalid/repo.git\n",
    ".venv/pyvenv.cfg": "home = /canary\n",
    "app/.venv/pyvenv.cfg": "home = /canary\n",
    "tests/test_canary.py": "def test_canary(): ...\n",
    "app/__pycache__/canary.cpython-3.pyc": "stale bytecode\n",
    "app/canary.pyc": "stale bytecode\n",
    "app/.pytest_cache/canary": "cache\n",
    ".cache/pip/canary": "cache\n",
    "app/.DS_Store": "canary\n",
    "docs/canary.md": "canary\n",
}
# Never in the build context, whatever the project adds: the canaries and the build files.
NEVER_IN_CONTEXT = [*CANARIES, "Dockerfile", "compose.yaml", ".dockerignore"]
# Never in the image's working directory.
NEVER_IN_IMAGE = re.compile(
    r"(^|/)(\.env[^/]*|\.git|\.venv|tests|\.pytest_cache|\.DS_Store|Dockerfile)(/|$)"
)
# Already-large folders that the copy leaves out (the canaries stand in for them).
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "*cache*", "node_modules", "build", "dist")


def check_context(image: str, project: Path) -> Result:
    with tempfile.TemporaryDirectory() as temporary:
        context = Path(temporary) / "context"
        shutil.copytree(project, context, ignore=NOT_COPIED)
        for relative, content in CANARIES.items():
            (context / relative).parent.mkdir(parents=True, exist_ok=True)
            (context / relative).write_text(content)
        # What the builder receives, as an image: the context, filtered by .dockerignore.
        probe = f"check-image-context:{os.getpid()}"
        dockerfile = "FROM scratch\nCOPY . /context/\n"
        built = docker("build", "--quiet", "-t", probe, "-f", "-", str(context), input=dockerfile)
        if built.returncode != 0:
            return Result(False, "the context probe did not build", [built.stderr.strip()[-500:]])
        try:
            sent = {name.removeprefix("context/") for name in image_files(probe)}
        finally:
            docker("image", "rm", "--force", probe)
    problems = [
        f"{name} reaches the build context: .dockerignore must keep it out"
        for name in NEVER_IN_CONTEXT
        if name in sent
    ]
    workdir = (inspect(image)["Config"].get("WorkingDir") or "/app").strip("/")
    problems += [
        f"/{name} is in the image"
        for name in image_files(image)
        if name.startswith(f"{workdir}/") and NEVER_IN_IMAGE.search(name.removeprefix(workdir))
    ]
    return verdict(
        problems, f"{len(CANARIES)} canaries kept out; no development files in /{workdir}"
    )


# ------------------------------------------------------------------ layers ---

# Files that package managers legitimately rewrite in a later layer.
REWRITTEN = re.compile(r"^(var/(lib/dpkg|cache|log)/|etc/ld\.so\.cache$)")
MIN_DUPLICATE_BYTES = 64 * 1024


def layer_files(
    image: str, min_bytes: int = MIN_DUPLICATE_BYTES
) -> Iterator[tuple[int, str, int, str]]:
    """(layer number, path, size, sha256) of each regular file of `min_bytes` or more."""
    with tempfile.TemporaryFile() as handle:
        command = [*docker_cli(), "save", image]
        subprocess.run(command, stdout=handle, check=True, timeout=600)  # noqa: S603
        handle.seek(0)
        with tarfile.open(fileobj=handle) as saved:
            manifest = json.load(saved.extractfile("manifest.json"))[0]
            for number, layer_name in enumerate(manifest["Layers"], start=1):
                with tarfile.open(fileobj=saved.extractfile(layer_name)) as layer:
                    for member in layer:
                        path = member.name.removeprefix("./")  # some tools write ./etc/...
                        if member.isfile() and member.size >= min_bytes:
                            digest = hashlib.sha256(layer.extractfile(member).read()).hexdigest()
                            yield number, path, member.size, digest


def check_layers(image: str) -> Result:
    by_path: dict[str, int] = {}
    by_content: dict[str, tuple[int, str]] = {}
    problems, wasted = [], 0
    for number, path, size, digest in layer_files(image):
        if REWRITTEN.match(path):
            continue
        if path in by_path and by_path[path] != number:
            problems.append(
                f"/{path} is in layers {by_path[path]} and {number}, {size / 1e6:.1f} MB"
            )
            wasted += size
        elif digest in by_content and by_content[digest][0] != number:
            first_layer, first_path = by_content[digest]
            problems.append(
                f"/{path} (layer {number}) repeats /{first_path} (layer {first_layer}), "
                f"{size / 1e6:.1f} MB"
            )
            wasted += size
        by_path.setdefault(path, number)
        by_content.setdefault(digest, (number, path))
    if problems:
        return Result(False, f"{wasted / 1e6:.1f} MB stored twice", problems[:20])
    return Result(True, f"no file over {MIN_DUPLICATE_BYTES // 1024} KiB in two layers")


# ---------------------------------------------------------------- hardened ---


def check_hardened(image: str, port: int) -> Result:
    problems = []
    for label, extra in [("as the image's user", []), ("as -u 123456:0", ["--user", "123456:0"])]:
        # --health-interval only makes the engine run the image's own probe sooner.
        options = [*HARDENING, *extra, "--health-interval", "1s"]
        with running(image, port, *options) as (container, url):
            if wait_for_200(f"{url}/healthz") is None:
                problems.append(f"{label}: no 200 from /healthz through the published port")
                problems += ["  (is the server listening on 0.0.0.0?)", *logs(container)]
                continue
            health = wait_for_health(container)
            if health != "healthy":
                problems.append(f"{label}: the engine reports {health!r}, not 'healthy'")
    # Run without --read-only and --tmpfs (a plain `docker run`), the image's
    # own /tmp is the one in use: any UID must be able to make a temporary file.
    temporary = ["python", "-c", "import tempfile; tempfile.TemporaryFile(dir='/tmp')"]
    made = docker("run", "--rm", "--network", "none", "--user", "123456:0", image, *temporary)
    if made.returncode != 0:
        error = (made.stderr.strip().splitlines() or ["no output"])[-1]
        problems.append(f"without --tmpfs, -u 123456:0 cannot write to the image's /tmp: {error}")
    return verdict(
        problems,
        "read-only, no capabilities, limits, any UID: 200 via the port, healthy; /tmp writable",
    )


def wait_for_health(container: str, timeout: float = 40) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = (state(container).get("Health") or {}).get("Status", "none")
        if status != "starting" or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


# -------------------------------------------------------------------- stop ---

# Mounted into the container only by the checks that need them, as sitecustomize.py
# on PYTHONPATH: Python imports it at start-up, and it gives every FastAPI app two
# routes of the checker's own. The image's CMD runs unchanged.
CHECK_ROUTES = '''\
"""Injected by scripts/check_image.py: routes that exist only while it checks."""
import asyncio

import fastapi

_init = fastapi.FastAPI.__init__


def _init_with_check_routes(self, *args, **kwargs):
    _init(self, *args, **kwargs)

    async def slow(seconds: float = 2.0) -> dict:
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    async def body(request: fastapi.Request) -> dict:
        return {"received": len(await request.body())}

    self.add_api_route("/__check__/slow", slow)
    self.add_api_route("/__check__/body", body, methods=["POST"])


fastapi.FastAPI.__init__ = _init_with_check_routes
'''


@contextmanager
def check_routes() -> Iterator[list[str]]:
    """`docker run` options that mount CHECK_ROUTES into the container."""
    with tempfile.TemporaryDirectory() as injected:
        Path(injected).chmod(0o755)  # readable by any UID
        (Path(injected) / "sitecustomize.py").write_text(CHECK_ROUTES)
        yield ["--volume", f"{injected}:/check-image:ro", "--env", "PYTHONPATH=/check-image"]


def check_stop(image: str, port: int) -> Result:
    problems = []
    with check_routes() as inject:
        for label, extra in [("as PID 1", []), ("under --init", ["--init"])]:
            found = stop_problems(image, port, [*inject, *extra])
            problems += [f"{label}: {problem}" for problem in found]
    summary = f"in-flight request got 200, exit 0 within {STOP_LIMIT_SECONDS} s, also under --init"
    return verdict(problems, summary)


def stop_problems(image: str, port: int, options: list[str]) -> list[str]:
    with running(image, port, *options) as (container, url):
        if wait_for_200(f"{url}/healthz") is None:
            return ["/healthz gave no 200 through the published port", *logs(container)]
        answer: dict[str, object] = {}

        def slow_request() -> None:
            try:
                slow_url = f"{url}/__check__/slow?seconds={SLOW_REQUEST_SECONDS}"
                answer["status"] = http_get(slow_url, timeout=15)
            except OSError as error:
                answer["status"] = f"no answer ({error})"

        request = threading.Thread(target=slow_request)
        request.start()
        time.sleep(0.5)  # the request is in flight
        began = time.monotonic()
        docker("stop", "--time", str(STOP_TIMEOUT_SECONDS), container, timeout=60)
        seconds = time.monotonic() - began
        request.join()
        exit_code = state(container)["ExitCode"]
    problems = []
    if answer.get("status") != 200:
        problems.append(f"the in-flight request got {answer.get('status')}, not 200")
    if seconds > STOP_LIMIT_SECONDS:
        problems.append(f"docker stop took {seconds:.1f} s (limit {STOP_LIMIT_SECONDS} s)")
    if exit_code != 0:
        problems.append(f"exit status {exit_code} after docker stop, expected 0")
    return problems


# ------------------------------------------------------------------ limits ---

# The checker sets its own, small limit: it proves the mechanism, whatever limit
# the project configures (app/config.py's default is 1 MiB).
BODY_LIMIT = 64 * 1024


def post_body(url: str, size: int, *, chunked: bool, send_body: bool = True) -> str:
    """POST `size` bytes to `url`, declared with Content-Length or chunked, and return
    the status line. Sending stops when the server answers and closes; with
    send_body=False only the headers go out, so the answer must not wait for the body."""
    parts = urllib.parse.urlsplit(url)
    connection = socket.create_connection((parts.hostname, parts.port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = f"POST {parts.path} HTTP/1.1\r\nHost: check\r\n{framing}\r\n\r\n"
    connection.sendall(head.encode())

    def send() -> None:
        block = b" " * 65536
        piece = b"%x\r\n%s\r\n" % (len(block), block) if chunked else block
        with suppress(OSError):  # the server answered and closed: the expected end
            for _ in range(0, size, len(block)):
                connection.sendall(piece)

    sender = threading.Thread(target=send, daemon=True)
    if send_body:
        sender.start()
    else:
        connection.settimeout(5)  # an answer that waits for the body will not come
    received = b""
    try:
        while b"\r\n" not in received and (chunk := connection.recv(4096)):
            received += chunk
    except OSError as error:
        return f"no answer ({error})"
    finally:
        connection.close()
    return received.split(b"\r\n", 1)[0].decode(errors="replace") or "connection closed"


def check_limits(image: str, port: int) -> Result:
    limit = ["--env", f"{{ cookiecutter.__env_prefix }}MAX_REQUEST_BYTES={BODY_LIMIT}"]
    with check_routes() as inject, running(image, port, *HARDENING, *inject, *limit) as (_, url):
        if wait_for_200(f"{url}/healthz") is None:
            return Result(False, "no 200 from /healthz through the published port")
        target = f"{url}/__check__/body"
        declared = post_body(target, BODY_LIMIT + 1, chunked=False, send_body=False)
        streamed = post_body(target, 4 * BODY_LIMIT, chunked=True)
    problems = []
    if not declared.startswith("HTTP/1.1 413"):
        problems.append(f"Content-Length {BODY_LIMIT + 1}: {declared!r} before the body, not 413")
    if not streamed.startswith("HTTP/1.1 413"):
        problems.append(f"a chunked body of {4 * BODY_LIMIT} bytes: {streamed!r}, not 413")
    return verdict(problems, f"413 over {BODY_LIMIT} bytes, declared and chunked")


# ------------------------------------------------------ startup, stripped ---


def run_build_script(image: str, script: str, *arguments: str) -> subprocess.CompletedProcess:
    """Run one of the build's scripts/ in the image, in its checking mode.

    The script that does a build step also knows how to tell whether the image
    has its result; it is mounted read-only, not part of the image.
    """
    mount = ["--volume", f"{PROJECT / 'scripts' / script}:/check-image/{script}:ro"]
    command = ["python", "-B", f"/check-image/{script}", *arguments]
    return docker("run", "--rm", "--read-only", "--network", "none", *mount, image, *command)


def check_startup(image: str, port: int, runs: int) -> Result:
    # scripts/compile_bytecode.py defines "the modules loaded at start-up" for the
    # build; its --missing mode lists those that have no bytecode in this image.
    listed = run_build_script(image, "compile_bytecode.py", "--missing")
    if listed.returncode != 0:
        missing = listed.stdout.splitlines() or [listed.stderr.strip()[-500:]]
        return Result(False, f"no start-up bytecode for {len(missing)} module(s)", missing[:10])
    times = []
    for _ in range(runs):
        began = time.monotonic()
        with running(image, port) as (container, url):
            if wait_for_200(f"{url}/healthz") is None:
                return Result(False, "no 200 from /healthz within 30 s", logs(container))
            times.append(time.monotonic() - began)
    summary = f"bytecode for every start-up module; docker run to first 200: {median(times):.2f} s"
    return Result(True, f"{summary} (median of {runs})")


def check_stripped(image: str) -> Result:
    listed = run_build_script(image, "strip_extensions.py", "--check", VENV)
    if listed.returncode != 0:
        found = listed.stdout.splitlines() or [listed.stderr.strip()[-500:]]
        return Result(False, f"debug information in {len(found)} extension(s)", found[:10])
    return Result(True, f"no debug information in the extensions under {VENV}")


# ------------------------------------------------------------------- smoke ---


def check_smoke(image: str) -> Result:
    command = ["python", "scripts/smoke_test.py"]
    run = docker("run", "--rm", *READ_ONLY, image, *command, timeout=300)
    lines = run.stdout.splitlines()
    if run.returncode == 0:
        return Result(True, lines[-1] if lines else "passed")
    failed = [line for line in lines if not line.startswith("PASS")] or [run.stderr.strip()[-500:]]
    return Result(False, f"scripts/smoke_test.py exited {run.returncode}", failed)


# -------------------------------------------------------------------- main ---


def checks(options: argparse.Namespace) -> dict[str, Callable[[], Result]]:
    image, port = options.image, options.port
    return {
        "config": lambda: check_config(image, port),
        "context": lambda: check_context(image, options.context),
        "layers": lambda: check_layers(image),
        "hardened": lambda: check_hardened(image, port),
        "stop": lambda: check_stop(image, port),
        "limits": lambda: check_limits(image, port),
        "startup": lambda: check_startup(image, port, runs=1 if options.quick else 3),
        "stripped": lambda: check_stripped(image),
        "smoke": lambda: check_smoke(image),
    }


def parse_arguments(arguments: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Check a built image from the host.")
    parser.add_argument("image", help="the image to check, e.g. my_service:dev")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the port in the container")
    parser.add_argument("--quick", action="store_true", help="one start-up run instead of three")
    parser.add_argument(
        "--check", action="append", metavar="NAME", help="only this check (repeatable)"
    )
    parser.add_argument("--context", type=Path, default=PROJECT, help="build context: this project")
    return parser.parse_args(arguments)


def usage_error(options: argparse.Namespace, names: list[str]) -> str | None:
    """Why these arguments cannot work, as an ERROR line with a fix; None if they can."""
    unknown = sorted(set(options.check or []) - set(names))
    if unknown:
        return f"ERROR: unknown check {', '.join(unknown)}. Try: one of {', '.join(names)}"
    try:
        found = docker("image", "inspect", "--format", "ok", options.image, timeout=30)
    except OSError as error:
        return (
            f"ERROR: cannot run the Docker CLI {docker_cli()}: {error}. Try: DOCKER=/path/to/docker"
        )
    if found.returncode != 0:
        return f"ERROR: image {options.image!r} not found. Try: make docker-build, or pass its tag"
    if not (options.context / ".dockerignore").is_file():
        return f"ERROR: {options.context} has no .dockerignore. Try: --context PROJECT_FOLDER"
    return None


def main(arguments: list[str] | None = None) -> int:
    options = parse_arguments(arguments)
    selected = checks(options)
    problem = usage_error(options, list(selected))
    if problem:
        print(problem, file=sys.stderr)
        return 2
    counts = {"passed": 0, "failed": 0}
    for name, check in selected.items():
        if options.check and name not in options.check:
            continue
        try:
            result = check()
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            result = Result(False, f"could not run: {error}")
        counts["passed" if result.passed else "failed"] += 1
        print(f"{'PASS' if result.passed else 'FAIL'}  {name}  {result.summary}", flush=True)
        for culprit in result.culprits:
            print(f"      {culprit}", flush=True)
    print(f"image check of {options.image}: {counts['passed']} passed, {counts['failed']} failed")
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
