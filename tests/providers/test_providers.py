"""Every provider's lifecycle against the live Prefect server, kind by kind.

Each test calls the provider methods the way Pulumi's engine would (no engine
needed) and checks the effect through the Prefect API with a plain HTTP client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.providers._base import PROVIDER_VERSION, PrefectProvider
from infra.providers.client import (
    Connection,
    PrefectAuthError,
    PrefectConflictError,
    PrefectUnreachableError,
)
from tests.harness.processes import free_port

from .cases import CASES, Case

pytestmark = pytest.mark.parametrize("case", CASES, ids=[case.kind for case in CASES])


class Applied:
    """A declaration applied through a provider, deleted at the end of the test."""

    def __init__(self, case: Case, connection: Connection, unique: str, pool: str) -> None:
        self.case = case
        self.provider: PrefectProvider[Any] = case.provider(connection)
        self.declaration = case.declare(unique, pool)
        self.inputs = {**self.declaration, "connection": connection}
        result = self.provider.create(self.inputs)
        self.id: str = result.id
        self.outs: dict[str, Any] = result.outs or {}

    def read(self) -> dict[str, Any]:
        """The provider's read of the object (empty if gone)."""
        return self.provider.read(self.id, self.outs).outs or {}


@pytest.fixture
def applied(case: Case, connection: Connection, unique: str, pool: str) -> Iterator[Applied]:
    """The case's declaration, created through its provider."""
    applied = Applied(case, connection, unique, pool)
    yield applied
    applied.provider.delete(applied.id, applied.outs)


def _declared_outs(case: Case, declaration: dict[str, Any]) -> dict[str, Any]:
    provider = case.provider()
    return provider.outs(provider.canonical(declaration))


def test_create_then_read_equals_the_declaration(
    case: Case, applied: Applied, api: httpx.Client
) -> None:
    assert case.fetch(api, applied.declaration, applied.id) is not None
    read = applied.read()
    assert read == applied.outs == _declared_outs(case, applied.declaration)
    for key, value in applied.declaration.items():
        if key in read:
            assert read[key] == value or isinstance(value, dict | list), key
    assert read["provider_version"] == PROVIDER_VERSION


def test_outs_hold_neither_the_connection_nor_secrets(applied: Applied) -> None:
    stored = json.dumps(applied.outs)
    assert "connection" not in applied.outs
    assert applied.inputs["connection"]["auth_string"] not in stored
    assert "s3cr3t" not in stored


def test_unchanged_declaration_reports_no_change(applied: Applied) -> None:
    for olds in (applied.outs, applied.read()):
        result = applied.provider.diff(applied.id, olds, applied.inputs)
        assert result.changes is False
        assert result.replaces == []


def test_rotated_connection_is_not_a_change(applied: Applied) -> None:
    rotated = {**applied.inputs, "connection": {"api_url": "http://x/api", "auth_string": "a:b"}}
    assert applied.provider.diff(applied.id, applied.outs, rotated).changes is False


def test_new_provider_version_is_a_change(applied: Applied) -> None:
    olds = {**applied.outs, "provider_version": "0"}
    result = applied.provider.diff(applied.id, olds, applied.inputs)
    assert result.changes is True
    assert result.replaces == []


def test_in_place_update_is_visible_through_the_api(
    case: Case, applied: Applied, api: httpx.Client
) -> None:
    field, value, observe = case.in_place
    news = {**applied.inputs, field: value}
    result = applied.provider.diff(applied.id, applied.outs, news)
    assert result.changes is True
    assert result.replaces == []

    applied.outs = applied.provider.update(applied.id, applied.outs, news).outs or {}

    found = case.fetch(api, applied.declaration, applied.id)
    assert found is not None
    assert observe(found) == value
    assert applied.read() == applied.outs
    assert applied.provider.diff(applied.id, applied.read(), news).changes is False


def test_replacement_field_reports_replaces(case: Case, applied: Applied) -> None:
    if case.replace is None:
        pytest.skip(f"{case.kind} has no field that forces replacement")
    field, value = case.replace
    result = applied.provider.diff(applied.id, applied.outs, {**applied.inputs, field: value})
    assert result.changes is True
    assert result.replaces == [field]
    identity = applied.provider.identity_fields()
    assert result.delete_before_replace is (field not in identity)


def test_delete_leaves_nothing_and_deleting_again_succeeds(
    case: Case, connection: Connection, unique: str, pool: str, api: httpx.Client
) -> None:
    applied = Applied(case, connection, unique, pool)
    assert case.fetch(api, applied.declaration, applied.id) is not None

    applied.provider.delete(applied.id, applied.outs)

    assert case.fetch(api, applied.declaration, applied.id) is None
    applied.provider.delete(applied.id, applied.outs)  # already gone: still a success
    gone = applied.provider.read(applied.id, applied.outs)
    assert gone.id is None


def test_edit_through_the_api_shows_as_drift(
    case: Case, applied: Applied, api: httpx.Client
) -> None:
    field, value = case.edit(api, applied.declaration, applied.id)

    read = applied.read()
    assert read[field] == value != applied.outs[field]
    drift = applied.provider.diff(applied.id, read, applied.inputs)
    assert drift.changes is True

    # Applying the declaration again (what `pulumi up` does after a refresh) restores it.
    applied.outs = applied.provider.update(applied.id, read, applied.inputs).outs or {}
    assert applied.read() == applied.outs == _declared_outs(case, applied.declaration)


def test_wrong_auth_string_is_a_clear_error(
    case: Case, connection: Connection, unique: str, pool: str, api: httpx.Client
) -> None:
    wrong = Connection(api_url=connection["api_url"], auth_string="admin:wrong-password")
    declaration = case.declare(unique, pool)
    provider = case.provider(wrong)

    with pytest.raises(PrefectAuthError) as raised:
        provider.create({**declaration, "connection": wrong})

    message = str(raised.value)
    assert "401" in message and "auth_string" in message
    assert provider.describe(declaration) in message
    assert "wrong-password" not in message


def test_unreachable_server_is_a_clear_error(case: Case, unique: str, pool: str) -> None:
    nowhere = Connection(api_url=f"http://127.0.0.1:{free_port()}/api", auth_string=None)
    declaration = case.declare(unique, pool)
    provider = case.provider(nowhere)

    with pytest.raises(PrefectUnreachableError, match="cannot reach the Prefect API"):
        provider.create({**declaration, "connection": nowhere})
    with pytest.raises(PrefectUnreachableError, match=nowhere["api_url"]):
        provider.delete("00000000-0000-4000-8000-000000000000", declaration)


def test_conflicting_object_on_the_server_is_a_clear_error(
    case: Case, connection: Connection, unique: str, pool: str, api: httpx.Client
) -> None:
    declaration = case.declare(unique, pool)
    theirs = case.conflict(api, declaration)
    provider = case.provider(connection)
    try:
        with pytest.raises(PrefectConflictError, match="already exists") as raised:
            provider.create({**declaration, "connection": connection})
        assert provider.describe(declaration) in str(raised.value)
        assert api.get(theirs).status_code == 200  # the other object is left alone
    finally:
        api.delete(theirs)
