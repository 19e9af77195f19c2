"""Behaviour particular to one kind: name references, default queues, nested blocks,
schedules, validation without I/O, and the Pulumi resource wrapper."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import httpx
import pulumi
import pytest

from infra.contracts import VariableInputs, WorkPoolInputs
from infra.providers import (
    AutomationProvider,
    BlockDocumentProvider,
    DeploymentProvider,
    GlobalConcurrencyLimitProvider,
    Variable,
    WorkPool,
    WorkQueueProvider,
)
from infra.providers.client import Connection, PrefectApiError, PrefectProviderError, prefect_api
from tests.harness.live_server import DATABASE_URL_ENV, start_prefect_server
from tests.harness.processes import free_port
from tests.harness.s3 import S3Server

from .cases import AUTOMATION, DEPLOYMENT


def test_automation_actions_resolve_names_to_ids(
    connection: Connection, api: httpx.Client, unique: str, pool: str
) -> None:
    provider = AutomationProvider(connection)
    declaration = AUTOMATION.declare(unique, pool)
    created = provider.create({**declaration, "connection": connection})
    try:
        on_server = api.get(f"/automations/{created.id}").json()
        pool_id = api.get(f"/work_pools/{pool}").json()["id"]
        assert on_server["actions"][0]["work_pool_id"] == pool_id
        assert provider.read(created.id, created.outs or {}).outs == created.outs
    finally:
        provider.delete(created.id, created.outs or {})


def test_automation_rename_is_in_place(
    connection: Connection, api: httpx.Client, unique: str, pool: str
) -> None:
    provider = AutomationProvider(connection)
    inputs = {**AUTOMATION.declare(unique, pool), "connection": connection}
    created = provider.create(inputs)
    renamed = {**inputs, "name": f"renamed-{unique}"}
    try:
        diff = provider.diff(created.id, created.outs or {}, renamed)
        assert diff.changes is True and diff.replaces == []
        provider.update(created.id, created.outs or {}, renamed)
        assert api.get(f"/automations/{created.id}").json()["name"] == f"renamed-{unique}"
    finally:
        provider.delete(created.id, created.outs or {})


def test_automation_naming_a_missing_deployment_fails_and_creates_nothing(
    connection: Connection, api: httpx.Client, unique: str, pool: str
) -> None:
    declaration = {
        **AUTOMATION.declare(unique, pool),
        "actions": [{"type": "run-deployment", "source": "selected", "deployment": "no/such"}],
    }
    with pytest.raises(PrefectProviderError, match="names deployment 'no/such', which does not"):
        AutomationProvider(connection).create({**declaration, "connection": connection})
    found = api.post(
        "/automations/filter", json={"automations": {"name": {"any_": [declaration["name"]]}}}
    )
    assert found.json() == []


def test_automation_drift_in_a_referenced_object_shows(
    connection: Connection, api: httpx.Client, unique: str, pool: str
) -> None:
    provider = AutomationProvider(connection)
    inputs = {**AUTOMATION.declare(unique, pool), "connection": connection}
    created = provider.create(inputs)
    try:
        other = f"other-pool-{unique}"
        other_id = api.post("/work_pools/", json={"name": other, "type": "process"}).json()["id"]
        body = {**api.get(f"/automations/{created.id}").json()}
        body["actions"][0]["work_pool_id"] = other_id
        keep = ("name", "description", "enabled", "trigger", "actions")
        api.put(f"/automations/{created.id}", json={k: body[k] for k in keep}).raise_for_status()

        read = provider.read(created.id, created.outs or {}).outs or {}
        assert read["actions"][0]["work_pool"] == other
        assert provider.diff(created.id, read, inputs).changes is True
    finally:
        provider.delete(created.id, created.outs or {})
        api.delete(f"/work_pools/{other}")


def test_default_queue_is_updated_in_place_and_reset_on_delete(
    connection: Connection, api: httpx.Client, pool: str
) -> None:
    provider = WorkQueueProvider(connection)
    path = f"/work_pools/{pool}/queues/default"
    before = api.get(path).json()
    inputs = {
        "pool": pool,
        "name": "default",
        "description": "declared default",
        "priority": 1,
        "concurrency_limit": 4,
        "paused": False,
        "connection": connection,
    }
    created = provider.create(inputs)
    assert created.id == before["id"]
    assert api.get(path).json()["concurrency_limit"] == 4

    provider.delete(created.id, created.outs or {})

    after = api.get(path).json()
    assert after["id"] == before["id"]
    assert (after["concurrency_limit"], after["description"]) == (None, before["description"])


def test_block_reference_is_resolved_and_data_stays_out_of_state(
    connection: Connection, api: httpx.Client, unique: str, s3_server: S3Server
) -> None:
    provider = BlockDocumentProvider(connection)
    credentials = {
        "name": f"minio-{unique}",
        "block_type_slug": "minio-credentials",
        "data": {
            "minio_root_user": s3_server.access_key,
            "minio_root_password": s3_server.secret_key,
            "region_name": "us-east-1",
            "aws_client_parameters": {"endpoint_url": s3_server.endpoint_url},
        },
        "connection": connection,
    }
    bucket = {
        "name": f"results-{unique}",
        "block_type_slug": "s3-bucket",
        "data": {
            "bucket_name": s3_server.bucket,
            "credentials": {
                "$ref": {
                    "block_document_name": f"minio-{unique}",
                    "block_type_slug": "minio-credentials",
                }
            },
        },
        "connection": connection,
    }
    made = [provider.create(credentials)]
    made.append(provider.create(bucket))
    try:
        assert s3_server.secret_key not in str(made[0].outs)
        document = api.get(f"/block_documents/{made[1].id}").json()
        referenced = document["block_document_references"]["credentials"]["block_document"]
        assert referenced["id"] == made[0].id
        assert provider.read(made[1].id, made[1].outs or {}).outs == made[1].outs

        from prefect_aws import MinIOCredentials, S3Bucket

        loaded = cast(S3Bucket, S3Bucket.load(f"results-{unique}"))
        assert isinstance(loaded.credentials, MinIOCredentials)
        assert loaded.credentials.minio_root_password.get_secret_value() == s3_server.secret_key
    finally:
        for result in reversed(made):
            provider.delete(result.id, result.outs or {})


def test_deployment_schedule_change_is_in_place_and_unchanged_schedules_are_not_sent(
    connection: Connection, api: httpx.Client, unique: str, pool: str
) -> None:
    provider = DeploymentProvider(connection)
    inputs = {**DEPLOYMENT.declare(unique, pool), "connection": connection}
    created = provider.create(inputs)
    try:
        schedule_ids = {s["id"] for s in api.get(f"/deployments/{created.id}").json()["schedules"]}
        retagged = {**inputs, "tags": ["other"]}
        provider.update(created.id, created.outs or {}, retagged)
        after_tags = api.get(f"/deployments/{created.id}").json()
        assert {s["id"] for s in after_tags["schedules"]} == schedule_ids

        new_schedules: list[dict[str, Any]] = [
            {**inputs["schedules"][0], "schedule": {"cron": "30 4 * * *", "timezone": "UTC"}}
        ]
        rescheduled = {**retagged, "schedules": new_schedules}
        outs = provider.outs(provider.canonical(retagged))
        assert provider.diff(created.id, outs, rescheduled).replaces == []
        provider.update(created.id, outs, rescheduled)
        schedules = api.get(f"/deployments/{created.id}").json()["schedules"]
        assert [s["schedule"]["cron"] for s in schedules] == ["30 4 * * *"]
    finally:
        provider.delete(created.id, created.outs or {})


def test_check_reports_bad_inputs_without_any_io() -> None:
    nowhere = Connection(api_url=f"http://127.0.0.1:{free_port()}/api", auth_string=None)
    provider = GlobalConcurrencyLimitProvider(nowhere)
    complete = {"active": True, "slot_decay_per_second": 0.0}
    news = {"name": "x", "limit": -1, "colour": "red", "connection": nowhere, **complete}

    failures = provider.check({}, news).failures

    assert {f.property for f in failures} == {"limit", "colour"}
    assert all("global concurrency limit 'x'" in f.reason for f in failures)
    bad_connection = {"name": "x", "limit": 1, "connection": {"api_url": "ftp://x"}, **complete}
    assert [f.property for f in provider.check({}, bad_connection).failures] == ["connection"]


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


_MOCKS = _Mocks()


@pytest.fixture
def pulumi_mocks() -> _Mocks:
    """Pulumi's engine mocked: resources are recorded, nothing is applied."""
    _MOCKS.resources.clear()
    pulumi.runtime.set_mocks(_MOCKS, preview=False)
    return _MOCKS


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_resource_class_has_a_prefect_type_and_carries_a_provider_version(
    pulumi_mocks: _Mocks,
) -> Any:
    connection = pulumi.Output.secret(Connection(api_url="http://prefect/api", auth_string="a:b"))

    inputs = WorkPoolInputs(
        name="etl",
        type="process",
        description=None,
        concurrency_limit=None,
        paused=False,
        base_job_template={},
    )
    pool = WorkPool("etl", inputs, connection)

    def check(_: Any) -> None:
        (registered,) = pulumi_mocks.resources
        assert registered.typ == "pulumi-python:dynamic/prefect:WorkPool"
        assert registered.inputs["provider_version"] == "1"
        assert registered.inputs["name"] == "etl"
        assert "__provider" in registered.inputs

    return pool.urn.apply(check)


def test_deployment_of_a_flow_deleted_since_the_last_apply_is_created(
    connection: Connection, api: httpx.Client, unique: str, pool: str
) -> None:
    provider = DeploymentProvider(connection)
    inputs = {**DEPLOYMENT.declare(unique, pool), "flow_name": f"flow-{unique}"}
    first = provider.create({**inputs, "connection": connection})
    flow_id = api.get(f"/deployments/{first.id}").json()["flow_id"]
    api.delete(f"/flows/{flow_id}").raise_for_status()  # takes its deployments with it

    again = provider.create({**inputs, "connection": connection})
    try:
        found = api.get(f"/deployments/name/flow-{unique}/{inputs['name']}").json()
        assert found["id"] == again.id
        assert found["flow_id"] != flow_id
    finally:
        provider.delete(again.id, again.outs or {})


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_a_program_can_declare_many_hundreds_of_dynamic_resources(pulumi_mocks: _Mocks) -> Any:
    """Pulumi's provider serialization nests a pickle wrapper per resource unless undone."""
    import pickle

    connection = pulumi.Output.secret(Connection(api_url="http://prefect/api", auth_string="a:b"))
    before = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]

    variables = [
        Variable(f"v{index}", VariableInputs(name=f"v{index}", value=index, tags=[]), connection)
        for index in range(600)
    ]

    assert pickle._Pickler._batch_setitems is before  # type: ignore[attr-defined]
    return pulumi.Output.all(*(variable.urn for variable in variables)).apply(
        lambda urns: None if len(set(urns)) == 600 else pytest.fail("lost a resource")
    )


def test_an_api_error_names_the_field_but_never_echoes_the_request_body(
    connection: Connection,
) -> None:
    """Prefect's 422 echoes the whole request (`request_body`) and each bad field's `input`."""
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    body = {
        "name": "redaction-check",
        "data": {"value": secret},
        "block_schema_id": secret,  # not a UUID: refused with this value as the `input`
        "block_type_id": str(uuid.uuid4()),
    }
    with (
        prefect_api(connection, "block document 'redaction-check'") as api,
        pytest.raises(PrefectApiError) as raised,
    ):
        api.call("POST", "/block_documents/", json=body)

    message = str(raised.value)
    assert raised.value.status_code == 422
    assert "block_schema_id" in message and "block document 'redaction-check'" in message
    assert secret not in message


def test_the_first_block_documents_of_a_fresh_server_are_created_together(
    tmp_path: Path,
) -> None:
    """`pulumi up` creates the platform's blocks at once; a fresh server makes its encryption
    key with the first one, and on PostgreSQL concurrent first documents race for it (409).

    The race needs PostgreSQL (the suite's second pass, `make test-postgres`): SQLite
    serializes the writes, so there this shows only that concurrent creates work.
    """
    server = start_prefect_server(tmp_path / "fresh", os.environ.get(DATABASE_URL_ENV))
    try:
        connection = Connection(api_url=server.api_url, auth_string=server.auth_string)
        provider = BlockDocumentProvider(connection)

        def create(index: int) -> str:
            inputs = {
                "name": f"first-{index}",
                "block_type_slug": "secret",
                "data": {"value": f"value-{index}"},
                "connection": connection,
            }
            return str(provider.create(inputs).id)

        with ThreadPoolExecutor(6) as pool:
            created = list(pool.map(create, range(6)))
        assert len(set(created)) == 6
    finally:
        server.stop()
