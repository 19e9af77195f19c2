"""Global concurrency limits (and rate limits) as Pulumi resources.

In place: limit, active, slot_decay_per_second. Replaced: name (a limit is
referenced by name from flows, so a rename is a new limit).
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from infra.contracts import GlobalConcurrencyLimitInputs

from ._base import PrefectProvider, changed, resource_props
from .client import Connection, PrefectApi

_MUTABLE = ("limit", "active", "slot_decay_per_second")


class GlobalConcurrencyLimitProvider(PrefectProvider[GlobalConcurrencyLimitInputs]):
    """Creates, updates (PATCH), reads and deletes one global concurrency limit."""

    kind = "global concurrency limit"
    Inputs = GlobalConcurrencyLimitInputs

    def _create(self, api: PrefectApi, inputs: GlobalConcurrencyLimitInputs) -> str:
        return api.create("/v2/concurrency_limits/", inputs.dump())

    def _update(
        self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: GlobalConcurrencyLimitInputs
    ) -> None:
        body = changed(olds, inputs, _MUTABLE)
        if body:
            api.call("PATCH", f"/v2/concurrency_limits/{id_}", json=body)

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        api.call("DELETE", f"/v2/concurrency_limits/{id_}", missing_ok=True)

    def list_path(self, props: dict[str, Any]) -> str:
        """Limits are listed by `POST /v2/concurrency_limits/filter`."""
        return "/v2/concurrency_limits/filter"

    def _read(
        self, api: PrefectApi, id_: str, props: dict[str, Any]
    ) -> GlobalConcurrencyLimitInputs | None:
        limit = self.listed(api, id_, props)
        if limit is None:
            return None
        return GlobalConcurrencyLimitInputs(
            name=limit["name"],
            limit=limit["limit"],
            active=limit["active"],
            slot_decay_per_second=limit["slot_decay_per_second"],
        )


class GlobalConcurrencyLimit(Resource, module="prefect", name="GlobalConcurrencyLimit"):
    """A Prefect global concurrency limit managed by Pulumi."""

    def __init__(
        self,
        name: str,
        inputs: GlobalConcurrencyLimitInputs,
        connection: pulumi.Input[Connection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Declare the limit `inputs.name` as the Pulumi resource `name`."""
        props = resource_props(inputs, connection)
        super().__init__(GlobalConcurrencyLimitProvider(connection), name, props, opts)
