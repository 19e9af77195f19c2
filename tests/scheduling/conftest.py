"""Fixtures for the scheduling tests: the test flows on a git remote, deployments, read-backs.

`remote` is a git remote of this package holding `remote_flows.py`; `runs` deploys its flows
to a pool, starts runs and reads back, through the API, what the runs did: their states,
when each was Running, their logs.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import FlowRun, State

from tests.harness.api import Api, wait_for
from tests.harness.git_remote import GitRemote, create_git_remote
from tests.harness.live_server import LiveServer

FLOWS_FILE = "remote_flows.py"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.fixture(scope="package")
def remote(tmp_path_factory: pytest.TempPathFactory) -> GitRemote:
    """A git remote holding `remote_flows.py`, which every deployment here clones."""
    git = create_git_remote(tmp_path_factory.mktemp("scheduling-git"), name="scheduling")
    git.push_files({FLOWS_FILE: (Path(__file__).parent / FLOWS_FILE).read_text()}, "test flows")
    return git


Window = tuple[datetime, datetime]


@dataclass
class Runs:
    """Deploy the test flows, start runs, and read back what they did."""

    client: SyncPrefectClient
    remote: GitRemote
    api: Api
    deployments: list[uuid.UUID] = field(default_factory=list)
    """Every deployment made, deleted by `delete_deployments` (the fixtures call it)."""

    def deploy(
        self, flow: str, pool: str, queue: str | None = None, one_process: bool = True
    ) -> uuid.UUID:
        """A deployment of `remote_flows.py:<flow>` on `pool` (and `queue`), cloned per run.

        `one_process` runs the pull step and the flow in one `python -m prefect.engine`
        (one interpreter start less per run, see pools/process-pool.yaml); False keeps the
        pool's own command.
        """
        entrypoint_flows = {
            "sched-totals": "totals",
            "sched-hold": "hold",
            "sched-flaky": "flaky",
            "sched-tagged": "tagged",
            "sched-rate-limited": "rate_limited",
        }
        flow_id = self.client.create_flow_from_name(flow)
        clone = {"repository": self.remote.url, "branch": self.remote.branch}
        deployment = self.client.create_deployment(
            flow_id=flow_id,
            name=f"{pool}-{queue or 'default'}",
            entrypoint=f"{FLOWS_FILE}:{entrypoint_flows[flow]}",
            work_pool_name=pool,
            work_queue_name=queue,
            pull_steps=[{"prefect.deployments.steps.git_clone": clone}],
            job_variables={"command": f"{sys.executable} -m prefect.engine"} if one_process else {},
        )
        self.deployments.append(deployment)
        return deployment

    def delete_deployments(self) -> None:
        """Delete the deployments this made (their runs stay, as a user's would)."""
        for deployment in self.deployments:
            self.client.delete_deployment(deployment)
        self.deployments.clear()

    def start(self, deployment: uuid.UUID, **parameters: Any) -> uuid.UUID:
        """Create a run of the deployment (the worker picks it up); return its id."""
        return self.client.create_flow_run_from_deployment(deployment, parameters=parameters).id

    def wait(self, run_id: uuid.UUID, states: set[str], timeout: float = 120) -> FlowRun:
        """The run, once its state type is one of `states`."""

        def reached() -> FlowRun | None:
            run = self.client.read_flow_run(run_id)
            return run if run.state and run.state.type.value in states else None

        return wait_for(reached, timeout, f"run {run_id} to reach one of {sorted(states)}")

    def finish(self, *run_ids: uuid.UUID, timeout: float = 120) -> list[FlowRun]:
        """Every run once final; fail the test, showing its state, if one did not complete."""
        deadline = time.monotonic() + timeout
        runs = [self.wait(i, FINAL, max(1.0, deadline - time.monotonic())) for i in run_ids]
        for run in runs:
            assert run.state and run.state.type.value == "COMPLETED", (run.name, run.state)
        return runs

    def states(self, run_id: uuid.UUID) -> list[State[Any]]:
        """The run's state history, oldest first."""
        states: list[State[Any]] = self.client.read_flow_run_states(run_id)
        return sorted(states, key=lambda state: state.timestamp)

    def running_window(self, run_id: uuid.UUID) -> Window:
        """When the run entered Running and when it left it, from its state history."""
        states = self.states(run_id)
        index = next(i for i, s in enumerate(states) if s.type.value == "RUNNING")
        return states[index].timestamp, states[index + 1].timestamp


@pytest.fixture
def runs(prefect_server: LiveServer, remote: GitRemote, api: Api) -> Iterator[Runs]:
    """`Runs` over the live server and this package's git remote."""
    with get_client(sync_client=True) as client:
        runs = Runs(client, remote, api)
        yield runs
        runs.delete_deployments()


def most_at_once(windows: list[Window]) -> int:
    """The largest number of `windows` open at the same instant (an end frees before a start)."""
    edges = sorted([(start, 1) for start, _ in windows] + [(end, -1) for _, end in windows])
    open_now = peak = 0
    for _, change in edges:
        open_now += change
        peak = max(peak, open_now)
    return peak
