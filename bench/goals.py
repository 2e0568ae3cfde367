"""The template's goals against the seed recipe of the same run, each with its verdict."""

from __future__ import annotations

from .common import MB, fmt_mb, fmt_s

SLIM, MINIMAL, SEED, NAIVE = "slim-python:slim", "slim-python:minimal", "seed", "naive"

GOAL_ADDED_BYTES = 25 * MB
#: Real-world minimal image against the real-world slim one (issue 10).
REAL_WORLD_MINIMAL_GOAL = 0.65
#: Dev-only extras of uvicorn[standard]; python-dotenv comes with pydantic-settings.
DEV_EXTRAS = ("watchfiles", "websockets", "pyyaml")


def evaluate(by_name: dict[str, dict]) -> list[dict]:
    """Each goal: what it asks, what was measured, whether it is met (and by how much not)."""
    goals: list[dict] = []
    seed, naive = by_name[SEED], by_name[NAIVE]
    ours = [name for name in (SLIM, MINIMAL) if name in by_name]

    def goal(text: str, measured: str, value: float, limit: float, extra_ok: bool = True):
        ok = value <= limit and extra_ok
        why = "" if ok else (f"{value:.2f}x > {limit}x" if value > limit else "see measured")
        goals.append({"goal": text, "measured": measured, "meets": ok, "why": why})

    def at_least(text: str, measured: str, value: float, limit: float) -> None:
        ok = value >= limit
        why = "" if ok else f"{value:.2f}x < {limit}x"
        goals.append({"goal": text, "measured": measured, "meets": ok, "why": why})

    for name in ours:
        r = by_name[name]
        rebuild = r["rebuild_s"] / seed["rebuild_s"]
        reused = r["dependency_layer"]["reused"]
        goal(
            f"`{name}`: code-only rebuild <= 3x seed, dependency layer reused",
            f"{fmt_s(r['rebuild_s'])} vs {fmt_s(seed['rebuild_s'])}: {rebuild:.2f}x; "
            f"dependency layer reused: {'yes' if reused else 'NO'}",
            rebuild,
            3.0,
            reused,
        )
    for name in ours:
        fresh = by_name[name]["fresh_runner"]["seconds"]
        base = seed["fresh_runner"]["seconds"]
        goal(
            f"`{name}`: fresh-runner build (bases pulled) <= 0.8x seed",
            f"{fmt_s(fresh)} vs {fmt_s(base)}: {fresh / base:.2f}x",
            fresh / base,
            0.8,
        )
    for name in ours:
        cold, base = by_name[name]["cold_build_s"], seed["cold_build_s"]
        goal(
            f"`{name}`: warm-engine cold build <= 1.3x seed",
            f"{fmt_s(cold)} vs {fmt_s(base)}: {cold / base:.2f}x",
            cold / base,
            1.3,
        )
    for name, limit in ((SLIM, 0.95), (MINIMAL, 0.4)):
        if name not in by_name:
            continue
        pulled = by_name[name]["fresh_node"]["pulled_bytes"]
        to_seed = pulled / seed["fresh_node"]["pulled_bytes"]
        to_naive = pulled / naive["fresh_node"]["pulled_bytes"]
        goal(
            f"`{name}`: fresh-node bytes pulled <= {limit}x seed and <= 0.25x naive",
            f"{fmt_mb(pulled)}: {to_seed:.2f}x seed, {to_naive:.2f}x naive",
            to_seed,
            limit,
            to_naive <= 0.25,
        )
    for name in ours:
        start = by_name[name]["startup_s"] / seed["startup_s"]
        goal(
            f"`{name}`: start-to-first-200 <= 0.55x seed",
            f"{fmt_s(by_name[name]['startup_s'])} vs {fmt_s(seed['startup_s'])}: {start:.3f}x",
            start,
            0.55,
        )
    if SLIM in by_name and "w1-no-access-log" in seed.get("load", {}):
        ours_rps = by_name[SLIM]["load"]["w1"]["rps"]
        seed_rps = seed["load"]["w1-no-access-log"]["rps"]
        at_least(
            f"`{SLIM}`: requests/s >= 0.95x seed, access log off on both sides",
            f"{ours_rps:.0f} vs {seed_rps:.0f}: {ours_rps / seed_rps:.2f}x "
            f"(default settings, seed logging each request: "
            f"{ours_rps / seed['load']['w1']['rps']:.2f}x, not a goal)",
            ours_rps / seed_rps,
            0.95,
        )
    if SLIM in by_name:
        goals.append(size_goal(by_name[SLIM]))
    return goals


def size_goal(target: dict) -> dict:
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
    return {
        "goal": f"`{SLIM}`: added over base <= 25 MB; httptools and uvloop, no dev extras, "
        "stripped .so, no pip",
        "measured": f"{fmt_mb(added)}; httptools+uvloop: {'yes' if stack else 'NO'}; "
        f"dev extras: {', '.join(extras) or 'none'}; {runtime['so_files']} .so "
        f"{'all stripped' if not unstripped else 'NOT all stripped'}; pip "
        f"{'importable' if runtime['pip_importable'] else 'not importable'}",
        "meets": not problems,
        "why": "; ".join(problems),
    }
