"""The generated CI's release job: what it publishes, and with which rights.

It runs only on pushes (default branch, version tags) after the other jobs
passed; builds linux/amd64 and linux/arm64; pushes to GHCR with tags from
docker/metadata-action; attaches an SBOM and provenance; signs the pushed
digest with keyless cosign and verifies it; and is the only job that can
write. actionlint and zizmor (offline, pedantic) stay clean, and mutations of
the release job prove both still report a planted problem there.
"""

import shutil
from pathlib import Path

import pytest
import yaml
from test_github_ci import WORKFLOW, actionlint, identifiers, zizmor

RELEASE = "release"


@pytest.fixture(scope="module")
def project(cookies_session) -> Path:
    result = cookies_session.bake(extra_context={})
    assert result.exit_code == 0, result.exception
    return result.project_path


@pytest.fixture
def project_copy(project, tmp_path) -> Path:
    copy = tmp_path / project.name
    shutil.copytree(project, copy)
    return copy


def release_job(project: Path) -> dict:
    workflow = yaml.safe_load((project / WORKFLOW).read_text(encoding="utf-8"))
    return workflow["jobs"][RELEASE]


def step_using(job: dict, action: str) -> dict:
    found = [step for step in job["steps"] if step.get("uses", "").startswith(f"{action}@")]
    assert len(found) == 1, f"the release job must use {action} exactly once"
    return found[0]


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_release_runs_on_pushes_after_every_other_job(project):
    workflow = yaml.safe_load((project / WORKFLOW).read_text(encoding="utf-8"))
    # PyYAML reads the key `on` as True.
    push = workflow[True]["push"]
    assert push["branches"] == ["main"] and push["tags"] == ["v*"]
    job = workflow["jobs"][RELEASE]
    assert set(job["needs"]) == set(workflow["jobs"]) - {RELEASE}
    condition = " ".join(job["if"].split())
    assert "github.event_name == 'push'" in condition
    assert "github.event.repository.default_branch" in condition
    assert "startsWith(github.ref, 'refs/tags/v')" in condition


def test_only_the_release_job_can_write_and_only_what_it_needs(project):
    workflow = yaml.safe_load((project / WORKFLOW).read_text(encoding="utf-8"))
    assert workflow["permissions"] == {}
    assert release_job(project)["permissions"] == {
        "contents": "read",
        "packages": "write",
        "id-token": "write",
    }
    for name, job in workflow["jobs"].items():
        if name != RELEASE:
            assert job["permissions"] == {"contents": "read"}, name


def test_multi_arch_build_pushes_to_ghcr_with_sbom_and_provenance(project):
    job = release_job(project)
    qemu = step_using(job, "docker/setup-qemu-action")
    assert "arm64" in qemu["with"]["platforms"]
    step_using(job, "docker/setup-buildx-action")
    login = step_using(job, "docker/login-action")
    assert login["with"]["registry"] == "ghcr.io"
    assert login["with"]["password"] == "${{ github.token }}"
    meta = step_using(job, "docker/metadata-action")
    assert meta["with"]["images"] == "ghcr.io/${{ github.repository }}"
    tags = meta["with"]["tags"]
    for kind in ("type=semver,pattern={{version}}", "type=sha", "type=ref,event=branch"):
        assert kind in tags
    # `latest` never by default on a branch: only for a version tag, or opted in.
    assert "latest=false" in meta["with"]["flavor"]
    for line in tags.splitlines():
        if "value=latest" in line:
            assert "refs/tags/v" in line or "vars.RELEASE_LATEST_FROM_BRANCH == 'true'" in line
    build = step_using(job, "docker/build-push-action")["with"]
    assert build["platforms"] == "linux/amd64,linux/arm64"
    assert build["push"] is True
    assert build["tags"] == "${{ steps.meta.outputs.tags }}"
    assert build["sbom"] is True
    assert build["provenance"] == "mode=max"
    # A release is built from the checkout alone, never from a shared cache.
    assert "cache-from" not in build and "cache-to" not in build


def test_the_pushed_digest_is_signed_verified_and_reported(project):
    job = release_job(project)
    step_using(job, "sigstore/cosign-installer")
    script = runs(job)
    assert 'cosign sign --yes --recursive "$image"' in script
    assert '@${DIGEST}"' in script  # by digest, never by tag
    assert "cosign verify" in script
    assert '--certificate-identity "${GITHUB_SERVER_URL}/${GITHUB_WORKFLOW_REF}"' in script
    assert "--certificate-oidc-issuer https://token.actions.githubusercontent.com" in script
    assert "GITHUB_STEP_SUMMARY" in script
    digests = [step for step in job["steps"] if "DIGEST" in (step.get("env") or {})]
    assert len(digests) == 3
    assert all(s["env"]["DIGEST"] == "${{ steps.build.outputs.digest }}" for s in digests)


def test_checkout_keeps_no_credentials(project):
    checkout = step_using(release_job(project), "actions/checkout")
    assert checkout["with"]["persist-credentials"] is False


def test_actionlint_and_zizmor_are_silent(project):
    code, output = actionlint(project)
    assert code == 0, output
    code, findings = zizmor(project)
    assert (code, identifiers(findings)) == (0, [])


# Each mutation plants one problem in the release job; the tool must report it.
RELEASE_START = "  release:\n"
SIGN = 'cosign sign --yes --recursive "$image"'
RELEASE_PERMISSIONS = (
    "    permissions:\n"
    "      contents: read # check out the code\n"
    "      packages: write # push the image to ghcr.io/OWNER/REPO\n"
    "      id-token: write # an OIDC token for keyless cosign signing (no stored key)\n"
)

ZIZMOR_MUTATIONS = [
    pytest.param(
        "docker/login-action@4907a6ddec9925e35a0a9e82d7399ccc52663121 # v4.1.0",
        "docker/login-action@v4",
        "unpinned-uses",
        id="login-by-tag",
    ),
    pytest.param(
        '          image="ghcr.io/${GITHUB_REPOSITORY,,}@${DIGEST}"\n',
        '          image="ghcr.io/${GITHUB_REPOSITORY,,}@${{ steps.build.outputs.digest }}"\n',
        "template-injection",
        id="digest-pasted-into-script",
    ),
    pytest.param(
        "      id-token: write # an OIDC token for keyless cosign signing (no stored key)\n",
        "      id-token: write # an OIDC token for keyless cosign signing (no stored key)\n"
        "      actions: write\n",
        "undocumented-permissions",
        id="unexplained-write-permission",
    ),
    pytest.param(
        RELEASE_PERMISSIONS,
        "    permissions: write-all\n",
        "excessive-permissions",
        id="write-all",
    ),
    pytest.param(
        "      - uses: sigstore/cosign-installer@",
        "      - uses: actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97 # v7.0.0\n"
        "        with:\n"
        '          python-version: "3.12"\n'
        "          cache: pip\n"
        "      - uses: sigstore/cosign-installer@",
        "cache-poisoning",
        id="cache-in-release",
    ),
]

ACTIONLINT_MUTATIONS = [
    pytest.param(
        "needs: [lint, test, image]", "needs: [lint, test, images]", "[job-needs]", id="bad-needs"
    ),
    pytest.param(
        "${{ steps.build.outputs.digest }}",
        "${{ steps.built.outputs.digest }}",
        "[expression]",
        id="unknown-step",
    ),
    pytest.param(SIGN, "cosign sign --yes --recursive $image", "SC2086", id="unquoted-image"),
]


def mutate_release(project: Path, original: str, replacement: str) -> None:
    path = project / WORKFLOW
    text = path.read_text(encoding="utf-8")
    head, release = text.split(RELEASE_START)
    assert original in release, f"mutation target missing from the release job: {original!r}"
    path.write_text(head + RELEASE_START + release.replace(original, replacement, 1))


@pytest.mark.parametrize(("original", "replacement", "finding"), ZIZMOR_MUTATIONS)
def test_zizmor_catches_in_release(project_copy, original, replacement, finding):
    mutate_release(project_copy, original, replacement)
    code, findings = zizmor(project_copy)
    assert code != 0
    assert finding in identifiers(findings)


@pytest.mark.parametrize(("original", "replacement", "finding"), ACTIONLINT_MUTATIONS)
def test_actionlint_catches_in_release(project_copy, original, replacement, finding):
    mutate_release(project_copy, original, replacement)
    code, output = actionlint(project_copy)
    assert code != 0
    assert finding in output
