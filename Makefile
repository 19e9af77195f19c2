# Every target runs inside the project's uv environment (see pyproject.toml).
PYTHON ?= python3
# Tool pins (UV_VERSION, KIND_VERSION, PULUMI_VERSION and release checksums), shared with
# scripts/up.sh and CI. uv: the one on PATH, else UV_VERSION, which `make` installs into
# .tools/uv with $(PYTHON)'s pip the first time a target needs it.
include $(dir $(lastword $(MAKEFILE_LIST)))scripts/tool-versions.env
UV_LOCAL := $(CURDIR)/.tools/uv/bin/uv
ifndef UV
UV := $(or $(shell command -v uv 2>/dev/null),$(UV_LOCAL))
endif
RUN = $(UV) run --frozen
ifeq ($(UV),$(UV_LOCAL))
# Recipes and the scripts they run (scripts/lib.sh, Pulumi's uv toolchain) find it too.
export PATH := $(dir $(UV_LOCAL)):$(PATH)
endif

.PHONY: up down install test test-postgres lint validate schemas e2e docs bench-apply bench-scale bench-scale-ci bench-push-to-run bench-ha

up: install ## Bring up the `local` stack on kind (STACK=docker for a Docker host); installs kind and the Pulumi CLI into .tools/ if missing; prints the URLs.
	$(RUN) ./scripts/up.sh

down: install ## Destroy the stack and delete the kind cluster (KEEP_CLUSTER=1 keeps it); finishes when the cluster is already gone.
	$(RUN) ./scripts/down.sh

install: $(filter $(UV_LOCAL),$(UV)) ## Install every dependency group from the lock file.
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)

$(UV_LOCAL):
	@echo "uv is not on PATH: installing uv $(UV_VERSION) into .tools/uv"
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(CURDIR)/.tools/uv \
		uv==$(UV_VERSION)
	@test -x $@ || { echo "pip did not install $@" >&2; exit 1; }

test: install ## The whole test suite against live local services (Prefect server on SQLite).
	$(RUN) pytest

test-postgres: install ## The same suite, with the Prefect server on local PostgreSQL.
	PLATFORM_TEST_DATABASE_URL=$${PLATFORM_TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/postgres} \
		$(RUN) pytest

lint: install ## ruff (lint + format check) and mypy.
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy infra flows tests benchmarks

validate: install ## Check every declaration (and the committed JSON Schemas) before anything changes.
	$(RUN) prefect-platform validate
	$(RUN) prefect-platform schemas --check

schemas: install ## Regenerate schemas/ from the declaration models.
	$(RUN) prefect-platform schemas

e2e: install ## The kind end-to-end test (needs kind, docker, pulumi, kubectl).
	$(RUN) pytest -m e2e tests/e2e -rs

docs: install ## Regenerate docs/features.md from flows/catalog.py.
	$(RUN) python -m flows.catalog > docs/features.md

bench-apply: install ## The apply benchmark (docs/performance.md).
	$(RUN) python -m benchmarks.apply

bench-scale: install ## The scale benchmark: 100, 1,000 and 5,000 objects (docs/performance.md).
	$(RUN) python -m benchmarks.scale --sizes 100,1000,5000 --no-program

bench-scale-ci: install ## The scale benchmark at CI size (50 objects); fails on a wrong result.
	$(RUN) python -m benchmarks.scale --ci

bench-push-to-run: install ## The push-to-run benchmark (docs/performance.md).
	$(RUN) python -m benchmarks.push_to_run

bench-ha: install ## The HA fault run: 300 flow runs while API, services and Redis are killed (docs/performance.md#fault-tests; PostgreSQL, nginx, redis-server).
	$(RUN) python -m benchmarks.ha_faults --runs 300

.PHONY: bench-webhooks
bench-webhooks: install ## The webhook benchmark: signed request to Completed run, gateway rate (docs/performance.md#webhooks).
	$(RUN) python -m benchmarks.webhooks

.PHONY: backup restore

backup: install ## Back the server's database up to the object store (PLATFORM_BACKUP_DATABASE_URL, AWS_* in the environment; ARGS="--retention-days 14"; docs/operations.md#backups).
	$(RUN) prefect-platform backup $(ARGS)

restore: install ## Restore the newest backup into the database, server stopped (ARGS=--force replaces what it holds).
	$(RUN) prefect-platform restore $(ARGS)
