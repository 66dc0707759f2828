PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint typecheck bench package clean

$(BIN)/gcevents: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/gcevents

demo: setup
	$(BIN)/gcevents demo

lint: setup
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m bench.run

# Lambda artifact for template.yaml's CodeUri: build/lambda/ and build/gcevents-lambda.zip (arm64, CPython 3.12).
package: setup
	$(BIN)/python scripts/package.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .gcevents
