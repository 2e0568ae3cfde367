# Dependencies, uv workflow: pyproject.toml lists them, uv.lock pins every
# package with hashes for every platform, and `uv sync` installs exactly that.
# Needs uv on your machine (https://docs.astral.sh/uv/); the image installs its
# own pinned copy in the builder stage only. Included by the Makefile.

UV ?= uv
export UV_PYTHON := python{{ cookiecutter.python_version }}

.PHONY: setup lock upgrade

setup: uv.lock ## Create .venv with the locked runtime and development dependencies
	$(UV) sync --locked

lock: ## Re-resolve pyproject.toml into uv.lock (keeps current pins); re-pin the builder's uv
	$(UV) lock
	echo "uv==$$($(UV) --version | cut -d' ' -f2)" | $(UV) pip compile --quiet --universal \
		--generate-hashes --no-header - --output-file docker/uv-requirements.txt

upgrade: ## Like lock, but move every pin to its newest release
	$(UV) lock --upgrade

# A new project has no uv.lock yet: the first setup or image build creates it.
uv.lock: pyproject.toml
	$(UV) lock

docker-build: uv.lock
