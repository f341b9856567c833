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

.PHONY: help install dev test test-fast aws-models lint typecheck validate build docs docs-build unit dryrun pr invoke webhook-send redrive bench test-stripe fuzz clean deploy delete logs
export NO_MKDOCS_2_WARNING := 1

# Which samconfig.toml environment deploy, delete and logs use: dev ("default") unless ENV=prod.
ENV ?= dev
SAM_ENV := $(if $(filter dev default,$(ENV)),default,$(ENV))

help: ## this list
	@awk -F':.*## ' '/^[a-z-]+:.*## /{printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/.installed: requirements-dev.txt layers/payments_core/requirements.txt
	@[ -n "$(PYTHON313)" ] || { echo "Python 3.13 not found: install it (e.g. pyenv install 3.13)"; exit 1; }
	$(PYTHON313) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed ## create .venv with Python 3.13 and the pinned tools

dev: install ## the whole system on 127.0.0.1:3000 (DEV_API_PORT, DEV_MOTO_PORT, DEV_STRIPE_PORT; DEV_LOG=json)
	$(BIN)/python -m devstack

invoke: install ## FN=<LogicalId> [EVENT=events/<file>.json] [PAYMENT=pay_...]: one handler against make dev
	$(BIN)/python -m devstack.invoke $(FN) $(EVENT) $(if $(PAYMENT),--payment $(PAYMENT))

webhook-send: install ## TYPE=<stripe event type> [PAYMENT=pay_...]: sign with make dev's secret and send it
	$(BIN)/python -m devstack.webhook_event --send $(or $(TYPE),payment_intent.succeeded) $(if $(PAYMENT),--payment $(PAYMENT))

redrive: install ## QUEUE=<DLQ> [PEEK=1] [AWS=1]: show or move back a dead-letter queue's messages
	$(BIN)/python -m ops.redrive $(QUEUE) $(if $(PEEK),--peek) $(if $(AWS),--aws)

lint: install ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy --strict
	$(BIN)/mypy

validate: install ## sam validate --lint
	$(BIN)/sam validate --lint

build: install ## sam build, then check the layer's bytecode
	$(BIN)/sam build --parallel
	$(BIN)/python -m devstack.check_build .aws-sam/build

test-fast: install ## the domain on in-memory doubles and a provider that is not Stripe: seconds, no network
	$(BIN)/pytest tests/fast -q

unit: install ## every test (pytest)
	$(BIN)/pytest

# checkov pins boto3 1.35, which the layer's boto3 pin excludes: it gets a virtual environment of its own.
.checkov-venv/.installed: requirements-checkov.txt
	@[ -n "$(PYTHON313)" ] || { echo "Python 3.13 not found: install it (e.g. pyenv install 3.13)"; exit 1; }
	$(PYTHON313) -m venv .checkov-venv
	.checkov-venv/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

dryrun: install .checkov-venv/.installed ## expand the template per samconfig environment; cfn-lint and checkov it
	$(BIN)/python -m ops.dryrun

test: lint typecheck validate build docs-build unit dryrun ## what CI runs: lint, types, template, build, docs site, tests, deploy dry-run

deploy: build ## [ENV=prod] build and deploy (dev: sam deploy --guided; prod: samconfig's prod)
	$(BIN)/sam deploy --config-env $(SAM_ENV) $(if $(filter default,$(SAM_ENV)),--guided)

delete: install ## [ENV=prod] delete the stack (AppTable is retained: docs/operations.md)
	$(BIN)/sam delete --config-env $(SAM_ENV)

logs: install ## FN=<LogicalId> [ENV=prod]: tail one function's logs
	@[ -n "$(FN)" ] || { echo "usage: make logs FN=<LogicalId, e.g. CreatePaymentFunction> [ENV=prod]"; exit 1; }
	$(BIN)/sam logs --config-env $(SAM_ENV) --name $(FN) --tail

docs: install ## serve the documentation site on http://127.0.0.1:8000
	$(BIN)/mkdocs serve

docs-build: install ## build the documentation site strictly (into .docs-build/site)
	$(BIN)/mkdocs build --strict --quiet

pr: test ## the same as make test

# Cold starts are measured in a virtual environment holding only what Lambda would have.
.bench-venv/.installed: layers/payments_core/requirements.txt
	$(PYTHON313) -m venv .bench-venv
	.bench-venv/bin/pip install --quiet -r layers/payments_core/requirements.txt snapshot-restore-py==1.0.0 fastapi==0.165.0 mangum==0.22.0
	touch $@

aws-models: install ## regenerate the AWS API models the layer ships (after a new IAM action in template.yaml)
	$(BIN)/python -m devstack.aws_models

bench: install .bench-venv/.installed ## benchmarks; writes benchmarks/results.md (25 to 45 min; BENCH_ARGS=--quick)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Opt-in, never in CI: the payment scenarios against Stripe's test mode (skipped without a key).
test-stripe: install ## STRIPE_SECRET_KEY=sk_test_...: the payment scenarios against Stripe's test mode (opt-in)
	$(BIN)/pytest tests/stripe_test_mode -m stripe_test_mode -v

# The full schemathesis run (CI runs a bounded one inside `make test`).
fuzz: install ## the full schemathesis run (FUZZ_EXAMPLES=100 per operation)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} $(BIN)/pytest tests/integration/test_fuzz.py -s

clean: ## remove .venv and build output
	rm -rf $(VENV) .checkov-venv .aws-sam .mypy_cache .ruff_cache .pytest_cache .docs-build
