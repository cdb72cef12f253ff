# The two commands of the quick start are `make demo` and `make test`; both install first.
# uv is installed with pip when it is missing, then `uv sync --frozen` builds .venv from uv.lock.

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen

.DEFAULT_GOAL := help
.PHONY: help install up down status demo test test-unit lint bench

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install:  ## install uv if needed, the locked Python env (.venv) and the S3 server (npm)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user "uv==0.13.9" \
		|| $(PYTHON) -m pip install --quiet --break-system-packages "uv==0.13.9"
	$(UV) sync --frozen
	cd stack && npm ci --no-audit --no-fund --silent

up: install  ## start the local stack (S3 on disk, MLflow, Airflow) and print its URLs and login
	$(RUN) mlops stack up

down:  ## stop exactly the processes `make up` started
	@if [ -x .venv/bin/mlops ]; then $(RUN) mlops stack down; fi

status:  ## health and memory (PSS) of each stack process
	$(RUN) mlops stack status

demo: install  ## start the stack and run two CT cycles (first champion, then a drifted batch)
	$(RUN) mlops demo

test: install  ## the whole suite: unit, DAG integrity, integration and end-to-end
	$(RUN) pytest

test-unit: install  ## only the tests that need no services
	$(RUN) pytest -m unit

lint: install  ## ruff, and the rule that mlops_lib never imports Airflow
	$(RUN) ruff check .
	$(RUN) lint-imports

bench: install  ## benchmarks (bench/README.md): JSON in bench/results/, then docs/benchmarks.md; ~50 min on 2 cores
	$(RUN) python bench/train_vs_bare.py
	$(RUN) python bench/train_vs_bare.py --rows 200000 --out bench/results/train_vs_bare_200k.json
	$(RUN) python bench/drift_vs_evidently.py
	$(RUN) python bench/validation_throughput.py
	$(RUN) python bench/stack_latency_memory.py --batches 3
	$(RUN) python bench/stack_latency_memory.py --mode events --batches 3
	$(RUN) python bench/stack_latency_memory.py --batches 2 --rows 2000000 --settle 20 --out bench/results/stack_2m.json
	$(RUN) python bench/scaling.py
	$(RUN) python bench/report.py
