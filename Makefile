# localstack-image-processor: every command a user or CI runs. `make help` lists them.
#
# On a fresh machine: `make demo` (set up, start the embedded LocalStack, deploy, process the
# samples, show the result) and `make test` (set up and run every test).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ENV ?= dev
VENVS := .venvs
CONTROLLER := $(VENVS)/controller
PY := $(CONTROLLER)/bin/python
BIN := $(CONTROLLER)/bin
TOOLS := $(PY) -m tools.imgops
PLAYBOOK := $(BIN)/ansible-playbook
# Ansible and the tools find the emulator here (inventories/dev reads LOCALSTACK_ENDPOINT).
export LOCALSTACK_PORT ?= 4566
export LOCALSTACK_ENDPOINT ?= http://localhost:$(LOCALSTACK_PORT)
export AWS_ENDPOINT_URL ?= http://127.0.0.1:$(LOCALSTACK_PORT)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# Molecule and ansible-lint call ansible-* by name.
export PATH := $(CURDIR)/$(CONTROLLER)/bin:$(PATH)
PYTEST_ARGS ?=

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# --- setup ------------------------------------------------------------------------------------

.PHONY: setup controller emulator build
setup: controller emulator build ## install every venv and build the Lambda (pinned, idempotent)

controller: $(CONTROLLER)/.installed ## the controller venv: Ansible, SDK, test and lint tools
$(CONTROLLER)/.installed: requirements/controller.txt requirements/controller.lock
	@python3 bin/find-python 3.12 >/dev/null  # fails with what to install
	@if [ ! -x $(PY) ]; then "$$(python3 bin/find-python 3.12)" -m venv $(CONTROLLER); fi
	$(PY) -m pip install --quiet --quiet --disable-pip-version-check pip==25.3
	$(PY) -m pip install --quiet --quiet --disable-pip-version-check \
	  -r requirements/controller.txt -c requirements/controller.lock
	@touch $@

emulator: ## the embedded LocalStack venv, our plugin and the Lambda runtimes
	python3 emulator/install.py --venvs $(VENVS)

build: controller ## the function zip and the Pillow layer (build/lambda, reproducible)
	$(PY) lambda/build.py --out build/lambda

# --- the embedded LocalStack ------------------------------------------------------------------

.PHONY: localstack-up localstack-down localstack-status
localstack-up: ## start the embedded LocalStack (installs it first if needed)
	python3 emulator/manage.py up
localstack-down: ## stop it and every Lambda worker
	python3 emulator/manage.py down
localstack-status: ## is it running and healthy?
	python3 emulator/manage.py status

# --- deploy and use ---------------------------------------------------------------------------

.PHONY: deploy teardown outputs verify demo dashboard alerts upload logs fire-drill
# BUNDLE_PILLOW=1 puts Pillow into the function zip instead of a layer (Docker LocalStack
# community ignores layers).
DEPLOY_ARGS := $(if $(BUNDLE_PILLOW),-e '{"image_processor_bundle_pillow": true}')
deploy: setup ## deploy the stack: ENV=dev (LocalStack) | staging | prod (real AWS)
	@if [ "$(ENV)" = dev ]; then $(MAKE) --no-print-directory localstack-up; fi
	$(PLAYBOOK) playbooks/site.yml -i inventories/$(ENV) $(DEPLOY_ARGS)
teardown: controller ## remove everything the deployment created in ENV
	$(PLAYBOOK) playbooks/teardown.yml -i inventories/$(ENV)
outputs: controller ## print the deployment's outputs (like `terraform output`)
	$(PLAYBOOK) playbooks/outputs.yml -i inventories/$(ENV)
verify: controller ## check the deployed stack's behaviour and configuration (ENV=…)
	$(PLAYBOOK) playbooks/verify.yml -i inventories/$(ENV)
fire-drill: controller ## make every alarm fire and reach the inbox, then return to OK
	$(PLAYBOOK) playbooks/fire_drill.yml -i inventories/$(ENV)

demo: deploy ## set up, start LocalStack, deploy, process the samples, show the result
	$(TOOLS) demo $(ENV) $(ARGS)
dashboard: controller ## render the deployed dashboard to outputs/ (PNG + HTML); SINCE=1h
	$(TOOLS) dashboard $(ENV) --since $(or $(SINCE),1h) $(ARGS)
alerts: controller ## show the alerts inbox, newest first
	$(TOOLS) alerts $(ENV) $(ARGS)
upload: controller ## upload an image and show its variants: make upload FILE=photo.jpg
	@test -n "$(FILE)" || { echo "usage: make upload FILE=photo.jpg [ENV=dev]"; exit 2; }
	$(TOOLS) upload $(ENV) $(FILE) $(ARGS)
logs: controller ## follow the function's logs; LEVEL=ERROR to filter, SINCE=10m
	$(TOOLS) logs $(ENV) --since $(or $(SINCE),10m) $(if $(LEVEL),--level $(LEVEL)) $(ARGS)

# --- quality ----------------------------------------------------------------------------------

.PHONY: lint test test-unit test-integration test-molecule test-full bench
lint: controller ## ansible-lint (production profile), yamllint, ruff
	$(BIN)/ruff check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production

test-unit: controller ## pure tests: no emulator needed
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-molecule: setup localstack-up ## every Molecule scenario, converge to destroy
	cd $(CURDIR) && $(BIN)/molecule test --all

test-integration: setup localstack-up ## tests against the running emulator (fast subset)
	$(BIN)/pytest tests/integration -m "emulator and not slow" $(PYTEST_ARGS)

# Each stage is timed (bin/timed); .ci/run prints where the time went. pytest runs last so the
# output ends with its summary line.
TIMED := bin/timed
test: ## set up and run every test: lint, Molecule, then pytest (unit + integration)
	$(TIMED) setup $(MAKE) --no-print-directory setup
	$(TIMED) lint $(MAKE) --no-print-directory lint
	$(TIMED) localstack-up $(MAKE) --no-print-directory localstack-up
	$(TIMED) molecule $(BIN)/molecule test --all
	$(TIMED) pytest $(BIN)/pytest tests -m "not slow" $(PYTEST_ARGS)

test-full: setup lint ## everything, including the slow load and fault tests
	$(MAKE) --no-print-directory localstack-up
	$(BIN)/molecule test --all
	$(BIN)/pytest tests $(PYTEST_ARGS)

# --- nothing lost: load, hostile inputs, accounting (docs/guarantees.md) ---------------------

.PHONY: load load-serial load-steady corpus accounting
load: controller ## COUNT mixed 1-12 MP uploads to ENV: throughput, latency, accounting (COUNT=200)
	$(PY) bench/load.py --count $(or $(COUNT),200) --outputs outputs/$(ENV).json
load-serial: controller ## warm single-upload latency per size: N uploads per size (N=5)
	$(PY) bench/load.py --serial $(or $(N),5) --outputs outputs/$(ENV).json
load-steady: controller ## steady uploads: RATE=5 DURATION=60
	$(PY) bench/load.py --rate $(or $(RATE),5) --duration $(or $(DURATION),60) --outputs outputs/$(ENV).json
corpus: controller ## upload the hostile inputs; each must end as 5 variants or 1 failure record
	$(PY) bench/hostile_corpus.py --upload --outputs outputs/$(ENV).json
accounting: controller ## reconcile a run: make accounting MANIFEST=.state/runs/<run>.jsonl
	$(PY) bench/accounting.py $(MANIFEST) --outputs outputs/$(ENV).json --wait 120

bench: setup localstack-up ## the benchmarks (figures, ratios side by side)
	$(PY) -m pip install --quiet --quiet --disable-pip-version-check -r bench/requirements.txt
	$(PY) bench/filter_patterns.py
	$(PY) bench/processing.py --quick
	$(PY) bench/encoder_threads.py
	$(PY) bench/emulator.py
	$(PY) bench/emulator_costs.py
	$(PY) bench/deploy.py
