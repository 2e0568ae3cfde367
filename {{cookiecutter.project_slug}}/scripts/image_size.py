"""Size report of the built image, with a budget on what the project adds: `make size`.

Prints the image's size, its base's share, the size each of the project's own
layers adds (with the Dockerfile step that made it) and the largest installed
Python packages, then fails (exit 1) when the project adds more than the budget
on top of its base. Budgeting the added megabytes, not the total, gives every
runtime the same yardstick: the minimal runtime cannot double unnoticed, and a
larger base does not fail at once.

The base is recognised from the layers themselves: an image built on BASE starts
with exactly BASE's layers (compared by digest, from `docker image inspect`);
the minimal runtime starts with the root file system assembled from BASE
(interpreter, standard library, shared libraries), its first layer.

Runs on your machine, not in the image; standard library only. The budget lives
in the Makefile (SIZE_BUDGET_MB) so a pull request that grows the image past it
fails CI and gets a review.

    python scripts/image_size.py IMAGE --base python:3.12-slim --budget-mb 25 [--docker CLI]
"""

import argparse
import json
import re
import shlex
import subprocess
import sys

MB = 1_000_000
# The step that makes the minimal runtime's first layer (see the Dockerfile).
MINIMAL_ROOTFS_STEP = re.compile(r"^COPY /rootfs/ / ")

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


class SizeError(Exception):
    """The report cannot be made; the message says why and what to do."""


def docker(cli: list[str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    # The command is the Docker CLI you chose (--docker); no shell is involved.
    command = [*cli, *args]
    return subprocess.run(command, capture_output=True, text=True, check=check)  # noqa: S603


def inspect_image(cli: list[str], image: str) -> dict | None:
    result = docker(cli, "image", "inspect", image, check=False)
    return json.loads(result.stdout)[0] if result.returncode == 0 else None


def layers(cli: list[str], image: str) -> list[tuple[int, str]]:
    """(bytes, step) for each history entry that made a layer, oldest first."""
    out = docker(
        cli, "history", "--no-trunc", "--human=false", "--format", "{{json .}}", image
    ).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [(int(row["Size"]), " ".join(row["CreatedBy"].split())) for row in reversed(rows)]


def base_share(cli: list[str], image: dict, history: list[tuple[int, str]], base: str):
    """(bytes of the image that are its base, how many history entries, description)."""
    made = [(index, step) for index, (size, step) in enumerate(history) if size]
    if made and MINIMAL_ROOTFS_STEP.match(made[0][1]):
        index = made[0][0]
        return history[index][0], index + 1, f"the root file system assembled from {base}"
    base_image = inspect_image(cli, base)
    if base_image is None:
        # CI builds with its own builder, so the base may not be in the local store.
        docker(cli, "pull", "--quiet", base, check=False)
        base_image = inspect_image(cli, base)
    if base_image is None:
        raise SizeError(
            f"cannot inspect the base image {base}: pull it, or pass the image this one "
            "is built on as BASE_IMAGE=..."
        )
    base_layers = base_image["RootFS"]["Layers"]
    if image["RootFS"]["Layers"][: len(base_layers)] != base_layers:
        raise SizeError(
            f"{base} is not the base of this image (its layers differ, e.g. the tag moved "
            "since the build): rebuild, or pass the image it is built on as BASE_IMAGE=..."
        )
    # The image's history starts with its base's history, entry for entry.
    return int(base_image["Size"]), len(layers(cli, base)), base


def largest_packages(cli: list[str], image: str, count: int) -> list[tuple[int, str]]:
    out = docker(cli, "run", "--rm", "--entrypoint", "python", image, "-c", PACKAGE_SIZES).stdout
    sizes = json.loads(out)
    return sorted(((size, name) for name, size in sizes.items()), reverse=True)[:count]


def report(options: argparse.Namespace) -> int:
    cli = shlex.split(options.docker)
    image = inspect_image(cli, options.image)
    if image is None:
        raise SizeError(f"no image {options.image}: build it first (make docker-build)")
    total = int(image["Size"])
    history = layers(cli, options.image)
    base_bytes, base_entries, base_name = base_share(cli, image, history, options.base)
    added = total - base_bytes

    print(
        f"{options.image}: {total / MB:.1f} MB in all; its base ({base_name}) "
        f"{base_bytes / MB:.1f} MB; the project adds {added / MB:.1f} MB.\n"
    )
    print("Layers the project adds (size, step):")
    for size, step in history[base_entries:]:
        if size:
            print(f"  {size / MB:8.2f} MB  {step[:90]}")
    print(f"\nLargest installed packages (top {options.top}):")
    for size, name in largest_packages(cli, options.image, options.top):
        print(f"  {size / MB:8.2f} MB  {name}")

    budget = options.budget_mb * MB
    if added > budget:
        print(
            f"\nFAIL: the project adds {added / MB:.1f} MB to its base, "
            f"{(added - budget) / MB:.1f} MB over the budget of {options.budget_mb:g} MB. "
            "Find what grew above, or raise SIZE_BUDGET_MB in the Makefile on purpose."
        )
        return 1
    print(
        f"\nOK: the project adds {added / MB:.1f} MB to its base, within the budget of "
        f"{options.budget_mb:g} MB ({(budget - added) / MB:.1f} MB to spare)."
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--base", required=True, help="the image the runtime is built on")
    parser.add_argument("--budget-mb", type=float, required=True, help="MB added over the base")
    parser.add_argument("--docker", default="docker", help="Docker CLI command")
    parser.add_argument("--top", type=int, default=10, help="how many packages to list")
    options = parser.parse_args()
    try:
        return report(options)
    except SizeError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
