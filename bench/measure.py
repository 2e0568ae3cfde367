"""Running the images: start-up to the first 200, memory, load with wrk, fresh-node pull + start.

Every container is named with the benchmark's prefix, tracked, and removed
when the run ends. Requests go to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

from .common import APP_PORT, MB, PREFIX, BenchError, Plan, docker, log, median, slug, tail
from .engines import SecondEngine
from .registry import Registry
from .support import engine
from .variants import Variant

_STARTED: set[str] = set()
#: Link speeds for the computed transfer times of a fresh node's pull (bits per second).
LINKS = {"100 Mbit/s": 100e6, "1 Gbit/s": 1e9}


def remove_container(name: str) -> None:
    docker("rm", "-f", name, check=False, timeout=60)
    _STARTED.discard(name)


def remove_all_started() -> None:
    for name in sorted(_STARTED):
        remove_container(name)


def start_container(name: str, run_args: list[str], port: int, extra: tuple[str, ...] = ()):
    """`docker run -d` in the background; returns it and the moment it was launched."""
    remove_container(name)
    command = [
        *engine.docker_cli(),
        *("run", "--detach", "--name", name, "--publish", f"127.0.0.1:{port}:{APP_PORT}"),
        *extra,
        *run_args,
    ]
    _STARTED.add(name)
    started = time.perf_counter()
    launcher = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    return launcher, started


def first_200(url: str, launcher: subprocess.Popen, started: float, timeout: float = 60):
    """Seconds from `started` to the first 200 on `url`, and to the return of `docker run -d`.

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
        try:
            if engine.http_get(url, timeout=0.5)[0] == 200:
                return time.perf_counter() - started, returned
        except OSError:
            pass  # refused, or docker-proxy closing: nothing listens in the container yet
        time.sleep(0.005)
    raise BenchError(f"no 200 from {url} within {timeout:.0f} s")


def run_to_200(variant: Variant, image: str, label: str) -> tuple[float, float]:
    port = engine.free_port()
    name = f"{PREFIX}-{slug(variant.name)}-{label}"
    launcher, started = start_container(name, variant.run.args(image), port)
    try:
        return first_200(f"http://127.0.0.1:{port}/healthz", launcher, started)
    finally:
        launcher.wait()
        remove_container(name)


def measure_startup(variants: list[Variant], plan: Plan) -> None:
    """Start-to-first-200 on /healthz: one discarded warm-up, then rounds over all variants."""
    samples: dict[str, list[float]] = {v.name: [] for v in variants}
    engine_share: dict[str, list[float]] = {v.name: [] for v in variants}
    for round_no in range(plan.startup_samples + 1):
        for variant in variants:
            seconds, returned = run_to_200(variant, variant.tag, "start")
            if round_no:  # round 0 warms the page cache and is not counted
                samples[variant.name].append(seconds)
                engine_share[variant.name].append(returned)
        if round_no:
            log(
                f"start-up round {round_no}/{plan.startup_samples}: "
                + ", ".join(f"{n} {s[-1]:.2f} s" for n, s in samples.items())
            )
    for variant in variants:
        variant.results["startup_s"] = median(samples[variant.name])
        variant.results["startup_samples_s"] = samples[variant.name]
        variant.results["docker_run_return_s"] = median(engine_share[variant.name])


def fresh_node_starts(variants: list[Variant], second: SecondEngine, registry: Registry) -> None:
    """On an empty engine each time: `docker pull` from the registry, then run to the first 200."""
    for variant in variants:
        second.reset()
        remote = registry.ref(variant.repository)
        mark = registry.mark()
        started = time.perf_counter()
        docker("pull", "--quiet", remote, timeout=1800)
        pull_s = time.perf_counter() - started
        pulled = registry.bytes_sent(mark)
        start_s, returned_s = run_to_200(variant, remote, "fresh-node")
        variant.results["fresh_node"] = {
            "pulled_bytes": pulled,
            "registry_bytes": registry.compressed_bytes(variant.repository),
            "pull_s": pull_s,
            "start_s": start_s,
            "docker_run_return_s": returned_s,
            "total_s": pull_s + start_s,
            "computed_transfer_s": {link: pulled * 8 / bps for link, bps in LINKS.items()},
        }
        log(
            f"{variant.name}: fresh node pulled {pulled / MB:.1f} MB in {pull_s:.1f} s, "
            f"first 200 {start_s:.2f} s later"
        )


def container_pid(name: str) -> int:
    return engine.container_state(name)["Pid"]


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


def measure_load(
    variants: list[Variant], plan: Plan, path: LoadPath, extra_runs: list[tuple] | None = None
) -> None:
    """RSS after start-up, then wrk: warm-up, measured run; 1 and 2 workers, several rounds."""
    configs = [(v, w, {}, f"w{w}") for w in (1, 2) for v in variants]
    configs += extra_runs or []
    wrk_args = ["-t", str(plan.threads), "-c", str(plan.connections)]
    for round_no in range(plan.load_rounds):
        for variant, workers, env, key in configs:
            port = engine.free_port()
            name = f"{PREFIX}-{slug(variant.name)}-load"
            args = variant.run.args(variant.tag, workers, env)
            launcher, started = start_container(name, args, port, extra=("--no-healthcheck",))
            try:
                first_200(f"http://127.0.0.1:{port}/healthz", launcher, started)
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
