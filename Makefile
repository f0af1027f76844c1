# One entry point for people and CI. `make test` needs nothing but Python 3.11;
# `make up` / `make preview` need the Pulumi CLI and, for the default local stack, Docker.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STACK  ?= local
# The local stack keeps its state in a folder here: no Pulumi account needed.
# For dev/prod, set PULUMI_BACKEND_URL=gs://YOUR-STATE-BUCKET (see docs/bootstrap.md).
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
# Interactive on purpose: Pulumi asks for the passphrase that encrypts the stack's secrets
# unless PULUMI_CONFIG_PASSPHRASE (or another secrets provider) is set.
PULUMI := pulumi

.PHONY: setup peers policy-setup test unit lint bench preview up destroy bootstrap bootstrap-preview bootstrap-apis clean

# Real programs the integration tests start, from Debian's packages (root or sudo needed once).
PEER_PACKAGES := docker-registry skopeo cloud-init nginx-light systemd
PEER_COMMANDS := docker-registry skopeo cloud-init nginx systemd-analyze
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

# The policy pack's own virtualenv (policy/PulumiPolicy.yaml names it).
policy/venv/.installed: policy/requirements.txt
	python3 -m venv policy/venv
	policy/venv/bin/pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	touch $@

policy-setup: policy/venv/.installed

peers:
	@for c in $(PEER_COMMANDS); do command -v $$c >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(PEER_PACKAGES) >/dev/null; \
	fi

test: setup peers  ## every test, the integration tests with real peers included
	$(PY) -m pytest

unit: setup  ## only the fast tests under mocks
	$(PY) -m pytest -m "not integration"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy bootstrap/__main__.py  # a second __main__, so a run of its own

bench: setup
	$(PY) scripts/bench.py

.pulumi-state:
	mkdir -p $@

# Every preview and update is checked by the policy pack.
preview: setup policy-setup .pulumi-state
	$(PULUMI) stack select --create $(STACK)
	$(PULUMI) preview --diff --stack $(STACK) --policy-pack policy

up: setup policy-setup .pulumi-state
	$(PULUMI) stack select --create $(STACK)
	$(PULUMI) up --yes --stack $(STACK) --policy-pack policy

destroy: setup
	$(PULUMI) destroy --stack $(STACK)

# Once per GCP project, by an owner (`gcloud auth application-default login`): the state bucket, one KMS
# key per stack, GitHub federation and the CI identities (docs/bootstrap.md). Its own state stays here.
BOOTSTRAP_BACKEND_URL ?= file://$(CURDIR)/bootstrap/.pulumi-state
BOOTSTRAP_PULUMI := cd bootstrap && PULUMI_BACKEND_URL=$(BOOTSTRAP_BACKEND_URL) $(PULUMI)

bootstrap/.pulumi-state:
	mkdir -p $@

bootstrap-preview: setup policy-setup bootstrap/.pulumi-state
	$(BOOTSTRAP_PULUMI) stack select --create ci
	$(BOOTSTRAP_PULUMI) preview --diff --stack ci --policy-pack ../policy

# Ends with what to paste: the GitHub environments, the variables the workflows read, the stack inits.
bootstrap: setup policy-setup bootstrap/.pulumi-state
	$(BOOTSTRAP_PULUMI) stack select --create ci
	$(BOOTSTRAP_PULUMI) up --stack ci --policy-pack ../policy
	$(BOOTSTRAP_PULUMI) stack output githubEnvironments --stack ci
	$(BOOTSTRAP_PULUMI) stack output githubVariables --stack ci
	$(BOOTSTRAP_PULUMI) stack output stackInit --stack ci

# Once per project, before the first `pulumi up` with service-account credentials (CI): every
# projects.Service read calls Cloud Resource Manager and enabling goes through Service Usage, so the
# program cannot enable those two itself. Run it with your own gcloud login (a project owner).
BOOTSTRAP_APIS := serviceusage.googleapis.com cloudresourcemanager.googleapis.com
bootstrap-apis:
	@test -n "$(PROJECT)" || { echo "usage: make bootstrap-apis PROJECT=my-project" >&2; exit 2; }
	gcloud services enable $(BOOTSTRAP_APIS) --project=$(PROJECT)

clean:
	rm -rf $(VENV) policy/venv .mypy_cache .ruff_cache .pytest_cache
