"""The GitOps loop against live services: prefect.yaml -> providers -> a real worker.

The harness git remote plays GitHub. The tests run in order and share one stack
(module fixture `platform`): first apply, a run, a pushed change, re-applies that
update and delete, `pulumi destroy`, then `prefect deploy` by hand on the same file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.declarations.errors import DeclarationError
from infra.declarations.loader import load_declarations
from tests.gitops.conftest import Platform
from tests.harness.worker import running_worker

ENTRIES = {"smoke-process", "smoke-docker", "smoke-kubernetes", "smoke-backfill"}


def _entries(tree: Path) -> list[dict[str, object]]:
    return list(yaml.safe_load((tree / "prefect.yaml").read_text())["deployments"])


def test_first_apply_creates_one_deployment_per_prefect_yaml_entry(platform: Platform) -> None:
    names = {entry["name"] for entry in _entries(platform.tree)}
    assert names == ENTRIES
    assert set(platform.mocks.state) >= {f"deployment-smoke-{name}" for name in names}

    for name in names:
        deployment = platform.deployment(f"smoke/{name}")
        assert deployment is not None, name
        (step,) = deployment["pull_steps"]
        clone = step["prefect.deployments.steps.git_clone"]
        # The fork/branch come from the environment; the token stays a block reference.
        assert clone["repository"] == platform.remote.url
        assert clone["branch"] == "main"
        assert clone["access_token"] == "{{ prefect.blocks.secret.github-token }}"
    assert platform.github_token not in str({k: r.outs for k, r in platform.mocks.state.items()})

    process = platform.deployment("smoke/smoke-process")
    docker = platform.deployment("smoke/smoke-docker")
    kubernetes = platform.deployment("smoke/smoke-kubernetes")
    backfill = platform.deployment("smoke/smoke-backfill")
    assert process and docker and kubernetes and backfill
    assert process["work_pool_name"] == "process-pool"
    assert docker["work_pool_name"] == "docker-pool"
    assert docker["job_variables"]["mem_limit"] == "512m"
    assert docker["schedules"][0]["schedule"]["cron"] == "0 6 * * *"
    assert kubernetes["work_pool_name"] == "kubernetes-pool"
    assert kubernetes["work_queue_name"] == "critical"
    assert kubernetes["job_variables"]["cpu_request"] == "100m"
    assert kubernetes["schedules"][0]["schedule"]["interval"] == 21600
    assert backfill["work_queue_name"] == "backfill"
    assert "FREQ=WEEKLY;BYDAY=MO" in backfill["schedules"][0]["schedule"]["rrule"]


def test_smoke_process_is_run_from_git_by_a_real_worker(platform: Platform, tmp_path: Path) -> None:
    with running_worker(platform.server, "process-pool", tmp_path):
        run = platform.run("smoke/smoke-process", {"name": "gitops"})
        messages = platform.logs(run["id"], "smoke says")  # before the worker stops

    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert "smoke says: hello gitops" in messages
    assert any("git_clone" in message for message in messages)


def test_a_pushed_change_is_what_the_next_run_executes(platform: Platform, tmp_path: Path) -> None:
    before = platform.deployment("smoke/smoke-process")
    source = (platform.tree / "flows/platform/smoke.py").read_text()
    changed = source.replace('greeting = f"hello {name}"', 'greeting = f"howdy {name}"')
    assert changed != source, "the smoke flow's greeting line moved: update this test"
    platform.remote.push_files({"flows/platform/smoke.py": changed}, "say howdy")

    with running_worker(platform.server, "process-pool", tmp_path):
        run = platform.run("smoke/smoke-process", {"name": "push"})
        messages = platform.logs(run["id"], "smoke says")

    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert "smoke says: howdy push" in messages
    after = platform.deployment("smoke/smoke-process")
    assert before and after and after["updated"] == before["updated"], "it was redeployed"


def test_reapplying_unchanged_files_changes_nothing(platform: Platform) -> None:
    changes = platform.apply()

    assert changes.created == changes.replaced == changes.deleted == []
    assert changes.updated == {}
    assert changes.write_requests == []


def test_a_changed_schedule_and_parameter_are_updated_by_the_next_apply(
    platform: Platform,
) -> None:
    ids = {name: platform.deployment(f"smoke/{name}")["id"] for name in ENTRIES}  # type: ignore[index]
    text = (platform.tree / "prefect.yaml").read_text()
    text = text.replace('- cron: "0 6 * * *"', '- cron: "30 7 * * 1-5"', 1)
    text = text.replace(
        "    parameters: {}\n    work_pool:\n      name: process-pool",
        "    parameters:\n      name: platform\n    work_pool:\n      name: process-pool",
        1,
    )
    (platform.tree / "prefect.yaml").write_text(text)

    changes = platform.apply()

    assert changes.updated == {
        "deployment-smoke-smoke-docker": ["schedules"],
        "deployment-smoke-smoke-process": ["parameters"],
    }
    assert changes.created == changes.replaced == changes.deleted == []
    docker = platform.deployment("smoke/smoke-docker")
    process = platform.deployment("smoke/smoke-process")
    assert docker and process
    assert [s["schedule"]["cron"] for s in docker["schedules"]] == ["30 7 * * 1-5"]
    assert process["parameters"] == {"name": "platform"}
    assert {name: platform.deployment(f"smoke/{name}")["id"] for name in ENTRIES} == ids  # type: ignore[index]


def test_a_removed_entry_is_deleted_by_the_next_apply(platform: Platform) -> None:
    document = yaml.safe_load((platform.tree / "prefect.yaml").read_text())
    document["deployments"] = [d for d in document["deployments"] if d["name"] != "smoke-backfill"]
    (platform.tree / "prefect.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    kept = platform.deployment("smoke/smoke-kubernetes")

    changes = platform.apply()

    assert changes.deleted == ["deployment-smoke-smoke-backfill"]
    assert changes.created == changes.replaced == [] and changes.updated == {}
    assert platform.deployment("smoke/smoke-backfill") is None
    still = platform.deployment("smoke/smoke-kubernetes")
    assert kept and still and still["id"] == kept["id"]


def test_a_bad_prefect_yaml_fails_naming_file_and_field_and_changes_nothing(
    platform: Platform,
) -> None:
    good = (platform.tree / "prefect.yaml").read_text()
    before = {name: platform.deployment(f"smoke/{name}") for name in ENTRIES - {"smoke-backfill"}}
    document = yaml.safe_load(good)
    index = [entry["name"] for entry in document["deployments"]].index("smoke-docker")
    document["deployments"][index]["schedules"][0]["cron"] = "61 7 * * *"  # no minute 61
    (platform.tree / "prefect.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    try:
        with pytest.raises(DeclarationError) as raised:
            platform.apply()
    finally:
        (platform.tree / "prefect.yaml").write_text(good)

    message = str(raised.value)
    assert f"prefect.yaml: deployments[{index}].schedules[0].cron" in message, message
    after = {name: platform.deployment(f"smoke/{name}") for name in before}
    assert after == before


def test_destroy_leaves_nothing_the_stack_created(platform: Platform) -> None:
    platform.destroy()

    assert platform.mocks.state == {}
    assert platform.call("POST", "/deployments/filter", json={}).json() == []
    pools = {pool["name"] for pool in platform.call("POST", "/work_pools/filter", json={}).json()}
    assert not pools & {"process-pool", "docker-pool", "kubernetes-pool"}
    blocks = platform.call("POST", "/block_documents/filter", json={}).json()
    assert "github-token" not in {block["name"] for block in blocks}


def test_prefect_deploy_by_hand_works_on_the_same_file(platform: Platform, tmp_path: Path) -> None:
    # Pools, queues and the token block from `pulumi up`, the deployments from `prefect deploy`.
    without_deployments = tmp_path / "no-deployments"
    shutil.copytree(platform.tree, without_deployments)
    document = yaml.safe_load((platform.tree / "prefect.yaml").read_text())
    document["deployments"] = []
    (without_deployments / "prefect.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    platform.apply(without_deployments)
    env = {
        **os.environ,
        **platform.server.client_env(tmp_path / "cli-home"),
        "PYTHONPATH": str(platform.tree),
    }
    result = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=platform.tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    declared = {
        d.entry.name: d.provider_inputs().dump()
        for d in load_declarations(platform.tree).deployments
    }
    for name, inputs in declared.items():
        deployment = platform.deployment(f"smoke/{name}")
        assert deployment is not None, name
        assert deployment["pull_steps"] == inputs["pull_steps"]
        assert deployment["job_variables"] == inputs["job_variables"]
        assert deployment["work_queue_name"] == (inputs["work_queue_name"] or "default")
        assert deployment["parameters"] == inputs["parameters"]
    with running_worker(platform.server, "process-pool", tmp_path):
        run = platform.run("smoke/smoke-process")
        messages = platform.logs(run["id"], "smoke says")
    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert "smoke says: howdy platform" in messages
    for name in declared:
        deployment = platform.deployment(f"smoke/{name}")
        assert deployment is not None
        platform.call("DELETE", f"/deployments/{deployment['id']}")
