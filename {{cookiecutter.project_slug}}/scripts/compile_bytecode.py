"""Build step: precompile the bytecode of every module the service loads at start-up.

Why: the official Python images delete the standard library's `.pyc` files to
save space, and a container that runs read-only as a non-root user cannot
write them back. Without this step every container start recompiles a few
hundred modules (the standard library's share alone is most of a second).
Compiling everything instead would add tens of megabytes for modules the
service never imports.

How: import what a server start imports, then compile each loaded module's
source. The `.pyc` files are written under STAGE at the path Python will
look for them, so the Dockerfile can copy them into the runtime image as one
layer without touching the sources. Two steps, so that a code change only
re-runs the second, short one:

    python scripts/compile_bytecode.py --dependencies /bytecode
        Before app/ is copied: import every top-level module of the installed
        packages and uvicorn's server set-up (event loop, HTTP parser), and
        compile what got loaded. Depends on the lock alone.
    python scripts/compile_bytecode.py --app /bytecode-app --skip /bytecode
        After: import the app as `python -m app` does (which fails the build
        if an import is broken), compile what it loaded that /bytecode lacks,
        and compile the app's own modules next to their sources.

They are "unchecked-hash" pycs: valid without comparing timestamps, which is
right for an image whose files never change. Standard library only.

    python -B scripts/compile_bytecode.py --missing

does the same imports in a built image and lists each start-up module that has
no bytecode there (exit 1 if any): `make docker-check` runs it.
"""

import argparse
import importlib
import importlib.metadata
import importlib.util
import py_compile
import sys
from pathlib import Path

import uvicorn

APP = "app"


def load_dependencies() -> None:
    """Import each installed package and uvicorn's server set-up, without the app."""
    for top in sorted(importlib.metadata.packages_distributions()):
        if top == APP or top.startswith("_"):
            continue
        try:
            importlib.import_module(top)
        except Exception as error:  # a module that cannot be imported on its own
            print(f"compile_bytecode: not preloaded: {top}: {error}")

    async def placeholder(scope, receive, send) -> None:
        """An ASGI app, so uvicorn loads its event loop and protocol modules."""

    uvicorn.Config(placeholder).load()


def load_service() -> None:
    """Import everything a server start imports, without binding a socket."""
    # Find `app` in the working directory, as `python -m app` does.
    sys.path.insert(0, str(Path.cwd()))
    uvicorn.Config(f"{APP}.main:create_app", factory=True).load()


def loaded_sources() -> list[Path]:
    """Source files of the modules loaded so far, outside the app package."""
    sources = []
    for module in list(sys.modules.values()):
        origin = getattr(module, "__file__", None)
        if origin and origin.endswith(".py") and module.__name__.split(".")[0] != APP:
            sources.append(Path(origin))
    return sorted(set(sources))


def cache_path(source: Path) -> Path:
    """Where Python looks for the source's bytecode in the image.

    The builder sets PYTHONPYCACHEPREFIX for its own imports; the image has no
    prefix, so the path is computed without it.
    """
    prefix, sys.pycache_prefix = sys.pycache_prefix, None
    try:
        return Path(importlib.util.cache_from_source(str(source)))
    finally:
        sys.pycache_prefix = prefix


def compile_into(stage: Path, sources: list[Path], skip: Path | None) -> int:
    """Write each source's .pyc under `stage`, unless `skip` already has it."""
    stage.mkdir(parents=True, exist_ok=True)
    count = 0
    for source in sources:
        relative = cache_path(source).relative_to("/")
        if skip is not None and (skip / relative).exists():
            continue
        target = stage / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        py_compile.compile(
            str(source),
            cfile=str(target),
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        count += 1
    return count


def compile_app() -> None:
    """The app's own modules, next to their sources (all of them, not only those loaded)."""
    import compileall  # only now, so that it is not counted as a start-up module

    sys.pycache_prefix = None
    if not compileall.compile_dir(APP, quiet=1):
        sys.exit(f"compile_bytecode: {APP}/ does not compile")


def missing_bytecode() -> list[str]:
    """Start-up modules, the app's included, whose .pyc is not where Python looks."""
    load_service()
    return [
        f"{module.__name__} ({module.__file__})"
        for module in list(sys.modules.values())
        if module.__name__ != "__main__"
        and (getattr(module, "__file__", None) or "").endswith(".py")
        and not cache_path(Path(module.__file__)).is_file()
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    step = parser.add_mutually_exclusive_group(required=True)
    step.add_argument("--dependencies", type=Path, metavar="STAGE")
    step.add_argument("--app", type=Path, metavar="STAGE")
    step.add_argument("--missing", action="store_true", help="list modules without bytecode")
    parser.add_argument("--skip", type=Path, help="a STAGE whose files are not written again")
    arguments = parser.parse_args()
    if arguments.missing:
        missing = missing_bytecode()
        print("\n".join(sorted(missing)))
        return 1 if missing else 0
    if arguments.dependencies:
        load_dependencies()
        stage = arguments.dependencies
    else:
        load_service()
        stage = arguments.app
    count = compile_into(stage, loaded_sources(), arguments.skip)
    if arguments.app:
        compile_app()
    print(f"compile_bytecode: {count} modules compiled into {stage}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
