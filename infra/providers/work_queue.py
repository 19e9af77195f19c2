"""Work queues of a pool as Pulumi resources.

In place: description, priority, concurrency_limit, paused.
Replaced: pool, name. A pool's ``default`` queue exists as soon as the pool
does: declaring it updates it in place, and deleting it resets it to
Prefect's defaults (it cannot be deleted while the pool exists).
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import Resource
from pydantic import Field

from ._base import PROVIDER_VERSION, InputsModel, PrefectProvider, changed
from .client import Connection, PrefectApi, PrefectApiError

DEFAULT_QUEUE = "default"


class WorkQueueInputs(InputsModel):
    """A work queue as the declarations loader passes it."""

    pool: str = Field(min_length=1, description="Name of the queue's work pool.")
    name: str = Field(min_length=1, description="Queue name, unique in its pool.")
    description: str | None = Field(default=None, description="Shown in the UI.")
    priority: int = Field(default=1, ge=1, description="1 is served first.")
    concurrency_limit: int | None = Field(default=None, ge=0, description="Max runs at once.")
    paused: bool = Field(default=False, description="Whether the queue is paused.")


_MUTABLE = ("description", "priority", "concurrency_limit", "paused")
_DEFAULT_DESCRIPTION = "The work pool's default queue."
_RESET = {
    "description": _DEFAULT_DESCRIPTION,
    "priority": 1,
    "concurrency_limit": None,
    "is_paused": False,
}


def _body(inputs: dict[str, Any], fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Request fields; a null description is sent as "" (Prefect stores no nulls there)."""
    body = {("is_paused" if f == "paused" else f): inputs[f] for f in fields}
    if "description" in body and body["description"] is None:
        body["description"] = ""
    return body


class WorkQueueProvider(PrefectProvider):
    """Creates, updates (PATCH), reads and deletes one queue of a pool."""

    kind = "work queue"
    Inputs = WorkQueueInputs
    replace_fields = ("pool", "name")

    def describe(self, props: dict[str, Any]) -> str:
        """Name the queue with its pool."""
        return f"work queue '{props.get('pool')}/{props.get('name')}'"

    def identity_fields(self) -> tuple[str, ...]:
        """A queue is identified by its pool and name."""
        return ("pool", "name")

    def _path(self, props: dict[str, Any]) -> str:
        return f"/work_pools/{props['pool']}/queues/{props['name']}"

    def _create(self, api: PrefectApi, inputs: dict[str, Any]) -> str:
        if inputs["name"] == DEFAULT_QUEUE:
            queue = api.call("GET", self._path(inputs))
            api.call("PATCH", self._path(inputs), json=_body(inputs, _MUTABLE))
            return str(queue["id"])
        body = {"name": inputs["name"], **_body(inputs, _MUTABLE)}
        return api.create(f"/work_pools/{inputs['pool']}/queues", body)

    def _update(
        self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: dict[str, Any]
    ) -> None:
        body = _body(inputs, changed(olds, inputs, _MUTABLE))
        if body:
            api.call("PATCH", self._path(inputs), json=body)

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        if props["name"] == DEFAULT_QUEUE:
            try:
                api.call("PATCH", self._path(props), json=_RESET)
            except PrefectApiError as exc:
                if exc.status_code != 404:  # the pool is gone, and its queue with it
                    raise
            return
        api.call("DELETE", self._path(props), missing_ok=True)

    def _read(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> dict[str, Any] | None:
        queue = api.call("GET", self._path(props), missing_ok=True)
        if queue is None or str(queue["id"]) != id_:
            return None
        return {
            "pool": props["pool"],
            "name": queue["name"],
            "description": queue["description"] or None,
            "priority": queue["priority"],
            "concurrency_limit": queue["concurrency_limit"],
            "paused": queue["is_paused"],
        }


class WorkQueueArgs(TypedDict):
    """Inputs of a `WorkQueue` (see docs/providers.md)."""

    pool: pulumi.Input[str]
    name: pulumi.Input[str]
    description: pulumi.Input[str | None]
    priority: pulumi.Input[int]
    concurrency_limit: pulumi.Input[int | None]
    paused: pulumi.Input[bool]
    connection: pulumi.Input[Connection]


class WorkQueue(Resource, module="prefect", name="WorkQueue"):
    """A queue of a Prefect work pool managed by Pulumi."""

    def __init__(
        self, name: str, args: WorkQueueArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """Declare the queue `args['pool']/args['name']` as the Pulumi resource `name`."""
        props = {**args, "provider_version": PROVIDER_VERSION}
        super().__init__(WorkQueueProvider(args["connection"]), name, props, opts)
