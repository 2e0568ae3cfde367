"""CANDIDATE (benchmark experiment, not the template): bytecode in two steps.

--dependencies STAGE  import every top-level module the installed distributions
                      provide plus uvicorn's server set-up, compile what got
                      loaded (outside app/) into STAGE. Needs no app code.
--app STAGE --skip D  import the app as `python -m app` does, compile what got
                      loaded (outside app/) and is not already under D.
"""

import importlib
import importlib.metadata
import importlib.util
import py_compile
import sys
from pathlib import Path

import uvicorn


def load_dependencies() -> None:
    for top in sorted(importlib.metadata.packages_distributions()):
        if top == "app" or top.startswith("_"):
            continue
        try:
            importlib.import_module(top)
        except Exception as error:  # a package that cannot be imported on its own
            print(f"compile_bytecode: skipped {top}: {error}")

    async def asgi(scope, receive, send):  # a stand-in app for the server set-up
        return None

    uvicorn.Config(asgi).load()


def load_service() -> None:
    sys.path.insert(0, str(Path.cwd()))
    uvicorn.Config("app.main:create_app", factory=True).load()


def loaded_sources() -> list[Path]:
    sources = []
    for module in list(sys.modules.values()):
        origin = getattr(module, "__file__", None)
        if origin and origin.endswith(".py") and module.__name__.split(".")[0] != "app":
            sources.append(Path(origin))
    return sorted(set(sources))


def cache_path(source: Path) -> Path:
    """Where Python looks for the source's bytecode (ignoring PYTHONPYCACHEPREFIX)."""
    prefix, sys.pycache_prefix = sys.pycache_prefix, None
    try:
        return Path(importlib.util.cache_from_source(str(source)))
    finally:
        sys.pycache_prefix = prefix


def compile_into(stage: Path, sources: list[Path], skip: Path | None) -> int:
    """Write unchecked-hash bytecode for each source under `stage`.

    When the import above left a timestamp pyc in PYTHONPYCACHEPREFIX that
    matches the source, its code is reused with a new header (the code object
    does not depend on the invalidation mode); otherwise the source is compiled.
    """
    count = 0
    for source in sources:
        relative = cache_path(source).relative_to("/")
        if skip is not None and (skip / relative).exists():
            continue
        target = stage / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if not reuse_import_cache(source, target):
            py_compile.compile(
                str(source),
                cfile=str(target),
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        count += 1
    return count


def reuse_import_cache(source: Path, target: Path) -> bool:
    if not sys.pycache_prefix:
        return False
    cached = Path(importlib.util.cache_from_source(str(source)))
    try:
        data = cached.read_bytes()
        stat = source.stat()
    except OSError:
        return False
    magic, flags = data[:4], int.from_bytes(data[4:8], "little")
    mtime, size = int.from_bytes(data[8:12], "little"), int.from_bytes(data[12:16], "little")
    if (
        magic != importlib.util.MAGIC_NUMBER
        or flags != 0
        or mtime != int(stat.st_mtime) & 0xFFFFFFFF
        or size != stat.st_size & 0xFFFFFFFF
    ):
        return False
    header = magic + (0b01).to_bytes(4, "little") + importlib.util.source_hash(source.read_bytes())
    target.write_bytes(header + data[16:])
    return True


def main() -> int:
    mode, stage = sys.argv[1], Path(sys.argv[2])
    skip = Path(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--skip" else None
    if mode == "--dependencies":
        load_dependencies()
    else:
        load_service()
    stage.mkdir(parents=True, exist_ok=True)
    count = compile_into(stage, loaded_sources(), skip)
    print(f"compile_bytecode: {count} modules compiled into {stage}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
