# Two commands: `make demo` (install, ingest the sample corpus, answer a question) and
# `make test` (install, run the whole test suite). Everything installs from pinned lock files.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := .ragwright-demo
QUESTION ?= How many vacation days do full-time employees get?

.PHONY: demo test install install-dev bench clean

demo: install
	$(BIN)/ragwright ingest examples/sample-corpus --data-dir $(DEMO)
	$(BIN)/ragwright ask "$(QUESTION)" --data-dir $(DEMO)

test: install-dev
	$(BIN)/python -m pytest

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

$(VENV)/.dev: $(VENV)/.runtime requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements/dev.txt
	@touch $@

bench: install-dev
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py
	$(BIN)/python bench/retrieval_quality.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
