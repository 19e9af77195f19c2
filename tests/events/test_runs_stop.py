"""Runs on a real worker, stopped: cancelled through the API, by an automation, or crashed.

`flows/reliability/hooks.py:long_job` runs until it is stopped; its `on_cancellation` and
`on_crashed` hooks write which hook ran, for which run, into the Prefect variable the run is
given. One process worker serves the three runs at once (they start together, so the
module pays for one start-up): one is cancelled through the API, as the UI's Cancel button
does; one is cancelled by the declared automation `events-cancel-overdue` when it is still
running 10 s after it started; one has its process killed under the worker (a crash).
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.states import Cancelling

from tests.events.conftest import EventsStack
from tests.events.helpers import client, deployment_id
from tests.harness.api import wait_for
from tests.harness.live_server import LiveServer
from tests.harness.worker import running_worker


@pytest.fixture(scope="module")
def long_runs(
    events_stack: EventsStack,
    armed: None,
    prefect_server: LiveServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, FlowRun]]:
    """Three runs of long_job, Running on one process worker: `api`, `crash`, `overdue`."""
    deployments = {
        "api": "long-job/events-stop",
        "crash": "long-job/events-stop",
        "overdue": "long-job/events-overdue",
    }
    workdir = tmp_path_factory.mktemp("worker")
    with running_worker(prefect_server, "events-work", workdir), client() as api:
        created = {
            role: api.create_flow_run_from_deployment(
                deployment_id(name),
                parameters={"report_variable": f"events-{role}-{uuid.uuid4().hex[:8]}"},
            )
            for role, name in deployments.items()
        }

        def all_running() -> dict[str, FlowRun] | None:
            runs = {role: api.read_flow_run(run.id) for role, run in created.items()}
            running = all(run.state and run.state.is_running() for run in runs.values())
            return runs if running else None

        yield wait_for(all_running, 90, "three long_job runs to be Running on the worker")


def stopped(run: FlowRun, state: StateType) -> FlowRun:
    """Wait until the run is in `state`; return it as the API reports it."""

    def read() -> FlowRun | None:
        with client() as api:
            found = api.read_flow_run(run.id)
        return found if found.state and found.state.type == state else None

    return wait_for(read, 45, f"flow run {run.name} to be {state.value}")


def hook_report(run: FlowRun) -> object:
    """What the run's hook wrote into its variable (None until a hook ran)."""
    name = str(run.parameters["report_variable"])

    def read() -> object:
        with client() as api:
            variable = api.read_variable_by_name(name)
        return variable.value if variable else None

    return wait_for(read, 30, f"a hook of {run.name} to write variable {name}")


def process_ended(run: FlowRun) -> None:
    """Wait until the run's process (on this machine, under the worker) has exited."""

    def ended() -> bool:
        try:
            os.kill(int(str(run.infrastructure_pid)), 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(ended, 30, f"the process of {run.name} to exit")


def test_a_run_cancelled_through_the_api_ends_cancelled_and_runs_on_cancellation(
    long_runs: dict[str, FlowRun],
) -> None:
    run = long_runs["api"]
    with client() as api:
        api.set_flow_run_state(run.id, Cancelling(message="cancelled by the test"))

    assert stopped(run, StateType.CANCELLED).state.name == "Cancelled"  # type: ignore[union-attr]
    assert "cancelled by the test" in [state.message for state in _states(run)]
    process_ended(run)
    # The hook runs while the run is being cancelled, before the worker reports Cancelled.
    assert hook_report(run) == {
        "hook": "on_cancellation",
        "flow_run": run.name,
        "state": "Cancelling",
    }


def test_an_automation_cancels_an_overdue_run_which_runs_on_cancellation(
    long_runs: dict[str, FlowRun],
) -> None:
    run = long_runs["overdue"]

    stopped(run, StateType.CANCELLED)

    with client() as api:
        automation = next(a for a in api.read_automations() if a.name == "events-cancel-overdue")
    assert f"Cancelled by Automation {automation.id}" in [state.message for state in _states(run)]
    process_ended(run)
    assert hook_report(run) == {
        "hook": "on_cancellation",
        "flow_run": run.name,
        "state": "Cancelling",
    }


def test_a_crashed_run_ends_crashed_and_runs_on_crashed(long_runs: dict[str, FlowRun]) -> None:
    run = long_runs["crash"]
    pid = int(str(run.infrastructure_pid))  # the worker records its run's process id

    os.kill(pid, signal.SIGKILL)  # what the kernel's OOM killer does

    stopped(run, StateType.CRASHED)
    assert hook_report(run) == {"hook": "on_crashed", "flow_run": run.name, "state": "Crashed"}


def _states(run: FlowRun) -> list[State[Any]]:
    with client() as api:
        return list(api.read_flow_run_states(run.id))
