"""Emitting events and reading back the runs automations create, for the event tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.events import emit_event
from prefect.events.worker import EventsWorker


def emit(event: str, resource_id: str) -> None:
    """Emit one event and wait until it has been sent (so events arrive in order)."""
    emit_event(event=event, resource={"prefect.resource.id": resource_id})
    EventsWorker.drain_all()


def client() -> SyncPrefectClient:
    """A client of the session's server."""
    return get_client(sync_client=True)


def deployment_id(name: str) -> uuid.UUID:
    """The id of deployment `<flow>/<deployment>`."""
    with client() as api:
        return api.read_deployment_by_name(name).id


def run_names(deployment: uuid.UUID) -> list[str]:
    """The `name` parameter of every run of a deployment, oldest first."""
    with client() as api:
        runs = api.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment]))
        )
    ordered = sorted(runs, key=lambda run: run.created or 0)
    return [str(run.parameters.get("name")) for run in ordered]


def runs_naming(deployment: uuid.UUID, text: str) -> Callable[[], list[str]]:
    """A check: the `name` parameters of the runs of `deployment` that contain `text`."""
    return lambda: [name for name in run_names(deployment) if text in name]


def stays(check: Callable[[], Any], expected: Any, seconds: float = 2) -> None:
    """Poll `check` for `seconds`: it must keep returning `expected` (nothing more fires)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check() == expected
        time.sleep(0.5)
