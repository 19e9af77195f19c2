"""The whole Pulumi program, for real: every declaration in the repository on a live server.

The program runs under Pulumi's mocks (`external` target: the harness's server and S3 stand
in for the stack's own), with `ForwardingMocks` sending every Prefect resource to its real
provider. A first run creates everything; a second, unchanged run writes nothing; a run with a
file removed deletes exactly that object.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client

from infra.config import ConfigError
from infra.declarations import Declarations, load_declarations
from tests.harness.engine import ForwardingMocks, Operations, apply_program, destroy, external_stack
from tests.harness.git_remote import GitRemote
from tests.harness.live_server import LiveServer
from tests.harness.mockstack import copy_repo_files
from tests.harness.s3 import S3Server

DECLARATION_PATHS = [
    "pools",
    "automations",
    "concurrency-limits.yaml",
    "variables.yaml",
    "prefect.yaml",
    "flows",
]
GITHUB_TOKEN = "ghp_example-token-for-tests"


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's declarations (and the flows they point at) in a folder we may edit."""
    return copy_repo_files(tmp_path_factory.mktemp("repo"), DECLARATION_PATHS)


@pytest.fixture(scope="module")
def stack(
    prefect_server: LiveServer, s3_server: S3Server, git_remote: GitRemote
) -> Iterator[dict[str, Any]]:
    """Config of an `external` stack on the harness's server and S3, and its engine state."""
    config, secrets = external_stack(prefect_server, s3_server, "results", githubToken=GITHUB_TOKEN)
    mocks = ForwardingMocks()
    with pytest.MonkeyPatch.context() as env:
        # prefect.yaml's pull steps clone the repository these name (here: the harness remote).
        env.setenv("PREFECT_PLATFORM_REPO_URL", git_remote.url)
        env.setenv("PREFECT_PLATFORM_BRANCH", git_remote.branch)
        yield {"config": config, "secrets": secrets, "mocks": mocks}
        destroy(mocks)  # leave the shared server as we found it


def up(stack: dict[str, Any], root: Path) -> Operations:
    """One `pulumi up` of the program over `root`."""
    ops = apply_program(stack["mocks"], stack["config"], stack["secrets"], root)
    stack["writes"] = ops.write_requests
    return ops


def test_first_up_creates_every_declared_object(
    stack: dict[str, Any], repo_copy: Path, s3_server: S3Server
) -> None:
    ops = up(stack, repo_copy)
    declared = load_declarations(repo_copy)

    assert ops.deleted == [] and ops.created, ops
    assert stack["mocks"].state, "no resource was declared"
    with get_client(sync_client=True) as client:
        _assert_on_server(client, declared)
        credentials = client.read_block_document_by_name("object-store", "minio-credentials")
        bucket = client.read_block_document_by_name("results", "s3-bucket")
        token = client.read_block_document_by_name("github-token", "secret", include_secrets=True)
    assert credentials.data["aws_client_parameters"]["endpoint_url"] == s3_server.endpoint_url
    assert bucket.data["bucket_name"] == "results"
    assert token.data["value"] == GITHUB_TOKEN


def test_unchanged_up_writes_nothing(
    stack: dict[str, Any], repo_copy: Path, prefect_server: LiveServer
) -> None:
    before = _updated_timestamps(prefect_server)
    assert len(before) > 20

    ops = up(stack, repo_copy)

    assert ops.writes == 0, ops
    assert stack["writes"] == []
    assert len(ops.unchanged) == len(stack["mocks"].state)
    assert _updated_timestamps(prefect_server) == before


def test_refresh_reads_every_object_in_a_few_list_requests_and_sees_drift(
    stack: dict[str, Any], repo_copy: Path, prefect_server: LiveServer
) -> None:
    up(stack, repo_copy)
    mocks: ForwardingMocks = stack["mocks"]
    objects = len(mocks.state)
    with httpx.Client(base_url=prefect_server.api_url, auth=prefect_server.auth) as api:
        edit_in_the_ui(api, "/work_pools/process-pool", {"description": "edited in the UI"})

    refreshed = mocks.refresh()
    again = mocks.refresh()

    assert refreshed.drifted == {"pool-process-pool": ["description"]}
    assert refreshed.gone == []
    one_by_one = [r for r in refreshed.requests if r.startswith("GET ")]
    assert all("/block_documents/" in request for request in one_by_one), one_by_one
    assert len(refreshed.requests) < objects, refreshed.requests
    assert again.drifted == {}
    up(stack, repo_copy)  # puts the description back
    assert mocks.refresh().drifted == {}


def edit_in_the_ui(api: httpx.Client, path: str, body: dict[str, Any]) -> None:
    """PATCH as the UI would, retrying 503s as Prefect's own client does (the server answers
    503 when SQLite is locked by its background services)."""
    for _ in range(10):
        response = api.patch(path, json=body)
        if response.status_code != 503:
            break
        time.sleep(1)
    response.raise_for_status()


def test_removed_file_deletes_its_object(stack: dict[str, Any], repo_copy: Path) -> None:
    files = sorted((repo_copy / "automations").glob("*.yaml"))
    texts = {path: path.read_text() for path in files}
    # An automation no other automation names (removing a referenced one fails validation).
    removed = next(
        path
        for path in files
        if not any(path.stem in text for other, text in texts.items() if other != path)
    )
    name = removed.stem
    assert any(a.name == name for a in _automations())
    removed.unlink()

    ops = up(stack, repo_copy)

    assert ops.deleted == [f"automation-{name}"]
    assert ops.created == ops.replaced == [] and ops.updated == {}
    assert not any(a.name == name for a in _automations())


def test_automations_naming_automations_apply_whatever_their_names_sort(
    stack: dict[str, Any], repo_copy: Path
) -> None:
    """Each pauser must be created after its target: one pair sorts before, one after."""
    folder = repo_copy / "automations"
    pairs = {"aa-pauser": "zz-target", "zz-pauser": "aa-target"}
    for name in [*pairs, *pairs.values()]:
        action = (
            f"  - type: pause-automation\n    automation: {pairs[name]}\n"
            if name in pairs
            else "  - type: do-nothing\n"
        )
        (folder / f"{name}.yaml").write_text(
            f"name: {name}\ntrigger:\n  type: event\n  expect: [test.{name}]\n"
            f"  posture: Reactive\n  threshold: 1\n  within: 0\nactions:\n{action}"
        )
    try:
        ops = up(stack, repo_copy)

        created = [name.removeprefix("automation-") for name in ops.created]
        assert sorted(created) == sorted([*pairs, *pairs.values()])
        for pauser, target in pairs.items():
            assert created.index(target) < created.index(pauser)
    finally:
        for name in [*pairs, *pairs.values()]:
            (folder / f"{name}.yaml").unlink()
    assert sorted(up(stack, repo_copy).deleted) == sorted(
        f"automation-{name}" for name in [*pairs, *pairs.values()]
    )


def _automations() -> list[Any]:
    with get_client(sync_client=True) as client:
        return list(client.read_automations())


def _assert_on_server(client: SyncPrefectClient, declared: Declarations) -> None:
    for pool in declared.work_pools:
        found = client.read_work_pool(pool.name)
        assert (found.type, found.concurrency_limit, found.is_paused) == (
            pool.type,
            pool.concurrency_limit,
            pool.paused,
        )
        assert found.base_job_template == pool.merged_base_job_template()
    for queue in declared.work_queues:
        found_queue = client.read_work_queue_by_name(queue.name, work_pool_name=queue.pool)
        assert found_queue.priority == queue.provider_inputs().priority
        assert found_queue.concurrency_limit == queue.concurrency_limit
    for limit in declared.concurrency_limits:
        found_limit = client.read_global_concurrency_limit_by_name(limit.name)
        assert (found_limit.limit, found_limit.active, found_limit.slot_decay_per_second) == (
            limit.limit,
            limit.active,
            limit.slot_decay_per_second,
        )
    for variable in declared.variables:
        found_variable = client.read_variable_by_name(variable.name)
        assert found_variable is not None
        assert (found_variable.value, sorted(found_variable.tags)) == (
            variable.value,
            sorted(variable.tags),
        )
    automations = {a.name: a for a in client.read_automations()}
    for automation in declared.automations:
        automation_inputs = automation.provider_inputs()
        assert automations[automation.name].enabled == automation_inputs.enabled
        assert automations[automation.name].trigger.type == automation_inputs.trigger["type"]
    for deployment in declared.deployments:
        inputs = deployment.provider_inputs().dump()
        found_deployment = client.read_deployment_by_name(f"{inputs['flow_name']}/{inputs['name']}")
        assert found_deployment.work_pool_name == inputs["work_pool_name"]
        assert found_deployment.parameters == inputs["parameters"]
        assert len(found_deployment.schedules) == len(inputs["schedules"])
        assert found_deployment.pull_steps == inputs["pull_steps"]


def _updated_timestamps(server: LiveServer) -> dict[str, str]:
    """`updated` of every object on the server, read through the REST API."""
    stamps: dict[str, str] = {}
    with httpx.Client(base_url=server.api_url, auth=server.auth, timeout=30) as api:

        def listing(path: str, kind: str, key: str = "name") -> list[dict[str, Any]]:
            response = api.post(path, json={})
            response.raise_for_status()
            items: list[dict[str, Any]] = response.json()
            stamps.update({f"{kind} {item[key]}": item["updated"] for item in items})
            return items

        for pool in listing("/work_pools/filter", "pool"):
            listing(f"/work_pools/{pool['name']}/queues/filter", f"queue {pool['name']}/")
        listing("/v2/concurrency_limits/filter", "limit")
        listing("/variables/filter", "variable")
        listing("/automations/filter", "automation")
        listing("/deployments/filter", "deployment", "id")
        listing("/block_documents/filter", "block", "id")
    return stamps


def test_unset_repository_variable_fails_before_any_change(
    stack: dict[str, Any],
    repo_copy: Path,
    prefect_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PREFECT_PLATFORM_REPO_URL")
    state_before = dict(stack["mocks"].state)
    before = _updated_timestamps(prefect_server)

    with pytest.raises(ConfigError, match=r"prefect.yaml: .*PREFECT_PLATFORM_REPO_URL"):
        up(stack, repo_copy)

    assert stack["mocks"].state == state_before
    assert _updated_timestamps(prefect_server) == before


def test_pools_keeping_results_in_a_store_the_stack_lacks_fail_before_any_change(
    stack: dict[str, Any], repo_copy: Path, prefect_server: LiveServer
) -> None:
    """The pools' env names `s3-bucket/results`; a stack without an object store has none."""
    without_store = {k: v for k, v in stack["config"].items() if k != "externalObjectStore"}
    secrets = {k: v for k, v in stack["secrets"].items() if not k.startswith("s3")}
    state_before = dict(stack["mocks"].state)
    before = _updated_timestamps(prefect_server)

    with pytest.raises(
        ConfigError,
        match=r"env\.PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK names 's3-bucket/results'",
    ):
        apply_program(stack["mocks"], without_store, secrets, repo_copy)

    assert stack["mocks"].state == state_before
    assert _updated_timestamps(prefect_server) == before
