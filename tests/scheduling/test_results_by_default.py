"""Results kept by default: a run of a platform pool persists its result to the object store.

The pool is `pools/process-pool.yaml` as declared (its merged template, under a name of this
test), whose `env` sets `PREFECT_RESULTS_PERSIST_BY_DEFAULT` and names the platform's
`s3-bucket/results` block. The block is created here as the program provisions it (the
harness's S3 server standing in for the stack's object store). The flow has no result
settings in its code; a fresh Python process, with nothing but the API's address, reads the
result back through the run's state, and the test reads the same record from S3 itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.serializers import PickleSerializer
from prefect_aws import S3Bucket

from infra.declarations import load_declarations
from tests.conftest import WorkerFactory
from tests.harness.api import Api, unique
from tests.harness.live_server import LiveServer
from tests.harness.s3 import S3Server
from tests.scheduling.conftest import Runs

REPO_ROOT = Path(__file__).resolve().parents[2]
POOL_FILE = "process-pool"
PLATFORM_BLOCKS = (("minio-credentials", "object-store"), ("s3-bucket", "results"))

READ_BACK = """
import json, sys, uuid
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    state = client.read_flow_run(uuid.UUID(sys.argv[1])).state
print(json.dumps({"storage_key": state.data.storage_key, "result": state.result()}))
"""


@pytest.fixture
def platform_results_block(prefect_server: LiveServer, s3_server: S3Server) -> Iterator[None]:
    """The platform's `minio-credentials/object-store` and `s3-bucket/results` blocks.

    The same fields `infra.prefect_objects.platform_blocks` gives them, on the harness's S3
    server; deleted afterwards (the program's own tests create these names on this server).
    """
    credentials = s3_server.minio_credentials()
    credentials.save("object-store", overwrite=True)
    S3Bucket(bucket_name=s3_server.bucket, credentials=credentials).save("results", overwrite=True)
    try:
        yield
    finally:
        with get_client(sync_client=True) as client:
            for slug, name in reversed(PLATFORM_BLOCKS):
                document = client.read_block_document_by_name(name, slug)
                client.delete_block_document(document.id)


def _create_declared_pool(server: LiveServer, name: str) -> dict[str, Any]:
    """Create pools/process-pool.yaml on the server under `name`; return its template."""
    (pool,) = [p for p in load_declarations(REPO_ROOT).work_pools if p.name == POOL_FILE]
    template = pool.merged_base_job_template()
    body = {
        "name": name,
        "type": pool.type,
        "description": pool.description,
        "concurrency_limit": pool.concurrency_limit,
        "base_job_template": template,
    }
    with httpx.Client(base_url=server.api_url, auth=server.auth, timeout=30) as api:
        api.post("/work_pools/", json=body).raise_for_status()
    return template


def test_a_worker_run_keeps_its_result_in_the_object_store_without_code_changes(
    prefect_server: LiveServer,
    s3_server: S3Server,
    platform_results_block: None,
    process_worker: WorkerFactory,
    runs: Runs,
    api: Api,
) -> None:
    pool, day = unique("results-by-default"), unique("2026-03-04")
    template = _create_declared_pool(prefect_server, pool)
    env = template["variables"]["properties"]["env"]["default"]
    assert env["PREFECT_RESULTS_PERSIST_BY_DEFAULT"] == "true"
    assert env["PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"] == "s3-bucket/results"
    before = set(s3_server.keys())

    with ExitStack() as cleanup:
        cleanup.callback(runs.client.delete_work_pool, pool)
        deployment = runs.deploy("sched-totals", pool, one_process=False)  # as declared
        with process_worker(pool):
            run_id = runs.start(deployment, day=day, amounts=[4, 5, 6])
            (run,) = runs.finish(run_id)

    # A fresh process, with only the API's address and auth, reads the result through the
    # run's state: the record's metadata names the storage block and key.
    fresh = subprocess.run(
        [sys.executable, "-c", READ_BACK, str(run.id)],
        env={"PATH": "/usr/bin:/bin", **prefect_server.client_env(REPO_ROOT / ".no-home")},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    read_back = json.loads(fresh.stdout.strip().splitlines()[-1])
    assert read_back["result"] == {"day": day, "count": 3, "total": 15}

    # The record is in the bucket, new since the run: the flow's result and its task's.
    new_keys = set(s3_server.keys()) - before
    assert read_back["storage_key"] in new_keys, (read_back["storage_key"], new_keys)
    (task_run,) = api.task_runs(run.id)
    assert task_run.state is not None
    assert task_run.state.data.storage_key in new_keys
    # The object holds the serialized value itself (Prefect's pickle serializer, base64), and
    # the run's state names the platform's block as where it lives.
    body = s3_server.client().get_object(Bucket=s3_server.bucket, Key=read_back["storage_key"])
    assert PickleSerializer().loads(body["Body"].read()) == read_back["result"]
    assert run.state is not None
    assert run.state.data.storage_block_id == _block_id("s3-bucket", "results")


def _block_id(slug: str, name: str) -> uuid.UUID:
    """The id of the block document `slug/name`."""
    with get_client(sync_client=True) as client:
        return client.read_block_document_by_name(name, slug).id
