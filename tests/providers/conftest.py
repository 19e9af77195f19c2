"""Fixtures for the provider tests: the connection input and a raw API client.

The raw client (`api`) reads and edits objects behind the providers' back, so
the tests check effects through the Prefect API rather than through the
provider under test.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.providers.client import Connection
from tests.harness.live_server import LiveServer


@pytest.fixture
def connection(prefect_server: LiveServer) -> Connection:
    """The provider ``connection`` input for the live test server."""
    return Connection(api_url=prefect_server.api_url, auth_string=prefect_server.auth_string)


class _RetryingClient(httpx.Client):
    """Retries 503 like Prefect's own client does (SQLite answers 503 while it is locked)."""

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        for attempt in range(6):
            response = super().send(request, **kwargs)
            if response.status_code != 503:
                break
            time.sleep(0.5 * 2**attempt)
        return response


@pytest.fixture
def api(prefect_server: LiveServer) -> Iterator[httpx.Client]:
    """A plain HTTP client on the live server's API, with its auth string."""
    with _RetryingClient(base_url=prefect_server.api_url, auth=prefect_server.auth) as client:
        yield client


@pytest.fixture
def unique() -> str:
    """A suffix that keeps object names apart between tests."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def pool(api: httpx.Client, unique: str) -> Iterator[str]:
    """A process work pool created through the API for queues/deployments/automations."""
    name = f"fixture-pool-{unique}"
    api.post("/work_pools/", json={"name": name, "type": "process"}).raise_for_status()
    yield name
    api.delete(f"/work_pools/{name}")
