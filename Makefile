# Every target runs inside the project's uv environment (see pyproject.toml).
UV ?= uv
PYTHON ?= python3
RUN = $(UV) run --frozen

.PHONY: up down install test test-postgres lint validate schemas e2e docs bench-apply bench-push-to-run

up: install ## Bring up the `local` stack on kind (STACK=docker for a Docker host); prints the URLs.
	$(RUN) ./scripts/up.sh

down: install ## Destroy the stack and delete the kind cluster (KEEP_CLUSTER=1 keeps it).
	$(RUN) ./scripts/down.sh

install: ## Install every dependency group from the lock file.
	$(UV) sync --frozen --python $(PYTHON)

test: install ## The whole test suite against live local services (Prefect server on SQLite).
	$(RUN) pytest

test-postgres: install ## The same suite, with the Prefect server on local PostgreSQL.
	PLATFORM_TEST_DATABASE_URL=$${PLATFORM_TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/postgres} \
		$(RUN) pytest

lint: install ## ruff (lint + format check) and mypy.
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy infra flows

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

bench-push-to-run: install ## The push-to-run benchmark (docs/performance.md).
	$(RUN) python -m benchmarks.push_to_run
