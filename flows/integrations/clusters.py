"""Beyond one process: prefect-dask's `DaskTaskRunner` and prefect-ray's `RayTaskRunner`.

Demonstrates: the same fan-out of tasks on a Dask cluster and on Ray; each task records the
process id and host it ran in, so the flow's result (and its `task-placements` table
artifact) shows the work left the flow's process and was gathered back. The Dask runner a
deployment gets comes from its environment: the scheduler at `PLATFORM_DASK_ADDRESS` (the
stack's Dask cluster, set as an `env` job variable; see docs/integrations.md) or, without
it, a temporary local cluster of two worker processes. A scheduler that does not answer
fails the run within `DASK_CONNECT_TIMEOUT_S` with `DaskSchedulerUnreachable`, naming the
address. Ray: `PLATFORM_RAY_ADDRESS` (`ray://<head>:10001`) or a local Ray instance.

Run it:
    python -m flows.integrations.clusters          # local Dask cluster, then local Ray
    PLATFORM_DASK_ADDRESS=tcp://127.0.0.1:8786 python -m flows.integrations.clusters
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any, cast

import cloudpickle  # type: ignore[import-untyped]
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.context import FlowRunContext
from prefect.task_runners import TaskRunner
from prefect_dask.task_runners import DaskTaskRunner
from prefect_ray import RayTaskRunner  # type: ignore[import-untyped]
from typing_extensions import TypedDict

DASK_ADDRESS_ENV = "PLATFORM_DASK_ADDRESS"
"""The Dask scheduler a run uses (`tcp://host:8786`); set by a deployment's job variables."""

RAY_ADDRESS_ENV = "PLATFORM_RAY_ADDRESS"
"""The Ray cluster a run uses (`ray://host:10001`); unset: a local Ray instance."""

DASK_CONNECT_TIMEOUT_S = 10
"""How long the first connection to a Dask scheduler may take before the run fails."""


class Placement(TypedDict):
    """Where one task ran, and what it computed."""

    index: int
    square: int
    pid: int
    host: str


class FanOutReport(TypedDict):
    """The flow's own process and every task's placement, in input order."""

    flow_pid: int
    flow_host: str
    placements: list[Placement]


class DaskSchedulerUnreachable(RuntimeError):
    """No Dask scheduler answered at the address the run was given."""


@task
def locate(index: int) -> Placement:
    """Square `index`, and say which process on which host did it."""
    return {
        "index": index,
        "square": index * index,
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }


def _fan_out(count: int) -> FanOutReport:
    try:
        futures = locate.map(range(count))
    except OSError as exc:  # distributed's "Timed out trying to connect to ..."
        context = FlowRunContext.get()
        address = getattr(context.task_runner, "address", None) if context else None
        raise DaskSchedulerUnreachable(
            f"no Dask scheduler answered at {address} ({DASK_ADDRESS_ENV}): {exc}"
        ) from None
    placements = futures.result()
    pids = sorted({placement["pid"] for placement in placements})
    get_run_logger().info("flow process %d; tasks ran in processes %s", os.getpid(), pids)
    create_table_artifact(
        key="task-placements",
        table=[dict(placement) for placement in placements],
        description=f"flow process {os.getpid()} on {socket.gethostname()}",
    )
    return {"flow_pid": os.getpid(), "flow_host": socket.gethostname(), "placements": placements}


def dask_task_runner(
    address: str | None = None, connect_timeout_s: float = DASK_CONNECT_TIMEOUT_S
) -> DaskTaskRunner:
    """The scheduler at `address` or `$PLATFORM_DASK_ADDRESS`, else a local cluster.

    A scheduler that does not answer within `connect_timeout_s` fails the run. The local
    cluster (created per flow run, closed after it) has two worker processes of one thread
    each, so tasks run outside the flow's process even on a laptop.
    """
    address = address or os.environ.get(DASK_ADDRESS_ENV) or None
    if address:
        # A long-lived cluster's workers do not have this repository's code (runs clone it):
        # send this module's functions by value rather than by import path.
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        return DaskTaskRunner(address=address, client_kwargs={"timeout": connect_timeout_s})
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": 2,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )


def ray_task_runner(address: str | None = None) -> RayTaskRunner:
    """The Ray cluster at `address` or `$PLATFORM_RAY_ADDRESS`, else a local Ray instance."""
    address = address or os.environ.get(RAY_ADDRESS_ENV) or None
    if address:
        return RayTaskRunner(address=address)
    return RayTaskRunner(init_kwargs={"num_cpus": 2, "include_dashboard": False})


@flow(name="dask-fan-out", task_runner=cast("TaskRunner[Any]", dask_task_runner()))
def dask_fan_out(count: int = 4) -> FanOutReport:
    """Square `count` numbers on Dask workers; report where each ran."""
    return _fan_out(count)


@flow(name="ray-fan-out", task_runner=ray_task_runner())
def ray_fan_out(count: int = 4) -> FanOutReport:
    """Square `count` numbers on Ray workers; report where each ran."""
    return _fan_out(count)


if __name__ == "__main__":
    print(dask_fan_out())
    print(ray_fan_out())
