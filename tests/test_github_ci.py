"""Generated CI: .github/workflows/ci.yml and .github/dependabot.yml.

Both files are rendered per project: a step that only some projects need is
in the workflow of those projects only, so the rendered file has no
conditions to evaluate. Every rendered project's GitHub files pass actionlint
(with shellcheck on the `run:` scripts) and zizmor (offline, pedantic persona,
no config file and no ignore comments honoured) with zero findings, and each
combination's jobs are exactly the steps listed below. Mutations prove that
each tool reports the mistakes it is here to catch. What neither tool
enforces (version comments on SHA pins, time limits, read-only jobs,
credential-free checkouts, make targets that exist) is checked by
`policy_problems`, which has its own mutations. The uv.lock guard of a uv
project is run for real, with uv, on a missing, a stale and a current lock.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from combinations import SUPPORTED
from conftest import TEMPLATE, find_python, run

WORKFLOW = Path(".github/workflows/ci.yml")
DEPENDABOT = Path(".github/dependabot.yml")
# owner/repo[/path]@<full commit SHA> # vX.Y.Z: Dependabot updates both together.
PINNED_USES = re.compile(r"uses: [\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+")
# What CI must run, as the Makefile names it: the same commands as locally.
REQUIRED_MAKE_TARGETS = {"setup", "lint", "test", "docker-smoke", "size"}
MAX_TIMEOUT_MINUTES = 60
# `make` where a command starts: a line's start, or after && || ;
MAKE_COMMAND = re.compile(r"(?:^|&&|\|\||;)[ \t]*make[ \t]+([^\n;&|]+)", re.MULTILINE)
LEFTOVER_JINJA = re.compile(r"\{%|%\}|\{#|cookiecutter")


def tool(name: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: pip install -r requirements-test.txt")
    return found


def actionlint(project: Path) -> tuple[int, str]:
    # shellcheck is found on PATH; pyflakes is off (no Python in `run:` scripts),
    # so the result does not depend on what else this machine has installed.
    env = {
        **os.environ,
        "PATH": f"{Path(tool('shellcheck')).parent}{os.pathsep}{os.environ['PATH']}",
    }
    command = [tool("actionlint"), "-no-color", "-oneline", "-shellcheck=shellcheck", "-pyflakes="]
    result = run([*command, str(WORKFLOW)], cwd=project, env=env)
    return result.returncode, result.stdout + result.stderr


def zizmor(project: Path) -> tuple[int, list[dict]]:
    result = run(
        [
            tool("zizmor"),
            "--offline",  # no GitHub API: the online audits are skipped, never half-run
            "--no-config",  # a zizmor.yml in the project could switch audits off
            "--no-ignores",  # and so could `# zizmor: ignore[...]` comments
            "--persona=pedantic",
            "--strict-collection",  # a file zizmor cannot parse is an error, not a warning
            "--no-progress",
            "--format=json",
            ".",
        ],
        cwd=project,
    )
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout)


def identifiers(findings: list[dict]) -> list[str]:
    return sorted({finding["ident"] for finding in findings})


def policy_problems(project: Path) -> list[str]:
    """This template's CI rules that actionlint and zizmor do not enforce."""
    text = (project / WORKFLOW).read_text(encoding="utf-8")
    workflow = yaml.safe_load(text)
    problems = []
    if workflow.get("permissions") != {}:
        problems.append("top-level permissions must be {} (each job asks for its own)")
    concurrency = workflow.get("concurrency") or {}
    if not concurrency.get("group") or "cancel-in-progress" not in concurrency:
        problems.append("concurrency needs a group and cancel-in-progress")
    problems += [
        f"not pinned by SHA with a # vX.Y.Z comment: {line.strip()}"
        for line in text.splitlines()
        if "uses:" in line and not PINNED_USES.search(line)
    ]
    used_targets, steps = set(), []
    for name, job in workflow["jobs"].items():
        if job.get("permissions") != {"contents": "read"}:
            problems.append(f"job {name}: permissions must be exactly contents: read")
        timeout = job.get("timeout-minutes")
        if not isinstance(timeout, int) or not 0 < timeout <= MAX_TIMEOUT_MINUTES:
            problems.append(f"job {name}: timeout-minutes must be 1..{MAX_TIMEOUT_MINUTES}")
        for step in job["steps"]:
            credentials = (step.get("with") or {}).get("persist-credentials")
            if step.get("uses", "").startswith("actions/checkout@") and credentials is not False:
                problems.append(f"job {name}: checkout must set persist-credentials: false")
            for command in MAKE_COMMAND.findall(step.get("run", "")):
                used_targets |= {word for word in command.split() if "=" not in word}
        steps += job["steps"]
    problems += image_step_problems(steps)
    if used_targets & {"lock", "upgrade"}:
        problems.append("CI re-locks: it must test the committed lock, not make its own")
    problems += [
        f"make target does not exist: {t}" for t in sorted(used_targets - makefile_targets(project))
    ]
    problems += [f"CI does not run make {t}" for t in sorted(REQUIRED_MAKE_TARGETS - used_targets)]
    return problems


def image_step_problems(steps: list[dict]) -> list[str]:
    """hadolint, a cached image build, an SBOM and a scan that fails the build."""
    problems = []
    by_action = {s["uses"].split("@")[0]: s.get("with") or {} for s in steps if "uses" in s}
    if not any("hadolint Dockerfile" in step.get("run", "") for step in steps):
        problems.append("CI does not run hadolint Dockerfile")
    build = by_action.get("docker/build-push-action", {})
    cache = (build.get("cache-from"), build.get("cache-to"))
    if build.get("load") is not True or cache != ("type=gha", "type=gha,mode=max"):
        problems.append("the image build must load the image and cache every stage's layers")
    if "anchore/sbom-action" not in by_action:
        problems.append("CI makes no SBOM")
    scan = by_action.get("anchore/scan-action", {})
    if scan.get("fail-build") is not True or scan.get("severity-cutoff") not in {
        "high",
        "critical",
    }:
        problems.append("the vulnerability scan must fail the build at high severity or above")
    return problems


def makefile_targets(project: Path) -> set[str]:
    """Targets of the Makefile and of the files it includes (deps.mk)."""
    makefile = (project / "Makefile").read_text(encoding="utf-8")
    for included in re.findall(r"^include (\S+)", makefile, flags=re.MULTILINE):
        makefile += (project / included).read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.MULTILINE))


# ----------------------------------------------------------------- rendering ---


@pytest.fixture(scope="module")
def rendered(cookies_session):
    """Render each combination once for this module; tests only read it.
    A test that changes files works on `project_copy`."""
    results = {}

    def _rendered(overrides: dict) -> Path:
        key = json.dumps(overrides, sort_keys=True)
        if key not in results:
            result = cookies_session.bake(extra_context=overrides, template=str(TEMPLATE))
            assert result.exit_code == 0, result.exception
            results[key] = result.project_path
        return results[key]

    return _rendered


@pytest.fixture
def project_copy(rendered, tmp_path):
    def _copy(overrides: dict) -> Path:
        source = rendered(overrides)
        return Path(shutil.copytree(source, tmp_path / source.name))

    return _copy


@pytest.mark.parametrize("combination", SUPPORTED)
def test_actionlint_is_silent(rendered, combination):
    assert actionlint(rendered(combination)) == (0, "")


@pytest.mark.parametrize("combination", SUPPORTED)
def test_zizmor_finds_nothing(rendered, combination):
    assert zizmor(rendered(combination)) == (0, [])


@pytest.mark.parametrize("combination", SUPPORTED)
def test_workflow_follows_the_ci_policy(rendered, combination):
    project = rendered(combination)
    text = (project / WORKFLOW).read_text(encoding="utf-8")

    assert policy_problems(project) == []
    assert not LEFTOVER_JINJA.search(text)
    # setup-python reads .python-version, which holds the image's Python.
    assert text.count("python-version-file: .python-version") == text.count("setup-python@")


# ------------------------------------------- the steps each project runs ---
UV_INSTALL = "Install uv 0.13.9 (hash-checked)"
UV_LOCK_GUARD = "uv.lock and requirements.txt are committed and current"
LIBPQ = "libpq headers for psycopg's C build"
START_POSTGRES = "Start PostgreSQL for tests/test_database.py"


def expected_steps(uv: bool, postgres: bool) -> dict[str, list[str]]:
    """Each job's steps, by name (or action), for one dependency workflow and database."""
    checkout = ["actions/checkout", "actions/setup-python"]
    return {
        "lint": [
            *checkout,
            *([UV_INSTALL, UV_LOCK_GUARD] if uv else []),
            *([LIBPQ] if postgres else []),
            "ruff format --check and ruff check (make lint)",
            "Install hadolint 2.15.1 (hash-checked)",
            "hadolint Dockerfile",
        ],
        "test": [
            *checkout,
            *([UV_INSTALL] if uv else []),
            *([LIBPQ, START_POSTGRES] if postgres else []),
            "pytest (make test)",
        ],
        "image": [
            "actions/checkout",
            *(["requirements.txt is committed"] if uv else []),
            "docker/setup-buildx-action",
            "Build the production image",
            "Smoke test inside the image, read-only, as its non-root user (make docker-smoke)",
            "Size budget (make size)",
            "SBOM (syft)",
            "Vulnerability scan (grype)",
        ],
    }


def steps_of(workflow: dict) -> list[dict]:
    return [step for body in workflow["jobs"].values() for step in body["steps"]]


def step_names(workflow: dict) -> dict[str, list[str]]:
    return {
        job: [step.get("name") or step["uses"].split("@")[0] for step in body["steps"]]
        for job, body in workflow["jobs"].items()
    }


@pytest.mark.parametrize("combination", SUPPORTED)
def test_workflow_has_exactly_the_steps_of_this_project(rendered, combination):
    project = rendered(combination)
    workflow = yaml.safe_load((project / WORKFLOW).read_text(encoding="utf-8"))
    uv = combination.get("dependency_workflow") == "uv"
    postgres = combination.get("database") == "postgres"

    assert step_names(workflow) == expected_steps(uv, postgres)
    # No conditions: a step that this project does not need is not rendered at all.
    assert not any("if" in entry for entry in [*workflow["jobs"].values(), *steps_of(workflow)])
    steps = {step.get("name"): step for step in steps_of(workflow)}
    setup_python = workflow["jobs"]["lint"]["steps"][1]["with"]
    # pip's cache is keyed on the file pip installs from; uv projects have no pip install.
    assert setup_python.get("cache-dependency-path") == (None if uv else "requirements-dev.txt")
    assert (project / "requirements-dev.txt").is_file() != uv
    if postgres:
        # tests/test_database.py reads TEST_DATABASE_URL: the server, role and
        # database the PostgreSQL step creates.
        assert "TEST_DATABASE_URL" in (project / "tests/test_database.py").read_text()
        url = steps["pytest (make test)"]["env"]["TEST_DATABASE_URL"]
        assert url == "postgresql://ci:ci@127.0.0.1:5432/ci"
        assert "CREATE ROLE ci LOGIN PASSWORD 'ci'" in steps[START_POSTGRES]["run"]
        assert "CREATE DATABASE ci OWNER ci" in steps[START_POSTGRES]["run"]
    else:
        assert "env" not in steps["pytest (make test)"]


# ------------------------------------------------------- uv.lock, for real ---
# The lint job's guard step runs in bash as GitHub runs it, with the real uv.


def run_lock_guard(project: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    workflow = yaml.safe_load((project / WORKFLOW).read_text(encoding="utf-8"))
    (script,) = [
        s["run"] for s in workflow["jobs"]["lint"]["steps"] if s.get("name") == UV_LOCK_GUARD
    ]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "uv").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m uv "$@"\n')
    (bin_dir / "uv").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "UV_PYTHON": find_python((project / ".python-version").read_text().strip()),
    }
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture
def locked_uv_project(project_copy, tmp_path):
    """A uv project after `make lock`, committed to git, as CI checks it out."""
    project = project_copy({"dependency_workflow": "uv"})
    python = find_python((project / ".python-version").read_text().strip())
    locked = run(["make", "lock", f"UV={sys.executable} -m uv", f"UV_PYTHON={python}"], cwd=project)
    assert locked.returncode == 0, locked.stdout + locked.stderr
    run(["git", "init", "-q"], cwd=project)
    commit(project)
    return project


def commit(project: Path) -> None:
    """Commit every change: CI checks out what was pushed."""
    for command in (["add", "-A"], ["commit", "-qm", "change"]):
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *command]
        assert run(git, cwd=project).returncode == 0


def test_missing_uv_lock_fails_with_the_fix(project_copy, tmp_path):
    project = project_copy({"dependency_workflow": "uv"})
    assert not (project / "uv.lock").exists()  # the template does not ship one

    result = run_lock_guard(project, tmp_path)

    assert result.returncode != 0
    assert "::error file=pyproject.toml::" in result.stdout
    assert "run make lock, then commit both" in result.stdout
    assert not (project / "uv.lock").exists()  # nothing re-locked


def test_current_uv_lock_and_export_pass(locked_uv_project, tmp_path):
    result = run_lock_guard(locked_uv_project, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr


def test_stale_uv_lock_fails_with_the_fix(locked_uv_project, tmp_path):
    pyproject = locked_uv_project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"fastapi",', '"fastapi", "idna",', 1))

    result = run_lock_guard(locked_uv_project, tmp_path)

    assert result.returncode != 0
    assert "::error file=uv.lock::" in result.stdout and "run make lock" in result.stdout


def test_export_that_differs_from_uv_lock_fails_with_the_fix(locked_uv_project, tmp_path):
    requirements = locked_uv_project / "requirements.txt"
    text = re.sub(r"^fastapi==\S+", "fastapi==0.1.0", requirements.read_text(), flags=re.M)
    requirements.write_text(text)
    commit(locked_uv_project)

    result = run_lock_guard(locked_uv_project, tmp_path)

    assert result.returncode != 0
    assert "::error file=requirements.txt::" in result.stdout
    assert "run make requirements" in result.stdout


# --------------------------------------------------------------- Dependabot ---


@pytest.mark.parametrize(
    ("workflow", "python_entries"),
    [
        ("requirements", [("pip", ["/", "/docker"])]),
        ("uv", [("uv", ["/"]), ("pip", ["/docker"])]),
    ],
)
def test_dependabot_covers_every_lock(rendered, workflow, python_entries):
    project = rendered({"dependency_workflow": workflow})
    config = yaml.safe_load((project / DEPENDABOT).read_text(encoding="utf-8"))

    entries = [
        (entry["package-ecosystem"], entry.get("directories") or [entry["directory"]])
        for entry in config["updates"]
    ]
    assert config["version"] == 2
    assert entries == [*python_entries, ("docker", ["/"]), ("github-actions", ["/"])]
    for entry in config["updates"]:
        assert entry["schedule"]["interval"] == "weekly", entry
        assert entry["cooldown"]["default-days"] >= 7, entry
        assert [group["patterns"] for group in entry["groups"].values()] == [["*"]], entry
    if workflow == "uv":
        # The export is written by `make requirements`, never edited on its own.
        assert config["updates"][0]["exclude-paths"] == ["requirements.txt"]


def test_dependabot_can_see_the_base_image(rendered):
    # Dependabot reads only literal `FROM image:tag` lines, not build arguments.
    dockerfile = (rendered({}) / "Dockerfile").read_text(encoding="utf-8")

    assert re.search(
        r"^FROM\s+(--platform=\S+\s+)?python:[\w.-]+(@sha256:\w+)?\b", dockerfile, re.M
    )


# ----------------------------------------------------------------- mutations ---
# Each mutation breaks one protective line of the rendered files; the named tool
# must report it. The text to replace must exist, so no mutation is a no-op.

CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"
JOB_PERMISSIONS = "    permissions:\n      contents: read\n"
CONCURRENCY = (
    "concurrency:\n"
    "  group: ${{ github.workflow }}-${{ github.event.pull_request.number || github.ref }}\n"
    "  cancel-in-progress: ${{ github.event_name == 'pull_request' }}\n"
)
COOLDOWN = "    cooldown:\n      default-days: 7\n"

ZIZMOR_MUTATIONS = [
    pytest.param(WORKFLOW, CHECKOUT, "actions/checkout@v7", "unpinned-uses", id="tag-not-sha"),
    pytest.param(
        WORKFLOW, "permissions: {}\n", "", "excessive-permissions", id="default-permissions"
    ),
    pytest.param(
        WORKFLOW,
        JOB_PERMISSIONS,
        "    permissions: write-all\n",
        "excessive-permissions",
        id="write-all-job",
    ),
    pytest.param(
        WORKFLOW,
        "run: make setup test\n",
        "run: make setup test ${{ github.head_ref }}\n",
        "template-injection",
        id="branch-name-in-script",
    ),
    pytest.param(WORKFLOW, CONCURRENCY, "", "concurrency-limits", id="no-concurrency"),
    pytest.param(DEPENDABOT, COOLDOWN, "", "dependabot-cooldown", id="no-cooldown"),
]

ACTIONLINT_MUTATIONS = [
    pytest.param(
        "tags: ${{ env.IMAGE }}", "tags: ${{ env.IMAGE) }}", "[expression]", id="bad-expression"
    ),
    pytest.param('IMAGE="$IMAGE"', "IMAGE=$IMAGE", "SC2086", id="unquoted-variable"),
    pytest.param("timeout-minutes: 30", "timeout-minute: 30", "[syntax-check]", id="typo-key"),
    pytest.param(
        "cancel-in-progress: ${{ github.event_name == 'pull_request' }}",
        "cancel-in-progress: ${{ github.event_nam == 'pull_request' }}",
        "[expression]",
        id="unknown-context-property",
    ),
]

POLICY_MUTATIONS = [
    pytest.param(CHECKOUT, CHECKOUT.split(" #")[0], "not pinned by SHA", id="no-version-comment"),
    pytest.param(
        "persist-credentials: false", "persist-credentials: true", "checkout", id="credentials"
    ),
    pytest.param("    timeout-minutes: 10\n", "", "timeout-minutes", id="no-timeout"),
    pytest.param("timeout-minutes: 10", "timeout-minutes: 600", "timeout-minutes", id="timeout"),
    pytest.param(
        JOB_PERMISSIONS,
        "    permissions:\n      contents: read\n      packages: write\n",
        "permissions must be exactly",
        id="extra-permission",
    ),
    pytest.param("make size IMAGE", "make sizes IMAGE", "does not exist: sizes", id="no-target"),
    pytest.param("run: make setup test\n", "run: make setup\n", "run make test", id="no-tests"),
    pytest.param("run: make setup lint", "run: make lock setup lint", "re-locks", id="make-lock"),
    pytest.param("run: hadolint Dockerfile", "run: echo skipped", "hadolint", id="no-hadolint"),
    pytest.param(
        "cache-to: type=gha,mode=max", "cache-to: type=gha", "every stage", id="min-cache"
    ),
    pytest.param("fail-build: true", "fail-build: false", "vulnerability scan", id="no-gate"),
    pytest.param("severity-cutoff: high", "severity-cutoff: medium", "high severity", id="noisy"),
    pytest.param("anchore/sbom-action@", "anchore/sbom-actions@", "SBOM", id="no-sbom"),
]


def mutate(project: Path, relative: Path, original: str, replacement: str) -> None:
    path = project / relative
    text = path.read_text(encoding="utf-8")
    assert original in text, f"mutation target missing from {relative}: {original!r}"
    path.write_text(text.replace(original, replacement, 1), encoding="utf-8")


@pytest.mark.parametrize(("relative", "original", "replacement", "finding"), ZIZMOR_MUTATIONS)
def test_zizmor_catches(project_copy, relative, original, replacement, finding):
    project = project_copy({})
    mutate(project, relative, original, replacement)

    returncode, findings = zizmor(project)

    assert returncode != 0
    assert finding in identifiers(findings)


@pytest.mark.parametrize(("original", "replacement", "finding"), ACTIONLINT_MUTATIONS)
def test_actionlint_catches(project_copy, original, replacement, finding):
    project = project_copy({})
    mutate(project, WORKFLOW, original, replacement)

    returncode, output = actionlint(project)

    assert returncode != 0
    assert finding in output


@pytest.mark.parametrize(("original", "replacement", "problem"), POLICY_MUTATIONS)
def test_policy_catches(project_copy, original, replacement, problem):
    project = project_copy({})
    mutate(project, WORKFLOW, original, replacement)

    problems = policy_problems(project)

    assert any(problem in p for p in problems), problems
