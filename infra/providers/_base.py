"""What every Prefect dynamic provider shares: validation, diff, connection, outs.

A kind subclasses ``PrefectProvider[XInputs]`` and supplies:

- ``Inputs``: its model in `infra/contracts.py` (the typed contract with the
  declarations), used by `check` (no I/O) and to canonicalise inputs so that a
  declaration and the server's state compare equal when they mean the same thing;
- ``replace_fields``: input fields whose change forces a replacement;
- ``_create``/``_update``/``_delete``/``_read`` against a `PrefectApi`, which get
  and return that model.

Outs are the canonical inputs plus ``provider_version``, never the connection.
`read` returns the server's state in the same shape, so a diff of the read outs
against the declaration shows drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Generic, TypeVar, get_args

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pydantic import ValidationError

from infra.contracts import InputsModel

from .client import (
    Connection,
    PrefectApi,
    PrefectProviderError,
    connection_from,
    connection_from_environment,
    prefect_api,
)
from .listing import LISTINGS
from .serialization import CapturedOutput

#: Bump when a provider's behaviour changes, so existing resources show a diff.
PROVIDER_VERSION = "1"

#: Inputs every resource takes besides its kind's own fields.
COMMON_INPUTS = ("connection", "provider_version", "__provider")


InputsT = TypeVar("InputsT", bound=InputsModel)


def resource_props(inputs: InputsModel, connection: pulumi.Input[Any]) -> dict[str, Any]:
    """The properties of a dynamic resource: the contract inputs, connection and version."""
    return {**inputs.dump(), "connection": connection, "provider_version": PROVIDER_VERSION}


class PrefectProvider(ResourceProvider, Generic[InputsT]):
    """A Pulumi dynamic provider for one kind of Prefect object."""

    kind: ClassVar[str]
    Inputs: type[InputsT]
    replace_fields: ClassVar[tuple[str, ...]] = ("name",)

    def __init__(self, connection: Any = None) -> None:
        """Keep `connection` (a dict, or a secret Output captured by Pulumi) for read/delete.

        An `Output` is kept through `CapturedOutput`, shared by every provider of the program,
        so pickling the providers resolves it once, not once per resource.
        """
        super().__init__()
        self._connection = CapturedOutput.of(connection)

    # -- helpers ---------------------------------------------------------------------------

    def describe(self, props: dict[str, Any]) -> str:
        """How errors name the resource, e.g. ``work pool 'etl'``."""
        return f"{self.kind} {props.get('name')!r}"

    def parse(self, props: dict[str, Any]) -> InputsT:
        """The kind's fields of `props`, validated into the contract model (no I/O)."""
        fields = {k: v for k, v in props.items() if k in self.Inputs.model_fields}
        return self.Inputs.model_validate(self._with_nulls(fields))

    def _with_nulls(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Pulumi does not send null inputs: an absent nullable field was declared null."""
        absent = {
            name: None
            for name, info in self.Inputs.model_fields.items()
            if name not in fields and type(None) in get_args(info.annotation)
        }
        return {**fields, **absent}

    def canonical(self, props: dict[str, Any]) -> dict[str, Any]:
        """The kind's fields of `props`, validated and normalized, as JSON values (no I/O)."""
        return self.parse(props).dump()

    def outs(self, canonical: dict[str, Any]) -> dict[str, Any]:
        """The state Pulumi stores for canonical inputs (override to hide secrets)."""
        return {**canonical, "provider_version": PROVIDER_VERSION}

    def connection(self, props: dict[str, Any]) -> Connection:
        """The connection from the inputs, else the one captured by the resource, else env."""
        what = self.describe(props)
        if props.get("connection") is not None:
            return connection_from(props["connection"], what)
        captured = self._connection
        if captured is not None and hasattr(captured, "get") and not isinstance(captured, dict):
            captured = captured.get()  # a Pulumi Output, deserialised in the provider process
        if captured is not None:
            return connection_from(captured, what)
        from_env = connection_from_environment()
        if from_env is None:
            raise PrefectProviderError(
                f"{what}: no Prefect connection (input 'connection', or PREFECT_API_URL)"
            )
        return from_env

    def api(self, props: dict[str, Any]) -> Any:
        """A `prefect_api` context for `props`' connection."""
        return prefect_api(self.connection(props), self.describe(props))

    # -- Pulumi methods --------------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate the inputs against the contract, without any I/O."""
        failures: list[CheckFailure] = []
        fields = {k: v for k, v in news.items() if k not in COMMON_INPUTS}
        try:
            self.Inputs.model_validate(self._with_nulls(fields))
        except ValidationError as exc:
            for error in exc.errors():
                location = ".".join(str(part) for part in error["loc"]) or "(inputs)"
                failures.append(CheckFailure(location, f"{self.describe(news)}: {error['msg']}"))
        if "connection" in news and news["connection"] is not None:
            try:
                connection_from(news["connection"], self.describe(news))
            except PrefectProviderError as exc:
                failures.append(CheckFailure("connection", str(exc)))
        return CheckResult(news, failures)

    def changed_fields(self, olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
        """Fields whose stored value differs from the declared one (connection ignored)."""
        old = self._comparable(olds)
        new = self.outs(self.canonical(news))
        changed = [key for key in new if key != "provider_version" and old.get(key) != new[key]]
        if olds.get("provider_version") != PROVIDER_VERSION:
            changed.append("provider_version")
        return changed

    def _comparable(self, olds: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in olds.items() if k not in COMMON_INPUTS}

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Compare stored outs with the declaration; name fields force a replacement."""
        changed = self.changed_fields(olds, news)
        replaces = [key for key in changed if key in self.replace_fields]
        same_identity = all(olds.get(k) == news.get(k) for k in self.identity_fields())
        return DiffResult(
            changes=bool(changed),
            replaces=replaces,
            stables=[],
            delete_before_replace=bool(replaces) and same_identity,
        )

    def identity_fields(self) -> tuple[str, ...]:
        """Fields that identify the object on the server (two alike cannot coexist)."""
        return ("name",)

    def list_path(self, props: dict[str, Any]) -> str | None:
        """The `POST .../filter` endpoint that lists this kind (None: read one by one)."""
        return None

    def listed(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> Any:
        """The object as the API lists it, from a listing its kind's reads share (listing.py);
        None when it is gone."""
        path = self.list_path(props)
        if path is None:
            raise NotImplementedError(f"{self.kind}: no list endpoint")
        return LISTINGS.find(api, path, id_)

    def _changed_kind(self, api: PrefectApi, props: dict[str, Any]) -> None:
        listed = self.list_path(props)
        if listed is not None:
            LISTINGS.invalidate(api.api_url, listed)

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create the object; refuse if one of that name already exists."""
        inputs = self.parse(props)
        with self.api(props) as api:
            self._changed_kind(api, props)
            id_ = self._create(api, inputs)
        return CreateResult(id_, self.outs(inputs.dump()))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Change the object in place, sending only what changed."""
        inputs = self.parse(news)
        with self.api(news) as api:
            self._changed_kind(api, news)
            self._update(api, _id, self._comparable(olds), inputs)
        return UpdateResult(self.outs(inputs.dump()))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Delete the object; one that is already gone counts as deleted."""
        with self.api(_props) as api:
            self._changed_kind(api, _props)
            self._delete(api, _id, _props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The server's current state in the shape of the outs (empty if gone)."""
        with self.api(props) as api:
            state = self._read(api, id_, props)
        if state is None:
            return ReadResult(None, {})
        return ReadResult(id_, self.outs(self.canonical(state.dump())))

    # -- per kind --------------------------------------------------------------------------

    def _create(self, api: PrefectApi, inputs: InputsT) -> str:
        raise NotImplementedError

    def _update(self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: InputsT) -> None:
        raise NotImplementedError

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        raise NotImplementedError

    def _read(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> InputsT | None:
        raise NotImplementedError


def changed(olds: dict[str, Any], inputs: InputsModel, fields: Iterable[str]) -> dict[str, Any]:
    """The new values (as JSON) of those of `fields` that differ from the stored outs."""
    new = inputs.dump()
    return {f: new[f] for f in fields if olds.get(f) != new[f]}
