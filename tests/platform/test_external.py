"""The `external` target against a live Prefect server (from tests/conftest.py) and live S3.

The stack declares nothing; its Platform (what the Prefect-objects step uses) must be enough to
talk to the real server: the API URL and the secret auth string authenticate a real request, and
the S3 settings reach the real bucket.
"""

from __future__ import annotations

import base64

import boto3
import httpx

from tests.harness.live_server import LiveServer
from tests.harness.mockstack import run_stack
from tests.harness.s3 import S3Server


def test_external_target_declares_nothing_and_reaches_the_live_server(
    prefect_server: LiveServer, s3_server: S3Server
) -> None:
    config = {
        "target": "external",
        "apiUrl": prefect_server.api_url,
        "externalObjectStore": {
            "endpointUrl": s3_server.endpoint_url,
            "buckets": [s3_server.bucket],
        },
    }
    secrets = {
        "authString": prefect_server.auth_string,
        "s3AccessKey": s3_server.access_key,
        "s3SecretKey": s3_server.secret_key,
    }
    run = run_stack("external", config, secrets, None)
    assert run.resources == []
    outputs = run.stack_outputs_raw
    assert outputs["apiUrl"] == prefect_server.api_url
    secret_marker = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
    assert outputs["authString"].items() >= secret_marker.items()
    assert outputs["s3AccessKey"].items() >= secret_marker.items()

    api_url = outputs["apiUrl"]
    token = base64.b64encode(outputs["authString"]["value"].encode()).decode()
    with httpx.Client(timeout=30) as client:
        ok = client.post(
            f"{api_url}/work_pools/filter", json={}, headers={"Authorization": f"Basic {token}"}
        )
        assert ok.status_code == 200, ok.text
        denied = client.post(f"{api_url}/work_pools/filter", json={})
        assert denied.status_code == 401

    s3 = s3_server.client()
    s3_config = run.platform.s3
    assert s3_config.buckets == [s3_server.bucket]
    key = "platform-test/external.txt"
    s3.put_object(Bucket=s3_config.results_bucket, Key=key, Body=b"reached")
    from_outputs = boto3.client(
        "s3",
        endpoint_url=outputs["s3Endpoint"],
        aws_access_key_id=outputs["s3AccessKey"]["value"],
        aws_secret_access_key=outputs["s3SecretKey"]["value"],
        region_name="us-east-1",
    )
    body = from_outputs.get_object(Bucket=s3_config.results_bucket, Key=key)["Body"].read()
    assert body == b"reached"
