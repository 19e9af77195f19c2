"""Reads of one kind share a list request, and never answer with something stale.

Variables stand in for every listed kind: the sharing lives in `infra/providers/listing.py`
and `PrefectProvider.listed`, the same for all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.contracts import VariableInputs
from infra.providers import VariableProvider
from infra.providers import listing as listing_module
from infra.providers.client import REQUEST_HOOKS, Connection
from infra.providers.listing import LISTINGS


@pytest.fixture
def variables(connection: Connection, unique: str) -> Iterator[dict[str, str]]:
    """Three variables created through the provider: name -> id. Deleted afterwards."""
    provider = VariableProvider(connection)
    created = {}
    for letter in "abc":
        name = f"listed-{unique}-{letter}"
        inputs = VariableInputs(name=name, value=letter, tags=[])
        created[name] = provider.create({**inputs.dump(), "connection": connection}).id
    LISTINGS.clear()  # a new engine run
    yield created
    for name, id_ in created.items():
        provider.delete(id_, {"name": name, "connection": connection})


@pytest.fixture
def requests() -> Iterator[list[str]]:
    """Every request the providers send while the test runs (method and path)."""
    sent: list[str] = []

    def record(request: httpx.Request) -> None:
        sent.append(f"{request.method} {request.url.path.removeprefix('/api')}")

    REQUEST_HOOKS.append(record)
    yield sent
    REQUEST_HOOKS.remove(record)


def _read(connection: Connection, name: str, id_: str) -> Any:
    outs = VariableProvider(connection).read(id_, {"name": name, "connection": connection}).outs
    return (outs or {}).get("value")


def test_reads_of_many_objects_share_one_list_request(
    connection: Connection, variables: dict[str, str], requests: list[str]
) -> None:
    values = [_read(connection, name, id_) for name, id_ in variables.items()]

    assert values == ["a", "b", "c"]
    assert requests == ["POST /variables/filter"]


def test_a_second_read_of_one_object_sees_a_change_made_in_between(
    connection: Connection, variables: dict[str, str], api: httpx.Client
) -> None:
    name, id_ = next(iter(variables.items()))
    assert _read(connection, name, id_) == "a"

    api.patch(f"/variables/{id_}", json={"value": "changed in the UI"}).raise_for_status()

    assert _read(connection, name, id_) == "changed in the UI"


def test_a_write_by_the_provider_drops_the_listing_of_its_kind(
    connection: Connection, variables: dict[str, str]
) -> None:
    (first, first_id), (second, second_id), _ = variables.items()
    assert _read(connection, first, first_id) == "a"  # lists all three
    provider = VariableProvider(connection)
    old = {"name": second, "value": "b", "tags": []}
    new = VariableInputs(name=second, value="updated", tags=[]).dump()

    provider.update(second_id, old, {**new, "connection": connection})

    assert _read(connection, second, second_id) == "updated"


def test_an_object_deleted_since_is_reported_gone(
    connection: Connection, variables: dict[str, str], api: httpx.Client
) -> None:
    name, id_ = next(iter(variables.items()))
    api.delete(f"/variables/{id_}").raise_for_status()

    result = VariableProvider(connection).read(id_, {"name": name, "connection": connection})

    assert result.id is None


def test_a_listing_longer_than_a_page_is_read_page_by_page(
    connection: Connection,
    variables: dict[str, str],
    requests: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listing_module, "PAGE", 2)

    values = [_read(connection, name, id_) for name, id_ in variables.items()]

    assert values == ["a", "b", "c"]
    assert len(requests) >= 2
    assert set(requests) == {"POST /variables/filter"}
