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
        packages and uvicorn's server set-up (event loop, HTTP parser), build
        and serve a small FastAPI app in-process (FastAPI loads some modules
        only when it sets up a route or answers a request), and compile what
        got loaded. Depends on the lock alone.
    python scripts/compile_bytecode.py --app /bytecode-app --skip /bytecode
        After: compile app/ and the modules it imports that /bytecode lacks,
        found by reading the code, not running it (importing the app would
        cost each code-only rebuild most of a second). A module that app/
        imports at its top level and that is not installed fails the build.

They are "unchecked-hash" pycs: valid without comparing timestamps, which is
right for an image whose files never change. Standard library only.

    python -B scripts/compile_bytecode.py --missing

does the same imports in a built image and lists each start-up module that has
no bytecode there (exit 1 if any): `make docker-check` runs it.
"""

import argparse
import importlib
import importlib.util
import py_compile
import struct
import sys
from pathlib import Path

APP = "app"


def load_dependencies() -> None:
    """Import each installed package and uvicorn's server set-up, without the app."""
    import importlib.metadata

    import uvicorn

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
    serve_a_fastapi_request()


def serve_a_fastapi_request() -> None:
    """Set up a route with pydantic models and answer one request, without a socket."""
    import asyncio

    import fastapi
    import pydantic

    class Item(pydantic.BaseModel):
        name: str = pydantic.Field(min_length=1)

    api = fastapi.FastAPI()

    @api.post("/items/{number}")
    async def echo(number: int, item: Item) -> Item:
        return item

    async def receive() -> dict:
        return {"type": "http.request", "body": b'{"name": "x"}', "more_body": False}

    async def send(message: dict) -> None:
        """The response is not needed, only the modules answering loads."""

    headers = [(b"host", b"localhost"), (b"content-type", b"application/json")]
    scope = {"type": "http", "method": "POST", "path": "/items/1", "headers": headers}
    scope |= {"query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1"}
    asyncio.run(api(scope, receive, send))


def load_service() -> None:
    """Import everything a server start imports, without binding a socket."""
    import uvicorn

    # Find `app` in the working directory, as `python -m app` does.
    sys.path.insert(0, str(Path.cwd()))
    uvicorn.Config(f"{APP}.main:create_app", factory=True).load()


def loaded_sources() -> list[Path]:
    """Source files of the modules loaded so far, outside the app package.

    Not this script's own (`__main__`): the build mounts it in /tmp, and its
    bytecode would make the image's /tmp a folder of root's that only root can
    write to, for every container run without a --tmpfs /tmp.
    """
    sources = []
    for module in list(sys.modules.values()):
        origin = getattr(module, "__file__", None)
        if module.__name__ == "__main__" or module.__name__.split(".")[0] == APP:
            continue
        if origin and origin.endswith(".py"):
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
        if not reuse_compiled(source, target):
            py_compile.compile(
                str(source),
                cfile=str(target),
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        count += 1
    return count


def reuse_compiled(source: Path, target: Path) -> bool:
    """Write the code the imports above compiled, instead of compiling it again.

    Importing a module compiled it and wrote a .pyc into the builder's cache
    (PYTHONPYCACHEPREFIX), stamped with the source's modification time and
    size. If that stamp matches the source, the same code goes to `target`
    under an unchecked-hash header (PEP 552), as py_compile would write it:
    the dependencies' step then compiles nothing twice.
    """
    if sys.pycache_prefix is None:
        return False
    try:
        compiled = Path(importlib.util.cache_from_source(str(source))).read_bytes()
    except OSError:
        return False
    stat = source.stat()
    stamp = struct.pack("<III", 0, int(stat.st_mtime) & 0xFFFFFFFF, stat.st_size & 0xFFFFFFFF)
    if compiled[:16] != importlib.util.MAGIC_NUMBER + stamp:
        return False
    unchecked_hash = struct.pack("<I", 0b01)  # flags: hash-based, source never checked
    source_hash = importlib.util.source_hash(source.read_bytes())
    target.write_bytes(importlib.util.MAGIC_NUMBER + unchecked_hash + source_hash + compiled[16:])
    return True


def new_module_finder(known: Path | None):  # -> modulefinder.ModuleFinder
    """A finder that follows imports by reading the code, but not into modules
    whose bytecode `known` already has: their imports were loaded, and compiled,
    with them. (modulefinder is imported here, not at the top, so that --missing
    does not count it as a module the service loads.)"""
    import modulefinder

    def compiled(source: str | None) -> bool:
        return (
            bool(known and source and source.endswith(".py"))
            and (known / cache_path(Path(source)).relative_to("/")).exists()
        )

    class NewModuleFinder(modulefinder.ModuleFinder):
        def load_module(self, fqname, fp, pathname, file_info):
            if compiled(pathname):  # record it, but do not read it
                module = self.add_module(fqname)
                module.__file__ = pathname
                return module
            return super().load_module(fqname, fp, pathname, file_info)

    return NewModuleFinder(path=[str(Path.cwd()), *sys.path])


def top_level_imports(source: Path, package: str) -> list[str]:
    """The modules a file imports unconditionally (not in a function, try or if)."""
    import ast  # here, not at the top: see new_module_finder

    names = []
    for node in ast.parse(source.read_text(), str(source)).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            names.append(".".join(part for part in (base, node.module) if part))
    return names


def app_sources(known: Path | None) -> list[Path]:
    """Every module of app/, and the modules they import whose bytecode `known` lacks."""
    finder = new_module_finder(known)
    sources = sorted(source.resolve() for source in Path(APP).rglob("*.py"))
    missing = []
    for source in sources:
        parts = source.relative_to(Path.cwd()).with_suffix("").parts
        if all((Path(*parts[:end]) / "__init__.py").is_file() for end in range(1, len(parts))):
            # In the app's packages: follow its imports the way `import` would.
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            package = module if parts[-1] == "__init__" else module.rpartition(".")[0]
            finder.import_hook(module)
        else:
            # Outside them (Alembic loads its migrations by path): its imports only.
            package = ""
            finder.load_file(str(source))
        for name in top_level_imports(source, package):
            if name and name not in finder.modules:
                missing.append(f"{source.relative_to(Path.cwd())} imports {name}")
    if missing:
        sys.exit(
            "ERROR: app/ imports modules that are not installed:\n  "
            + "\n  ".join(missing)
            + "\nTry: add the package to requirements.in, then make lock"
        )
    found = [module.__file__ or "" for module in finder.modules.values()]
    return sorted({*sources, *(Path(name) for name in found if name.endswith(".py"))})


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
        stage, sources = arguments.dependencies, loaded_sources()
        # What the app step imports, so it finds their bytecode in the builder's
        # cache (PYTHONPYCACHEPREFIX) after every code change; not in `sources`.
        import ast  # noqa: F401
        import modulefinder  # noqa: F401
    else:
        stage, sources = arguments.app, app_sources(arguments.skip)
    count = compile_into(stage, sources, arguments.skip)
    print(f"compile_bytecode: {count} modules compiled into {stage}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
