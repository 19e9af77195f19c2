"""One `Case` per provider kind: a declaration and how to observe/edit it via the API.

The generic tests in ``test_providers.py`` run every case through the same
lifecycle, so each kind is held to the same checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from prefect.workers.process import ProcessWorker

from infra.providers import (
    AutomationProvider,
    BlockDocumentProvider,
    DeploymentProvider,
    GlobalConcurrencyLimitProvider,
    VariableProvider,
    WorkPoolProvider,
    WorkQueueProvider,
)
from infra.providers._base import PrefectProvider

Declaration = dict[str, Any]


@dataclass(frozen=True)
class Case:
    """How to test one kind.

    Attributes:
        kind: the case id.
        provider: the provider class.
        declare: (suffix, pool) -> the contract inputs (without connection).
        fetch: (api, declaration, id) -> the object as the API returns it, or None if gone.
        in_place: (field, new value, how to observe it in `fetch`'s result).
        replace: (field, new value) that must force a replacement, or None.
        edit: (api, declaration, id) -> (field, value read should now report): a change
            made behind the provider's back.
        conflict: (api, declaration) creates the same object outside the stack and
            returns the API path that deletes it.
    """

    kind: str
    provider: type[PrefectProvider[Any]]
    declare: Callable[[str, str], Declaration]
    fetch: Callable[[httpx.Client, Declaration, str], dict[str, Any] | None]
    in_place: tuple[str, Any, Callable[[dict[str, Any]], Any]]
    replace: tuple[str, Any] | None
    edit: Callable[[httpx.Client, Declaration, str], tuple[str, Any]]
    conflict: Callable[[httpx.Client, Declaration], str]


def _get(api: httpx.Client, path: str, **params: Any) -> dict[str, Any] | None:
    response = api.get(path, params=params)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def _ok(response: httpx.Response) -> None:
    response.raise_for_status()


def _created(response: httpx.Response, path: str) -> str:
    """Check a create answered 2xx; return `path` with the new object's id appended."""
    response.raise_for_status()
    return f"{path}{response.json()['id']}"


# -- work pool ---------------------------------------------------------------------------


def _pool_edit(api: httpx.Client, decl: Declaration, id_: str) -> tuple[str, Any]:
    _ok(api.patch(f"/work_pools/{decl['name']}", json={"description": "edited in the UI"}))
    return "description", "edited in the UI"


def _pool_conflict(api: httpx.Client, decl: Declaration) -> str:
    _ok(api.post("/work_pools/", json={"name": decl["name"], "type": "process"}))
    return f"/work_pools/{decl['name']}"


WORK_POOL = Case(
    kind="work_pool",
    provider=WorkPoolProvider,
    declare=lambda suffix, pool: {
        "name": f"pool-{suffix}",
        "type": "process",
        "description": "declared pool",
        "concurrency_limit": 3,
        "paused": False,
        "base_job_template": ProcessWorker.get_default_base_job_template(),
    },
    fetch=lambda api, decl, id_: _get(api, f"/work_pools/{decl['name']}"),
    in_place=("concurrency_limit", 7, lambda found: found["concurrency_limit"]),
    replace=("type", "docker"),
    edit=_pool_edit,
    conflict=lambda api, decl: _pool_conflict(api, decl),
)

# -- work queue --------------------------------------------------------------------------


def _queue_edit(api: httpx.Client, decl: Declaration, id_: str) -> tuple[str, Any]:
    path = f"/work_pools/{decl['pool']}/queues/{decl['name']}"
    _ok(api.patch(path, json={"concurrency_limit": 9}))
    return "concurrency_limit", 9


WORK_QUEUE = Case(
    kind="work_queue",
    provider=WorkQueueProvider,
    declare=lambda suffix, pool: {
        "pool": pool,
        "name": f"queue-{suffix}",
        "description": "declared queue",
        "priority": 2,
        "concurrency_limit": 1,
        "paused": False,
    },
    fetch=lambda api, decl, id_: _get(api, f"/work_pools/{decl['pool']}/queues/{decl['name']}"),
    in_place=("paused", True, lambda found: found["is_paused"]),
    replace=("name", "renamed-queue"),
    edit=_queue_edit,
    conflict=lambda api, decl: _created(
        api.post(f"/work_pools/{decl['pool']}/queues", json={"name": decl["name"]}),
        "/work_queues/",
    ),
)

# -- global concurrency limit ------------------------------------------------------------


def _gcl_edit(api: httpx.Client, decl: Declaration, id_: str) -> tuple[str, Any]:
    _ok(api.patch(f"/v2/concurrency_limits/{id_}", json={"limit": 11}))
    return "limit", 11


CONCURRENCY_LIMIT = Case(
    kind="concurrency_limit",
    provider=GlobalConcurrencyLimitProvider,
    declare=lambda suffix, pool: {
        "name": f"limit-{suffix}",
        "limit": 3,
        "active": True,
        "slot_decay_per_second": 0.5,
    },
    fetch=lambda api, decl, id_: _get(api, f"/v2/concurrency_limits/{id_}"),
    in_place=("limit", 5, lambda found: found["limit"]),
    replace=("name", "renamed-limit"),
    edit=_gcl_edit,
    conflict=lambda api, decl: _created(
        api.post("/v2/concurrency_limits/", json={"name": decl["name"], "limit": 1}),
        "/v2/concurrency_limits/",
    ),
)

# -- variable ----------------------------------------------------------------------------


def _variable_edit(api: httpx.Client, decl: Declaration, id_: str) -> tuple[str, Any]:
    _ok(api.patch(f"/variables/{id_}", json={"value": "edited"}))
    return "value", "edited"


VARIABLE = Case(
    kind="variable",
    provider=VariableProvider,
    declare=lambda suffix, pool: {
        "name": f"variable_{suffix}",
        "value": {"buckets": ["raw", "curated"], "retries": 3},
        "tags": ["platform"],
    },
    fetch=lambda api, decl, id_: _get(api, f"/variables/{id_}"),
    in_place=("value", {"buckets": ["raw"]}, lambda found: found["value"]),
    replace=("name", "renamed_variable"),
    edit=_variable_edit,
    conflict=lambda api, decl: _created(
        api.post("/variables/", json={"name": decl["name"], "value": 1}), "/variables/"
    ),
)

# -- automation --------------------------------------------------------------------------

_TRIGGER = {
    "type": "event",
    "posture": "Reactive",
    "expect": ["prefect.flow-run.Failed"],
    "match": {"prefect.resource.id": "prefect.flow-run.*"},
    "threshold": 1,
    "within": 0,
}


def _automation_edit(api: httpx.Client, decl: Declaration, id_: str) -> tuple[str, Any]:
    _ok(api.patch(f"/automations/{id_}", json={"enabled": False}))
    return "enabled", False


def _automation_conflict(api: httpx.Client, decl: Declaration) -> str:
    body = {"name": decl["name"], "trigger": _TRIGGER, "actions": [{"type": "do-nothing"}]}
    return _created(api.post("/automations/", json=body), "/automations/")


AUTOMATION = Case(
    kind="automation",
    provider=AutomationProvider,
    declare=lambda suffix, pool: {
        "name": f"automation-{suffix}",
        "description": "pause the pool when a run fails",
        "enabled": True,
        "trigger": _TRIGGER,
        "actions": [{"type": "pause-work-pool", "source": "selected", "work_pool": pool}],
        "actions_on_trigger": [],
        "actions_on_resolve": [],
    },
    fetch=lambda api, decl, id_: _get(api, f"/automations/{id_}"),
    in_place=("description", "changed description", lambda found: found["description"]),
    replace=None,  # every automation field updates in place (PUT by id)
    edit=_automation_edit,
    conflict=_automation_conflict,
)

# -- block document ----------------------------------------------------------------------


def _block_fetch(api: httpx.Client, decl: Declaration, id_: str) -> dict[str, Any] | None:
    return _get(api, f"/block_documents/{id_}", include_secrets=True)


def _block_edit(api: httpx.Client, decl: Declaration, id_: str) -> tuple[str, Any]:
    body = {"data": {"value": "edited"}, "merge_existing_data": False}
    _ok(api.patch(f"/block_documents/{id_}", json=body))
    return "data_sha256", BlockDocumentProvider().outs({**decl, "data": {"value": "edited"}})[
        "data_sha256"
    ]


def _block_conflict(api: httpx.Client, decl: Declaration) -> str:
    from prefect.blocks.system import Secret

    return f"/block_documents/{Secret(value='someone else').save(decl['name'])}"


BLOCK_DOCUMENT = Case(
    kind="block_document",
    provider=BlockDocumentProvider,
    declare=lambda suffix, pool: {
        "name": f"secret-{suffix}",
        "block_type_slug": "secret",
        "data": {"value": f"s3cr3t-{suffix}"},
    },
    fetch=_block_fetch,
    in_place=("data", {"value": "rotated-value"}, lambda found: found["data"]),
    replace=("name", "renamed-secret"),
    edit=_block_edit,
    conflict=_block_conflict,
)

# -- deployment --------------------------------------------------------------------------


def _deployment_edit(api: httpx.Client, decl: Declaration, id_: str) -> tuple[str, Any]:
    _ok(api.patch(f"/deployments/{id_}", json={"paused": True}))
    return "paused", True


def _deployment_conflict(api: httpx.Client, decl: Declaration) -> str:
    flow = api.post("/flows/", json={"name": decl["flow_name"]})
    _ok(flow)
    body = {"name": decl["name"], "flow_id": flow.json()["id"]}
    return _created(api.post("/deployments/", json=body), "/deployments/")


DEPLOYMENT = Case(
    kind="deployment",
    provider=DeploymentProvider,
    declare=lambda suffix, pool: {
        "name": f"deployment-{suffix}",
        "flow_name": "provider-test",
        "entrypoint": "flows/platform/smoke.py:smoke",
        "work_pool_name": pool,
        "work_queue_name": None,
        "description": "declared deployment",
        "version": "1",
        "tags": ["platform"],
        "parameters": {"name": "declared"},
        "job_variables": {"env": {"LEVEL": "INFO"}},
        "parameter_openapi_schema": {
            "type": "object",
            "properties": {"name": {"type": "string", "default": "world"}},
        },
        "enforce_parameter_schema": True,
        "paused": False,
        "concurrency_limit": 2,
        "schedules": [
            {
                "schedule": {"cron": "0 3 * * *", "timezone": "Europe/Paris", "day_or": True},
                "active": True,
                "slug": "nightly",
                "parameters": {},
            },
            {
                "schedule": {"interval": 3600.0, "anchor_date": None, "timezone": None},
                "active": False,
                "slug": None,
                "parameters": {"name": "hourly"},
            },
        ],
        "pull_steps": [
            {
                "prefect.deployments.steps.git_clone": {
                    "repository": "https://example.invalid/repo.git",
                    "branch": "main",
                }
            }
        ],
    },
    fetch=lambda api, decl, id_: _get(api, f"/deployments/{id_}"),
    in_place=("tags", ["platform", "changed"], lambda found: found["tags"]),
    replace=("name", "renamed-deployment"),
    edit=_deployment_edit,
    conflict=_deployment_conflict,
)

CASES = [
    WORK_POOL,
    WORK_QUEUE,
    CONCURRENCY_LIMIT,
    VARIABLE,
    AUTOMATION,
    BLOCK_DOCUMENT,
    DEPLOYMENT,
]
