"""The publish path, on this machine: a throwaway registry on 127.0.0.1.

What the generated CI's release job does against GHCR, done here against
Debian's `docker-registry` (the reference registry): push the built image,
remove it locally, pull it back by digest, and check the pulled image. And
`make pin-base` resolves a real digest from that registry, so its code path is
proved, not only its error message. The engine trusts 127.0.0.0/8 as an
insecure (plain HTTP) registry by default; the fixture checks that instead of
assuming it.
"""

import json
import shutil
import subprocess
import urllib.request

import pytest
from conftest import skip_or_fail

from . import checks
from .engine import docker, free_port, wait_for_http

pytestmark = pytest.mark.docker

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


@pytest.fixture(scope="module")
def registry(docker_engine, tmp_path_factory):
    """`docker-registry serve` on 127.0.0.1:<free port>, storage in a temp dir."""
    binary = shutil.which("docker-registry")
    if binary is None:
        skip_or_fail("docker-registry is not installed (apt-get install docker-registry)")
    insecure = docker("info", "--format", "{{json .RegistryConfig.InsecureRegistryCIDRs}}")
    if "127.0.0.0/8" not in insecure.stdout:
        skip_or_fail(f"the engine does not trust 127.0.0.0/8 over HTTP: {insecure.stdout}")
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    with (root / "registry.log").open("w") as log:
        server = subprocess.Popen(
            [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        answer = wait_for_http(f"http://127.0.0.1:{port}/v2/", timeout=30)
        assert answer is not None and answer[0] == 200, (root / "registry.log").read_text()
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def push(local: str, remote: str) -> str:
    """Tag and push; return the repository digest the registry reported."""
    tagged = docker("tag", local, remote)
    assert tagged.returncode == 0, tagged.stderr
    pushed = docker("push", remote, timeout=600)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    repository = remote.rsplit(":", 1)[0]
    digests = docker("image", "inspect", "--format", "{{json .RepoDigests}}", remote)
    found = [d for d in json.loads(digests.stdout) if d.startswith(f"{repository}@sha256:")]
    assert len(found) == 1, digests.stdout
    return found[0].split("@", 1)[1]


def served(registry: str, repository: str, digest: str) -> bool:
    """Does the registry serve a manifest with this digest (HTTP API, not the engine)?"""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{digest}",
        headers={"Accept": MANIFEST_TYPES},
        method="HEAD",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.headers["Docker-Content-Digest"] == digest
    except OSError:
        return False


def image_id(ref: str) -> str | None:
    inspected = docker("image", "inspect", "--format", "{{.Id}}", ref)
    return inspected.stdout.strip() if inspected.returncode == 0 else None


def test_pushed_image_pulled_back_by_digest_passes_the_checks(built, registry):
    item = built("default")
    original = image_id(item.tag)
    remote = f"{registry}/slim-python-test/service:publish"
    digest = push(item.tag, remote)
    assert served(registry, "slim-python-test/service", digest)

    # A clean state: no tag of the image is left (other tests may have tagged the
    # same image), so the pull must fetch it.
    removed = docker("image", "rm", "--force", original)
    assert removed.returncode == 0, removed.stderr
    assert image_id(original) is None, "the image is still present locally"

    by_digest = f"{registry}/slim-python-test/service@{digest}"
    pulled = docker("pull", by_digest, timeout=600)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    # The same content: the image ID is the digest of its configuration.
    assert image_id(by_digest) == original
    # Later tests of this session use the built image under its tag again.
    assert docker("tag", by_digest, item.tag).returncode == 0

    # The generated project's own image checks, on the pulled image.
    assert checks.image_check_problems(item.project, by_digest) == []


def test_make_pin_base_prints_a_digest_the_registry_serves(built, registry):
    item = built("default")
    version = item.scenario.python_version
    base = f"{registry}/python:{version}-slim"
    digest = push(item.base, base)
    # Only the registry's copy may answer: drop the local tag first.
    assert docker("image", "rm", base).returncode == 0

    result = subprocess.run(
        ["make", "pin-base", f"BASE_IMAGE={base}"],
        cwd=item.project,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"PYTHON_IMAGE={registry}/python@{digest}\n" in result.stdout
    assert served(registry, "python", digest)


def test_make_pin_base_without_a_registry_says_what_to_do(built):
    item = built("default")
    unreachable = f"127.0.0.1:{free_port()}/python:{item.scenario.python_version}-slim"
    result = subprocess.run(
        ["make", "pin-base", f"BASE_IMAGE={unreachable}"],
        cwd=item.project,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode != 0
    assert result.stderr.startswith(f"ERROR: pin-base cannot pull {unreachable}")
    assert "Try: make pin-base BASE_IMAGE=" in result.stderr
    assert "PYTHON_IMAGE=" not in result.stdout
