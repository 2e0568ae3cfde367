# Working on the template itself. `make` lists the targets.
# Docker tier: needs a Docker engine and a client with BuildKit; point DOCKER at
# it when the first `docker` on PATH has no buildx plugin (e.g. DOCKER=/usr/bin/docker).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DOCKER ?= docker

.DEFAULT_GOAL := help
.PHONY: help setup test test-fast lint fmt bake bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Create .venv with what the template's tests need
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --requirement requirements-test.txt

test: ## Run every test, the Docker tier included (skipped, with a reason, without an engine)
	$(BIN)/python -m pytest

test-fast: ## Everything except the Docker tier and the generated projects' own suites
	$(BIN)/python -m pytest -m "not docker and not slow"

lint: ## Lint and format-check the template's own code
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: ## Format the template's own code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bake: ## Render the default project into build/ (to look at it)
	rm -rf build && $(BIN)/cookiecutter --no-input . --output-dir build

bench: ## Benchmark naive vs seed recipe vs this template (see bench/README.md)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean: ## Remove the virtualenv, caches and rendered output
	rm -rf $(VENV) build .pytest_cache .ruff_cache
