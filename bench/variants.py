"""The variants under test: the rendered project built as naive, seed recipe and slim-python.

Every variant gets a build context of its own: a copy of the rendered project
with its Dockerfile and .dockerignore. The template's Dockerfile is built as
rendered, once per runtime stage it offers (RUNTIME_STAGE build argument).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .common import APP_PORT, BENCH, PREFIX, REPO, WORK, BenchError, slug, tail

#: Added to requirements.in for the real-world table: a data API's usual stack.
REAL_WORLD_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "Pillow",
    "cryptography",
    "psycopg2-binary",
    "orjson",
    "lxml",
    "PyYAML",
)

READ_ONLY = ("--read-only", "--tmpfs", "/tmp")
VENV_LAYER = re.compile(r"COPY .*/opt/venv /opt/venv")


@dataclass
class RunSpec:
    """How one variant runs: extra `docker run` options, env and command per worker count.

    `settings_env`: the image reads the template's settings (<PREFIX>WORKERS);
    otherwise the uvicorn command line gets --workers.
    """

    production_flags: tuple[str, ...]
    env_prefix: str
    settings_env: bool

    def args(self, image: str, workers: int = 1, extra_env: dict[str, str] | None = None):
        env = dict(extra_env or {})
        command: list[str] = []
        if workers > 1:
            if self.settings_env:
                env[f"{self.env_prefix}WORKERS"] = str(workers)
            else:
                command = [
                    *("uvicorn", "app.main:create_app", "--factory"),
                    *("--host", "0.0.0.0", "--port", str(APP_PORT), "--workers", str(workers)),
                ]
        flags = list(self.production_flags)
        for key, value in env.items():
            flags += ["--env", f"{key}={value}"]
        return [*flags, image, *command]


@dataclass
class Variant:
    name: str
    context: Path
    run: RunSpec
    dep_layer: re.Pattern
    runtime_base: str  # "slim" or "full": the base image its runtime stage starts FROM
    bases: tuple[str, ...]  # every base image its build pulls
    build_args: dict[str, str] = field(default_factory=dict)
    results: dict = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return f"{PREFIX}/{slug(self.name)}:latest"

    @property
    def repository(self) -> str:
        """Its name in the loopback registry."""
        return f"bench/{slug(self.name)}:latest"


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


def prepare_variants(project: Path, env_prefix: str, label: str = "") -> list[Variant]:
    """naive, seed, and slim-python:<flavour> per runtime stage, each in its own context."""
    variants = []
    naive = copy_context(project, f"{label}naive")
    shutil.copy(BENCH / "naive.Dockerfile", naive / "Dockerfile")
    (naive / ".dockerignore").unlink(missing_ok=True)
    variants.append(
        Variant(
            f"{label}naive",
            naive,
            RunSpec((), env_prefix, settings_env=False),
            re.compile(r"pip install -r requirements\.txt"),
            "full",
            ("full",),
        )
    )
    seed = copy_context(project, f"{label}seed")
    shutil.copy(BENCH / "seed.Dockerfile", seed / "Dockerfile")
    shutil.copy(BENCH / "seed.dockerignore", seed / ".dockerignore")
    variants.append(
        Variant(
            f"{label}seed",
            seed,
            RunSpec(READ_ONLY, env_prefix, settings_env=False),
            re.compile(r"COPY .*/install /usr/local"),
            "slim",
            ("full", "slim"),
        )
    )
    default, stages = runtime_flavours(project / "Dockerfile")
    if not stages:
        raise BenchError("no runtime-* stage found in the rendered Dockerfile")
    for stage in stages:
        name = f"{label}slim-python:{stage.removeprefix('runtime-')}"
        variants.append(
            Variant(
                name,
                copy_context(project, name),
                RunSpec(READ_ONLY, env_prefix, settings_env=True),
                VENV_LAYER,
                "slim",
                ("slim",),
                {} if stage == default else {"RUNTIME_STAGE": stage},
            )
        )
    return variants


def render_project(python: str, name: str = "render") -> tuple[Path, str]:
    """Render the default project (only the Python version may differ).

    In a child process, so that the hooks' messages stay out of our stdout.
    """
    out = WORK / name
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "cookiecutter", "--no-input"),
            *("--output-dir", str(out), str(REPO), f"python_version={python}"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"cookiecutter failed:\n{tail(proc.stdout + proc.stderr)}")
    (project,) = [p for p in out.iterdir() if p.is_dir()]
    return project, f"{project.name.upper()}_"


def add_real_world_dependencies(project: Path) -> None:
    """Add REAL_WORLD_PACKAGES the documented way: requirements.in, then `make lock`."""
    uv_dir = Path(sys.executable).parent
    if not (uv_dir / "uv").exists():
        raise BenchError(f"no uv next to {sys.executable}. Try: make setup (it installs uv)")
    requirements = project / "requirements.in"
    lines = [f"{name}  # real-world table of the benchmark" for name in REAL_WORLD_PACKAGES]
    requirements.write_text(requirements.read_text() + "\n".join(lines) + "\n")
    command = ["make", "-C", str(project), "lock", f"BIN={uv_dir}"]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    if proc.returncode != 0:
        raise BenchError(f"make lock failed:\n{tail(proc.stdout + proc.stderr)}")


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
