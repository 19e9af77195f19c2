"""The repository's `run-smoke-on-request` automation fires for real on an OSS server.

The declared automation (its trigger on the custom event `platform.smoke.requested`
and its `run-deployment` action) is created on the live server exactly as the
loader produced it, with the one name it references resolved to an id, the way
the automation provider resolves it. The deployment it names is stood in for by
one with a unique name, because the session server is shared with other tests.
Emitting the event makes the server create a flow run of that deployment with
the declared parameters, read back through the API.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.events.schemas.automations import AutomationCore

from infra.declarations import load_declarations
from tests.harness.api import emit_until_runs
from tests.harness.live_server import LiveServer

ROOT = Path(__file__).resolve().parents[2]


def test_declared_custom_event_automation_runs_its_deployment(
    prefect_server: LiveServer,
) -> None:
    declarations = load_declarations(ROOT)
    inputs = next(
        item
        for item in declarations.provider_inputs()["automations"]
        if item["name"] == "run-smoke-on-request"
    )
    action = inputs["actions"][0]
    assert action["type"] == "run-deployment"
    assert action["deployment"] == "smoke/smoke-process"
    event_name = inputs["trigger"]["expect"][0]
    suffix = uuid.uuid4().hex[:8]

    with get_client(sync_client=True) as client:
        pool = f"automation-{suffix}"
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        flow_id = client.create_flow_from_name("smoke")
        deployment_id = client.create_deployment(
            flow_id=flow_id,
            name=f"smoke-process-{suffix}",
            work_pool_name=pool,
            entrypoint="flows/platform/smoke.py:smoke",
        )
        document = {**inputs, "name": f"{inputs['name']}-{suffix}"}
        resolved = {key: value for key, value in action.items() if key != "deployment"}
        document["actions"] = [{**resolved, "deployment_id": str(deployment_id)}]
        automation_id = client.create_automation(AutomationCore.model_validate(document))
        try:
            runs = emit_until_runs(client, event_name, f"platform.{suffix}", deployment_id)
        finally:
            client.delete_automation(automation_id)
            client.delete_deployment(deployment_id)
            client.delete_work_pool(pool)

    assert runs, f"no run of the deployment within 90 s of emitting {event_name}"
    assert runs[0].parameters == action["parameters"] == {"name": "automation"}
