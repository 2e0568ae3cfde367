"""Build step: precompile the bytecode of every module the service loads at start-up.

Why: the official Python images delete the standard library's `.pyc` files to
save space, and a container that runs read-only as a non-root user cannot
write them back. Without this step every container start recompiles a few
hundred modules (the standard library's share alone is most of a second).
Compiling everything instead would add tens of megabytes for modules the
service never imports.

How: import the app the way `python -m app` does (uvicorn's configuration
loads the app factory, the event loop and the HTTP parser), then compile each
loaded module's source. The `.pyc` files are written under STAGE_DIR at the
path Python will look for them, so the Dockerfile can copy them into the
runtime image as one layer without touching the sources:

    python scripts/compile_bytecode.py /bytecode

They are "unchecked-hash" pycs: valid without comparing timestamps, which is
right for an image whose files never change. Standard library only.

    python -B scripts/compile_bytecode.py --missing

does the same imports in a built image and lists each start-up module that has
no bytecode there (exit 1 if any): `make docker-check` runs it.
"""

import importlib.util
import py_compile
import sys
from pathlib import Path

import uvicorn


def load_service() -> None:
    """Import everything a server start imports, without binding a socket."""
    # Find `app` in the working directory, as `python -m app` does.
    sys.path.insert(0, str(Path.cwd()))
    config = uvicorn.Config("app.main:create_app", factory=True)
    config.load()


def loaded_sources() -> list[Path]:
    """Source files of the modules loaded so far, outside the app package.

    The app's own modules are compiled next to their sources instead (see the
    Dockerfile), so that a code change does not change this layer.
    """
    sources = []
    for module in list(sys.modules.values()):
        origin = getattr(module, "__file__", None)
        if origin and origin.endswith(".py") and module.__name__.split(".")[0] != "app":
            sources.append(Path(origin))
    return sorted(set(sources))


def compile_into(stage: Path, sources: list[Path]) -> int:
    """Write each source's .pyc under `stage` at its normal cache path."""
    for source in sources:
        cache_path = Path(importlib.util.cache_from_source(str(source)))
        target = stage / cache_path.relative_to(cache_path.anchor)
        target.parent.mkdir(parents=True, exist_ok=True)
        py_compile.compile(
            str(source),
            cfile=str(target),
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    return len(sources)


def missing_bytecode() -> list[str]:
    """Start-up modules, the app's included, whose .pyc is not where Python looks."""
    load_service()
    return [
        f"{module.__name__} ({module.__file__})"
        for module in list(sys.modules.values())
        if module.__name__ != "__main__"
        and (getattr(module, "__file__", None) or "").endswith(".py")
        and not Path(importlib.util.cache_from_source(module.__file__)).is_file()
    ]


def main() -> int:
    if sys.argv[1] == "--missing":
        missing = missing_bytecode()
        print("\n".join(sorted(missing)))
        return 1 if missing else 0
    stage = Path(sys.argv[1])
    load_service()
    count = compile_into(stage, loaded_sources())
    print(f"compile_bytecode: {count} modules compiled into {stage}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
