"""The loader turns valid declarations into exactly the provider inputs of the contract."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect.events.schemas.automations import AutomationCore
from prefect.workers.process import ProcessWorker
from prefect_kubernetes.worker import KubernetesWorker  # type: ignore[import-untyped]

from infra.declarations import DeclarationError, Declarations, load_declarations
from infra.references import ACTION_REFERENCES
from tests.declarations.edits import edit


@pytest.fixture
def declarations(repo: Path) -> Declarations:
    """The fixture repository, loaded."""
    return load_declarations(repo)


def test_every_kind_is_read_from_its_file(declarations: Declarations) -> None:
    assert declarations.count() == {
        "work_pools": 2,
        "work_queues": 3,
        "concurrency_limits": 2,
        "variables": 2,
        "automations": 2,
        "deployments": 2,
        "blocks": 2,
        "webhooks": 0,
    }
    assert declarations.files[("work_pool", "fx-kubernetes")] == "pools/fx-kubernetes.yaml"
    assert (
        declarations.files[("deployment", "fx-flow/fx-backfill")] == "prefect.yaml#deployments[1]"
    )


def test_limits_variables_and_queues_match_the_contract(declarations: Declarations) -> None:
    inputs = declarations.provider_inputs()

    assert inputs["concurrency_limits"] == [
        {"name": "fx-db", "limit": 3, "active": True, "slot_decay_per_second": 0.0},
        {"name": "fx-rate", "limit": 5, "active": True, "slot_decay_per_second": 1.5},
    ]
    assert inputs["variables"] == [
        {"name": "fx_env", "value": "test", "tags": ["fixture"]},
        {"name": "fx_settings", "value": {"retries": 2, "regions": ["eu", "us"]}, "tags": []},
    ]
    queues = {(queue["pool"], queue["name"]): queue for queue in inputs["work_queues"]}
    assert queues[("fx-process", "high")] == {
        "pool": "fx-process",
        "name": "high",
        "description": None,
        "priority": 1,
        "concurrency_limit": 2,
        "paused": False,
    }
    # No priority written: the lowest number no other queue of the pool takes.
    assert queues[("fx-process", "default")]["priority"] == 2
    assert queues[("fx-kubernetes", "backfill")]["priority"] == 5


def _as_stored(template: dict[str, Any]) -> dict[str, Any]:
    """A default template as the Prefect server stores it: variables without null defaults."""
    properties = template["variables"]["properties"]
    for spec in properties.values():
        if spec.get("default", "") is None:
            del spec["default"]
    return template


def test_pool_template_is_the_workers_default_with_the_overrides(
    declarations: Declarations,
) -> None:
    pools = {pool["name"]: pool for pool in declarations.provider_inputs()["work_pools"]}
    process, kubernetes = pools["fx-process"], pools["fx-kubernetes"]

    assert process == {
        "name": "fx-process",
        "type": "process",
        "description": "Fixture process pool.",
        "concurrency_limit": 4,
        "paused": False,
        "base_job_template": _as_stored(ProcessWorker.get_default_base_job_template()),
    }
    default = _as_stored(KubernetesWorker.get_default_base_job_template())
    template = kubernetes["base_job_template"]
    # The pod's service account is the pool's to fix (POOL_FIXED_VARIABLES); this pool sets
    # none, so the manifest names none (the namespace's default account) and no run can.
    pod = default["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    assert pod.pop("serviceAccountName") == "{{ service_account_name }}"
    assert template["job_configuration"] == default["job_configuration"]
    properties = template["variables"]["properties"]
    assert properties["namespace"]["default"] == "fixtures"
    assert properties["image"]["default"] == "prefecthq/prefect:3.9.1-python3.11"
    untouched = {
        key: value for key, value in properties.items() if key not in {"namespace", "image"}
    }
    assert untouched == {
        key: value
        for key, value in default["variables"]["properties"].items()
        if key not in {"namespace", "image", "service_account_name"}
    }


def test_automation_names_its_targets_and_round_trips_through_prefect(
    declarations: Declarations,
) -> None:
    automations = {item["name"]: item for item in declarations.provider_inputs()["automations"]}
    compound = automations["fx-pause-queue"]

    assert [action["type"] for action in compound["actions"]] == [
        "pause-work-queue",
        "pause-work-pool",
        "pause-automation",
    ]
    assert compound["actions"][0]["work_queue"] == "fx-process/high"
    assert compound["actions"][1]["work_pool"] == "fx-kubernetes"
    assert compound["actions"][2]["automation"] == "fx-run-on-event"
    assert compound["trigger"]["type"] == "compound"
    assert compound["trigger"]["require"] == "all"
    assert compound["trigger"]["within"] == 600.0
    # With the names swapped for ids, Prefect's own model accepts the inputs unchanged.
    document = json.loads(json.dumps(compound))
    for action in document["actions"]:
        reference = ACTION_REFERENCES[action["type"]]
        action[reference.id_field] = str(uuid.uuid4())
        del action[reference.name_field]
    assert AutomationCore.model_validate(document).trigger.type == "compound"


def test_deployment_reads_the_flow_without_importing_it(declarations: Declarations) -> None:
    # flows/fx.py raises at import time: the name and schema come from its source.
    deployment = declarations.provider_inputs()["deployments"][0]

    assert deployment["flow_name"] == "fx-flow"
    assert deployment["name"] == "fx-deploy"
    assert sorted(deployment["parameter_openapi_schema"]["properties"]) == ["times", "who"]
    assert deployment["parameter_openapi_schema"]["properties"]["times"]["type"] == "integer"


def test_deployment_matches_the_contract(declarations: Declarations) -> None:
    first, second = declarations.provider_inputs()["deployments"]
    schema = first.pop("parameter_openapi_schema")

    assert schema["type"] == "object"
    assert first == {
        "name": "fx-deploy",
        "flow_name": "fx-flow",
        "entrypoint": "flows/fx.py:fixture_flow",
        "work_pool_name": "fx-process",
        "work_queue_name": "high",
        "description": "Fixture deployment from tests",
        "version": None,
        "tags": ["fixture"],
        "parameters": {"who": "fixture"},
        "job_variables": {"env": {"FX": "1"}},
        "enforce_parameter_schema": True,
        "paused": False,
        "concurrency_limit": None,
        "schedules": [
            {
                "schedule": {"cron": "*/5 * * * *", "timezone": "Europe/Paris", "day_or": True},
                "active": True,
                "slug": None,
                "parameters": {},
            },
            {
                "schedule": {"interval": 3600.0, "anchor_date": None, "timezone": None},
                "active": False,
                "slug": None,
                "parameters": {},
            },
        ],
        "pull_steps": [
            {
                "prefect.deployments.steps.git_clone": {
                    "repository": "https://example.invalid/fixture.git",
                    "branch": "main",
                    "access_token": "{{ prefect.blocks.secret.github-token }}",
                }
            }
        ],
    }
    assert second["schedules"][0]["schedule"] == {"rrule": "FREQ=DAILY;BYHOUR=2", "timezone": None}
    assert second["pull_steps"] == []  # its own `pull: []` replaces the top-level steps
    assert second["concurrency_limit"] == 1


def test_environment_placeholders_follow_the_environment(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FX_REPO_URL", "https://example.invalid/fork.git")
    monkeypatch.setenv("FX_ORIGIN", "a fork")

    deployment = load_declarations(repo).provider_inputs()["deployments"][0]

    assert deployment["description"] == "Fixture deployment from a fork"
    step = deployment["pull_steps"][0]["prefect.deployments.steps.git_clone"]
    assert step["repository"] == "https://example.invalid/fork.git"


def test_overrides_change_values_per_stack(repo: Path) -> None:
    overrides = {
        "concurrency_limits": {"fx-db": {"limit": 20}},
        "pools": {"fx-kubernetes": {"paused": True, "job_variables": {"namespace": "pr-7"}}},
        "queues": {"fx-process/high": {"concurrency_limit": 9}},
        "variables": {"fx_env": {"value": "pr"}},
        "automations": {"fx-run-on-event": {"enabled": False}},
        "deployments": {"fx-flow/fx-deploy": {"paused": True, "parameters": {"times": 3}}},
    }

    inputs = load_declarations(repo, overrides).provider_inputs()

    assert inputs["concurrency_limits"][0]["limit"] == 20
    pool = next(pool for pool in inputs["work_pools"] if pool["name"] == "fx-kubernetes")
    assert pool["paused"] is True
    assert pool["base_job_template"]["variables"]["properties"]["namespace"]["default"] == "pr-7"
    high = next(queue for queue in inputs["work_queues"] if queue["name"] == "high")
    assert high["concurrency_limit"] == 9
    assert inputs["variables"][0]["value"] == "pr"
    assert not next(a for a in inputs["automations"] if a["name"] == "fx-run-on-event")["enabled"]
    deployment = inputs["deployments"][0]
    assert deployment["paused"] is True
    assert deployment["parameters"] == {"who": "fixture", "times": 3}


def test_loader_works_without_prefect_yaml(repo: Path) -> None:
    (repo / "prefect.yaml").unlink()
    edit(repo, "automations/fx-run-on-event.yaml", "deployment: fx-flow/fx-deploy", "")
    edit(repo, "automations/fx-run-on-event.yaml", "source: selected", "source: inferred")
    edit(repo, "automations/fx-run-on-event.yaml", "    parameters:\n      who: automation\n", "")

    declarations = load_declarations(repo)

    assert declarations.deployments == []
    assert declarations.count()["work_pools"] == 2


NOTIFY = """\
name: fx-notify
trigger:
  type: event
  expect: [fixture.alert]
  match:
    prefect.resource.id: fixture.*
actions:
  - type: send-notification
    block_document: slack-webhook/alerts
    subject: Alert
    body: Something happened
"""


def test_block_references_must_be_blocks_the_program_provisions(repo: Path) -> None:
    edit(repo, "automations/fx-notify.yaml", None, NOTIFY)

    with pytest.raises(DeclarationError) as raised:
        load_declarations(repo)
    declarations = load_declarations(repo, known_blocks={"slack-webhook/alerts"})

    assert [(issue.file, issue.field) for issue in raised.value.issues] == [
        ("automations/fx-notify.yaml", "actions[0].block_document")
    ]
    assert "no block document named 'slack-webhook/alerts'" in raised.value.issues[0].message
    notify = next(
        a for a in declarations.provider_inputs()["automations"] if a["name"] == "fx-notify"
    )
    assert notify["actions"][0]["block_document"] == "slack-webhook/alerts"
    assert "block_document_id" not in notify["actions"][0]


def test_the_template_cache_changes_no_result(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = load_declarations(repo).provider_inputs()
    monkeypatch.setenv("PREFECT_PLATFORM_NO_CACHE", "1")

    assert load_declarations(repo).provider_inputs() == cached


def test_an_entrypoint_edited_between_two_loads_is_read_again(tmp_path: Path) -> None:
    flow_file = tmp_path / "flows" / "edited.py"
    flow_file.parent.mkdir()
    (tmp_path / "prefect.yaml").write_text(
        "deployments:\n"
        "  - name: one\n"
        "    entrypoint: flows/edited.py:job\n"
        "    work_pool: {name: pool}\n"
        "    pull: [{prefect.deployments.steps.set_working_directory: {directory: /tmp}}]\n"
    )
    (tmp_path / "pools").mkdir()
    (tmp_path / "pools" / "pool.yaml").write_text("name: pool\ntype: process\n")
    source = (
        'from prefect import flow\n\n\n@flow(name="{name}")\ndef job({params}) -> None:\n    pass\n'
    )
    flow_file.write_text(source.format(name="before", params="x: int = 1"))
    first = load_declarations(tmp_path).deployments[0]

    flow_file.write_text(source.format(name="after", params="y: str = 'a'"))
    second = load_declarations(tmp_path).deployments[0]

    assert (first.flow_name, list(first.parameter_openapi_schema["properties"])) == (
        "before",
        ["x"],
    )
    assert (second.flow_name, list(second.parameter_openapi_schema["properties"])) == (
        "after",
        ["y"],
    )
