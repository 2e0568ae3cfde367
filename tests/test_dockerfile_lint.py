"""Check 6 of the Docker tier, which needs no engine: hadolint finds nothing in any
rendered Dockerfile at its default threshold, and nothing is silenced inline."""

import sys
from pathlib import Path

import pytest
from combinations import SUPPORTED
from conftest import run


def hadolint() -> str:
    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.exists() else "hadolint"


@pytest.mark.parametrize("combination", SUPPORTED)
def test_hadolint_is_silent(bake, combination):
    dockerfile = bake(combination).project_path / "Dockerfile"

    result = run([hadolint(), "--no-color", str(dockerfile)])

    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    assert "hadolint ignore" not in dockerfile.read_text()


def test_hadolint_can_fail(tmp_path):
    # The same invocation on a Dockerfile with known findings must report them.
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:latest\nRUN apt-get install gcc\nCMD python app.py\n")

    result = run([hadolint(), "--no-color", str(dockerfile)])

    assert result.returncode != 0
    assert "DL3007" in result.stdout  # :latest tag
    assert "DL3025" in result.stdout  # shell-form CMD
