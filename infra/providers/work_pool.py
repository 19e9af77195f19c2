"""Work pools as Pulumi resources.

In place: description, concurrency_limit, paused, base_job_template.
Replaced: name, type (Prefect cannot change a pool's type; the old pool is
deleted first because the new one has the same name).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

import pulumi
from pulumi.dynamic import Resource
from pydantic import Field

from ._base import PROVIDER_VERSION, InputsModel, PrefectProvider, changed
from .client import Connection, PrefectApi


class WorkPoolInputs(InputsModel):
    """A work pool as the declarations loader passes it."""

    name: str = Field(min_length=1, description="Pool name (its identity).")
    type: Literal["process", "docker", "kubernetes"] = Field(description="Worker type.")
    description: str | None = Field(default=None, description="Shown in the UI.")
    concurrency_limit: int | None = Field(default=None, ge=0, description="Max runs at once.")
    paused: bool = Field(default=False, description="Whether the pool is paused.")
    base_job_template: dict[str, Any] = Field(
        default_factory=dict, description="The full (merged) base job template."
    )


_MUTABLE = ("description", "concurrency_limit", "paused", "base_job_template")
_API_FIELD = {"paused": "is_paused"}


class WorkPoolProvider(PrefectProvider):
    """Creates, updates (PATCH), reads and deletes one work pool by name."""

    kind = "work pool"
    Inputs = WorkPoolInputs
    replace_fields = ("name", "type")

    def _create(self, api: PrefectApi, inputs: dict[str, Any]) -> str:
        body = {"name": inputs["name"], "type": inputs["type"]}
        body.update({_API_FIELD.get(f, f): inputs[f] for f in _MUTABLE})
        return api.create("/work_pools/", body)

    def _update(
        self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: dict[str, Any]
    ) -> None:
        body = {_API_FIELD.get(f, f): inputs[f] for f in changed(olds, inputs, _MUTABLE)}
        if body:
            api.call("PATCH", f"/work_pools/{inputs['name']}", json=body)

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        api.call("DELETE", f"/work_pools/{props['name']}", missing_ok=True)

    def _read(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> dict[str, Any] | None:
        pool = api.call("GET", f"/work_pools/{props['name']}", missing_ok=True)
        if pool is None or str(pool["id"]) != id_:
            return None
        return {
            "name": pool["name"],
            "type": pool["type"],
            "description": pool["description"],
            "concurrency_limit": pool["concurrency_limit"],
            "paused": pool["is_paused"],
            "base_job_template": pool["base_job_template"],
        }


class WorkPoolArgs(TypedDict):
    """Inputs of a `WorkPool` (see docs/providers.md)."""

    name: pulumi.Input[str]
    type: pulumi.Input[str]
    description: pulumi.Input[str | None]
    concurrency_limit: pulumi.Input[int | None]
    paused: pulumi.Input[bool]
    base_job_template: pulumi.Input[dict[str, Any]]
    connection: pulumi.Input[Connection]


class WorkPool(Resource, module="prefect", name="WorkPool"):
    """A Prefect work pool managed by Pulumi."""

    def __init__(
        self, name: str, args: WorkPoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """Declare the pool `args['name']` as the Pulumi resource `name`."""
        props = {**args, "provider_version": PROVIDER_VERSION}
        super().__init__(WorkPoolProvider(args["connection"]), name, props, opts)
