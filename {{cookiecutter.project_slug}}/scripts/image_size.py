"""Size report of the built image, with a budget: `make size`.

Prints the image's total size, the size each layer adds (with the Dockerfile
step that made it) and the largest installed Python packages, then fails
(exit 1) when the total exceeds the budget. Runs on your machine, not in the
image; standard library only. The budget lives in the Makefile (SIZE_BUDGET_MB)
so a pull request that grows the image past it fails CI and gets a review.

    python scripts/image_size.py IMAGE --budget-mb 165 [--docker /usr/bin/docker]
"""

import argparse
import json
import shlex
import subprocess
import sys

MB = 1_000_000

# Runs inside the image with its own Python: size of each top-level entry of
# every site-packages directory (no shell or du needed, so any image works).
PACKAGE_SIZES = """
import json, os, site, sys
sizes = {}
for root in {p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)}:
    for entry in os.scandir(root):
        total = entry.stat(follow_symlinks=False).st_size
        if entry.is_dir(follow_symlinks=False):
            for folder, _, files in os.walk(entry.path):
                total += sum(os.lstat(os.path.join(folder, f)).st_size for f in files)
        sizes[entry.name] = sizes.get(entry.name, 0) + total
print(json.dumps(sizes))
"""


def docker(cli: list[str], *args: str) -> str:
    # The command is the Docker CLI you chose (--docker); no shell is involved.
    command = [*cli, *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603


def layers(cli: list[str], image: str) -> list[tuple[int, str]]:
    """(bytes, step) for each layer, oldest first, from `docker history`."""
    out = docker(cli, "history", "--no-trunc", "--human=false", "--format", "{{json .}}", image)
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [(int(row["Size"]), row["CreatedBy"]) for row in reversed(rows)]


def largest_packages(cli: list[str], image: str, count: int) -> list[tuple[int, str]]:
    out = docker(cli, "run", "--rm", "--entrypoint", "python", image, "-c", PACKAGE_SIZES)
    sizes = json.loads(out)
    return sorted(((size, name) for name, size in sizes.items()), reverse=True)[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--budget-mb", type=float, required=True)
    parser.add_argument("--docker", default="docker", help="Docker CLI command")
    parser.add_argument("--top", type=int, default=10, help="how many packages to list")
    options = parser.parse_args()
    cli = shlex.split(options.docker)

    total = int(docker(cli, "image", "inspect", "--format", "{{.Size}}", options.image))
    print(f"{options.image}: {total / MB:.1f} MB\n\nLayers (size added, step):")
    for size, step in layers(cli, options.image):
        if size:
            print(f"  {size / MB:8.2f} MB  {' '.join(step.split())[:90] or '(base image)'}")
    print(f"\nLargest installed packages (top {options.top}):")
    for size, name in largest_packages(cli, options.image, options.top):
        print(f"  {size / MB:8.2f} MB  {name}")

    budget = options.budget_mb * MB
    if total > budget:
        print(
            f"\nFAIL: {total / MB:.1f} MB is over the budget of {options.budget_mb:g} MB. "
            "Find what grew above, or raise SIZE_BUDGET_MB in the Makefile on purpose."
        )
        return 1
    print(f"\nOK: {total / MB:.1f} MB is within the budget of {options.budget_mb:g} MB.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
