"""Fixtures shared by the template's tests."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TEMPLATE / "tests"))
sys.path.insert(0, str(TEMPLATE / "tests" / "support"))
sys.path.insert(0, str(TEMPLATE))


def cookiecutter_json() -> dict:
    """cookiecutter.json as written: a choice variable is the list of its choices."""
    return json.loads((TEMPLATE / "cookiecutter.json").read_text())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The emulated arm64 tests last: on a fresh machine their stand-in base is still
    being built in the background (.ci/run starts it) while everything else runs."""
    items.sort(key=lambda item: item.path.name == "test_arm64.py")


def cookiecutter_defaults() -> dict:
    """The answers --no-input gives: a choice variable's first choice is its default."""
    return {
        key: value[0] if isinstance(value, list) and not key.startswith("_") else value
        for key, value in cookiecutter_json().items()
    }


def find_python(version: str) -> str:
    """An interpreter of `version` (X.Y) on this machine: on PATH, or from pyenv."""
    on_path = shutil.which(f"python{version}")
    # pyenv's shims are on PATH too, but only work for versions made global.
    if on_path and "shims" not in Path(on_path).parts:
        return on_path
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = sorted(
        Path(root, "versions").glob(f"{version}.*/bin/python{version}"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parts[-3].split(".")],
    )
    if candidates:
        return str(candidates[-1])
    pytest.fail(f"no Python {version} on this machine (PATH or pyenv): install it to run this test")


def run(command: list[str], cwd: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run a command, capturing its output as text; never raises on failure."""
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, **kwargs)


def uv_export(project: Path, output: Path, *, groups: str) -> Path:
    """Write the hashed requirements of a uv project's lock (`--no-dev` or `--all-groups`)."""
    command = [
        sys.executable,
        "-m",
        "uv",
        "export",
        "--frozen",
        groups,
        "--no-emit-project",
        "--format",
        "requirements-txt",
        "--output-file",
        str(output),
    ]
    exported = run(command, cwd=project)
    assert exported.returncode == 0, exported.stderr
    return output


def skip_or_fail(reason: str) -> None:
    """Outside CI a missing service skips the test; with CI=true it is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true, so this must run, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server on 127.0.0.1 for the whole session (its own cluster)."""
    from postgres_server import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer().start()
    except PostgresUnavailable as error:
        skip_or_fail(str(error))
    yield server
    server.remove()


@pytest.fixture
def bake(cookies):
    """Render the template with overrides and return the pytest-cookies result."""

    def _bake(overrides: dict):
        return cookies.bake(extra_context=overrides, template=str(TEMPLATE))

    return _bake
