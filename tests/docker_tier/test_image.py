"""Each Docker scenario's production image, built for real and checked by the
generated project's own `scripts/check_image.py`, plus the checks only the template
can make: locked versions, the minimal runtime's contents, a real database,
build-time secrets and hashes."""

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from . import checks
from .conftest import tag_for
from .engine import build, docker, docker_cli, parse_steps
from .scenarios import SCENARIOS

pytestmark = pytest.mark.docker

SCENARIO_NAMES = list(SCENARIOS)


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
def test_the_projects_own_image_check_passes(built, name):
    """`make docker-check`'s script, every check: config, context, layers, hardened run,
    graceful stop, start-up bytecode and the smoke test inside the container. The
    default scenario measures start-up three times, like `make docker-check`."""
    item = built(name)

    assert checks.image_check_problems(item.project, item.tag, quick=name != "default") == []


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_installed_packages_import(built, name):
    item = built(name)

    assert checks.fastapi_import_problems(item.tag, locked_version(item.project, "fastapi")) == []


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
    """Negative control: the same canary passed the wrong way is found, by the same leak
    check and by the project's own image check."""
    item = built("default")
    canary = "canary-Zq7wK9pX2-secret"
    server = package_index(
        item.project / "requirements.txt", item.scenario.python_version, auth=("ci", canary)
    )
    leaky_url = server.url.replace("http://", f"http://ci:{canary}@")
    tag = tag_for("secret-as-arg")

    args = item.build_args(PIP_INDEX_URL=leaky_url)

    # The builder stage, whose history records the build argument.
    result = build(item.project, tag, build_args=args, target="builder")

    assert result.returncode == 0, result.stdout[-3000:]
    assert "the credential is in `docker history`" in checks.secret_leak_problems(tag, canary)
    report = checks.image_check(item.project, tag, "config").stdout
    assert "FAIL  config" in report
    assert "a credential is in the image history (://ci:canary...)" in report


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


@pytest.mark.parametrize("name", ["default", "runtime:minimal"])
def test_code_only_change_reruns_only_the_apps_steps(built, mutant, name):
    """Layer order: after an edit under app/, every step of the dependencies stage
    comes from the cache and only the app's layers are new (its sources and its
    bytecode), so any build cache (the engine's, or the CI job's with mode=max)
    keeps the rest."""
    item = built(name)
    first_line = (item.project / "app" / "main.py").read_text().splitlines()[0]
    project = mutant(item, "app/main.py", first_line, f"# a code-only change\n{first_line}")

    result = item.rebuild(project, tag_for(f"code-change-{name}"))

    assert result.returncode == 0, result.stderr[-3000:]
    steps = parse_steps(result.stderr)
    # FROM only resolves the base image (BuildKit reports it as DONE or CACHED).
    rerun = [step["step"] for step in steps if not step["cached"] and "] FROM " not in step["step"]]
    stages = ("[dependencies ", "[dependency-bytecode ")
    assert not [step for step in rerun if step.startswith(stages)], rerun
    assert [step for step in steps if step["step"].startswith(stages)], steps
    before, after = (layer_digests(tag) for tag in (item.tag, tag_for(f"code-change-{name}")))
    assert len(before) == len(after), (before, after)
    pairs = enumerate(zip(before, after, strict=True), 1)
    changed = {number for number, (old, new) in pairs if old != new}
    checker = checks.project_checker(item.project)
    files = checker.layer_files(tag_for(f"code-change-{name}"), min_bytes=0)
    assert changed == {number for number, path, *_ in files if path.startswith("app/app/")}


def layer_digests(tag: str) -> list[str]:
    inspected = docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", tag)
    return json.loads(inspected.stdout)


def test_app_importing_a_package_not_installed_fails_the_build(built, mutant):
    """compile_bytecode.py reads app/ instead of importing it, but still stops the
    build at a top-level import that nothing installed provides, naming both."""
    item = built("default")
    project = mutant(
        item,
        "app/main.py",
        "from fastapi import FastAPI\n",
        "from fastapi import FastAPI\nimport httpx\n",
    )

    result = item.rebuild(project, tag_for("missing-import"))

    assert checks.build_failure_problems(result, "app/main.py imports httpx") == []
    assert (
        "Try: add the package to requirements.in, then make lock" in result.stdout + result.stderr
    )


def test_app_with_an_optional_import_still_builds(built, mutant):
    """An import inside try/except may be missing: the build must not refuse it."""
    item = built("default")
    optional = "try:\n    import httpx\nexcept ImportError:\n    httpx = None\n"
    project = mutant(
        item,
        "app/main.py",
        "from fastapi import FastAPI\n",
        f"from fastapi import FastAPI\n{optional}",
    )

    result = item.rebuild(project, tag_for("optional-import"))

    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize("name", ["default", "runtime:minimal"])
def test_size_budget_holds_at_default_and_fails_below(built, name):
    """`make size` budgets the MB a project adds to its base: zero at the default budget,
    non-zero (saying by how much) at 1 MB below the measurement."""
    item = built(name)
    make = [
        "make",
        "--no-print-directory",
        "size",
        f"IMAGE={item.tag}",
        f"DOCKER={shlex.join(docker_cli())}",
        f"BASE_IMAGE={item.base}",
    ]

    within = subprocess.run(make, cwd=item.project, capture_output=True, text=True)
    added = float(re.search(r"the project adds ([\d.]+) MB\.", within.stdout)[1])
    below = round(added - 1, 1)
    over = subprocess.run(
        [*make, f"SIZE_BUDGET_MB={below:g}"], cwd=item.project, capture_output=True, text=True
    )

    assert within.returncode == 0, within.stdout + within.stderr
    assert "OK: the project adds " in within.stdout
    assert "Largest installed packages" in within.stdout
    assert 15 < added < 30, within.stdout  # the app and its packages, not the base
    assert over.returncode != 0
    assert f"MB over the budget of {below:g} MB" in over.stdout, over.stdout
