"""Builds on the benchmark's own engine: fresh runner, warm-engine cold build, code-only rebuild.

* Fresh runner: an engine with no images and no build cache (reset), whose
  builds pull the base images from the loopback registry.
* Warm-engine cold build: the base images already in the engine, the build
  cache (layers and cache mounts) emptied before each build.
* Rebuild after a code-only change: a comment appended to app/main.py, built on
  the cache of the cold build just made.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .common import BenchError, Plan, docker, log, median, tail
from .engines import SecondEngine, prune_build_cache
from .images import image_inspect, image_layers, save_image
from .registry import Registry
from .support import engine
from .variants import Variant


@dataclass
class BuildResult:
    seconds: float
    steps: list[dict]

    def slowest(self, count: int = 4) -> list[dict]:
        return sorted(self.steps, key=lambda s: -(s["seconds"] or 0))[:count]


def timed_build(variant: Variant, tag: str, build_args: dict[str, str]) -> BuildResult:
    """The Docker tier's build() (BuildKit, --network host), timed."""
    started = time.perf_counter()
    proc = engine.build(variant.context, tag, build_args={**build_args, **variant.build_args})
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise BenchError(f"build of {variant.name} failed:\n{tail(proc.stderr, 40)}")
    return BuildResult(seconds, engine.parse_steps(proc.stderr))


def base_args(refs: dict[str, str], index_url: str) -> dict[str, str]:
    """Build arguments every variant understands: its base images and the package index."""
    return {
        "PYTHON_IMAGE": refs["slim"],
        "PYTHON_FULL_IMAGE": refs["full"],
        "PIP_INDEX_URL": index_url,
    }


def warm_builds(variants: list[Variant], args: dict[str, str], plan: Plan) -> None:
    """Cold builds with the bases present, in rounds over all variants, then each one's rebuilds."""
    for round_no in range(plan.build_rounds):
        log(f"warm-engine cold builds, round {round_no + 1}/{plan.build_rounds}")
        for variant in variants:
            prune_build_cache()
            cold = timed_build(variant, variant.tag, args)
            log(f"{variant.name}: cold build {cold.seconds:.1f} s")
            variant.results.setdefault("cold_build_samples_s", []).append(cold.seconds)
            if round_no == plan.build_rounds - 1:
                # Rebuilds need the cache of a cold build of this very variant.
                variant.results["cold_build_slowest_steps"] = cold.slowest()
                rebuild(variant, args, plan)
    for variant in variants:
        variant.results["cold_build_s"] = median(variant.results["cold_build_samples_s"])


def rebuild(variant: Variant, args: dict[str, str], plan: Plan) -> None:
    """Rebuilds after code-only changes; is the dependency layer's digest unchanged?"""
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
        for round_no in range(plan.build_rounds):
            with main_py.open("a") as fh:
                fh.write(f"# benchmark: code-only change {round_no + 1}\n")
            result = timed_build(variant, rebuild_tag, args)
            after = image_inspect(rebuild_tag)["RootFS"]["Layers"]
            rebuilds.append(result)
            kept = unchanged_layers(layers, after)
            reused.append(index is not None and index < kept)
            first_changed = layers[kept]["created_by"] if kept < len(layers) else "none"
            log(
                f"{variant.name}: rebuild {result.seconds:.1f} s, {kept} of {len(layers)} "
                f"layers kept, dependency layer kept: {reused[-1]}, first changed: "
                f"{first_changed[:70]}"
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
            "rebuild_s": median([r.seconds for r in rebuilds]),
            "rebuild_samples_s": [r.seconds for r in rebuilds],
            "rebuild_slowest_steps": rebuilds[-1].slowest() if rebuilds else [],
            "dependency_layer": {
                **(layers[index] if index is not None else {}),
                "index": index,
                "reused": bool(reused) and all(reused),
            },
            "rebuild_layers_kept": kept if rebuilds else None,
            "rebuild_first_changed_layer": first_changed if rebuilds else None,
            "layer_list": layers,
        }
    )


def unchanged_layers(before: list[dict], after: list[str]) -> int:
    """How many leading layers a rebuild left as they were (same digest, same place)."""
    kept = 0
    for layer, digest in zip(before, after, strict=False):
        if layer["diff_id"] != digest:
            break
        kept += 1
    return kept


def fresh_runner_builds(
    variants: list[Variant], second: SecondEngine, registry: Registry, args: dict[str, str]
) -> None:
    """Each variant on an engine with nothing in it: bases pulled from the registry, then built."""
    for variant in variants:
        second.reset()
        mark = registry.mark()
        result = timed_build(variant, variant.tag, args)
        pulled = registry.bytes_sent(mark)
        variant.results["fresh_runner"] = {
            "seconds": result.seconds,
            "pulled_bytes": pulled,
            "slowest_steps": result.slowest(),
        }
        log(
            f"{variant.name}: fresh-runner build {result.seconds:.1f} s, "
            f"pulled {pulled / 1e6:.1f} MB"
        )
