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

.PHONY: help test demo venv system-deps host-deps collection units integration sanity lint molecule ee docs-check clean

help:
	@echo "make test   - every test (units, integration, sanity, lint, molecule, ...)"
	@echo "make demo   - set up a hardened database on disposable podman hosts, back up, drill, health"
	@echo "make units | integration | sanity | lint | molecule | ee"

$(BIN)/.installed: requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements/test.txt
	touch $@

venv: $(BIN)/.installed

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

integration: venv system-deps collection
	$(BIN)/python -m pytest tests/integration

test: units integration

clean:
	rm -rf $(BUILD) .pytest_cache
