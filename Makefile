# Two commands for a fresh machine: `make demo` and `make test`.
# Setup is idempotent: it reinstalls only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
QUESTION ?= When did the US announce leaving Iraq?

.PHONY: setup demo test lint bench clean-index

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch lies on this machine's disk; install it before anything
	# that depends on torch, or pip pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	test -f index/CURRENT || $(BIN)/rag index seeds
	$(BIN)/rag ask "$(QUESTION)"

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check rag api tests
	$(BIN)/ruff format --check rag api tests
	$(BIN)/mypy

clean-index:
	rm -rf index/CURRENT index/gen-* index/.tmp-* index/.lock
