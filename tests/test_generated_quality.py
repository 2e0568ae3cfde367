"""The generated project passes its own quality gate: lint, format and tests.

Lint and format run on every supported combination. The generated test suite
runs in a virtualenv installed from the project's own hashed lock, one per
Python version (shared by combinations with the same version and lock).
"""

import hashlib
import os
import sys
from pathlib import Path

import pytest
from combinations import SUPPORTED
from conftest import cookiecutter_defaults, find_python, run, uv_export

RUFF = [sys.executable, "-m", "ruff"]


@pytest.mark.parametrize("combination", SUPPORTED)
def test_generated_code_is_lint_clean(bake, combination):
    project = bake(combination).project_path

    check = run([*RUFF, "check", "--no-fix", "--no-cache", "."], cwd=project)
    formatted = run([*RUFF, "format", "--check", "--no-cache", "."], cwd=project)

    assert check.returncode == 0, check.stdout + check.stderr
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


UV = [sys.executable, "-m", "uv"]


def lock_uv_project(project: Path, version: str) -> None:
    """A uv project is generated without uv.lock (its first `make setup` writes it)."""
    locked = run([*UV, "lock", "--quiet", "--python", find_python(version)], cwd=project)
    assert locked.returncode == 0, locked.stderr
    assert (project / "uv.lock").is_file()


def development_requirements(project: Path, version: str) -> Path:
    """The hashed list of everything the project's tests need, for pip --require-hashes."""
    if (project / "requirements-dev.txt").is_file():
        return project / "requirements-dev.txt"
    lock_uv_project(project, version)
    exported = project.parent / f"{project.name}-dev-requirements.txt"
    return uv_export(project, exported, groups="--all-groups")


@pytest.fixture(scope="session")
def locked_venvs(tmp_path_factory):
    """Virtualenvs keyed by (Python version, lock digest), created on first use."""
    venvs: dict[tuple[str, str], Path] = {}

    def venv_for(project: Path, version: str) -> Path:
        requirements = development_requirements(project, version)
        key = (version, hashlib.sha256(requirements.read_bytes()).hexdigest())
        if key not in venvs:
            venv = tmp_path_factory.mktemp(f"venv-{version}")
            created = run([find_python(version), "-m", "venv", str(venv)])
            assert created.returncode == 0, created.stderr
            installed = run(
                [
                    str(venv / "bin/python"),
                    "-m",
                    "pip",
                    "--isolated",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--require-hashes",
                    "--requirement",
                    str(requirements),
                ],
            )
            assert installed.returncode == 0, installed.stdout + installed.stderr
            venvs[key] = venv
        return venvs[key]

    return venv_for


@pytest.mark.slow
@pytest.mark.parametrize("combination", SUPPORTED)
def test_generated_test_suite_passes(bake, combination, locked_venvs, request):
    version = combination.get("python_version", cookiecutter_defaults()["python_version"])
    project = bake(combination).project_path
    venv = locked_venvs(project, version)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    if combination.get("database") == "postgres":
        # The generated tests then run against a real PostgreSQL server.
        environment["TEST_DATABASE_URL"] = request.getfixturevalue("postgres_server").url

    result = run(
        [str(venv / "bin/python"), "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=project,
        env=environment,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout, result.stdout[-2000:]
