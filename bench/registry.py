"""A registry on 127.0.0.1 (Debian's docker-registry), started and stopped by the benchmark.

Base images are pushed to it once; the second engine pulls them from it as a
fresh CI runner would, and pulls the final images as a fresh node would. The
bytes a pull moved are read from the registry's own request log (bytes
written for each GET), so they are measured, not estimated from sizes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from .common import BenchError, docker, log, tail
from .support import engine

CONFIG = """\
version: 0.1
log:
  level: info
  formatter: json
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


class Registry:
    """`docker-registry serve` with its storage under `root`, on a free loopback port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = engine.free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = root / "registry.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        tool = shutil.which("docker-registry")
        if tool is None:
            raise BenchError("docker-registry is missing. Try: apt-get install docker-registry")
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(CONFIG.format(storage=self.root / "storage", port=self.port))
        with self.log_path.open("ab") as logfile:
            self.process = subprocess.Popen(
                [tool, "serve", str(config)], stdout=logfile, stderr=subprocess.STDOUT
            )
        if engine.wait_for_http(f"http://{self.host}/v2/", timeout=30) is None:
            self.stop()
            raise BenchError(f"the registry did not answer:\n{tail(self.log_path.read_text())}")
        log(f"registry on {self.host} (storage {self.root / 'storage'})")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def ref(self, name: str) -> str:
        return f"{self.host}/{name}"

    def push(self, local: str, name: str) -> tuple[str, float]:
        """Push a local image of the selected engine as `name`; its reference and seconds."""
        remote = self.ref(name)
        docker("tag", local, remote)
        started = time.perf_counter()
        try:
            docker("push", remote, timeout=1800)
        finally:
            docker("image", "rm", remote, check=False)  # the tag only; `local` keeps the layers
        return remote, time.perf_counter() - started

    def compressed_bytes(self, name: str) -> int:
        """Bytes of the image's manifest, config and (gzip) layers as stored in the registry."""
        repository, tag = name.rsplit(":", 1)
        request = urllib.request.Request(
            f"http://{self.host}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_V2}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        manifest = json.loads(body)
        return len(body) + manifest["config"]["size"] + sum(x["size"] for x in manifest["layers"])

    def mark(self) -> int:
        """A position in the request log; `bytes_sent(mark)` counts from there."""
        return self.log_path.stat().st_size

    def bytes_sent(self, mark: int) -> int:
        """Bytes the registry wrote in answers to GET requests since `mark` (pulls)."""
        time.sleep(0.2)  # the log line follows the response
        total = 0
        with self.log_path.open("rb") as handle:
            handle.seek(mark)
            for line in handle:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("http.request.method") == "GET":
                    total += int(entry.get("http.response.written") or 0)
        return total
