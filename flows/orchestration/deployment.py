"""`flow.deploy()`: a deployment on a work pool, code pulled from git, run by a worker.

Demonstrates: `flow.from_source(GitRepository(...), entrypoint).deploy(...)` registers a
deployment whose runs clone the repository at run time; a `prefect worker` polling the pool
picks the run up and executes it. The deployed flow is `runtime_info.runtime_report`.

Run it (with a worker polling the pool: `prefect worker start --pool process-pool`):
    python -m flows.orchestration.deployment https://github.com/<org>/<repo>.git main process-pool
"""

import sys
from typing import Any, cast
from uuid import UUID

from prefect import Flow, flow
from prefect.runner.storage import GitRepository

ENTRYPOINT = "flows/orchestration/runtime_info.py:runtime_report"


def deploy_from_git(
    repository: str, branch: str, work_pool: str, name: str = "runtime-from-git"
) -> UUID:
    """Register `runtime_report` from `repository`@`branch` on `work_pool`; return its id."""
    source = GitRepository(url=repository, branch=branch)
    # from_source/deploy dispatch sync/async; called synchronously they return the values.
    remote_flow = cast(Flow[..., Any], flow.from_source(source=source, entrypoint=ENTRYPOINT))
    deployment_id = remote_flow.deploy(
        name=name,
        work_pool_name=work_pool,
        parameters={"label": "deployed"},
        tags=["git"],
        build=False,
        push=False,
        print_next_steps=False,
    )
    return cast(UUID, deployment_id)


if __name__ == "__main__":
    print(deploy_from_git(*sys.argv[1:4]))
