"""prefect-ray: tasks run in Ray worker processes and their results come back.

One local Ray instance (two CPUs) for the module, which `RayTaskRunner` joins (it uses an
initialised Ray rather than starting its own). Its own module, so that no Dask cluster of
another test competes with Ray's start-up for this machine's two cores.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from flows.integrations.clusters import ray_fan_out
from tests.harness.api import Api
from tests.harness.live_server import LiveServer


def _flow_run_id(state: Any) -> Any:
    return state.state_details.flow_run_id


@pytest.fixture(scope="module")
def local_ray(prefect_server: LiveServer) -> Iterator[None]:
    """One local Ray instance for the module; its workers inherit the Prefect settings."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as patch:
        # Under `uv run`, Ray would otherwise rebuild this project's environment per worker.
        patch.setenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        # Ray's memory monitor watches the whole machine, which other work shares here: at
        # 95% it kills the task's worker and retries it forever, so the run never ends.
        patch.setenv("RAY_memory_monitor_refresh_ms", "0")
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=128 * 1024**2,
        )
        try:
            yield
        finally:
            ray.shutdown()


@pytest.mark.timeout(120)
def test_ray_runs_tasks_in_ray_worker_processes_and_gathers_results(
    api: Api, local_ray: None
) -> None:
    state = ray_fan_out(count=4, return_state=True)

    assert state.is_completed(), state
    report = state.result()
    assert report["flow_pid"] == os.getpid()
    assert [p["square"] for p in report["placements"]] == [0, 1, 4, 9]
    assert all(p["pid"] != os.getpid() for p in report["placements"]), report
    task_runs = api.task_runs(_flow_run_id(state))
    assert len(task_runs) == 4 and all(run.state_name == "Completed" for run in task_runs)
