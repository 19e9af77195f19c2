"""Prefect variables as Pulumi resources.

In place: value, tags. Replaced: name (flows read a variable by name).
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from infra.contracts import VariableInputs

from ._base import PrefectProvider, changed, resource_props
from .client import Connection, PrefectApi

_MUTABLE = ("value", "tags")


class VariableProvider(PrefectProvider[VariableInputs]):
    """Creates, updates (PATCH), reads and deletes one variable."""

    kind = "variable"
    Inputs = VariableInputs

    def _create(self, api: PrefectApi, inputs: VariableInputs) -> str:
        return api.create("/variables/", inputs.dump())

    def _update(
        self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: VariableInputs
    ) -> None:
        body = changed(olds, inputs, _MUTABLE)
        if body:
            api.call("PATCH", f"/variables/{id_}", json=body)

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        api.call("DELETE", f"/variables/{id_}", missing_ok=True)

    def list_path(self, props: dict[str, Any]) -> str:
        """Variables are listed by `POST /variables/filter`."""
        return "/variables/filter"

    def _read(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> VariableInputs | None:
        variable = self.listed(api, id_, props)
        if variable is None:
            return None
        return VariableInputs(name=variable["name"], value=variable["value"], tags=variable["tags"])


class Variable(Resource, module="prefect", name="Variable"):
    """A Prefect variable managed by Pulumi."""

    def __init__(
        self,
        name: str,
        inputs: VariableInputs,
        connection: pulumi.Input[Connection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Declare the variable `inputs.name` as the Pulumi resource `name`."""
        props = resource_props(inputs, connection)
        super().__init__(VariableProvider(connection), name, props, opts)
