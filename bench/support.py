"""The one place the benchmark imports the template's test support from.

The Docker tier's engine helpers (tests/docker_tier/engine.py) and the offline
support (stand-in base images, the local package index) are shared with the
tests, so the benchmark builds and runs images exactly the way they do. If the
offline support moves, change SUPPORT below and nothing else.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: Folder of base_images.py and pyindex.py (test support for machines without a registry).
SUPPORT = REPO / "tests" / "support"
TESTS = REPO / "tests"

for _path in (SUPPORT, TESTS):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import base_images  # noqa: E402
import pyindex  # noqa: E402
from docker_tier import engine  # noqa: E402

__all__ = ["REPO", "base_images", "engine", "pyindex"]
