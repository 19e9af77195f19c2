"""Fixtures for the integration tests: a fresh PostgreSQL database and connector blocks on it.

`warehouse` is a database of its own on the machine's PostgreSQL (`PLATFORM_TEST_DATABASE_URL`'s
server when set, else ``postgres@127.0.0.1:5432``), made by the harness's `_create_database`
and dropped after the package. `connector_blocks` saves `sqlalchemy-connector` blocks on it,
as the platform's declaration would, with a password the tests look for in the logs.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from prefect.client.orchestration import get_client
from prefect_sqlalchemy import (  # type: ignore[import-untyped]
    ConnectionComponents,
    SqlAlchemyConnector,
    SyncDriver,
)
from pydantic import SecretStr

from tests.harness.api import unique
from tests.harness.live_server import DATABASE_URL_ENV, LiveServer, _create_database, psql
from tests.harness.prerequisites import unavailable

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Warehouse:
    """A fresh PostgreSQL database for this session's integration tests."""

    host: str
    port: int
    user: str
    database: str
    admin_url: str

    @property
    def url(self) -> str:
        """A libpq URL of the database (for `psql` and psycopg2)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def sql(self, statement: str) -> str:
        """Run one statement in the database with psql; its unaligned output."""
        return psql(self.url, statement)


def _server_url() -> str:
    url = os.environ.get(DATABASE_URL_ENV) or DEFAULT_SERVER
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))


@pytest.fixture(scope="package")
def warehouse() -> Iterator[Warehouse]:
    """A database of its own, dropped afterwards; skips (fails under CI) without PostgreSQL."""
    server = _server_url()
    try:
        psql(server, "SELECT 1")
    except RuntimeError as exc:
        reason = f"no PostgreSQL server answers at {server}: {exc}"
        unavailable(reason)
    database, admin_url = _create_database(server)
    parts = urlsplit(server)
    try:
        yield Warehouse(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=parts.username or "postgres",
            database=database,
            admin_url=admin_url,
        )
    finally:
        psql(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@dataclass
class ConnectorBlocks:
    """Saves `sqlalchemy-connector` blocks on the warehouse, as the platform would declare them."""

    warehouse: Warehouse
    password: str
    """The password of every block saved (PostgreSQL here trusts local clients: any works)."""
    made: list[str] = field(default_factory=list)

    def save(self, **fields: Any) -> str:
        """Save a block on the warehouse (keyword arguments replace connection fields)."""
        name = unique("warehouse")
        values: dict[str, Any] = {
            "driver": SyncDriver.POSTGRESQL_PSYCOPG2,
            "host": self.warehouse.host,
            "port": self.warehouse.port,
            "username": self.warehouse.user,
            "password": SecretStr(self.password),
            "database": self.warehouse.database,
            **fields,
        }
        SqlAlchemyConnector(connection_info=ConnectionComponents(**values)).save(name)
        self.made.append(name)
        return name


@pytest.fixture
def connector_blocks(prefect_server: LiveServer, warehouse: Warehouse) -> Iterator[ConnectorBlocks]:
    """`ConnectorBlocks` for one test; the blocks it saved are deleted afterwards."""
    blocks = ConnectorBlocks(warehouse, password=f"pw-{secrets.token_hex(12)}")
    yield blocks
    with get_client(sync_client=True) as client:
        for name in blocks.made:
            document = client.read_block_document_by_name(name, "sqlalchemy-connector")
            client.delete_block_document(document.id)
