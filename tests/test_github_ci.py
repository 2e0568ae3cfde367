"""Generated CI: .github/workflows/ci.yml and .github/dependabot.yml.

Both are rendered per project, so a step that only uv or postgres projects
need exists only in theirs and nothing is left for GitHub to evaluate. Every
rendered project passes actionlint (with shellcheck) and zizmor (offline,
pedantic, no config, no ignore comments) with zero findings, and has exactly
the steps `expected_steps` lists. `policy_problems` checks what neither tool
enforces (version comments on SHA pins, time limits, read-only jobs,
credential-free checkouts, make targets that exist). Mutations prove each
checker can fail. A uv project's lock guard is run for real, with uv.
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
REQUIRED_MAKE_TARGETS = {"setup", "lint", "test", "docker-check", "size"}
MAX_TIMEOUT_MINUTES = 60
# The job that publishes the image (checked by tests/test_release.py).
RELEASE_JOB = "release"
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


# --offline: no GitHub API (online audits skipped, never half-run); --no-config and
# --no-ignores: a zizmor.yml or `# zizmor: ignore[...]` could switch audits off;
# --strict-collection: a file zizmor cannot parse is an error, not a warning.
ZIZMOR_FLAGS = ["--offline", "--no-config", "--no-ignores", "--persona=pedantic"]
ZIZMOR_FLAGS += ["--strict-collection", "--no-progress", "--format=json"]


def zizmor(project: Path) -> tuple[int, list[dict]]:
    result = run([tool("zizmor"), *ZIZMOR_FLAGS, "."], cwd=project)
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
        if name == RELEASE_JOB:
            continue  # publishes, so it may write: tests/test_release.py checks it
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
    gate = (scan.get("fail-build"), scan.get("severity-cutoff"))
    if gate not in {(True, "high"), (True, "critical")}:
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
def test_actionlint_and_zizmor_find_nothing(rendered, combination):
    assert actionlint(rendered(combination)) == (0, "")
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
            "Prove the image (make docker-check)",
            "Size budget (make size)",
            "SBOM (syft)",
            "Vulnerability scan (grype)",
        ],
    }


def checking_jobs(workflow: dict) -> dict[str, dict]:
    """The jobs that check a project; the release job is tests/test_release.py's."""
    return {name: job for name, job in workflow["jobs"].items() if name != RELEASE_JOB}


def steps_of(workflow: dict) -> list[dict]:
    return [step for body in checking_jobs(workflow).values() for step in body["steps"]]


def step_names(workflow: dict) -> dict[str, list[str]]:
    return {
        job: [step.get("name") or step["uses"].split("@")[0] for step in body["steps"]]
        for job, body in checking_jobs(workflow).items()
    }


@pytest.mark.parametrize("combination", SUPPORTED)
def test_workflow_has_exactly_the_steps_of_this_project(rendered, combination):
    project = rendered(combination)
    workflow = yaml.safe_load((project / WORKFLOW).read_text(encoding="utf-8"))
    uv = combination.get("dependency_workflow") == "uv"
    postgres = combination.get("database") == "postgres"

    assert step_names(workflow) == expected_steps(uv, postgres)
    # No conditions: a step that this project does not need is not rendered at all.
    entries = [*checking_jobs(workflow).values(), *steps_of(workflow)]
    assert not any("if" in entry for entry in entries)
    steps = {step.get("name"): step for step in steps_of(workflow)}
    setup_python = workflow["jobs"]["lint"]["steps"][1]["with"]
    # No pip cache: the workflow publishes, and a cache another run wrote must not
    # reach the jobs that gate a release (zizmor's cache-poisoning rule).
    assert "cache" not in setup_python
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
    bash = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
    return run(bash, cwd=project, env=env, timeout=300)


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
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    assert run([*git, "add", "-A"], cwd=project).returncode == 0
    run([*git, "commit", "-qm", "change"], cwd=project)  # nothing to commit is fine


def test_missing_uv_lock_fails_with_the_fix(project_copy, tmp_path):
    project = project_copy({"dependency_workflow": "uv"})
    assert not (project / "uv.lock").exists()  # the template does not ship one

    result = run_lock_guard(project, tmp_path)

    assert result.returncode != 0
    assert "::error file=pyproject.toml::" in result.stdout
    assert "run make lock, then commit both" in result.stdout
    assert not (project / "uv.lock").exists()  # nothing re-locked


def edit(path: Path, pattern: str, replacement: str) -> None:
    path.write_text(re.sub(pattern, replacement, path.read_text(), count=1, flags=re.M))


@pytest.mark.parametrize(
    ("change", "error"),
    [
        pytest.param(lambda p: None, None, id="current"),
        pytest.param(
            lambda p: edit(p / "pyproject.toml", r'"fastapi",', '"fastapi", "idna",'),
            "::error file=uv.lock::uv.lock does not match pyproject.toml: run make lock",
            id="stale-uv-lock",
        ),
        pytest.param(
            lambda p: edit(p / "requirements.txt", r"^fastapi==\S+", "fastapi==0.1.0"),
            "::error file=requirements.txt::requirements.txt does not match uv.lock: "
            "run make requirements",
            id="export-differs",
        ),
    ],
)
def test_lock_guard_passes_only_a_current_lock_and_export(
    locked_uv_project, tmp_path, change, error
):
    change(locked_uv_project)
    commit(locked_uv_project)

    result = run_lock_guard(locked_uv_project, tmp_path)

    if error is None:
        assert result.returncode == 0, result.stdout + result.stderr
    else:
        assert result.returncode != 0 and error in result.stdout, result.stdout


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

# (id, the tool that must report it, file, text replaced, replacement, expected finding)
MUTATIONS = [
    ("tag-not-sha", "zizmor", WORKFLOW, CHECKOUT, "actions/checkout@v7", "unpinned-uses"),
    ("default-permissions", "zizmor", WORKFLOW, "permissions: {}\n", "", "excessive-permissions"),
    ("write-all-job", "zizmor", WORKFLOW, JOB_PERMISSIONS, "    permissions: write-all\n",
     "excessive-permissions"),
    ("branch-name-in-script", "zizmor", WORKFLOW, "run: make setup test\n",
     "run: make setup test ${{ github.head_ref }}\n", "template-injection"),
    ("no-concurrency", "zizmor", WORKFLOW, CONCURRENCY, "", "concurrency-limits"),
    ("no-cooldown", "zizmor", DEPENDABOT, COOLDOWN, "", "dependabot-cooldown"),
    ("bad-expression", "actionlint", WORKFLOW, "tags: ${{ env.IMAGE }}",
     "tags: ${{ env.IMAGE) }}", "[expression]"),
    ("unquoted-variable", "actionlint", WORKFLOW, 'IMAGE="$IMAGE"', "IMAGE=$IMAGE", "SC2086"),
    ("typo-key", "actionlint", WORKFLOW, "timeout-minutes: 30", "timeout-minute: 30",
     "[syntax-check]"),
    ("unknown-context-property", "actionlint", WORKFLOW, "github.event_name ==",
     "github.event_nam ==", "[expression]"),
    ("no-version-comment", "policy", WORKFLOW, CHECKOUT, CHECKOUT.split(" #")[0],
     "not pinned by SHA"),
    ("credentials", "policy", WORKFLOW, "persist-credentials: false", "persist-credentials: true",
     "checkout"),
    ("no-timeout", "policy", WORKFLOW, "    timeout-minutes: 10\n", "", "timeout-minutes"),
    ("timeout", "policy", WORKFLOW, "timeout-minutes: 10", "timeout-minutes: 600",
     "timeout-minutes"),
    ("extra-permission", "policy", WORKFLOW, JOB_PERMISSIONS,
     "    permissions:\n      contents: read\n      packages: write\n",
     "permissions must be exactly"),
    ("no-target", "policy", WORKFLOW, "make size IMAGE", "make sizes IMAGE",
     "does not exist: sizes"),
    ("no-tests", "policy", WORKFLOW, "run: make setup test\n", "run: make setup\n",
     "run make test"),
    ("make-lock", "policy", WORKFLOW, "run: make setup lint", "run: make lock setup lint",
     "re-locks"),
    ("no-hadolint", "policy", WORKFLOW, "run: hadolint Dockerfile", "run: echo skipped",
     "hadolint"),
    ("min-cache", "policy", WORKFLOW, "cache-to: type=gha,mode=max", "cache-to: type=gha",
     "every stage"),
    ("no-gate", "policy", WORKFLOW, "fail-build: true", "fail-build: false", "vulnerability scan"),
    ("noisy", "policy", WORKFLOW, "severity-cutoff: high", "severity-cutoff: medium",
     "high severity"),
    ("no-sbom", "policy", WORKFLOW, "anchore/sbom-action@", "anchore/sbom-actions@", "SBOM"),
]  # fmt: skip


def findings(checker: str, project: Path) -> list[str]:
    """What one checker reports for a project (nothing when it passes)."""
    if checker == "policy":
        return policy_problems(project)
    returncode, output = actionlint(project) if checker == "actionlint" else zizmor(project)
    if returncode == 0:
        return []
    return [output] if checker == "actionlint" else identifiers(output)


@pytest.mark.parametrize(
    ("checker", "relative", "original", "replacement", "expected"),
    [pytest.param(*row, id=name) for name, *row in MUTATIONS],
)
def test_mutation_is_caught(project_copy, checker, relative, original, replacement, expected):
    project = project_copy({})
    path = project / relative
    text = path.read_text(encoding="utf-8")
    assert original in text, f"mutation target missing from {relative}: {original!r}"
    path.write_text(text.replace(original, replacement, 1), encoding="utf-8")

    found = findings(checker, project)

    assert any(expected in finding for finding in found), found
