# Training Hub: every command a newcomer needs. `make run` and `make test` work on a bare machine:
# they create the virtualenv, install what they need (idempotently) and say what they are doing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXTRAS ?= operator,train,dev
STAMP := $(VENV)/.installed-$(shell echo $(EXTRAS) | tr ',' '-')
PYTEST_ARGS ?=
# Modules with a generated .pyi next to them: mypy reads the stub for the package, so their code is checked by name.
STUBBED := runtime/training_hub/algorithms/functions.py runtime/training_hub/algorithms/dpo.py

.PHONY: help setup controlplane run test test-unit lint format typecheck crds docs bench gpu-check clean

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(PY):
	@echo "==> creating virtualenv $(VENV) with $$($(PYTHON) --version)"
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	@echo "==> installing training-hub with extras [$(EXTRAS)] (torch==2.13.0 CPU build)"
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --progress-bar off -e ".[$(EXTRAS)]"
	@touch $(STAMP)

setup: $(STAMP)  ## Create .venv and install the project with its extras.

controlplane:  ## Build (once, cached) the local Kubernetes 1.20 control plane binaries.
	@echo "==> local control plane (kube-apiserver, kube-controller-manager, etcd)"
	bash tests/controlplane/build.sh

run: setup  ## Set up, then train the tiny CPU example in local mode.
	$(VENV)/bin/training-hub run examples/tiny-cpu.yaml --local

test: setup controlplane  ## Set up everything, then lint, type-check and run the whole test suite.
	$(VENV)/bin/ruff check runtime operator tests benchmarks
	$(VENV)/bin/ruff format --check runtime operator tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy $(STUBBED)
	KUBEBUILDER_ASSETS="$$(bash tests/controlplane/build.sh 2>/dev/null | tail -n1)" \
	  $(VENV)/bin/pytest -m "not benchmark" $(PYTEST_ARGS)

test-unit: setup  ## Only the fast unit tests.
	$(VENV)/bin/pytest -m unit $(PYTEST_ARGS)

lint: setup  ## ruff lint and format check.
	$(VENV)/bin/ruff check runtime operator tests benchmarks
	$(VENV)/bin/ruff format --check runtime operator tests benchmarks

format: setup  ## Apply ruff's formatting and fixes.
	$(VENV)/bin/ruff check --fix runtime operator tests benchmarks
	$(VENV)/bin/ruff format runtime operator tests benchmarks

typecheck: setup  ## mypy on both packages and the benchmarks (pydantic plugin).
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy $(STUBBED)

crds: setup  ## Regenerate crds/ and the docs tables from the pydantic models.
	$(PY) -m training_hub_operator.crdgen --write
	$(PY) -m training_hub.defaults --write
	$(PY) -m training_hub.algorithms.stubs --write

bench: setup controlplane  ## Run every benchmark; prints tables and writes benchmarks/results/*.json.
	$(PY) benchmarks/run_all.py

GPU_PYTHON ?= python3
gpu-check:  ## On a CUDA box: the prepared GPU check with the box's own Python and torch (no .venv, no downloads).
	$(GPU_PYTHON) -m benchmarks.gpu_check $(GPU_CHECK_ARGS)

clean:  ## Remove the virtualenv and caches (not the control plane build cache).
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
