"""Deployments as Pulumi resources.

In place (one PATCH with the changed fields): everything but the identity.
Schedules are sent only when they changed, because Prefect replaces them and
regenerates their scheduled runs. Replaced: flow_name, name (a deployment is
identified by ``flow/name``).

Schedule fields left null in the declaration (``timezone``, ``anchor_date``)
mean "the server's default" and are not reported as drift.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from infra.contracts import DeploymentInputs

from ._base import PrefectProvider, changed, resource_props
from .client import Connection, PrefectApi, PrefectApiError, PrefectConflictError

_MUTABLE = (
    "entrypoint",
    "work_pool_name",
    "work_queue_name",
    "description",
    "version",
    "tags",
    "parameters",
    "job_variables",
    "parameter_openapi_schema",
    "enforce_parameter_schema",
    "paused",
    "concurrency_limit",
    "schedules",
    "pull_steps",
)
_SERVER_DEFAULTED = ("timezone", "anchor_date")


def _schedule_from_server(item: dict[str, Any], declared: dict[str, Any] | None) -> dict[str, Any]:
    """A server schedule in the inputs shape; nulls the declaration left to the server stay null."""
    spec = {k: v for k, v in item["schedule"].items() if v is not None or k in _SERVER_DEFAULTED}
    if "interval" in spec:
        spec = {k: spec.get(k) for k in ("interval", "anchor_date", "timezone")}
    elif "cron" in spec:
        spec = {k: spec.get(k) for k in ("cron", "timezone", "day_or")}
    else:
        spec = {k: spec.get(k) for k in ("rrule", "timezone")}
    declared_spec = (declared or {}).get("schedule") or {}
    for key in _SERVER_DEFAULTED:
        if key in spec and key in declared_spec and declared_spec[key] is None:
            spec[key] = None
    return {
        "schedule": spec,
        "active": item["active"],
        "slug": item.get("slug"),
        "parameters": item.get("parameters") or {},
    }


def _api_body(values: dict[str, Any]) -> dict[str, Any]:
    """The request fields; schedule nulls are left out so the server applies its defaults."""
    body = dict(values)
    if "schedules" in body:
        body["schedules"] = [
            {**item, "schedule": {k: v for k, v in item["schedule"].items() if v is not None}}
            for item in body["schedules"]
        ]
    return body


#: (API URL, flow name) -> flow id: many deployments share a flow, and a flow keeps its id.
_flow_ids: dict[tuple[str, str], str] = {}


def _flow_id(api: PrefectApi, name: str) -> str:
    """The id of the flow `name`, created if missing (cached for this process)."""
    key = (api.api_url, name)
    if key not in _flow_ids:
        flow = api.call("GET", f"/flows/name/{name}", missing_ok=True)
        if flow is None:
            flow = api.call("POST", "/flows/", json={"name": name})
        _flow_ids[key] = str(flow["id"])
    return _flow_ids[key]


class DeploymentProvider(PrefectProvider[DeploymentInputs]):
    """Creates, updates (PATCH), reads and deletes one deployment."""

    kind = "deployment"
    Inputs = DeploymentInputs
    replace_fields = ("flow_name", "name")

    def describe(self, props: dict[str, Any]) -> str:
        """Name the deployment as ``flow/name``."""
        return f"deployment '{props.get('flow_name')}/{props.get('name')}'"

    def identity_fields(self) -> tuple[str, ...]:
        """A deployment is identified by its flow and name."""
        return ("flow_name", "name")

    def _create(self, api: PrefectApi, inputs: DeploymentInputs) -> str:
        path = f"/deployments/name/{inputs.flow_name}/{inputs.name}"
        if api.call("GET", path, missing_ok=True) is not None:
            raise PrefectConflictError(
                f"{self.describe(inputs.dump())} already exists on {api.api_url} and was not "
                "created by this stack; delete it or import it into the stack first"
            )
        values = inputs.dump()
        body = {"name": inputs.name, **_api_body({f: values[f] for f in _MUTABLE})}
        key = (api.api_url, inputs.flow_name)
        cached = key in _flow_ids
        try:
            body["flow_id"] = _flow_id(api, inputs.flow_name)
            created = api.call("POST", "/deployments/", json=body)
        except PrefectApiError as exc:
            if not cached or exc.status_code not in (404, 409):
                raise
            _flow_ids.pop(key, None)  # the flow was deleted since: look it up again
            body["flow_id"] = _flow_id(api, inputs.flow_name)
            created = api.call("POST", "/deployments/", json=body)
        return str(created["id"])

    def _update(
        self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: DeploymentInputs
    ) -> None:
        body = _api_body(changed(olds, inputs, _MUTABLE))
        if body:
            api.call("PATCH", f"/deployments/{id_}", json=body)

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        api.call("DELETE", f"/deployments/{id_}", missing_ok=True)

    def list_path(self, props: dict[str, Any]) -> str:
        """Deployments are listed by `POST /deployments/filter`."""
        return "/deployments/filter"

    def _read(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> DeploymentInputs | None:
        found = self.listed(api, id_, props)
        if found is None:
            return None
        limit = found.get("global_concurrency_limit")
        queue = found.get("work_queue_name")
        if props.get("work_queue_name") is None and queue == "default":
            queue = None  # declared null: the pool's default queue
        return DeploymentInputs(
            name=found["name"],
            flow_name=props["flow_name"],  # a deployment cannot change flows
            entrypoint=found.get("entrypoint"),
            work_pool_name=found.get("work_pool_name"),
            work_queue_name=queue,
            description=found.get("description"),
            version=found.get("version"),
            tags=found.get("tags"),
            parameters=found.get("parameters"),
            job_variables=found.get("job_variables"),
            parameter_openapi_schema=found.get("parameter_openapi_schema"),
            enforce_parameter_schema=found.get("enforce_parameter_schema"),
            paused=found.get("paused"),
            concurrency_limit=limit["limit"] if limit else found.get("concurrency_limit"),
            schedules=_match_schedules(list(found["schedules"]), props.get("schedules") or []),
            pull_steps=found.get("pull_steps"),
        )


def _match_key(item: dict[str, Any]) -> str:
    """What pairs a server schedule with a declared one: its slug, else its spec."""
    if item.get("slug"):
        return f"slug:{item['slug']}"
    spec = {k: v for k, v in item["schedule"].items() if k not in _SERVER_DEFAULTED}
    return f"spec:{sorted(spec.items())}"


def _match_schedules(
    server: list[dict[str, Any]], declared: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Server schedules in the declared order (the server sorts them its own way)."""
    remaining = [_schedule_from_server(item, None) for item in server]
    ordered: list[dict[str, Any]] = []
    for want in declared:
        for index, item in enumerate(remaining):
            if _match_key(item) == _match_key(want):
                ordered.append(_schedule_from_server(server[index], want))
                del remaining[index]
                del server[index]
                break
    return ordered + remaining


class Deployment(Resource, module="prefect", name="Deployment"):
    """A Prefect deployment managed by Pulumi."""

    def __init__(
        self,
        name: str,
        inputs: DeploymentInputs,
        connection: pulumi.Input[Connection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Declare the deployment `inputs.flow_name/inputs.name` as the Pulumi resource `name`."""
        props = resource_props(inputs, connection)
        super().__init__(DeploymentProvider(connection), name, props, opts)
