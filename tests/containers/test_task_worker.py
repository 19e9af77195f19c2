"""A task worker as the platform runs it: the flows image cloning the repository and serving.

`taskWorkers` become Deployments (Kubernetes) or containers (Docker) running
`serve_script(...)` in the flows image (infra/components/task_worker.py). This runs that script
in the flows image for real, as the Kubernetes pod runs it (user 1000, read-only root file
system, /tmp writable): it clones a git repository holding a task module and serves the task;
`task.delay()` here is run there, parameters and result through the S3 server.
"""

from __future__ import annotations

import importlib.util
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from prefect.settings import (
    PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK,
    PREFECT_RESULTS_PERSIST_BY_DEFAULT,
    PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK,
    temporary_settings,
)
from prefect_aws import S3Bucket

from infra.components.task_worker import TaskSource, TaskWorkerConfig, docker_envs, serve_script
from tests.harness.docker_engine import TEST_LABEL, DockerEngine, FlowsImage
from tests.harness.git_remote import create_git_remote
from tests.harness.live_server import LiveServer
from tests.harness.s3 import S3Server

pytestmark = pytest.mark.timeout(900)

TASKS = '''
import os

from prefect import task


@task
def shipped(order_id: int) -> dict:
    """Runs in the task worker: says where it ran."""
    return {"order_id": order_id, "in_flows_image": os.path.isdir("/opt/prefect-platform")}
'''


def test_a_task_worker_clones_the_repository_and_runs_delayed_tasks(
    docker_engine: DockerEngine,
    flows_image: FlowsImage,
    prefect_server: LiveServer,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    tree = tmp_path / "tree"
    (tree / "background").mkdir(parents=True)
    (tree / "background" / "orders.py").write_text(TASKS)
    remote = create_git_remote(tmp_path / "git", name="platform")
    remote.push_tree(tree, "a task module")
    # Owned by the container's user: git refuses to read another user's repository locally
    # (a real remote is https, where this does not apply).
    subprocess.run(["chown", "-R", "1000:1000", str(remote.bare)], check=True)
    block = f"tasks-{uuid.uuid4().hex[:8]}"
    S3Bucket(
        bucket_name=s3_server.bucket, credentials=s3_server.minio_credentials(), bucket_folder=block
    ).save(block)

    worker = TaskWorkerConfig(name="orders", entrypoints=["background/orders.py:shipped"])
    source = TaskSource(remote.url, "main")
    env = {
        **docker_envs(source, prefect_server.api_url, prefect_server.auth_string),
        # The harness's own block instead of the stack's `s3-bucket/results`.
        "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": f"s3-bucket/{block}",
        "PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK": f"s3-bucket/{block}",
    }
    client = docker_engine.client()
    container = client.containers.run(
        flows_image.tag,
        ["/bin/sh", "-c", serve_script(worker)],
        detach=True,
        network_mode="host",
        environment=env,
        user="1000:1000",
        read_only=True,
        tmpfs={"/tmp": ""},
        volumes=[f"{remote.bare}:{remote.bare}:ro"],
        labels={TEST_LABEL: "task-worker"},
    )
    try:
        deadline = time.monotonic() + 120
        while "Subscribing to runs of task(s)" not in container.logs().decode():
            container.reload()
            assert container.status == "running", container.logs().decode()[-3000:]
            assert time.monotonic() < deadline, container.logs().decode()[-3000:]
            time.sleep(1)
        spec = importlib.util.spec_from_file_location("orders", tree / "background" / "orders.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with temporary_settings(
            {
                PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK: f"s3-bucket/{block}",
                PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: f"s3-bucket/{block}",
                PREFECT_RESULTS_PERSIST_BY_DEFAULT: True,
            }
        ):
            result = module.shipped.delay(41).result(timeout=120)

        assert result == {"order_id": 41, "in_flows_image": True}
        assert prefect_server.auth_string not in container.logs().decode()
    finally:
        container.remove(force=True)
        client.close()
