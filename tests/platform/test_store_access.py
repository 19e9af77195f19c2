"""Flow runs get an object-store user limited to the stack's buckets, never the root keys.

Live: SeaweedFS started the way the platform starts it (`store_access.seaweedfs_command` and its
identities file): the flows' keys read and write objects in the stack's bucket and nothing
else. Mocked stacks: the `minio-credentials/object-store` block flows load holds the flows'
keys on every target that runs an object store, and MinIO stacks create that user with a policy
naming only the stack's buckets.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError

from infra.components.store_access import FLOWS_USER, minio_flows_policy, minio_user_script
from infra.platform_types import S3Access
from infra.prefect_objects import platform_blocks
from tests.harness.mockstack import StackRun, unwrap_secrets
from tests.harness.s3 import S3Server, start_s3_server


@pytest.fixture(scope="module")
def limited_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Server, Any]]:
    """A SeaweedFS server with the platform's two users, and a client with the flows' keys."""
    flows_keys = (secrets.token_hex(10), secrets.token_urlsafe(30))
    server = start_s3_server(tmp_path_factory.mktemp("limited-s3"), "stack-results", flows_keys)
    try:
        flows = S3Server(server.endpoint_url, *flows_keys, server.bucket, server.process)
        yield server, flows.client()
    finally:
        server.stop()


def _denied(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return str(raised.value.response["Error"]["Code"])


def test_the_flows_user_reads_and_writes_the_stacks_bucket(
    limited_store: tuple[S3Server, Any],
) -> None:
    _, flows = limited_store
    flows.put_object(Bucket="stack-results", Key="results/a.json", Body=b"{}")
    assert flows.get_object(Bucket="stack-results", Key="results/a.json")["Body"].read() == b"{}"
    listed = flows.list_objects_v2(Bucket="stack-results")["Contents"]
    assert [item["Key"] for item in listed] == ["results/a.json"]
    flows.delete_object(Bucket="stack-results", Key="results/a.json")


def test_the_flows_user_cannot_reach_another_bucket_or_administer(
    limited_store: tuple[S3Server, Any],
) -> None:
    server, flows = limited_store
    root = server.client()
    root.create_bucket(Bucket="other-team")
    root.put_object(Bucket="other-team", Key="private.txt", Body=b"not yours")

    assert _denied(flows.get_object, Bucket="other-team", Key="private.txt") == "AccessDenied"
    assert _denied(flows.list_objects_v2, Bucket="other-team") == "AccessDenied"
    assert _denied(flows.put_object, Bucket="other-team", Key="x", Body=b"x") == "AccessDenied"
    assert _denied(flows.create_bucket, Bucket="flows-made-this") == "AccessDenied"
    assert _denied(flows.delete_bucket, Bucket="stack-results") == "AccessDenied"
    assert root.get_object(Bucket="other-team", Key="private.txt")["Body"].read() == b"not yours"


def test_flow_runs_blocks_hold_the_flows_keys_not_the_root_keys(
    stack_runs: dict[str, StackRun],
) -> None:
    for stack in ("local", "prod", "docker"):
        platform = stack_runs[stack].platform
        s3: S3Access = platform.s3
        assert s3.flows_access_key is not None, stack
        credentials = platform_blocks(s3, None)[0]
        assert (credentials.block_type_slug, credentials.name) == (
            "minio-credentials",
            "object-store",
        )
        data = cast(dict[str, Any], credentials.data)
        assert data["minio_root_user"] is s3.flows_access_key, stack
        assert data["minio_root_password"] is s3.flows_secret_key, stack


def test_minio_stacks_create_the_flows_user_with_a_policy_on_their_buckets_only(
    stack_runs: dict[str, StackRun],
) -> None:
    run = stack_runs["local"]
    (job,) = [
        m for m in run.kubernetes_manifests() if m["metadata"]["name"] == "object-store-flows-user"
    ]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    script = container["command"][-1]
    assert script == minio_user_script(("prefect-results", "prefect-flows"))
    env = {item["name"]: item for item in container["env"]}
    assert env["FLOWS_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "flows-secret-key"
    policy = minio_flows_policy(("prefect-results", "prefect-flows"))
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert resources == {
        "arn:aws:s3:::prefect-results",
        "arn:aws:s3:::prefect-flows",
        "arn:aws:s3:::prefect-results/*",
        "arn:aws:s3:::prefect-flows/*",
    }
    assert json.dumps(policy) in script and FLOWS_USER in script
    docker_jobs = [c for c in stack_runs["docker"].resources if c.name.endswith("-flows-user")]
    assert len(docker_jobs) == 1


def test_the_minio_user_script_is_clean_shell(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (Debian package; .ci/run installs it)")
    script = tmp_path / "flows-user.sh"
    script.write_text("#!/bin/sh\n" + minio_user_script(("prefect-results",)))
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_seaweedfs_stacks_give_the_server_both_identities_from_a_secret(
    stack_runs: dict[str, StackRun],
) -> None:
    manifests = stack_runs["pr"].kubernetes_manifests()
    (secret,) = [m for m in manifests if m["metadata"]["name"] == "object-store-credentials"]
    identities = json.loads(unwrap_secrets(secret["stringData"])["s3-config"])["identities"]
    assert [identity["name"] for identity in identities] == ["admin", FLOWS_USER]
    assert identities[1]["actions"] == [
        "Read:prefect-results",
        "Write:prefect-results",
        "List:prefect-results",
        "Tagging:prefect-results",
    ]
    (server,) = [
        m
        for m in manifests
        if m["kind"] == "Deployment" and m["metadata"]["name"] == "object-store"
    ]
    (container,) = server["spec"]["template"]["spec"]["containers"]
    assert [e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]] == ["s3-config"]
