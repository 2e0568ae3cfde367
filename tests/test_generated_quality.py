"""The generated project passes its own quality gate: lint, format, types and tests.

Lint and format run on every supported combination. Then each combination runs
its own `make lint test` (ruff, mypy --strict, hadolint, pytest under coverage
with its floor) in a virtualenv installed from the project's own hashed lock,
one per Python version and lock (shared by combinations with the same ones).
"""

import hashlib
import os
import re
import sys
from pathlib import Path

import pytest
import yaml
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


def make_gates(project: Path, venv: Path, *targets: str, database_url: str | None = None):
    """The project's own `make` targets, with the tools of `venv` (its hashed lock)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    # One mypy cache per virtualenv: the installed packages are analysed once,
    # not again for every combination that shares them.
    environment["MYPY_CACHE_DIR"] = str(venv.parent / f"{venv.name}-mypy-cache")
    if database_url:
        # The generated tests then run against a real PostgreSQL server.
        environment["TEST_DATABASE_URL"] = database_url
    return run(
        ["make", "--no-print-directory", *targets, f"VENV={venv}"], cwd=project, env=environment
    )


@pytest.mark.slow
@pytest.mark.parametrize("combination", SUPPORTED)
def test_generated_gates_pass(bake, combination, locked_venvs, request):
    """make lint test: ruff, mypy --strict, hadolint, the tests and the coverage floor."""
    version = combination.get("python_version", cookiecutter_defaults()["python_version"])
    project = bake(combination).project_path
    venv = locked_venvs(project, version)
    database_url = None
    if combination.get("database") == "postgres":
        database_url = request.getfixturevalue("postgres_server").url

    result = make_gates(project, venv, "lint", "test", database_url=database_url)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "Success: no issues found" in result.stdout  # mypy ran, strictly (pyproject.toml)
    (summary,) = re.findall(r"^=+ (.*) in [\d.]+s.* =+$", result.stdout, re.MULTILINE)
    assert " passed" in f" {summary}"
    assert "skipped" not in summary, result.stdout[-2000:]
    assert re.search(r"^TOTAL .* (9\d|100)%$", result.stdout, re.MULTILINE), result.stdout[-2000:]


# Each gate fails when the code breaks its rule: (file, text appended, target, message).
GATE_BREAKERS = [
    pytest.param(
        "app/untyped.py",
        "def double(x):\n    return x * 2\n",
        "lint",
        "Function is missing a type annotation",
        id="mypy-strict",
    ),
    pytest.param(
        "app/untested.py",
        "".join(
            f"def branch_{n}(flag: bool) -> int:\n    return {n} if flag else -{n}\n\n\n"
            for n in range(30)
        ),
        "test",
        "Coverage failure: total of",
        id="coverage-floor",
    ),
    pytest.param(
        "Dockerfile",
        "RUN cd /tmp && echo moved\n",
        "lint",
        "DL3003",
        id="hadolint",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("path", "appended", "target", "message"), GATE_BREAKERS)
def test_each_gate_catches_what_it_guards(bake, locked_venvs, path, appended, target, message):
    project = bake({}).project_path
    venv = locked_venvs(project, cookiecutter_defaults()["python_version"])
    before = make_gates(project, venv, target)
    with (project / path).open("a") as file:
        file.write(appended)

    after = make_gates(project, venv, target)

    assert before.returncode == 0, (before.stdout + before.stderr)[-3000:]
    assert after.returncode != 0
    assert message in after.stdout + after.stderr, (after.stdout + after.stderr)[-3000:]


def test_lint_says_how_to_get_a_missing_hadolint(bake, tmp_path):
    project = bake({}).project_path

    result = make_gates(project, tmp_path / "no-venv", "lint")

    assert result.returncode != 0
    assert "hadolint is missing: run make setup" in result.stderr


def test_pre_commit_runs_the_tools_of_make_lint(bake):
    project = bake({}).project_path
    hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    entries = {hook["entry"] for hook in hooks}
    lint = run(["make", "--no-print-directory", "--dry-run", "lint"], cwd=project).stdout

    assert entries == {
        ".venv/bin/ruff format --check",
        ".venv/bin/ruff check",
        ".venv/bin/mypy",
        ".venv/bin/hadolint",
    }
    assert [entry for entry in entries if entry not in lint] == []  # make lint runs each one
