"""Automations as Pulumi resources, with objects in actions named instead of by id.

Everything updates in place (one PUT), including the name: Prefect identifies
an automation by id. Action fields listed in `infra.references` name their
target (``"deployment": "flow/name"``); the provider resolves them to ids at
create/update time and maps ids back to names on read, so drift in either the
automation or what it points at shows up in a diff.
"""

from __future__ import annotations

import copy
from typing import Any, TypedDict

import pulumi
from prefect.events.schemas.automations import AutomationCore
from pulumi.dynamic import Resource
from pydantic import Field, ValidationError, model_validator

from infra.references import ACTION_REFERENCES, ReferenceField

from ._base import PROVIDER_VERSION, InputsModel, PrefectProvider
from .client import Connection, PrefectApi, PrefectConflictError, PrefectProviderError

_ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")
_PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"


class AutomationInputs(InputsModel):
    """An automation as the declarations loader passes it (Prefect's schema, names for ids)."""

    name: str = Field(min_length=1, description="Automation name.")
    description: str = Field(default="", description="Shown in the UI.")
    enabled: bool = Field(default=True, description="Whether it is evaluated.")
    trigger: dict[str, Any] = Field(description="Prefect trigger (event/compound/sequence).")
    actions: list[dict[str, Any]] = Field(description="Actions when it triggers.")
    actions_on_trigger: list[dict[str, Any]] = Field(default_factory=list, description="")
    actions_on_resolve: list[dict[str, Any]] = Field(default_factory=list, description="")

    @model_validator(mode="after")
    def _parses_as_prefect_automation(self) -> AutomationInputs:
        _prefect_canonical(self.model_dump())
        return self


def _swap_names_for_placeholders(document: dict[str, Any]) -> list[tuple[str, int, str]]:
    """Replace each name reference by a placeholder id; return (list, index, name)."""
    swapped: list[tuple[str, int, str]] = []
    for key in _ACTION_LISTS:
        for index, action in enumerate(document.get(key) or []):
            ref = ACTION_REFERENCES.get(str(action.get("type")))
            if ref and action.get(ref.name_field) is not None:
                swapped.append((key, index, str(action.pop(ref.name_field))))
                action[ref.id_field] = _PLACEHOLDER_ID
    return swapped


def _strip_trigger_ids(trigger: dict[str, Any]) -> dict[str, Any]:
    """Triggers get random ids from Prefect; they are not part of the declaration."""
    trigger.pop("id", None)
    for child in trigger.get("triggers") or []:
        _strip_trigger_ids(child)
    return trigger


def _prefect_canonical(document: dict[str, Any]) -> dict[str, Any]:
    """Parse with Prefect's own automation model and dump it back, names kept (no I/O)."""
    document = copy.deepcopy(document)
    swapped = _swap_names_for_placeholders(document)
    try:
        model = AutomationCore.model_validate(document)
    except ValidationError as exc:
        raise ValueError(f"not a valid Prefect automation: {exc}") from None
    dumped = model.model_dump(mode="json", exclude={"tags", "owner_resource"})
    _strip_trigger_ids(dumped["trigger"])
    for key, index, name in swapped:
        action = dumped[key][index]
        ref = ACTION_REFERENCES[action["type"]]
        action.pop(ref.id_field, None)
        action[ref.name_field] = name
    return dict(dumped)


def _id_of(api: PrefectApi, ref: ReferenceField, name: str) -> str | None:
    """The id of the object `name` references, or None if there is none."""
    if ref.kind == "deployment":
        flow, _, deployment = name.partition("/")
        found = api.call("GET", f"/deployments/name/{flow}/{deployment}", missing_ok=True)
    elif ref.kind == "work_pool":
        found = api.call("GET", f"/work_pools/{name}", missing_ok=True)
    elif ref.kind == "work_queue":
        pool, _, queue = name.partition("/")
        found = api.call("GET", f"/work_pools/{pool}/queues/{queue}", missing_ok=True)
    elif ref.kind == "automation":
        body = {"automations": {"name": {"any_": [name]}}}
        matches = api.call("POST", "/automations/filter", json=body)
        if len(matches) > 1:
            raise PrefectProviderError(f"{api.what}: {len(matches)} automations named {name!r}")
        found = matches[0] if matches else None
    else:
        slug, _, document = name.partition("/")
        path = f"/block_types/slug/{slug}/block_documents/name/{document}"
        found = api.call("GET", path, missing_ok=True)
    return None if found is None else str(found["id"])


def _name_of(api: PrefectApi, ref: ReferenceField, id_: str) -> str:
    """The reference name of the object with id `id_` (a marker if it is gone)."""
    missing = f"<missing {ref.kind} {id_}>"
    if ref.kind == "deployment":
        found = api.call("GET", f"/deployments/{id_}", missing_ok=True)
        flow = found and api.call("GET", f"/flows/{found['flow_id']}", missing_ok=True)
        return f"{flow['name']}/{found['name']}" if found and flow else missing
    if ref.kind == "work_pool":
        body = {"work_pools": {"id": {"any_": [id_]}}}
        pools = api.call("POST", "/work_pools/filter", json=body)
        return str(pools[0]["name"]) if pools else missing
    if ref.kind == "work_queue":
        found = api.call("GET", f"/work_queues/{id_}", missing_ok=True)
        return f"{found['work_pool_name']}/{found['name']}" if found else missing
    if ref.kind == "automation":
        found = api.call("GET", f"/automations/{id_}", missing_ok=True)
        return str(found["name"]) if found else missing
    found = api.call("GET", f"/block_documents/{id_}", missing_ok=True)
    return f"{found['block_type']['slug']}/{found['name']}" if found else missing


def _with_ids(api: PrefectApi, inputs: dict[str, Any]) -> dict[str, Any]:
    """The request body: every name reference resolved to an id, or a clear error."""
    body = copy.deepcopy(inputs)
    for key in _ACTION_LISTS:
        for index, action in enumerate(body[key]):
            ref = ACTION_REFERENCES.get(action["type"])
            if not ref or action.get(ref.name_field) is None:
                continue
            name = action.pop(ref.name_field)
            found = _id_of(api, ref, name)
            if found is None:
                raise PrefectProviderError(
                    f"{api.what}: {key}[{index}] ({action['type']}) names {ref.kind} "
                    f"{name!r}, which does not exist on {api.api_url}"
                )
            action[ref.id_field] = found
    return body


class AutomationProvider(PrefectProvider):
    """Creates, updates (PUT), reads and deletes one automation."""

    kind = "automation"
    Inputs = AutomationInputs
    replace_fields = ()

    def canonical(self, props: dict[str, Any]) -> dict[str, Any]:
        """Prefect's own parse of the automation, with name references kept."""
        return _prefect_canonical(super().canonical(props))

    def _create(self, api: PrefectApi, inputs: dict[str, Any]) -> str:
        body = {"automations": {"name": {"any_": [inputs["name"]]}}}
        if api.call("POST", "/automations/filter", json=body):
            raise PrefectConflictError(
                f"automation {inputs['name']!r} already exists on {api.api_url} and was not "
                "created by this stack; delete it or import it into the stack first"
            )
        created = api.call("POST", "/automations/", json=_with_ids(api, inputs))
        return str(created["id"])

    def _update(
        self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: dict[str, Any]
    ) -> None:
        api.call("PUT", f"/automations/{id_}", json=_with_ids(api, inputs))

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        api.call("DELETE", f"/automations/{id_}", missing_ok=True)

    def _read(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> dict[str, Any] | None:
        found = api.call("GET", f"/automations/{id_}", missing_ok=True)
        if found is None:
            return None
        state = {key: found[key] for key in ("name", "description", "enabled", "trigger")}
        for key in _ACTION_LISTS:
            state[key] = []
            for action in found[key]:
                ref = ACTION_REFERENCES.get(action["type"])
                if ref and action.get(ref.id_field):
                    action[ref.name_field] = _name_of(api, ref, str(action.pop(ref.id_field)))
                state[key].append(action)
        return state


class AutomationArgs(TypedDict):
    """Inputs of an `Automation` (see docs/providers.md)."""

    name: pulumi.Input[str]
    description: pulumi.Input[str]
    enabled: pulumi.Input[bool]
    trigger: pulumi.Input[dict[str, Any]]
    actions: pulumi.Input[list[dict[str, Any]]]
    actions_on_trigger: pulumi.Input[list[dict[str, Any]]]
    actions_on_resolve: pulumi.Input[list[dict[str, Any]]]
    connection: pulumi.Input[Connection]


class Automation(Resource, module="prefect", name="Automation"):
    """A Prefect automation managed by Pulumi."""

    def __init__(
        self, name: str, args: AutomationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """Declare the automation `args['name']` as the Pulumi resource `name`."""
        props = {**args, "provider_version": PROVIDER_VERSION}
        super().__init__(AutomationProvider(args["connection"]), name, props, opts)
