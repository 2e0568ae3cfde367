"""Each Docker scenario's production image, built for real and checked inside the
container (the numbers refer to the Docker tier's list in README.md)."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from . import checks
from .conftest import tag_for
from .engine import build, docker_cli
from .scenarios import SCENARIOS

pytestmark = pytest.mark.docker

SCENARIO_NAMES = list(SCENARIOS)
PORT = 8000


def locked_version(project: Path, package: str) -> str:
    """The version the project's lock pins (requirements.txt or uv.lock)."""
    if (project / "uv.lock").is_file():
        text, pattern = (
            (project / "uv.lock").read_text(),
            rf'name = "{package}"\nversion = "([^"]+)"',
        )
    else:
        text, pattern = (project / "requirements.txt").read_text(), rf"^{package}==([^ ;\\]+)"
    match = re.search(pattern, text, re.M)
    assert match, f"{package} is not in the lock"
    return match.group(1)


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_1_smoke_test_passes_inside_the_container(built, name):
    assert checks.smoke_problems(built(name).tag) == []


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_2_installed_packages_import(built, name):
    item = built(name)

    assert checks.fastapi_import_problems(item.tag, locked_version(item.project, "fastapi")) == []


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_3_image_config_is_hardened(built, name):
    assert checks.config_problems(built(name).tag, PORT) == []


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_3_no_development_files_reach_the_image(built, name):
    # The rendered project was seeded with .git, .env, .venv, caches and more.
    assert checks.content_problems(built(name).tag) == []


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_3_build_context_is_the_allowlist(built, name):
    item = built(name)

    assert checks.context_problems(item.project, tag_for(f"{name}-context")) == []


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_startup_bytecode_is_in_the_image(built, name):
    assert checks.bytecode_problems(built(name).tag) == []


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_4_hardened_run_serves_and_is_healthy(built, name):
    assert checks.hardened_run_problems(built(name).tag, PORT) == []


@pytest.mark.parametrize("name", SCENARIO_NAMES)
@pytest.mark.parametrize("init", [False, True], ids=["pid1", "init"])
def test_5_graceful_stop_finishes_in_flight_request(built, name, init):
    assert checks.graceful_stop_problems(built(name).tag, PORT, init=init) == []


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_7_no_compiler_or_dev_package_in_runtime(built, name):
    problems = checks.content_problems(built(name).tag)

    assert [p for p in problems if "compiler" in p or "-dev package" in p] == []


def test_minimal_runtime_has_no_shell_package_manager_or_pip(built):
    assert checks.minimal_problems(built("runtime:minimal").tag) == []


def test_minimal_check_can_fail_on_the_slim_runtime(built):
    problems = checks.minimal_problems(built("default").tag)

    assert any("bin/sh is in a minimal image" in problem for problem in problems)
    assert any("site-packages/pip" in problem for problem in problems)


def test_readiness_follows_a_real_database(built):
    """database=postgres: the container's /readyz against a real PostgreSQL server."""
    from postgres_server import PostgresServer

    item = built("database:postgres")
    server = PostgresServer().start()
    try:
        problems = checks.readiness_with_database_problems(item.tag, server, "MY_SERVICE_")
    finally:
        server.remove()

    assert problems == []


def test_8_secret_credential_leaves_no_trace(built, package_index, tmp_path):
    """The index demands a password; the build gets it only through a BuildKit secret."""
    item = built("default")
    canary = "canary-Zq7wK9pX2-secret"
    server = package_index(
        item.project / "requirements.txt", item.scenario.python_version, auth=("ci", canary)
    )
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login ci password {canary}\n")
    tag = tag_for("secret")

    args = item.build_args(PIP_INDEX_URL=server.url)

    # The builder stage too: CI caches often push it, so it must be as clean.
    results = [
        build(item.project, tag, build_args=args, secrets={"netrc": netrc}),
        build(
            item.project,
            f"{tag}-builder",
            build_args=args,
            secrets={"netrc": netrc},
            target="builder",
        ),
    ]

    assert [r.returncode for r in results] == [0, 0], results[0].stdout[-3000:]
    assert server.authorized_requests > 0  # the secret really reached pip
    assert checks.secret_leak_problems(tag, canary) == []
    assert checks.secret_leak_problems(f"{tag}-builder", canary) == []


def test_8_credential_in_a_build_arg_is_detected(built, package_index):
    """Negative control: the same canary passed the wrong way is found by the same check."""
    item = built("default")
    canary = "canary-Zq7wK9pX2-secret"
    server = package_index(
        item.project / "requirements.txt", item.scenario.python_version, auth=("ci", canary)
    )
    leaky_url = server.url.replace("http://", f"http://ci:{canary}@")
    tag = tag_for("secret-as-arg")

    args = item.build_args(PIP_INDEX_URL=leaky_url)

    result = build(item.project, f"{tag}-builder", build_args=args, target="builder")

    assert result.returncode == 0, result.stdout[-3000:]
    assert "the credential is in `docker history`" in checks.secret_leak_problems(
        f"{tag}-builder", canary
    )


def test_9_tampered_hash_fails_the_build(built, mutant):
    item = built("default")
    lock = (item.project / "requirements.txt").read_text()
    fastapi_hashes = re.search(r"^fastapi==.*?(?=^\S)", lock, re.M | re.S).group(0)
    tampered = re.sub(r"sha256:[0-9a-f]{8}", "sha256:00000000", fastapi_hashes)
    project = mutant(item, "requirements.txt", fastapi_hashes, tampered)

    result = item.rebuild(project, tag_for("tampered"))

    assert checks.build_failure_problems(result, "DO NOT MATCH THE HASHES") == []


def test_9_unhashed_lock_fails_the_build(built, mutant):
    item = built("default")
    lock = (item.project / "requirements.txt").read_text()
    project = mutant(item, "requirements.txt", lock, checks.strip_hashes(lock))

    result = item.rebuild(project, tag_for("unhashed"))

    assert checks.build_failure_problems(result, "Hashes are required") == []


def test_size_budget_holds_at_default_and_fails_below(built):
    """`make size` in the generated project: zero at the default budget, non-zero below."""
    item = built("default")
    make = [
        "make",
        "--no-print-directory",
        "size",
        f"IMAGE={item.tag}",
        f"DOCKER={shlex.join(docker_cli())}",
    ]

    within = subprocess.run(make, cwd=item.project, capture_output=True, text=True)
    over = subprocess.run(
        [*make, "SIZE_BUDGET_MB=10"], cwd=item.project, capture_output=True, text=True
    )

    assert within.returncode == 0, within.stdout + within.stderr
    assert "OK: " in within.stdout
    assert "Largest installed packages" in within.stdout
    assert over.returncode != 0
    assert "is over the budget of 10 MB" in over.stdout
