# The README's commands. `make dev` runs the local stack; `make test` runs everything CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 (the Lambda runtime): python3.13 on PATH, else the newest 3.13 that pyenv has.
PYTHON313 ?= $(shell if python3.13 -c '' 2>/dev/null; then command -v python3.13; \
	elif command -v pyenv >/dev/null; then v=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$$' | tail -n 1); \
	[ -n "$$v" ] && PYENV_VERSION=$$v pyenv which python 2>/dev/null; fi)
VENV := .venv
BIN := $(VENV)/bin
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
# sam build needs a python3.13 on PATH: the virtual environment's.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: test-stripe help install dev test lint typecheck validate build unit pr invoke webhook-event redrive bench fuzz clean

help:
	@echo "make dev    - run the whole system locally (moto + a strict Stripe over localstripe, no Docker, no AWS account)"
	@echo "make test   - install what is needed, then lint, type-check, validate, build and test"
	@echo "make invoke FN=<LogicalId> [EVENT=events/<file>.json] - run one function on an event (default: its own), Docker-free"
	@echo "make redrive QUEUE=<DLQ> [PEEK=1] [AWS=1] - inspect or redrive a dead-letter queue"

$(BIN)/.installed: requirements-dev.txt layers/payments_core/requirements.txt
	@[ -n "$(PYTHON313)" ] || { echo "Python 3.13 not found: install it (e.g. pyenv install 3.13)"; exit 1; }
	$(PYTHON313) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

dev: install
	$(BIN)/python -m devstack

invoke: install
	$(BIN)/python -m devstack.invoke $(FN) $(EVENT)

webhook-event: install
	$(BIN)/python -m devstack.webhook_event $(TYPE) > events/stripe_webhook.json

redrive: install
	$(BIN)/python -m ops.redrive $(QUEUE) $(if $(PEEK),--peek) $(if $(AWS),--aws)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

validate: install
	$(BIN)/sam validate --lint

build: install
	$(BIN)/sam build --parallel
	$(BIN)/python -m devstack.check_build .aws-sam/build

unit: install
	$(BIN)/pytest

test: lint typecheck validate build unit

pr: test

# Cold starts are measured in a virtual environment holding only what Lambda would have.
.bench-venv/.installed: layers/payments_core/requirements.txt
	$(PYTHON313) -m venv .bench-venv
	.bench-venv/bin/pip install --quiet -r layers/payments_core/requirements.txt snapshot-restore-py==1.0.0 fastapi==0.165.0 mangum==0.22.0
	touch $@

bench: install .bench-venv/.installed
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Opt-in, never in CI: the payment scenarios against Stripe's test mode (skipped without a key).
test-stripe: install
	$(BIN)/pytest tests/stripe_test_mode -m stripe_test_mode -v

# The full schemathesis run (CI runs a bounded one inside `make test`).
fuzz: install
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} $(BIN)/pytest tests/integration/test_fuzz.py -s

clean:
	rm -rf $(VENV) .aws-sam .mypy_cache .ruff_cache .pytest_cache
