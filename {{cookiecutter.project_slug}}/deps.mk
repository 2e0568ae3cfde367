# Dependencies, requirements workflow: requirements*.in are resolved by uv into
# requirements*.txt, with an exact version and hashes for every package and
# platform. pip installs them with --require-hashes. Included by the Makefile.
# docker/build-requirements.in (build backends of packages built from source
# in the image) is locked the same way into docker/build-requirements.txt.

LOCK := $(BIN)/uv pip compile --quiet --universal --python-version {{ cookiecutter.python_version }} \
	--generate-hashes --custom-compile-command "make lock"

.PHONY: setup lock upgrade

setup: ## Create .venv with the locked runtime and development dependencies
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --requirement requirements-dev.txt

lock: ## Re-resolve requirements*.in into hashed requirements*.txt (keeps current pins)
	$(LOCK) requirements.in --output-file requirements.txt
	$(LOCK) requirements-dev.in --output-file requirements-dev.txt
	$(LOCK) docker/build-requirements.in --output-file docker/build-requirements.txt

upgrade: ## Like lock, but move every pin to its newest release
	$(LOCK) --upgrade requirements.in --output-file requirements.txt
	$(LOCK) --upgrade requirements-dev.in --output-file requirements-dev.txt
	$(LOCK) --upgrade docker/build-requirements.in --output-file docker/build-requirements.txt
