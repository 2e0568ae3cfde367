"""The generated Kubernetes Deployment, run for real: `podman kube play` on a copy
of deploy/k8s/deployment.yaml, with the scenario's image moved from Docker into
podman (`docker save | podman load`).

Podman runs the pod the way a kubelet would as far as these tests look: the
pod's security context (user and group, read-only root, dropped capabilities),
its environment, its in-memory /tmp, init containers before the app, and a
Secret mounted as files. What it cannot show: probes (podman runs none without
systemd, so the test polls /readyz itself), the Namespace and its Pod Security
admission, the Service, HorizontalPodAutoscaler, PodDisruptionBudget and
NetworkPolicy (podman has no such objects), rolling updates, the preStop
sleep, topology spread, pod sysctls, and a Secret volume's file modes.

The copy differs from the file only where podman needs it to: the loaded
image with `imagePullPolicy: Never`, no namespace, a unique name, the port
published on a free port of 127.0.0.1, init containers kept after they ran
(podman's `init.container.type: always`, so their logs can be read), and the
Secret volume replaced by a read-only hostPath folder holding the same file:
podman 4.3 writes a Secret's `data` still base64-encoded and drops its
`stringData`. The pod reads the URL from that mounted file all the same. The
network is slirp4netns with host loopback allowed, so the postgres pod reaches
a throwaway PostgreSQL server on the host's 127.0.0.1 as 10.0.2.2.

Needs podman with catatonit and slirp4netns (.ci/run installs them, and
lowers podman's default ulimits, which this sandbox refuses).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE, skip_or_fail
from cookiecutter.main import cookiecutter
from postgres_server import PostgresServer

from .conftest import Built
from .engine import docker_cli, free_port, http_get, wait_for_http

pytestmark = pytest.mark.docker

NETWORK = "slirp4netns:allow_host_loopback=true"
HOST_FROM_POD = "10.0.2.2"  # slirp4netns: the host's loopback


def podman(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=False, timeout=timeout, **kwargs
    )


@pytest.fixture(scope="module")
def podman_ready() -> None:
    if shutil.which("podman") is None:
        skip_or_fail("podman is not installed (Debian: apt-get install podman catatonit)")
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}")
    if info.returncode != 0:
        skip_or_fail(f"podman does not work here: {info.stderr.strip()[-500:]}")


def load_into_podman(tag: str) -> str:
    """Copy an image from the Docker engine into podman's store; its podman name."""
    saved = subprocess.Popen([*docker_cli(), "save", tag], stdout=subprocess.PIPE)
    loaded = podman("load", "--quiet", stdin=saved.stdout, timeout=300)
    saved.wait(timeout=300)
    assert saved.returncode == 0 and loaded.returncode == 0, loaded.stderr
    return f"localhost/{tag}"


def rendered_deployment(item: Built, destination: Path) -> dict:
    project = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        extra_context={**item.scenario.answers, "kubernetes": True},
        output_dir=str(destination),
    )
    return yaml.safe_load((Path(project) / "deploy/k8s/deployment.yaml").read_text())


def podman_copy(deployment: dict, image: str, name: str, port: int) -> dict:
    """The Deployment as podman can run it (see the module docstring)."""
    deployment["metadata"]["name"] = name
    del deployment["metadata"]["namespace"]
    deployment["metadata"]["annotations"] = {"io.podman.annotations.init.container.type": "always"}
    pod = deployment["spec"]["template"]["spec"]
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        container["image"] = image
        container["imagePullPolicy"] = "Never"
    [app] = pod["containers"]
    [http] = app["ports"]
    http.update(hostPort=port, hostIP="127.0.0.1")
    return deployment


class PodmanKube:
    """One `podman kube play` of a file, taken down with what it created."""

    def __init__(self, folder: Path, deployment: dict, image: str) -> None:
        self.file = folder / "podman-kube.yaml"
        self.file.write_text(yaml.safe_dump(deployment))
        self.image = image
        self.pod = f"{deployment['metadata']['name']}-pod-0"

    def play(self) -> None:
        played = podman("kube", "play", "--replace", "--network", NETWORK, str(self.file))
        assert played.returncode == 0, played.stdout + played.stderr

    def container(self, name: str) -> dict:
        inspected = podman("container", "inspect", f"{self.pod}-{name}")
        assert inspected.returncode == 0, inspected.stderr
        return json.loads(inspected.stdout)[0]

    def logs(self, name: str) -> str:
        result = podman("logs", f"{self.pod}-{name}")
        return result.stdout + result.stderr

    def down(self) -> None:
        podman("kube", "down", str(self.file))
        podman("image", "rm", "--force", self.image)


def ready_problems(kube: PodmanKube, port: int) -> list[str]:
    """The pod is Ready as a kubelet would see it, and runs as the manifest says."""
    base = f"http://127.0.0.1:{port}"
    if wait_for_http(f"{base}/healthz", timeout=60) is None:
        return [f"the pod never answered /healthz:\n{kube.logs('app')[-2000:]}"]
    problems = []
    status, body = http_get(f"{base}/readyz", timeout=5)
    if status != 200:
        problems.append(f"/readyz answered {status}: {body[:300]!r}")
    app = kube.container("app")
    if app["Config"]["User"] != "10001:10001":
        problems.append(f"runs as {app['Config']['User']!r}, not 10001:10001")
    if app["HostConfig"]["ReadonlyRootfs"] is not True:
        problems.append("the root filesystem is writable")
    if app["EffectiveCaps"]:
        problems.append(f"capabilities left: {app['EffectiveCaps']}")
    return problems


def test_deployment_runs_to_ready_with_podman(built, podman_ready, tmp_path):
    item = built("default")
    port = free_port()
    image = load_into_podman(item.tag)
    name = f"slim-python-test-{os.getpid()}"
    deployment = podman_copy(rendered_deployment(item, tmp_path), image, name, port)
    kube = PodmanKube(tmp_path, deployment, image)
    try:
        kube.play()
        assert ready_problems(kube, port) == []
    finally:
        kube.down()


@pytest.fixture
def server():
    started = PostgresServer().start()
    yield started
    started.remove()


def test_postgres_deployment_migrates_then_runs_to_ready_with_podman(
    built, podman_ready, server, tmp_path
):
    """The init container migrates an empty database, the app reads the URL from
    the Secret's file; a second rollout migrates nothing and is Ready again."""
    item = built("database:postgres")
    port = free_port()
    image = load_into_podman(item.tag)
    name = f"slim-python-test-pg-{os.getpid()}"
    deployment = podman_copy(rendered_deployment(item, tmp_path), image, name, port)
    # The Secret's one key, as a file in a folder mounted where the Secret would be.
    [volume] = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    [key] = volume["secret"]["items"]
    secret = tmp_path / "secret"
    secret.mkdir()
    url_file = secret / key["path"]
    url_file.write_text(f"postgresql://postgres@{HOST_FROM_POD}:{server.port}/postgres")
    url_file.chmod(0o444)
    volume.pop("secret")
    volume["hostPath"] = {"path": str(secret), "type": "Directory"}
    kube = PodmanKube(tmp_path, deployment, image)
    try:
        kube.play()
        assert ready_problems(kube, port) == []
        assert "Running upgrade  -> 0001" in kube.logs("migrate")
        assert server.query("SELECT version_num FROM alembic_version") == "0001"

        kube.play()  # a second rollout: the init container finds nothing to do
        assert ready_problems(kube, port) == []
        assert "Running upgrade" not in kube.logs("migrate")
        assert "database schema is up to date" in kube.logs("migrate")
    finally:
        kube.down()
