"""Deployments as Pulumi resources.

In place (one PATCH with the changed fields): everything but the identity.
Schedules are sent only when they changed, because Prefect replaces them and
regenerates their scheduled runs. Replaced: flow_name, name (a deployment is
identified by ``flow/name``).

Schedule fields left null in the declaration (``timezone``, ``anchor_date``)
mean "the server's default" and are not reported as drift.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import Resource
from pydantic import Field

from ._base import PROVIDER_VERSION, InputsModel, PrefectProvider, changed
from .client import Connection, PrefectApi, PrefectApiError, PrefectConflictError


class CronSpec(InputsModel):
    """A cron schedule."""

    cron: str = Field(description="Cron expression.")
    timezone: str | None = Field(default=None, description="IANA timezone; null = server's.")
    day_or: bool = Field(default=True, description="OR (not AND) day-of-month and weekday.")


class IntervalSpec(InputsModel):
    """An interval schedule."""

    interval: float = Field(gt=0, description="Seconds between runs.")
    anchor_date: str | None = Field(default=None, description="ISO date runs align to.")
    timezone: str | None = Field(default=None, description="IANA timezone; null = server's.")


class RRuleSpec(InputsModel):
    """An RFC 5545 recurrence rule schedule."""

    rrule: str = Field(description="The RRULE string.")
    timezone: str | None = Field(default=None, description="IANA timezone; null = server's.")


class ScheduleInputs(InputsModel):
    """One schedule of a deployment."""

    schedule: CronSpec | IntervalSpec | RRuleSpec = Field(description="When to run.")
    active: bool = Field(default=True, description="Whether the schedule creates runs.")
    slug: str | None = Field(default=None, description="Stable name of the schedule.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Run parameters.")


class DeploymentInputs(InputsModel):
    """A deployment as the declarations loader passes it."""

    name: str = Field(min_length=1, description="Deployment name (with flow_name, identity).")
    flow_name: str = Field(min_length=1, description="Name of the deployment's flow.")
    entrypoint: str = Field(min_length=1, description="`path/to/file.py:function`.")
    work_pool_name: str = Field(min_length=1, description="Pool whose workers run it.")
    work_queue_name: str | None = Field(default=None, description="Queue; null = default.")
    description: str | None = Field(default=None, description="Shown in the UI.")
    version: str | None = Field(default=None, description="Deployment version label.")
    tags: list[str] = Field(default_factory=list, description="Tags.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Default parameters.")
    job_variables: dict[str, Any] = Field(default_factory=dict, description="Job overrides.")
    parameter_openapi_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="OpenAPI schema of the flow's parameters.",
    )
    enforce_parameter_schema: bool = Field(default=True, description="Validate parameters.")
    paused: bool = Field(default=False, description="Whether schedules are paused.")
    concurrency_limit: int | None = Field(default=None, ge=1, description="Max runs at once.")
    schedules: list[ScheduleInputs] = Field(default_factory=list, description="Schedules.")
    pull_steps: list[dict[str, Any]] = Field(
        default_factory=list, description="prefect.yaml pull steps."
    )


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


def _api_body(inputs: dict[str, Any], fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The request fields; schedule nulls are left out so the server applies its defaults."""
    body = {f: inputs[f] for f in fields}
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


class DeploymentProvider(PrefectProvider):
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

    def _create(self, api: PrefectApi, inputs: dict[str, Any]) -> str:
        path = f"/deployments/name/{inputs['flow_name']}/{inputs['name']}"
        if api.call("GET", path, missing_ok=True) is not None:
            raise PrefectConflictError(
                f"{self.describe(inputs)} already exists on {api.api_url} and was not created "
                "by this stack; delete it or import it into the stack first"
            )
        body = {"name": inputs["name"], **_api_body(inputs, _MUTABLE)}
        key = (api.api_url, inputs["flow_name"])
        cached = key in _flow_ids
        try:
            body["flow_id"] = _flow_id(api, inputs["flow_name"])
            created = api.call("POST", "/deployments/", json=body)
        except PrefectApiError as exc:
            if not cached or exc.status_code not in (404, 409):
                raise
            _flow_ids.pop(key, None)  # the flow was deleted since: look it up again
            body["flow_id"] = _flow_id(api, inputs["flow_name"])
            created = api.call("POST", "/deployments/", json=body)
        return str(created["id"])

    def _update(
        self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: dict[str, Any]
    ) -> None:
        body = _api_body(inputs, changed(olds, inputs, _MUTABLE))
        if body:
            api.call("PATCH", f"/deployments/{id_}", json=body)

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        api.call("DELETE", f"/deployments/{id_}", missing_ok=True)

    def _read(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> dict[str, Any] | None:
        found = api.call("GET", f"/deployments/{id_}", missing_ok=True)
        if found is None:
            return None
        state = {f: found.get(f) for f in _MUTABLE if f != "schedules"}
        limit = found.get("global_concurrency_limit")
        state["concurrency_limit"] = limit["limit"] if limit else found.get("concurrency_limit")
        if props.get("work_queue_name") is None and state["work_queue_name"] == "default":
            state["work_queue_name"] = None  # declared null: the pool's default queue
        return {
            **state,
            "name": found["name"],
            "flow_name": props["flow_name"],  # a deployment cannot change flows
            "schedules": _match_schedules(found["schedules"], props.get("schedules") or []),
        }


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


class DeploymentArgs(TypedDict, total=False):
    """Inputs of a `Deployment` (see docs/providers.md); name, flow_name, entrypoint,
    work_pool_name and connection are required."""

    name: pulumi.Input[str]
    flow_name: pulumi.Input[str]
    entrypoint: pulumi.Input[str]
    work_pool_name: pulumi.Input[str]
    work_queue_name: pulumi.Input[str | None]
    description: pulumi.Input[str | None]
    version: pulumi.Input[str | None]
    tags: pulumi.Input[list[str]]
    parameters: pulumi.Input[dict[str, Any]]
    job_variables: pulumi.Input[dict[str, Any]]
    parameter_openapi_schema: pulumi.Input[dict[str, Any]]
    enforce_parameter_schema: pulumi.Input[bool]
    paused: pulumi.Input[bool]
    concurrency_limit: pulumi.Input[int | None]
    schedules: pulumi.Input[list[dict[str, Any]]]
    pull_steps: pulumi.Input[list[dict[str, Any]]]
    connection: pulumi.Input[Connection]


class Deployment(Resource, module="prefect", name="Deployment"):
    """A Prefect deployment managed by Pulumi."""

    def __init__(
        self, name: str, args: DeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """Declare the deployment `flow_name/name` as the Pulumi resource `name`."""
        props = {**args, "provider_version": PROVIDER_VERSION}
        super().__init__(DeploymentProvider(args["connection"]), name, props, opts)
