"""The harness end to end: auth, S3 result storage, and a git deployment run by a worker."""

from __future__ import annotations

import textwrap
import uuid
from typing import Any, cast

import httpx
from prefect import Flow, flow, task
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.runner.storage import GitRepository
from prefect_aws import S3Bucket

from tests.conftest import WorkerFactory
from tests.harness.api import Api
from tests.harness.git_remote import GitRemote
from tests.harness.live_server import LiveServer
from tests.harness.s3 import S3Server


def test_api_refuses_a_client_without_the_auth_string(prefect_server: LiveServer) -> None:
    health = httpx.get(f"{prefect_server.api_url}/health")
    anonymous = httpx.post(f"{prefect_server.api_url}/flows/filter", json={})
    wrong = httpx.post(f"{prefect_server.api_url}/flows/filter", json={}, auth=("admin", "nope"))
    authed = httpx.post(f"{prefect_server.api_url}/flows/filter", json={}, auth=prefect_server.auth)

    assert health.status_code == 200
    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert authed.status_code == 200


def test_flow_result_lands_in_the_s3_bucket(
    prefect_server: LiveServer, s3_server: S3Server
) -> None:
    credentials = s3_server.minio_credentials()
    bucket = S3Bucket(bucket_name=s3_server.bucket, credentials=credentials, bucket_folder="smoke")
    bucket.save("smoke-results", overwrite=True)
    key = f"square-{uuid.uuid4().hex}"

    @task(
        persist_result=True,
        result_storage=bucket,
        result_storage_key=key,
        result_serializer="json",
    )
    def square(x: int) -> int:
        return x * x

    @flow
    def smoke(x: int) -> int:
        return square(x)

    assert smoke(7) == 49
    assert f"smoke/{key}" in s3_server.keys("smoke/")
    stored = s3_server.client().get_object(Bucket=s3_server.bucket, Key=f"smoke/{key}")
    assert b"49" in stored["Body"].read()


FLOW_SOURCE = textwrap.dedent(
    """
    from prefect import flow

    @flow(log_prints=True)
    def hello(name: str = "world") -> str:
        print(f"hello {name}")
        return f"hello {name}"
    """
)


def test_git_deployment_is_run_by_a_worker(
    git_remote: GitRemote, process_worker: WorkerFactory, api: Api
) -> None:
    git_remote.push_files({"hello.py": FLOW_SOURCE}, "add hello flow")
    pool = f"smoke-{uuid.uuid4().hex[:8]}"
    source = GitRepository(url=git_remote.url, branch=git_remote.branch)

    with process_worker(pool):  # the worker creates its pool
        # from_source, deploy and run_deployment are sync_compatible: called from sync code
        # they return the value itself, not a coroutine.
        hello = cast("Flow[..., Any]", flow.from_source(source, "hello.py:hello"))
        deployment_id = cast(
            uuid.UUID,
            hello.deploy(
                name="smoke", work_pool_name=pool, build=False, push=False, print_next_steps=False
            ),
        )
        run = cast(FlowRun, run_deployment(deployment_id, parameters={"name": "git"}, timeout=90))
        assert run.state is not None and run.state.is_completed(), run.state
        # The run's process ships its logs as it exits: read them before the worker stops.
        api.wait_for_log(run.id, "hello git")
