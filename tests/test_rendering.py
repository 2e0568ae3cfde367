"""Rendering: every supported combination generates a complete project, and bad
answers are refused cleanly."""

import re
import sys
from pathlib import Path

import pytest
from combinations import SUPPORTED, UNSUPPORTED
from conftest import TEMPLATE, cookiecutter_defaults, run

EXPECTED_FILES = [
    ".dockerignore",
    ".env.example",
    ".github/dependabot.yml",
    ".github/workflows/ci.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".python-version",
    "Dockerfile",
    "Makefile",
    "README.md",
    "compose.yaml",
    "app/__init__.py",
    "app/__main__.py",
    "app/config.py",
    "app/healthcheck.py",
    "app/logging_config.py",
    "app/main.py",
    "app/resources.py",
    "app/routers/greetings.py",
    "app/routers/health.py",
    "docker/assemble-minimal-rootfs.py",
    "docker/build-packages.txt",
    "docker/build-requirements.in",
    "docker/build-requirements.txt",
    "docker/install-system-packages.sh",
    "docker/runtime-packages.txt",
    "pyproject.toml",
    "scripts/compile_bytecode.py",
    "scripts/image_size.py",
    "scripts/smoke_test.py",
    "scripts/strip_extensions.py",
    "scripts/check_image.py",
    "tests/conftest.py",
]
# Files that depend on the dependency workflow. A uv project gets uv.lock and
# requirements.txt (exported from it) from its first `make lock`.
WORKFLOW_FILES = {
    "requirements": [
        "requirements-dev.in",
        "requirements-dev.txt",
        "requirements.in",
        "requirements.txt",
    ],
    "uv": [],
}
LEFTOVER = re.compile(r"\{\{\s*cookiecutter|\{%|%\}|\{#")


def text_files(project: Path):
    for path in sorted(project.rglob("*")):
        if path.is_file():
            yield path, path.read_text(encoding="utf-8")


@pytest.mark.parametrize("combination", SUPPORTED)
def test_renders_complete_project(bake, combination):
    result = bake(combination)

    assert result.exit_code == 0, result.exception
    project = result.project_path
    workflow = combination.get("dependency_workflow", "requirements")
    expected = EXPECTED_FILES + WORKFLOW_FILES[workflow]
    missing = [name for name in expected if not (project / name).is_file()]
    assert missing == []
    for other, files in WORKFLOW_FILES.items():
        if other != workflow:
            assert [name for name in files if (project / name).exists()] == []
    assert not (project / "_variants").exists()
    leftovers = [
        str(p.relative_to(project)) for p, text in text_files(project) if LEFTOVER.search(text)
    ]
    assert leftovers == []


@pytest.mark.parametrize("combination", SUPPORTED)
def test_answers_reach_the_files_that_use_them(bake, combination):
    answers = {**{k: v for k, v in cookiecutter_defaults().items() if not k.startswith("_")}}
    answers.update(combination)
    result = bake(combination)
    project = result.project_path
    dockerfile = (project / "Dockerfile").read_text()

    assert f"FROM python:{answers['python_version']}-slim AS python-base" in dockerfile
    assert f"USER {answers['runtime_uid']}:{answers['runtime_uid']}" in dockerfile
    assert f"EXPOSE {answers['http_port']}" in dockerfile
    assert project.name == result.context["project_slug"]


def test_one_dockerfile_for_both_workflows(bake):
    # Both workflows end in the same hashed requirements.txt, so the image is
    # built the same way: the rendered Dockerfiles are identical.
    dockerfiles = {
        workflow: (bake({"dependency_workflow": workflow}).project_path / "Dockerfile").read_text()
        for workflow in ("requirements", "uv")
    }

    assert dockerfiles["requirements"] == dockerfiles["uv"]
    assert not re.search(r"\buv (pip|sync|export|venv)\b", dockerfiles["uv"])


def test_build_backends_are_locked_with_hashes(bake):
    # postgres builds psycopg-c from source: its build backend is pinned and hashed.
    lock = (
        bake({"database": "postgres"}).project_path / "docker/build-requirements.txt"
    ).read_text()

    assert re.search(r"^setuptools==84\.1\.0 \\\n    --hash=sha256:[0-9a-f]{64}", lock, re.M)
    assert all("--hash=sha256:" in entry for entry in re.split(r"\n(?=[a-z])", lock)[1:])


def test_lock_pins_every_package_with_a_hash(bake):
    project = bake({}).project_path

    for name in ("requirements.txt", "requirements-dev.txt"):
        text = (project / name).read_text()
        requirements = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        assert len(requirements) > 10
        for requirement in requirements:
            first_line = requirement.splitlines()[0]
            assert re.match(r"[a-z0-9][a-z0-9._-]*==[^ ;]+( ;.*)? \\$", first_line), first_line
            assert "--hash=sha256:" in requirement, first_line
        # A lock that names an index or a local path would leak into every build.
        assert not re.search(r"--index-url|--extra-index-url|--find-links|file:|/root/|/tmp/", text)


@pytest.mark.parametrize(("overrides", "field"), UNSUPPORTED)
def test_bad_answer_is_refused_and_leaves_nothing(tmp_path, overrides, field):
    output = tmp_path / "out"
    output.mkdir()
    answers = [f"{key}={value}" for key, value in overrides.items()]

    result = run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            str(TEMPLATE),
            "-o",
            str(output),
            *answers,
        ]
    )

    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert f"ERROR: {field} " in message
    assert "Try:" in message
    assert "Traceback" not in message
    assert list(output.iterdir()) == []


@pytest.mark.parametrize("target", ["setup", "lock", "docker-build"])
def test_uv_project_without_uv_fails_with_one_clear_line(bake, target):
    project = bake({"dependency_workflow": "uv"}).project_path

    result = run(["make", "--no-print-directory", target, "UV=no-such-uv"], cwd=project)

    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert errors == [
        "ERROR: uv is not installed, and this project's dependency workflow needs it. "
        "Try: pipx install uv (or see https://docs.astral.sh/uv/getting-started/installation/)"
    ]
    assert not (project / "uv.lock").exists() and not (project / ".venv").exists()
