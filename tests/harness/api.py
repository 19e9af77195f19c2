"""Read what a run left on the live Prefect server, as a user would see it in the UI.

Task runs and their state histories, logs, events: each reader waits for the server to
catch up (states and logs arrive a moment after a run ends). The `api` fixture in
`tests/conftest.py` gives a test an `Api` over the harness's server.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, Log, State, TaskRun
from prefect.client.schemas.sorting import LogSort, TaskRunSort
from prefect.events import emit_event
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 30, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.3)


def emit_until_runs(
    client: SyncPrefectClient,
    event: str,
    resource_id: str,
    deployment_id: uuid.UUID,
    timeout: float = 90,
) -> list[FlowRun]:
    """Emit `event` about `resource_id` until the deployment has a run (an automation made it).

    The server's triggers service picks a new automation up within seconds, so one event may
    come too early; this returns the deployment's runs (empty if none within `timeout`).
    """
    runs: list[FlowRun] = []
    deadline = time.monotonic() + timeout
    while not runs and time.monotonic() < deadline:
        emit_event(event=event, resource={"prefect.resource.id": resource_id})
        time.sleep(3)
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )
    return runs


def unique(prefix: str) -> str:
    """A name no other test (or earlier session on the same server) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Api:
    """Read-side helpers over the sync Prefect client."""

    def __init__(self, client: SyncPrefectClient) -> None:
        self.client = client

    def flow_run(self, flow_run_id: uuid.UUID) -> FlowRun:
        """The flow run as the API reports it."""
        return self.client.read_flow_run(flow_run_id)

    def task_runs(self, flow_run_id: uuid.UUID) -> list[TaskRun]:
        """Every task run of a flow run, oldest first, once all are in a final state.

        Task run states reach the server as events, a moment after the run itself has
        finished, so this waits for the API to catch up before returning.
        """
        EventsWorker.drain_all()

        def read() -> tuple[list[TaskRun]] | None:
            runs = self.client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
            )
            settled = all(run.state is not None and run.state.is_final() for run in runs)
            return (runs,) if settled else None  # a tuple, so that "no task runs" is truthy

        return wait_for(read, 20, "task runs of the flow run to reach final states")[0]

    def task_runs_named(self, flow_run_id: uuid.UUID, prefix: str) -> list[TaskRun]:
        """The task runs whose name starts with `prefix` (task names get a -suffix)."""
        return [run for run in self.task_runs(flow_run_id) if run.name.startswith(prefix)]

    def states(self, task_run_id: uuid.UUID) -> list[State[Any]]:
        """A task run's states, in order, once the last one is final."""
        EventsWorker.drain_all()

        def read() -> list[State[Any]] | None:
            states: list[State[Any]] = self.client.read_task_run_states(task_run_id)
            ordered = sorted(states, key=lambda s: s.timestamp)
            return ordered if ordered and ordered[-1].is_final() else None

        return wait_for(read, 20, "the task run's state history to reach a final state")

    def history(self, task_run_id: uuid.UUID) -> list[str]:
        """A task run's state names, in order (what the UI's timeline shows)."""
        return [state.name or "" for state in self.states(task_run_id)]

    def logs(self, flow_run_id: uuid.UUID) -> list[Log]:
        """Every log record of a flow run (and its task runs) after flushing this process."""
        APILogWorker.drain_all(timeout=5)
        return self.client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
            sort=LogSort.TIMESTAMP_ASC,
        )

    def messages(self, flow_run_id: uuid.UUID) -> list[str]:
        """The log messages of a flow run."""
        return [log.message for log in self.logs(flow_run_id)]

    def wait_for_log(self, flow_run_id: uuid.UUID, text: str, timeout: float = 20) -> list[str]:
        """Wait until a log of the run contains `text`; return all its messages."""

        def read() -> list[str] | None:
            messages = self.messages(flow_run_id)
            return messages if any(text in line for line in messages) else None

        return wait_for(read, timeout, f"a log containing {text!r}")

    def events(self, event: str, resource_prefix: str, timeout: float = 30) -> list[dict[str, Any]]:
        """Wait for stored events named `event` about resources starting with the prefix."""
        EventsWorker.drain_all()
        body = {
            "filter": {
                "event": {"name": [event]},
                "resource": {"id_prefix": [resource_prefix]},
                "occurred": {"since": "2000-01-01T00:00:00Z"},
            },
            "limit": 50,
        }

        def read() -> list[dict[str, Any]] | None:
            response = self.client.request("POST", "/events/filter", json=body)
            return response.json()["events"] or None

        return wait_for(read, timeout, f"events {event} on {resource_prefix}*")
