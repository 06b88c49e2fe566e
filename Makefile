# The two set-up commands: `make serve` and `make test`. Both are idempotent.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL ?= u2netp
HOST ?= 127.0.0.1
PORT ?= 7000

.PHONY: install model serve test test-deps lint bench-env bench bench-http eval image clean

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

NODE_CLIENT := tests/clients/node/node_modules/.package-lock.json

# What the tests drive for real (each installed only when missing): Debian's
# chromium for the browser tests, redis-server for the fleet store, nginx for the
# load-balanced fleet, podman/buildah/debootstrap for the container image, and the
# official Node clients.
test-deps: $(NODE_CLIENT)
	@command -v chromium >/dev/null || scripts/apt-install chromium
	@command -v redis-server >/dev/null || scripts/apt-install redis-server
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || scripts/apt-install nginx-light
	@command -v podman >/dev/null && command -v buildah >/dev/null \
		&& { command -v debootstrap >/dev/null || test -x /usr/sbin/debootstrap; } \
		|| scripts/apt-install podman buildah debootstrap || true

$(NODE_CLIENT): tests/clients/node/package-lock.json
	@command -v npm >/dev/null || scripts/apt-install nodejs npm
	cd tests/clients/node && npm ci --no-audit --no-fund --loglevel=error

test: model test-deps lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# rembg, the baseline of bench and eval, in its own environment (.venv-bench), once.
bench-env:
	PYTHON=$(PYTHON) scripts/bench-env

# Options: RUNS=N (timed runs per size), BENCH_ARGS (e.g. --json, --strict).
bench: model bench-env
	$(BIN)/python scripts/bench.py $(if $(RUNS),--runs $(RUNS)) $(BENCH_ARGS)

# Quality against ground truth, next to rembg, with the issues' targets (docs/quality.md):
# the binary masks of dev and the true soft mattes of dev_mattes, each with its own targets.
# Options: DATA="dir ..." (default ../shared/data/dev ../shared/data/dev_mattes), LIMIT=N
# (per set), EVAL_ARGS (e.g. --json, --refine), CASCADE="u2netp>isnet-imgly-medium" (adds
# first model alone / cascade / second alone; the models installed and allowed, e.g.
# ALPHACUT_ALLOW_AGPL_MODELS=1 for IS-Net: docs/quality.md).
eval: model bench-env
	$(BIN)/alphacut eval $(or $(DATA),../shared/data/dev ../shared/data/dev_mattes) --rembg $(if $(LIMIT),--limit $(LIMIT)) $(if $(CASCADE),--cascade '$(CASCADE)') $(EVAL_ARGS)

# HTTP load against alphacut and rembg's own server (`rembg s`), same inputs and model.
# Options: BENCH_HTTP_ARGS (e.g. --requests 40, --soak 2000, --json).
bench-http: model bench-env
	$(BIN)/python scripts/bench_http.py $(BENCH_HTTP_ARGS)

# The container image (Dockerfile; docs/deploy.md), built with podman on a debootstrap
# stand-in for debian:bookworm-slim (cached in .cache/image). Options: IMAGE=name:tag.
image:
	scripts/image-base
	$(if $(IMAGE),IMAGE=$(IMAGE) )scripts/image-build

clean:
	rm -rf $(VENV) .venv-bench .pytest_cache .mypy_cache .ruff_cache
