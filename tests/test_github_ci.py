"""Generated CI: .github/workflows/ci.yml and .github/dependabot.yml.

Every rendered project's GitHub files pass actionlint (with shellcheck on the
`run:` scripts) and zizmor (offline, pedantic persona, no config file and no
ignore comments honoured) with zero findings. Mutations prove that each tool
reports the mistakes it is here to catch. What neither tool enforces (version
comments on SHA pins, time limits, read-only jobs, credential-free checkouts,
make targets that exist) is checked by `workflow_policy_problems`, which has
its own mutations.

The workflow is one file for every option combination (it is copied, not
rendered), so steps that only some projects need carry an `if:` on a file
only those projects have. The policy check evaluates those conditions for
each rendered project, the way GitHub would, and then checks what that
project's CI really runs: uv installed and uv.lock verified before
`make setup` (uv), libpq headers before `make setup` and a started
PostgreSQL named by TEST_DATABASE_URL for the tests (postgres), and no step
that reads a file the project does not have. The uv.lock guard steps are
also run for real, with a stand-in uv, on a missing, a stale and a current
lock.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from combinations import SUPPORTED
from conftest import TEMPLATE, run

WORKFLOW = Path(".github/workflows/ci.yml")
DEPENDABOT = Path(".github/dependabot.yml")
TEMPLATE_WORKFLOW = TEMPLATE / "{{cookiecutter.project_slug}}" / WORKFLOW
# owner/repo[/path]@<full commit SHA> # vX.Y.Z: Dependabot updates both together.
PINNED_USES = re.compile(r"uses: [\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+")
# The checks the issue asks CI to run, as the Makefile names them.
REQUIRED_MAKE_TARGETS = {"setup", "lint", "test", "docker-check", "size"}
MAX_TIMEOUT_MINUTES = 60
# The job that publishes the image (checked by tests/test_release.py).
RELEASE_JOB = "release"
# `make` where a command starts: a line's start, or after && || ;
MAKE_COMMAND = re.compile(r"(?:^|&&|\|\||;)[ \t]*make[ \t]+([^\n;&|]+)", re.MULTILINE)


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
    result = run(
        [
            tool("actionlint"),
            "-no-color",
            "-oneline",
            "-shellcheck=shellcheck",
            "-pyflakes=",
            str(WORKFLOW),
        ],
        cwd=project,
        env=env,
    )
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


def workflow_policy_problems(text: str, project: Path) -> list[str]:
    """This template's CI rules that actionlint and zizmor do not enforce."""
    problems = []
    workflow = yaml.safe_load(text)
    if workflow.get("permissions") != {}:
        problems.append("top-level permissions must be {} (each job asks for its own)")
    concurrency = workflow.get("concurrency") or {}
    if not concurrency.get("group") or "cancel-in-progress" not in concurrency:
        problems.append("concurrency needs a group and cancel-in-progress")
    for line in text.splitlines():
        if "uses:" in line and not PINNED_USES.search(line):
            problems.append(f"not pinned by SHA with a # vX.Y.Z comment: {line.strip()}")
    used_targets, steps = set(), []
    for name, job in workflow["jobs"].items():
        if name == RELEASE_JOB:
            continue  # publishes, so it may write: tests/test_release.py checks it
        if job.get("permissions") != {"contents": "read"}:
            problems.append(f"job {name}: permissions must be exactly contents: read")
        timeout = job.get("timeout-minutes")
        if not isinstance(timeout, int) or not 0 < timeout <= MAX_TIMEOUT_MINUTES:
            problems.append(f"job {name}: timeout-minutes must be 1..{MAX_TIMEOUT_MINUTES}")
        steps += job["steps"]
        for step in job["steps"]:
            credentials = (step.get("with") or {}).get("persist-credentials")
            if step.get("uses", "").startswith("actions/checkout@") and credentials is not False:
                problems.append(f"job {name}: checkout must set persist-credentials: false")
            used_targets |= make_targets_of(step)
    problems += image_step_problems(steps)
    make_targets = makefile_targets(project)
    problems += [f"make target does not exist: {t}" for t in sorted(used_targets - make_targets)]
    problems += [f"CI does not run make {t}" for t in sorted(REQUIRED_MAKE_TARGETS - used_targets)]
    problems += project_problems(workflow, project)
    return problems


def make_targets_of(step: dict) -> set[str]:
    """Targets of the `make` commands a step runs (not of `make` in a message)."""
    targets = set()
    for command in MAKE_COMMAND.findall(step.get("run", "")):
        targets |= {word for word in command.split() if "=" not in word}
    return targets


def image_step_problems(steps: list[dict]) -> list[str]:
    """The checks the issue asks for beyond make targets: hadolint, a cached
    image build, an SBOM and a vulnerability scan that fails the build."""
    problems = []
    by_action = {
        step["uses"].split("@")[0]: step.get("with") or {} for step in steps if "uses" in step
    }
    if not any("hadolint Dockerfile" in step.get("run", "") for step in steps):
        problems.append("CI does not run hadolint Dockerfile")
    build = by_action.get("docker/build-push-action", {})
    if not (build.get("load") is True and build.get("cache-from") and build.get("cache-to")):
        problems.append("the image build must load the image and use a layer cache")
    if "anchore/sbom-action" not in by_action:
        problems.append("CI makes no SBOM")
    scan = by_action.get("anchore/scan-action", {})
    if scan.get("fail-build") is not True or scan.get("severity-cutoff") not in {
        "high",
        "critical",
    }:
        problems.append("the vulnerability scan must fail the build at high severity or above")
    return problems


# ------------------------------------------ what CI runs for one project ---
# The only `if:` this workflow uses: does the checkout have this file?
HASHFILES_CONDITION = re.compile(r"hashFiles\('([^']+)'\) (==|!=) ''")
# A running step may read a file only if the project has it.
REQUIREMENT_FILE = re.compile(r"--requirement\s+([\w./-]+)")
# Re-resolving the lock in CI: anything but a check.
RELOCK = re.compile(r"\buv lock\b(?! --check\b)(?! --locked\b)")
# What tests/test_database.py reads to find a real PostgreSQL server.
DATABASE_VARIABLE = "TEST_DATABASE_URL"


class UnknownCondition(Exception):
    """An `if:` this test cannot evaluate: teach `runs_for` before using it."""


def runs_for(entry: dict, project: Path) -> bool:
    """Whether a job or step with this `if:` runs for this checkout."""
    condition = entry.get("if")
    if condition is None:
        return True
    match = HASHFILES_CONDITION.fullmatch(str(condition).strip())
    if not match:
        raise UnknownCondition(condition)
    has_file = any(path.is_file() for path in project.glob(match[1]))
    return has_file == (match[2] == "!=")


def project_needs(project: Path) -> dict[str, bool]:
    """What this project's `make setup` and tests need from the runner, read
    from the project itself, not from the workflow's conditions."""
    dev_lock = project / "requirements-dev.txt"
    locks = (dev_lock.read_text(encoding="utf-8") if dev_lock.exists() else "") + (
        project / "pyproject.toml"
    ).read_text(encoding="utf-8")
    database_test = project / "tests" / "test_database.py"
    return {
        # deps.mk runs $(UV): the uv workflow.
        "uv": "$(UV)" in (project / "deps.mk").read_text(encoding="utf-8"),
        # psycopg's C implementation is built from source: pg_config.
        "libpq-dev": "psycopg-c==" in locks or "psycopg[c]" in locks,
        "database": database_test.exists(),
        "database-url": database_test.exists()
        and DATABASE_VARIABLE in database_test.read_text(encoding="utf-8"),
    }


def installs_uv(step: dict) -> bool:
    run = step.get("run", "")
    pinned_pip = "docker/uv-requirements.txt" in run and "--require-hashes" in run
    return pinned_pip or step.get("uses", "").startswith("astral-sh/setup-uv@")


def checks_lock(step: dict) -> bool:
    return bool(re.search(r"\buv lock --(check|locked)\b", step.get("run", "")))


def step_label(job: str, step: dict) -> str:
    return f"job {job}, step {step.get('name') or step.get('uses') or step.get('run')!r}"


def project_problems(workflow: dict, project: Path) -> list[str]:
    """Walk each job's steps as GitHub would for this project (conditions
    evaluated), and check that what runs can work for it."""
    needs = project_needs(project)
    problems = []
    if needs["database"] and not needs["database-url"]:
        problems.append(f"tests/test_database.py no longer reads {DATABASE_VARIABLE}: update CI")
    for name, job in workflow["jobs"].items():
        if name == RELEASE_JOB:
            continue  # runs on pushes only, never for a file: tests/test_release.py
        try:
            if not runs_for(job, project):
                continue
            steps = [step for step in job["steps"] if runs_for(step, project)]
        except UnknownCondition as condition:
            problems.append(f"job {name}: cannot tell whether this runs: if: {condition}")
            continue
        env = {**(workflow.get("env") or {}), **(job.get("env") or {})}
        for index, step in enumerate(steps):
            problems += step_problems(name, step, steps[:index], env, project, needs)
    return problems


def step_problems(
    job: str, step: dict, before: list[dict], env: dict, project: Path, needs: dict
) -> list[str]:
    """One step that runs for this project, after the steps `before` it."""
    problems, label = [], step_label(job, step)
    run, targets, uses = step.get("run", ""), make_targets_of(step), step.get("uses", "")
    before_runs = "\n".join(earlier.get("run", "") for earlier in before)
    for required in REQUIREMENT_FILE.findall(run):
        if not (project / required).is_file():
            problems.append(f"{label} reads {required}, which this project does not have")
    if RELOCK.search(run) or targets & {"lock", "upgrade"}:
        problems.append(f"{label} re-locks: CI must test the committed lock, not make its own")
    if uses.startswith("actions/setup-python@") and (step.get("with") or {}).get("cache"):
        # setup-python would key the cache on pyproject.toml: a new lock, an old cache.
        patterns = str(step["with"].get("cache-dependency-path", "")).split()
        if not any(path.is_file() for pattern in patterns for path in project.glob(pattern)):
            problems.append(f"{label}: cache-dependency-path matches no file of this project")
    if needs["uv"] and re.search(r"\.venv/bin/(pip|python -m pip)\b", run):
        problems.append(f"{label} runs pip from .venv, but a uv project's .venv has no pip")
    if "setup" in targets:
        if needs["uv"] and not any(installs_uv(earlier) for earlier in before):
            problems.append(f"job {job}: make setup needs uv, but no earlier step installs it")
        if needs["uv"] and not any(checks_lock(earlier) for earlier in before):
            problems.append(
                f"job {job}: make setup runs before `uv lock --check`: a stale uv.lock "
                "would be re-locked instead of failing"
            )
        if needs["libpq-dev"] and "libpq-dev" not in before_runs:
            problems.append(
                f"job {job}: make setup builds psycopg-c, but no earlier step "
                "provides libpq-dev (pg_config)"
            )
    uses_lock = "setup" in targets or uses.startswith("docker/build-push-action@")
    if needs["uv"] and uses_lock and "-f uv.lock" not in before_runs:
        problems.append(f"{label} uses uv.lock, but no earlier step checks it is committed")
    if "test" in targets and needs["database"]:
        problems += database_problems(job, step, before, env)
    return problems


def database_problems(job: str, step: dict, before: list[dict], env: dict) -> list[str]:
    """tests/test_database.py needs a real server, named by TEST_DATABASE_URL."""
    url = {**env, **(step.get("env") or {})}.get(DATABASE_VARIABLE, "")
    if not str(url).startswith("postgresql://"):
        return [f"job {job}: make test runs without {DATABASE_VARIABLE}: the database test skips"]
    starts = [s.get("run", "") for s in before if "systemctl start postgresql" in s.get("run", "")]
    if not starts:
        return [f"job {job}: {DATABASE_VARIABLE} is set, but no earlier step starts PostgreSQL"]
    parts = urlsplit(url)
    creates = [
        f"CREATE ROLE {parts.username} LOGIN PASSWORD '{parts.password}'",
        f"CREATE DATABASE {parts.path.lstrip('/')} OWNER {parts.username}",
    ]
    if parts.hostname != "127.0.0.1" or not all(sql in starts[-1] for sql in creates):
        return [
            f"job {job}: {DATABASE_VARIABLE} names a server, role or database the "
            "PostgreSQL step does not create"
        ]
    return []


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

    def _rendered(overrides: dict):
        key = json.dumps(overrides, sort_keys=True)
        if key not in results:
            result = cookies_session.bake(extra_context=overrides, template=str(TEMPLATE))
            assert result.exit_code == 0, result.exception
            results[key] = result
        return results[key]

    return _rendered


@pytest.fixture
def project_copy(rendered, tmp_path):
    def _copy(overrides: dict) -> Path:
        source = rendered(overrides).project_path
        return Path(shutil.copytree(source, tmp_path / source.name))

    return _copy


# ------------------------------------------------ every supported combination ---


@pytest.mark.parametrize("combination", SUPPORTED)
def test_actionlint_is_silent(rendered, combination):
    project = rendered(combination).project_path

    assert actionlint(project) == (0, "")


@pytest.mark.parametrize("combination", SUPPORTED)
def test_zizmor_finds_nothing(rendered, combination):
    project = rendered(combination).project_path

    assert zizmor(project) == (0, [])


@pytest.mark.parametrize("combination", SUPPORTED)
def test_workflow_is_copied_without_rendering(rendered, combination):
    # GitHub's ${{ }} expressions would collide with Jinja: the workflow is listed
    # in cookiecutter.json's _copy_without_render and must need no substitution.
    project = rendered(combination).project_path

    assert (project / WORKFLOW).read_bytes() == TEMPLATE_WORKFLOW.read_bytes()
    assert "cookiecutter" not in TEMPLATE_WORKFLOW.read_text(encoding="utf-8")


@pytest.mark.parametrize("combination", SUPPORTED)
def test_ci_python_is_the_image_python(rendered, combination):
    # setup-python reads .python-version, the one rendered file CI depends on.
    result = rendered(combination)
    project = result.project_path
    workflow = (project / WORKFLOW).read_text(encoding="utf-8")

    assert (project / ".python-version").read_text() == result.context["python_version"] + "\n"
    assert workflow.count("python-version-file: .python-version") == workflow.count(
        "actions/setup-python@"
    )


@pytest.mark.parametrize("combination", SUPPORTED)
def test_workflow_follows_the_ci_policy(rendered, combination):
    project = rendered(combination).project_path
    text = (project / WORKFLOW).read_text(encoding="utf-8")

    assert workflow_policy_problems(text, project) == []


@pytest.mark.parametrize(
    ("combination", "expected"),
    [
        pytest.param({}, {"uv": False, "database": False}, id="default"),
        pytest.param({"dependency_workflow": "uv"}, {"uv": True, "database": False}, id="uv"),
        pytest.param({"database": "postgres"}, {"uv": False, "database": True}, id="postgres"),
        pytest.param(
            {"dependency_workflow": "uv", "database": "postgres"},
            {"uv": True, "database": True},
            id="uv-postgres",
        ),
    ],
)
def test_conditional_steps_run_for_their_projects(rendered, combination, expected):
    # The policy check above trusts `runs_for` and `project_needs`; this pins
    # them to the steps they must select, so neither can quietly select nothing.
    project = rendered(combination).project_path
    workflow = yaml.safe_load((project / WORKFLOW).read_text(encoding="utf-8"))
    running = {
        f"{job}: {step.get('name', step.get('uses'))}"
        for job, body in workflow["jobs"].items()
        for step in body["steps"]
        if runs_for(step, project)
    }
    uv_steps = {s for s in running if "(uv projects)" in s}
    database_steps = {s for s in running if "(postgres projects)" in s}
    needs = project_needs(project)

    assert {k: needs[k] for k in expected} == expected
    assert needs["libpq-dev"] == expected["database"]
    assert len(uv_steps) == (5 if expected["uv"] else 0), uv_steps
    assert len(database_steps) == (3 if expected["database"] else 0), database_steps


# ------------------------------------------------------- uv.lock, for real ---
# The guard steps of a uv project run in bash as GitHub runs them, with a
# stand-in `uv` that records its arguments: no network, no real resolution.

FAKE_UV = """#!/bin/sh
echo "$*" >> "$FAKE_UV_LOG"
if [ "$*" = "lock --check" ]; then exit "$FAKE_UV_CHECK_STATUS"; fi
"""


def run_lock_guards(project: Path, bin_dir: Path, check_status: int) -> dict[str, tuple]:
    """{job: (exit status, output, uv calls)} for each step that reads uv.lock."""
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "uv").write_text(FAKE_UV, encoding="utf-8")
    (bin_dir / "uv").chmod(0o755)
    workflow = yaml.safe_load((project / WORKFLOW).read_text(encoding="utf-8"))
    outcomes = {}
    for job, body in workflow["jobs"].items():
        for step in body["steps"]:
            if "uv.lock" not in step.get("run", "") or not runs_for(step, project):
                continue
            log = bin_dir / f"{job}.log"
            log.write_text("", encoding="utf-8")
            env = {
                **os.environ,
                "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                "FAKE_UV_LOG": str(log),
                "FAKE_UV_CHECK_STATUS": str(check_status),
            }
            result = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
            calls = log.read_text(encoding="utf-8").splitlines()
            outcomes[job] = (result.returncode, result.stdout + result.stderr, calls)
    return outcomes


def test_missing_uv_lock_fails_every_job_that_needs_it(project_copy, tmp_path):
    project = project_copy({"dependency_workflow": "uv"})
    assert not (project / "uv.lock").exists()  # the template does not ship one

    outcomes = run_lock_guards(project, tmp_path / "bin", check_status=0)

    assert set(outcomes) == {"lint", "test", "image"}
    for job, (status, output, calls) in outcomes.items():
        assert status != 0, job
        assert "::error file=pyproject.toml::" in output, job
        assert "commit uv.lock" in output, job
        assert calls == [], f"{job} ran uv without a lock: {calls}"  # nothing re-locks


def test_stale_uv_lock_fails_before_make_setup(project_copy, tmp_path):
    project = project_copy({"dependency_workflow": "uv"})
    (project / "uv.lock").write_text("version = 1\n", encoding="utf-8")

    outcomes = run_lock_guards(project, tmp_path / "bin", check_status=1)

    for job in ("lint", "test"):  # the jobs that run make setup
        status, output, calls = outcomes[job]
        assert status != 0, job
        assert calls == ["lock --check"], job
        assert "::error file=uv.lock::" in output and "run make lock" in output, job


def test_committed_current_uv_lock_passes(project_copy, tmp_path):
    project = project_copy({"dependency_workflow": "uv"})
    (project / "uv.lock").write_text("version = 1\n", encoding="utf-8")

    outcomes = run_lock_guards(project, tmp_path / "bin", check_status=0)

    assert {job: status for job, (status, _, _) in outcomes.items()} == {
        "lint": 0,
        "test": 0,
        "image": 0,
    }
    assert (project / "uv.lock").read_text(encoding="utf-8") == "version = 1\n"


# --------------------------------------------------------------- Dependabot ---


@pytest.mark.parametrize(
    ("workflow", "ecosystems"),
    [
        ("requirements", {"pip", "docker", "github-actions"}),
        ("uv", {"uv", "docker", "github-actions"}),
    ],
)
def test_dependabot_covers_every_pin(rendered, workflow, ecosystems):
    project = rendered({"dependency_workflow": workflow}).project_path
    config = yaml.safe_load((project / DEPENDABOT).read_text(encoding="utf-8"))

    updates = {entry["package-ecosystem"]: entry for entry in config["updates"]}
    assert config["version"] == 2
    assert set(updates) == ecosystems
    for ecosystem, entry in updates.items():
        assert entry["directory"] == "/", ecosystem
        assert entry["schedule"]["interval"] == "weekly", ecosystem
        assert entry["cooldown"]["default-days"] >= 7, ecosystem
        assert [group["patterns"] for group in entry["groups"].values()] == [["*"]], ecosystem


def test_dependabot_can_see_the_base_image(rendered):
    # Dependabot reads only literal `FROM image:tag` lines, not build arguments.
    dockerfile = (rendered({}).project_path / "Dockerfile").read_text(encoding="utf-8")

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
    pytest.param(
        "if: hashFiles('tests/test_database.py') != ''",
        "if: hashFile('tests/test_database.py') != ''",
        "[expression]",
        id="misspelt-hashfiles",
    ),
]

DEFAULT, UV, POSTGRES = {}, {"dependency_workflow": "uv"}, {"database": "postgres"}
UV_IF = "if: hashFiles('docker/uv-requirements.txt') != ''"
INSTALL_UV = f"      - name: Install uv, pinned and hash-checked (uv projects)\n        {UV_IF}\n"
DATABASE_IF = "if: hashFiles('tests/test_database.py') != ''"
LIBPQ = (
    f"      - name: libpq headers for psycopg's C build (postgres projects)\n        {DATABASE_IF}"
)
START_POSTGRES = "      - name: Start PostgreSQL for tests/test_database.py (postgres projects)\n"
IMAGE_LOCK_GUARD = (
    "      - name: uv.lock is committed (uv projects)\n"
    f"        {UV_IF}\n"
    "        run: |\n"
    "          if [ ! -f uv.lock ]; then\n"
    '            echo "::error file=pyproject.toml::uv.lock is missing: run make setup, then '
    'commit uv.lock"\n'
    "            exit 1\n"
    "          fi\n"
)
HADOLINT_PIP = (
    "python -m pip install --quiet --no-deps --require-hashes \\\n"
    '            --requirement "$RUNNER_TEMP'
)

POLICY_MUTATIONS = [
    pytest.param(
        DEFAULT, CHECKOUT, CHECKOUT.split(" #")[0], "not pinned by SHA", id="no-version-comment"
    ),
    pytest.param(
        DEFAULT,
        "persist-credentials: false",
        "persist-credentials: true",
        "checkout",
        id="credentials",
    ),
    pytest.param(DEFAULT, "    timeout-minutes: 10\n", "", "timeout-minutes", id="no-timeout"),
    pytest.param(
        DEFAULT, "timeout-minutes: 10", "timeout-minutes: 600", "timeout-minutes", id="timeout"
    ),
    pytest.param(
        DEFAULT,
        JOB_PERMISSIONS,
        "    permissions:\n      contents: read\n      packages: write\n",
        "permissions must be exactly",
        id="extra-permission",
    ),
    pytest.param(
        DEFAULT, "make size IMAGE", "make sizes IMAGE", "does not exist: sizes", id="no-target"
    ),
    pytest.param(
        DEFAULT, "run: make setup test\n", "run: make setup\n", "run make test", id="no-tests"
    ),
    pytest.param(
        DEFAULT, "run: hadolint Dockerfile", "run: echo skipped", "hadolint", id="no-hadolint"
    ),
    pytest.param(
        DEFAULT, "\n          cache-to: type=gha,mode=max", "", "layer cache", id="no-cache"
    ),
    pytest.param(
        DEFAULT, "fail-build: true", "fail-build: false", "vulnerability scan", id="no-gate"
    ),
    pytest.param(
        DEFAULT, "severity-cutoff: high", "severity-cutoff: medium", "high severity", id="noisy"
    ),
    pytest.param(DEFAULT, "anchore/sbom-action@", "anchore/sbom-actions@", "SBOM", id="no-sbom"),
    # Conditions: a step must run exactly for the projects that have its file.
    pytest.param(
        DEFAULT,
        INSTALL_UV,
        INSTALL_UV.replace(f"        {UV_IF}\n", ""),
        "reads docker/uv-requirements.txt, which this project does not have",
        id="uv-install-runs-everywhere",
    ),
    pytest.param(
        DEFAULT,
        DATABASE_IF,
        f"{DATABASE_IF} && always()",
        "cannot tell whether",
        id="condition-not-understood",
    ),
    # uv projects.
    pytest.param(
        UV,
        INSTALL_UV,
        INSTALL_UV.replace("docker/uv-requirements", "uv-requirements"),
        "make setup needs uv",
        id="uv-not-installed",
    ),
    pytest.param(UV, "uv lock --check ||", "uv lock ||", "re-locks", id="uv-relocks"),
    pytest.param(
        UV, "uv lock --check ||", "true ||", "before `uv lock --check`", id="uv-lock-not-checked"
    ),
    pytest.param(
        UV, "run: make setup lint", "run: make lock setup lint", "re-locks", id="make-lock"
    ),
    pytest.param(
        UV,
        IMAGE_LOCK_GUARD,
        "",
        "no earlier step checks it is committed",
        id="image-lock-unchecked",
    ),
    pytest.param(
        UV, HADOLINT_PIP, f".venv/bin/{HADOLINT_PIP}", "has no pip", id="pip-from-uv-venv"
    ),
    # postgres projects.
    pytest.param(
        POSTGRES, LIBPQ, LIBPQ.replace("test_database", "test_db"), "libpq-dev", id="no-libpq"
    ),
    pytest.param(
        POSTGRES,
        "          TEST_DATABASE_URL: postgresql://ci:ci@127.0.0.1:5432/ci\n",
        "",
        "without TEST_DATABASE_URL",
        id="no-database-url",
    ),
    pytest.param(
        POSTGRES,
        f"{START_POSTGRES}        {DATABASE_IF}",
        f"{START_POSTGRES}        {DATABASE_IF.replace('test_database', 'test_db')}",
        "no earlier step starts PostgreSQL",
        id="database-not-started",
    ),
    pytest.param(
        POSTGRES,
        "CREATE DATABASE ci OWNER ci",
        "CREATE DATABASE service OWNER ci",
        "does not create",
        id="wrong-database",
    ),
    pytest.param(
        POSTGRES, "PASSWORD 'ci'", "PASSWORD 'other'", "does not create", id="wrong-password"
    ),
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


@pytest.mark.parametrize(("combination", "original", "replacement", "problem"), POLICY_MUTATIONS)
def test_policy_catches(project_copy, combination, original, replacement, problem):
    project = project_copy(combination)
    mutate(project, WORKFLOW, original, replacement)
    text = (project / WORKFLOW).read_text(encoding="utf-8")

    problems = workflow_policy_problems(text, project)

    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    ("combination", "change", "problem"),
    [
        # The project changes, the workflow does not: the policy must notice.
        pytest.param(
            POSTGRES,
            lambda p: (p / "tests/test_database.py").write_text(
                (p / "tests/test_database.py")
                .read_text(encoding="utf-8")
                .replace("TEST_DATABASE_URL", "PG_URL"),
                encoding="utf-8",
            ),
            "no longer reads TEST_DATABASE_URL",
            id="database-variable-renamed",
        ),
        pytest.param(
            UV,
            lambda p: (p / "docker/uv-requirements.txt").unlink(),
            "make setup needs uv",
            id="uv-pin-file-gone",
        ),
    ],
)
def test_policy_follows_the_project(project_copy, combination, change, problem):
    project = project_copy(combination)
    change(project)
    text = (project / WORKFLOW).read_text(encoding="utf-8")

    problems = workflow_policy_problems(text, project)

    assert any(problem in p for p in problems), problems
