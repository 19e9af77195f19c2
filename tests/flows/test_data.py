"""Results, blocks, secrets, variables and S3 storage, read back through the API (and S3)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from prefect.blocks.system import Secret
from prefect.variables import Variable
from prefect_aws import S3Bucket
from pydantic import SecretStr

from flows.data.blocks import WarehouseConfig, block_config
from flows.data.results import persisted_totals
from flows.data.s3_storage import s3_export
from flows.data.variables import variable_config
from tests.harness.api import Api, unique
from tests.harness.live_server import LiveServer
from tests.harness.s3 import S3Server


def _flow_run_id(state: Any) -> Any:
    return state.state_details.flow_run_id


READ_BACK = """
import json, sys
from prefect.results import ResultStore
record = ResultStore().read(sys.argv[1])
print(json.dumps(record.result))
"""


def test_persisted_result_is_read_back_by_key_in_a_fresh_process(
    api: Api, prefect_server: LiveServer
) -> None:
    day = unique("2026-01-02")
    state = persisted_totals(day=day, amounts=[1, 2, 3], return_state=True)
    key = state.result()

    [task_run] = api.task_runs(_flow_run_id(state))
    assert task_run.state is not None
    assert task_run.state.data.storage_key.endswith(key)  # type: ignore[union-attr]
    fresh = subprocess.run(
        [sys.executable, "-c", READ_BACK, key],
        env={"PATH": "/usr/bin:/bin", **prefect_server.client_env()},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(fresh.stdout.strip().splitlines()[-1]) == {
        "day": day,
        "count": 3,
        "total": 6,
    }


def test_custom_block_and_secret_are_used_but_never_logged(api: Api) -> None:
    password = f"pw-{unique('secret')}"
    signing_key = f"key-{unique('secret')}"
    warehouse, secret = unique("warehouse"), unique("signing-key")
    WarehouseConfig(user="loader", password=SecretStr(password)).save(warehouse)
    Secret(value=signing_key).save(secret)

    state = block_config(warehouse_block=warehouse, secret_block=secret, return_state=True)

    import hashlib
    import hmac

    expected = hmac.new(signing_key.encode(), b"hi", hashlib.sha256).hexdigest()
    messages = api.wait_for_log(_flow_run_id(state), expected)
    assert any("warehouse://loader:***@127.0.0.1" in m for m in messages)
    assert not any(password in m or signing_key in m for m in messages)
    stored = api.client.read_block_document_by_name(
        warehouse, "platform-warehouse-config", include_secrets=False
    )
    assert stored.data["password"] != password and stored.data["user"] == "loader"
    assert (
        api.client.read_block_document_by_name(secret, "secret", include_secrets=False).data[
            "value"
        ]
        != signing_key
    )


def test_variables_are_read_and_written_by_the_flow(api: Api) -> None:
    config, last_run = unique("export-config"), unique("export-last-run")
    Variable.set(config, {"batch_size": 250})

    variable_config(config_variable=config, state_variable=last_run)
    variable_config(config_variable=config, state_variable=last_run)

    stored = api.client.read_variable_by_name(last_run)
    assert stored is not None and stored.value == {"runs": 2, "batch_size": 250}


def test_s3_bucket_block_with_minio_credentials_stores_exports_and_results(
    api: Api, s3_server: S3Server
) -> None:
    credentials = s3_server.minio_credentials()
    folder = unique("flows")
    bucket_block = unique("results")
    credentials.save(unique("object-store"))
    S3Bucket(bucket_name=s3_server.bucket, credentials=credentials, bucket_folder=folder).save(
        bucket_block
    )

    state = s3_export(bucket_block=bucket_block, day="2026-02-03", return_state=True)

    assert api.flow_run(_flow_run_id(state)).state.is_completed()  # type: ignore[union-attr]
    assert set(s3_server.keys(f"{folder}/")) == {
        f"{folder}/exports/2026-02-03.json",
        f"{folder}/results/summary-2026-02-03.json",
    }
    s3 = s3_server.client()
    export = s3.get_object(Bucket=s3_server.bucket, Key=f"{folder}/exports/2026-02-03.json")
    assert json.loads(export["Body"].read())[0] == {"day": "2026-02-03", "region": "n", "orders": 1}
    summary = s3.get_object(
        Bucket=s3_server.bucket, Key=f"{folder}/results/summary-2026-02-03.json"
    )
    assert json.loads(json.loads(summary["Body"].read())["result"]) == {"rows": 2, "orders": 3}
    # The credentials block keeps the secret key out of the API's plain view.
    stored = api.client.read_block_document_by_name(
        bucket_block, "s3-bucket", include_secrets=False
    )
    assert s3_server.secret_key not in json.dumps(stored.model_dump(mode="json"))
