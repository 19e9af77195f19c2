"""Validation is pure: a bad declaration set changes nothing on a live server.

The live server from the harness is the one the CLI and this process would talk
to (PREFECT_API_URL and the auth string point at it). After a failed
`prefect-platform validate` and a failed in-process load, the server holds
exactly what it held before, and the loader sent no HTTP request at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client

from infra.declarations import DeclarationError, load_declarations
from tests.declarations.edits import edit
from tests.harness.live_server import LiveServer

CLI = str(Path(sys.executable).parent / "prefect-platform")


def _server_objects() -> dict[str, list[str]]:
    with get_client(sync_client=True) as client:
        return {
            "work_pools": sorted(pool.name for pool in client.read_work_pools()),
            "automations": sorted(item.name for item in client.read_automations()),
            "concurrency_limits": sorted(
                item.name for item in client.read_global_concurrency_limits(limit=200)
            ),
            "variables": sorted(item.name for item in client.read_variables()),
            "deployments": sorted(item.name for item in client.read_deployments()),
        }


@pytest.fixture
def http_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every HTTP request this process sends (the requests still go out unchanged)."""
    sent: list[str] = []
    sync_send, async_send = httpx.Client.send, httpx.AsyncClient.send

    def record(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        sent.append(f"{request.method} {request.url}")
        return sync_send(self, request, **kwargs)

    async def record_async(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        sent.append(f"{request.method} {request.url}")
        return await async_send(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", record)
    monkeypatch.setattr(httpx.AsyncClient, "send", record_async)
    yield sent


def _break(repo: Path) -> None:
    edit(repo, "pools/fx-process.yaml", "type: process", "type: ecs")
    edit(repo, "prefect.yaml", 'cron: "*/5 * * * *"', 'cron: "61 * * * *"')
    edit(repo, "automations/fx-run-on-event.yaml", "threshold: 1", "threshhold: 1")


def test_a_failed_validation_leaves_the_server_untouched(
    prefect_server: LiveServer, repo: Path, http_requests: list[str]
) -> None:
    _break(repo)
    before = _server_objects()
    http_requests.clear()

    result = subprocess.run(
        [CLI, "validate", "--root", str(repo)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **prefect_server.client_env()},
    )
    with pytest.raises(DeclarationError):
        load_declarations(repo)

    assert http_requests == []
    assert result.returncode == 1
    assert "pools/fx-process.yaml: type:" in result.stderr
    after = _server_objects()
    assert any("/work_pools/filter" in request for request in http_requests)  # the spy works
    assert after == before
    declared = {"fx-process", "fx-kubernetes", "fx-run-on-event", "fx-pause-queue", "fx-db"}
    assert not declared & {name for names in after.values() for name in names}


def test_a_successful_load_sends_no_request_either(
    prefect_server: LiveServer, repo: Path, http_requests: list[str]
) -> None:
    declarations = load_declarations(repo)

    assert declarations.count()["work_pools"] == 2
    assert http_requests == []
