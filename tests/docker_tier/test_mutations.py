"""Mutation tests: break one protective line in a copy of a rendered project and
prove that the Docker tier's checks catch it, with the expected message.

Each row names the file, the exact text replaced, the check that must now
fail, and a phrase of the failure it must report. docs and README point at
these ids. If a protective line changes, its row must change with it: a row
whose target text no longer exists fails loudly (see the `mutant` fixture).
"""

from dataclasses import dataclass

import pytest

from . import checks
from .conftest import tag_for
from .test_image import PORT

pytestmark = pytest.mark.docker

USER_LINE = "USER 10001:10001"
HEALTHCHECK_LINES = (
    "HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \\\n"
    '    CMD ["python", "-m", "app.healthcheck"]\n'
)


@dataclass(frozen=True)
class Mutation:
    id: str
    path: str
    old: str
    new: str
    check: str  # which check must catch it (a key of CHECKS below)
    expected: str  # a phrase the check must report
    scenario: str = "default"


def context_check(item, project, tag):
    return checks.context_problems(project, f"{tag}-context")


CHECKS = {
    "config": lambda item, project, tag: checks.config_problems(tag, PORT),
    "content": lambda item, project, tag: checks.content_problems(tag),
    "context": context_check,
    "smoke": lambda item, project, tag: checks.smoke_problems(tag),
    "hardened-run": lambda item, project, tag: checks.hardened_run_problems(tag, PORT),
    "minimal": lambda item, project, tag: checks.minimal_problems(tag),
    "bytecode": lambda item, project, tag: checks.bytecode_problems(tag),
}

MUTATIONS = [
    # Dockerfile
    Mutation("user-by-name", "Dockerfile", USER_LINE, "USER app", "config", "numeric UID"),
    Mutation("user-removed", "Dockerfile", USER_LINE, "", "config", "numeric UID"),
    Mutation("user-removed-runs-as-root", "Dockerfile", USER_LINE, "", "smoke", "FAIL  non-root"),
    Mutation(
        "healthcheck-removed", "Dockerfile", HEALTHCHECK_LINES, "", "config", "no HEALTHCHECK"
    ),
    Mutation(
        "healthcheck-removed-never-healthy",
        "Dockerfile",
        HEALTHCHECK_LINES,
        "",
        "hardened-run",
        "not 'healthy'",
    ),
    Mutation(
        "healthcheck-shell-form",
        "Dockerfile",
        'CMD ["python", "-m", "app.healthcheck"]',
        "CMD python -m app.healthcheck",
        "config",
        "HEALTHCHECK is not exec form",
    ),
    Mutation(
        "cmd-shell-form",
        "Dockerfile",
        'CMD ["python", "-m", "app"]',
        "CMD python -m app",
        "config",
        "CMD is shell form",
    ),
    Mutation(
        "code-owned-by-service-user",
        "Dockerfile",
        "COPY --from=builder --chown=0:0 /app/app ./app",
        "COPY --from=builder --chown=10001:10001 /app/app ./app",
        "smoke",
        "is writable",
    ),
    Mutation(
        "bytecode-layer-removed",
        "Dockerfile",
        "COPY --from=dependencies --chown=0:0 /bytecode/ /\n",
        "",
        "bytecode",
        "no start-up bytecode",
    ),
    # .dockerignore: every line that keeps something out
    Mutation(
        "dockerignore-deny-all",
        ".dockerignore",
        "\n*\n",
        "\n",
        "context",
        ".git/config is sent to the builder",
    ),
    Mutation(
        "dockerignore-pyc",
        ".dockerignore",
        "**/*.py[cod]\n",
        "",
        "content",
        "app/__pycache__/planted.cpython-312.pyc must not be in the image",
    ),
    Mutation(
        "dockerignore-env",
        ".dockerignore",
        "**/.env*\n",
        "",
        "content",
        "app/app/.env must not be in the image",
    ),
    Mutation(
        "dockerignore-venv",
        ".dockerignore",
        "**/.venv\n",
        "",
        "content",
        "app/app/.venv must not be in the image",
    ),
    Mutation(
        "dockerignore-pytest-cache",
        ".dockerignore",
        "**/.pytest_cache\n",
        "",
        "content",
        "app/app/.pytest_cache must not be in the image",
    ),
    Mutation(
        "dockerignore-ds-store",
        ".dockerignore",
        "**/.DS_Store\n",
        "",
        "content",
        "app/app/.DS_Store must not be in the image",
    ),
    # The minimal runtime keeps the base image's pip out
    Mutation(
        "minimal-ships-pip",
        "docker/assemble-minimal-rootfs.py",
        '    "site-packages",\n',
        "",
        "minimal",
        "site-packages/pip",
        scenario="runtime:minimal",
    ),
    # System packages: the runtime library of a compiled dependency
    Mutation(
        "runtime-library-removed",
        "docker/runtime-packages.txt",
        "libpq5          # libpq.so.5, which psycopg2's extension links\n",
        "",
        "smoke",
        "libpq.so.5 not found",
        scenario="libpq",
    ),
    Mutation(
        "database-runtime-library-removed",
        "docker/runtime-packages.txt",
        "libpq5          # libpq.so.5: psycopg's C implementation talks to PostgreSQL through it\n",
        "",
        "smoke",
        "libpq.so.5 not found",
        scenario="database:postgres",
    ),
    # The app: a completed graceful shutdown exits 0 even when not PID 1
    Mutation(
        "sigterm-handler-removed",
        "app/__main__.py",
        "    signal.signal(signal.SIGTERM, lambda _signal, _frame: None)\n",
        "",
        "smoke",
        "instead of exiting with 0",
    ),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.id)
def test_mutation_is_caught(built, mutant, mutation):
    item = built(mutation.scenario)
    project = mutant(item, mutation.path, mutation.old, mutation.new)
    tag = tag_for(f"mutant-{mutation.id}")
    result = item.rebuild(project, tag)
    assert result.returncode == 0, result.stdout[-3000:]

    problems = CHECKS[mutation.check](item, project, tag)

    assert any(mutation.expected in problem for problem in problems), problems


def test_require_hashes_removed_is_caught(built, mutant, tmp_path):
    """Without --require-hashes, pip accepts a lock with no hashes at all: the
    check that an unhashed lock fails the build must then report a success."""
    item = built("default")
    project = mutant(
        item, "Dockerfile", "--require-hashes --no-deps --no-compile", "--no-deps --no-compile"
    )
    lock = project / "requirements.txt"
    lock.write_text(checks.strip_hashes(lock.read_text()))

    result = item.rebuild(project, tag_for("mutant-require-hashes"))

    problems = checks.build_failure_problems(result, "Hashes are required")
    assert problems == ["the build succeeded, but it must fail (Hashes are required)"]
