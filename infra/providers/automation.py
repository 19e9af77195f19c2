"""Automations as Pulumi resources, with objects in actions named instead of by id.

Everything updates in place (one PUT), including the name: Prefect identifies
an automation by id. Action fields listed in `infra.references` name their
target (``"deployment": "flow/name"``); the provider resolves them to ids at
create/update time and maps ids back to names on read, so drift in either the
automation or what it points at shows up in a diff.
"""

from __future__ import annotations

import copy
from typing import Any

import pulumi
from pulumi.dynamic import Resource

from infra.contracts import AutomationInputs
from infra.references import ACTION_REFERENCES, ReferenceField

from ._base import PrefectProvider, resource_props
from .client import Connection, PrefectApi, PrefectConflictError, PrefectProviderError
from .listing import LISTINGS

_ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")


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

    def look_up(path: str, object_id: str) -> Any:
        return LISTINGS.find(api, path, object_id, answer_once=False)

    missing = f"<missing {ref.kind} {id_}>"
    if ref.kind == "deployment":
        found = look_up("/deployments/filter", id_)
        flow = found and look_up("/flows/filter", str(found["flow_id"]))
        return f"{flow['name']}/{found['name']}" if found and flow else missing
    if ref.kind == "work_pool":
        pool = look_up("/work_pools/filter", id_)
        return str(pool["name"]) if pool else missing
    if ref.kind == "work_queue":
        found = look_up("/work_queues/filter", id_)
        return f"{found['work_pool_name']}/{found['name']}" if found else missing
    if ref.kind == "automation":
        found = look_up("/automations/filter", id_)
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


class AutomationProvider(PrefectProvider[AutomationInputs]):
    """Creates, updates (PUT), reads and deletes one automation."""

    kind = "automation"
    Inputs = AutomationInputs
    replace_fields = ()

    def _create(self, api: PrefectApi, inputs: AutomationInputs) -> str:
        body = {"automations": {"name": {"any_": [inputs.name]}}}
        if api.call("POST", "/automations/filter", json=body):
            raise PrefectConflictError(
                f"automation {inputs.name!r} already exists on {api.api_url} and was not "
                "created by this stack; delete it or import it into the stack first"
            )
        created = api.call("POST", "/automations/", json=_with_ids(api, inputs.dump()))
        return str(created["id"])

    def _update(
        self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: AutomationInputs
    ) -> None:
        api.call("PUT", f"/automations/{id_}", json=_with_ids(api, inputs.dump()))

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        api.call("DELETE", f"/automations/{id_}", missing_ok=True)

    def list_path(self, props: dict[str, Any]) -> str:
        """Automations are listed by `POST /automations/filter`."""
        return "/automations/filter"

    def _read(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> AutomationInputs | None:
        found = self.listed(api, id_, props)
        if found is None:
            return None
        lists: dict[str, list[dict[str, Any]]] = {}
        for key in _ACTION_LISTS:
            lists[key] = []
            for action in found[key]:
                ref = ACTION_REFERENCES.get(action["type"])
                if ref and action.get(ref.id_field):
                    action[ref.name_field] = _name_of(api, ref, str(action.pop(ref.id_field)))
                lists[key].append(action)
        return AutomationInputs(
            name=found["name"],
            description=found["description"],
            enabled=found["enabled"],
            trigger=found["trigger"],
            actions=lists["actions"],
            actions_on_trigger=lists["actions_on_trigger"],
            actions_on_resolve=lists["actions_on_resolve"],
        )


class Automation(Resource, module="prefect", name="Automation"):
    """A Prefect automation managed by Pulumi."""

    def __init__(
        self,
        name: str,
        inputs: AutomationInputs,
        connection: pulumi.Input[Connection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Declare the automation `inputs.name` as the Pulumi resource `name`."""
        props = resource_props(inputs, connection)
        super().__init__(AutomationProvider(connection), name, props, opts)
