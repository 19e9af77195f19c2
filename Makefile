# Every target runs inside the project's uv environment (see pyproject.toml).
UV ?= uv
PYTHON ?= python3

.PHONY: install test test-postgres lint validate

install: ## Install every dependency group from the lock file.
	$(UV) sync --frozen --python $(PYTHON)

test: install ## Run the whole test suite against live local services.
	$(UV) run --frozen pytest

test-postgres: install ## The same suite, with the Prefect server on local PostgreSQL.
	PLATFORM_TEST_DATABASE_URL=$${PLATFORM_TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/postgres} \
		$(UV) run --frozen pytest

lint: install ## ruff (lint + format check) and mypy.
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy infra flows
