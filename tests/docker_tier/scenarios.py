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

from conftest import TEMPLATE


def default_python() -> str:
    return json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]


@dataclass(frozen=True)
class Scenario:
    name: str
    answers: dict = field(default_factory=dict)
    # Edits to the rendered project, made before the build (e.g. a new dependency).
    customize: Callable[[Path], None] | None = None
    # Packages the local index must serve as source distributions, and the
    # exact build-backend wheels their builds ask for.
    sources: tuple[str, ...] = ()
    build_wheels: tuple[str, ...] = ()

    @property
    def python_version(self) -> str:
        return self.answers.get("python_version", default_python())


def add_psycopg2_from_source(project: Path) -> None:
    """A dependency compiled in the builder against a system library (libpq).

    psycopg2 (not psycopg2-binary) has no Linux wheel: pip builds it from
    source, which needs a compiler and libpq's headers in the builder, and its
    extension then needs libpq.so.5 at run time: the article's classic failure.
    """
    with (project / "requirements.in").open("a") as requirements:
        requirements.write("psycopg2           # PostgreSQL driver, compiled from source\n")
    relock = subprocess.run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "compile",
            "--quiet",
            "--universal",
            "--python-version",
            "3.11",
            "--generate-hashes",
            "--custom-compile-command",
            "make lock",
            "requirements.in",
            "--output-file",
            "requirements.txt",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert relock.returncode == 0, relock.stderr
    with (project / "docker/build-packages.txt").open("a") as packages:
        packages.write("gcc libc6-dev   # compile psycopg2's C extension\n")
        packages.write("libpq-dev       # libpq headers and pg_config for psycopg2\n")
    with (project / "docker/runtime-packages.txt").open("a") as packages:
        packages.write("libpq5          # libpq.so.5, which psycopg2's extension links\n")


SCENARIOS = {
    scenario.name: scenario
    for scenario in [
        Scenario("default"),
        Scenario("python:3.11", {"python_version": "3.11"}),
        Scenario("python:3.13", {"python_version": "3.13"}),
        Scenario("libpq", customize=add_psycopg2_from_source, sources=("psycopg2",)),
        Scenario("runtime:minimal", {"runtime_flavor": "minimal"}),
        # psycopg's C implementation is compiled in the builder (sdist only,
        # and its build pins setuptools exactly), linked to libpq.
        Scenario(
            "database:postgres",
            {"database": "postgres"},
            sources=("psycopg-c",),
            build_wheels=("setuptools==84.1.0",),
        ),
    ]
}
