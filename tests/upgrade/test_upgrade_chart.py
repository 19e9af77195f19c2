"""How the prefect-server chart, with each Kubernetes stack's values, migrates at an upgrade.

The release each stack declares is rendered from the pinned chart archive by Helm's engine
(`tests/harness/helm_render.py`): what `pulumi up` installs. With API replicas (`prod`:
separate background services) the chart runs `prefect server database upgrade -y` once, in a
`pre-upgrade` hook Job, and no pod migrates on start; with one pod (`local`, `pr`) that pod
migrates on start. docs/operations.md#upgrades describes both; `test_upgrade_live.py` runs the
first path on a real database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.harness.helm_render import (
    RenderedObject,
    container_env,
    named,
    pod_spec,
    render_release,
)
from tests.harness.mockstack import run_stack, stack_config
from tests.platform.conftest import STACK_SECRETS, example_pools

MIGRATE_ON_START = "PREFECT_SERVER_DATABASE_MIGRATE_ON_START"
JOB = "prefect-server-db-migrations"


def server_release(stack: str, reference: Path) -> tuple[list[RenderedObject], str]:
    """The rendered objects of the stack's prefect-server release, and its image tag (the
    stack's `prefectImageTag`)."""
    run = run_stack(stack, stack_config(stack), STACK_SECRETS.get(stack), example_pools())
    [release] = [r for r in run.helm_releases() if r.inputs["chart"] == "prefect-server"]
    tag = str(release.inputs["values"]["global"]["prefect"]["image"]["prefectTag"])
    return render_release(release.inputs, reference), tag


def container(workload: RenderedObject) -> dict[str, Any]:
    """The workload's one container."""
    [only] = pod_spec(workload)["containers"]
    result: dict[str, Any] = only
    return result


def test_with_api_replicas_one_hook_job_migrates_before_the_new_pods(
    chart_reference: Path,
) -> None:
    objects, tag = server_release("prod", chart_reference)
    job = named(objects, "Job", JOB)
    hooks = job.manifest["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert "pre-upgrade" in hooks and "post-install" in hooks
    migration = container(job)
    assert "prefect server database upgrade -y" in " ".join(migration["args"])
    assert migration["image"].endswith(f":{tag}")

    api = named(objects, "Deployment", "prefect-server")
    # The Job migrates the database the API serves (the same Secret).
    database = "PREFECT_SERVER_DATABASE_CONNECTION_URL"
    job_env, api_env = container_env(job, migration["name"]), container_env(api, "prefect-server")
    assert (
        job_env[database]
        == api_env[database]
        == {"secretKeyRef": {"name": "prefect-server-database", "key": "connection-string"}}
    )
    services = named(objects, "Deployment", "prefect-server-background-services")
    assert api.manifest["spec"]["replicas"] == 3
    for workload in (api, services):
        env = container_env(workload, container(workload)["name"])
        assert env[MIGRATE_ON_START] == "false", workload.source
        assert container(workload)["image"] == migration["image"]
    assert "--no-services" in container(api)["args"]


@pytest.mark.parametrize("stack", ["local", "pr"])
def test_with_one_server_pod_that_pod_migrates_on_start(chart_reference: Path, stack: str) -> None:
    objects, _ = server_release(stack, chart_reference)
    assert not [o for o in objects if o.kind == "Job" and o.name == JOB]
    api = named(objects, "Deployment", "prefect-server")
    assert api.manifest["spec"]["replicas"] == 1
    env = container_env(api, container(api)["name"])
    assert MIGRATE_ON_START not in env  # Prefect's default: migrate on start
    assert api.manifest["spec"]["strategy"]["type"] == "RollingUpdate"
