"""Tests of the helper tools: the local package index and the base-image stand-ins.

The pyindex tests are fast and offline: they make a tiny fake wheel and sdist
themselves and never run pip against the network.  The one Docker test builds
(or reuses) the python:3.12-slim stand-in and is skipped without an engine.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import subprocess
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parent / "support"


def _load(name: str):
    """Import tests/support/<name>.py by path (the folder is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


pyindex = _load("pyindex")
base_images = _load("base_images")


# --------------------------------------------------------------------------
# Helpers: fake distributions and HTTP
# --------------------------------------------------------------------------


def make_wheel(files_dir: Path, dist: str, version: str, requires_python: str | None) -> Path:
    """A minimal but well-formed wheel with METADATA (what the index reads)."""
    path = files_dir / f"{dist}-{version}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
    if requires_python:
        meta += f"Requires-Python: {requires_python}\n"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{dist}/__init__.py", "")
        zf.writestr(f"{dist}-{version}.dist-info/METADATA", meta)
    return path


def make_sdist(files_dir: Path, dist: str, version: str) -> Path:
    """A minimal sdist whose PKG-INFO has no Requires-Python."""
    path = files_dir / f"{dist}-{version}.tar.gz"
    data = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode()
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo(f"{dist}-{version}/PKG-INFO")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def index_root(tmp_path: Path) -> Path:
    """An index root with one wheel (odd name on purpose) and one sdist."""
    files = tmp_path / "files"
    files.mkdir()
    make_wheel(files, "My_Pkg", "1.0", ">=3.9")
    make_sdist(files, "other.pkg", "2.0")
    (files / "README.txt").write_text("not a distribution\n")
    pyindex.write_simple_index(tmp_path)
    return tmp_path


def get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes, dict]:
    """GET a URL; return (status, body, headers) for 2xx and 4xx alike."""
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read(), dict(err.headers)


# --------------------------------------------------------------------------
# pyindex: names, tags, layout
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Foo", "foo"),
        ("My_Pkg", "my-pkg"),
        ("zope.interface", "zope-interface"),
        ("a-_.b__c", "a-b-c"),
        ("Typing_Extensions", "typing-extensions"),
    ],
)
def test_normalize_follows_pep_503(raw, expected):
    assert pyindex.normalize(raw) == expected


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("python_dotenv-1.2.4-py3-none-any.whl", "python-dotenv"),
        ("pydantic_core-2.50.5-cp312-cp312-manylinux_2_17_x86_64.whl", "pydantic-core"),
        ("pkg-1.0-1-py3-none-any.whl", "pkg"),  # with a build tag
        ("python-dotenv-1.0.0.tar.gz", "python-dotenv"),  # dashes in an sdist name
        ("psycopg2-2.9.13.tar.gz", "psycopg2"),
        ("Zope.Interface-5.0.zip", "zope-interface"),
        ("README.txt", None),
    ],
)
def test_project_name_from_file_names(filename, expected):
    assert pyindex.project_name(filename) == expected


def test_platform_tags_cover_manylinux_best_first():
    tags = pyindex.default_platform_tags("x86_64")
    for tag in (
        "manylinux2014_x86_64",
        "manylinux_2_17_x86_64",
        "manylinux_2_28_x86_64",
        "manylinux_2_31_x86_64",
        "manylinux_2_34_x86_64",
        "manylinux_2_35_x86_64",
        "manylinux1_x86_64",
        "linux_x86_64",
    ):
        assert tag in tags
    assert tags[0] == "manylinux_2_36_x86_64"  # Debian bookworm's glibc
    assert tags[-1] == "linux_x86_64"
    assert tags.index("manylinux_2_28_x86_64") < tags.index("manylinux2014_x86_64")
    arm = pyindex.default_platform_tags("aarch64")
    assert "manylinux2014_aarch64" in arm
    assert "manylinux1_aarch64" not in arm  # manylinux1 never existed for arm


def test_simple_index_layout(index_root: Path):
    root_page = (index_root / "simple" / "index.html").read_text()
    assert '<a href="my-pkg/">my-pkg</a>' in root_page
    assert '<a href="other-pkg/">other-pkg</a>' in root_page
    assert "README" not in root_page
    assert sorted(p.name for p in (index_root / "simple").iterdir()) == [
        "index.html",
        "my-pkg",
        "other-pkg",
    ]

    wheel = index_root / "files" / "My_Pkg-1.0-py3-none-any.whl"
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    page = (index_root / "simple" / "my-pkg" / "index.html").read_text()
    assert f'href="../../files/{wheel.name}#sha256={digest}"' in page
    assert 'data-requires-python="&gt;=3.9"' in page

    sdist_page = (index_root / "simple" / "other-pkg" / "index.html").read_text()
    assert "../../files/other.pkg-2.0.tar.gz#sha256=" in sdist_page
    assert "data-requires-python" not in sdist_page


def test_rewriting_the_index_drops_removed_projects(index_root: Path):
    (index_root / "files" / "other.pkg-2.0.tar.gz").unlink()
    pyindex.write_simple_index(index_root)
    assert not (index_root / "simple" / "other-pkg").exists()
    assert (index_root / "simple" / "my-pkg" / "index.html").exists()


# --------------------------------------------------------------------------
# pyindex: serving, with and without auth
# --------------------------------------------------------------------------


def test_serve_without_auth_serves_pages_and_files(index_root: Path):
    with pyindex.serve(index_root, port=0) as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/simple/"
        status, body, _ = get(server.url)
        assert status == 200 and b"my-pkg" in body
        project_url = server.url + "my-pkg/"
        status, body, _ = get(project_url)
        assert status == 200
        href = body.decode().split('href="')[1].split('"')[0]
        file_url, _, fragment = urllib.parse.urljoin(project_url, href).partition("#")
        status, data, _ = get(file_url)
        assert status == 200
        assert fragment == "sha256=" + hashlib.sha256(data).hexdigest()
        assert (server.authorized_requests, server.rejected_requests) == (3, 0)


def test_serve_with_basic_auth(index_root: Path):
    with pyindex.serve(index_root, basic_auth=("ci", "s3cret")) as server:
        status, _, headers = get(server.url)
        assert status == 401
        assert headers.get("WWW-Authenticate", "").startswith("Basic")
        assert get(server.url, auth=("ci", "wrong"))[0] == 401
        assert get(server.url + "my-pkg/", auth=("other", "s3cret"))[0] == 401
        status, body, _ = get(server.url + "my-pkg/", auth=("ci", "s3cret"))
        assert status == 200 and b"My_Pkg-1.0" in body
        assert (server.authorized_requests, server.rejected_requests) == (1, 3)


def test_stop_frees_the_port(index_root: Path):
    server = pyindex.serve(index_root)
    url = server.url
    server.stop()
    server.stop()  # twice is fine
    with pytest.raises(urllib.error.URLError):
        get(url)


# --------------------------------------------------------------------------
# pyindex: the pip commands build_index runs (pip itself is faked)
# --------------------------------------------------------------------------


def test_build_index_pip_commands_and_stamp(tmp_path: Path, monkeypatch):
    req = tmp_path / "requirements.txt"
    req.write_text("psycopg2==2.9.13 --hash=sha256:" + "0" * 64 + "\n")
    monkeypatch.setenv("SLIM_PYTHON_CACHE", str(tmp_path / "cache"))
    calls = []

    def fake_pip(cmd):
        calls.append(cmd)
        files = Path(cmd[cmd.index("--dest") + 1])
        if "-r" in cmd:
            make_sdist(files, "psycopg2", "2.9.13")
        else:
            make_wheel(files, "setuptools", "80.0", ">=3.9")

    monkeypatch.setattr(pyindex, "_run_pip", fake_pip)
    dest = tmp_path / "idx"
    root = pyindex.build_index([req], dest, "3.12", source_packages=["psycopg2"])
    assert root == dest

    hashed, backends = calls
    assert hashed[1:5] == ["-m", "pip", "--isolated", "download"]
    for flag in ("--no-deps", "--only-binary=:all:"):
        assert flag in hashed
    assert hashed[hashed.index("--python-version") + 1] == "3.12"
    assert hashed[hashed.index("--abi") + 1] == "cp312"
    assert hashed[hashed.index("--implementation") + 1] == "cp"
    assert hashed[hashed.index("--no-binary") + 1] == "psycopg2"
    assert hashed.index("--no-binary") > hashed.index("--only-binary=:all:")
    assert hashed[hashed.index("-r") + 1] == str(req.resolve())
    assert "--platform" in hashed
    # Build backends: binary, unhashed, with their dependencies.
    assert backends[-2:] == ["setuptools", "wheel"]
    assert "--no-deps" not in backends and "-r" not in backends
    assert (dest / "simple" / "psycopg2" / "index.html").exists()
    assert (dest / "simple" / "setuptools" / "index.html").exists()

    # Same inputs again: the stamp makes pip unnecessary.
    pyindex.build_index([req], dest, "3.12", source_packages=["psycopg2"])
    assert len(calls) == 2
    # A changed lock file runs pip again.
    req.write_text(req.read_text() + "# changed\n")
    pyindex.build_index([req], dest, "3.12", source_packages=["psycopg2"])
    assert len(calls) == 4


# --------------------------------------------------------------------------
# base_images: the pure parts
# --------------------------------------------------------------------------


def test_docker_cli_from_environment(monkeypatch):
    monkeypatch.delenv("DOCKER", raising=False)
    assert base_images.docker_cli() == ["docker"]
    monkeypatch.setenv("DOCKER", "/usr/bin/docker --context 'ci box'")
    assert base_images.docker_cli() == ["/usr/bin/docker", "--context", "ci box"]


def test_image_names_and_key():
    assert base_images.official_name("3.12") == "python:3.12-slim"
    assert base_images.official_name("3.12", "full") == "python:3.12"
    assert base_images.standin_name("3.12") == "slim-python-standin/python:3.12-slim"
    assert base_images.standin_name("3.11", "full") == "slim-python-standin/python:3.11"
    key = base_images.standin_key("3.12.1")
    assert key == base_images.standin_key("3.12.1")
    assert key != base_images.standin_key("3.12.2")
    with pytest.raises(ValueError):
        base_images.ensure_python_image("3.12; rm -rf /")
    with pytest.raises(ValueError):
        base_images.ensure_python_image("3.12", "alpine")


def test_real_image_is_preferred_over_the_stand_in(monkeypatch):
    def no_pull(ref, timeout=None):
        pytest.fail(f"pulled {ref} although it is present")

    monkeypatch.setattr(base_images, "image_exists", lambda ref: ref == "python:3.12-slim")
    monkeypatch.setattr(base_images, "try_pull", no_pull)
    assert base_images.ensure_python_image("3.12") == "python:3.12-slim"

    monkeypatch.setattr(base_images, "image_exists", lambda ref: False)
    monkeypatch.setattr(base_images, "try_pull", lambda ref, timeout=None: ref == "python:3.12")
    assert base_images.ensure_python_image("3.12", "full") == "python:3.12"


# --------------------------------------------------------------------------
# base_images: the real thing (Docker)
# --------------------------------------------------------------------------


def _docker_answers() -> bool:
    try:
        proc = subprocess.run([*base_images.docker_cli(), "info"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


@pytest.mark.docker
def test_slim_image_for_312_has_ssl_sqlite_and_headers():
    if not _docker_answers():
        pytest.skip("no Docker engine answers")
    try:
        ref = base_images.ensure_python_image("3.12", "slim")
    except base_images.StandInUnavailable as exc:
        pytest.skip(f"no python:3.12-slim and no way to build a stand-in here: {exc}")
    code = (
        "import ssl, sqlite3, sysconfig; "
        "print(ssl.OPENSSL_VERSION.split()[0], sysconfig.get_config_var('INCLUDEPY'))"
    )
    proc = subprocess.run(
        [*base_images.docker_cli(), "run", "--rm", "--network", "none", ref, "python3", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["OpenSSL", "/usr/local/include/python3.12"]


def test_build_index_for_another_architecture(tmp_path: Path, monkeypatch):
    # An arm64 image built under emulation needs aarch64 wheels, not this machine's.
    req = tmp_path / "requirements.txt"
    req.write_text("fastapi==0.1 --hash=sha256:" + "0" * 64 + "\n")
    monkeypatch.setenv("SLIM_PYTHON_CACHE", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(pyindex, "_run_pip", calls.append)
    pyindex.build_index([req], tmp_path / "idx", "3.11", machine="aarch64")
    (command,) = calls
    platforms = [command[i + 1] for i, word in enumerate(command) if word == "--platform"]
    assert platforms == pyindex.default_platform_tags("aarch64")
    assert platforms[0] == "manylinux_2_36_aarch64" and "linux_aarch64" in platforms
    assert not any("x86_64" in tag for tag in platforms)
