"""Global concurrency limits (and rate limits) as Pulumi resources.

In place: limit, active, slot_decay_per_second. Replaced: name (a limit is
referenced by name from flows, so a rename is a new limit).
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import Resource
from pydantic import Field

from ._base import PROVIDER_VERSION, InputsModel, PrefectProvider, changed
from .client import Connection, PrefectApi


class GlobalConcurrencyLimitInputs(InputsModel):
    """A global concurrency limit as the declarations loader passes it."""

    name: str = Field(min_length=1, description="Limit name, used by `concurrency(...)`.")
    limit: int = Field(ge=0, description="Slots available.")
    active: bool = Field(default=True, description="Whether the limit is enforced.")
    slot_decay_per_second: float = Field(
        default=0.0, ge=0, description="Slots freed per second (a rate limit when > 0)."
    )


_MUTABLE = ("limit", "active", "slot_decay_per_second")


class GlobalConcurrencyLimitProvider(PrefectProvider):
    """Creates, updates (PATCH), reads and deletes one global concurrency limit."""

    kind = "global concurrency limit"
    Inputs = GlobalConcurrencyLimitInputs

    def _create(self, api: PrefectApi, inputs: dict[str, Any]) -> str:
        body = {"name": inputs["name"], **{f: inputs[f] for f in _MUTABLE}}
        return api.create("/v2/concurrency_limits/", body)

    def _update(
        self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: dict[str, Any]
    ) -> None:
        body = {f: inputs[f] for f in changed(olds, inputs, _MUTABLE)}
        if body:
            api.call("PATCH", f"/v2/concurrency_limits/{id_}", json=body)

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        api.call("DELETE", f"/v2/concurrency_limits/{id_}", missing_ok=True)

    def _read(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> dict[str, Any] | None:
        limit = api.call("GET", f"/v2/concurrency_limits/{id_}", missing_ok=True)
        if limit is None:
            return None
        return {
            "name": limit["name"],
            "limit": limit["limit"],
            "active": limit["active"],
            "slot_decay_per_second": limit["slot_decay_per_second"],
        }


class GlobalConcurrencyLimitArgs(TypedDict):
    """Inputs of a `GlobalConcurrencyLimit` (see docs/providers.md)."""

    name: pulumi.Input[str]
    limit: pulumi.Input[int]
    active: pulumi.Input[bool]
    slot_decay_per_second: pulumi.Input[float]
    connection: pulumi.Input[Connection]


class GlobalConcurrencyLimit(Resource, module="prefect", name="GlobalConcurrencyLimit"):
    """A Prefect global concurrency limit managed by Pulumi."""

    def __init__(
        self,
        name: str,
        args: GlobalConcurrencyLimitArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Declare the limit `args['name']` as the Pulumi resource `name`."""
        props = {**args, "provider_version": PROVIDER_VERSION}
        super().__init__(GlobalConcurrencyLimitProvider(args["connection"]), name, props, opts)
