# ainative.security: every target sets itself up (apt packages, .venv, pinned requirements) first.
SHELL := /bin/bash
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/.build/collections
export CONTAINERS_CONF := $(ROOT)/lab/images/containers.conf
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup lab lab-down test sanity lint units integration molecule build bench image lock clean

setup:
	@./setup/setup.sh

lab: setup
	@$(VENV)/bin/python -m lab run

lab-down:
	@$(VENV)/bin/python -m lab.harness down

test: setup
	@./tests/run_all.sh

sanity: setup
	@./tests/sanity.sh

lint: setup
	@ansible-lint --profile production

units: setup
	@pytest -q tests/unit

integration: setup
	@pytest -q tests/integration

molecule: setup
	@./tests/molecule.sh

build: setup
	@./tests/build_check.sh

bench: setup
	@$(VENV)/bin/python -m bench

image: setup
	@./lab/images/build.sh

# Regenerate setup/requirements.lock (pinned, every file hashed) from setup/requirements.in.
lock:
	@python3 -m venv .build/tools && .build/tools/bin/pip install -q uv==0.13.9 && \
	  .build/tools/bin/uv pip compile --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  --generate-hashes --no-header --index-url https://pypi.org/simple setup/requirements.in -o setup/requirements.lock

clean: lab-down
	rm -rf .build tests/output reports
