"""Work queues of a pool as Pulumi resources.

In place: description, priority, concurrency_limit, paused.
Replaced: pool, name. A pool's ``default`` queue exists as soon as the pool
does: declaring it updates it in place, and deleting it resets it to
Prefect's defaults (it cannot be deleted while the pool exists).
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from infra.contracts import WorkQueueInputs

from ._base import PrefectProvider, changed, resource_props
from .client import Connection, PrefectApi, PrefectApiError

DEFAULT_QUEUE = "default"


_MUTABLE = ("description", "priority", "concurrency_limit", "paused")
_DEFAULT_DESCRIPTION = "The work pool's default queue."
_RESET = {
    "description": _DEFAULT_DESCRIPTION,
    "priority": 1,
    "concurrency_limit": None,
    "is_paused": False,
}


def _body(values: dict[str, Any]) -> dict[str, Any]:
    """Request fields; a null description is sent as "" (Prefect stores no nulls there)."""
    body = {("is_paused" if f == "paused" else f): v for f, v in values.items()}
    if "description" in body and body["description"] is None:
        body["description"] = ""
    return body


class WorkQueueProvider(PrefectProvider[WorkQueueInputs]):
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

    def _create(self, api: PrefectApi, inputs: WorkQueueInputs) -> str:
        path = _path(inputs.pool, inputs.name)
        mutable = {f: v for f, v in inputs.dump().items() if f in _MUTABLE}
        if inputs.name == DEFAULT_QUEUE:
            queue = api.call("GET", path)
            api.call("PATCH", path, json=_body(mutable))
            return str(queue["id"])
        body = {"name": inputs.name, **_body(mutable)}
        return api.create(f"/work_pools/{inputs.pool}/queues", body)

    def _update(
        self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: WorkQueueInputs
    ) -> None:
        body = _body(changed(olds, inputs, _MUTABLE))
        if body:
            api.call("PATCH", _path(inputs.pool, inputs.name), json=body)

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        path = _path(props["pool"], props["name"])
        if props["name"] == DEFAULT_QUEUE:
            try:
                api.call("PATCH", path, json=_RESET)
            except PrefectApiError as exc:
                if exc.status_code != 404:  # the pool is gone, and its queue with it
                    raise
            return
        api.call("DELETE", path, missing_ok=True)

    def list_path(self, props: dict[str, Any]) -> str:
        """A pool's queues are listed by `POST /work_pools/<pool>/queues/filter`."""
        return f"/work_pools/{props['pool']}/queues/filter"

    def _read(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> WorkQueueInputs | None:
        queue = self.listed(api, id_, props)
        if queue is None or str(queue["id"]) != id_:
            return None
        return WorkQueueInputs(
            pool=props["pool"],
            name=queue["name"],
            description=queue["description"] or None,
            priority=queue["priority"],
            concurrency_limit=queue["concurrency_limit"],
            paused=queue["is_paused"],
        )


def _path(pool: str, name: str) -> str:
    return f"/work_pools/{pool}/queues/{name}"


class WorkQueue(Resource, module="prefect", name="WorkQueue"):
    """A queue of a Prefect work pool managed by Pulumi."""

    def __init__(
        self,
        name: str,
        inputs: WorkQueueInputs,
        connection: pulumi.Input[Connection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Declare the queue `inputs.pool/inputs.name` as the Pulumi resource `name`."""
        props = resource_props(inputs, connection)
        super().__init__(WorkQueueProvider(connection), name, props, opts)
