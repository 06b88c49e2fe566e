# The two set-up commands: `make serve` and `make test`. Both are idempotent.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL ?= u2netp
HOST ?= 127.0.0.1
PORT ?= 7000

.PHONY: install model serve test test-deps lint bench eval clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

model: install
	$(BIN)/alphacut models pull $(MODEL)

serve: model
	$(BIN)/alphacut serve --host $(HOST) --port $(PORT)

# System packages the tests drive for real (installed only when missing).
test-deps:
	@true

test: model test-deps
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy

bench: model
	$(BIN)/python scripts/bench.py

eval: model
	$(BIN)/python scripts/eval.py

clean:
	rm -rf $(VENV) .venv-bench .pytest_cache .mypy_cache .ruff_cache
