# ainative.security: every target sets itself up (apt packages, .venv, pinned requirements) first.
SHELL := /bin/bash
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/.build/collections
export CONTAINERS_CONF := $(ROOT)/lab/images/containers.conf
# Podman storage of this checkout (written by lab/images/storage-conf.sh): a fresh clone starts empty.
export CONTAINERS_STORAGE_CONF := $(ROOT)/.build/containers/storage.conf
# Ansible's home (Molecule state, the collection copy Molecule installs) per checkout too.
export ANSIBLE_HOME := $(ROOT)/.build/ansible
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup lab lab-down test sanity lint units integration molecule build bench image lock clean

setup:
	@./setup/setup.sh

lab: image
	@$(VENV)/bin/python -m lab run

lab-down:
	@$(VENV)/bin/python -m lab down

test: image
	@./tests/run_all.sh

sanity: setup
	@./tests/sanity.sh

lint: setup
	@ansible-lint --profile production

units: setup
	@pytest -q tests/unit

integration: image
	@pytest -q tests/integration

molecule: image
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
	  --generate-hashes --no-header --index-url https://pypi.org/simple setup/requirements.in -o setup/requirements.lock && \
	  .build/tools/bin/uv pip compile --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  --generate-hashes --no-header --index-url https://pypi.org/simple setup/checkov.in -o setup/checkov.lock

# The .cache/ rootfs tarball stays; every container of this checkout's storage goes with .build/.
clean: lab-down
	-@podman rm -a -f -t 0 >/dev/null 2>&1
	rm -rf .build tests/output reports
