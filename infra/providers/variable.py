"""Prefect variables as Pulumi resources.

In place: value, tags. Replaced: name (flows read a variable by name).
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import Resource
from pydantic import Field, JsonValue

from ._base import PROVIDER_VERSION, InputsModel, PrefectProvider, changed
from .client import Connection, PrefectApi


class VariableInputs(InputsModel):
    """A variable as the declarations loader passes it."""

    name: str = Field(min_length=1, description="Variable name, read by `Variable.get`.")
    value: JsonValue = Field(description="Any JSON value.")
    tags: list[str] = Field(default_factory=list, description="Tags shown in the UI.")


_MUTABLE = ("value", "tags")


class VariableProvider(PrefectProvider):
    """Creates, updates (PATCH), reads and deletes one variable."""

    kind = "variable"
    Inputs = VariableInputs

    def _create(self, api: PrefectApi, inputs: dict[str, Any]) -> str:
        return api.create("/variables/", inputs)

    def _update(
        self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: dict[str, Any]
    ) -> None:
        body = {f: inputs[f] for f in changed(olds, inputs, _MUTABLE)}
        if body:
            api.call("PATCH", f"/variables/{id_}", json=body)

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        api.call("DELETE", f"/variables/{id_}", missing_ok=True)

    def _read(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> dict[str, Any] | None:
        variable = api.call("GET", f"/variables/{id_}", missing_ok=True)
        if variable is None:
            return None
        return {"name": variable["name"], "value": variable["value"], "tags": variable["tags"]}


class VariableArgs(TypedDict):
    """Inputs of a `Variable` (see docs/providers.md)."""

    name: pulumi.Input[str]
    value: pulumi.Input[Any]
    tags: pulumi.Input[list[str]]
    connection: pulumi.Input[Connection]


class Variable(Resource, module="prefect", name="Variable"):
    """A Prefect variable managed by Pulumi."""

    def __init__(
        self, name: str, args: VariableArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """Declare the variable `args['name']` as the Pulumi resource `name`."""
        props = {**args, "provider_version": PROVIDER_VERSION}
        super().__init__(VariableProvider(args["connection"]), name, props, opts)
