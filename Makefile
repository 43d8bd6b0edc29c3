# frende.db: every command a developer or CI needs. `make test` runs everything;
# `make demo` runs the main job on disposable local podman hosts.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
BUILD := $(CURDIR)/build
COLLECTIONS := $(BUILD)/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export CONTAINERS_CONF := $(CURDIR)/scripts/podman/containers.conf
export PATH := $(BIN):$(PATH)

.PHONY: help test demo venv system-deps host-deps collection units alerts integration sanity lint ecosystem molecule ee docs-check clean

help:
	@echo "make test   - every test: units, sanity, lint, ecosystem, integration, molecule"
	@echo "make demo   - set up a hardened database on disposable podman hosts, back up, drill, health"
	@echo "make units | integration | sanity | lint | ecosystem | molecule | ee"

$(BIN)/.installed: requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements/test.txt
	touch $@

venv: $(BIN)/.installed

# One venv per older supported ansible-core, for ansible-test only (make sanity).
$(CURDIR)/.venv-%/.installed: requirements/ansible-core-%.txt
	$(PYTHON) -m venv $(CURDIR)/.venv-$*
	$(CURDIR)/.venv-$*/bin/pip install -q --upgrade pip
	$(CURDIR)/.venv-$*/bin/pip install -q -r $<
	touch $@

OLDER_CORES := 2.17 2.18

system-deps:
	bash scripts/system-deps.sh server

host-deps:
	bash scripts/system-deps.sh hosts

# The repository root is the collection root; Ansible finds it through this link.
collection:
	mkdir -p $(COLLECTIONS)/ansible_collections/frende
	ln -sfn $(CURDIR) $(COLLECTIONS)/ansible_collections/frende/db

units: venv collection
	$(BIN)/python -m pytest tests/unit

# The Prometheus alert rules, rendered with the role's defaults: promtool check rules and
# promtool's unit tests (tests/alerts). promtool and amtool come unpacked from Debian's
# packages into build/prometheus-tools, not installed (scripts/prometheus-tools.sh).
alerts: venv collection
	bash scripts/prometheus-tools.sh
	$(BIN)/python -m pytest tests/alerts

# tests/integration against PostgreSQL 15 here, then the three modules' tests
# against PostgreSQL 17 in a Debian 13 test host (scripts/integration-pg17.sh).
integration: venv system-deps collection
	$(BIN)/python -m pytest tests/integration
	scripts/integration-pg17.sh

# ansible-test in its ansible_collections/frende/db layout (scripts/ansible-test.sh):
# every sanity test that needs no container, then tests/unit under ansible-test,
# under each supported ansible-core: 2.17 and 2.18 (.venv-2.17, .venv-2.18), then 2.19 (.venv).
sanity: venv $(foreach v,$(OLDER_CORES),$(CURDIR)/.venv-$(v)/.installed)
	bash scripts/system-deps.sh sanity
	rc=0; for venv in $(foreach v,$(OLDER_CORES),$(CURDIR)/.venv-$(v)) $(VENV); do \
	  echo "=== ansible-test with $$($$venv/bin/ansible --version | head -n1)"; \
	  VENV=$$venv scripts/ansible-test.sh sanity || rc=1; VENV=$$venv scripts/ansible-test.sh units || rc=1; \
	done; exit $$rc

# ansible-lint (production profile) and antsibull-changelog lint.
lint: venv
	scripts/lint.sh

# The collection as others consume it: galaxy build + install, the execution
# environment's build context, role argument specs against their defaults.
ecosystem: venv collection
	$(BIN)/python -m pytest tests/ecosystem

# Execution environment build context in build/ee/context; build the image
# elsewhere with `ansible-builder build` (or podman build) from there.
ee: venv
	rm -rf $(BUILD)/ee
	$(BIN)/ansible-galaxy collection build --output-path $(BUILD)/ee .
	$(BIN)/ansible-builder create -f execution-environment.yml -c $(BUILD)/ee/context

# Molecule scenarios on real podman hosts (scripts/molecule.sh builds the base
# image and installs podman when missing); always destroys its hosts.
molecule: venv collection
	scripts/molecule.sh

# The main job on two disposable podman hosts: setup, backup, drill, health.
demo: venv collection
	scripts/demo.sh

# Fastest and most likely to fail first; make stops at the first target that fails.
test: units alerts sanity lint ecosystem integration molecule

clean:
	rm -rf $(BUILD) .pytest_cache
