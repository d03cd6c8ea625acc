# Two commands for a fresh machine: `make demo` and `make test`.
# Setup is idempotent: it reinstalls only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
QUESTION ?= When did the US announce leaving Iraq?

ifeq ($(shell uname -m),x86_64)
NO_AMX      := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_FLAGS := CFLAGS="$(NO_AMX)" CXXFLAGS="$(NO_AMX)"
endif

.PHONY: setup demo test lint bench clean-index

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch lies on this machine's disk; install it before anything
	# that depends on torch, or pip pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	# llama-cpp-python compiles for this CPU, but without AMX: its AMX kernels crash in
	# the first prompt on some Xeons (llama.cpp issue #20824, seen on this machine kind).
	# No wheel cache: a cached wheel may have been built with other flags.
	$(LLAMA_FLAGS) $(BIN)/pip install --quiet --no-cache-dir \
	  "$$(grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml | head -n 1)"
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
