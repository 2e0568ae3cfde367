"""Mutation tests: break one protective line in a copy of a rendered project and
prove that the generated project's own checks catch it, with the expected line.

Each row names the file, the exact text replaced, the check of
`scripts/check_image.py` (`make docker-check`) that must now fail, and a phrase
of the failure it must print. The `smoke` check runs `scripts/smoke_test.py`
inside the image, so its rows prove the in-container view; `minimal` is the
template's own check of the minimal runtime. docs/dockerfile.md names these ids.
If a protective line changes, its row must change with it: a row whose target
text no longer exists fails loudly (see the `mutant` fixture).
"""

from dataclasses import dataclass, replace

import pytest

from . import checks
from .conftest import tag_for
from .test_limits import header_deadline_check

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
    check: str  # the check_image.py check that must fail, or one of TEMPLATE_CHECKS
    expected: str  # a phrase its report must contain
    scenario: str = "default"


# What a user's project cannot check for itself, or not quickly: the template's own checks.
TEMPLATE_CHECKS = {
    "minimal": lambda item, tag: checks.minimal_problems(tag),
    "header-deadline": header_deadline_check,
}

MUTATIONS = [
    # Dockerfile
    Mutation("user-by-name", "Dockerfile", USER_LINE, "USER app", "config", "USER is 'app'"),
    Mutation("user-removed", "Dockerfile", USER_LINE, "", "config", "USER is 'not set, so root'"),
    Mutation("user-removed-runs-as-root", "Dockerfile", USER_LINE, "", "smoke", "FAIL  non-root"),
    Mutation(
        "healthcheck-removed", "Dockerfile", HEALTHCHECK_LINES, "", "config", "no HEALTHCHECK"
    ),
    Mutation(
        "healthcheck-removed-never-healthy",
        "Dockerfile",
        HEALTHCHECK_LINES,
        "",
        "hardened",
        "reports 'none', not 'healthy'",
    ),
    Mutation(
        "healthcheck-shell-form",
        "Dockerfile",
        'CMD ["python", "-m", "app.healthcheck"]',
        "CMD python -m app.healthcheck",
        "config",
        "HEALTHCHECK is shell form",
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
        "cmd-shell-form-stops-slowly",
        "Dockerfile",
        'CMD ["python", "-m", "app"]',
        "CMD python -m app",
        "stop",
        "as PID 1: docker stop took",
    ),
    Mutation("expose-removed", "Dockerfile", "EXPOSE 8000\n", "", "config", "is not in EXPOSE"),
    Mutation(
        "host-removed",
        "Dockerfile",
        "    MY_SERVICE_HOST=0.0.0.0 \\\n",
        "",
        "hardened",
        "no 200 from /healthz through the published port",
    ),
    Mutation(
        "code-owned-by-service-user",
        "Dockerfile",
        "COPY --chown=0:0 app/ ./app/",
        "COPY --chown=10001:10001 app/ ./app/",
        "smoke",
        "is writable",
    ),
    Mutation(
        "bytecode-layer-removed",
        "Dockerfile",
        "COPY --from=dependency-bytecode --chown=0:0 /bytecode/ /\n",
        "",
        "startup",
        "no start-up bytecode",
    ),
    # .dockerignore: every line that keeps something out
    Mutation(
        "dockerignore-deny-all",
        ".dockerignore",
        "\n*\n",
        "\n",
        "context",
        ".git/config reaches the build context",
    ),
    Mutation(
        "dockerignore-pyc",
        ".dockerignore",
        "**/*.py[cod]\n",
        "",
        "context",
        "app/__pycache__/canary.cpython-3.pyc reaches the build context",
    ),
    Mutation(
        "dockerignore-env",
        ".dockerignore",
        "**/.env*\n",
        "",
        "context",
        "app/.env.local reaches the build context",
    ),
    Mutation(
        "dockerignore-venv",
        ".dockerignore",
        "**/.venv\n",
        "",
        "context",
        "app/.venv/pyvenv.cfg reaches the build context",
    ),
    Mutation(
        "dockerignore-pytest-cache",
        ".dockerignore",
        "**/.pytest_cache\n",
        "",
        "context",
        "app/.pytest_cache/canary reaches the build context",
    ),
    Mutation(
        "dockerignore-ds-store",
        ".dockerignore",
        "**/.DS_Store\n",
        "",
        "context",
        "app/.DS_Store reaches the build context",
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
        "libpq.so.5: cannot open shared object file",
        scenario="libpq",
    ),
    Mutation(
        "database-runtime-library-removed",
        "docker/runtime-packages.txt",
        "libpq5          # libpq.so.5: psycopg's C implementation talks to PostgreSQL through it\n",
        "",
        "smoke",
        "libpq.so.5: cannot open shared object file",
        scenario="database:postgres",
    ),
    # The app: a completed graceful shutdown exits 0 even when not PID 1
    Mutation(
        "sigterm-handler-removed",
        "app/__main__.py",
        "    signal.signal(signal.SIGTERM, lambda _signal, _frame: None)\n",
        "",
        "stop",
        "under --init: exit status 143 after docker stop, expected 0",
    ),
    # The app's limits: a body over the limit gets 413; stalled headers are cut
    Mutation(
        "body-limit-removed",
        "app/main.py",
        "    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)\n",
        "",
        "limits",
        "not 413",
    ),
    Mutation(
        "header-deadline-removed",
        "app/__main__.py",
        "        http=HeaderLimitsProtocol,\n",
        "",
        "header-deadline",
        "half-open connections still open",
    ),
    # The minimal runtime: what the C library and OpenSSL read at run time
    Mutation(
        "minimal-ca-bundle-removed",
        "docker/assemble-minimal-rootfs.py",
        "    copy(Path(defaults.openssl_cafile), rootfs)  # the link and the bundle it points to\n",
        "",
        "smoke",
        "the default TLS context trusts no CA certificate",
        scenario="runtime:minimal",
    ),
    Mutation(
        "minimal-ssl-module-left-out",
        "docker/assemble-minimal-rootfs.py",
        'DYNLOAD_SKIP_PREFIXES = ("_tkinter", "_curses", "readline")',
        'DYNLOAD_SKIP_PREFIXES = ("_tkinter", "_curses", "readline", "_ssl")',
        "smoke",
        "FAIL  tls-handshake  check crashed: ModuleNotFoundError: No module named '_ssl'",
        scenario="runtime:minimal",
    ),
    Mutation(
        "minimal-locale-removed",
        "docker/assemble-minimal-rootfs.py",
        '    "/usr/lib/locale/C.utf8",  # the C.UTF-8 locale that LANG names\n',
        "",
        "smoke",
        "setlocale(LC_ALL, '') failed: unsupported locale setting",
        scenario="runtime:minimal",
    ),
    Mutation(
        "minimal-time-zones-removed",
        "docker/assemble-minimal-rootfs.py",
        '    "/usr/share/zoneinfo",  # time zones (zoneinfo, logging with local times)\n',
        "",
        "smoke",
        "No time zone found with key Europe/Berlin",
        scenario="runtime:minimal",
    ),
    Mutation(
        "minimal-services-removed",
        "docker/assemble-minimal-rootfs.py",
        '    "/etc/services",  # service names and ports (socket.getservbyname)\n',
        "",
        "smoke",
        "/etc/services is missing",
        scenario="runtime:minimal",
    ),
    Mutation(
        "minimal-ldconfig-removed",
        "docker/assemble-minimal-rootfs.py",
        '    "/sbin/ldconfig",  # lists the loader\'s cache for ctypes.util.find_library\n',
        "",
        "smoke",
        "FAIL  find-library",
        scenario="runtime:minimal",
    ),
    # The build script's own bytecode would land in /tmp, making it root's folder
    Mutation(
        "build-script-bytecode-shipped",
        "scripts/compile_bytecode.py",
        'if module.__name__ == "__main__" or module.__name__.split(".")[0] == APP:',
        'if module.__name__.split(".")[0] == APP:',
        "hardened",
        "cannot write to the image's /tmp",
    ),
    # Without the strip step, the extensions keep their debug information
    Mutation(
        "extensions-not-stripped",
        "Dockerfile",
        " \\\n    && python /tmp/strip_extensions.py /opt/venv",
        "",
        "stripped",
        "uvloop/loop.cpython",
    ),
    # The minimal root file system leaves the wheels' bundled libraries to the venv layer
    Mutation(
        "minimal-copies-venv-libraries",
        "docker/assemble-minimal-rootfs.py",
        "libraries |= {path for path in found if not path.resolve().is_relative_to(VENV)}",
        "libraries |= found",
        "layers",
        "numpy.libs/",
        scenario="real-world:minimal",
    ),
]

# The minimal runtime has no shell: the project's checker must catch the same
# edits there without one.
ALSO_ON_MINIMAL = [
    "user-by-name",
    "user-removed",
    "healthcheck-removed",
    "cmd-shell-form",
    "host-removed",
    "bytecode-layer-removed",
    "build-script-bytecode-shipped",
    "code-owned-by-service-user",
    "dockerignore-deny-all",
    "dockerignore-env",
]
MUTATIONS += [
    replace(mutation, id=f"{mutation.id}-minimal", scenario="runtime:minimal")
    for mutation in MUTATIONS
    if mutation.id in ALSO_ON_MINIMAL
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.id)
def test_mutation_is_caught(built, mutant, mutation):
    item = built(mutation.scenario)
    project = mutant(item, mutation.path, mutation.old, mutation.new)
    tag = tag_for(f"mutant-{mutation.id}")
    result = item.rebuild(project, tag)
    assert result.returncode == 0, result.stdout[-3000:]

    if mutation.check in TEMPLATE_CHECKS:
        report = "\n".join(TEMPLATE_CHECKS[mutation.check](item, tag))
    else:
        run = checks.image_check(project, tag, mutation.check)
        assert run.returncode == 1, run.stdout + run.stderr
        report = run.stdout
        assert f"FAIL  {mutation.check}" in report

    assert mutation.expected in report, report


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
