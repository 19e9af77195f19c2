"""A deployment's `triggers:` become the automations `prefect deploy` would make of them.

No server: the kit's automation for each trigger (as its provider receives it) is compared
with the one Prefect's own code builds from the same entry (`DeploymentTriggerTypes`,
`set_deployment_id`, `as_automation`, which `prefect deploy` calls), the deployment named
instead of given by id.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from pydantic import TypeAdapter

from infra.declarations import load_declarations
from tests.events.conftest import REPO
from tests.harness.mockstack import copy_repo_files

ROOT = Path(__file__).resolve().parents[2]


def _canonical(value: Any) -> Any:
    """Without the ids Prefect generates per trigger, with its sets in a stable order."""
    if isinstance(value, dict):
        return {
            key: sorted(item) if key in {"after", "expect", "for_each"} else _canonical(item)
            for key, item in value.items()
            if key != "id"
        }
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def test_each_trigger_is_the_automation_prefect_deploy_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_repo = copy_repo_files(tmp_path / "events", ["flows"])
    shutil.copytree(REPO, events_repo, dirs_exist_ok=True)
    monkeypatch.setenv("EVENTS_REPO_URL", "file:///nowhere.git")
    compared = []
    for root in (ROOT, events_repo):
        for deployment in load_declarations(root).deployments:
            for raw, automation in zip(deployment.entry.triggers, deployment.triggers, strict=True):
                prefect_trigger = TypeAdapter(DeploymentTriggerTypes).validate_python(raw)
                deployment_id = uuid.uuid4()
                prefect_trigger.set_deployment_id(deployment_id)
                expected = prefect_trigger.as_automation().model_dump(mode="json")
                (action,) = expected["actions"]
                assert action.pop("deployment_id") == str(deployment_id)
                action["deployment"] = deployment.reference

                kit = automation.provider_inputs().dump()

                assert _canonical(kit["trigger"]) == _canonical(expected["trigger"])
                assert kit["actions"] == [action]
                assert (kit["description"], kit["enabled"]) == (
                    expected["description"],
                    expected["enabled"],
                )
                compared.append(kit["name"])
    assert compared == ["smoke-kubernetes-after-upgrade", "smoke:events-triggered:trigger-1"]


def test_a_stack_disables_a_deployment_trigger_by_its_automation_name() -> None:
    overrides = {"automations": {"smoke-kubernetes-after-upgrade": {"enabled": False}}}

    automations = load_declarations(ROOT, overrides).provider_inputs()["automations"]

    trigger = next(a for a in automations if a["name"] == "smoke-kubernetes-after-upgrade")
    assert trigger["enabled"] is False
    assert trigger["actions"][0]["deployment"] == "smoke/smoke-kubernetes"
