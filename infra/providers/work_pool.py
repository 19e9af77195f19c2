"""Work pools as Pulumi resources.

In place: description, concurrency_limit, paused, base_job_template.
Replaced: name, type (Prefect cannot change a pool's type; the old pool is
deleted first because the new one has the same name).
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from infra.contracts import WorkPoolInputs

from ._base import PrefectProvider, changed, resource_props
from .client import Connection, PrefectApi

_MUTABLE = ("description", "concurrency_limit", "paused", "base_job_template")
_API_FIELD = {"paused": "is_paused"}


class WorkPoolProvider(PrefectProvider[WorkPoolInputs]):
    """Creates, updates (PATCH), reads and deletes one work pool by name."""

    kind = "work pool"
    Inputs = WorkPoolInputs
    replace_fields = ("name", "type")

    def _create(self, api: PrefectApi, inputs: WorkPoolInputs) -> str:
        body = {_API_FIELD.get(f, f): v for f, v in inputs.dump().items()}
        return api.create("/work_pools/", body)

    def _update(
        self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: WorkPoolInputs
    ) -> None:
        body = {_API_FIELD.get(f, f): v for f, v in changed(olds, inputs, _MUTABLE).items()}
        if body:
            api.call("PATCH", f"/work_pools/{inputs.name}", json=body)

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        api.call("DELETE", f"/work_pools/{props['name']}", missing_ok=True)

    def list_path(self, props: dict[str, Any]) -> str:
        """Pools are listed by `POST /work_pools/filter`."""
        return "/work_pools/filter"

    def _read(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> WorkPoolInputs | None:
        pool = self.listed(api, id_, props)
        if pool is None or str(pool["id"]) != id_:
            return None
        return WorkPoolInputs(
            name=pool["name"],
            type=pool["type"],
            description=pool["description"],
            concurrency_limit=pool["concurrency_limit"],
            paused=pool["is_paused"],
            base_job_template=pool["base_job_template"],
        )


class WorkPool(Resource, module="prefect", name="WorkPool"):
    """A Prefect work pool managed by Pulumi."""

    def __init__(
        self,
        name: str,
        inputs: WorkPoolInputs,
        connection: pulumi.Input[Connection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Declare the pool `inputs.name` as the Pulumi resource `name`."""
        props = resource_props(inputs, connection)
        super().__init__(WorkPoolProvider(connection), name, props, opts)
