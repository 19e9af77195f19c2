"""Fill a Prefect server with objects and run history, and read it all back as JSON.

Runs as its own process (``python -m tests.backup.server_content populate|snapshot``) with a
client environment of the server under test, so this test process's Prefect settings stay
pointed at nothing in particular.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.variables import Variable

POOL = "backup-pool"
DEPLOYMENT = "backup-deployment"
VARIABLE = "backup_variable"
SECRET_BLOCK = "backup-secret"
SECRET_VALUE = "restored-secret-value-7f3a"
ARTIFACT = "backup-report"
RUNS = 4
"""Flow runs made by `populate` (the last one fails), plus one scheduled by the deployment."""


@flow(name="backup-demo")
def demo(n: int) -> int:
    """A flow run with a log line, an artifact for run 0, and a failure for the last run."""
    get_run_logger().info("backup demo run %s", n)
    if n == 0:
        create_markdown_artifact(key=ARTIFACT, markdown="# rows: 42", description="backup test")
    if n == RUNS - 1:
        raise ValueError("the last run fails on purpose")
    return n


def populate() -> None:
    """A work pool, a deployment with a scheduled run, a variable, a block, flow runs."""
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
        flow_id = client.create_flow(demo)
        deployment_id = client.create_deployment(
            flow_id=flow_id,
            name=DEPLOYMENT,
            work_pool_name=POOL,
            entrypoint="tests/backup/server_content.py:demo",
            parameters={"n": 7},
        )
        client.create_flow_run_from_deployment(deployment_id, name="scheduled-by-deployment")
    Variable.set(VARIABLE, {"rows": 42, "source": "backup test"})
    Secret(value=SECRET_VALUE).save(SECRET_BLOCK)
    for n in range(RUNS):
        demo(n, return_state=True)


def snapshot() -> dict[str, Any]:
    """Everything `populate` made, as the API returns it (ids included)."""
    with get_client(sync_client=True) as client:
        runs = sorted(client.read_flow_runs(), key=lambda run: str(run.id))
        logs = client.read_logs(
            LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id for run in runs]))
        )
        deployments = client.read_deployments()
        return {
            "work_pools": sorted(pool.name for pool in client.read_work_pools()),
            "deployments": sorted(
                [d.name, d.work_pool_name, d.parameters, str(d.id)] for d in deployments
            ),
            "variables": {v.name: v.value for v in client.read_variables()},
            "blocks": sorted(
                [doc.name, doc.block_type.slug if doc.block_type else None, str(doc.id)]
                for doc in client.read_block_documents()
                if not doc.is_anonymous
            ),
            "secret": Secret.load(SECRET_BLOCK).get(),  # type: ignore[union-attr]
            "flow_runs": [
                {
                    "id": str(run.id),
                    "name": run.name,
                    "state": run.state_type.value if run.state_type else None,
                    "parameters": run.parameters,
                    "states": [state.type.value for state in client.read_flow_run_states(run.id)],
                }
                for run in runs
            ],
            "logs": sorted(
                [str(log.flow_run_id), log.message]
                for log in logs
                if "backup demo run" in log.message
            ),
            "artifacts": sorted(
                [str(a.key), str(a.type), str(a.data), str(a.flow_run_id)]
                for a in client.read_artifacts()
            ),
        }


if __name__ == "__main__":
    if sys.argv[1:] == ["populate"]:
        populate()
    elif sys.argv[1:] == ["snapshot"]:
        print(json.dumps(snapshot(), sort_keys=True, default=str))
    else:
        raise SystemExit("usage: python -m tests.backup.server_content populate|snapshot")
