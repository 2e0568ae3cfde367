"""The Docker scenarios: the default, each Python version, and each option or
customisation that changes what the Dockerfile builds.

Every scenario gets the full set of in-container checks (test_image.py).
"""

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from conftest import TEMPLATE, find_python


def default_python() -> str:
    return json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"][0]


@dataclass(frozen=True)
class Scenario:
    name: str
    answers: dict = field(default_factory=dict)
    # Edits to the rendered project, made before the build (e.g. a new dependency).
    customize: Callable[[Path], None] | None = None
    # Packages the local index must serve as source distributions (their build
    # backends come from the project's docker/build-requirements.txt).
    sources: tuple[str, ...] = ()
    # Extra wheels for the index, unhashed (none of today's scenarios needs any).
    build_wheels: tuple[str, ...] = ()

    @property
    def python_version(self) -> str:
        return self.answers.get("python_version", default_python())

    @property
    def index_argument(self) -> str:
        """The Dockerfile's build argument that names the package index (both workflows)."""
        return "PIP_INDEX_URL"

    def pinned_requirements(self, project: Path) -> list[Path]:
        """Hashed requirement files listing everything the build downloads: the
        runtime lock and the build backends' lock (the same in both workflows)."""
        return [project / "requirements.txt", project / "docker/build-requirements.txt"]


def lock_with_uv(project: Path) -> None:
    """A uv project starts without uv.lock and requirements.txt: lock it with the
    project's own `make lock`, as its first `make setup` or image build would."""
    python = find_python((project / ".python-version").read_text().strip())
    command = ["make", "--no-print-directory", "lock", f"UV={sys.executable} -m uv"]
    locked = subprocess.run(
        [*command, f"UV_PYTHON={python}"], cwd=project, capture_output=True, text=True, check=False
    )
    assert locked.returncode == 0, locked.stdout + locked.stderr
    assert (project / "requirements.txt").is_file()


def add_psycopg2_from_source(project: Path) -> None:
    """A dependency compiled in the builder against a system library (libpq).

    psycopg2 (not psycopg2-binary) has no Linux wheel: pip builds it from
    source, which needs a compiler and libpq's headers in the builder, and its
    extension then needs libpq.so.5 at run time: the article's classic failure.
    """
    with (project / "requirements.in").open("a") as requirements:
        requirements.write("psycopg2           # PostgreSQL driver, compiled from source\n")
    # Its build backend, locked with hashes: the image builds without isolation.
    with (project / "docker/build-requirements.in").open("a") as backends:
        backends.write("setuptools         # psycopg2's build backend (setup.py)\n")
    # The project's own `make lock`, with the uv of the test tools.
    tools = Path(sys.executable).parent
    relock = subprocess.run(
        ["make", "--no-print-directory", "lock", f"BIN={tools}"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert relock.returncode == 0, relock.stdout + relock.stderr
    with (project / "docker/build-packages.txt").open("a") as packages:
        packages.write("gcc libc6-dev   # compile psycopg2's C extension\n")
        packages.write("libpq-dev       # libpq headers and pg_config for psycopg2\n")
    with (project / "docker/runtime-packages.txt").open("a") as packages:
        packages.write("libpq5          # libpq.so.5, which psycopg2's extension links\n")


REAL_WORLD_STACK = """\
numpy              # arrays; linear algebra through the OpenBLAS its wheel bundles
pandas             # data frames
scipy              # scientific algorithms
Pillow             # images: JPEG, PNG, WEBP
cryptography       # Fernet, X.509
psycopg2-binary    # PostgreSQL driver with a bundled libpq
orjson             # fast JSON
lxml               # XML and XPath (libxml2)
PyYAML             # YAML with the C loader (libyaml)
"""


def add_real_world_stack(project: Path) -> None:
    """Wheels with bundled and system libraries, added as the project's README says:
    list them in requirements.in, then `make lock` (run with this test venv's uv)."""
    with (project / "requirements.in").open("a") as requirements:
        requirements.write(REAL_WORLD_STACK)
    venv = Path(sys.executable).parent.parent
    command = ["make", "--no-print-directory", "lock", f"VENV={venv}"]
    locked = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
    assert locked.returncode == 0, locked.stdout + locked.stderr


SCENARIOS = {
    scenario.name: scenario
    for scenario in [
        Scenario("default"),
        Scenario("python:3.11", {"python_version": "3.11"}),
        Scenario("python:3.13", {"python_version": "3.13"}),
        Scenario("libpq", customize=add_psycopg2_from_source, sources=("psycopg2",)),
        Scenario("runtime:minimal", {"runtime_flavor": "minimal"}),
        Scenario("deps:uv", {"dependency_workflow": "uv"}, customize=lock_with_uv),
        # psycopg's C implementation is compiled in the builder (sdist only),
        # linked to libpq, with the hashed build backends of the project's
        # docker/build-requirements.txt (its build pins setuptools exactly).
        Scenario("database:postgres", {"database": "postgres"}, sources=("psycopg-c",)),
        # A data API's usual stack, in both runtimes (test_real_world.py).
        Scenario("real-world", customize=add_real_world_stack),
        Scenario("real-world:minimal", {"runtime_flavor": "minimal"}, add_real_world_stack),
    ]
}
