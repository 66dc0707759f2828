PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The function's architecture (arm64 or x86_64): the template's Architecture parameter must say the same.
ARCH ?= arm64
# This checkout's gcevents when `make setup` made it, else the one on PATH (an installed wheel).
GCEVENTS ?= $(if $(wildcard $(BIN)/gcevents),$(BIN)/gcevents,gcevents)

.PHONY: setup demo test lint lint-template typecheck bench package build-Function clean

$(BIN)/gcevents: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/gcevents

demo: setup
	$(BIN)/gcevents demo

lint: setup
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

# template.yaml offline: cfn-lint, then the SAM transform as `sam deploy` runs it (tests/test_template.py).
lint-template: setup
	$(BIN)/cfn-lint template.yaml
	$(BIN)/pytest -q tests/test_template.py

typecheck: setup
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m bench.run

# The Lambda artifact: build/lambda/ and build/gcevents-lambda.zip (ARCH, CPython 3.12), to inspect or upload.
# Your handlers: make package PACKAGE_ARGS="--handlers ../myorg --spec myorg.handlers:router"
package: setup
	$(BIN)/gcevents package --arch $(ARCH) $(PACKAGE_ARGS)

# `sam build` runs this (template.yaml: Metadata BuildMethod makefile on Function) in a copy of this folder, with
# ARTIFACTS_DIR set to .aws-sam/build/Function: the function's code root, which SAM zips and uploads.
build-Function:
	$(GCEVENTS) package --arch $(ARCH) --code-dir "$(ARTIFACTS_DIR)" $(PACKAGE_ARGS)

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .gcevents
