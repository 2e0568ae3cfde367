"""Kubernetes manifests (`kubernetes` option, deploy/k8s/): valid against the
Kubernetes schemas, clean under checkov, and consistent with the image they run.

Consistency means: the pod runs as the Dockerfile's USER, talks to the port it
EXPOSEs, probes /healthz and /readyz there, sets only variables that the app's
settings read, and gets SIGKILLed only after the preStop sleep plus uvicorn's
graceful shutdown timeout. Each combination is rendered once for the module.

checkov gets a virtualenv of its own, made with uv (a test requirement): its
exact pins (packaging<24, boto3==...) would otherwise decide the versions of
pytest and friends in the test environment. Installing it needs the package
index once (uv caches it); running it is offline: no guideline download, no
platform mapping, no update check (tried in an empty network namespace).
"""

import ast
import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from conftest import TEMPLATE, run, skip_or_fail

# {test id: answers}. Every one is rendered with kubernetes on.
COMBINATIONS = {
    "default": {},
    "port:65535-uid:max": {"http_port": 65535, "runtime_uid": 2147483647},
    # Below checkov's 10000: allowed by the template, flagged by CKV_K8S_40.
    "port:1-uid:1000": {"http_port": 1, "runtime_uid": 1000},
    "slug:40-chars": {
        "project_name": "Long",
        "project_slug": "a_rather_long_service_name_of_forty_char",
    },
    # YAML 1.1 (PyYAML, Kubernetes' parser) reads a bare `yes` as true.
    "slug:yes-port:80": {"project_slug": "yes", "http_port": 80},
    "slug:null": {"project_slug": "null"},
    # Other options change the image and the app, and must stay consistent with it.
    "runtime:minimal": {"runtime_flavor": "minimal"},
    "db:postgres": {"database": "postgres"},
}
# checkov takes seconds per run: it sees the combinations that change what it
# checks (UID, port, name length, database), with the failures each must have.
CHECKOV_EXPECTED_FAILURES: dict[str, set[str]] = {
    "default": set(),
    "port:65535-uid:max": set(),
    "port:1-uid:1000": {"CKV_K8S_40"},
    "slug:40-chars": set(),
    "db:postgres": set(),  # the migrate init container and the Secret volume
}
# The checks this suite relies on checkov for: they must have run and passed.
CHECKOV_MUST_PASS = {
    "CKV_K8S_8",  # liveness probe
    "CKV_K8S_9",  # readiness probe
    "CKV_K8S_11",  # CPU limit
    "CKV_K8S_13",  # memory limit
    "CKV_K8S_15",  # pull policy Always, or an image by digest
    "CKV_K8S_20",  # no privilege escalation
    "CKV_K8S_21",  # not the default namespace
    "CKV_K8S_22",  # read-only root filesystem
    "CKV_K8S_23",  # no root
    "CKV_K8S_28",  # NET_RAW dropped
    "CKV_K8S_31",  # seccomp
    "CKV_K8S_37",  # capabilities minimised
    "CKV_K8S_38",  # no service-account token
    "CKV_K8S_43",  # image by digest
    "CKV2_K8S_6",  # a NetworkPolicy selects the pods
}
CHECKOV_VERSION = "3.3.30"
CHECKOV = f"checkov=={CHECKOV_VERSION}"  # exact: each release adds checks
# The oldest Kubernetes the manifests support (the kubelet's preStop `sleep`
# needs 1.30) and the newest the installed kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
MANIFESTS = [
    "namespace.yaml",
    "deployment.yaml",
    "service.yaml",
    "hpa.yaml",
    "pdb.yaml",
    "networkpolicy.yaml",
]
# Service names are DNS-1035 labels, the strictest rule for any of our names.
DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
# distribution/reference: host[:port]/path[:tag]@sha256:digest.
IMAGE_REFERENCE = re.compile(
    r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)+"
    r":[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}@sha256:[0-9a-f]{64}"
)


@pytest.fixture(scope="module")
def projects(cookies_session) -> dict[str, Path]:
    """Every combination, rendered once for this module, by id."""
    rendered = {}
    for name, overrides in COMBINATIONS.items():
        result = cookies_session.bake(
            extra_context={**overrides, "kubernetes": True}, template=str(TEMPLATE)
        )
        assert result.exit_code == 0, (name, result.exception)
        rendered[name] = result.project_path
    return rendered


def load_manifests(project: Path) -> dict[str, dict]:
    """{kind: document} of deploy/k8s/, one document per file."""
    documents = {}
    for name in MANIFESTS:
        [document] = yaml.safe_load_all((project / "deploy/k8s" / name).read_text())
        documents[document["kind"]] = document
    return documents


def pod_spec(documents: dict[str, dict]) -> dict:
    return documents["Deployment"]["spec"]["template"]["spec"]


def app_container(documents: dict[str, dict]) -> dict:
    [container] = pod_spec(documents)["containers"]
    return container


def dockerfile_instruction(project: Path, instruction: str) -> str:
    [value] = re.findall(rf"^{instruction} (\S+)$", (project / "Dockerfile").read_text(), re.M)
    return value


def container_env(container: dict) -> dict[str, str]:
    return {variable["name"]: variable["value"] for variable in container["env"]}


def port_number(container: dict, port: int | str) -> int:
    """A probe's or Service's port: a number, or the name of a container port."""
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return number


combination = pytest.mark.parametrize("name", list(COMBINATIONS))


@combination
def test_manifests_match_the_kubernetes_schemas(projects, name):
    for document in load_manifests(projects[name]).values():
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(part) for part in error.path)
                pytest.fail(f"{document['kind']} against {version}: {path}: {error.message}")


@combination
def test_every_name_is_a_valid_kubernetes_name(projects, name):
    documents = load_manifests(projects[name])
    expected = projects[name].name.replace("_", "-")

    for kind, document in documents.items():
        metadata = document["metadata"]
        assert metadata["name"] == expected, kind
        assert DNS_1035_LABEL.fullmatch(metadata["name"]), kind
        assert metadata.get("namespace", expected) == expected, kind
        for key, value in metadata["labels"].items():
            assert isinstance(value, str) and LABEL_VALUE.fullmatch(value), (kind, key, value)
    image = app_container(documents)["image"]
    assert IMAGE_REFERENCE.fullmatch(image), image


@combination
def test_pod_runs_as_the_images_user_under_the_restricted_profile(projects, name):
    project = projects[name]
    documents = load_manifests(project)
    user, group = (int(part) for part in dockerfile_instruction(project, "USER").split(":"))
    pod = pod_spec(documents)
    container = app_container(documents)
    security = pod["securityContext"]

    assert (security["runAsUser"], security["runAsGroup"], security["fsGroup"]) == (
        user,
        group,
        group,
    )
    assert security["runAsNonRoot"] is True
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    # Only sysctls the restricted profile allows; it forbids host namespaces.
    assert {s["name"] for s in security.get("sysctls", [])} <= {
        "net.ipv4.ip_unprivileged_port_start"
    }
    assert not {"hostNetwork", "hostPID", "hostIPC", "hostUsers"} & set(pod)
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert all("hostPort" not in port for port in container["ports"])
    # /tmp is the only writable path: a bounded in-memory emptyDir. Any other
    # volume is a Secret, mounted read-only.
    [volume, *secrets] = pod["volumes"]
    assert volume["emptyDir"]["medium"] == "Memory"
    assert volume["emptyDir"]["sizeLimit"]
    assert container["volumeMounts"][0] == {"name": volume["name"], "mountPath": "/tmp"}
    assert all(set(secret) == {"name", "secret"} for secret in secrets), secrets
    assert [(mount["name"], mount.get("readOnly")) for mount in container["volumeMounts"][1:]] == [
        (secret["name"], True) for secret in secrets
    ]
    assert (
        documents["Namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        == "restricted"
    )


@combination
def test_ports_and_probes_follow_the_dockerfile(projects, name):
    project = projects[name]
    documents = load_manifests(project)
    container = app_container(documents)
    exposed = int(dockerfile_instruction(project, "EXPOSE"))
    prefix = re.search(r'env_prefix="([A-Z0-9_]+)"', (project / "app/config.py").read_text())[1]

    assert [port["containerPort"] for port in container["ports"]] == [exposed]
    assert int(container_env(container)[f"{prefix}PORT"]) == exposed
    probes = {
        probe: (container[probe]["httpGet"]["path"], container[probe]["httpGet"]["port"])
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert {probe: path for probe, (path, _) in probes.items()} == {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    assert {port_number(container, port) for _, port in probes.values()} == {exposed}
    [service_port] = documents["Service"]["spec"]["ports"]
    assert port_number(container, service_port["targetPort"]) == exposed
    [rule] = documents["NetworkPolicy"]["spec"]["ingress"]
    assert [port_number(container, p["port"]) for p in rule["ports"]] == [exposed]


def settings_variables(app: Path) -> set[str]:
    """Every environment variable the app's Settings reads: config.py's prefix
    with each field of Settings and of the settings classes it extends
    (ResourceSettings in app/resources.py), found by name under app/."""
    prefix = re.search(r'env_prefix="([A-Z0-9_]+)"', (app / "config.py").read_text())[1]
    classes = {
        node.name: node
        for module in app.rglob("*.py")
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.ClassDef)
    }
    variables, pending = set(), ["Settings"]
    while pending:
        node = classes[pending.pop()]
        pending += [ast.unparse(base) for base in node.bases if ast.unparse(base) in classes]
        variables |= {
            prefix + statement.target.id.upper()
            for statement in node.body
            if isinstance(statement, ast.AnnAssign) and statement.target.id != "model_config"
        }
    return variables


@combination
def test_environment_sets_only_settings_the_app_has(projects, name):
    """pydantic-settings ignores unknown variables: a typo would be silent."""
    settings = settings_variables(projects[name] / "app")
    pod = pod_spec(load_manifests(projects[name]))

    assert any(variable.endswith("_PORT") for variable in settings), settings  # parsed
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        assert set(container_env(container)) <= settings, container["name"]


def test_postgres_pods_migrate_first_and_read_the_url_from_a_secret(projects):
    documents = load_manifests(projects["db:postgres"])
    pod = pod_spec(documents)
    container = app_container(documents)
    [migrate] = pod["initContainers"]
    [secret] = [volume for volume in pod["volumes"] if "secret" in volume]
    [item] = secret["secret"]["items"]

    assert migrate["command"] == ["python", "-m", "app.migrate"]
    # The same image, restrictions and resources as the service itself.
    for key in ("image", "imagePullPolicy", "securityContext", "resources"):
        assert migrate[key] == container[key], key
    assert secret["secret"]["secretName"] == "my-service-database"
    assert item["key"] == "url"
    for each in (migrate, container):
        environment = container_env(each)
        [mount] = [m for m in each["volumeMounts"] if m["name"] == secret["name"]]
        assert mount["readOnly"] is True
        assert environment["MY_SERVICE_DATABASE_URL_FILE"] == f"{mount['mountPath']}/{item['path']}"
        assert "MY_SERVICE_DATABASE_URL" not in environment  # no password in a manifest
    assert "initContainers" not in pod_spec(load_manifests(projects["default"]))


@combination
def test_grace_period_outlasts_prestop_and_graceful_shutdown(projects, name):
    project = projects[name]
    documents = load_manifests(project)
    container = app_container(documents)
    prefix = re.search(r'env_prefix="([A-Z0-9_]+)"', (project / "app/config.py").read_text())[1]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = float(container_env(container)[f"{prefix}GRACEFUL_SHUTDOWN_TIMEOUT"])
    grace_period = pod_spec(documents)["terminationGracePeriodSeconds"]

    assert pre_stop > 0  # endpoints need time to drop the pod
    assert grace_period > pre_stop + graceful


@combination
def test_service_hpa_pdb_and_policy_select_the_deployments_pods(projects, name):
    documents = load_manifests(projects[name])
    deployment = documents["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = [
        deployment["spec"]["selector"]["matchLabels"],
        documents["Service"]["spec"]["selector"],
        documents["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        documents["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"],
    ]
    hpa = documents["HorizontalPodAutoscaler"]["spec"]

    for selector in selectors:
        assert selector and selector.items() <= pod_labels.items(), selector
    assert documents["Service"]["spec"]["type"] == "ClusterIP"
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
    # With an HPA, a replica count in the Deployment would be reset by every apply.
    assert "replicas" not in deployment["spec"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    resources = app_container(documents)["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys() & resources["limits"].keys()


def test_kustomization_lists_every_manifest(projects):
    folder = projects["default"] / "deploy/k8s"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())

    assert sorted(kustomization["resources"]) == sorted(MANIFESTS)
    assert sorted(p.name for p in folder.glob("*.y*ml")) == sorted(
        [*MANIFESTS, "kustomization.yaml"]
    )


def test_no_deploy_folder_without_the_option(bake):
    result = bake({"kubernetes": False})

    assert result.exit_code == 0, result.exception
    assert not (result.project_path / "deploy").exists()


@pytest.mark.parametrize("slug", ["_svc", "svc_", "a___b", "010001"])
def test_slugs_that_make_invalid_names_are_refused(bake, slug):
    # Their dashed forms are no valid Kubernetes or Docker names.
    result = bake({"project_slug": slug, "kubernetes": True})

    assert result.exit_code != 0
    assert "project_slug" in str(result.exception)


@pytest.fixture(scope="module")
def checkov(tmp_path_factory) -> Path:
    """The checkov command, in a virtualenv of its own."""
    venv = tmp_path_factory.mktemp("checkov-venv")
    uv = [sys.executable, "-m", "uv"]
    created = run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    assert created.returncode == 0, created.stderr
    python = str(venv / "bin/python")
    installed = run([*uv, "pip", "install", "--quiet", "--python", python, CHECKOV])
    if installed.returncode != 0:  # e.g. no package index and nothing cached
        skip_or_fail(f"{CHECKOV} could not be installed: {installed.stderr[-1000:]}")
    return venv / "bin/checkov"


def run_checkov(checkov: Path, folder: Path) -> dict:
    """checkov's JSON report on one folder, computed offline."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BC_", "CKV_", "CHECKOV_", "PRISMA_"))
    }
    environment.update(BC_SKIP_MAPPING="TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK="True")
    result = run(
        [
            *(str(checkov), "--directory", str(folder), "--framework", "kubernetes"),
            *("--skip-download", "--output", "json"),
        ],
        env=environment,
    )
    # Exit status 1 means failed checks, which the test reports in detail.
    assert result.returncode in (0, 1), result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def checkov_reports(checkov, projects) -> dict[str, dict]:
    """One report per combination; the runs share the machine's cores."""
    names = list(CHECKOV_EXPECTED_FAILURES)
    folders = [projects[name] / "deploy/k8s" for name in names]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        reports = pool.map(lambda folder: run_checkov(checkov, folder), folders)
        return dict(zip(names, reports, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHECKOV_EXPECTED_FAILURES))
def test_checkov_finds_nothing_unexpected(checkov_reports, name):
    report = checkov_reports[name]
    results = report["results"]
    failed = {check["check_id"] for check in results["failed_checks"]}
    passed = {check["check_id"] for check in results["passed_checks"]}

    assert report["summary"]["checkov_version"] == CHECKOV_VERSION
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] >= len(MANIFESTS)
    assert report["summary"]["skipped"] == 0  # no skip annotations
    assert failed == CHECKOV_EXPECTED_FAILURES[name], [
        (check["check_id"], check["check_name"]) for check in results["failed_checks"]
    ]
    assert CHECKOV_MUST_PASS - failed <= passed
