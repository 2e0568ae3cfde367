# Dependencies, uv workflow: pyproject.toml lists them, uv.lock pins every
# package with hashes for every platform, and `uv sync` installs exactly that.
# `make lock` also exports uv.lock's runtime pins into a hashed requirements.txt:
# the image installs that file with pip, as in the requirements workflow, so it
# needs no uv. Commit uv.lock and requirements.txt together; CI checks they agree.
# docker/build-requirements.in (build backends of packages built from source
# in the image) is locked into docker/build-requirements.txt.
#
# Needs uv on your machine: https://docs.astral.sh/uv/getting-started/installation/
# (e.g. `pipx install uv`). Behind a proxy that inspects TLS, let uv trust the
# system's certificates: export UV_NATIVE_TLS=true. Included by the Makefile.

UV ?= uv
export UV_PYTHON := python{{ cookiecutter.python_version }}
EXPORT := $(UV) export --frozen --no-dev --no-emit-project --format requirements-txt \
	--quiet --output-file requirements.txt
BUILD_LOCK := $(UV) pip compile --quiet --universal --python-version {{ cookiecutter.python_version }} \
	--generate-hashes --custom-compile-command "make lock" docker/build-requirements.in \
	--output-file docker/build-requirements.txt

.PHONY: setup lock upgrade requirements require-uv

setup: uv.lock | require-uv ## Create .venv with the locked runtime and development dependencies
	$(UV) sync --locked

lock: | require-uv ## Re-resolve pyproject.toml into uv.lock (keeps current pins); export requirements.txt
	$(UV) lock
	$(EXPORT)
	$(BUILD_LOCK)

upgrade: | require-uv ## Like lock, but move every pin to its newest release
	$(UV) lock --upgrade
	$(EXPORT)
	$(BUILD_LOCK) --upgrade

requirements: | require-uv ## Export uv.lock's runtime pins into requirements.txt (as make lock does)
	$(EXPORT)

# A new project has no uv.lock yet: the first setup or image build creates it.
uv.lock: pyproject.toml | require-uv
	$(UV) lock

requirements.txt: uv.lock | require-uv
	$(EXPORT)

docker-build: requirements.txt

require-uv:
	@command -v $(firstword $(UV)) >/dev/null 2>&1 || { echo "ERROR: uv is not installed, and this project's dependency workflow needs it. Try: pipx install uv (or see https://docs.astral.sh/uv/getting-started/installation/)" >&2; exit 1; }
