"""The results as markdown: the full tables (latest.md), and the blocks the docs embed.

`--update-docs` rewrites the text between each file's markers (DOC_BLOCKS) with
a block generated from the same report, so the numbers in README.md and the
template's docs/dockerfile.md always come from one run of the benchmark.
"""

from __future__ import annotations

from pathlib import Path

from .common import BASELINE, MB, REPO, BenchError, fmt_mb, fmt_ms, fmt_s, ratio
from .goals import MINIMAL, REAL_WORLD_MINIMAL_GOAL, SLIM
from .measure import LINKS

#: file -> (start marker, end marker, which block goes there)
DOC_BLOCKS = {
    REPO / "README.md": ("<!-- bench:start -->", "<!-- bench:end -->", "readme"),
    REPO / "{{cookiecutter.project_slug}}" / "docs" / "dockerfile.md": (
        "<!-- bench:dockerfile:start -->",
        "<!-- bench:dockerfile:end -->",
        "dockerfile",
    ),
}

NOISE = (
    "The machine is shared (2 cores, other builds running): absolute times are noisy, so "
    "compare the ratios, which come from one run with the variants interleaved."
)


def _get(result: dict, path: str):
    for key in path.split("."):
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return result


def table(report: dict, rows: list[tuple], names: list[str] | None = None) -> list[str]:
    """A side-by-side table: one column per variant, ratio to seed in brackets.

    rows: (label, dotted path into a variant's results, formatter, with ratio?).
    """
    by_name = report["variants"]
    names = names or list(by_name)
    seed = by_name.get(BASELINE, {})
    lines = [
        "| Metric | " + " | ".join(f"`{n}`" for n in names) + " |",
        "| --- | " + " | ".join("---:" for _ in names) + " |",
    ]
    for label, path, fmt, with_ratio in rows:
        base = _get(seed, path)
        cells = []
        for name in names:
            value = _get(by_name[name], path)
            cells.append(fmt(value) + (ratio(value, base) if with_ratio else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _count(value) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _yes(value) -> str:
    return "n/a" if value is None else ("yes" if value else "NO")


def _pct(value) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} %"


def summary_rows(plan: dict) -> list[tuple]:
    """The rows the docs show: what a user of each recipe sees."""
    link = next(iter(LINKS))
    return [
        ("Image size, uncompressed", "size_bytes", fmt_mb, True),
        ("Added over its runtime base", "added_bytes", fmt_mb, True),
        ("Compressed bytes a fresh node pulls", "fresh_node.pulled_bytes", fmt_mb, True),
        (f"...their transfer at {link} (computed)", f"fresh_node.computed_transfer_s.{link}",
         fmt_s, True),
        ("Fresh node: pull + start to first 200 (loopback registry)", "fresh_node.total_s",
         fmt_s, True),
        ("Fresh-runner build (bases pulled from the registry)", "fresh_runner.seconds", fmt_s,
         True),
        (f"Warm-engine cold build, median of {plan['build_rounds']}", "cold_build_s", fmt_s,
         True),
        (f"Rebuild after a code-only change, median of {plan['build_rounds']}", "rebuild_s",
         fmt_s, True),
        (f"Start to first 200, image present, median of {plan['startup_samples']}",
         "startup_s", fmt_s, True),
        ("Requests/s, 1 worker, default settings", "load.w1.rps", _count, True),
        ("p99 latency, 1 worker, default settings", "load.w1.p99_ms", fmt_ms, True),
    ]  # fmt: skip


def detail_rows(plan: dict) -> list[tuple]:
    return [
        ("Image size, gzip of `docker save`", "gzip_bytes", fmt_mb, True),
        ("Layers", "layers", str, True),
        ("dive efficiency", "dive.efficiency", _pct, False),
        ("dive wasted bytes", "dive.wasted_bytes", fmt_mb, False),
        ("Fresh-runner build: bytes pulled from the registry", "fresh_runner.pulled_bytes",
         fmt_mb, True),
        ("Dependency layer reused by the rebuild", "dependency_layer.reused", _yes, False),
        ("Leading layers the rebuild kept", "rebuild_layers_kept", _count, False),
        ("Fresh node: `docker pull` (loopback)", "fresh_node.pull_s", fmt_s, True),
        ("Fresh node: `docker run` to first 200 after the pull", "fresh_node.start_s", fmt_s,
         True),
        *[(f"Fresh node: transfer at {link} (computed)", f"fresh_node.computed_transfer_s.{link}",
           fmt_s, True) for link in LINKS],
        ("...start-up until `docker run -d` returned", "docker_run_return_s", fmt_s, True),
        ("RSS after start-up, 1 worker", "load.w1.rss_bytes", fmt_mb, True),
        ("p50 latency, 1 worker", "load.w1.p50_ms", fmt_ms, True),
        ("Requests/s, 2 workers", "load.w2.rps", _count, True),
        ("p50 latency, 2 workers", "load.w2.p50_ms", fmt_ms, True),
        ("p99 latency, 2 workers", "load.w2.p99_ms", fmt_ms, True),
        ("RSS after start-up, 2 workers", "load.w2.rss_bytes", fmt_mb, True),
    ]  # fmt: skip


def heading(report: dict) -> str:
    m, p, t = report["machine"], report["plan"], report["template"]
    return (
        f"Measured {m['date']} ({'quick' if p['quick'] else 'full'} run), Python {p['python']}, "
        f"on {m['cores']} cores ({m['cpu']}), kernel {m['kernel']}, Docker {m['docker']}, "
        f"load average {m['loadavg_at_start']:.1f} at the start and {m['loadavg_at_end']:.1f} "
        f"at the end{'; the template had uncommitted changes' if t['dirty'] else ''}. "
        "Base images: "
        + "; ".join(
            f"{kind} `{b['ref']}` ({'local stand-in' if b['standin'] else 'official'}, "
            f"{b['size_bytes'] / MB:.0f} MB)"
            for kind, b in report["bases"].items()
        )
        + ". In brackets: ratio to `seed` of the same run."
    )


def goals_table(report: dict) -> list[str]:
    lines = [
        "| Goal (against `seed` of the same run) | Measured | Verdict |",
        "| --- | --- | --- |",
    ]
    for g in report["goals"]:
        verdict = "meets" if g["meets"] else f"MISSES ({g['why']})"
        lines.append(f"| {g['goal']} | {g['measured']} | {verdict} |")
    return lines


def throughput_table(report: dict) -> list[str]:
    lines = [
        "| Throughput, 1 worker, same load | Requests/s | p50 | p99 |",
        "| --- | ---: | ---: | ---: |",
    ]
    seed_rps = report["variants"][BASELINE]["load"]["w1"]["rps"]
    for item in report["throughput"]:
        lines.append(
            f"| {item['label']} | {item['rps']:.0f}{ratio(item['rps'], seed_rps)} | "
            f"{fmt_ms(item['p50_ms'])} | {fmt_ms(item['p99_ms'])} |"
        )
    return lines


def real_world_table(report: dict) -> list[str]:
    world = report["real_world"]
    names = list(world["variants"])
    seed = world["variants"].get(BASELINE, {})
    lines = [
        f"Real-world service: the default one plus {', '.join(world['packages'])} in "
        "requirements.in, relocked with `make lock`; built in the same run.",
        "",
        "| Metric | " + " | ".join(f"`{n}`" for n in names) + " |",
        "| --- | " + " | ".join("---:" for _ in names) + " |",
    ]
    for label, key in (
        ("Image size, uncompressed", "size_bytes"),
        ("Added over its runtime base", "added_bytes"),
        ("Compressed (registry) bytes", "registry_bytes"),
    ):
        cells = [
            "build failed"
            if "error" in world["variants"][n]
            else fmt_mb(world["variants"][n][key]) + ratio(world["variants"][n][key], seed.get(key))
            for n in names
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for name in names:
        if "error" in world["variants"][name]:
            lines += ["", f"`{name}` did not build: {world['variants'][name]['error']}"]
    return lines + minimal_to_slim(world["variants"])


def minimal_to_slim(built: dict[str, dict]) -> list[str]:
    """The real-world minimal image against the slim one, and the least it could be.

    Both carry the same packages, so a minimal runtime with an empty root file
    system would still weigh the packages: their share of the slim image is the
    floor of the ratio."""
    slim, minimal = built.get(SLIM, {}), built.get(MINIMAL, {})
    if not slim or not minimal or "error" in slim or "error" in minimal:
        return []
    to_slim = minimal["size_bytes"] / slim["size_bytes"]
    floor = minimal["added_bytes"] / slim["size_bytes"]
    verdict = "meets" if to_slim <= REAL_WORLD_MINIMAL_GOAL else "MISSES"
    return [
        "",
        f"`{MINIMAL}` is {to_slim:.2f}x `{SLIM}` here (goal <= {REAL_WORLD_MINIMAL_GOAL}x: "
        f"{verdict}). Both carry the same {fmt_mb(minimal['added_bytes'])} of packages and "
        f"code, so even with an empty root file system it would be {floor:.2f}x.",
    ]


def markdown(report: dict) -> str:
    plan = report["plan"]
    lines = [
        f"### naive vs seed vs slim-python, Python {plan['python']}",
        "",
        heading(report),
        "",
        f"**{NOISE}**",
        "",
        *goals_table(report),
        "",
        *table(report, summary_rows(plan)),
        *table(report, detail_rows(plan))[2:],
        "",
        *throughput_table(report),
    ]
    if report.get("real_world"):
        lines += ["", *real_world_table(report)]
    lines += ["", "Notes:", *[f"- {note}" for note in report["notes"]]]
    return "\n".join(lines) + "\n"


def doc_block(report: dict, kind: str) -> str:
    """What goes between a doc's markers (generated: edit bench/report.py, not the doc)."""
    lines = [
        "<!-- generated by `make bench BENCH_ARGS=--update-docs`: do not edit by hand -->",
        "",
        heading(report),
        "",
        NOISE,
        "",
        *table(report, summary_rows(report["plan"])),
    ]
    if kind == "readme":
        lines += ["", *goals_table(report)]
        if report.get("real_world"):
            lines += ["", *real_world_table(report)]
    return "\n".join(lines)


def update_docs(report: dict) -> list[Path]:
    """Rewrite every doc's block; check all of them first, so nothing is half-written."""
    new_texts = {}
    for path, (start, end, kind) in DOC_BLOCKS.items():
        text = path.read_text() if path.exists() else ""
        if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
            raise BenchError(
                f"{path.relative_to(REPO)} needs exactly one {start} and one {end} after it. "
                "Try: add both lines where the benchmark's numbers belong"
            )
        head, rest = text.split(start)
        _, tail = rest.split(end)
        new_texts[path] = f"{head}{start}\n{doc_block(report, kind)}\n{end}{tail}"
    for path, text in new_texts.items():
        path.write_text(text)
    return list(new_texts)
