# The two commands of the quick start are `make demo` and `make test`; both install first.
# uv is installed with pip when it is missing, then `uv sync --frozen` builds .venv from uv.lock.

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen

.DEFAULT_GOAL := help
.PHONY: help install up down reset clean status demo demo-loop test test-unit test-integration test-faults test-e2e lint bench

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

install:  ## install uv if needed, the locked Python env (.venv) and the S3 server (npm)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user "uv==0.13.9" \
		|| $(PYTHON) -m pip install --quiet --break-system-packages "uv==0.13.9"
	$(UV) sync --frozen
	@$(MAKE) -s stack/node_modules/.package-lock.json

# The S3 server's packages, installed again only when the lock changes: `npm ci` empties
# node_modules first, which would pull files from under a stack that is running.
stack/node_modules/.package-lock.json: stack/package-lock.json
	cd stack && npm ci --no-audit --no-fund --silent
	@touch $@

up: install  ## start the local stack (S3 on disk, MLflow, Airflow) and print its URLs and login
	$(RUN) mlops stack up

# down, reset and status need only the installed environment, not uv (which may not be on PATH).
down:  ## stop exactly the processes `make up` started
	@if [ -x .venv/bin/mlops ]; then .venv/bin/mlops stack down; fi

reset:  ## stop the local stack and delete its state (.stack); asks first, or FORCE=1
	@if [ -x .venv/bin/mlops ]; then .venv/bin/mlops stack reset $(if $(filter 1,$(FORCE)),--yes,); \
	else echo "no environment yet (make install): nothing to reset"; fi

clean:  ## delete caches and build outputs (not .venv, not the stack's state: see reset)
	rm -rf .pytest_cache .ruff_cache .mypy_cache
	find . -path ./.venv -prune -o -path ./stack/node_modules -prune -o \
		-name __pycache__ -type d -exec rm -rf {} +

status:  ## health and memory (PSS) of each stack process
	.venv/bin/mlops stack status

demo: install  ## start the stack and run two CT cycles (first champion, then a drifted batch)
	$(RUN) mlops demo

demo-loop: install  ## start the stack and run the feedback loop: late labels, performance, live rows
	$(RUN) mlops demo-loop

# Two pytest-xdist workers: one runs the e2e tests, in order (tests/lanes.py); the other runs
# every other lane meanwhile, on the core the e2e stacks leave idle while they wait on Airflow.
# TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2

test: install  ## the whole suite: unit, DAG integrity, integration and end-to-end
	$(RUN) pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS))

# One lane per test: a test marked integration (or e2e) belongs there even in a `unit` module.
test-unit: install  ## the tests that need no service (no PostgreSQL, S3, MLflow, browser, Airflow run); < 3 min
	$(RUN) pytest -m "unit and not integration and not e2e"

test-integration: install  ## the tests that start their own services (S3, MLflow; PostgreSQL with CT_TEST_PG)
	$(RUN) pytest -m "integration and not e2e"

test-faults: install  ## the fault-injection suite (also in test-integration): kill or raise at every step boundary, retry
	$(RUN) pytest -m faults

test-e2e: install  ## the whole local stack (Airflow, MLflow, S3) running real DAGs; ~60 min on 2 cores
	$(RUN) pytest -m e2e

lint: install  ## ruff, mypy (strict on mlops_lib), the import-linter layers, module size and complexity
	$(RUN) ruff check .
	$(RUN) mypy
	$(RUN) lint-imports
	$(RUN) python tools/check_size.py

bench: install  ## benchmarks (bench/README.md): JSON in bench/results/, then docs/benchmarks.md; ~50 min on 2 cores
	$(RUN) python bench/train_vs_bare.py
	$(RUN) python bench/train_vs_bare.py --rows 200000 --out bench/results/train_vs_bare_200k.json
	$(RUN) python bench/drift_vs_evidently.py
	$(RUN) python bench/validation_throughput.py
	$(RUN) python bench/stack_latency_memory.py --batches 3
	$(RUN) python bench/stack_latency_memory.py --mode events --batches 3
	$(RUN) python bench/stack_latency_memory.py --batches 2 --rows 2000000 --settle 20 --out bench/results/stack_2m.json
	$(RUN) python bench/scaling.py
	$(RUN) python bench/task_startup.py
	$(RUN) python bench/scoring.py
	$(RUN) python bench/report.py
