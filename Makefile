PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint lint-template typecheck bench package clean

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

# Lambda artifact for template.yaml's CodeUri: build/lambda/ and build/gcevents-lambda.zip (arm64, CPython 3.12).
# Your handlers: make package PACKAGE_ARGS="--handlers ../myorg --spec myorg.handlers:router"
package: setup
	$(BIN)/gcevents package $(PACKAGE_ARGS)

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .gcevents
