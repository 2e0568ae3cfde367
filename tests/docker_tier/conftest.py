"""Fixtures of the Docker tier: engine, base images, package index, built scenarios.

Everything is built for real with BuildKit. Nothing here needs a registry:
base images come from tests/support/base_images.py (the real python:X.Y-slim when it
is present or pullable, a faithful local stand-in otherwise) and packages from
a PEP 503 index on 127.0.0.1 (tests/support/pyindex.py) holding exactly the files the
rendered lock pins, so the lock's hashes still verify.
"""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import base_images
import pyindex
import pytest
from conftest import TEMPLATE
from cookiecutter.main import cookiecutter

from .engine import build, docker, engine_problem
from .scenarios import SCENARIOS, Scenario

IMAGE_PREFIX = "slim-python-test"
CACHE = Path(os.environ.get("SLIM_PYTHON_CACHE", "/var/cache/slim-python"))


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Skip the tier (one clear reason) without an engine; with CI=true, fail instead."""
    problem = engine_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true, so the Docker tier must run, but {problem}", pytrace=False)
    pytest.skip(
        f"Docker tier skipped: {problem}. Start a Docker engine and point DOCKER at a "
        "client with BuildKit (e.g. DOCKER=/usr/bin/docker) to run it."
    )


@pytest.fixture(scope="session")
def base_image(docker_engine):
    """`python:X.Y-slim`, or its local stand-in when no registry can be reached."""
    images: dict[str, str] = {}

    def for_version(version: str) -> str:
        if version not in images:
            images[version] = base_images.ensure_python_image(version, "slim")
        return images[version]

    return for_version


@pytest.fixture(scope="session")
def package_index(docker_engine, tmp_path_factory):
    """A local index on 127.0.0.1 per (Python version, lock), with optional auth."""
    servers: dict[tuple, pyindex.IndexServer] = {}

    def for_lock(
        locks: Path | list[Path], version: str, *, sources=(), build_wheels=(), auth=None
    ) -> pyindex.IndexServer:
        locks = [locks] if isinstance(locks, Path) else locks
        texts = tuple(lock.read_text() for lock in locks)
        key = (texts, version, tuple(sources), tuple(build_wheels), auth)
        if key not in servers:
            digest = hashlib.sha256(repr(key[:4]).encode()).hexdigest()[:16]
            root = CACHE / "test-index" / f"py{version}-{digest}"
            pyindex.build_index(
                locks, root, version, source_packages=sources, extra_wheels=build_wheels
            )
            servers[key] = pyindex.serve(root, basic_auth=auth)
        return servers[key]

    yield for_lock
    for server in servers.values():
        server.stop()


def render(scenario: Scenario, destination: Path) -> Path:
    """Render the template for `scenario`, apply its edits and plant the forbidden files."""
    project = Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context=scenario.answers,
            output_dir=str(destination),
        )
    )
    if scenario.customize:
        scenario.customize(project)
    plant_forbidden_files(project)
    return project


# Files that exist in real working copies and must never reach the image:
# path -> content. Each is caught by a .dockerignore line (see test_mutations.py).
PLANTED = {
    ".git/HEAD": "ref: refs/heads/main\n",
    ".git/config": "[remote]\nurl = https://planted-token@example.invalid/repo.git\n",
    ".env": "MY_SERVICE_API_KEY=planted-secret\n",
    "app/.env": "MY_SERVICE_API_KEY=planted-secret\n",
    ".venv/pyvenv.cfg": "home = /planted\n",
    "app/.venv/pyvenv.cfg": "home = /planted\n",
    "app/__pycache__/planted.cpython-312.pyc": "stale bytecode\n",
    "app/planted_stale.pyc": "stale bytecode\n",
    "app/.pytest_cache/README.md": "planted\n",
    "app/.DS_Store": "planted\n",
    ".cache/pip/http/planted": "pip cache\n",
    "docs/planted.md": "# planted\n",
    "compose.yaml": "services: {}\n",
    ".idea/workspace.xml": "<planted/>\n",
    ".vscode/settings.json": "{}\n",
}


def plant_forbidden_files(project: Path) -> None:
    for relative, content in PLANTED.items():
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def tag_for(name: str) -> str:
    """An image tag of this test session: two sessions on one engine never share one."""
    safe = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return f"{IMAGE_PREFIX}/{safe}:session-{os.getpid()}"


class Built:
    """A rendered project and its built production image."""

    def __init__(self, scenario: Scenario, project: Path, tag: str, base: str, index_url: str):
        self.scenario = scenario
        self.project = project
        self.tag = tag
        self.base = base
        self.index_url = index_url

    def build_args(self, **extra: str) -> dict[str, str]:
        index = {self.scenario.index_argument: self.index_url}
        return {"PYTHON_IMAGE": self.base, **index, **extra}

    def rebuild(self, project: Path, tag: str, **kwargs) -> subprocess.CompletedProcess:
        """Build another copy (a mutation) with this scenario's base and index."""
        args = kwargs.pop("build_args", None) or self.build_args()
        return build(project, tag, build_args=args, **kwargs)


@pytest.fixture(scope="session")
def built(docker_engine, base_image, package_index, tmp_path_factory):
    """Build each scenario's production image once per session: built(name) -> Built."""
    cache: dict[str, Built] = {}

    def get(name: str) -> Built:
        if name not in cache:
            scenario = SCENARIOS[name]
            project = render(scenario, tmp_path_factory.mktemp(f"scenario-{len(cache)}"))
            base = base_image(scenario.python_version)
            index = package_index(
                scenario.pinned_requirements(project),
                scenario.python_version,
                sources=scenario.sources,
                build_wheels=scenario.build_wheels,
            )
            tag = tag_for(name)
            item = Built(scenario, project, tag, base, index.url)
            result = item.rebuild(project, tag)
            assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
            cache[name] = item
        return cache[name]

    yield get
    # Every image this session tagged (scenarios, mutants, probes); layers stay
    # in the build cache, so the next session rebuilds quickly.
    listed = docker(
        "image", "ls", "--quiet", "--filter", f"reference={IMAGE_PREFIX}/*:session-{os.getpid()}"
    )
    images = sorted(set(listed.stdout.split()))
    if images:
        docker("image", "rm", "--force", *images)


@pytest.fixture
def mutant(tmp_path):
    """Copy a built scenario's project and edit one line of one file in the copy."""

    def make(item: Built, path: str, old: str, new: str) -> Path:
        copy = tmp_path / item.project.name
        shutil.copytree(item.project, copy, symlinks=True)
        target = copy / path
        text = target.read_text()
        assert old in text, f"mutation target {old!r} not in {path}: the test is out of date"
        target.write_text(text.replace(old, new, 1))
        return copy

    return make
