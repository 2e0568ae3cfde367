"""Build backends are hash-checked like every other file that runs in the build.

The database:postgres scenario compiles psycopg-c from its sdist. The
Dockerfile installs the build backends from docker/build-requirements.txt
with --require-hashes, and builds with --no-build-isolation, so pip never
downloads a backend on its own (build isolation would, with no hash check).
"""

import re
import uuid

import pytest

from . import checks
from .conftest import tag_for

pytestmark = pytest.mark.docker

SCENARIO = "database:postgres"
BUILD_LOCK = "docker/build-requirements.txt"
NO_BACKEND = "No module named 'setuptools'"


# pip caches the wheels it builds: a rebuild would reuse the psycopg-c wheel
# and never run its backend. These builds start from an empty cache, as on a
# fresh machine.
PIP_CACHE = "--mount=type=cache,target=/root/.cache/pip"


def without_wheel_cache(project, name: str) -> None:
    dockerfile = project / "Dockerfile"
    text = dockerfile.read_text()
    assert PIP_CACHE in text
    fresh = f"--mount=type=cache,id={name}-{uuid.uuid4().hex},target=/root/.cache/pip"
    dockerfile.write_text(text.replace(PIP_CACHE, fresh))


def setuptools_entry(project) -> str:
    lock = (project / BUILD_LOCK).read_text()
    return re.search(r"^setuptools==.*?(?=^\S)", lock, re.M | re.S).group(0)


def test_tampered_build_backend_hash_fails_the_build(built, mutant):
    item = built(SCENARIO)
    entry = setuptools_entry(item.project)
    tampered = re.sub(r"sha256:[0-9a-f]{8}", "sha256:00000000", entry)
    project = mutant(item, BUILD_LOCK, entry, tampered)

    result = item.rebuild(project, tag_for("tampered-build-backend"))

    assert checks.build_failure_problems(result, "DO NOT MATCH THE HASHES") == []


def test_backend_missing_from_the_lock_fails_the_build(built, mutant):
    """pip does not fetch a backend the lock lacks: the sdist's build fails."""
    item = built(SCENARIO)
    project = mutant(item, BUILD_LOCK, setuptools_entry(item.project), "")
    without_wheel_cache(project, "no-build-backend")

    result = item.rebuild(project, tag_for("no-build-backend"))

    assert checks.build_failure_problems(result, NO_BACKEND) == []


def test_build_isolation_restored_is_caught(built, mutant):
    """Without --no-build-isolation, pip fetches the missing backend itself,
    unhashed: the check above must then report a success."""
    item = built(SCENARIO)
    project = mutant(item, "Dockerfile", "--no-build-isolation ", "")
    lock = project / BUILD_LOCK
    lock.write_text(lock.read_text().replace(setuptools_entry(project), ""))
    without_wheel_cache(project, "build-isolation")

    result = item.rebuild(project, tag_for("mutant-build-isolation"))

    problems = checks.build_failure_problems(result, NO_BACKEND)
    assert problems == [f"the build succeeded, but it must fail ({NO_BACKEND})"]
