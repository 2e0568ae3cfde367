"""A second Docker engine of the benchmark's own, for everything that needs an empty state.

The machine's engine keeps its images and build cache: other work uses them,
and the benchmark never prunes or empties it. A fresh CI runner or a fresh
node is played by a second `dockerd` with its own data root, exec root (and
so its own containerd), pid file and socket, which `reset()` stops, wipes and
starts again.

Its network must not touch the main engine's. `--bridge none` would: dockerd
deletes the interface `docker0` at start when its bridge is disabled, and
with it the main engine's default network. So the engine gets a bridge of its
own (BRIDGE, created here, deleted at the end), and `--iptables=false
--ip-masq=false --ip-forward=false`, so it never edits the firewall or
kernel settings the main engine relies on. Its containers can reach the host
and the host can reach their published ports; builds run with `--network
host`, as everywhere in the template's tests.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from .common import BenchError, tail
from .support import engine

BRIDGE = "slimbench0"
#: The bridge's address: a private /24 no default Docker address pool hands out.
BRIDGE_ADDRESS = "10.213.77.1/24"
SOCKET = "/tmp/bench-dockerd.sock"
#: The main engine's default bridge, which must not be touched.
MAIN_BRIDGE = "docker0"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise BenchError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}. Try: run as root")
    return proc


class SecondEngine:
    """`dockerd` on SOCKET with all its state under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.process: subprocess.Popen | None = None
        self.bridge_created = False
        self.resets = 0
        self.base_cli = engine.docker_cli()

    @property
    def cli(self) -> str:
        """The value of DOCKER that points the engine helpers at this engine."""
        return shlex.join([*self.base_cli, "--host", f"unix://{SOCKET}"])

    def start(self) -> None:
        if shutil.which("dockerd") is None:
            raise BenchError("dockerd not found. Try: apt-get install docker.io (or run as root)")
        if not self.bridge_created:
            if _ip("link", "show", BRIDGE, check=False).returncode == 0:
                raise BenchError(
                    f"interface {BRIDGE} exists: another benchmark runs, or one was killed. "
                    f"Try: ip link delete {BRIDGE}"
                )
            _ip("link", "add", BRIDGE, "type", "bridge")
            self.bridge_created = True
            _ip("addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE)
            _ip("link", "set", BRIDGE, "up")
        for sub in ("data", "exec"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        command = [
            "dockerd",
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"),
            "--pidfile", str(self.root / "dockerd.pid"),
            "--host", f"unix://{SOCKET}",
            "--bridge", BRIDGE,
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
        ]  # fmt: skip
        main_bridge = _ip("link", "show", MAIN_BRIDGE, check=False).returncode == 0
        logfile = (self.root / "dockerd.log").open("ab")
        self.process = subprocess.Popen(
            command, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            answer = subprocess.run(
                [*shlex.split(self.cli), "info", "--format", "{{.ServerVersion}}"],
                capture_output=True,
                check=False,
            )
            if answer.returncode == 0:
                self._check_main_bridge(main_bridge)
                return
            time.sleep(0.3)
        log_text = (self.root / "dockerd.log").read_text(errors="replace")
        self.stop()
        raise BenchError(f"the second Docker engine did not start:\n{tail(log_text, 15)}")

    def _check_main_bridge(self, existed: bool) -> None:
        """The main engine's bridge must survive this engine's start (see the module's doc)."""
        if existed and _ip("link", "show", MAIN_BRIDGE, check=False).returncode != 0:
            self.stop()
            raise BenchError(
                f"starting the second engine removed {MAIN_BRIDGE}, the main engine's bridge. "
                f"Try: restart the main dockerd (it recreates {MAIN_BRIDGE})"
            )

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def reset(self) -> None:
        """Stop, delete every image, layer and cache of this engine, start empty."""
        self.stop()
        shutil.rmtree(self.root / "data", ignore_errors=True)
        shutil.rmtree(self.root / "exec", ignore_errors=True)
        self.resets += 1
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.bridge_created:
            _ip("link", "delete", BRIDGE, check=False)
            self.bridge_created = False

    @contextlib.contextmanager
    def selected(self) -> Iterator[SecondEngine]:
        """Point the engine helpers (DOCKER) and dive (DOCKER_HOST) at this engine."""
        saved = {key: os.environ.get(key) for key in ("DOCKER", "DOCKER_HOST")}
        os.environ["DOCKER"] = self.cli
        os.environ["DOCKER_HOST"] = f"unix://{SOCKET}"
        try:
            yield self
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def on_second_engine() -> bool:
    """True while the helpers point at the benchmark's own engine."""
    return f"unix://{SOCKET}" in os.environ.get("DOCKER", "")


def prune_build_cache() -> None:
    """Empty the build cache (layers and cache mounts): only ever the second engine's."""
    if not on_second_engine():
        raise BenchError(
            "refusing to prune the build cache of an engine the benchmark does not own"
        )
    proc = engine.docker("builder", "prune", "--all", "--force", timeout=600)
    if proc.returncode != 0:
        raise BenchError(f"docker builder prune failed: {tail(proc.stderr)}")
