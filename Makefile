# Sangathan: one entry point for a newcomer. `make up` runs the whole network locally with
# demo data; `make test` installs, starts what the tests need, runs them, and stops it again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PLATFORM := $(PY) deploy/local/stack.py

.PHONY: help venv up down status lint test unit integration e2e faults bench token rekey k8s-render k8s-check \
	load-national clean

help:
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

# The environment is rebuilt only when the pins change. Every package (pip and setuptools too)
# comes from the lock and must match one of its hashes; the project itself is then built with
# that setuptools (no isolated build fetching an unpinned one) and adds nothing unpinned.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed ## create the virtual environment

up: venv ## install what is missing, start Kafka, Redis, FerretDB and the four services, load demo data
	$(PLATFORM) up

down: venv ## stop everything `make up` started
	$(PLATFORM) down

status: venv ## show what runs
	$(PLATFORM) status

lint: venv ## ruff: pyflakes, import order, line length and one format for every Python file
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The fault suite runs last: it kills and restarts Kafka, Redis and FerretDB (and leaves them running).
test: venv lint ## lint, then unit, integration, e2e and fault tests against real servers (started and stopped here)
	$(PLATFORM) test -- tests/unit tests/integration tests/e2e tests/faults

unit: venv ## unit tests only (no servers; installs the Debian tools they drive, e.g. promtool)
	$(PLATFORM) tools
	$(PY) -m pytest tests/unit

integration: venv ## integration tests (starts the servers if needed)
	$(PLATFORM) test -- tests/integration

e2e: venv ## whole flows through the running services
	$(PLATFORM) test -- tests/e2e

faults: venv ## kill Kafka, Redis, FerretDB and a service mid-flow; check what callers see and that nothing is lost
	$(PLATFORM) test -- tests/faults -s

bench: venv ## benchmarks (bench/*_bench.py) with the platform running, each against a raw baseline
	$(PLATFORM) bench

UNIT ?= IN-HP
token: venv ## print a local organiser's bearer token: make token UNIT=IN-HP-D05 [AUDIENCE=dashboard]
	@$(PY) -m shared.auth.issuer organiser --sub user-local --unit $(UNIT) $(if $(AUDIENCE),--audience $(AUDIENCE))

RETIRE ?=
# On the local platform by default; in a deployment run `python -m appointments.rekey` where its keys are.
rekey: venv ## re-seal stored names and phones under the current key; RETIRE=<key id> checks a key may go
	SANGATHAN_ENV=$${SANGATHAN_ENV:-development} $(PY) -m appointments.rekey $(if $(RETIRE),--retire $(RETIRE))

OVERLAY ?= dev
k8s-render: venv ## print a Kubernetes overlay's manifests: make k8s-render OVERLAY=prod
	$(PY) deploy/k8s/kustomize.py build deploy/k8s/overlays/$(OVERLAY)

k8s-check: venv ## render every Kubernetes overlay and validate it offline
	$(PY) deploy/k8s/check.py

load-national: venv ## load the full national org tree (10,48,202 booths) into MongoDB
	$(PY) -m shared.orgtree.load --national

clean: down ## stop everything and delete local state (data, logs, jars, binaries)
	rm -rf .state
