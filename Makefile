# One entry point for people and CI. `make test` needs Python 3.11 and Debian's peers (installed
# when root or passwordless sudo allows), or else Docker or Podman (the suite then runs in a container);
# `make up` / `make preview` need the Pulumi CLI and, for the default local stack, Docker: they check
# first (scripts/need.sh) and install the pinned CLI into .tools/ when they can.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STACK  ?= local
# The local stack keeps its state in a folder here: no Pulumi account needed.
# For dev/prod, set PULUMI_BACKEND_URL=gs://YOUR-STATE-BUCKET (see docs/bootstrap.md).
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
# Interactive on purpose: Pulumi asks for the passphrase that encrypts the stack's secrets
# unless PULUMI_CONFIG_PASSPHRASE (or another secrets provider) is set.
PULUMI := pulumi
# The Pulumi CLI this project is tested with: a version of the `pulumi` SDK requirements.txt installs
# (tests/test_need.py checks it against both). Targets that run Pulumi check for it first, and install it into
# .tools/pulumi (checksum verified) when they can; .tools/pulumi/bin comes first on make's PATH.
PULUMI_VERSION := 3.272.0
TOOLS := $(CURDIR)/.tools
export PATH := $(TOOLS)/pulumi/bin:$(PATH)
# What a target needs on this machine, checked before anything is built (scripts/need.sh).
NEED = PULUMI_VERSION=$(PULUMI_VERSION) TOOLS=$(TOOLS) sh scripts/need.sh
# The stack's target (gcp or local) as its file says; local runs on Docker.
STACK_TARGET = $(shell sed -n 's/^[[:space:]]*image-sharing:target:[[:space:]]*"\{0,1\}\([a-z]*\)"\{0,1\}[[:space:]]*$$/\1/p' \
  Pulumi.$(STACK).yaml 2>/dev/null)
STACK_NEEDS = $(if $(filter local,$(STACK_TARGET)),docker) backend:$(STACK)

.PHONY: setup deploy-setup lock peers policy-setup test test-here unit lint bench preview up destroy bootstrap bootstrap-preview bootstrap-apis clean

# Real programs the integration tests start, from Debian's packages (.devcontainer/Dockerfile has them too).
# build-essential: gcc with libc's headers, for the preloaded shim that makes nginx's host lack IPv6.
# nodejs: JavaScript's RegExp, the engine editors check the stack-config schema's patterns with.
PEER_PACKAGES := docker-registry skopeo cloud-init nginx-light systemd build-essential nodejs
PEER_COMMANDS := docker-registry skopeo cloud-init nginx systemd-analyze gcc node
# Peers that are not Debian packages (the Docker CLI and gcloud parse the commands the docs show):
# machines of CI's kind come with them, and so does the test container.
PEER_TOOLS := docker gcloud
# make test: here when the peers are (or can be) installed, else in a container (scripts/peers.sh).
PEERS := PEER_PACKAGES="$(PEER_PACKAGES)" PEER_COMMANDS="$(PEER_COMMANDS)" PEER_TOOLS="$(PEER_TOOLS)" \
  MAKE="$(MAKE)" sh scripts/peers.sh

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

# CI's jobs that hold a cloud identity: the program's and the policy pack's runtime dependencies only, every
# file checked against the lock's hashes, wheels only (no package's build code runs next to the credentials).
PIP_LOCKED := pip install --quiet --disable-pip-version-check --require-hashes --only-binary :all:
deploy-setup:
	python3 -m venv $(VENV)
	$(VENV)/bin/$(PIP_LOCKED) -r requirements.lock
	python3 -m venv policy/venv
	policy/venv/bin/$(PIP_LOCKED) -r policy/requirements.lock

# After a change to requirements.txt or policy/requirements.txt (tests/test_locks.py says when).
PIP_COMPILE := $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
  --no-emit-index-url --no-emit-find-links
lock: setup
	$(PIP_COMPILE) -o requirements.lock requirements.txt
	cd policy && ../$(PIP_COMPILE) -o requirements.lock requirements.txt

# The policy pack's own virtualenv (policy/PulumiPolicy.yaml names it).
policy/venv/.installed: policy/requirements.txt
	python3 -m venv policy/venv
	policy/venv/bin/pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	touch $@

policy-setup: policy/venv/.installed

peers:  ## installs the peers with apt-get (root or passwordless sudo), or says what is missing
	@$(PEERS) install

test:  ## every test with the real peers: here if they are (or can be) installed, else in a container
	@$(PEERS) test $(PYTEST_ARGS)

test-here: setup  ## every test on this machine; the peers must be installed
	$(PY) -m pytest $(PYTEST_ARGS)

unit: setup  ## only the fast tests under mocks
	$(PY) -m pytest -m "not integration"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy bootstrap/__main__.py  # a second __main__, so a run of its own
	$(VENV)/bin/zizmor --offline --pedantic .github  # workflow audit: pinned actions, no kept token, ...

# Config problems of every stack (or of STACK=... when named), without the Pulumi CLI.
.PHONY: check-config
check-config: setup
	@$(PY) scripts/check_config.py $(if $(filter file,$(origin STACK)),,$(STACK))

bench: setup  ## BENCH_ARGS="--runs 1 --cold-runs 1" for a quick one
	$(PY) scripts/bench.py $(BENCH_ARGS)

# Mutation testing of the pure modules (docs/development.md): slow and CPU-heavy, so not part of `make test`,
# and at the lowest priority. `make mutation MODULES="names checks"` measures only those.
MODULES ?=
.PHONY: mutation
mutation: setup
	nice -n 19 $(PY) scripts/mutation.py $(MODULES)

.pulumi-state:
	mkdir -p $@

# The pinned Pulumi CLI into .tools/pulumi, checksum verified (the Pulumi targets do it when needed).
.PHONY: pulumi-cli
pulumi-cli:
	@$(NEED) install-pulumi

# Each Pulumi target checks what it needs first, then builds the virtualenvs (a sub-make: nothing is
# built when a check fails, even under make -j). Every preview and update is checked by the policy pack.
preview:
	@$(NEED) pulumi $(STACK_NEEDS)
	@$(MAKE) --no-print-directory setup policy-setup .pulumi-state
	$(PULUMI) stack select --create $(STACK)
	$(PULUMI) preview --diff --stack $(STACK) --policy-pack policy

up:
	@$(NEED) pulumi $(STACK_NEEDS) $(if $(filter local,$(STACK_TARGET)),,docker-for-image)
	@$(MAKE) --no-print-directory setup policy-setup .pulumi-state
	$(PULUMI) stack select --create $(STACK)
	$(PULUMI) up --yes --stack $(STACK) --policy-pack policy

destroy:
	@$(NEED) pulumi $(STACK_NEEDS)
	@$(MAKE) --no-print-directory setup
	$(PULUMI) destroy --stack $(STACK)

# Once per GCP project, by an owner (`gcloud auth application-default login`): the state bucket, one KMS
# key per stack, GitHub federation and the CI identities (docs/bootstrap.md). Its own state stays here.
BOOTSTRAP_BACKEND_URL ?= file://$(CURDIR)/bootstrap/.pulumi-state
BOOTSTRAP_PULUMI := cd bootstrap && PULUMI_BACKEND_URL=$(BOOTSTRAP_BACKEND_URL) $(PULUMI)

bootstrap/.pulumi-state:
	mkdir -p $@

bootstrap-preview:
	@$(NEED) pulumi gcloud adc
	@$(MAKE) --no-print-directory setup policy-setup bootstrap/.pulumi-state
	$(BOOTSTRAP_PULUMI) stack select --create ci
	$(BOOTSTRAP_PULUMI) preview --diff --stack ci --policy-pack ../policy

# Ends with what to paste: the GitHub environments, the variables the workflows read, the stack inits.
bootstrap:
	@$(NEED) pulumi gcloud adc gh
	@$(MAKE) --no-print-directory setup policy-setup bootstrap/.pulumi-state
	$(BOOTSTRAP_PULUMI) stack select --create ci
	$(BOOTSTRAP_PULUMI) up --stack ci --policy-pack ../policy
	$(BOOTSTRAP_PULUMI) stack output githubEnvironments --stack ci
	$(BOOTSTRAP_PULUMI) stack output githubVariables --stack ci
	$(BOOTSTRAP_PULUMI) stack output stackInit --stack ci
	$(BOOTSTRAP_PULUMI) stack output defaultComputeEditorRemoval --stack ci

# Once per project, before the first `pulumi up` with service-account credentials (CI): every
# projects.Service read calls Cloud Resource Manager and enabling goes through Service Usage, so the
# program cannot enable those two itself. Run it with your own gcloud login (a project owner).
BOOTSTRAP_APIS := serviceusage.googleapis.com cloudresourcemanager.googleapis.com
bootstrap-apis:
	@test -n "$(PROJECT)" || { echo "usage: make bootstrap-apis PROJECT=my-project" >&2; exit 2; }
	@$(NEED) gcloud
	gcloud services enable $(BOOTSTRAP_APIS) --project=$(PROJECT)

clean:
	rm -rf $(VENV) policy/venv .tools .mypy_cache .ruff_cache .pytest_cache .mutation
