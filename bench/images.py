"""What an image is made of: size, compressed size, layers, dive's waste, installed packages."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from .common import BenchError, docker, log, tail
from .support import REPO, engine


@dataclass
class SavedImage:
    """What `docker save` tells: gzip size of the whole stream, and the image config."""

    raw_bytes: int
    gzip_bytes: int
    history: list[dict]
    diff_ids: list[str]


class _CountingCompressor(io.RawIOBase):
    """Reads from a pipe, gzips what passes through, counts both sizes."""

    def __init__(self, source: io.BufferedIOBase) -> None:
        self.source = source
        self.gzip = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip -6, gzip's default
        self.raw_bytes = 0
        self.gzip_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.source.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.raw_bytes += size
        self.gzip_bytes += len(self.gzip.compress(data))
        return size

    def drain(self) -> None:
        while self.readinto(bytearray(1 << 20)):
            pass
        self.gzip_bytes += len(self.gzip.flush())


def save_image(tag: str) -> SavedImage:
    """Stream `docker save` once: compress it (size only) and read its metadata."""
    proc = subprocess.Popen([*engine.docker_cli(), "save", tag], stdout=subprocess.PIPE)
    counter = _CountingCompressor(proc.stdout)  # type: ignore[arg-type]
    small: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BufferedReader(counter, 1 << 20), mode="r|") as archive:
        for member in archive:
            if member.isfile() and member.size < (4 << 20):
                fh = archive.extractfile(member)
                small[member.name] = fh.read() if fh else b""
    counter.drain()
    if proc.wait() != 0:
        raise BenchError(f"docker save {tag} failed")
    manifest = json.loads(small["manifest.json"])[0]
    config = json.loads(small[manifest["Config"]])
    return SavedImage(
        raw_bytes=counter.raw_bytes,
        gzip_bytes=counter.gzip_bytes,
        history=config.get("history", []),
        diff_ids=config["rootfs"]["diff_ids"],
    )


def image_inspect(ref: str) -> dict:
    return json.loads(docker("image", "inspect", ref).stdout)[0]


def dive_tool() -> str | None:
    local = Path(sys.executable).parent / "dive"
    return str(local) if local.exists() else shutil.which("dive")


def run_dive(tag: str, dest: Path) -> dict | None:
    """dive's efficiency score and wasted bytes (files shadowed by later layers)."""
    tool = dive_tool()
    if tool is None:
        return None
    dest.unlink(missing_ok=True)  # dive overwrites without truncating
    proc = subprocess.run(
        [tool, tag, "--json", str(dest)],
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "true"},
        timeout=900,
        check=False,
    )
    if proc.returncode != 0 or not dest.exists():
        log(f"dive failed on {tag}: {tail(proc.stdout + proc.stderr, 5)}")
        return None
    try:
        image = json.loads(dest.read_text())["image"]
    except (ValueError, KeyError) as error:
        log(f"cannot read dive's report for {tag}: {error}")
        return None
    top = sorted(image.get("fileReference", []), key=lambda f: -f["sizeBytes"])[:5]
    return {
        "efficiency": image["efficiencyScore"],
        "wasted_bytes": image["inefficientBytes"],
        "top_wasted": top,
    }


#: Run inside each image (as its own user): what is installed, is the fast
#: server stack there, how many compiled extensions. Standard library only.
RUNTIME_PROBE = r"""
import importlib.metadata as md, importlib.util as iu, json, os, sys, sysconfig

purelib = sysconfig.get_paths()["purelib"]
so_files = sum(name.endswith(".so") for _, _, files in os.walk(purelib) for name in files)
dists = sorted({(d.metadata["Name"] or "").lower() for d in md.distributions()})
print(json.dumps({
    "python": sys.executable,
    "site_packages": purelib,
    "distributions": dists,
    "httptools": iu.find_spec("httptools") is not None,
    "uvloop": iu.find_spec("uvloop") is not None,
    "pip_importable": iu.find_spec("pip") is not None,
    "so_files": so_files,
}))
"""

#: The template's own stripper; its --check mode lists the extensions it would
#: still shrink (the same check as `make docker-check`'s `stripped`).
STRIP_SCRIPT = REPO / "{{cookiecutter.project_slug}}" / "scripts" / "strip_extensions.py"

#: uvicorn[standard] extras that only matter in development (reload, YAML log
#: config, websockets for an HTTP-only service). python-dotenv is one of the
#: extras too, but pydantic-settings depends on it, so it is reported apart.
DEV_EXTRAS = ("watchfiles", "websockets", "pyyaml")


def probe_runtime(image: str) -> dict:
    run = ["run", "--rm", "--network", "none", "--entrypoint", "python"]
    proc = docker(*run, image, "-c", RUNTIME_PROBE)
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    mount = ["--volume", f"{STRIP_SCRIPT}:/probe/strip_extensions.py:ro"]
    check = ["-B", "/probe/strip_extensions.py", "--check", found["site_packages"]]
    listed = docker(*run, *mount, image, *check, check=False)
    found["unstripped_so"] = [
        line.split(" (")[0].rsplit("/", 1)[-1]
        for line in listed.stdout.splitlines()
        if line.startswith("/")
    ]
    return found


def image_layers(tag: str, saved: SavedImage) -> list[dict]:
    """Each layer of the image: the instruction that made it, its digest and size.

    Sizes come from `docker history` (file sizes, as `docker image ls` adds
    them up); the saved config says which history lines made no layer.
    """
    sizes = docker("history", "--no-trunc", "--human=false", "--format", "{{.Size}}", tag)
    history_sizes = [int(x) for x in sizes.stdout.split()][::-1]  # oldest first
    layers = []
    entries = zip(saved.history, history_sizes, strict=False)
    real = [(h, size) for h, size in entries if not h.get("empty_layer")]
    for (entry, size), diff_id in zip(real, saved.diff_ids, strict=False):
        layers.append(
            {
                "created_by": entry.get("created_by", "")[:160],
                "size_bytes": size,
                "diff_id": diff_id,
            }
        )
    return layers


def base_bytes(layers: list[dict], base: dict) -> tuple[int, str | None]:
    """Bytes of the image that its runtime base accounts for, and a note when unusual.

    Normally the base image itself (its layers come first). A runtime built
    FROM scratch has no base image: its first layer (the assembled root file
    system) plays that part.
    """
    base_ids = base["layers"]
    if [layer["diff_id"] for layer in layers[: len(base_ids)]] == base_ids:
        return base["size_bytes"], None
    note = "no base image: its first layer, the root file system"
    return (layers[0]["size_bytes"] if layers else 0), note
