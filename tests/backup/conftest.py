"""Fixtures for the backup tests: PostgreSQL databases of their own, S3 keys in the environment.

PostgreSQL is the one of `PLATFORM_TEST_DATABASE_URL`, else postgres@127.0.0.1:5432 (trust auth,
as on the development and CI machines). Without a reachable server (or `psql`) the tests skip,
saying why, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.harness.live_server import DATABASE_URL_ENV, LiveServer, psql, serve_database
from tests.harness.prerequisites import unavailable
from tests.harness.s3 import S3Server

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def libpq(url: str, database: str | None = None) -> str:
    """The URL in libpq's form (`postgresql://`), optionally for another database."""
    parts = urlsplit(url)._replace(scheme="postgresql")
    return urlunsplit(parts._replace(path=f"/{database}") if database else parts)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A reachable PostgreSQL server (SQLAlchemy form, its `postgres` database)."""
    url = os.environ.get(DATABASE_URL_ENV) or DEFAULT_SERVER
    try:
        psql(libpq(url, "postgres"), "SELECT 1")
    except (OSError, RuntimeError) as error:
        reason = f"no PostgreSQL server for the backup tests: {error}"
        unavailable(reason)
    return url


DatabaseFactory = Callable[[], str]


@pytest.fixture
def new_database(postgres_url: str) -> Iterator[DatabaseFactory]:
    """Make empty databases (`prefect_test_<pid>_…`, so a killed run's are dropped by the
    harness's next run); returns each one's SQLAlchemy URL; drops them at the end."""
    made: list[str] = []

    def create() -> str:
        name = f"prefect_test_{os.getpid()}_bk{secrets.token_hex(3)}"
        psql(libpq(postgres_url, "postgres"), f'CREATE DATABASE "{name}"')
        made.append(name)
        return urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))

    yield create
    for name in made:
        psql(libpq(postgres_url, "postgres"), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The harness S3 server's keys and endpoint in the environment, as a user exports them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_server


def serve(database_url: str, workdir: Path) -> LiveServer:
    """`prefect server start` (basic auth on) on an existing database, as the harness starts it,
    without creating or dropping the database."""
    return serve_database(
        workdir,
        database_url,
        urlsplit(database_url).path.lstrip("/"),
        # A scheduled run must stay as it was backed up, not turn Late in between.
        settings={"PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false"},
    )
