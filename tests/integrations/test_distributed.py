"""prefect-dask: tasks run in a Dask cluster's worker processes and their results come back.

A `LocalCluster` of two worker processes (started once for the module) stands in for the
stack's Dask cluster; the flow gets its address as a deployment would: from the
`PLATFORM_DASK_ADDRESS` environment variable, set by the deployment's `env` job variable.
Ray: tests/integrations/test_ray.py.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pytest
from distributed import Client, LocalCluster
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.task_runners import TaskRunner

from flows.integrations.clusters import (
    DASK_ADDRESS_ENV,
    dask_fan_out,
    dask_task_runner,
)
from tests.conftest import WorkerFactory
from tests.harness.api import Api, unique, wait_for
from tests.harness.live_server import LiveServer
from tests.harness.processes import free_port

REPO = str(Path(__file__).resolve().parents[2])


def _flow_run_id(state: Any) -> Any:
    return state.state_details.flow_run_id


@pytest.fixture(scope="module")
def dask_cluster(prefect_server: LiveServer) -> Iterator[LocalCluster]:
    """Two Dask worker processes (they inherit this process's Prefect client settings)."""
    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


def test_dask_runs_tasks_in_the_clusters_worker_processes_and_gathers_results(
    api: Api, dask_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DASK_ADDRESS_ENV, dask_cluster.scheduler_address)
    runner = dask_task_runner()  # what a deployment with the env job variable gets
    assert runner.address == dask_cluster.scheduler_address
    with Client(dask_cluster) as client:  # type: ignore[no-untyped-call]
        worker_pids = set(client.run(os.getpid).values())

    state = dask_fan_out.with_options(task_runner=cast("TaskRunner[Any]", runner))(
        count=6, return_state=True
    )

    assert state.is_completed(), state
    report = state.result()
    assert report["flow_pid"] == os.getpid() and os.getpid() not in worker_pids
    assert [p["square"] for p in report["placements"]] == [0, 1, 4, 9, 16, 25]
    assert {p["pid"] for p in report["placements"]} <= worker_pids
    task_runs = api.task_runs(_flow_run_id(state))
    assert len(task_runs) == 6 and all(run.state_name == "Completed" for run in task_runs)


def test_a_deployment_selects_the_dask_cluster_by_its_env_job_variable(
    api: Api, dask_cluster: LocalCluster, process_worker: WorkerFactory
) -> None:
    with Client(dask_cluster) as client:  # type: ignore[no-untyped-call]
        worker_pids = set(client.run(os.getpid).values())
    pool = unique("dask-pool")

    with process_worker(pool):
        flow_id = api.client.create_flow_from_name("dask-fan-out")
        deployment = api.client.create_deployment(
            flow_id=flow_id,
            name=pool,
            entrypoint="flows/integrations/clusters.py:dask_fan_out",
            work_pool_name=pool,
            pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": REPO}}],
            job_variables={
                "env": {DASK_ADDRESS_ENV: dask_cluster.scheduler_address},
                "command": f"{sys.executable} -m prefect.engine",
            },
        )
        try:
            run_id = api.client.create_flow_run_from_deployment(
                deployment, parameters={"count": 4}
            ).id
            run = wait_for(lambda: _final(api, run_id), 120, "the deployment's run to end")
        finally:
            api.client.delete_deployment(deployment)

    assert run.state is not None and run.state.is_completed(), run.state
    [artifact] = api.client.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["task-placements"])),
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
    )
    placed = re.fullmatch(r"flow process (\d+) on .+", artifact.description or "")
    assert placed, artifact.description
    placements = json.loads(str(artifact.data))
    assert [row["square"] for row in placements] == [0, 1, 4, 9]
    assert int(placed[1]) != os.getpid() and int(placed[1]) not in worker_pids
    assert {row["pid"] for row in placements} <= worker_pids


def _final(api: Api, run_id: UUID) -> FlowRun | None:
    run = api.flow_run(run_id)
    return run if run.state is not None and run.state.is_final() else None


def test_a_dask_address_that_does_not_answer_fails_the_run_within_seconds() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    runner = dask_task_runner(address, connect_timeout_s=3)

    started = time.monotonic()
    state = dask_fan_out.with_options(task_runner=cast("TaskRunner[Any]", runner))(
        count=2, return_state=True
    )
    elapsed = time.monotonic() - started

    assert state.is_failed(), state
    assert f"no Dask scheduler answered at {address} ({DASK_ADDRESS_ENV})" in (state.message or "")
    assert elapsed < 20, elapsed
