"""arm64, proved here: the default service built for linux/arm64 under QEMU, in
both runtimes (slim and minimal), and its smoke test passing in the arm64
container.

The release job builds linux/arm64 the same way (BuildKit under QEMU), so a
Dockerfile or minimal-assembler path that only exists on amd64 fails here
first. Without a registry the base is the arm64 stand-in of
tests/support/standin_arm64.py, which is Python 3.11 (tests/support/README.md
says why); packages come from the local index, as arm64 wheels.
"""

import hashlib
import os

import pyindex
import pytest
import standin_arm64
from base_images import StandInUnavailable
from conftest import skip_or_fail

from . import checks
from .conftest import CACHE, render, tag_for
from .engine import BUILD_TIMEOUT, docker
from .scenarios import Scenario

pytestmark = pytest.mark.docker

SCENARIO = Scenario("arm64", {"python_version": standin_arm64.VERSION})
RUNTIMES = ("runtime-slim", "runtime-minimal")
# An emulated build runs every compiler, pip and Python step under QEMU.
EMULATED_BUILD_TIMEOUT = 4 * BUILD_TIMEOUT


@pytest.fixture(scope="module")
def arm64_base(docker_engine) -> str:
    """python:3.11-slim for arm64: its local stand-in (built once, then cached)."""
    try:
        return standin_arm64.ensure_arm64_image()
    except StandInUnavailable as error:
        skip_or_fail(f"no arm64 base image can be made here: {error}")


@pytest.fixture(scope="module")
def arm64_project(tmp_path_factory):
    return render(SCENARIO, tmp_path_factory.mktemp("arm64"))


@pytest.fixture(scope="module")
def arm64_index(arm64_project):
    """The lock's files for CPython 3.11 on aarch64, served on 127.0.0.1."""
    locks = SCENARIO.pinned_requirements(arm64_project)
    digest = hashlib.sha256("".join(lock.read_text() for lock in locks).encode()).hexdigest()
    root = CACHE / "test-index" / f"py{SCENARIO.python_version}-aarch64-{digest[:16]}"
    pyindex.build_index(locks, root, SCENARIO.python_version, machine="aarch64")
    server = pyindex.serve(root)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def arm64_images(arm64_base, arm64_project, arm64_index):
    """Build each runtime for linux/arm64, one after the other: runtime -> tag."""
    images = {}
    for runtime in RUNTIMES:
        tag = tag_for(f"arm64-{runtime}")
        command = [
            "build",
            "--progress=plain",
            "--platform",
            "linux/arm64",
            "--network",
            "host",
            "--tag",
            tag,
            "--build-arg",
            f"PYTHON_IMAGE={arm64_base}",
            "--build-arg",
            f"{SCENARIO.index_argument}={arm64_index.url}",
            "--build-arg",
            f"RUNTIME_STAGE={runtime}",
            str(arm64_project),
        ]
        result = docker(*command, timeout=EMULATED_BUILD_TIMEOUT)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-6000:]
        images[runtime] = tag
    yield images
    docker("image", "rm", "--force", *images.values())


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_image_is_arm64_and_runs_aarch64_code(arm64_images, runtime):
    tag = arm64_images[runtime]
    inspected = docker("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", tag)
    assert inspected.stdout.strip() == "linux/arm64"
    machine = checks.run_container(
        tag, ["python", "-c", "import platform; print(platform.machine())"]
    )
    assert machine.returncode == 0, machine.stderr
    assert machine.stdout.strip() == "aarch64"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_smoke_test_passes_in_the_arm64_container(arm64_images, arm64_project, runtime):
    # The project's own check, as `make docker-check CHECK_ARGS='--check smoke'` runs it.
    assert checks.image_check_problems(arm64_project, arm64_images[runtime], "smoke") == []


def test_stand_in_is_the_cached_one(arm64_base):
    # A second call must find the image by its key, not build again.
    assert standin_arm64.ensure_arm64_image() == arm64_base
    labels = docker("image", "inspect", "--format", "{{json .Config.Labels}}", arm64_base)
    assert standin_arm64.SOURCE_PACKAGE in labels.stdout
    assert os.path.isdir(CACHE / "arm64")
