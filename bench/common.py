"""Names, errors, logging and formatting shared by the benchmark's modules."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from dataclasses import dataclass

from .support import REPO, engine

BENCH = REPO / "bench"
WORK = BENCH / ".work"
RESULTS = BENCH / "results"
#: Every image tag, container name and engine resource of the benchmark starts with this.
PREFIX = "slim-python-bench"
#: Port the service listens on inside the container (the template's default).
APP_PORT = 8000
#: Decimal megabytes, as `docker image ls` counts them.
MB = 1_000_000
BASELINE = "seed"


class BenchError(RuntimeError):
    """A step failed in a way the user has to fix (the message says how)."""


@dataclass(frozen=True)
class Plan:
    """How much to measure: --quick trades samples and load length for time."""

    quick: bool
    python: str
    startup_samples: int
    load_rounds: int
    warmup_s: int
    load_s: int
    build_rounds: int
    connections: int = 64
    threads: int = 2
    explain: bool = False
    skip_dive: bool = False
    real_world: bool = False


def log(message: str) -> None:
    """Progress on stderr; stdout carries only the final tables."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def tail(text: str, lines: int = 30) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """The Docker tier's `docker()`, raising BenchError with its stderr when `check`."""
    proc = engine.docker(*args, timeout=timeout)
    if check and proc.returncode != 0:
        raise BenchError(f"docker {' '.join(args[:3])} ... failed:\n{tail(proc.stderr)}")
    return proc


def slug(name: str) -> str:
    """A variant name as part of a tag, container or file name (`a:b` -> `a-b`)."""
    return re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-")


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt_mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MB:.1f} MB"


def fmt_s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def ratio(value: float | None, base: float | None) -> str:
    if value is None or not base or isinstance(value, bool):
        return ""
    return f" ({value / base:.2f}x)"
