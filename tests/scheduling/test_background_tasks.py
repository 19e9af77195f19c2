"""Background tasks: `task.delay()` here, served by `prefect task serve` in another process.

The task worker is a real separate process (`prefect task serve file.py:task`), as a platform
component would run it. The task's parameters and its result travel through the object store
(an `S3Bucket` block on the harness's S3 server, named by the task scheduling and result
settings in both processes), so submitter and task worker share nothing but the API and S3.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from prefect.settings import (
    PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK,
    PREFECT_RESULTS_PERSIST_BY_DEFAULT,
    PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK,
    temporary_settings,
)
from prefect_aws import S3Bucket

from tests.harness.api import Api, unique
from tests.harness.live_server import LiveServer
from tests.harness.processes import ManagedProcess
from tests.harness.s3 import S3Server

TASKS = '''
import os

from prefect import task


@task
def enrich(order_id: int, amount: float) -> dict:
    """Work a web request hands off: runs wherever a task worker serves it."""
    return {"order_id": order_id, "amount_with_tax": round(amount * 1.2, 2), "pid": os.getpid()}
'''


def _load(path: Path) -> ModuleType:
    """Import the task module from `path` (the same file the task worker serves)."""
    spec = importlib.util.spec_from_file_location("background_tasks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def storage(s3_server: S3Server) -> tuple[str, str]:
    """An `s3-bucket` block (its own folder) for parameters and results: (block, folder)."""
    block, folder = unique("background"), unique("background")
    S3Bucket(
        bucket_name=s3_server.bucket,
        credentials=s3_server.minio_credentials(),
        bucket_folder=folder,
    ).save(block)
    return f"s3-bucket/{block}", folder


@pytest.fixture
def task_worker(
    prefect_server: LiveServer, storage: tuple[str, str], tmp_path: Path
) -> Iterator[tuple[ManagedProcess, ModuleType]]:
    """`prefect task serve tasks.py:enrich` in its own process; the module, loaded here too."""
    (tmp_path / "tasks.py").write_text(TASKS)
    settings = {
        "PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK": storage[0],
        "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": storage[0],
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
    }
    env = {**os.environ, **prefect_server.client_env(tmp_path / "task-worker-home"), **settings}
    log = tmp_path / "task-worker.log"
    process = ManagedProcess(
        "task-worker",
        [sys.executable, "-m", "prefect", "task", "serve", "tasks.py:enrich"],
        env=env,
        log_path=log,
        cwd=tmp_path,
        stop_signal=signal.SIGTERM,  # the task worker shuts down gracefully on SIGTERM
    )
    try:
        process.wait_until(
            lambda: "Subscribing to runs of task(s)" in log.read_text(), 60, "task worker"
        )
        yield process, _load(tmp_path / "tasks.py")
    finally:
        process.stop(timeout=2)  # graceful shutdown takes ~5 s; nothing is left to finish


def test_delayed_task_is_run_by_a_task_worker_in_another_process(
    task_worker: tuple[ManagedProcess, ModuleType],
    storage: tuple[str, str],
    s3_server: S3Server,
    api: Api,
) -> None:
    process, tasks = task_worker
    with temporary_settings(
        {
            PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK: storage[0],
            PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: storage[0],
            PREFECT_RESULTS_PERSIST_BY_DEFAULT: True,
        }
    ):
        future = tasks.enrich.delay(7, 10.0)
        result = future.result(timeout=60)

    assert result == {"order_id": 7, "amount_with_tax": 12.0, "pid": process.popen.pid}
    task_run = api.client.read_task_run(future.task_run_id)
    assert task_run.state is not None and task_run.state.is_completed()
    assert task_run.flow_run_id is None  # no flow: a background task
    # Parameters went to the task worker, and the result came back, through the bucket.
    keys = s3_server.keys(f"{storage[1]}/")
    assert f"{storage[1]}/{task_run.state.data.storage_key}" in keys
    assert any("parameters" in key for key in keys), keys
