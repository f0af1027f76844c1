# One entry point for people and CI. `make test` needs nothing but Python 3.11;
# `make up` / `make preview` need the Pulumi CLI and, for the default local stack, Docker.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STACK  ?= local
# The local stack keeps its state in a folder here: no Pulumi account needed.
# For dev/prod, set PULUMI_BACKEND_URL=gs://YOUR-STATE-BUCKET (see README, "State").
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
PULUMI := pulumi --non-interactive

.PHONY: setup test unit lint bench preview up destroy clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

test: setup  ## every test, the integration tests with real peers included
	$(PY) -m pytest

unit: setup  ## only the fast tests under mocks
	$(PY) -m pytest -m "not integration"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: setup
	$(PY) scripts/bench.py

.pulumi-state:
	mkdir -p $@

preview: setup .pulumi-state
	$(PULUMI) stack select --create $(STACK)
	$(PULUMI) preview --diff --stack $(STACK)

up: setup .pulumi-state
	$(PULUMI) stack select --create $(STACK)
	$(PULUMI) up --yes --stack $(STACK)

destroy: setup
	$(PULUMI) destroy --stack $(STACK)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
